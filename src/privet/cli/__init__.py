"""The ``privet`` command line: a thin layer over the library."""

from privet.cli import (  # noqa: F401 - registers the commands
    _audit,  # noqa: F401 - audit
    _catalog,
    _demo,
    _dp,  # noqa: F401 - query, budget, train, models
    _log,
    _protect,  # noqa: F401 - protect, risk, detokenize
    _scan,  # noqa: F401 - scan
)
from privet.cli._app import cli


def main() -> None:
    cli(prog_name="privet")


__all__ = ["cli", "main"]
