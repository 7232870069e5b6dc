"""``scan_frame``: classify every column of a table and find its quasi-identifier sets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from privet.discover import _columns as C
from privet.discover import _quasi as Q
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
    progress: Progress | None = None,
) -> ScanReport:
    """Discover personal data in a table: each column's category, role, confidence,
    evidence and entities, and the sets of columns that single out records.

    ``frame`` is a Polars (or pandas) DataFrame. With ``sample``, at most that many rows
    are scanned, drawn at random with ``seed``. The report holds shares and names, never a
    value. ``registry`` replaces the default recognizers (see :func:`load_recognizers`).
    """
    step = progress or (lambda _stage: None)
    table = _as_frame(frame)
    if sample is not None:
        if not isinstance(sample, int) or isinstance(sample, bool) or sample < 1:
            raise InvalidInput("sample must be a positive number of rows")
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
    report._total_rows = _as_frame(frame).height if sample is not None else table.height
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
            raise InvalidInput("this pandas DataFrame cannot be converted to Polars") from None
    raise InvalidInput("scan_frame takes a Polars or pandas DataFrame")
