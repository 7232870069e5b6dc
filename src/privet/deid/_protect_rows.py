"""Running a plan on rows held by an engine (Spark, or Polars' streaming engine).

The in-memory path (``run_plan``) sees every row; here the rows stay where the engine holds
them and only three things travel: the plan's row-local operators go to the rows
(``Rows.map_batches``), the group counts of the quasi-identifiers and sensitive columns come
back (``Rows.counts``), and the search runs on those counts exactly as it runs in memory
(the lattice needs nothing else). The classes the search suppresses are removed by an
anti-join on their generalized values, and the result is written to a private file
(``Rows.write``), from which it is measured and stored without ever being whole in memory.

Same plan, same counts, same search: the engines release the same rows (in another order).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl

from privet.catalog import SUBJECT_LINK, ParquetFile
from privet.deid._plan import Checked
from privet.deid._protect import (
    Progress,
    ProtectReport,
    measure_risk,
    report_of,
    search_plan,
    utility_of,
)
from privet.engine import COUNT, LazyRows, Rows
from privet.errors import InvalidInput
from privet.operators import Context, Operator, kind_of

# Operators that change each row on its own and keep every row: what runs batch by batch.
ROW_LOCAL = frozenset({"drop", "keep", "generalize", "mask", "redact", "suppress"})
# The raw subject id travels under this name until the link is made in this process.
SUBJECT_COPY = "__privet_subject"


def check_engine_plan(checked: Checked, *, streamed: bool) -> None:
    """Refuse, before any read, a plan that cannot run batch by batch (on Spark, or streamed
    because the table is larger than memory)."""
    where, advice = (
        ("a table larger than memory (streamed)", "set PRIVET_STREAMING=0 to try it in memory")
        if streamed
        else ("the spark engine", "use --engine polars")
    )
    other = sorted({op.name for op in checked.operators.values()} - ROW_LOCAL)
    if other:
        raise InvalidInput(
            f"{where} runs only row-by-row operators ({', '.join(sorted(ROW_LOCAL))}); "
            f"{', '.join(other)} needs the whole table or the workspace's keys in this "
            f"process: {advice}"
        )
    if checked.plan.target is not None:
        raise InvalidInput(
            f"the ML utility check (target) trains on the whole table, which {where} does "
            f"not hold: leave out target, or {advice}"
        )


def _apply(
    frame: pl.DataFrame,
    *,
    operators: list[tuple[str, Operator]],
    context: Context,
    carried: list[str],
    levels: Mapping[str, int],
) -> pl.DataFrame:
    """One batch through the operators, then generalized to ``levels``; ``carried`` columns
    (privet's own) pass untouched, the operators never see them."""
    kept = frame.select(carried)
    work = frame.drop(carried)
    for name, op in operators:
        if name in work.columns and kind_of(work.schema[name]) not in op.accepts:
            work = work.with_columns(work.get_column(name).cast(pl.Float64, strict=False))
        work = op.apply(work, name, context)
    hierarchies = context.hierarchies
    work = work.with_columns([hierarchies[c].expr(v).alias(c) for c, v in levels.items() if v > 0])
    return work.hstack(kept)


def _transform(
    rows: Rows,
    operators: list[tuple[str, Operator]],
    context: Context,
    carried: list[str],
    levels: Mapping[str, int],
) -> Rows:
    if not operators and not any(levels.values()):
        return rows  # nothing to change
    function = partial(
        _apply,
        operators=operators,
        context=context,
        carried=carried,
        levels=dict(levels),
    )
    # The output schema: the same function on no rows.
    empty = pl.DataFrame(schema=rows.schema)
    return rows.map_batches(function, function(empty).schema)


@dataclass
class Written:
    """A plan's result on an engine: its report and the file its rows were written to."""

    report: ProtectReport
    file: ParquetFile


# Each subject id's link to its person (``catalog.subject_links`` with the workspace's key).
Links = Callable[[pl.Series], pl.Series]


def run_plan_rows(
    rows: Rows,
    checked: Checked,
    context: Context,
    *,
    source: str,
    output: str,
    subject: str | None,
    destination: Path,
    links: Links,
    progress: Progress | None = None,
) -> Written:
    """Apply ``checked`` (checked against the rows' values) to ``rows``, write the result to
    ``destination`` (an empty private file) and measure it there.

    The written rows keep the subject link (``SUBJECT_LINK``) when the rows had one; when
    they had a subject id but no link, its raw value travels with each row as
    ``SUBJECT_COPY`` and ``links`` replaces it, batch by batch in this process (where the
    key is), as the rows are written.
    """
    step = progress or (lambda _stage: None)
    privacy = checked.plan.privacy
    qis, sensitive = checked.quasi_identifiers, checked.sensitive
    carried = [SUBJECT_LINK] if SUBJECT_LINK in rows.schema else []
    if not carried and subject is not None and subject in rows.schema:
        rows = rows.map_batches(
            partial(_copy_subject, subject=subject),
            {**rows.schema, SUBJECT_COPY: rows.schema[subject]},
        )
        carried = [SUBJECT_COPY]
    step("applying the operators")
    work = _transform(rows, list(checked.operators.items()), context, carried, {})
    levels: dict[str, int] = {}
    search = None
    suppressed = 0
    utility = utility_of(pl.DataFrame(), checked, {}, np.zeros(0, dtype=bool), rows.height)
    out_rows = work
    if privacy is not None:
        step("counting the quasi-identifier groups")
        counts = work.counts([*qis, *sensitive])
        found = search_plan(counts, checked, step, weight=COUNT)
        levels, suppressed, search = found.levels, found.suppressed, found.report
        weight = counts.get_column(COUNT).to_numpy().astype(np.float64)
        utility = utility_of(counts, checked, levels, found.kept, rows.height, weight)
        out_rows = _transform(work, [], context, carried, levels)
        if suppressed:
            exprs = [checked.hierarchies[c].expr(v).alias(c) for c, v in levels.items() if v > 0]
            gone = counts.filter(pl.Series(~found.kept)).select(qis).with_columns(exprs).unique()
            out_rows = out_rows.without(gone)
    step("writing the result")
    finish = partial(_link, links=links) if SUBJECT_COPY in carried else None
    written = out_rows.write(destination, finish)
    step("measuring risk and utility")
    risk = measure_risk(checked, rows, LazyRows(pl.scan_parquet(destination)))
    if checked.target is not None:
        utility.ml_note = f"not measured on the {rows.engine} engine (it trains on every row)"
    report = report_of(
        checked,
        source=source,
        output=output,
        rows_in=rows.height,
        rows_out=written,
        suppressed=suppressed,
        levels=levels,
        search=search,
        risk=risk,
        utility=utility,
    )
    width = len(pl.read_parquet_schema(destination))
    return Written(report, ParquetFile(destination, written, width))


def _copy_subject(frame: pl.DataFrame, *, subject: str) -> pl.DataFrame:
    return frame.with_columns(pl.col(subject).alias(SUBJECT_COPY))


def _link(frame: pl.DataFrame, *, links: Links) -> pl.DataFrame:
    return frame.drop(SUBJECT_COPY).with_columns(links(frame.get_column(SUBJECT_COPY)))


def distinct_values(rows: Rows, checked: Checked) -> pl.DataFrame:
    """What ``check_values`` needs from an engine's rows: each distinct combination of the
    generalized, quasi-identifier and sensitive columns (their values, not their counts)."""
    generalized = [name for name, op in checked.operators.items() if op.name == "generalize"]
    names = list(dict.fromkeys([*checked.quasi_identifiers, *generalized, *checked.sensitive]))
    if not names:
        return pl.DataFrame()
    return rows.counts(names).drop(COUNT)
