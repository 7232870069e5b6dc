"""Masked examples: enough of a value's shape to recognize it, never the value.

Every letter and digit becomes ``*`` except the first and last character of values of six
or more characters; punctuation and spacing stay, so a masked phone still looks like one.
"""

from __future__ import annotations

import polars as pl

from privet.discover._model import ColumnFinding
from privet.discover._recognizers import RecognizerRegistry, default_registry

_KEEP_FROM = 6
_MAX_SHOWN = 40


def mask(value: str) -> str:
    """``john.smith@example.org`` → ``j***.*****@*******.**g`` (long values are cut)."""
    text = str(value)
    cut = len(text) > _MAX_SHOWN
    text = text[:_MAX_SHOWN]
    out = [ch if not ch.isalnum() else "*" for ch in text]
    if len(text) >= _KEEP_FROM:
        out[0] = text[0]
        if not cut:
            out[-1] = text[-1]
    return "".join(out) + ("…" if cut else "")


def masked_examples(
    series: pl.Series,
    finding: ColumnFinding,
    registry: RecognizerRegistry | None = None,
    count: int = 3,
) -> list[str]:
    """Up to ``count`` masked values of a column that show why it was classified."""
    values = series.cast(pl.String).str.strip_chars().drop_nulls()
    values = values.filter(values != "").unique(maintain_order=True).head(5000)
    entities = {e.type for e in finding.entities}
    picked = values
    if entities and not finding.evidence.free_text:
        for recognizer in registry if registry is not None else default_registry():
            if recognizer.entity in entities:
                _, valid = recognizer.match_values(values)
                if valid.any():
                    picked = values.filter(valid)
                    break
    return [mask(v) for v in picked.head(count).to_list()]
