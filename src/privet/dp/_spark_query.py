"""DP queries on Spark: Spark computes the contribution-bounded aggregates, OpenDP adds the noise.

A DP statistic is a stable transformation followed by a noise measurement, and the proof
covers each part separately. The Polars engine hands both to OpenDP as one plan. Here:

- **Spark** runs the transformation, step for step as OpenDP's Polars plan for the same
  query does it: each unit (a subject, or a row when there is no subject id) keeps at most
  ``max_rows`` of its rows, chosen at random; then the WHERE filter; nulls (and NaNs) to 0
  before a clipped sum; values clipped to the bounds; rows outside the public keys dropped;
  then one count or clipped sum per group. The row-level steps run as Polars expressions on
  Arrow batches inside the executors (the very expressions of the Polars plan), so both
  engines read each row the same way.
- **OpenDP** adds the noise with ``make_laplace`` over the vector of group aggregates (its
  discrete Laplace: integers, or floats on a 2^-1074 grid), at the scale OpenDP calibrated
  for the Polars plan of the same query. Its privacy map, at the L1 sensitivity derived
  below from ``max_rows`` and the bounds the way OpenDP's Polars stability map derives it,
  must give the ε that the Polars plan charges; the query is refused otherwise.

Quantiles and private key discovery are not reproduced here: they run on the Polars engine.
pyspark is imported only inside the functions that use it.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import opendp.prelude as dp
import polars as pl

from privet.dp import _opendp
from privet.dp._sql import ParsedQuery
from privet.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa
    from opendp.mod import Measurement
    from pyspark.sql import Column, DataFrame

_RAND = "__privet_rand__"
_RANK = "__privet_rank__"
_ONE = "__privet_one__"
# OpenDP 0.16 bounds the rounding error of a float sum of n terms, in any order (the metric
# does not see order), by n²/2^51·max(|L|, U) per partition (its Sequential<f64> relaxation).
# Spark adds a partition's doubles in a tree of additions: the same bound holds (Higham 2002,
# §4.2: at most n - 1 roundings touch any term).
_FLOAT_SUM_RELAXATION = 2.0**-51


def check_supported(parsed: ParsedQuery, discover: bool) -> None:
    """Refuse, in one sentence, what the Spark path does not reproduce exactly."""
    if any(a.kind == "quantile" for a in parsed.aggregates):
        raise InvalidInput("DP quantiles run on the Polars engine: use --engine polars")
    if discover:
        raise InvalidInput(
            "GROUP BY without public keys (private key discovery) runs on the Polars engine: "
            "give the keys, or use --engine polars",
            parameter="engine",
        )


@dataclass(frozen=True)
class Output:
    """One column of the release: a count of rows, of non-null values, or a clipped sum."""

    name: str
    kind: str  # rows | values | sum
    column: str | None = None
    bounds: tuple[float, float] | None = None
    integer: bool = True


@dataclass(frozen=True)
class SparkQuery:
    """What Spark computes and how OpenDP makes it private, checked against the Polars plan."""

    outputs: tuple[Output, ...]
    group_by: tuple[str, ...]
    where: pl.Expr | None
    key_frame: pl.DataFrame | None
    subject: str | None
    max_rows: int
    numbers: tuple[str, ...]  # text columns read as numbers (the catalog's analysis type)
    scales: dict[str, float]
    sensitivities: dict[str, float]
    epsilon: float

    @property
    def columns(self) -> list[str]:
        """The columns the row-level step reads."""
        used = set(self.group_by) | {o.column for o in self.outputs if o.column}
        if self.where is not None:
            used |= set(self.where.meta.root_names())
        return sorted(used)

    def measurement(self, name: str) -> Measurement:
        """OpenDP's Laplace mechanism for output ``name`` (a vector: one value per group)."""
        output = next(o for o in self.outputs if o.name == name)
        return _laplace(output.integer, self.scales[name])


def _laplace(integer: bool, scale: float) -> Measurement:
    if integer:
        space = dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64")
    else:
        space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float)
    return dp.m.make_laplace(*space, scale)


def outputs_of(
    parsed: ParsedQuery,
    bounds: Mapping[str, tuple[float, float]],
    schema: Mapping[str, pl.DataType],
) -> tuple[Output, ...]:
    """The release's columns, named as the Polars plan names them (a mean is ``__s{i}`` over
    ``__c{i}``)."""
    from privet.dp._query import _typed

    result: list[Output] = []
    for i, a in enumerate(parsed.aggregates):
        if a.kind == "count":
            result.append(Output(a.name, "rows"))
            continue
        assert a.column is not None
        dtype = schema[a.column]
        clip = _typed(bounds[a.column], dtype) if a.kind in ("sum", "mean") else None
        integer = dtype.is_integer()
        if a.kind == "count_column":
            result.append(Output(a.name, "values", a.column))
        elif a.kind == "sum":
            result.append(Output(a.name, "sum", a.column, clip, integer))
        elif a.kind == "mean":
            result.append(Output(f"__s{i}", "sum", a.column, clip, integer))
            result.append(Output(f"__c{i}", "values", a.column))
        else:  # pragma: no cover - check_supported refused it
            raise InvalidInput("DP quantiles run on the Polars engine: use --engine polars")
    return tuple(result)


