"""Shared pieces of the synthetic-data attacks: mixed-type distances and intervals.

Records are compared with a Gower-style distance (Gower 1971): per column, 0/1 for a
category mismatch and |x - y| / range for a number (range from the real data, capped at 1);
a null matches only a null. The mean over columns is in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

Z95 = 1.959963984540054


def wilson(successes: float, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial rate (Wilson 1927); (0, 1) for no trials."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def excess_risk(
    main: float, main_ci: tuple[float, float], control: float, control_ci: tuple[float, float]
) -> tuple[float, tuple[float, float]]:
    """Risk attributable to the synthetic data: (main - control) / (1 - control).

    The interval combines the ends of the two rates' intervals (conservative both ways).
    """

    def ratio(a: float, c: float) -> float:
        return 1.0 if c >= 1.0 else (a - c) / (1.0 - c)

    risk = ratio(main, control)
    low = ratio(main_ci[0], control_ci[1])
    high = ratio(main_ci[1], control_ci[0])
    clip = lambda v: min(1.0, max(-1.0, v))  # noqa: E731
    return clip(risk), (clip(low), clip(high))


@dataclass
class Encoded:
    """Frames encoded on one shared scheme: numbers scaled, categories as integer codes."""

    numeric: np.ndarray  # (n, p) float, NaN for null
    codes: np.ndarray  # (n, q) int64, -1 for null
    numeric_columns: list[str]
    categorical_columns: list[str]

    @property
    def rows(self) -> int:
        return max(len(self.numeric), len(self.codes))

    def take(self, index: np.ndarray) -> Encoded:
        return Encoded(
            self.numeric[index], self.codes[index], self.numeric_columns, self.categorical_columns
        )

    def drop(self, columns: Sequence[str]) -> Encoded:
        keep_n = [i for i, c in enumerate(self.numeric_columns) if c not in columns]
        keep_c = [i for i, c in enumerate(self.categorical_columns) if c not in columns]
        return Encoded(
            self.numeric[:, keep_n],
            self.codes[:, keep_c],
            [self.numeric_columns[i] for i in keep_n],
            [self.categorical_columns[i] for i in keep_c],
        )

    def only(self, columns: Sequence[str]) -> Encoded:
        return self.drop(
            [c for c in [*self.numeric_columns, *self.categorical_columns] if c not in columns]
        )

    def column(self, name: str) -> np.ndarray:
        if name in self.numeric_columns:
            return self.numeric[:, self.numeric_columns.index(name)]
        return self.codes[:, self.categorical_columns.index(name)]


def is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() and dtype != pl.Boolean


def encode(frames: Sequence[pl.DataFrame], reference: pl.DataFrame) -> list[Encoded]:
    """Encode ``frames`` (same columns as ``reference``) with ranges and codes shared by all."""
    numeric = [c for c, t in reference.schema.items() if is_numeric(t)]
    categorical = [c for c in reference.columns if c not in numeric]
    ranges = {}
    for c in numeric:
        values = reference[c].cast(pl.Float64).drop_nulls()
        low = float(values.min()) if len(values) else 0.0  # type: ignore[arg-type]
        high = float(values.max()) if len(values) else 1.0  # type: ignore[arg-type]
        ranges[c] = (low, max(high - low, 1e-12))
    lookups: dict[str, dict[str, int]] = {}
    for c in categorical:
        seen: dict[str, int] = {}
        for frame in frames:
            for value in frame[c].cast(pl.String).drop_nulls().unique().sort().to_list():
                seen.setdefault(value, len(seen))
        lookups[c] = seen
    out = []
    for frame in frames:
        num = (
            np.column_stack(
                [
                    ((frame[c].cast(pl.Float64).to_numpy() - ranges[c][0]) / ranges[c][1])
                    for c in numeric
                ]
            )
            if numeric
            else np.zeros((frame.height, 0))
        )
        codes = (
            np.column_stack(
                [
                    frame[c]
                    .cast(pl.String)
                    .replace_strict(lookups[c], default=-1, return_dtype=pl.Int64)
                    .fill_null(-1)
                    .to_numpy()
                    for c in categorical
                ]
            )
            if categorical
            else np.zeros((frame.height, 0), dtype=np.int64)
        )
        out.append(Encoded(num.astype(np.float64), codes.astype(np.int64), numeric, categorical))
    return out


def distances(targets: Encoded, candidates: Encoded) -> np.ndarray:
    """Gower distances, shape (len(targets), len(candidates))."""
    return _total(targets, candidates) / max(_width(targets), 1)


def _width(encoded: Encoded) -> int:
    return encoded.numeric.shape[1] + encoded.codes.shape[1]


def _total(targets: Encoded, candidates: Encoded) -> np.ndarray:
    """The sum over columns of the per-column distances (before dividing by the width).

    Numbers first, column by column as in the definition; then the category mismatches,
    counted in one small-integer matrix and added at once: the count is exact, so a table
    of categories gets bit for bit the sum of its 0/1 terms (with numbers too, the sum can
    differ from term-by-term addition in its last bit, far below the tie-breaking jitter).
    """
    total = np.zeros((targets.rows, candidates.rows), dtype=np.float64)
    for j in range(targets.numeric.shape[1]):
        a = targets.numeric[:, j][:, None]
        b = candidates.numeric[:, j][None, :]
        d = np.minimum(np.abs(a - b), 1.0)
        nan_a, nan_b = np.isnan(a), np.isnan(b)
        d = np.where(nan_a & nan_b, 0.0, np.where(nan_a | nan_b, 1.0, d))
        total += d
    q = targets.codes.shape[1]
    if q:
        count = np.zeros(total.shape, dtype=np.uint8 if q < 256 else np.uint32)
        differ = np.empty(total.shape, dtype=bool)
        for j in range(q):
            np.not_equal(targets.codes[:, j][:, None], candidates.codes[:, j][None, :], out=differ)
            np.add(count, differ, out=count, casting="unsafe")
        total += count
    return total


def chunks(rows: int, size: int = 256) -> Iterator[slice]:
    for start in range(0, rows, size):
        yield slice(start, min(rows, start + size))


# Cells of one block of the distance matrix: bounds the memory of a search (~32 MB a matrix).
BLOCK_CELLS = 1 << 22


def nearest(
    targets: Encoded,
    candidates: Encoded,
    rng: np.random.Generator,
    k: int = 1,
    *,
    block_cells: int = BLOCK_CELLS,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (n, k) of the k nearest candidates (ties broken at random) and the distances.

    Random tie-breaking: a jitter below the smallest possible distance step, one uniform
    draw per (target, candidate) pair in row-major order. A block of targets is searched at
    once, and only the k smallest are selected (not a full sort); the draws do not depend on
    the block size, so a seed gives the neighbours of the pair-by-pair definition.
    """
    index = np.empty((targets.rows, k), dtype=np.int64)
    dist = np.empty((targets.rows, k), dtype=np.float64)
    width = max(_width(targets), 1)
    block = max(1, block_cells // max(candidates.rows, 1))
    for part in chunks(targets.rows, block):
        d = _total(targets.take(np.arange(targets.rows)[part]), candidates)
        d /= width
        keyed = rng.random(d.shape)
        keyed *= 1e-9
        keyed += d
        if k == 1:
            order = keyed.argmin(axis=1)[:, None]
        else:
            top = np.argpartition(keyed, k - 1, axis=1)[:, :k]
            ranked = np.argsort(np.take_along_axis(keyed, top, axis=1), axis=1)
            order = np.take_along_axis(top, ranked, axis=1)
        index[part] = order
        dist[part] = np.take_along_axis(d, order, axis=1)
    return index, dist


def auc(members: np.ndarray, others: np.ndarray) -> tuple[float, tuple[float, float]]:
    """ROC AUC of scores (higher: member) by ranks, with the Hanley–McNeil (1982) interval."""
    m, n = len(members), len(others)
    if m == 0 or n == 0:
        return 0.5, (0.0, 1.0)
    scores = np.concatenate([members, others])
    ranks = _average_ranks(scores)
    value = (ranks[:m].sum() - m * (m + 1) / 2) / (m * n)
    q1, q2 = value / (2 - value), 2 * value * value / (1 + value)
    variance = (
        value * (1 - value) + (m - 1) * (q1 - value * value) + (n - 1) * (q2 - value * value)
    ) / (m * n)
    half = Z95 * math.sqrt(max(variance, 0.0))
    return float(value), (max(0.0, value - half), min(1.0, value + half))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    start = 0
    for end in range(1, len(values) + 1):
        if end == len(values) or sorted_values[end] != sorted_values[start]:
            ranks[order[start:end]] = (start + end + 1) / 2
            start = end
    return ranks
