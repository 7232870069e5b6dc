"""The ``privet`` command line: a thin layer over the library."""

from privet.cli import _catalog, _demo, _log  # noqa: F401 - registers the commands
from privet.cli._app import cli


def main() -> None:
    cli(prog_name="privet")


__all__ = ["cli", "main"]
