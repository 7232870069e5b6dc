"""DP statistics: SQL in, noisy answers out, each with its noise scale and 95% interval."""

from __future__ import annotations

import hashlib
import itertools
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import polars as pl
from pydantic import BaseModel, Field

from privet import policy
from privet.catalog import analysis_dtype, for_analysis, is_reserved, resolve
from privet.dp import _accounting as acc
from privet.dp import _ledger as led
from privet.dp import _opendp
from privet.dp._requests import QueryRequest
from privet.dp._sql import ParsedQuery, parse
from privet.engine import choose_engine, spark_rows
from privet.errors import BudgetExhausted, InvalidInput

if TYPE_CHECKING:
    from privet.core import Core
    from privet.engine import Rows

ALPHA = 0.05
_QUANTILE_CANDIDATES = 101


class Statistic(BaseModel):
    """How one output was made noisy."""

    name: str
    aggregate: str
    column: str | None
    mechanism: str = Field(description="OpenDP's noise distribution(s)")
    noise_scale: float | None = Field(description="scale of the noise (of the sum, for a mean)")
    accuracy: float | None = Field(
        description="half-width of the 95% interval (None when it differs per row or "
        "for quantiles, which pick a candidate rather than add noise)"
    )


class QueryResult(BaseModel):
    """A DP answer. ``rows`` hold each statistic with ``<name>_low``/``<name>_high``."""

    release: str
    dataset: str
    purpose: str
    epsilon: float = Field(description="ε this release spent (OpenDP's privacy map)")
    delta: float = Field(description="δ this release spent (key discovery only)")
    query_sha256: str
    unit: str
    threshold: int | None = Field(description="groups with a noisy count below it were dropped")
    statistics: list[Statistic]
    rows: list[dict[str, Any]]
    epsilon_spent: float
    epsilon_remaining: float
    log_index: int
    warnings: list[str]

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.rows)


