"""``privet scan``: personal data, quasi-identifiers and categories in a file or a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table
from rich.text import Text

from privet.cli._app import Options, command, engine_options, stdout

if TYPE_CHECKING:
    from privet.discover import ScanReport, TextScan


@click.argument("target", metavar="FILE|DATASET")
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    metavar="N",
    help="Scan at most N rows, drawn at random (default: every row).",
)
@click.option(
    "--text",
    "as_text",
    is_flag=True,
    help="Read FILE as free text and list the entities in it with their spans.",
)
@click.option(
    "--show-examples",
    is_flag=True,
    help="Also print up to three masked example values per finding (never raw values).",
)
@click.option(
    "--recognizers",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="YAML",
    help="Add the recognizers defined in this YAML file to the built-in ones.",
)
@engine_options
@command(name="scan")
def scan_command(
    opts: Options,
    target: str,
    sample: int | None,
    as_text: bool,
    show_examples: bool,
    recognizers: Path | None,
    engine: str | None,
    spark_master: str | None,
) -> None:
    """Find personal data, quasi-identifiers and data categories in FILE or DATASET.

    FILE is CSV, Parquet or JSON lines (or any UTF-8 text with --text). A DATASET is read
    through the broker for privet's own assessment purpose, which is logged. Output holds
    shares and names, never a value; --show-examples adds masked ones.
    """
    from privet import discover, tables

    if as_text:
        with opts.progress(f"scanning {Path(target).name}"):
            document = discover.scan_text_file(
                target, recognizers=recognizers, examples=show_examples
            )
        opts.emit(document, lambda: _print_document(document, show_examples))
        return
    if tables.names_file(target):
        if engine == "spark" or spark_master:
            raise click.UsageError(
                "--engine spark scans stored datasets; ingest the file first, then name it"
            )
        # A file needs no workspace.
        with opts.progress(f"scanning {Path(target).name}") as step:
            report = discover.scan_file(
                target,
                sample=sample,
                recognizers=recognizers,
                examples=show_examples,
                progress=step,
            )
    else:
        with opts.workspace() as ws, opts.progress(f"scanning {target}") as step:
            report = ws.scan.dataset(
                target,
                actor=opts.actor,
                sample=sample,
                recognizers=recognizers,
                examples=show_examples,
                progress=step,
                engine=engine,
                spark_master=spark_master,
            )
    opts.emit(report, lambda: _print_report(report, show_examples))


def _print_document(document: TextScan, show_examples: bool) -> None:
    items = document.entities
    stdout.print(Text(f"{document.source}: {len(items):,} entities in {document.lines:,} lines"))
    table = Table("entity", "count")
    for entity, count in document.counts.items():
        table.add_row(entity, f"{count:,}")
    stdout.print(table)
    spans = Table("line", "column", "entity", "score", *(["example"] if show_examples else []))
    for item in items[:200]:
        row = [str(item.line), str(item.column), item.type, f"{item.score:.2f}"]
        spans.add_row(*row, *([Text(item.example or "")] if show_examples else []))
    stdout.print(spans)
    if len(items) > 200:
        stdout.print(f"… {len(items) - 200:,} more (use --json for all)")


def _print_report(report: ScanReport, show_examples: bool) -> None:
    scanned = f"{report.rows:,}"
    if report.total_rows != report.rows:
        scanned += f" of {report.total_rows:,}"
    stdout.print(Text(f"{report.source}: {scanned} rows, {len(report.columns)} columns scanned"))
    headers = ["column", "category", "role", "confidence", "entities", "why"]
    table = Table(*headers, *(["examples (masked)"] if show_examples else []))
    for c in report.columns:
        entities = ", ".join(f"{e.type} {e.share:.0%}" for e in c.entities)
        row: list[Text | str] = [
            Text(c.name),
            c.category or "-",
            c.role,
            f"{c.confidence:.2f}",
            entities or "-",
            Text(c.evidence.signals[0] if c.evidence.signals else ""),
        ]
        if show_examples:
            row.append(Text(", ".join(c.examples or [])))
        table.add_row(*row)
    stdout.print(table)
    if report.quasi_identifier_sets:
        sets = Table("quasi-identifier set", "rows singled out", title="quasi-identifiers")
        for s in report.quasi_identifier_sets:
            sets.add_row(Text(", ".join(s.columns)), f"{s.unique_share:.1%}")
        stdout.print(sets)
