"""The engine a command runs on: its option, else ``PRIVET_ENGINE``, else Polars."""

from __future__ import annotations

import os

from privet.errors import InvalidInput

ENGINES = ("polars", "spark")
ENV = "PRIVET_ENGINE"


def choose_engine(name: str | None = None) -> str:
    """The engine to use: ``name`` when given, else ``$PRIVET_ENGINE``, else ``polars``."""
    chosen = name or os.environ.get(ENV) or "polars"
    if chosen not in ENGINES:
        where = "" if name else f" (from ${ENV})"
        raise InvalidInput(
            f"unknown engine {chosen!r}{where}: use {' or '.join(ENGINES)}", parameter="engine"
        )
    return chosen
