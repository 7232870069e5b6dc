"""``privet demo``: the whole lifecycle on the bundled data."""

from __future__ import annotations

from pathlib import Path

import click

from privet.cli._app import Options, command
from privet.demo import run_demo


@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Build the demo workspace in this (new or empty) folder and keep it.",
)
@click.option(
    "--rows",
    type=click.IntRange(min=100),
    default=None,
    help="Use only the first ROWS people (default: all 48,842).",
)
@command(name="demo")
def demo_command(opts: Options, keep: Path | None, rows: int | None) -> None:
    """Run the lifecycle on the bundled Adult census data with generated identifiers."""
    summary = run_demo(
        keep=keep, rows=rows, actor=opts.actor, echo=None if opts.as_json else click.echo
    )
    if opts.as_json:
        opts.emit(summary)
