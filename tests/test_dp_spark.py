"""DP queries on Spark are distributed as stated, with the noise and ε of the Polars engine.

Spark computes the contribution-bounded aggregates, OpenDP adds the noise. Checked here, on a
table where each row is a person and on one where a subject id has several rows:

- the bounded aggregates Spark computes equal the true values computed in plain Python
  (clip, nulls as 0 in sums, COUNT(col) skipping nulls, public keys, WHERE), and a person
  with more rows than the bound contributes at most ``max_rows`` of them;
- the released answers minus those true values follow the noise distribution OpenDP states
  (discrete Laplace at the stated scale): a Kolmogorov–Smirnov test on repeated releases,
  which the same samples fail at three times the scale; the Polars engine's answers pass the same
  test;
- both engines state the same scale and ε; ε is also recomputed here from the sensitivities
  (units·max(|L|, |U|), plus OpenDP's float rounding bound);
- through ``query`` with a governed read handed to Spark: the same ε charged on the ledger,
  and quantiles / key discovery refused before any read or charge.

The noise-only loops invoke OpenDP's measurement on aggregates Spark computed once;
PRIVET_SLOW=1 runs more releases and repeats the Spark computation.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import polars as pl
import pytest
from scipy import stats

from privet import InvalidInput, Workspace, policy
from privet.dp import QueryRequest, _opendp
from privet.dp import _spark_query as sq
from privet.dp._query import _key_frame, compile_query, query
from privet.dp._sql import parse

pytest.importorskip("pyspark")

SLOW = bool(os.environ.get("PRIVET_SLOW"))
RUNS = 10_000 if SLOW else 1_000
POLARS_RUNS = 2_000 if SLOW else 300
EPSILON = 1.0
P_FLOOR = 1e-4  # a correct distribution fails one test with this probability
AGE, HOURS = (18.0, 90.0), (0.0, 60.0)
BOUNDS = {"age": AGE, "hours": HOURS}
SEXES = ["F", "M", "U"]  # "U" has no row: its count is noise around 0
SQL = "SELECT COUNT(*) AS n, SUM(age) AS s, AVG(hours) AS m, COUNT(hours) AS c FROM t"
GROUPED = (
    "SELECT sex, COUNT(*) AS n, SUM(age) AS s, AVG(hours) AS m FROM t "
    "WHERE age >= 20 OR age IS NULL GROUP BY sex"
)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    # PySpark starts its Python workers with $PYSPARK_PYTHON (the conf key is read only by
    # spark-submit): this interpreter, so they have Polars.
    monkey = pytest.MonkeyPatch()
    monkey.setenv("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("privet-dp-spark-test")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    monkey.undo()


def people(subject: bool) -> pl.DataFrame:
    """Ages out of bounds on both sides and nulls; hours with nulls and a NaN; sex "X" outside
    the public keys. With ``subject``, people 0..39 have two rows each, the rest one."""
    n = 120
    age = [None if i % 17 == 0 else 5 + (i * 37) % 95 for i in range(n)]
    hours = [None if i % 13 == 0 else float("nan") if i == 7 else (i * 7.3) % 75 for i in range(n)]
    sex = ["X" if i % 29 == 0 else "F" if i % 3 else "M" for i in range(n)]
    frame = pl.DataFrame(
        {"sex": sex, "age": age, "hours": hours},
        schema={"sex": pl.String, "age": pl.Int64, "hours": pl.Float64},
    )
    if subject:
        ids = [f"p{i // 2}" if i < 80 else f"p{i}" for i in range(n)]
        frame = frame.with_columns(pl.Series("pid", ids))
    return frame


def truth(frame: pl.DataFrame, *, grouped: bool) -> dict[Any, dict[str, float]]:
    """The bounded aggregates, by hand in plain Python (every person has ≤ 2 rows here)."""
    out: dict[Any, dict[str, float]] = {}
    keys = SEXES if grouped else [None]
    for key in keys:
        out[key] = {"n": 0, "s": 0, "hours_sum": 0.0, "hours_count": 0}
    for row in frame.iter_rows(named=True):
        age, hours = row["age"], row["hours"]
        if grouped and not (age is None or age >= 20):
            continue
        key = row["sex"] if grouped else None
        if key not in out:
            continue  # outside the public keys
        cell = out[key]
        cell["n"] += 1
        cell["s"] += min(max(0 if age is None else age, AGE[0]), AGE[1])
        value = 0.0 if hours is None or math.isnan(hours) else hours
        cell["hours_sum"] += min(max(value, HOURS[0]), HOURS[1])
        cell["hours_count"] += hours is not None
    return out


def plan(frame: pl.DataFrame, sql: str, *, subject: str | None, max_rows: int = 2) -> tuple:
    schema = {k: str(v) for k, v in frame.schema.items()}
    parsed = parse(sql, table="t", schema=schema)
    keys = {"sex": SEXES} if parsed.group_by else {}
    options = {"subject": subject, "public_rows": frame.height}
    prepared = compile_query(
        frame.head(0),
        parsed,
        bounds=BOUNDS,
        keys=keys,
        discover=False,
        max_rows_per_subject=max_rows,
        epsilon=EPSILON,
        delta=0.0,
        **options,
    )
    key_frame = _key_frame(keys, frame.schema) if keys else None
    spark_query = sq.prepare(
        prepared,
        parsed,
        schema=frame.schema,
        bounds=BOUNDS,
        key_frame=key_frame,
        max_rows=max_rows,
        **options,
    )
    return prepared, spark_query


# (output column, its key in truth()) per query; a mean is its noisy sum and noisy count.
OUTPUTS = {
    SQL: {"n": "n", "s": "s", "__s2": "hours_sum", "__c2": "hours_count", "c": "hours_count"},
    GROUPED: {"n": "n", "s": "s", "__s2": "hours_sum", "__c2": "hours_count"},
}
CASES = [(SQL, None), (SQL, "pid"), (GROUPED, None), (GROUPED, "pid")]


def expected(frame: pl.DataFrame, sql: str) -> dict[str, list[float]]:
    """truth() as columns in the order of the release's rows (keys in SEXES order)."""
    cells = truth(frame, grouped=sql == GROUPED)
    return {name: [cells[key][field] for key in cells] for name, field in OUTPUTS[sql].items()}


