"""The ``privet`` command group: shared options, output, and the mapping of errors to exits.

Exit codes: 0 success, 1 refused or failed (one sentence on stderr, never a traceback),
2 usage error (Click's own).
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from pydantic import BaseModel
from rich.console import Console
from rich.text import Text

from privet import __version__
from privet.errors import InvalidInput, NotFound, PrivetError, describe_failure
from privet.policy import check_user_name
from privet.text import escape_controls, escape_json, has_controls
from privet.workspace import Workspace


class SafeConsole(Console):
    """A Rich console that shows control characters in what it prints as escapes.

    Stored names and reasons are printed as given; raw, an ANSI escape would clear the
    terminal and a newline would forge a table row. Rich's own styling and live displays
    are segments, not text, and pass unchanged.
    """

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(escape_controls(text), **kwargs)

    def render(self, renderable: Any, options: Any = None) -> Any:
        if isinstance(renderable, Text) and has_controls(renderable.plain):
            # Escaping changes lengths, so the spans would point elsewhere: drop them (only
            # text that carried control characters loses its styling).
            renderable = Text(
                escape_controls(renderable.plain),
                style=renderable.style,
                justify=renderable.justify,
                no_wrap=renderable.no_wrap,
                overflow=renderable.overflow,
            )
        return super().render(renderable, options)


stdout = SafeConsole(soft_wrap=True)
stderr = SafeConsole(stderr=True, soft_wrap=True)


class PrivetCommand(click.Command):
    """Names the flag of a library error's ``parameter`` (libraries name Python parameters:
    ``max_rows_per_subject`` is ``--max-rows-per-subject`` here)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PrivetError as err:
            for param in self.params:
                if err.parameter is not None and param.name == err.parameter and param.opts:
                    err.flag = max(param.opts, key=len)  # type: ignore[attr-defined]
            raise


class PrivetGroup(click.Group):
    """Turns library errors into one sentence and exit 1."""

    command_class = PrivetCommand
    group_class = type

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PrivetError as err:
            _fail(_with_flag(err))
        except KeyboardInterrupt:
            _fail("interrupted", code=130)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except BaseException as err:  # noqa: BLE001 - a last resort: never show a traceback
            # BaseException: a Rust panic in Polars arrives as pyo3's PanicException.
            if os.environ.get("PRIVET_DEBUG") or isinstance(err, GeneratorExit):
                raise
            _fail(describe_failure(err))


def _with_flag(err: PrivetError) -> str:
    """The message with its parameter's Python name written as this command's flag: the
    quoted form (`` `owner` ``) where the message quotes it, else every whole-word mention."""
    flag = getattr(err, "flag", None)
    if not flag or err.parameter is None:
        return str(err)
    message = str(err).replace(f"`{err.parameter}`", flag)
    if message != str(err):
        return message
    # A quoted word is a value (a column named 'label'), not the parameter.
    pattern = re.compile(rf"(?<![\w'\"-]){re.escape(err.parameter)}(?![\w'\"])")
    message, found = pattern.subn(flag, message)
    return message if found else f"{flag}: {message}"


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"privet: error: {escape_controls(message)}", err=True)
    sys.exit(code)


@click.group(cls=PrivetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="privet")
def cli() -> None:
    """privet: privacy engineering for the machine-learning lifecycle.

    Register sensitive datasets encrypted, read them only for a declared purpose, and prove
    afterwards who read what. Run `privet demo` for a tour.
    """