def sensitivity(output: Output, *, units: int, partitions: int, rows_bound: int) -> float:
    """The L1 sensitivity of ``output`` over all its groups when one unit is added or removed.

    The unit brings at most ``units`` rows (``max_rows`` per subject; 1 when a row is the
    unit), so it moves a count by at most ``units`` in total over the groups, and a sum of
    values clipped to [L, U] by ``units``·max(|L|, |U|) — OpenDP's min(l1, l0·l∞) with
    l0 = l1 = l∞ = ``units``. A float sum adds OpenDP's rounding bound for sums of up to
    ``rows_bound`` terms, once per public partition.
    """
    if output.kind != "sum":
        return float(units)
    assert output.bounds is not None
    largest = max(abs(output.bounds[0]), abs(output.bounds[1]))
    if output.integer:
        return float(units * largest)
    relaxation = float(rows_bound) ** 2 * _FLOAT_SUM_RELAXATION * largest
    return units * largest + partitions * relaxation


def prepare(
    prepared: _opendp.Prepared,
    parsed: ParsedQuery,
    *,
    schema: Mapping[str, pl.DataType],
    bounds: Mapping[str, tuple[float, float]],
    key_frame: pl.DataFrame | None,
    subject: str | None,
    max_rows: int,
    public_rows: int,
    numbers: Sequence[str] = (),
) -> SparkQuery:
    """The Spark form of the OpenDP plan ``prepared``: same outputs, same noise, same ε.

    Refused (before any read) when OpenDP's Polars plan states another noise distribution or
    when the composed privacy maps of the Laplace mechanisms here differ from its ε.
    """
    outputs = outputs_of(parsed, bounds, schema)
    stated = {r["column"]: r for r in _opendp.summary(prepared, 0.05).iter_rows(named=True)}
    units = max_rows if subject is not None else 1
    partitions = key_frame.height if key_frame is not None else 1
    scales: dict[str, float] = {}
    sensitivities: dict[str, float] = {}
    epsilon = 0.0
    for output in outputs:
        row = stated.get(output.name)
        expected = "Integer Laplace" if output.integer else "Float Laplace"
        if row is None or row["distribution"] != expected:
            raise InvalidInput(
                "OpenDP's plan for this query is not one the Spark engine reproduces: "
                "use --engine polars"
            )
        scales[output.name] = float(row["scale"])
        sensitivities[output.name] = sensitivity(
            output,
            units=units,
            partitions=partitions,
            rows_bound=_opendp.max_length(public_rows),
        )
        noise = _laplace(output.integer, scales[output.name])
        d_in = sensitivities[output.name]
        # Pure-DP losses add up (basic composition), as in the Polars plan's map.
        epsilon += float(noise.map(math.ceil(d_in) if output.integer else d_in))
    if not math.isclose(epsilon, prepared.epsilon, rel_tol=1e-12, abs_tol=0.0):
        raise InvalidInput(
            "the Spark engine's noise would not match OpenDP's accounting for this query "
            f"(ε {epsilon:.12g} against {prepared.epsilon:.12g}): use --engine polars"
        )
    return SparkQuery(
        outputs=outputs,
        group_by=parsed.group_by,
        where=parsed.where,
        key_frame=key_frame,
        subject=subject,
        max_rows=max_rows,
        numbers=tuple(numbers),
        scales=scales,
        sensitivities=sensitivities,
        epsilon=prepared.epsilon,
    )


# -- Spark's part: the stable transformation -------------------------------------------------


_Spec = tuple[str, str, str | None, float | None, float | None, bool]


