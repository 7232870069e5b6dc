"""Vectorized cores shared by the risk report and the search: ℓ and t per equivalence class.

Both take *pairs*: one entry per (class, sensitive value) present, with its record count.
The definitions are the usual ones, as pycanon also implements them:

- distinct ℓ-diversity: the number of distinct sensitive values in a class (Machanavajjhala
  et al. 2007);
- t-closeness (Li, Li and Venkatasubramanian 2007): the Earth Mover's Distance between a
  class's distribution of the sensitive value and the whole table's, with the *ordered*
  distance for numbers and dates, ``1/(m-1) Σ_i |Σ_{j≤i} (q_j − p_j)|``, and the *equal*
  distance for categories, ``½ Σ_i |q_i − p_i|``; m is the number of distinct values.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def pair_table(
    cls: np.ndarray, sa: np.ndarray, weight: np.ndarray, n_sa: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Aggregate rows into (class, value, count) pairs, sorted by class then value."""
    key = cls.astype(np.int64) * n_sa + sa.astype(np.int64)
    span = (int(cls.max()) + 1) * n_sa if len(cls) else 0
    if span <= max(4 * len(key), 1 << 16):  # small key space: count instead of sorting
        counts = np.bincount(key, weights=weight, minlength=span)
        unique = np.flatnonzero(np.bincount(key, minlength=span))
        return unique // n_sa, unique % n_sa, counts[unique]
    unique, inverse = np.unique(key, return_inverse=True)
    counts = np.bincount(inverse, weights=weight, minlength=len(unique))
    return unique // n_sa, unique % n_sa, counts


