"""Consent commands: import records, withdraw or grant one subject's consent, show counts.

A subject id given here is never printed back, nor logged: privet keeps only its keyed link.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from privet.cli._app import Options, cli, command, stdout
from privet.policy import ConsentChange


@cli.group(name="consent")
def consent_group() -> None:
    """Consent per subject and purpose: reads for a purpose leave out those who withdrew."""


@click.argument("path", metavar="FILE", type=click.Path(path_type=Path))
@command(consent_group, name="import")
def consent_import(opts: Options, path: Path) -> None:
    """Import consent records from a CSV (subject_id,purpose,status[,recorded_at]).

    All or nothing: a bad line is refused with its number and column, and nothing is stored.
    """
    with opts.workspace() as ws:
        report = ws.consent.import_file(path, actor=opts.actor)

    def human() -> None:
        stored = sum(sum(counts.values()) for counts in report.written.values())
        stdout.print(
            f"Imported {stored} of {report.lines} consent records "
            f"({report.superseded} superseded by later decisions; log entry {report.log_index})."
        )
        for purpose, counts in sorted(report.written.items()):
            stdout.print(
                f"  {purpose}: {counts['granted']} granted, {counts['withdrawn']} withdrawn",
                markup=False,
            )

    opts.emit(report, human)


def _recorded(opts: Options, change: ConsentChange) -> None:
    already = "" if change.changed else " (it already was)"
    opts.emit(
        change,
        lambda: stdout.print(
            f"Consent for {change.purpose!r} recorded as {change.status}{already}; "
            f"log entry {change.log_index}.",
            markup=False,
        ),
    )


@click.option("--subject", required=True, metavar="ID", help="The subject's id, as stored.")
@click.option("--purpose", required=True, metavar="PURPOSE", help="The purpose.")
@command(consent_group, name="withdraw")
def consent_withdraw(opts: Options, subject: str, purpose: str) -> None:
    """Record that a subject withdrew consent for a purpose (from the next read on)."""
    with opts.workspace() as ws:
        change = ws.consent.withdraw(subject, purpose, actor=opts.actor)
    _recorded(opts, change)


@click.option("--subject", required=True, metavar="ID", help="The subject's id, as stored.")
@click.option("--purpose", required=True, metavar="PURPOSE", help="The purpose.")
@command(consent_group, name="grant")
def consent_grant(opts: Options, subject: str, purpose: str) -> None:
    """Record that a subject (again) consents to a purpose."""
    with opts.workspace() as ws:
        change = ws.consent.grant(subject, purpose, actor=opts.actor)
    _recorded(opts, change)


@command(consent_group, name="show")
def consent_show(opts: Options) -> None:
    """How many subjects granted and withdrew consent, per purpose."""
    with opts.workspace() as ws:
        counts = ws.consent.summary()

    def human() -> None:
        if not counts:
            stdout.print("No consent recorded.")
            return
        table = Table("purpose", "granted", "withdrawn", title="consent")
        for row in counts:
            table.add_row(row.purpose, str(row.granted), str(row.withdrawn))
        stdout.print(table)

    opts.emit(counts, human)
