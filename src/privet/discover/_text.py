"""Entities in free text, with spans.

A batch of texts goes through each recognizer once: Polars finds the texts a pattern can
match (vectorized, multi-threaded), and Python's ``re`` gives spans only in those. Overlaps
between recognizers are settled by score, then by length.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from pydantic import TypeAdapter

from privet.discover._model import Entity
from privet.discover._recognizers import (
    PatternRecognizer,
    RecognizerRegistry,
    default_registry,
    loose_frame,
)
from privet.errors import InvalidInput

_ENTITIES = TypeAdapter(list[list[Entity]])
Hit = tuple[int, int, float, str, str | None, str]

# Texts longer than this are cut into pieces at line breaks before scanning, so one huge cell
# cannot make a quadratic regex walk; entities across a cut are rare and only split.
_PIECE = 1 << 16


def scan_texts(
    texts: Sequence[str | None] | pl.Series, *, registry: RecognizerRegistry | None = None
) -> list[list[Entity]]:
    """The entities in each text, sorted by position (an empty list for None)."""
    series = _as_series(texts)
    recognizers = list(registry if registry is not None else default_registry())
    pieces, owners, offsets = _split(_unescape(series))
    # Texts whose only digits are 0-9 (nearly all) take the patterns' faster ASCII forms.
    ascii_digits = not pieces.str.contains(r"[\d&&[^0-9]]").any()
    # Every pattern recognizer's cheap test in one Polars query, run on Polars' threads while
    # Python reads the texts for the recognizers without one (person names).
    tests = {
        r.name: r.loose_match(ascii_digits=ascii_digits)
        for r in recognizers
        if isinstance(r, PatternRecognizer)
    }
    query = loose_frame(pieces).select(
        [expr.fill_null(False).alias(f"m{i}") for i, expr in enumerate(tests.values())]
    )
    pending = query.collect(background=True) if tests else None
    untested = {r.name: r.find(pieces) for r in recognizers if r.name not in tests}
    masks = pending.fetch_blocking() if pending is not None else None
    passed = (
        {
            name: np.flatnonzero(column).tolist()
            for name, column in zip(tests, masks.to_numpy().T, strict=True)
        }
        if masks is not None
        else {}
    )
    values = pieces.to_list()
    # Per piece with hits: (start, end, score, type, category, recognizer) of each.
    found: dict[int, list[Hit]] = {}
    for recognizer in recognizers:
        if isinstance(recognizer, PatternRecognizer) and recognizer.name in passed:
            hits = recognizer.find(pieces, passed[recognizer.name], values)
        else:
            hits = untested[recognizer.name]
        kind, category, name = recognizer.entity, recognizer.category, recognizer.name
        for h in hits:
            entry = (h.start, h.end, h.score, kind, category, name)
            if (same := found.get(h.row)) is None:
                found[h.row] = [entry]
            else:
                same.append(entry)
    result: list[list[dict]] = [[] for _ in range(len(series))]
    for piece, entries in found.items():
        offset = offsets[piece]
        result[owners[piece]].extend(
            {
                "type": kind,
                "start": start + offset,
                "end": end + offset,
                "score": round(score, 3),
                "category": category,
                "recognizer": name,
            }
            for start, end, score, kind, category, name in (
                _resolve(entries) if len(entries) > 1 else entries
            )
        )
    for entities in result:
        if len(entities) > 1:
            entities.sort(key=lambda e: (e["start"], e["end"]))
    # One validation call for all: much cheaper than one model per entity.
    return _ENTITIES.validate_python(result)


def scan_text(text: str, *, registry: RecognizerRegistry | None = None) -> list[Entity]:
    """The entities in one text, sorted by position; ``text[e.start:e.end]`` is each one."""
    if not isinstance(text, str):
        raise InvalidInput("scan_text takes a str", parameter="text")
    return scan_texts([text], registry=registry)[0]


def _as_series(texts: Sequence[str | None] | pl.Series) -> pl.Series:
    if isinstance(texts, pl.Series):
        if texts.dtype != pl.String:
            raise InvalidInput("texts must be a String column", parameter="texts")
        return texts
    try:
        return pl.Series("text", list(texts), dtype=pl.String)
    except (TypeError, pl.exceptions.PolarsError):
        raise InvalidInput("texts must be strings (or None)", parameter="texts") from None


def _unescape(series: pl.Series) -> pl.Series:
    """Escaped line breaks ("\\n" as two characters, common in exported logs) read as spaces.

    Two characters become two spaces, so every offset still points into the original text.
    """
    return series.str.replace_all(r"\\[ntr]", "  ")


def _split(series: pl.Series) -> tuple[pl.Series, list[int], list[int]]:
    """Long texts become several pieces; returns pieces, their text index and offset."""
    lengths = series.str.len_chars().fill_null(0)
    if len(series) == 0 or (lengths <= _PIECE).all():
        rows = list(range(len(series)))
        return series, rows, [0] * len(series)
    pieces: list[str | None] = []
    owners: list[int] = []
    offsets: list[int] = []
    for index, text in enumerate(series.to_list()):
        if text is None or len(text) <= _PIECE:
            pieces.append(text)
            owners.append(index)
            offsets.append(0)
            continue
        start = 0
        while start < len(text):
            stop = min(len(text), start + _PIECE)
            if stop < len(text):
                cut = text.rfind("\n", start + _PIECE // 2, stop)
                stop = cut + 1 if cut > 0 else stop
            pieces.append(text[start:stop])
            owners.append(index)
            offsets.append(start)
            start = stop
    return pl.Series("text", pieces, pl.String), owners, offsets


def _resolve(hits: list[Hit]) -> list[Hit]:
    """Keep the best of overlapping spans: higher score (to 0.1), then the longer one."""
    kept: list[Hit] = []
    for hit in sorted(hits, key=lambda h: (-round(h[2], 1), h[0] - h[1], h[0])):
        start, end = hit[0], hit[1]
        if all(end <= k[0] or start >= k[1] for k in kept):
            kept.append(hit)
    return kept
