"""Privacy risk of a synthetic table: attacks that use only the synthetic rows.

The three criteria of the Article 29 Working Party's Opinion 05/2014 on anonymisation —
singling out, linkability, inference — are each measured as an attack's success on the
real records (the synthesizer's input) against the same attack's success on control
records the synthesizer never saw (the holdout). What the attack achieves on the control
is what anyone gets from the population alone; the excess, (main - control) / (1 - control),
is the risk attributable to the synthetic data (as in Giomi et al. 2023, "A Unified
Framework for Quantifying Privacy Risk in Synthetic Data"; this is an independent
implementation). Rates carry Wilson 95% intervals.

Beside them: distance to closest record against the holdout, the share of exact copies, and
membership inference against the synthesizer (is a record closer to the synthetic rows
when it was among the real ones?). Results hold counts and rates, never a record.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np
import polars as pl
from pydantic import BaseModel, Field
from scipy import stats

from privet.attacks import _synthetic_stats as st
from privet.errors import InvalidInput

# Column sets searched for singling-out predicates (all of them up to this many).
MAX_COLUMN_SETS = 300
# The attacks' settings in synthetic_risk (and their functions' defaults).
PREDICATE_COLUMNS = 3
NEIGHBORS = 1
TOLERANCE = 0.05


class AttackResult(BaseModel):
    """One attack: its success on the real rows and on the control, and the excess risk."""

    attack: str
    attacks: int = Field(description="attempts made on each of the real and control sets")
    success_rate: float
    success_interval: tuple[float, float]
    control_rate: float
    control_interval: tuple[float, float]
    risk: float = Field(description="(success - control) / (1 - control): due to the synthetic")
    risk_interval: tuple[float, float]
    detail: dict[str, float | int | str] = Field(default_factory=dict)


class SyntheticRisk(BaseModel):
    singling_out: AttackResult
    linkability: AttackResult
    inference: list[AttackResult] = Field(description="one per secret column")
    inference_worst: AttackResult
    dcr_closer_to_real: float = Field(
        description="share of synthetic rows closer to a real row than to a holdout row "
        "(ties count half); 0.5 means no sign of copying"
    )
    dcr_interval: tuple[float, float]
    dcr_median_real: float
    dcr_median_holdout: float
    exact_match_real: float = Field(description="share of synthetic rows equal to a real row")
    exact_match_holdout: float = Field(description="… equal to a holdout row (the baseline)")
    exact_match_interval: tuple[float, float]
    membership_auc: float = Field(description="AUC of 'closer to the synthetic rows' for members")
    membership_interval: tuple[float, float]
    membership_advantage: float = Field(description="2·AUC − 1")
    rows_compared: int


def _result(
    name: str,
    hits: np.ndarray,
    control_hits: np.ndarray,
    detail: dict[str, float | int | str] | None = None,
) -> AttackResult:
    n, m = len(hits), len(control_hits)
    main, control = float(hits.mean()) if n else 0.0, float(control_hits.mean()) if m else 0.0
    main_ci, control_ci = st.wilson(hits.sum(), n), st.wilson(control_hits.sum(), m)
    risk, risk_ci = st.excess_risk(main, main_ci, control, control_ci)
    return AttackResult(
        attack=name,
        attacks=n,
        success_rate=main,
        success_interval=main_ci,
        control_rate=control,
        control_interval=control_ci,
        risk=risk,
        risk_interval=risk_ci,
        detail=detail or {},
    )


# -- singling out ----------


def singling_out(
    real: pl.DataFrame,
    synth: pl.DataFrame,
    control: pl.DataFrame,
    *,
    n_attacks: int = 500,
    n_columns: int = PREDICATE_COLUMNS,
    rng: np.random.Generator,
) -> AttackResult:
    """Predicates that isolate one synthetic row: do they isolate one real row?

    A predicate is a conjunction of equalities on ``n_columns`` columns with the values of
    a synthetic row that no other synthetic row shares. Drawing a random row and random
    columns until the predicate is unique (the attacker's search) picks uniformly among
    all such (row, columns) pairs; here they are enumerated per column set and drawn
    uniformly. Success on a set: the predicate matches exactly one of its records.

    REAL and the control are compared at the same size, the smaller one's: a predicate that
    a share p of the population satisfies isolates one of n records with probability
    n·p·(1 − p)^(n − 1), so sets of unequal size succeed at unequal rates even when the
    synthetic rows owe nothing to REAL (either way: a rare predicate isolates more often in
    the larger set, a common one in the smaller). The larger set is not subsampled once but
    averaged exactly over all its subsets of that size (hypergeometric: :func:`_isolates`),
    which removes the sampling noise of one subsample (and is the only unbiased estimate
    from the counts). Real and control are then exchangeable when nothing was copied, so
    the excess risk is centred on 0; a copied record counts only when in the subset, so a
    HOLDOUT smaller than REAL lowers the power (pass one as large as REAL).
    """
    real_e, synth_e, control_e = st.encode([real, synth, control], real)
    return _singling_out(
        real_e, synth_e, control_e, n_attacks=n_attacks, n_columns=n_columns, rng=rng
    )


def _singling_out(
    real_e: st.Encoded,
    synth_e: st.Encoded,
    control_e: st.Encoded,
    *,
    n_attacks: int,
    n_columns: int,
    rng: np.random.Generator,
) -> AttackResult:
    columns = [*real_e.numeric_columns, *real_e.categorical_columns]
    k = min(n_columns, len(columns))
    # Exact values: numbers compared at full precision (scaled), categories by code.
    values = [_exact(e) for e in (real_e, synth_e, control_e)]
    sets = list(itertools.combinations(range(len(columns)), k))
    if len(sets) > MAX_COLUMN_SETS:
        sets = [sets[i] for i in rng.choice(len(sets), MAX_COLUMN_SETS, replace=False)]
    pool = _unique_predicates(values[1], sets)
    picked = [pool[i] for i in rng.choice(len(pool), min(n_attacks, len(pool)), replace=False)]
    size = min(real_e.rows, control_e.rows)
    hits = _isolates(np.array([_matches(values[0], c, w) for c, w in picked]), real_e.rows, size)
    control_hits = _isolates(
        np.array([_matches(values[2], c, w) for c, w in picked]), control_e.rows, size
    )
    return _result(
        "singling out",
        hits,
        control_hits,
        {"columns_per_predicate": k, "unique_predicates": len(pool), "compared_at_rows": size},
    )


def _isolates(matches: np.ndarray, rows: int, size: int) -> np.ndarray:
    """For each predicate matching ``matches`` of ``rows`` records: the probability that a
    uniformly random subset of ``size`` of them holds exactly one match (1 or 0 when
    ``size == rows``). Its mean is the success rate of one random subsample, without the
    subsample's noise; the Wilson interval over these fractions stays conservative (their
    variance is at most a Bernoulli's of the same mean)."""
    if size == rows:
        return (matches == 1).astype(float)
    return np.asarray(stats.hypergeom.pmf(1, rows, matches, size), dtype=float)


def _unique_predicates(
    synth: np.ndarray, sets: Sequence[tuple[int, ...]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(columns, values) of every predicate that exactly one synthetic row satisfies: per
    column set in order, the values in ascending lexicographic order (``np.unique``'s).

    A row's values on a set are packed into one integer of mixed radix (each column's rank
    among its distinct values), which sorts as the rows do: one 1-d sort per set instead of
    a sort of rows.
    """
    distinct = [np.unique(column, return_inverse=True) for column in synth.T]
    pool: list[tuple[np.ndarray, np.ndarray]] = []
    for chosen in map(np.array, sets):
        radix = [len(distinct[j][0]) for j in chosen]
        if math.prod(radix) >= 2**62:  # too many combinations to pack: sort the rows
            unique, counts = np.unique(synth[:, chosen], axis=0, return_counts=True)
            pool.extend((chosen, row) for row in unique[counts == 1])
            continue
        key = np.zeros(len(synth), dtype=np.int64)
        for j, base in zip(chosen, radix, strict=True):
            key = key * base + distinct[j][1].reshape(-1)
        keys, counts = np.unique(key, return_counts=True)
        single = keys[counts == 1]
        parts = []
        for j, base in zip(chosen[::-1], radix[::-1], strict=True):
            parts.append(distinct[j][0][single % base])
            single = single // base
        unique = np.column_stack(parts[::-1]) if parts else np.empty((0, 0))
        pool.extend((chosen, row) for row in unique)
    return pool


def _exact(encoded: st.Encoded) -> np.ndarray:
    # One float matrix: NaN (null) becomes a sentinel that only equals itself.
    numeric = np.where(np.isnan(encoded.numeric), -1e300, encoded.numeric)
    return np.column_stack([numeric, encoded.codes.astype(np.float64)])


def _matches(values: np.ndarray, columns: np.ndarray, wanted: np.ndarray) -> int:
    return int(np.all(values[:, columns] == wanted, axis=1).sum())


# -- linkability ----------


def linkability(
    real: pl.DataFrame,
    synth: pl.DataFrame,
    control: pl.DataFrame,
    *,
    n_attacks: int = 500,
    n_neighbors: int = NEIGHBORS,
    aux: tuple[Sequence[str], Sequence[str]] | None = None,
    rng: np.random.Generator,
) -> AttackResult:
    """Two holders of disjoint columns of one person: can the synthetic rows link them?

    For each target, the nearest synthetic rows on columns A and on columns B are found;
    success if the two sets share a row.
    """
    left, right = _sides(real.columns, aux)
    real_e, synth_e, control_e = st.encode([real, synth, control], real)
    return _linkability(real_e, synth_e, control_e, left, right, n_attacks, n_neighbors, rng)


def _sides(
    columns: Sequence[str], aux: tuple[Sequence[str], Sequence[str]] | None
) -> tuple[list[str], list[str]]:
    if aux is None:
        aux = (columns[0::2], columns[1::2])
    left, right = list(aux[0]), list(aux[1])
    if not left or not right or set(left) & set(right):
        raise InvalidInput("linkability needs two disjoint, non-empty sets of columns")
    return left, right


def _linkability(
    real_e: st.Encoded,
    synth_e: st.Encoded,
    control_e: st.Encoded,
    left: list[str],
    right: list[str],
    n_attacks: int,
    n_neighbors: int,
    rng: np.random.Generator,
) -> AttackResult:
    hits = _link(real_e, synth_e, left, right, n_attacks, n_neighbors, rng)
    control_hits = _link(control_e, synth_e, left, right, n_attacks, n_neighbors, rng)
    return _result("linkability", hits, control_hits, {"neighbors": n_neighbors})


def _link(
    targets: st.Encoded,
    synth: st.Encoded,
    left: list[str],
    right: list[str],
    n: int,
    k: int,
    rng: np.random.Generator,
) -> np.ndarray:
    picked = targets.take(rng.choice(targets.rows, size=min(n, targets.rows), replace=False))
    a, _ = st.nearest(picked.only(left), synth.only(left), rng, k)
    b, _ = st.nearest(picked.only(right), synth.only(right), rng, k)
    # Linked when the two sets of k neighbours share a row.
    return (a[:, :, None] == b[:, None, :]).any(axis=(1, 2)).astype(float)


# -- inference ----------


def inference(
    real: pl.DataFrame,
    synth: pl.DataFrame,
    control: pl.DataFrame,
    *,
    secret: str,
    n_attacks: int = 500,
    tolerance: float = TOLERANCE,
    rng: np.random.Generator,
) -> AttackResult:
    """Knowing every other column of a person, guess ``secret`` from the nearest synthetic row.

    A guessed number counts if within ``tolerance`` of the column's range.
    """
    if secret not in real.columns:
        raise InvalidInput(f"unknown column {secret[:80]!r}: the data has no such column")
    real_e, synth_e, control_e = st.encode([real, synth, control], real)
    return _inference(real_e, synth_e, control_e, secret, n_attacks, tolerance, rng)


def _inference(
    real_e: st.Encoded,
    synth_e: st.Encoded,
    control_e: st.Encoded,
    secret: str,
    n_attacks: int,
    tolerance: float,
    rng: np.random.Generator,
) -> AttackResult:
    hits = _infer(real_e, synth_e, secret, n_attacks, tolerance, rng)
    control_hits = _infer(control_e, synth_e, secret, n_attacks, tolerance, rng)
    return _result(f"inference of {secret}", hits, control_hits, {"secret": secret})


def _infer(
    targets: st.Encoded,
    synth: st.Encoded,
    secret: str,
    n: int,
    tolerance: float,
    rng: np.random.Generator,
) -> np.ndarray:
    picked = targets.take(rng.choice(targets.rows, size=min(n, targets.rows), replace=False))
    index, _ = st.nearest(picked.drop([secret]), synth.drop([secret]), rng, 1)
    truth, guess = picked.column(secret), synth.column(secret)[index[:, 0]]
    if secret in picked.numeric_columns:
        both_null = np.isnan(truth) & np.isnan(guess)
        close = np.abs(truth - guess) <= tolerance
        return (both_null | close).astype(float)
    return (truth == guess).astype(float)


# -- distances and membership ----------


def synthetic_risk(
    real: pl.DataFrame,
    synth: pl.DataFrame,
    holdout: pl.DataFrame,
    *,
    n_attacks: int = 500,
    secrets: Sequence[str] | None = None,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> SyntheticRisk:
    """Every attack on ``synth``, made from ``real``, with ``holdout`` as the control.

    The three tables are encoded once, on one scheme, and every attack works on the codes.
    ``progress`` hears the name of each attack as it starts.
    """
    if real.columns != synth.columns or real.columns != holdout.columns:
        raise InvalidInput("real, synthetic and holdout data must have the same columns")
    if min(real.height, synth.height, holdout.height) == 0:
        raise InvalidInput("real, synthetic and holdout data must each have rows")
    chosen = list(secrets or real.columns)
    for secret in chosen:
        if secret not in real.columns:
            raise InvalidInput(f"unknown column {secret[:80]!r}: the data has no such column")
    left, right = _sides(real.columns, None)
    step = progress or (lambda _stage: None)
    rng = np.random.default_rng(seed)
    # One encoding shared by every attack below.
    codes = st.encode([real, synth, holdout], real)
    encoded = (codes[0], codes[1], codes[2])
    step("singling out")
    single = _singling_out(*encoded, n_attacks=n_attacks, n_columns=PREDICATE_COLUMNS, rng=rng)
    step("linkability")
    link = _linkability(*encoded, left, right, n_attacks, NEIGHBORS, rng)
    inferred = []
    for i, secret in enumerate(chosen, 1):
        step(f"inference of {secret} ({i}/{len(chosen)})")
        inferred.append(_inference(*encoded, secret, n_attacks, TOLERANCE, rng))
    worst = max(inferred, key=lambda r: r.risk)
    step("distances to closest records")

    # Equal-size samples of real and holdout, so "closer to real" is 0.5 by chance alone.
    size = min(real.height, holdout.height, 20_000)
    real_s = real.sample(size, seed=int(rng.integers(2**31)))
    hold_s = holdout.sample(size, seed=int(rng.integers(2**31)))
    synth_s = synth.sample(min(synth.height, n_attacks), seed=int(rng.integers(2**31)))
    real_e, hold_e, synth_e, synth_all = st.encode([real_s, hold_s, synth_s, synth], real)
    _, d_real = st.nearest(synth_e, real_e, rng)
    _, d_hold = st.nearest(synth_e, hold_e, rng)
    d_real, d_hold = d_real[:, 0], d_hold[:, 0]
    closer = (d_real < d_hold) + 0.5 * (d_real == d_hold)
    exact_real, exact_hold = float((d_real == 0).mean()), float((d_hold == 0).mean())

    step("membership inference")
    members = real_e.take(np.arange(min(n_attacks, real_e.rows)))
    others = hold_e.take(np.arange(min(n_attacks, hold_e.rows)))
    _, d_members = st.nearest(members, synth_all, rng)
    _, d_others = st.nearest(others, synth_all, rng)
    value, interval = st.auc(-d_members[:, 0], -d_others[:, 0])
    return SyntheticRisk(
        singling_out=single,
        linkability=link,
        inference=inferred,
        inference_worst=worst,
        dcr_closer_to_real=float(closer.mean()),
        dcr_interval=st.wilson(float(closer.sum()), len(closer)),
        dcr_median_real=float(np.median(d_real)),
        dcr_median_holdout=float(np.median(d_hold)),
        exact_match_real=exact_real,
        exact_match_holdout=exact_hold,
        exact_match_interval=st.wilson(float((d_real == 0).sum()), len(d_real)),
        membership_auc=value,
        membership_interval=interval,
        membership_advantage=2 * value - 1,
        rows_compared=size,
    )
