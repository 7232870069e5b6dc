"""Globally optimal full-domain generalization with record suppression.

The search space is the lattice of generalization levels, one level per quasi-identifier
(Samarati 2001; Flash, Kohlmayer et al. 2012; OLA, El Emam et al. 2009). A node is *feasible*
when, after suppressing (removing) the records of the equivalence classes that break the
privacy model, at most the suppression budget was removed.

Exactness rests on two facts, both checked in the tests against exhaustive search:

- the k and ℓ part of the check is monotone: if a node breaks it, so does every node below it
  (finer classes only get smaller and less diverse), so a failure prunes its predecessors;
- every loss metric has a lower bound that ignores suppression, is computed per attribute
  without grouping, and never decreases upward. Nodes are visited in order of that bound; once
  the bound reaches the best loss found, no unvisited node can do better, and the search stops.

Everything runs on integer codes with NumPy: the table is first collapsed to its distinct
(quasi-identifier, sensitive value) combinations with counts, and a node is evaluated by
mapping codes through per-level lookup arrays and grouping once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from privet.deid._hierarchy import Hierarchy
from privet.deid._measure import dense, distinct_per_class, pair_table, t_per_class
from privet.errors import InvalidInput

METRICS = ("loss", "entropy", "discernibility")
MAX_NODES = 2_000_000
_EPS = 1e-12


@dataclass(frozen=True)
class Target:
    """What a feasible node must give: k, optionally ℓ and t, within a suppression budget."""

    k: int = 1
    l: int | None = None  # noqa: E741 - the model's name
    t: float | None = None
    max_suppression: float = 0.0
    metric: str = "loss"


@dataclass
class Dimension:
    """One quasi-identifier: codes of its values and, per level, the label of each code."""

    hierarchy: Hierarchy
    codes: np.ndarray  # per row: code of the original value (nulls: the last code)
    maps: list[np.ndarray]  # per level: original code -> label code
    cards: list[int]  # per level: number of labels
    share: list[np.ndarray]  # per level, per original code: (m - 1) / (D - 1)
    entropy: list[np.ndarray]  # per level, per original code: -log2 P(value | label)
    mean_share: np.ndarray = field(default_factory=lambda: np.zeros(0))
    total_entropy: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def column(self) -> str:
        return self.hierarchy.column

    @property
    def height(self) -> int:
        return self.hierarchy.height


def encode(values: pl.Series) -> tuple[np.ndarray, pl.Series, bool]:
    """Dense codes in the sort order of the values; a null gets the code after the last."""
    unique = values.drop_nulls().unique().sort()
    ranks = values.rank("dense")
    has_null = values.null_count() > 0
    codes = (ranks.fill_null(len(unique) + 1) - 1).to_numpy().astype(np.int64)
    return codes, unique, has_null


def dimension(
    frame: pl.DataFrame, hierarchy: Hierarchy, weight: np.ndarray | None = None
) -> Dimension:
    """One quasi-identifier of ``frame``, whose rows count ``weight`` times each (default 1)."""
    column = hierarchy.column
    codes, unique, has_null = encode(frame.get_column(column))
    domain = pl.DataFrame({column: unique})
    if has_null:
        domain = pl.concat([domain, pl.DataFrame({column: [None]}, schema=domain.schema)])
    size = domain.height
    counts = np.bincount(codes, weights=weight, minlength=size).astype(np.float64)
    maps, cards, share, entropy = [], [], [], []
    for level in range(hierarchy.height + 1):
        labels = domain.with_columns(hierarchy.expr(level).alias("label")).get_column("label")
        label_codes, _, _ = encode(labels)
        label_codes = np.unique(label_codes, return_inverse=True)[1]
        maps.append(label_codes)
        cards.append(int(label_codes.max()) + 1)
        members = np.bincount(label_codes)
        share.append((members[label_codes] - 1) / (size - 1) if size > 1 else np.zeros(size))
        label_count = np.bincount(label_codes, weights=counts)
        with np.errstate(divide="ignore"):
            entropy.append(np.where(counts > 0, np.log2(label_count[label_codes] / counts), 0.0))
    for level in range(1, hierarchy.height):
        pairs = np.unique(maps[level] * cards[level + 1] + maps[level + 1])
        if len(pairs) != cards[level]:
            raise InvalidInput(
                f"the hierarchy of {column!r} is not a tree: a label of level {level} falls into "
                f"more than one group of level {level + 1} (interval widths must nest)"
            )
    dim = Dimension(hierarchy, codes, maps, cards, share, entropy)
    rows = max(float(counts.sum()), 1.0)
    dim.mean_share = np.array([counts @ s / rows for s in share])
    dim.total_entropy = np.array([counts @ e for e in entropy])
    return dim


@dataclass
class Assessment:
    """A node's evaluation: which base rows survive, how many records go, and the loss."""

    node: tuple[int, ...]
    monotone_ok: bool
    feasible: bool
    suppressed: int
    loss: float
    kept: np.ndarray | None = None  # per base row


