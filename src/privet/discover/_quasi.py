"""Quasi-identifiers by uniqueness: which small sets of columns single out records.

A record is singled out by a set of columns when no other record shares its values there
(Sweeney's uniqueness; k = 1). Each column is coded to dense integers once; a set's key is
then one 64-bit integer (or a hash when the codes do not fit), so each set costs a single
``is_unique`` over one column instead of a multi-column group-by.
"""

from __future__ import annotations

import itertools
import math

import polars as pl

from privet.discover._model import ColumnFinding, QuasiIdentifierSet

MAX_CANDIDATES = 10
MAX_SIZE = 4
PER_SIZE = 3  # sets reported per size
_BEAM = 5  # triples extended to sets of four
_MAX_CARDINALITY_SHARE = 0.5  # uncategorized columns: at most this many distinct per row


def candidates(
    findings: list[ColumnFinding], unique: dict[str, int], rows: int, kinds: dict[str, str]
) -> list[str]:
    """Quasi-identifier columns first, then uncategorized categorical strings of low
    cardinality (an attacker may know those too). Capped at MAX_CANDIDATES."""
    qi = [f.name for f in findings if f.role == "quasi_identifier" and not f.evidence.free_text]
    extra = [
        f.name
        for f in findings
        if f.role == "other"
        and f.category is None
        and not f.evidence.free_text
        and 2 <= unique.get(f.name, 0) <= max(2, min(1000, rows * _MAX_CARDINALITY_SHARE))
        and kinds.get(f.name) == "string"
    ]
    qi.sort(key=lambda name: -unique.get(name, 0))
    extra.sort(key=lambda name: unique.get(name, 0))
    return (qi + extra)[:MAX_CANDIDATES]


def quasi_identifier_sets(frame: pl.DataFrame, columns: list[str]) -> list[QuasiIdentifierSet]:
    """For sizes 1 to 4, the PER_SIZE sets of ``columns`` singling out most records."""
    if frame.height == 0 or not columns:
        return []
    codes = frame.select(
        [pl.col(c).rank("dense").fill_null(0).cast(pl.UInt64).alias(c) for c in columns]
    )
    cards = {c: _largest(codes[c]) + 1 for c in columns}
    scores: dict[tuple[str, ...], float] = {}

    def evaluate(sets: list[tuple[str, ...]]) -> None:
        todo = [s for s in sets if s not in scores]
        if not todo:
            return
        exprs = [_key(s, cards).is_unique().mean().alias(str(i)) for i, s in enumerate(todo)]
        row = codes.select(exprs).row(0)
        for s, share in zip(todo, row, strict=True):
            scores[s] = float(share or 0.0)

    for size in range(1, min(3, len(columns)) + 1):
        evaluate(list(itertools.combinations(columns, size)))
    if len(columns) >= MAX_SIZE:
        triples = sorted((s for s in scores if len(s) == 3), key=lambda s: -scores[s])[:_BEAM]
        evaluate(
            sorted(
                {tuple(sorted(t + (c,), key=columns.index)) for t in triples for c in columns
                 if c not in t}
            )
        )  # fmt: skip
    result = []
    for size in range(1, MAX_SIZE + 1):
        ranked = sorted(
            (s for s in scores if len(s) == size and scores[s] > 0),
            key=lambda s: (-scores[s], s),
        )
        result += [
            QuasiIdentifierSet(columns=list(s), unique_share=round(scores[s], 4))
            for s in ranked[:PER_SIZE]
        ]
    return result


def _key(columns: tuple[str, ...], cards: dict[str, int]) -> pl.Expr:
    if math.prod(cards[c] for c in columns) < 2**63:
        key = pl.lit(0, pl.UInt64)
        for c in columns:
            key = key * cards[c] + pl.col(c)
        return key
    return pl.struct(list(columns)).hash(seed=0)


def _largest(codes: pl.Series) -> int:
    """The largest of integer codes (0 when there are none)."""
    top = codes.max()  # Polars types it as any Python literal; on integer codes it is an int
    if top is None or isinstance(top, int):
        return top or 0
    raise TypeError(f"expected integer codes, not {type(top).__name__}")
