"""Text that is safe to put in front of a person: control characters made visible.

A column name, an actor or a grant's reason is stored as given; printed raw, an ANSI escape
clears an auditor's screen and a newline forges an extra table row (wave 2's probe did both).
Every output — terminal tables, ``--json``, error sentences, server logs — shows such
characters escaped instead (``\\x1b``, ``\\n``). Bidirectional overrides count too: they
reorder what is displayed ("Trojan Source", Boucher & Anderson 2021).
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, and Unicode's invisible direction/format marks.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def has_controls(value: str) -> bool:
    return _CONTROLS.search(value) is not None


def escape_controls(value: str, *, keep_lines: bool = False) -> str:
    """``value`` with every control or direction mark written as a Python escape; with
    ``keep_lines``, newlines and tabs stay (for a multi-line document such as a policy)."""
    if not has_controls(value):
        return value

    def visible(match: re.Match[str]) -> str:
        char = match.group()
        if keep_lines and char in "\n\t":
            return char
        return char.encode("unicode_escape").decode("ascii")

    return _CONTROLS.sub(visible, value)


# What JSON leaves raw inside strings (it escapes U+0000–U+001F itself; a raw one in a JSON
# text is structural whitespace and must stay).
_JSON_RAW = re.compile("[\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def escape_json(document: str) -> str:
    """A JSON text whose strings hold no raw control characters or direction marks."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", document)
