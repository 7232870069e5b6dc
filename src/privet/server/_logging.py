"""Server logging that cannot leak a token, a key or a cell value.

- Tokens travel only in the Authorization header, which nothing logs.
- The access log prints the method, the path *without its query string*, the status and the
  client address: a query string is where a careless client would put a secret.
- Exceptions are logged by type only, never with a message or traceback (either could hold a
  value); ``PRIVET_DEBUG=1`` restores tracebacks for a developer on a test workspace.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from privet.text import escape_controls, has_controls


class DropQueryString(logging.Filter):
    """uvicorn.access records carry (client, method, full_path, http_version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], args[3], args[4])
        return True


class EscapeControls(logging.Filter):
    """A log line is one line: control characters in a message or its arguments (an actor,
    a path) are written as escapes, so none can forge a line or drive an operator's
    terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if has_controls(message):
            record.msg, record.args = escape_controls(message), None
        return True


class NoTracebacks(logging.Filter):
    """Replace exception details by the exception's type (unless PRIVET_DEBUG is set)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and not os.environ.get("PRIVET_DEBUG"):
            kind = record.exc_info[1].__class__.__name__ if record.exc_info[1] else "error"
            record.msg = f"{record.getMessage()} ({kind}; details withheld)"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def log_config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn and privet."""
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "no_query": {"()": DropQueryString},
            "no_tracebacks": {"()": NoTracebacks},
            "escape_controls": {"()": EscapeControls},
        },
        "formatters": {"plain": {"format": fmt}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "filters": ["no_tracebacks", "escape_controls"],
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "filters": ["no_query", "no_tracebacks", "escape_controls"],
                "stream": "ext://sys.stderr",
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["access"], "level": level.upper(), "propagate": False},
            "privet": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
        },
    }