def query(
    core: Core,
    ref: str,
    request: QueryRequest,
    *,
    actor: str,
    alpha: float = ALPHA,
    identity: policy.Identity | None = None,
    engine: str | None = None,
    rows: Rows | Callable[[str], Rows] | None = None,
    spark_master: str | None = None,
) -> QueryResult:
    """Answer ``request.sql`` on dataset version ``ref`` with (ε, δ)-DP and charge the ledger.

    Everything that can be checked without data is checked first (SQL, columns, bounds,
    keys, ε, δ, budget); nothing is spent unless the answer is returned.

    ``rows`` is the governed read of another engine: a function called with the pinned
    ``dataset@version`` once every check has passed (so a refusal reads nothing), returning
    the broker's :class:`privet.engine.Rows` (view ``aggregate``, channel ``dp:query``), or
    such a read already made. With ``engine="spark"`` its ``.dataframe`` (pyspark) computes
    the contribution-bounded aggregates and OpenDP adds the noise (see ``_spark_query``);
    quantiles and key discovery are refused there. Without ``rows``, the broker's read on
    ``engine`` (default ``$PRIVET_ENGINE``, else ``polars``; Spark on ``spark_master``).
    """
    sql, epsilon, purpose = request.sql, request.epsilon, request.purpose
    bounds, keys = request.bounds, request.keys
    max_rows_per_subject = request.max_rows_per_subject
    with core.reading() as session:
        dataset, version = resolve(session, ref)
        # privet's own columns (the subject link) are the unit, never a thing to ask about;
        # the text of numbers is numeric.
        columns = [c for c in version.columns if not is_reserved(c.name)]
        schema = {c.name: analysis_dtype(c) for c in columns}
        requested_delta = led.check_delta(request.delta, version.row_count)
        parsed = parse(sql, table=dataset.name, schema=schema)
        declared = led.domains(session, dataset.id)
        root = led.root_of(session, dataset)
        row = led.ledger_row(session, root, core.now())
        existing = led.charges_of(session, root.id)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            subject = led.unit_for(dataset, version, row)
        fixed_ref = f"{dataset.name}@{version.number}"
        rows_public = version.row_count
        ids = {"root_id": root.id, "dataset_id": dataset.id, "version_id": version.id}
        ledger_name = root.name
    col_bounds = _bounds(parsed, declared, bounds or {})
    group_keys, discover = _keys(parsed, declared, keys or {}, requested_delta)
    engine = choose_engine(engine)
    if engine == "spark":
        from privet.dp import _spark_query

        if rows is None:
            rows = partial(
                spark_rows,
                core,
                purpose=purpose,
                actor=actor,
                identity=identity,
                view="aggregate",
                channel="dp:query",
                master=spark_master,
            )
        _spark_query.check_supported(parsed, discover)
    charge_delta = requested_delta if discover else 0.0
    try:
        led.check_fits(
            existing, [acc.Charge(acc.pure(epsilon), charge_delta)], row, dataset=ledger_name
        )
    except BudgetExhausted:
        led.log_refusal(core, **ids, kind=parsed.kind, actor=actor, purpose=purpose)
        raise
    notes = [str(w.message) for w in caught]
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=2)
    if requested_delta and not discover:
        notes.append("δ was not needed (no keys to discover), so none was spent")
    if discover and not any(a.kind == "count" for a in parsed.aggregates):
        notes.append(
            "discovering the groups needs a noisy row count per group: it was computed within "
            "this ε and is not shown"
        )

    needed = parsed.columns | ({subject} if subject else set())
    if rows is None:
        read = policy.read(
            core,
            fixed_ref,
            purpose=purpose,
            actor=actor,
            identity=identity,
            view="aggregate",
            channel="dp:query",
        )
        whole = read.frame
    else:
        given = rows(fixed_ref) if callable(rows) else rows
        if given.engine != engine:
            raise InvalidInput(f"the read given is on {given.engine}, not {engine}")
        # On Spark only the schema is needed here: OpenDP plans from it, Spark reads the rows.
        whole = pl.DataFrame(schema=given.schema) if engine == "spark" else given.collect()
    frame = for_analysis(_columns_for(whole, needed), columns)
    prepared = compile_query(
        frame,
        parsed,
        bounds=col_bounds,
        keys=group_keys,
        discover=discover,
        subject=subject,
        max_rows_per_subject=max_rows_per_subject,
        epsilon=epsilon,
        delta=charge_delta,
        public_rows=rows_public,
    )
    summaries = _summaries(prepared, alpha, halves=any(a.kind == "mean" for a in parsed.aggregates))
    if engine == "spark":
        raw = _spark_release(
            given,
            prepared,
            parsed,
            frame,
            col_bounds,
            group_keys,
            subject,
            max_rows_per_subject,
            rows_public,
        )
    else:
        raw = _opendp.release(prepared, frame)
    charge = acc.Charge(acc.pure(prepared.epsilon), prepared.delta)
    digest = hashlib.sha256(sql.encode()).hexdigest()
    recorded = led.record(
        core,
        fixed_ref,
        charge,
        kind=parsed.kind,
        actor=actor,
        purpose=purpose,
        query_sha256=digest,
        facts={"statistics": len(parsed.aggregates), "grouped": bool(parsed.group_by)},
    )
    statistics, answers = _results(parsed, raw, summaries, col_bounds, alpha)
    return QueryResult(
        release=recorded.release,
        dataset=fixed_ref,
        purpose=purpose,
        epsilon=prepared.epsilon,
        delta=prepared.delta,
        query_sha256=digest,
        unit=f"subject ({subject})" if subject else "row",
        threshold=prepared.threshold,
        statistics=statistics,
        rows=answers,
        epsilon_spent=recorded.epsilon_spent,
        epsilon_remaining=max(0.0, recorded.epsilon_limit - recorded.epsilon_spent),
        log_index=recorded.log_index,
        warnings=notes,
    )


