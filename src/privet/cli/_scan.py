"""``privet scan``: personal data, quasi-identifiers and categories in a file or a dataset."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from privet.cli._app import Options, command, stdout
from privet.errors import InvalidInput, NotFound
from privet.tables import file_errors

_MAX_TEXT_FILE = 1 << 30


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
@command(name="scan")
def scan_command(
    opts: Options,
    target: str,
    sample: int | None,
    as_text: bool,
    show_examples: bool,
    recognizers: Path | None,
) -> None:
    """Find personal data, quasi-identifiers and data categories in FILE or DATASET.

    FILE is CSV, Parquet or JSON lines (or any UTF-8 text with --text). A DATASET is read
    through the broker for privet's own assessment purpose, which is logged. Output holds
    shares and names, never a value; --show-examples adds masked ones.
    """
    from privet.discover import load_recognizers

    registry = load_recognizers(recognizers) if recognizers is not None else None
    if as_text:
        _scan_text_file(opts, Path(target), registry, show_examples)
        return
    frame, origin = _read(opts, target)
    from privet.discover import scan_frame

    with opts.progress(f"scanning {origin}") as step:
        report = scan_frame(frame, sample=sample, registry=registry, progress=step)
    examples: dict[str, list[str]] = {}
    if show_examples:
        from privet.discover import masked_examples

        shown = frame if sample is None else frame.head(max(sample, 1000))
        for finding in report.columns:
            if finding.category or finding.entities:
                examples[finding.name] = masked_examples(
                    shown.get_column(finding.name), finding, registry
                )
    data = report.model_dump(mode="json")
    if show_examples:
        for column in data["columns"]:
            column["examples"] = examples.get(column["name"], [])
    opts.emit(data, lambda: _print_report(report, origin, examples if show_examples else None))


def _read(opts: Options, target: str):  # noqa: ANN202 - a Polars frame and a label
    path = Path(target)
    if path.exists():
        from privet import tables

        return tables.read_table(path).frame, path.name
    if "/" in target or "\\" in target or path.suffix.lower() in (".csv", ".parquet", ".jsonl"):
        raise NotFound(f"{target} does not exist")
    from privet import policy

    with opts.workspace() as ws:
        release = policy.read(ws, target, purpose="privet:assessment", actor=opts.actor)
    return release.frame, release.version.ref


def _scan_text_file(opts: Options, path: Path, registry, show_examples: bool) -> None:  # noqa: ANN001
    from privet.discover import mask, scan_text

    with file_errors(path):
        if path.stat().st_size > _MAX_TEXT_FILE:
            raise InvalidInput(f"{path.name} is larger than 1 GiB; split it first")
        data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path.name} is not valid UTF-8 text (re-encode it as UTF-8)") from None
    with opts.progress(f"scanning {path.name}"):
        entities = scan_text(text, registry=registry)
    line_starts = [0]
    for index, ch in enumerate(text):
        if ch == "\n":
            line_starts.append(index + 1)
    import bisect

    items = []
    counts: dict[str, int] = {}
    for e in entities:
        line = bisect.bisect_right(line_starts, e.start)
        item = {
            "type": e.type,
            "start": e.start,
            "end": e.end,
            "line": line,
            "column": e.start - line_starts[line - 1] + 1,
            "score": e.score,
            "category": e.category,
        }
        if show_examples:
            item["example"] = mask(text[e.start : e.end])
        items.append(item)
        counts[e.type] = counts.get(e.type, 0) + 1
    data = {
        "characters": len(text),
        "lines": len(line_starts),
        "counts": dict(sorted(counts.items())),
        "entities": items,
    }

    def human() -> None:
        stdout.print(Text(f"{path.name}: {len(items):,} entities in {len(line_starts):,} lines"))
        table = Table("entity", "count")
        for entity, count in data["counts"].items():
            table.add_row(entity, f"{count:,}")
        stdout.print(table)
        spans = Table("line", "column", "entity", "score", *(["example"] if show_examples else []))
        for item in items[:200]:
            row = [str(item["line"]), str(item["column"]), item["type"], f"{item['score']:.2f}"]
            spans.add_row(*row, *([Text(item["example"])] if show_examples else []))
        stdout.print(spans)
        if len(items) > 200:
            stdout.print(f"… {len(items) - 200:,} more (use --json for all)")

    opts.emit(data, human)


def _print_report(report, origin: str, examples: dict[str, list[str]] | None) -> None:  # noqa: ANN001
    scanned = f"{report.rows:,}"
    if report.total_rows != report.rows:
        scanned += f" of {report.total_rows:,}"
    stdout.print(Text(f"{origin}: {scanned} rows, {len(report.columns)} columns scanned"))
    headers = ["column", "category", "role", "confidence", "entities", "why"]
    table = Table(*headers, *(["examples (masked)"] if examples is not None else []))
    for c in report.columns:
        entities = ", ".join(f"{e.type} {e.share:.0%}" for e in c.entities)
        row = [
            Text(c.name),
            c.category or "-",
            c.role,
            f"{c.confidence:.2f}",
            entities or "-",
            Text(c.evidence.signals[0] if c.evidence.signals else ""),
        ]
        if examples is not None:
            row.append(Text(", ".join(examples.get(c.name, []))))
        table.add_row(*row)
    stdout.print(table)
    if report.quasi_identifier_sets:
        sets = Table("quasi-identifier set", "rows singled out", title="quasi-identifiers")
        for s in report.quasi_identifier_sets:
            sets.add_row(Text(", ".join(s.columns)), f"{s.unique_share:.1%}")
        stdout.print(sets)