def rows_in_key_order(release: pl.DataFrame, sql: str) -> pl.DataFrame:
    if sql != GROUPED:
        return release
    order = pl.DataFrame({"sex": SEXES})
    return order.join(release, on="sex", how="left")


def ks_pvalue(errors: list[float], scale: float, integer: bool) -> float:
    """P-value of the errors against the Laplace OpenDP states (discrete on the integers).

    The KS test needs a continuous law: an integer error k becomes k + U, U ~ Uniform[0, 1)
    (independent), whose CDF F(y) = P(X < ⌊y⌋) + (y - ⌊y⌋)·P(X = ⌊y⌋) is continuous.
    """
    if not integer:
        return float(stats.kstest([e / scale for e in errors], "laplace").pvalue)
    law = stats.dlaplace(1 / scale)
    jitter = np.random.default_rng(len(errors)).uniform(size=len(errors))

    def cdf(y: np.ndarray) -> np.ndarray:
        k = np.floor(y)
        return law.cdf(k - 1) + (y - k) * law.pmf(k)

    return float(stats.kstest(np.asarray(errors, dtype=float) + jitter, cdf).pvalue)


def check_distribution(
    releases: list[pl.DataFrame],
    truths: dict[str, list[float]],
    scales: dict[str, float],
    *,
    power: bool = True,
) -> None:
    for name, true in truths.items():
        errors = [v - t for r in releases for v, t in zip(r[name].to_list(), true, strict=True)]
        integer = releases[0].schema[name].is_integer()
        assert ks_pvalue(errors, scales[name], integer) > P_FLOOR, name
        if not power:
            continue
        # The test can fail: the same errors are not Laplace at three times the stated scale.
        assert ks_pvalue(errors, 3 * scales[name], integer) < P_FLOOR, name


@pytest.fixture(scope="module")
def exact(spark: Any) -> dict[tuple[str, str | None], pl.DataFrame]:
    """Spark's bounded aggregates for each case, computed once (the four jobs at once)."""

    def run(case: tuple[str, str | None]) -> pl.DataFrame:
        sql, subject = case
        frame = people(subject is not None)
        _, spark_query = plan(frame, sql, subject=subject)
        return sq.bounded_aggregates(spark.createDataFrame(frame.to_arrow()), spark_query)

    with ThreadPoolExecutor(len(CASES)) as pool:
        return dict(zip(CASES, pool.map(run, CASES), strict=True))


@pytest.mark.parametrize(("sql", "subject"), CASES)
def test_spark_bounded_aggregates_are_the_true_bounded_values(exact, sql, subject) -> None:
    frame = people(subject is not None)
    got = rows_in_key_order(exact[(sql, subject)], sql)
    for name, true in expected(frame, sql).items():
        assert got[name].to_list() == pytest.approx(true, rel=1e-12), name


