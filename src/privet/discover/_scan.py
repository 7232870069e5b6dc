"""``scan_frame``: classify every column of a table and find its quasi-identifier sets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from privet.discover import _columns as C
from privet.discover import _quasi as Q
from privet.discover._config import as_registry
from privet.discover._mask import masked_examples
from privet.discover._model import ScanReport
from privet.discover._recognizers import RecognizerRegistry, default_registry
from privet.errors import InvalidInput

Progress = Callable[[str], None]


def scan_frame(
    frame: Any,
    *,
    sample: int | None = None,
    registry: RecognizerRegistry | None = None,
    seed: int = 0,
    examples: bool = False,
    progress: Progress | None = None,
    total_rows: int | None = None,
) -> ScanReport:
    """Discover personal data in a table: each column's category, role, confidence,
    evidence and entities, and the sets of columns that single out records.

    ``frame`` is a Polars (or pandas) DataFrame. With ``sample``, at most that many rows
    are scanned, drawn at random with ``seed``. The report holds shares and names, never a
    value. ``registry`` replaces the default recognizers (see :func:`load_recognizers`).
    ``examples`` adds up to three masked values to each column with a finding.
    ``total_rows`` is the size of the table ``frame`` was already sampled from, if it was.
    """
    step = progress or (lambda _stage: None)
    whole = table = _as_frame(frame)
    if sample is not None:
        if not isinstance(sample, int) or isinstance(sample, bool) or sample < 1:
            raise InvalidInput("sample must be a positive number of rows", parameter="sample")
        if table.height > sample:
            table = table.sample(n=sample, seed=seed)
    registry = registry if registry is not None else default_registry()
    step("profiling columns")
    profiles, long = C.profile(table)
    C.measure(profiles, long, registry, step)
    step("classifying columns")
    findings = []
    for p in profiles:
        texts = None
        if p.kind == "string" and p.values and (p.free_text or p.unique <= 60):
            texts = table.get_column(p.name).cast(pl.String).str.strip_chars().drop_nulls()
            texts = texts.filter(texts != "")
        findings.append(C.classify(p, registry, texts))
    step("searching quasi-identifier sets")
    unique = {p.name: p.unique for p in profiles}
    kinds = {p.name: p.kind for p in profiles}
    columns = Q.candidates(findings, unique, table.height, kinds)
    sets = Q.quasi_identifier_sets(table.select(columns), columns) if columns else []
    report = ScanReport(rows=table.height, columns=findings, quasi_identifier_sets=sets)
    report._total_rows = total_rows if total_rows is not None else whole.height
    if examples:
        # From the first rows rather than the sample: enough to show, and cheap.
        shown = whole if sample is None else whole.head(max(sample, 1000))
        for finding in report.columns:
            found = finding.category or finding.entities
            finding.examples = (
                masked_examples(shown.get_column(finding.name), finding, registry) if found else []
            )
    return report


def scan_file(
    path: str | Path,
    *,
    sample: int | None = None,
    recognizers: RecognizerRegistry | str | Path | None = None,
    seed: int = 0,
    examples: bool = False,
    progress: Progress | None = None,
) -> ScanReport:
    """:func:`scan_frame` over a CSV, Parquet or JSON lines file; no workspace needed.

    ``recognizers``: a registry, or a YAML recognizer file added to the built-ins.
    """
    from privet import tables

    path = Path(path)
    registry = as_registry(recognizers)  # a bad recognizer file fails before any read
    frame = tables.read_table(path).frame
    report = scan_frame(
        frame,
        sample=sample,
        registry=registry,
        seed=seed,
        examples=examples,
        progress=progress,
    )
    report.source = path.name
    return report


def _as_frame(frame: Any) -> pl.DataFrame:
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    module = type(frame).__module__
    if module.startswith("pandas"):
        try:
            return pl.from_pandas(frame)
        except Exception:  # noqa: BLE001 - pandas frames of any shape; message may hold values
            raise InvalidInput(
                "this pandas DataFrame cannot be converted to Polars", parameter="frame"
            ) from None
    raise InvalidInput("scan_frame takes a Polars or pandas DataFrame", parameter="frame")
