"""Re-identification risk of a table: k, ℓ, t, and the prosecutor / journalist / marketer risks.

An equivalence class is the set of records sharing one combination of quasi-identifier
values (a null is a value of its own). With f the size of a record's class in the table and
F its size in the population:

- prosecutor risk of a record (the attacker knows the person is in the table): 1/f;
- journalist risk (the attacker knows only that the person is in the population): 1/F,
  computed when a population table is given;
- marketer risk (the expected share of records re-identified when every record is matched):
  (1/n) Σ_classes f/F, which is (number of classes)/n without a population table
  (El Emam, *Guide to the De-Identification of Personal Health Information*, 2013).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from pydantic import BaseModel, Field

from privet.deid._measure import distinct_per_class, int_min, t_per_class
from privet.engine import COUNT, FrameRows, Rows
from privet.errors import InvalidInput


class RiskBand(BaseModel):
    """Records whose prosecutor risk lies in (``low``, ``high``]."""

    low: float
    high: float
    records: float = Field(description="Share of the records in this band.")


class RiskReport(BaseModel):
    """Re-identification risk of one table for one choice of quasi-identifiers."""

    rows: int = Field(description="Records measured.")
    quasi_identifiers: list[str] = Field(description="The columns an attacker may know.")
    sensitive: list[str] = Field(description="Sensitive attributes measured for ℓ and t.")
    k: int = Field(description="Size of the smallest equivalence class (k-anonymity).")
    l: int | None = Field(  # noqa: E741 - the model's name
        description="Fewest distinct sensitive values in a class (distinct ℓ-diversity)."
    )
    t: float | None = Field(
        description="Largest EMD between a class's sensitive values and the table's (t-closeness)."
    )
    classes: int = Field(description="Number of equivalence classes.")
    prosecutor_risk_max: float = Field(description="Highest prosecutor risk of a record: 1/k.")
    prosecutor_risk_avg: float = Field(description="Mean prosecutor risk over records.")
    records_at_risk: float = Field(
        description="Share of records whose prosecutor risk exceeds the threshold."
    )
    threshold: float = Field(description="The prosecutor-risk threshold used.")
    journalist_risk_max: float | None = Field(
        description="Highest journalist risk (needs a population table)."
    )
    marketer_risk: float = Field(description="Expected share of records re-identified.")
    sample_uniques: float = Field(description="Share of records unique in the table.")
    population_uniques_estimate: float | None = Field(
        description="Share of records estimated unique in the population (needs a population "
        "table, or a population size for a Zayatz-style estimate)."
    )
    qi_contribution: dict[str, float] = Field(
        description="Per quasi-identifier: the share of the distinguishing power (classes "
        "beyond one) lost when that column is left out."
    )
    risk_histogram: list[RiskBand] = Field(
        default_factory=list,
        description="Share of records per band of prosecutor risk (1 / class size), lowest "
        "band first, as ARX draws it.",
    )


# Band edges of prosecutor risk: a class of 1 is 1.0, of 2 is 0.5, of 3 is 0.34, ...
RISK_BANDS = (0.0, 0.001, 0.01, 0.05, 0.1, 0.2, 0.34, 0.5, 1.0)


def risk_histogram(sizes: np.ndarray, rows: int) -> list[RiskBand]:
    """Share of records per prosecutor-risk band; each class's records share its 1/size."""
    risk = 1.0 / sizes
    bands = []
    for low, high in zip(RISK_BANDS, RISK_BANDS[1:], strict=False):
        inside = (risk > low) & (risk <= high)
        bands.append(RiskBand(low=low, high=high, records=float(sizes[inside].sum() / rows)))
    return bands


def check_columns(names: Sequence[str], columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in names]
    if missing:
        import difflib

        hints = [difflib.get_close_matches(c, names, n=1) for c in missing]
        hint = "".join(f" (did you mean {h[0]!r}?)" for h in hints if h)
        raise InvalidInput(
            f"unknown {what} column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))}{hint}"
        )