@pytest.mark.parametrize(("sql", "subject"), CASES)
def test_both_engines_state_the_same_noise_and_epsilon(sql, subject) -> None:
    frame = people(subject is not None)
    prepared, spark_query = plan(frame, sql, subject=subject)
    summary = _opendp.summary(prepared, 0.05)
    stated = {r["column"]: r["scale"] for r in summary.iter_rows(named=True)}
    assert spark_query.scales == stated
    assert spark_query.epsilon == prepared.epsilon
    # ε from the sensitivities, by hand: one unit brings `units` rows; a float sum adds
    # OpenDP's rounding bound n²/2^51·max(|L|,|U|) for n = 2·rows + 1000, per public key.
    units = 2 if subject else 1
    keys = len(SEXES) if sql == GROUPED else 1
    rounding = (2 * frame.height + 1000) ** 2 / 2**51 * HOURS[1]
    sensitivity = {"n": units, "c": units, "s": units * AGE[1]}
    total = 0.0
    for name in OUTPUTS[sql]:
        if name.startswith("__s"):
            d = units * HOURS[1] + keys * rounding
        else:
            d = sensitivity.get(name, units)
        total += d / stated[name]
        # The Polars plan spends ε evenly over its outputs (within its calibration step).
        assert d / stated[name] == pytest.approx(EPSILON / len(OUTPUTS[sql]), rel=2e-3)
    assert total == pytest.approx(prepared.epsilon, rel=1e-12)
    assert prepared.epsilon <= EPSILON


@pytest.mark.parametrize(("sql", "subject"), CASES)
def test_spark_answers_are_distributed_as_stated(exact, sql, subject) -> None:
    frame = people(subject is not None)
    _, spark_query = plan(frame, sql, subject=subject)
    releases = [
        rows_in_key_order(sq.add_noise(spark_query, exact[(sql, subject)]), sql)
        for _ in range(RUNS)
    ]
    check_distribution(releases, expected(frame, sql), spark_query.scales)


@pytest.mark.parametrize(("sql", "subject"), CASES)
def test_polars_answers_pass_the_same_test(sql, subject) -> None:
    frame = people(subject is not None)
    prepared, spark_query = plan(frame, sql, subject=subject)
    releases = [
        rows_in_key_order(_opendp.release(prepared, frame), sql) for _ in range(POLARS_RUNS)
    ]
    truths = expected(frame, sql)
    for name, true in truths.items():
        errors = [v - t for r in releases for v, t in zip(r[name].to_list(), true, strict=True)]
        integer = releases[0].schema[name].is_integer()
        assert ks_pvalue(errors, spark_query.scales[name], integer) > P_FLOOR, name


def test_end_to_end_spark_releases_are_distributed_as_stated(spark) -> None:
    """Spark recomputes the aggregates for each release (a few here, more when slow)."""
    frame = people(True)
    _, spark_query = plan(frame, SQL, subject="pid")
    data = spark.createDataFrame(frame.to_arrow())
    runs = 40 if SLOW else 2
    releases = [sq.release(data, spark_query) for _ in range(runs)]
    truths = expected(frame, SQL)
    if SLOW:
        # Too few releases to show that a wrong scale fails: the loops above show it.
        check_distribution(releases, truths, spark_query.scales, power=False)
    for r in releases:  # each within 12 scales of the truth: P(miss) < 1e-5 per value
        for name, true in truths.items():
            assert abs(r[name][0] - true[0]) < 12 * spark_query.scales[name], name


def test_a_person_with_more_rows_than_the_bound_contributes_max_rows(spark) -> None:
    base = people(False).head(30).with_columns(pl.Series("pid", [f"q{i}" for i in range(30)]))
    heavy = pl.DataFrame(
        {
            "sex": ["F", "M", "F", "M", "F", "M"],
            "age": [20, 30, 40, 50, 60, 70],
            "hours": [1.0] * 6,
            "pid": ["big"] * 6,
        },
        schema=base.schema,
    )
    frame = pl.concat([base, heavy])
    data = spark.createDataFrame(frame.to_arrow())
    others = truth(base, grouped=False)[None]
    for sql in (SQL, GROUPED):
        _, spark_query = plan(frame, sql, subject="pid", max_rows=2)
        sums = set()
        for seed in range(2) if sql == SQL else range(1):
            got = sq.bounded_aggregates(data, spark_query, seed=seed)
            if sql == SQL:
                assert got["n"][0] == others["n"] + 2
                assert got["__c2"][0] == others["hours_count"] + 2
                kept = got["s"][0] - others["s"]
                assert 20 + 30 <= kept <= 60 + 70  # two of the six ages, clipped: no more
                sums.add(kept)
            else:
                base_grouped = truth(base, grouped=True)
                n_others = sum(cell["n"] for cell in base_grouped.values())
                assert got["n"].sum() == n_others + 2  # two rows over all groups
        if sql == SQL:
            assert len(sums) > 1  # which two rows is a random choice


def test_count_star_reads_no_column_and_counts_every_row(spark) -> None:
    frame = people(False)
    _, spark_query = plan(frame, "SELECT COUNT(*) AS n FROM t", subject=None)
    assert spark_query.columns == []
    got = sq.bounded_aggregates(spark.createDataFrame(frame.to_arrow()), spark_query)
    assert got["n"].to_list() == [120]