def compile_query(
    frame: pl.DataFrame,
    parsed: ParsedQuery,
    *,
    bounds: Mapping[str, tuple[float, float]],
    keys: Mapping[str, list[Any]],
    discover: bool,
    subject: str | None,
    max_rows_per_subject: int,
    epsilon: float,
    delta: float,
    public_rows: int,
) -> _opendp.Prepared:
    """The calibrated OpenDP measurement for ``parsed`` on frames shaped like ``frame``.

    What ``query`` runs once; the empirical privacy test and the benchmark run it many times.
    """
    key_frame = _key_frame(keys, frame.schema) if keys else None
    return _opendp.prepare(
        frame,
        lambda source: _plan(source, parsed, bounds, key_frame, frame.schema, discover),
        subject=subject,
        max_rows=max_rows_per_subject,
        epsilon=epsilon,
        delta=delta,
        public_rows=public_rows,
        discover_keys=discover,
    )


def _spark_release(
    rows: Rows,
    prepared: _opendp.Prepared,
    parsed: ParsedQuery,
    frame: pl.DataFrame,
    bounds: Mapping[str, tuple[float, float]],
    keys: Mapping[str, list[Any]],
    subject: str | None,
    max_rows: int,
    public_rows: int,
) -> pl.DataFrame:
    from privet.dp import _spark_query

    schema = frame.schema
    numbers = [c for c in schema if c in rows.schema and schema[c] != rows.schema[c]]
    spark = _spark_query.prepare(
        prepared,
        parsed,
        schema=schema,
        bounds=bounds,
        key_frame=_key_frame(keys, schema) if keys else None,
        subject=subject,
        max_rows=max_rows,
        public_rows=public_rows,
        numbers=numbers,
    )
    return _spark_query.release(rows.dataframe, spark)  # type: ignore[attr-defined]


# -- planning ------------------------------------------------------------------------------------

# Stands in for the rows when a query names no column (COUNT(*)): selecting no column would
# leave a frame of no rows, and the count would be taken over nothing.
_ROWS = "__privet_rows__"
# OpenDP releases discovered group keys only by thresholding a noisy frame length (dp.len);
# a query without COUNT(*) gets one, computed within its ε and dropped from the answer.
_GROUP_LEN = "__privet_group_len__"


def _columns_for(frame: pl.DataFrame, columns: set[str] | frozenset[str]) -> pl.DataFrame:
    """The columns a query reads, keeping every row even when it reads none."""
    if columns:
        return frame.select(sorted(columns))
    return frame.select(pl.repeat(True, pl.len(), dtype=pl.Boolean).alias(_ROWS))


def _bounds(
    parsed: ParsedQuery,
    declared: Mapping[str, dict[str, Any]],
    given: Mapping[str, tuple[float, float]],
) -> dict[str, tuple[float, float]]:
    result = {}
    for aggregate in parsed.aggregates:
        if aggregate.kind not in ("sum", "mean", "quantile"):
            continue
        column = aggregate.column
        assert column is not None
        found = given.get(column) or (declared.get(column) or {}).get("bounds")
        if found is None:
            raise InvalidInput(
                f"{aggregate.kind} of {column!r} needs clamping bounds: give them in bounds, "
                "or have the owner declare them",
                parameter="bounds",
            )
        low, high = float(found[0]), float(found[1])
        if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
            raise InvalidInput(
                f"the bounds of {column!r} must be finite with LO < HI", parameter="bounds"
            )
        result[column] = (low, high)
    return result


def _keys(
    parsed: ParsedQuery,
    declared: Mapping[str, dict[str, Any]],
    given: Mapping[str, Sequence[Any]],
    delta: float,
) -> tuple[dict[str, list[Any]], bool]:
    """Public keys for every GROUP BY column, or (with δ > 0) discovery by threshold."""
    if not parsed.group_by:
        return {}, False
    keys: dict[str, list[Any]] = {}
    for column in parsed.group_by:
        found = given.get(column) or (declared.get(column) or {}).get("keys")
        if found is not None:
            keys[column] = list(found)
    if len(keys) == len(parsed.group_by):
        return keys, False
    missing = [c for c in parsed.group_by if c not in keys]
    if delta <= 0:
        raise InvalidInput(
            f"GROUP BY {', '.join(missing)} needs public keys: give the keys of "
            f"{missing[0]!r}, or a delta (e.g. 1e-7) to discover them privately",
            parameter="keys",
        )
    return {}, True