def sensitive_codes(values: pl.Series) -> tuple[np.ndarray, int, bool]:
    """Codes of a sensitive column in sort order, their number, and whether it is ordered."""
    ranks = values.rank("dense")
    distinct = values.drop_nulls().n_unique()
    codes = (ranks.fill_null(distinct + 1) - 1).to_numpy().astype(np.int64)
    ordered = (values.dtype.is_numeric() and values.dtype != pl.Boolean) or (
        values.dtype.is_temporal()
    )
    return codes, distinct + int(values.null_count() > 0), ordered


def diversity_and_closeness(
    rows: Rows, quasi_identifiers: Sequence[str], sensitive: Sequence[str]
) -> tuple[int | None, float | None]:
    """Distinct ℓ (smallest over classes and attributes) and t (largest), or (None, None).

    One group count over (quasi-identifiers, sensitive values) gives the pairs; class ids
    are then taken on that much smaller table.
    """
    if not sensitive:
        return None, None
    return _diversity_and_closeness(
        rows.counts([*quasi_identifiers, *sensitive]), quasi_identifiers, sensitive
    )


def _diversity_and_closeness(
    counts: pl.DataFrame, quasi_identifiers: Sequence[str], sensitive: Sequence[str]
) -> tuple[int | None, float | None]:
    """:func:`diversity_and_closeness` from the group counts of (quasi-identifiers and every
    sensitive column): an attribute's pairs are those counts added up over the others."""
    if not sensitive:
        return None, None
    qis = list(quasi_identifiers)
    l_value, t_value = None, 0.0
    for column in sensitive:
        pairs = _summed(counts, [*qis, column])
        # In value order, so that every engine sums the same floats in the same order.
        pairs = pairs.sort([*qis, column], nulls_last=True)
        cls = pairs.select(pl.struct(qis).rank("dense")).to_series().to_numpy().astype(np.int64)
        cls -= 1
        n_classes = int(cls.max()) + 1
        codes, n_values, ordered = sensitive_codes(pairs.get_column(column))
        count = pairs.get_column(COUNT).to_numpy().astype(np.float64)
        diversity = int(distinct_per_class(cls, n_classes).min())
        l_value = diversity if l_value is None else min(l_value, diversity)
        closeness = float(t_per_class(cls, codes, count, n_classes, ordered=ordered).max())
        t_value = max(t_value, closeness)
    return l_value, t_value


def measure(
    frame: pl.DataFrame, quasi_identifiers: Sequence[str], sensitive: Sequence[str] = ()
) -> tuple[int, int | None, float | None]:
    """Just (k, ℓ, t): the privacy models' own numbers, without the rest of the report."""
    check_columns(frame.columns, quasi_identifiers, "quasi-identifier")
    check_columns(frame.columns, sensitive, "sensitive")
    if frame.height == 0:
        raise InvalidInput("the table has no rows to measure")
    k = int_min(frame.group_by(list(quasi_identifiers)).len().get_column("len")) or 0  # has rows
    return (k, *diversity_and_closeness(FrameRows(frame), quasi_identifiers, sensitive))