class Options:
    """The options every command takes."""

    def __init__(self, workspace: str | None, as_json: bool, actor: str | None) -> None:
        self.workspace_path = workspace
        self.as_json = as_json
        self._actor = actor

    @property
    def actor(self) -> str:
        name = self._actor or os.environ.get("PRIVET_USER") or getpass.getuser()
        try:
            return check_user_name(name)
        except InvalidInput:
            raise click.BadParameter(
                "use letters, digits and '_ . @ + -' (up to 128)", param_hint="--as"
            ) from None

    @contextmanager
    def workspace(self) -> Iterator[Workspace]:
        try:
            ws = Workspace.open(self.workspace_path)
        except NotFound as missing:  # the library cannot name the command that makes one
            raise NotFound(f"{missing} (create one with: privet init, or pass -w PATH)") from None
        with ws:
            yield ws

    @contextmanager
    def maybe_workspace(self) -> Iterator[Workspace | None]:
        """The workspace if there is one, else None (files can be worked on without one);
        a workspace named with -w must exist."""
        try:
            ws = Workspace.open(self.workspace_path)
        except NotFound:
            if self.workspace_path:
                raise
            yield None
            return
        with ws:
            yield ws

    def emit(self, data: Any, human: Callable[[], None] | None = None) -> None:
        """One JSON document on stdout with --json; otherwise the human rendering."""
        if self.as_json or human is None:
            click.echo(escape_json(json.dumps(_jsonable(data), indent=2, ensure_ascii=False)))
        else:
            human()

    @contextmanager
    def progress(self, title: str) -> Iterator[Callable[[str], None]]:
        """A spinner with the current stage on stderr, only when stderr is a terminal."""
        if not sys.stderr.isatty():
            yield lambda _stage: None
            return
        with stderr.status(title) as status:
            yield lambda stage: status.update(f"{title}: {stage}")


def _jsonable(data: Any) -> Any:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list):
        return [_jsonable(item) for item in data]
    if isinstance(data, dict):
        return {key: _jsonable(value) for key, value in data.items()}
    return data


def command(group: click.Group = cli, name: str | None = None, **settings: Any) -> Callable:
    """Register a command that receives an :class:`Options` as ``opts``."""

    def decorate(func: Callable) -> click.Command:
        @click.option(
            "-w",
            "--workspace",
            "workspace",
            metavar="PATH",
            help="Workspace folder (default: $PRIVET_WORKSPACE, else the nearest .privet/ upward).",
        )
        @click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
        @click.option(
            "--as",
            "actor",
            metavar="USER",
            help="Who is acting (default: $PRIVET_USER, else the OS user).",
        )
        @functools.wraps(func)
        def wrapper(workspace: str | None, as_json: bool, actor: str | None, **kwargs: Any) -> Any:
            options = Options(workspace, as_json, actor)
            if actor is not None:
                options.actor  # noqa: B018 - checked now, whether or not the command uses it
            return func(options, **kwargs)

        return group.command(name, **settings)(wrapper)

    return decorate


def engine_options(func: Callable) -> Callable:
    """``--engine`` and ``--spark-master``, for the commands whose work can run on Spark."""
    func = click.option(
        "--spark-master",
        metavar="URL",
        help="Spark master for --engine spark (default local[*]; e.g. spark://host:7077).",
    )(func)
    return click.option(
        "--engine",
        type=click.Choice(["polars", "spark"]),
        help="Where the rows are processed (default: $PRIVET_ENGINE, else polars; spark needs "
        "pip install 'privet[spark]').",
    )(func)


def pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
    """``COL=VALUE`` options into a dict."""
    result = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise click.BadParameter(f"expected COLUMN=VALUE, got {item[:60]!r}", param_hint=flag)
        result[key] = value
    return result


_RUST_PANIC = re.compile(
    r"^thread '.*' (\(\d+\) )?panicked at .*?(?=^thread '|\Z)", re.MULTILINE | re.DOTALL
)


@contextmanager
def native_panics_silenced() -> Iterator[None]:
    """Keep Rust's panic reports (and backtraces) off the terminal.

    Rust's panic hook writes its report to file descriptor 2 before Python sees the
    PanicException, which the command then turns into one sentence. Native output is
    captured while the command runs and replayed afterwards without panic reports;
    Python's own stderr keeps writing to the terminal directly.
    """
    if os.environ.get("PRIVET_DEBUG") or not _is_fd2(sys.stderr):
        yield
        return
    terminal = os.dup(2)
    capture = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    sys.stderr.flush()
    original = sys.stderr
    sys.stderr = open(  # noqa: SIM115 - closed below, after the command
        terminal, "w", encoding=original.encoding, errors="backslashreplace", buffering=1
    )
    os.dup2(capture.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)
        sys.stderr.close()
        sys.stderr = original
        capture.seek(0)
        native = _RUST_PANIC.sub("", capture.read().decode("utf-8", "replace"))
        capture.close()
        if native.strip():
            original.write(native)
            original.flush()


def _is_fd2(stream: Any) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False