def _row_step(
    numbers: tuple[str, ...],
    where: pl.Expr | None,
    keys: pl.DataFrame | None,
    group_by: tuple[str, ...],
    specs: tuple[_Spec, ...],
) -> Callable[[Iterable[pa.RecordBatch]], Iterable[pa.RecordBatch]]:
    """The row-local part of the plan, run by the executors on Arrow batches.

    A closure of plain values: cloudpickle ships it by value, so an executor imports only
    Polars, not privet. Per row: the group keys and what each output adds (1 for a row, 1
    for a non-null value, the value with nulls and NaNs as 0 clipped to the bounds: the
    expressions of the Polars plan).
    """

    def frame(batch: pl.DataFrame) -> pl.DataFrame:
        batch = batch.with_columns(pl.col(c).cast(pl.Float64, strict=False) for c in numbers)
        if where is not None:
            batch = batch.filter(where)
        if keys is not None:
            batch = batch.join(keys, on=list(group_by), how="semi", nulls_equal=True)
        values = [pl.col(g) for g in group_by]
        for name, kind, column, low, high, integer in specs:
            if kind == "rows":
                # repeat, not lit: a frame of literals alone would have one row
                values.append(pl.repeat(1, pl.len(), dtype=pl.Int64).alias(name))
                continue
            assert column is not None
            if kind == "values":
                values.append(pl.col(column).is_not_null().cast(pl.Int64).alias(name))
                continue
            value = pl.col(column).fill_null(0)
            if batch.schema[column].is_float():
                value = value.fill_nan(0.0)
            value = value.clip(low, high).cast(pl.Int64 if integer else pl.Float64)
            values.append(value.alias(name))
        return batch.select(values)

    def step(batches: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
        for batch in batches:
            yield from frame(pl.from_arrow(batch)).to_arrow().to_batches()  # type: ignore[arg-type]

    return step


def bounded_aggregates(
    dataframe: DataFrame, query: SparkQuery, *, seed: int | None = None
) -> pl.DataFrame:
    """The exact contribution-bounded aggregates, one row per public key (or one row).

    Which of a subject's rows are kept: those with the ``max_rows`` smallest values of
    Spark's ``rand`` under a fresh 63-bit seed from the OS's CSPRNG (``secrets``), i.e. a
    uniform choice made independently of every other subject's rows, as OpenDP's
    ``shuffle().over(subject)`` makes it. ``seed`` is for tests only.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    frame = dataframe
    if query.subject is not None:
        seed = secrets.randbits(63) if seed is None else seed
        order = Window.partitionBy(_col(query.subject)).orderBy(_RAND)
        frame = (
            frame.withColumn(_RAND, F.rand(seed))
            .withColumn(_RANK, F.row_number().over(order))
            .filter(F.col(_RANK) <= query.max_rows)
        )
    # A literal column keeps every row even when the query reads no column (COUNT(*)).
    frame = frame.select(*(_col(c) for c in query.columns), F.lit(True).alias(_ONE))
    fields: list[T.StructField] = []
    for g in query.group_by:
        kind = T.DoubleType() if g in query.numbers else frame.schema[g].dataType
        fields.append(T.StructField(g, kind, True))
    for o in query.outputs:
        fields.append(T.StructField(o.name, T.LongType() if o.integer else T.DoubleType(), True))
    specs = tuple(
        (o.name, o.kind, o.column, *(o.bounds or (None, None)), o.integer) for o in query.outputs
    )
    step = _row_step(query.numbers, query.where, query.key_frame, query.group_by, specs)
    rows = frame.mapInArrow(step, T.StructType(fields))
    sums = [F.sum(_col(o.name)).alias(o.name) for o in query.outputs]
    keys = [_col(g) for g in query.group_by]
    grouped = rows.groupBy(*keys).agg(*sums) if keys else rows.agg(*sums)
    exact = pl.from_arrow(grouped.toArrow())
    assert isinstance(exact, pl.DataFrame)
    return _fill(exact, query)


def _col(name: str) -> Column:
    """A column by its exact name (Spark would read a dot in a plain name as a field)."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _fill(exact: pl.DataFrame, query: SparkQuery) -> pl.DataFrame:
    """Every public key present (an absent group counts 0 and sums 0), typed for the noise."""
    types = {o.name: pl.Int64 if o.integer else pl.Float64 for o in query.outputs}
    if query.key_frame is not None:
        keys = query.key_frame
        exact = exact.with_columns(pl.col(c).cast(keys.schema[c]) for c in query.group_by)
        exact = keys.join(exact, on=list(query.group_by), how="left", nulls_equal=True)
    return exact.with_columns(pl.col(n).fill_null(0).cast(t) for n, t in types.items())


# -- OpenDP's part: the measurement ----------------------------------------------------------


def add_noise(query: SparkQuery, exact: pl.DataFrame) -> pl.DataFrame:
    """The release: each output column through its OpenDP Laplace measurement."""
    noisy: list[pl.Series] = []
    for o in query.outputs:
        values: list[Any] = exact.get_column(o.name).to_list()
        released = query.measurement(o.name)(values)
        noisy.append(pl.Series(o.name, released, dtype=pl.Int64 if o.integer else pl.Float64))
    return exact.with_columns(noisy)


def release(dataframe: DataFrame, query: SparkQuery) -> pl.DataFrame:
    """A DP release of ``query`` on ``dataframe``, shaped as the Polars engine's."""
    return add_noise(query, bounded_aggregates(dataframe, query))
