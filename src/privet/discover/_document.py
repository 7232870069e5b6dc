"""A text document scanned for people to read: entities located by line and column."""

from __future__ import annotations

import bisect
import re
from collections import Counter
from pathlib import Path

from privet.discover._config import as_registry
from privet.discover._mask import mask
from privet.discover._model import TextScan
from privet.discover._recognizers import RecognizerRegistry
from privet.discover._text import scan_text
from privet.errors import InvalidInput
from privet.tables import file_errors

_MAX_TEXT_FILE = 1 << 30


def scan_document(
    text: str,
    *,
    recognizers: RecognizerRegistry | str | Path | None = None,
    examples: bool = False,
) -> TextScan:
    """The entities in ``text`` with their line and column, and counts by type.

    ``recognizers``: a registry, or a YAML recognizer file added to the built-ins.
    ``examples`` adds each entity masked (never its value).
    """
    entities = scan_text(text, registry=as_registry(recognizers))
    line_starts = [0, *(match.end() for match in re.finditer("\n", text))]
    located = []
    for e in entities:
        line = bisect.bisect_right(line_starts, e.start)
        item = {
            "type": e.type,
            "start": e.start,
            "end": e.end,
            "line": line,
            "column": e.start - line_starts[line - 1] + 1,
            "score": e.score,
            "category": e.category,
            "recognizer": e.recognizer,
        }
        if examples:
            item["example"] = mask(text[e.start : e.end])
        located.append(item)
    counts = Counter(e.type for e in entities)
    # One validation for the whole document: much cheaper than one model per entity.
    return TextScan.model_validate(
        {
            "characters": len(text),
            "lines": len(line_starts),
            "counts": dict(sorted(counts.items())),
            "entities": located,
        }
    )


def scan_text_file(
    path: str | Path,
    *,
    recognizers: RecognizerRegistry | str | Path | None = None,
    examples: bool = False,
) -> TextScan:
    """:func:`scan_document` over a UTF-8 text file (up to 1 GiB)."""
    path = Path(path)
    with file_errors(path):
        if path.stat().st_size > _MAX_TEXT_FILE:
            raise InvalidInput(f"{path.name} is larger than 1 GiB; split it first")
        data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path.name} is not valid UTF-8 text (re-encode it as UTF-8)") from None
    scan = scan_document(text, recognizers=recognizers, examples=examples)
    scan.source = path.name
    return scan