@dataclass
class SearchResult:
    levels: dict[str, int]
    loss: float
    metric: str
    suppressed: int
    lattice_size: int
    evaluated: int
    seconds: float


class Lattice:
    """The generalization lattice of ``qis`` over ``frame``, searched for ``target``.

    With ``weight``, ``frame`` is a table of group counts (an engine's ``Rows.counts`` of the
    quasi-identifiers and sensitive columns) and that column holds each row's count: the
    search needs nothing else, so it runs the same whichever engine counted.
    """

    def __init__(
        self,
        frame: pl.DataFrame,
        hierarchies: Sequence[Hierarchy],
        sensitive: Sequence[str],
        target: Target,
        *,
        weight: str | None = None,
    ) -> None:
        if target.metric not in METRICS:
            raise InvalidInput(f"unknown loss metric {target.metric!r}: use {', '.join(METRICS)}")
        self.target = target
        counts = None if weight is None else frame.get_column(weight).to_numpy().astype(np.float64)
        self.rows = frame.height if counts is None else int(round(counts.sum()))
        self.counts = counts
        self.frame_rows = frame.height
        self.dims = [dimension(frame, h, counts) for h in hierarchies]
        self.budget = math.floor(target.max_suppression * self.rows + 1e-9)
        self.shape = tuple(d.height + 1 for d in self.dims)
        self.size = math.prod(self.shape)
        if self.size > MAX_NODES:
            raise InvalidInput(
                f"the generalization lattice has {self.size:,} nodes (more than {MAX_NODES:,}); "
                "use fewer quasi-identifiers or hierarchies with fewer levels"
            )
        # Sensitive values: codes in sort order, and whether the ordered distance applies.
        self.sensitive: list[tuple[np.ndarray, int, bool]] = []
        columns = {f"q{i}": d.codes for i, d in enumerate(self.dims)}
        for j, name in enumerate(sensitive):
            values = frame.get_column(name)
            codes, unique, has_null = encode(values)
            ordered = (values.dtype.is_numeric() and values.dtype != pl.Boolean) or (
                values.dtype.is_temporal()
            )
            self.sensitive.append((codes, len(unique) + int(has_null), ordered))
            columns[f"s{j}"] = codes
        keys = pl.DataFrame(columns)
        if counts is None:
            base = keys.group_by(list(columns)).len()
        else:
            base = keys.with_columns(len=counts).group_by(list(columns)).agg(pl.col("len").sum())
        self.base_q = (
            np.stack([base.get_column(f"q{i}").to_numpy() for i in range(len(self.dims))], axis=1)
            if self.dims
            else np.zeros((base.height, 0), dtype=np.int64)
        )
        self.base_s = [base.get_column(f"s{j}").to_numpy() for j in range(len(sensitive))]
        self.weight = base.get_column("len").to_numpy().astype(np.float64)
        self.evaluated = 0
        self._cached_columns: list[np.ndarray] | None = None
        self._cached_for: np.ndarray | None = None

    # -- evaluating one node ------------------------------------------------------------

    @property
    def _columns(self) -> list[np.ndarray]:
        """The base table's quasi-identifier codes, one contiguous array per column."""
        columns = self._cached_columns
        if columns is None or self._cached_for is not self.base_q:
            columns = self._cached_columns = [np.ascontiguousarray(c) for c in self.base_q.T]
            self._cached_for = self.base_q
        return columns

    def classes(self, node: Sequence[int]) -> tuple[np.ndarray, int]:
        """The equivalence class of each base row at ``node``, and the number of classes."""
        key = np.zeros(len(self.weight), dtype=np.int64)
        span = 1
        for i, (dim, level) in enumerate(zip(self.dims, node, strict=True)):
            card = dim.cards[level]
            if span * card >= 2**62:  # re-number densely before the key could overflow
                key, span = dense(key, span)
            key = key * card + dim.maps[level][self._columns[i]]
            span *= card
        return dense(key, span)

    def assess(self, node: Sequence[int], *, keep_rows: bool = False) -> Assessment:
        self.evaluated += 1
        node = tuple(int(v) for v in node)
        target = self.target
        cls, n_classes = self.classes(node)
        size = np.bincount(cls, weights=self.weight, minlength=n_classes)
        failing = size < target.k
        if target.l is not None:
            for codes, (_, n_values, _) in zip(self.base_s, self.sensitive, strict=True):
                pc, _, _ = pair_table(cls, codes, self.weight, n_values)
                failing |= distinct_per_class(pc, n_classes) < target.l
        suppressed = int(round(size[failing].sum()))
        monotone_ok = suppressed <= self.budget
        if monotone_ok and target.t is not None:
            failing, suppressed = self._closeness(cls, n_classes, size, failing)
        feasible = suppressed <= self.budget and suppressed < self.rows
        kept = ~failing[cls]
        loss = self._loss(node, kept, size, failing) if feasible else math.inf
        return Assessment(
            node, monotone_ok, feasible, suppressed, loss, kept if keep_rows else None
        )

    def _closeness(
        self, cls: np.ndarray, n_classes: int, size: np.ndarray, failing: np.ndarray
    ) -> tuple[np.ndarray, int]:
        """Suppress classes too far from the table until the rest is t-close to *itself*.

        The reference distribution is that of the released rows (what a checker of the
        output computes), so it is recomputed after each round of suppression.
        """
        failing = failing.copy()
        assert self.target.t is not None
        for _ in range(64):
            row_weight = np.where(failing[cls], 0.0, self.weight)
            worst = np.zeros(n_classes)
            for codes, (_, n_values, ordered) in zip(self.base_s, self.sensitive, strict=True):
                pc, ps, count = pair_table(cls, codes, row_weight, n_values)
                worst = np.maximum(worst, t_per_class(pc, ps, count, n_classes, ordered=ordered))
            newly = (worst > self.target.t + _EPS) & ~failing
            if not newly.any():
                break
            failing |= newly
            if size[failing].sum() > self.budget:
                break
        return failing, int(round(size[failing].sum()))

    def _loss(
        self, node: tuple[int, ...], kept: np.ndarray, size: np.ndarray, failing: np.ndarray
    ) -> float:
        """The metric at ``node``: its no-suppression value (precomputed per attribute) plus
        the extra cost of the suppressed rows, which are few, so only they are visited."""
        metric, w, d = self.target.metric, self.weight, max(len(self.dims), 1)
        if metric == "discernibility":
            return float((size[~failing] ** 2).sum() + size[failing].sum() * self.rows)
        gone = np.flatnonzero(~kept)
        if metric == "loss":
            total = sum(dim.mean_share[v] for dim, v in zip(self.dims, node, strict=True))
            total *= self.rows
            extra = 0.0
            for dim, level, column in zip(self.dims, node, self._columns, strict=True):
                extra += (1.0 - dim.share[level][column[gone]]) @ w[gone]
            return float((total + extra) / (self.rows * d))
        total = sum(dim.total_entropy[v] for dim, v in zip(self.dims, node, strict=True))
        top = sum(dim.total_entropy[dim.height] for dim in self.dims)
        for dim, level, column in zip(self.dims, node, self._columns, strict=True):
            codes = column[gone]
            total += (dim.entropy[dim.height][codes] - dim.entropy[level][codes]) @ w[gone]
        return float(total / top) if top > 0 else 0.0

    def lower_bounds(self, nodes: np.ndarray) -> np.ndarray:
        """A bound on each node's loss that ignores suppression and never decreases upward."""
        metric = self.target.metric
        if not self.dims:
            return np.zeros(len(nodes))
        if metric == "loss":
            parts = [dim.mean_share[nodes[:, i]] for i, dim in enumerate(self.dims)]
            return np.sum(parts, axis=0) / len(self.dims)
        if metric == "entropy":
            top = sum(dim.total_entropy[dim.height] for dim in self.dims)
            parts = [dim.total_entropy[nodes[:, i]] for i, dim in enumerate(self.dims)]
            return np.sum(parts, axis=0) / top if top > 0 else np.zeros(len(nodes))
        # Discernibility: Σ|E|² ≥ N²/J (Cauchy–Schwarz), J ≤ the number of label combinations.
        combos = np.ones(len(nodes))
        for i, dim in enumerate(self.dims):
            combos *= np.asarray(dim.cards, dtype=np.float64)[nodes[:, i]]
        return self.rows**2 / np.minimum(combos, self.rows)

    # -- the search -----------------------------------------------------------------------

    def nodes(self) -> np.ndarray:
        return np.indices(self.shape).reshape(len(self.shape), -1).T.astype(np.int16)

    def search(
        self, progress: Callable[[str], None] | None = None
    ) -> tuple[SearchResult, Assessment]:
        started = time.perf_counter()
        nodes = self.nodes()
        bound = self.lower_bounds(nodes)
        height = nodes.sum(axis=1)
        order = np.lexsort((*nodes.T[::-1], height, bound))
        self._failed = np.zeros((0, len(self.shape)), dtype=np.int16)
        self._passed = np.zeros((0, len(self.shape)), dtype=np.int16)
        self._cache: dict[tuple[int, ...], Assessment] = {}
        best: Assessment | None = None
        for step, index in enumerate(order):
            if best is not None and bound[index] >= best.loss - _EPS:
                break  # every node left has a loss at least its bound: none can do better
            node = nodes[index]
            state = self._known(node)
            if state is None:
                state = self._probe(node)
            if not state:
                continue
            if progress is not None and step % 200 == 0:
                progress(f"searching the lattice ({step:,} of {self.size:,} nodes)")
            result = self._evaluate(node)
            if result.feasible and (best is None or result.loss < best.loss - _EPS):
                best = result
        if best is None:
            raise InvalidInput(
                "no generalization meets the privacy model within the suppression budget; "
                "raise max_suppression, lower k or ℓ, or raise t",
                parameter="max_suppression",
            )
        found = SearchResult(
            levels={d.column: int(v) for d, v in zip(self.dims, best.node, strict=True)},
            loss=best.loss,
            metric=self.target.metric,
            suppressed=best.suppressed,
            lattice_size=self.size,
            evaluated=self.evaluated,
            seconds=time.perf_counter() - started,
        )
        return found, best

    def _evaluate(self, node: np.ndarray) -> Assessment:
        key = tuple(int(v) for v in node)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self.assess(key)
            row = np.asarray(key, dtype=np.int16)[None, :]
            if cached.monotone_ok:
                self._passed = np.vstack([self._passed, row])
            else:
                self._failed = np.vstack([self._failed, row])
        return cached

    def _known(self, node: np.ndarray) -> bool | None:
        """The k/ℓ verdict implied by monotonicity, if any: None when it must be computed."""
        if len(self._failed) and np.any(np.all(node <= self._failed, axis=1)):
            return False
        if len(self._passed) and np.any(np.all(node >= self._passed, axis=1)):
            return True
        return None

    def _probe(self, node: np.ndarray) -> bool:
        """Binary search up a chain from ``node`` to the top (as Flash does): every check
        settles a whole cone of the lattice, so most low, costly nodes are never grouped."""
        chain = [node]
        top = np.asarray(self.shape, dtype=np.int16) - 1
        current = node.copy()
        while np.any(current < top):
            room = np.where(current < top, current / np.maximum(top, 1), np.inf)
            current = current.copy()
            current[int(np.argmin(room))] += 1
            chain.append(current)
        low, high = 0, len(chain) - 1
        while low < high:
            middle = (low + high) // 2
            state = self._known(chain[middle])
            if state is None:
                state = self._evaluate(chain[middle]).monotone_ok
            if state:
                high = middle
            else:
                low = middle + 1
        state = self._known(chain[low])
        if state is None:
            state = self._evaluate(chain[low]).monotone_ok
        return low == 0 and state

    def rows_kept(self, node: Sequence[int]) -> np.ndarray:
        """Per row of the frame given: whether it survives suppression at ``node``.

        The node is re-evaluated on the rows themselves (weighted by their counts, if any)
        rather than on the collapsed table, so the answer needs no mapping back.
        """
        saved = (self.base_q, self.base_s, self.weight)
        self.base_q = (
            np.column_stack([d.codes for d in self.dims])
            if self.dims
            else np.zeros((self.frame_rows, 0), dtype=np.int64)
        )
        self.base_s = [codes for codes, _, _ in self.sensitive]
        self.weight = np.ones(len(self.base_q)) if self.counts is None else self.counts
        try:
            assessment = self.assess(node, keep_rows=True)
        finally:
            self.base_q, self.base_s, self.weight = saved
        assert assessment.kept is not None
        return assessment.kept
