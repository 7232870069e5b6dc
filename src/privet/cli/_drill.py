"""``privet drill``: scripted breaches against a running server, measured."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from privet.cli._app import Options, command, stdout


@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    metavar="NAME",
    help="A scenario to play (repeatable; default: every one; an unknown name lists them).",
)
@click.option(
    "--server", required=True, metavar="URL", help="The running `privet serve` of this workspace."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the after-action report here (.html or .json).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1, max=600),
    default=5.0,
    show_default=True,
    help="Seconds to wait for an alert, and then for the token to be refused.",
)
@click.option(
    "--ca", type=click.Path(exists=True, dir_okay=False), help="CA bundle of an HTTPS server."
)
@command(name="drill")
def drill(
    opts: Options,
    scenarios: tuple[str, ...],
    server: str,
    output: Path | None,
    timeout: float,
    ca: str | None,
) -> None:
    """Play scripted breaches against a running server with disposable users and data.

    A stolen token reading off-hours, slow scraping, purpose hopping and a revoked token
    replayed, each measured: time to alert, time to containment, and privet's incident scope
    against what the drill knows it read. The drill's users are disabled afterwards. Exit 1
    when a scenario misses its goal.
    """
    with opts.workspace() as ws, opts.progress("drill") as step:
        report = ws.drills.run(
            server,
            actor=opts.actor,
            scenarios=scenarios or None,
            timeout=timeout,
            verify=ca or True,
            output=output,
            progress=step,
        )

    def human() -> None:
        table = Table(title=f"Breach drill {report.run}")
        for header in ("scenario", "alert", "to alert (s)", "contained by", "to contain (s)",
                       "scope", "result"):  # fmt: skip
            table.add_column(header)
        for s in report.scenarios:
            scope = (
                "-" if s.scope_matches is None else ("matches" if s.scope_matches else "DIFFERS")
            )
            table.add_row(
                s.scenario,
                s.alert_kind if s.alert_id else "none",
                "-" if s.time_to_alert_seconds is None else f"{s.time_to_alert_seconds:.3f}",
                s.contained_by or "-",
                "-"
                if s.time_to_containment_seconds is None
                else f"{s.time_to_containment_seconds:.3f}",
                scope,
                "passed" if s.passed else "FAILED",
            )
        stdout.print(table)
        if output is not None:
            stdout.print(f"After-action report: {output}", markup=False)

    opts.emit(report, human)
    if not report.passed:
        missed = [s.scenario for s in report.scenarios if not s.passed]
        click.echo(f"privet: error: the drill missed its goal in: {', '.join(missed)}", err=True)
        sys.exit(1)