def _key_frame(keys: Mapping[str, list[Any]], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    columns = list(keys)
    combos = list(itertools.product(*(keys[c] for c in columns)))
    try:
        return pl.DataFrame(
            [
                pl.Series(c, [combo[i] for combo in combos]).cast(schema[c], strict=True)
                for i, c in enumerate(columns)
            ]
        )
    except Exception:  # noqa: BLE001 - polars' message would quote the keys
        raise InvalidInput("some declared keys do not match their column's type") from None


def _numeric(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    expr = expr.fill_null(0)
    return expr.fill_nan(0.0) if dtype.is_float() else expr


def _candidates(low: float, high: float, dtype: pl.DataType) -> list[float]:
    """Quantile candidates spanning the bounds (integers for an integer column)."""
    if dtype.is_integer():
        lo, hi = math.ceil(low), math.floor(high)
        stride = max(1, (hi - lo) // (_QUANTILE_CANDIDATES - 1))
        return list(range(lo, hi + 1, stride))
    step = (high - low) / (_QUANTILE_CANDIDATES - 1)
    return [low + i * step for i in range(_QUANTILE_CANDIDATES)]


def _expressions(
    parsed: ParsedQuery,
    bounds: Mapping[str, tuple[float, float]],
    schema: Mapping[str, pl.DataType],
) -> list[pl.Expr]:
    out: list[pl.Expr] = []
    for i, a in enumerate(parsed.aggregates):
        if a.kind == "count":
            out.append(_opendp.dp.len(signed=True).alias(a.name))
            continue
        assert a.column is not None
        col, dtype = pl.col(a.column), schema[a.column]
        if a.kind == "count_column":
            out.append(_opendp.dp_count(col).alias(a.name))
        elif a.kind == "sum":
            total = _opendp.dp_sum(_numeric(col, dtype), _typed(bounds[a.column], dtype))
            out.append(total.alias(a.name))
        elif a.kind == "mean":
            # SQL's AVG skips nulls: a noisy sum (nulls as 0) over a noisy non-null count.
            total = _opendp.dp_sum(_numeric(col, dtype), _typed(bounds[a.column], dtype))
            out.append(total.alias(f"__s{i}"))
            out.append(_opendp.dp_count(col).alias(f"__c{i}"))
        else:
            low, high = bounds[a.column]
            values = col.drop_nulls()
            if dtype.is_float():
                values = values.fill_nan(low)
            assert a.alpha is not None  # the parser gives every quantile its level
            candidates = _candidates(low, high, dtype)
            out.append(_opendp.dp_quantile(values, a.alpha, candidates).alias(a.name))
    return out


def _typed(bounds: tuple[float, float], dtype: pl.DataType) -> tuple[float, float]:
    """The bounds as integers for an integer column (OpenDP matches the column's type)."""
    if dtype.is_integer():
        return math.floor(bounds[0]), math.ceil(bounds[1])
    return float(bounds[0]), float(bounds[1])


def _plan(
    source: pl.LazyFrame,
    parsed: ParsedQuery,
    bounds: Mapping[str, tuple[float, float]],
    key_frame: pl.DataFrame | None,
    schema: Mapping[str, pl.DataType],
    discover: bool = False,
) -> pl.LazyFrame:
    plan = source if parsed.where is None else source.filter(parsed.where)
    expressions = _expressions(parsed, bounds, schema)
    if discover and not any(a.kind == "count" for a in parsed.aggregates):
        expressions.append(_opendp.dp.len(signed=True).alias(_GROUP_LEN))
    if not parsed.group_by:
        return plan.select(expressions)
    grouped = plan.group_by(list(parsed.group_by)).agg(expressions)
    if key_frame is not None:
        return key_frame.lazy().join(
            grouped, how="left", on=list(parsed.group_by), nulls_equal=True
        )
    return grouped


# -- results -------------------------------------------------------------------------------------


def _summaries(
    prepared: _opendp.Prepared, alpha: float, *, halves: bool = True
) -> dict[str, dict[str, Any]]:
    """{output column: {"mechanism", "scale", "accuracy", "accuracy_half"}}.

    ``accuracy_half`` (at α/2) serves the union bound of a mean's interval; skip it without.
    """
    if prepared.epsilon == 0:
        return {}
    full = _opendp.summary(prepared, alpha)
    half = _opendp.summary(prepared, alpha / 2) if halves else full
    result: dict[str, dict[str, Any]] = {}
    for one, two in zip(full.iter_rows(named=True), half.iter_rows(named=True), strict=True):
        key = f"{one['column']}|{one['aggregate']}"
        result[key] = {
            "mechanism": one["distribution"],
            "scale": one["scale"],
            "accuracy": one.get("accuracy"),
            "accuracy_half": two.get("accuracy"),
        }
    return result


def _find(summaries: Mapping[str, dict[str, Any]], name: str, aggregates: tuple[str, ...]) -> dict:
    for aggregate in aggregates:
        hit = summaries.get(f"{name}|{aggregate}")
        if hit is not None:
            return hit
    for key, value in summaries.items():
        if key.split("|", 1)[0] == name:
            return value
    return {"mechanism": "none", "scale": None, "accuracy": None, "accuracy_half": None}


def _results(
    parsed: ParsedQuery,
    raw: pl.DataFrame,
    summaries: Mapping[str, dict[str, Any]],
    bounds: Mapping[str, tuple[float, float]],
    alpha: float,
) -> tuple[list[Statistic], list[dict[str, Any]]]:
    statistics: list[Statistic] = []
    rows = (
        [
            {k: r[k] for k in parsed.group_by}
            for r in raw.select(list(parsed.group_by)).iter_rows(named=True)
        ]
        if parsed.group_by
        else [{}]
    )
    for i, a in enumerate(parsed.aggregates):
        if a.kind == "mean":
            s = _find(summaries, f"__s{i}", ("Sum",))
            c = _find(summaries, f"__c{i}", ("Length", "Count"))
            statistics.append(
                Statistic(
                    name=a.name,
                    aggregate="mean",
                    column=a.column,
                    mechanism=f"{s['mechanism']} (sum) / {c['mechanism']} (count)",
                    noise_scale=s["scale"],
                    accuracy=None,
                )
            )
            low, high = bounds[a.column]  # type: ignore[index]
            for row, total, count in zip(rows, raw[f"__s{i}"], raw[f"__c{i}"], strict=True):
                value, lo, hi = _mean_interval(
                    total, count, s["accuracy_half"], c["accuracy_half"], low, high
                )
                row.update({a.name: value, f"{a.name}_low": lo, f"{a.name}_high": hi})
            continue
        found = _find(summaries, a.name, ("Frame Length", "Length", "Count", "Sum"))
        accuracy = found["accuracy"]
        statistics.append(
            Statistic(
                name=a.name,
                aggregate=a.kind,
                column=a.column,
                mechanism=found["mechanism"],
                noise_scale=found["scale"],
                accuracy=accuracy,
            )
        )
        for row, value in zip(rows, raw[a.name], strict=True):
            if value is None or accuracy is None:
                row.update({a.name: value, f"{a.name}_low": None, f"{a.name}_high": None})
            else:
                row.update(
                    {
                        a.name: value,
                        f"{a.name}_low": value - accuracy,
                        f"{a.name}_high": value + accuracy,
                    }
                )
    return statistics, rows


def _mean_interval(
    total: float | None,
    count: float | None,
    sum_accuracy: float | None,
    count_accuracy: float | None,
    low: float,
    high: float,
) -> tuple[float | None, float | None, float | None]:
    """The noisy mean, clamped to the bounds, and a 95% interval by a union bound.

    The sum and the count each lie within their (1 - α/2) accuracy, so together with
    probability ≥ 1 - α; the mean then lies between the extreme ratios of those ranges.
    """
    if total is None or count is None:
        return None, low, high
    value = min(max(total / max(count, 1), low), high)
    if sum_accuracy is None or count_accuracy is None or count - count_accuracy <= 0:
        return value, low, high
    corners = [
        (total + ds) / (count + dc)
        for ds in (-sum_accuracy, sum_accuracy)
        for dc in (-count_accuracy, count_accuracy)
    ]
    return value, max(low, min(corners)), min(high, max(corners))