def test_a_plan_with_another_sensitivity_is_refused() -> None:
    frame = people(True)
    schema = {k: str(v) for k, v in frame.schema.items()}
    parsed = parse(SQL, table="t", schema=schema)
    common = {"bounds": BOUNDS, "subject": "pid", "public_rows": frame.height}
    prepared = compile_query(
        frame.head(0),
        parsed,
        keys={},
        discover=False,
        max_rows_per_subject=3,
        epsilon=EPSILON,
        delta=0.0,
        **common,
    )
    # The Polars plan bounds a person to 3 rows; noise for 2 would spend a different ε.
    with pytest.raises(InvalidInput, match="use --engine polars"):
        sq.prepare(prepared, parsed, schema=frame.schema, key_frame=None, max_rows=2, **common)


# -- through query(): a governed read handed to Spark, the ledger, the refusals ----------------


class SparkRead:
    """The shape of the broker's Spark read (engine, schema, pyspark ``dataframe``)."""

    engine = "spark"

    def __init__(self, frame: pl.DataFrame, spark: Any) -> None:
        self.schema = frame.schema
        self.height = frame.height
        self.dataframe = spark.createDataFrame(frame.to_arrow())


@pytest.fixture(scope="module")
def governed(spark, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("dpspark")
    monkey = pytest.MonkeyPatch()
    monkey.setenv("PRIVET_KEY_DIR", str(root / "keys"))
    ws = Workspace.init(root / "ws", actor="alice")
    path = root / "visits.csv"
    people(True).with_columns(pl.col("hours").fill_nan(None)).write_csv(path)
    ws.ingest(
        path, name="visits", owner="alice", purposes=["research"], actor="alice",
        subject_id="pid", scan=False,
    )  # fmt: skip
    ws.dp.set_budget("visits", actor="alice", epsilon=100, delta=1e-5)
    reads: list[str] = []

    def read(ref: str) -> SparkRead:
        reads.append(ref)
        frame = policy.read(
            ws._core, ref, purpose="research", actor="alice", view="aggregate",
            channel="dp:query",
        ).frame  # fmt: skip
        return SparkRead(frame, spark)

    yield {"ws": ws, "read": read, "reads": reads}
    ws.close()
    monkey.undo()


def ask(ctx: dict[str, Any], sql: str, engine: str, **options: Any) -> Any:
    request = QueryRequest(
        sql=sql, epsilon=EPSILON, purpose="research", max_rows_per_subject=2, **options
    )
    rows = ctx["read"] if engine == "spark" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return query(ctx["ws"]._core, "visits", request, actor="alice", engine=engine, rows=rows)


def test_query_on_spark_charges_what_polars_charges(governed) -> None:
    sql = "SELECT sex, COUNT(*) AS n, AVG(hours) AS m FROM visits GROUP BY sex"
    options = {"bounds": {"hours": HOURS}, "keys": {"sex": SEXES}}
    on_spark = ask(governed, sql, "spark", **options)
    on_polars = ask(governed, sql, "polars", **options)
    assert governed["reads"] == ["visits@1"]
    assert on_spark.epsilon == on_polars.epsilon <= EPSILON
    assert on_spark.statistics == on_polars.statistics
    assert on_spark.unit == on_polars.unit == "subject (pid)"
    ledger = {r.id: r for r in governed["ws"].dp.budget("visits").releases}
    charged = [ledger[r.release] for r in (on_spark, on_polars)]
    assert charged[0].epsilon == charged[1].epsilon > 0  # the same charge
    assert [c.dataset for c in charged] == ["visits@1"] * 2
    counts = dict(people(True).group_by("sex").len().iter_rows())
    scale = next(s.noise_scale for s in on_spark.statistics if s.name == "n")
    assert sorted(r["sex"] for r in on_spark.rows) == SEXES
    for row in on_spark.rows:  # within 12 scales of the truth: P(miss) < 1e-5
        assert abs(row["n"] - counts.get(row["sex"], 0)) < 12 * scale
        assert row["m_low"] <= row["m"] <= row["m_high"]
        assert HOURS[0] <= row["m"] <= HOURS[1]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT MEDIAN(age) FROM visits", "quantiles run on the Polars engine"),
        ("SELECT sex, COUNT(*) FROM visits GROUP BY sex", "key discovery"),
    ],
)
def test_what_spark_does_not_reproduce_is_refused_before_reading(governed, sql, message) -> None:
    ws = governed["ws"]
    spent, reads = ws.dp.budget("visits").epsilon_spent, len(governed["reads"])
    with pytest.raises(InvalidInput, match=message):
        ask(governed, sql, "spark", bounds={"age": AGE}, delta=1e-6)
    assert len(governed["reads"]) == reads  # nothing read
    assert ws.dp.budget("visits").epsilon_spent == spent  # nothing spent
