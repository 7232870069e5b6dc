"""``privet lineage export``: the lineage as OpenLineage events, to a file or a receiver."""

from __future__ import annotations

import os
import sys

import click
from rich.text import Text

from privet.cli._app import Options, cli, command, stdout


@cli.group(name="lineage")
def lineage_group() -> None:
    """Lineage: export it as OpenLineage events (Marquez, DataHub, any receiver)."""


@click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="Write the events to FILE as JSON lines ('-' for standard output).",
)
@click.option(
    "--url",
    metavar="URL",
    help="POST each event to this OpenLineage receiver (Marquez: http://HOST:5000).",
)
@click.option("--force", "overwrite", is_flag=True, help="Replace FILE if it exists.")
@click.option(
    "--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
    help="Seconds to wait for the receiver, per event.",
)  # fmt: skip
@command(lineage_group, name="export")
def lineage_export(
    opts: Options, output: str | None, url: str | None, overwrite: bool, timeout: float
) -> None:
    """The workspace's lineage as OpenLineage RunEvents, to a file or a receiver.

    Runs: ingest, protect, synth, train, query, audit and export (a refused export FAILs),
    retention and erasure (DROP, OVERWRITE). Versions, models and exports are datasets of
    the namespace privet://WORKSPACE-ID, with schema, column-lineage (masked and generalized
    columns say so) and privet_governance facets (purposes, legal basis, retention, data
    categories). Never a cell value; the same audit log gives the same events.
    """
    if (output is None) == (url is None):
        raise click.UsageError("give one of -o FILE and --url URL")
    if output == "-" and opts.as_json:
        raise click.UsageError("with -o - the events are the output; leave out --json")
    with opts.workspace() as ws:
        if output == "-":
            try:
                ws.openlineage.export(actor=opts.actor, stream=sys.stdout)
            except BrokenPipeError:  # `| head`: the reader left; not an error of ours
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
        if url is not None:
            result = ws.openlineage.export(actor=opts.actor, url=url, timeout=timeout)
        else:
            result = ws.openlineage.export(actor=opts.actor, path=output, overwrite=overwrite)
    where = output if url is None else result.destination.removeprefix("http:")
    opts.emit(
        result,
        lambda: stdout.print(
            Text(f"{result.events} OpenLineage event(s) for {result.runs} run(s) sent to {where}")
        ),
    )
