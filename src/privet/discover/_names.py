"""Person names: a recognizer built on name lists (Faker's, 80+ locales, shipped with privet)
and rules over runs of capitalized words, not on one pattern."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import polars as pl

from privet.discover import _lexicon as lex
from privet.discover._recognizers import Found, Recognizer, Strength


@functools.cache
def _name_series() -> tuple[pl.Series, pl.Series]:
    return (
        pl.Series("first", sorted(lex.first_names()), pl.String),
        pl.Series("last", sorted(lex.last_names()), pl.String),
    )


_PARTICLES = frozenset(
    [
        "van",
        "von",
        "de",
        "der",
        "den",
        "del",
        "della",
        "di",
        "da",
        "du",
        "le",
        "la",
        "bin",
        "ibn",
        "al",
        "el",
        "dos",
        "das",
    ]
)


@functools.cache
def _run_regex() -> re.Pattern[str]:
    """Runs of capitalized words (each word: letters with inner apostrophes or hyphens, and
    maybe a final dot), one or two spaces apart. Python's ``re`` has no ``\\p{Lu}``, so the
    class of upper- and title-case letters is built from the Unicode database once. The
    first letter comes before the look-behind (not after a letter, digit, apostrophe,
    hyphen or backslash, as in a literal "\\n"): a pattern that opens with a character
    class lets the engine skip quickly to the next capital."""
    upper = _char_class(lambda ch: ch.isupper() or ch.istitle())
    tail = r"[^\W\d_]*(?:['’-][^\W\d_]+)*\.?"
    particles = "|".join(sorted(_PARTICLES))
    return re.compile(rf"{upper}(?<![\w'’\\-].){tail}(?:  ?(?:{upper}{tail}|(?:{particles})\b))*")


@functools.cache
def _name_keys() -> frozenset[str]:
    """Words that make a run worth reading: known names that are not common words, and
    titles. Every name :func:`_judge` accepts holds one of them ("I", "My", "Will" alone
    are never names)."""
    names = lex.first_names() | lex.last_names()
    return (names - lex.common_words()) | lex.TITLES


def _char_class(test: Callable[[str], bool]) -> str:
    ranges: list[tuple[int, int]] = []
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF or not test(chr(code)):
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    parts = (
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )
    return "[" + "".join(parts) + "]"


class PersonNameRecognizer(Recognizer):
    """Person names from name lists (Faker's, 80+ locales, shipped with privet).

    Whole values: two to four capitalized words whose first is a known first name or whose
    last is a known family name (or "Last, First"). In text: runs of capitalized words with
    a known name that is not a common English word, or any capitalized word after a title.
    """

    def __init__(self) -> None:
        super().__init__(
            name="person",
            entity="PERSON",
            category="user.name",
            strength=Strength.FORMAT,
            context=("name", "called", "named", "mr", "mrs", "ms", "dr", "dear", "hi", "hello"),
            column_hints=("name", "names", "full_?name", "customer_name", "person", "contact_name",
                          "patient_name", "employee_name", "display_name", "holder", "nombre",
                          "nom", "nome", "vorname_nachname"),
            min_share=0.6,
            score=0.85,
        )  # fmt: skip

    def match_values(self, values: pl.Series) -> tuple[pl.Series, pl.Series]:
        first, last = _name_series()
        frame = pl.DataFrame({"v": values}).with_columns(
            t=pl.col("v").str.to_lowercase().str.extract_all(r"\p{L}[\p{L}'’-]*"),
            shape=pl.col("v").str.contains(
                r"^(?:\p{Lu}\p{L}*\.? )?\p{Lu}[\p{L}'’-]*,?(?: \p{Lu}\.|(?: \p{Ll}{1,4})? "
                r"\p{Lu}[\p{L}'’-]*){1,3}$"
            ),
            comma=pl.col("v").str.contains(","),
        )
        n = pl.col("t").list.len()
        given = (
            pl.when(pl.col("comma"))
            .then(pl.col("t").list.get(1, null_on_oob=True))
            .otherwise(pl.col("t").list.first())
        )
        family = (
            pl.when(pl.col("comma"))
            .then(pl.col("t").list.first())
            .otherwise(pl.col("t").list.last())
        )
        known = given.is_in(first.implode()) | family.is_in(last.implode())
        place = pl.col("t").list.first().is_in(sorted(lex.PLACE_WORDS))
        result = frame.select(
            matched=(pl.col("shape") & (n >= 2)).fill_null(False),
            valid=(pl.col("shape") & (n >= 2) & known & ~place).fill_null(False),
        )
        return result["matched"], result["valid"]

    def find(self, texts: pl.Series) -> list[Found]:
        found: list[Found] = []
        firsts, lasts, common = lex.first_names(), lex.last_names(), lex.common_words()
        keys, finditer = _name_keys(), _run_regex().finditer
        # Runs of capitalized words; only those holding a name or a title are read word by
        # word.
        for row, text in enumerate(texts.to_list()):
            if not text:
                continue
            for run in finditer(text):
                words = run.group()
                lower = words.lower()
                # Most runs are one word (a sentence's first): one set lookup.
                if " " not in lower:
                    if lower.rstrip(".") not in keys:
                        continue
                elif keys.isdisjoint(lower.replace(".", " ").split()):
                    continue
                for start, end, score in _names_in(words, run.start(), firsts, lasts, common):
                    context = self.has_context(text, start, end)
                    found.append(Found(row, start, end, min(1.0, score + (0.1 if context else 0))))
        return found


Word = tuple[int, str]  # a word of a run: its offset in the text, and the word


def _names_in(
    run: str,
    offset: int,
    firsts: frozenset[str],
    lasts: frozenset[str],
    common: frozenset[str],
) -> list[tuple[int, int, float]]:
    """The names in one run (at ``offset`` in its text): spans and scores.

    A title opens a titled part ("Dr. Ann Lee"); an all-capitals word ends a part, and so
    does a particle with no name before it.
    """
    out: list[tuple[int, int, float]] = []
    part: list[Word] = []
    titled = False
    at = offset
    # The words of a run are one or two spaces apart: empty pieces are the second spaces.
    for token in run.split(" "):
        if not token:
            at += 1
            continue
        word = token.rstrip(".")
        lower = word.lower()
        if word[:1].isupper() and not (len(word) > 1 and word.isupper()):
            if lower in lex.TITLES and not part:
                titled = True
            else:
                part.append((at, token))
        elif part and lower in _PARTICLES:
            part.append((at, token))
        else:
            if part:
                span = _judge(part, titled, firsts, lasts, common)
                if span is not None:
                    out.append(span)
            part, titled = [], False
        at += len(token) + 1
    if part:
        span = _judge(part, titled, firsts, lasts, common)
        if span is not None:
            out.append(span)
    return out


def _judge(
    run: list[Word],
    titled: bool,
    firsts: frozenset[str],
    lasts: frozenset[str],
    common: frozenset[str],
) -> tuple[int, int, float] | None:
    """Whether a run of capitalized words is a person's name, and its span and score."""
    words = [token.rstrip(".") for _, token in run]
    lowered = [w.lower() for w in words]
    # Drop leading common words ("Hi", "Dear", "My") and trailing particles.
    first, stop = 0, len(words)
    if not titled:
        while first < stop and lowered[first] in common and lowered[first] not in firsts:
            first += 1
    while stop > first and lowered[stop - 1] in _PARTICLES:
        stop -= 1
    count = stop - first
    if not count or count > 4:
        return None
    lowered = lowered[first:stop]
    if count > 1 and lowered[0] in lex.PLACE_WORDS:
        return None
    if not _not_names().isdisjoint(lowered):
        return None
    start = run[first][0]
    last_at, last_token = run[stop - 1]
    end = last_at + len(last_token)
    if last_token.endswith(".") and len(words[stop - 1]) > 1:
        end -= 1
    if titled:
        return start, end, 0.85
    is_first = lowered[0] in firsts and lowered[0] not in common
    is_last = lowered[-1] in lasts and lowered[-1] not in common
    if count >= 2 and (is_first or (is_last and lowered[0] in firsts)):
        return start, end, 0.85
    if count >= 2 and is_last and len(lowered[0]) > 1 and lowered[0] not in common:
        return start, end, 0.6
    if count == 1 and is_first:
        return start, end, 0.6
    if count == 1 and is_last and len(lowered[0]) > 3:
        return start, end, 0.5
    return None


@functools.cache
def _not_names() -> frozenset[str]:
    """Words that make a capitalized run a place or a street, not a person."""
    suffixes, _, prefixes = lex.street_words()
    words = {w.lower() for w in suffixes | prefixes if len(w) > 2}
    return frozenset(words | {c for c in lex.countries() if " " not in c})
