"""Audit-log values as facet fields: a string, an int or a float, or ``None`` when absent.

A log entry is JSON: a field may be missing or of another type, and a boolean is not a
number here (``True`` is an ``int`` to Python).
"""

from __future__ import annotations


def as_str(value: object) -> str | None:
    return None if value is None else str(value)


def as_int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def as_num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def short(value: object) -> str:
    """A parameter for a sentence (the exact value is in the facet's own field)."""
    number = as_num(value)
    return "?" if number is None else f"{number:.3g}"