def distinct_per_class(pair_cls: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(pair_cls, minlength=n_classes)


def t_per_class(
    pair_cls: np.ndarray,
    pair_sa: np.ndarray,
    pair_count: np.ndarray,
    n_classes: int,
    *,
    ordered: bool,
) -> np.ndarray:
    """EMD of each class to the distribution of all the rows given (classes with no rows: 0).

    ``pair_sa`` must number the sensitive values in their sort order when ``ordered``.
    """
    present = pair_count > 0
    pair_cls, pair_sa, pair_count = pair_cls[present], pair_sa[present], pair_count[present]
    # Only the values present in these rows count, as in a table holding just these rows.
    values, position = np.unique(pair_sa, return_inverse=True)
    m = len(values)
    result = np.zeros(n_classes)
    if m <= 1 or len(pair_cls) == 0:
        return result
    total = pair_count.sum()
    p = np.bincount(position, weights=pair_count, minlength=m) / total
    class_size = np.bincount(pair_cls, weights=pair_count, minlength=n_classes)
    q = pair_count / class_size[pair_cls]
    if not ordered:
        present_p = np.bincount(pair_cls, weights=p[position], minlength=n_classes)
        gap = np.bincount(pair_cls, weights=np.abs(q - p[position]), minlength=n_classes)
        result = 0.5 * (gap + (1.0 - present_p))
        result[class_size == 0] = 0.0
        return np.clip(result, 0.0, 1.0)
    # Ordered EMD. Q (the class's cumulative distribution) is a step function that changes
    # only at the class's own values, so each run of positions with a constant Q is summed in
    # closed form against P (the table's cumulative distribution, non-decreasing) with prefix
    # sums and a binary search: O(pairs · log m) instead of O(classes · m).
    cum_p = np.cumsum(p)
    prefix = np.concatenate(([0.0], np.cumsum(cum_p)))
    order = np.lexsort((position, pair_cls))
    cls_sorted, pos_sorted, q_sorted = pair_cls[order], position[order], q[order]
    first = np.ones(len(cls_sorted), dtype=bool)
    first[1:] = cls_sorted[1:] != cls_sorted[:-1]
    last = np.ones(len(cls_sorted), dtype=bool)
    last[:-1] = cls_sorted[1:] != cls_sorted[:-1]
    # Cumulative q within each class.
    cum_q = np.cumsum(q_sorted)
    cum_q -= _segment_base(cum_q, q_sorted, first)
    start = pos_sorted
    stop = np.empty_like(pos_sorted)
    stop[:-1] = pos_sorted[1:]
    stop[last] = m
    run = _abs_sum(cum_q, start, stop, cum_p, prefix)
    # Positions before a class's first value: Q = 0 there, so |Q − P| = P.
    lead = prefix[pos_sorted[first]] - prefix[0]
    totals = np.bincount(cls_sorted, weights=run, minlength=n_classes)
    totals[cls_sorted[first]] += lead
    return totals / (m - 1)


def _segment_base(cum: np.ndarray, step: np.ndarray, first: np.ndarray) -> np.ndarray:
    """For a running sum over concatenated segments, the amount to subtract to restart it."""
    base = np.where(first, cum - step, 0.0)
    index = np.where(first, np.arange(len(cum)), 0)
    np.maximum.accumulate(index, out=index)
    return base[index]


def _abs_sum(
    c: np.ndarray, a: np.ndarray, b: np.ndarray, cum_p: np.ndarray, prefix: np.ndarray
) -> np.ndarray:
    """Σ_{i=a}^{b-1} |c − P_i| for each (c, a, b), P non-decreasing, prefix[j] = Σ_{i<j} P_i."""
    split = np.clip(np.searchsorted(cum_p, c, side="right"), a, b)
    below = c * (split - a) - (prefix[split] - prefix[a])
    above = (prefix[b] - prefix[split]) - c * (b - split)
    return below + above


def codes(values: pl.Series) -> tuple[np.ndarray, int]:
    """An exact integer code per value (equal values, equal codes; null its own), and the
    number of codes. Hash-free: categorical dictionaries for text, offsets for integers."""
    dtype = values.dtype
    if dtype == pl.String or dtype == pl.Boolean or isinstance(dtype, pl.Categorical | pl.Enum):
        physical = values.cast(pl.String).cast(pl.Categorical).to_physical()
        top = (int_max(physical) or 0) + 1 if physical.len() else 1
        return physical.fill_null(top).to_numpy().astype(np.int64), top + 1
    if dtype.is_integer():
        low, high = int_min(values), int_max(values)
        if low is not None and high is not None and high - low < 4 * values.len() + (1 << 16):
            offset = (values.cast(pl.Int64) - low).fill_null(high - low + 1)
            return offset.to_numpy().astype(np.int64), high - low + 2
    ranks = values.rank("dense")
    distinct = int_max(ranks) or 0
    return (ranks.fill_null(distinct + 1) - 1).to_numpy().astype(np.int64), distinct + 1


def int_min(series: pl.Series) -> int | None:
    """The smallest value of an integer series (None when it has no values)."""
    return _integer(series.min())


def int_max(series: pl.Series) -> int | None:
    """The largest value of an integer series (None when it has no values)."""
    return _integer(series.max())


def _integer(value: object) -> int | None:
    # Polars types Series.min()/max() as any Python literal; for integer series it is an int.
    if value is None or isinstance(value, int):
        return value
    raise TypeError(f"expected an integer, not {type(value).__name__}")


def joint_key(columns: list[tuple[np.ndarray, int]], rows: int) -> tuple[np.ndarray, int]:
    """One int64 per row identifying its combination of coded columns, and the key span."""
    key = np.zeros(rows, dtype=np.int64)
    span = 1
    for column, card in columns:
        if span * card >= 2**62:  # re-number densely before the key could overflow
            key, span = dense(key, span)
        key = key * card + column
        span *= card
    return key, span


def combine(columns: list[tuple[np.ndarray, int]], rows: int) -> tuple[np.ndarray, int]:
    """Dense ids 0…n−1 of the combinations of several coded columns, and n."""
    return dense(*joint_key(columns, rows))


def count_combinations(columns: list[tuple[np.ndarray, int]], rows: int) -> int:
    """How many distinct combinations of several coded columns occur."""
    key, span = joint_key(columns, rows)
    if span <= max(4 * rows, 1 << 16):
        return int(np.count_nonzero(np.bincount(key, minlength=span)))
    return pl.Series(key).n_unique()  # hash-based, multi-threaded: no sort needed


def dense(key: np.ndarray, span: int) -> tuple[np.ndarray, int]:
    """Renumber keys 0…n−1 (in key order): by counting when the key space is small, else sort."""
    if span <= max(4 * len(key), 1 << 16):
        present = np.bincount(key, minlength=span) > 0
        number = np.cumsum(present) - 1
        return number[key], int(present.sum())
    if len(key) > 200_000:  # Polars' parallel sort beats NumPy's on large arrays
        ranks = pl.Series(key).rank("dense").to_numpy().astype(np.int64) - 1
        return ranks, int(ranks.max()) + 1 if len(ranks) else 0
    unique, inverse = np.unique(key, return_inverse=True)
    return inverse, len(unique)