def assess_risk(
    frame: pl.DataFrame | Rows,
    quasi_identifiers: Sequence[str],
    sensitive: Sequence[str] = (),
    *,
    threshold: float = 0.2,
    population: pl.DataFrame | None = None,
    population_size: int | None = None,
) -> RiskReport:
    """Measure the re-identification risk of ``frame`` (a table, or the rows of a read on
    any engine) for the given quasi-identifiers.

    Every figure comes from group counts (``Rows.counts``), so each engine gives the same
    report from the same rows.
    """
    rows = FrameRows(frame) if isinstance(frame, pl.DataFrame) else frame
    qis, sens = list(dict.fromkeys(quasi_identifiers)), list(dict.fromkeys(sensitive))
    if not qis:
        raise InvalidInput(
            "name at least one quasi-identifier in quasi_identifiers", parameter="quasi_identifiers"
        )
    check_columns(rows.schema.names(), qis, "quasi-identifier")
    check_columns(rows.schema.names(), sens, "sensitive")
    if set(qis) & set(sens):
        raise InvalidInput("a column cannot be both a quasi-identifier and sensitive")
    if not 0 < threshold <= 1:
        raise InvalidInput("the risk threshold must be in (0, 1]", parameter="threshold")
    # One count gives every figure: on Spark each count is a job that decrypts the version.
    counts = rows.counts([*qis, *sens])
    height = int(counts.get_column(COUNT).sum())
    if height == 0:
        raise InvalidInput("the table has no rows to measure")
    combos = _summed(counts, qis)
    sizes = combos.get_column(COUNT).to_numpy().astype(np.float64)
    classes = len(sizes)
    k = int(sizes.min())
    l_value, t_value = _diversity_and_closeness(counts, qis, sens)
    at_risk = float(sizes[1.0 / sizes > threshold].sum() / height)
    uniques = float(sizes[sizes == 1].sum() / height)
    journalist, marketer, pop_uniques = None, classes / height, None
    if population is not None:
        check_columns(population.columns, qis, "population quasi-identifier")
        joined = (
            combos.rename({COUNT: "f"})
            .join(population.group_by(qis).len("F"), on=qis, how="left", nulls_equal=True)
            .with_columns(pl.max_horizontal("F", "f").alias("F"))
        )
        f = joined.get_column("f").to_numpy().astype(np.float64)
        big_f = joined.get_column("F").to_numpy().astype(np.float64)
        journalist = float((1.0 / big_f).max())
        marketer = float((f / big_f).sum() / height)
        pop_uniques = float(f[big_f == 1].sum() / height)
    elif population_size is not None:
        pop_uniques = zayatz_population_uniques(sizes, population_size)
    return RiskReport(
        rows=height,
        quasi_identifiers=qis,
        sensitive=sens,
        k=k,
        l=l_value,
        t=t_value,
        classes=classes,
        prosecutor_risk_max=1.0 / k,
        prosecutor_risk_avg=classes / height,
        records_at_risk=at_risk,
        threshold=threshold,
        journalist_risk_max=journalist,
        marketer_risk=marketer,
        sample_uniques=uniques,
        population_uniques_estimate=pop_uniques,
        qi_contribution=_contribution(combos, qis, classes),
        risk_histogram=risk_histogram(sizes, height),
    )


def _summed(counts: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """The group counts of ``columns`` from counts over more columns (nulls stay groups)."""
    if len(columns) == len(counts.columns) - 1:
        return counts
    return counts.group_by(columns).agg(pl.col(COUNT).sum())


def zayatz_population_uniques(sizes: np.ndarray, population_size: int) -> float:
    """Share of records estimated unique in a population of ``population_size``.

    The table is taken as a Bernoulli sample with fraction π = n/N; the sample's class-size
    distribution stands in for the population's (after Zayatz 1991):
    P(F = 1 | f = 1) = n₁ / Σ_i i·(1−π)^(i−1)·n_i, where n_i is the number of classes of size i.
    """
    rows = float(sizes.sum())
    if population_size < rows:
        raise InvalidInput(
            f"the population size ({population_size:,}) is smaller than the table ({int(rows):,})",
            parameter="population_size",
        )
    fraction = rows / population_size
    size_values, class_counts = np.unique(sizes, return_counts=True)
    singles = float(class_counts[size_values == 1].sum())
    if singles == 0:
        return 0.0
    denominator = float((size_values * (1 - fraction) ** (size_values - 1) * class_counts).sum())
    return singles * (singles / denominator) / rows


def _contribution(combos: pl.DataFrame, qis: list[str], classes: int) -> dict[str, float]:
    """Counted on the table of distinct combinations: dropping a column merges its rows."""
    if classes <= 1:
        return {column: 0.0 for column in qis}
    result = {}
    for column in qis:
        rest = [c for c in qis if c != column]
        without = combos.select(pl.struct(rest).n_unique()).item() if rest else 1
        result[column] = round((classes - without) / (classes - 1), 6)
    return result
