"""The optimal search against exhaustive search by a deliberately naive reference.

The reference below shares no code with privet.deid: it generalizes with plain Python
functions, groups with dicts, and computes suppression, ℓ, t and the three loss metrics
from their textbook definitions. On small lattices it scores every node, and privet's answer
must be feasible there and no worse than the best feasible node.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable

import polars as pl
import pytest

from privet.deid import (
    GroupsSpec,
    IntervalsSpec,
    Lattice,
    SuppressSpec,
    Target,
    TruncateSpec,
    build,
)

EDU_GROUPS = {"primary": "basic", "secondary": "basic", "bachelor": "higher", "master": "higher"}


def _interval(width: int) -> Callable[[int], str]:
    return lambda v: f"{v // width * width}-{v // width * width + width - 1}"


# Per column: the label of a raw value at each level (level 0 = the value itself).
REFERENCE_LEVELS: dict[str, list[Callable]] = {
    "age": [lambda v: v, _interval(5), _interval(10), _interval(20), lambda v: "*"],
    "zip": [lambda v: v, lambda v: v[:2] + "*", lambda v: v[:1] + "**", lambda v: "*"],
    "sex": [lambda v: v, lambda v: "*"],
    "edu": [lambda v: v, lambda v: EDU_GROUPS[v], lambda v: "*"],
}
SPECS = {
    "age": IntervalsSpec(type="intervals", widths=[5, 10, 20]),
    "zip": TruncateSpec(type="truncate"),
    "sex": SuppressSpec(type="suppress"),
    "edu": GroupsSpec(
        type="groups",
        levels=[{"basic": ["primary", "secondary"], "higher": ["bachelor", "master"]}],
    ),
}
QIS = ["age", "zip", "sex", "edu"]


def make_table(seed: int, rows: int = 240) -> pl.DataFrame:
    rng = random.Random(seed)
    return pl.DataFrame(
        {
            "age": [min(max(int(rng.gauss(40, 7)), 18), 80) for _ in range(rows)],
            "zip": [rng.choice(["101", "102", "113", "205", "206", "310"]) for _ in range(rows)],
            "sex": [rng.choice("FM") for _ in range(rows)],
            "edu": [rng.choice(list(EDU_GROUPS)) for _ in range(rows)],
            "diag": [rng.choice(["flu", "cold", "hiv", "copd", "asthma"]) for _ in range(rows)],
            "stay": [rng.choice(range(1, 15)) for _ in range(rows)],
        }
    )


def _emd(rows: list[int], sa: list, ordered: bool, released: list[int]) -> float:
    values = sorted({sa[i] for i in released})
    m = len(values)
    if m <= 1:
        return 0.0
    total = Counter(sa[i] for i in released)
    mine = Counter(sa[i] for i in rows)
    p = [total[v] / len(released) for v in values]
    q = [mine[v] / len(rows) for v in values]
    if not ordered:
        return 0.5 * sum(abs(a - b) for a, b in zip(q, p, strict=True))
    running, distance = 0.0, 0.0
    for a, b in zip(q, p, strict=True):
        running += a - b
        distance += abs(running)
    return distance / (m - 1)


def reference_node(frame: pl.DataFrame, node: tuple[int, ...], target: Target, sensitive):
    """(feasible, loss, suppressed) of one node, computed naively."""
    data = {c: frame.get_column(c).to_list() for c in frame.columns}
    n = frame.height
    labels = [
        tuple(REFERENCE_LEVELS[q][lv](data[q][i]) for q, lv in zip(QIS, node, strict=True))
        for i in range(n)
    ]
    classes: dict[tuple, list[int]] = defaultdict(list)
    for i, key in enumerate(labels):
        classes[key].append(i)
    failing = set()
    for key, rows in classes.items():
        if len(rows) < target.k:
            failing.add(key)
        if target.l is not None and any(
            len({data[s][i] for i in rows}) < target.l for s in sensitive
        ):
            failing.add(key)
    budget = math.floor(target.max_suppression * n + 1e-9)
    suppressed = sum(len(classes[key]) for key in failing)
    if suppressed <= budget and target.t is not None:
        while True:
            released = [i for key, rows in classes.items() if key not in failing for i in rows]
            ordered = {s: frame.schema[s].is_numeric() for s in sensitive}
            far = {
                key
                for key, rows in classes.items()
                if key not in failing
                and max(_emd(rows, data[s], ordered[s], released) for s in sensitive)
                > target.t + 1e-12
            }
            if not far:
                break
            failing |= far
            if sum(len(classes[key]) for key in failing) > budget:
                break
        suppressed = sum(len(classes[key]) for key in failing)
    if suppressed > budget or suppressed == n:
        return False, math.inf, suppressed
    kept = [i for key, rows in classes.items() if key not in failing for i in rows]
    if target.metric == "discernibility":
        loss = sum(len(r) ** 2 for k, r in classes.items() if k not in failing) + suppressed * n
        return True, float(loss), suppressed
    kept_set = set(kept)
    if target.metric == "loss":
        total = 0.0
        for q, lv in zip(QIS, node, strict=True):
            domain = set(data[q])
            members = defaultdict(set)
            for v in domain:
                members[REFERENCE_LEVELS[q][lv](v)].add(v)
            for i in range(n):
                share = (len(members[REFERENCE_LEVELS[q][lv](data[q][i])]) - 1) / (len(domain) - 1)
                total += share if i in kept_set else 1.0
        return True, total / (n * len(QIS)), suppressed
    entropy, top = 0.0, 0.0
    for q, lv in zip(QIS, node, strict=True):
        count = Counter(data[q])
        label_count = Counter(REFERENCE_LEVELS[q][lv](v) for v in data[q])
        for i in range(n):
            v = data[q][i]
            full = math.log2(n / count[v])
            top += full
            own = math.log2(label_count[REFERENCE_LEVELS[q][lv](v)] / count[v])
            entropy += own if i in kept_set else full
    return True, entropy / top, suppressed


def exhaustive(frame: pl.DataFrame, target: Target, sensitive: list[str]) -> dict:
    import itertools

    heights = [len(REFERENCE_LEVELS[q]) for q in QIS]
    return {
        node: reference_node(frame, node, target, sensitive)
        for node in itertools.product(*(range(h) for h in heights))
    }


def privet_search(frame: pl.DataFrame, target: Target, sensitive: list[str]):
    hierarchies = [build(q, SPECS[q], frame.get_column(q)) for q in QIS]
    lattice = Lattice(frame, hierarchies, sensitive, target)
    return lattice, *lattice.search()


CONFIGS = [
    # (target, sensitive) with a comment on what each exercises
    (Target(k=3), []),  # no suppression allowed
    (Target(k=5, max_suppression=0.05), []),
    (Target(k=10, max_suppression=0.1), []),
    (Target(k=4, l=2, max_suppression=0.05), ["diag"]),
    (Target(k=3, l=3, max_suppression=0.1), ["diag", "stay"]),  # ℓ over two attributes
    (Target(k=2, t=0.35, max_suppression=0.1), ["diag"]),  # t, equal distance
    (Target(k=2, t=0.25, max_suppression=0.1), ["stay"]),  # t, ordered distance
    (Target(k=5, metric="entropy", max_suppression=0.05), []),
    (Target(k=5, metric="discernibility", max_suppression=0.05), []),
    (Target(k=3, l=2, metric="entropy", max_suppression=0.1), ["diag"]),
    (Target(k=2, t=0.3, metric="discernibility", max_suppression=0.1), ["diag"]),
]


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize(("target", "sensitive"), CONFIGS)
def test_search_is_no_worse_than_any_feasible_node(seed, target, sensitive):
    frame = make_table(seed)
    reference = exhaustive(frame, target, sensitive)
    feasible = {node: loss for node, (ok, loss, _) in reference.items() if ok}
    assert feasible, "the test table must admit a solution"
    lattice, result, best = privet_search(frame, target, sensitive)
    node = tuple(result.levels[q] for q in QIS)
    ok, loss, suppressed = reference[node]
    assert ok, f"privet chose {node}, which the reference finds infeasible"
    assert result.suppressed == suppressed
    assert loss == pytest.approx(result.loss, rel=1e-9, abs=1e-12)
    assert result.loss <= min(feasible.values()) * (1 + 1e-9) + 1e-12
    assert lattice.size == len(reference)


def test_monotonicity_prunes_most_of_the_lattice():
    frame = make_table(3, rows=400)
    lattice, result, _ = privet_search(frame, Target(k=5, max_suppression=0.02), [])
    assert result.evaluated < lattice.size / 2


def test_kept_rows_match_the_reported_suppression():
    frame = make_table(4)
    lattice, result, best = privet_search(frame, Target(k=6, max_suppression=0.1), [])
    kept = lattice.rows_kept(best.node)
    assert int((~kept).sum()) == result.suppressed


def test_a_hierarchy_that_is_not_a_tree_is_refused():
    from privet import InvalidInput

    frame = pl.DataFrame({"edu": ["a", "b", "c", "d"] * 3})
    spec = GroupsSpec(
        type="groups", levels=[{"x": ["a", "b"], "y": ["c", "d"]}, {"z": ["x"], "w": ["y"]}]
    )
    frame = frame.with_columns(pl.col("edu"))
    hierarchy = build("edu", spec, frame.get_column("edu"))
    assert hierarchy.height == 3
    # Intervals that do not nest are refused when the plan is read.
    with pytest.raises(ValueError, match="multiple"):
        IntervalsSpec(type="intervals", widths=[5, 7])
    with pytest.raises(InvalidInput, match="no generalization"):
        Lattice(frame, [hierarchy], [], Target(k=20)).search()
