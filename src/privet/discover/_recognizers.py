"""Recognizers: an abstract base, a pattern recognizer, a registry and its decorator.

The shape follows Presidio's ``EntityRecognizer`` + ``RecognizerRegistry``: each recognizer
finds one entity type, in whole column values (vectorized over a Polars Series) and inside
free text (with spans). A registry holds recognizers by unique name; registering a name
twice is an error unless forced.
"""

from __future__ import annotations

import functools
import itertools
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple, TypedDict, TypeVar, Unpack, overload

import polars as pl

from privet.discover._validators import Validator
from privet.errors import AlreadyExists, InvalidInput, NotFound
from privet.taxonomy import check_category

_CONTEXT_BEFORE = 48  # characters before a match searched for a context word
_CONTEXT_AFTER = 24
_CONTEXT_BOOST = 0.2


class Strength(StrEnum):
    """How much a value match alone says.

    ``checksum``: a check digit or checksum passes (random strings rarely do).
    ``format``: a distinctive shape (an e-mail, a MAC address).
    ``weak``: a shape other data shares (phone numbers, ZIP codes, dates); negative words
    in the column name (order, invoice, product, …) overrule it.
    """

    CHECKSUM = "checksum"
    FORMAT = "format"
    WEAK = "weak"


class Found(NamedTuple):
    """A span found in one of a batch of texts (a tuple: made by the thousand)."""

    row: int
    start: int
    end: int
    score: float


def _name_regex(hints: Sequence[str]) -> re.Pattern[str] | None:
    """Hints are patterns over a normalized column name's ``_``-joined tokens."""
    if not hints:
        return None
    return re.compile(r"(?:^|_)(?:" + "|".join(hints) + r")(?:_|$)")


class RecognizerSettings(TypedDict, total=False):
    """The optional settings every recognizer takes (see :class:`Recognizer`)."""

    category: str | None
    context: Sequence[str]
    column_hints: Sequence[str]
    strength: Strength | str
    needs_hint: bool
    needs_context: bool | None
    min_share: float
    score: float
    numbers: bool


class Recognizer(ABC):
    """Finds one entity type in column values and in free text.

    Subclasses implement :meth:`match_values` (vectorized over a Series of whole values)
    and :meth:`find` (spans in a batch of texts). The rest is configuration:

    - ``category``: the fideslang key a column of this entity gets;
    - ``context``: words that, near a match in text, raise its score;
    - ``column_hints``: patterns over the column name (tokens joined by ``_``);
    - ``needs_hint``: trust a column match only when the column name hints at the entity;
    - ``needs_context``: trust a match in text only beside a context word (default:
      ``needs_hint``);
    - ``min_share``: share of a column's values that must match for the column to qualify.
    """

    def __init__(
        self,
        *,
        name: str,
        entity: str,
        category: str | None = None,
        context: Sequence[str] = (),
        column_hints: Sequence[str] = (),
        strength: Strength | str = Strength.FORMAT,
        needs_hint: bool = False,
        needs_context: bool | None = None,
        min_share: float = 0.8,
        score: float = 0.85,
        numbers: bool = False,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", name):
            raise InvalidInput(f"invalid recognizer name {name[:40]!r}: letters, digits, _ . : -")
        if not re.fullmatch(r"[A-Z][A-Z0-9_]{0,63}", entity):
            raise InvalidInput(
                f"invalid entity type {entity[:40]!r} for recognizer {name!r}: use UPPER_SNAKE"
            )
        if category is not None:
            check_category(category)
        if not 0 < min_share <= 1 or not 0 < score <= 1:
            raise InvalidInput(f"recognizer {name!r}: min_share and score must be in (0, 1]")
        self.name = name
        self.entity = entity
        self.category = category
        self.context = tuple(word.lower() for word in context)
        self.column_hints = tuple(column_hints)
        self.strength = Strength(strength)
        self.needs_hint = needs_hint
        self.needs_context = needs_hint if needs_context is None else needs_context
        self.min_share = min_share
        self.score = score
        self.numbers = numbers
        try:
            self._hint_re = _name_regex(self.column_hints)
        except re.error:
            raise InvalidInput(f"recognizer {name!r}: a column hint is not a valid regex") from None
        self._context_re = (
            re.compile(r"\b(?:" + "|".join(re.escape(w) for w in self.context) + r")\b")
            if self.context
            else None
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, entity={self.entity!r})"

    # -- what subclasses provide --------------------------------------------------------------

    @abstractmethod
    def match_values(self, values: pl.Series) -> tuple[pl.Series, pl.Series]:
        """For whole (stripped, non-null) string values: (pattern matches, also validates)."""

    @abstractmethod
    def find(self, texts: pl.Series) -> list[Found]:
        """Entities inside a batch of texts (a String Series; nulls allowed)."""

    # -- shared behaviour ---------------------------------------------------------------------

    def hinted_by(self, column: str) -> bool:
        """Whether a normalized column name (``date_of_birth``) suggests this entity."""
        return bool(self._hint_re and self._hint_re.search(column))

    def has_context(self, text: str, start: int, end: int) -> bool:
        if self._context_re is None:
            return False
        window = text[max(0, start - _CONTEXT_BEFORE) : end + _CONTEXT_AFTER].lower()
        return bool(self._context_re.search(window))

    def scored(self, text: str, start: int, end: int) -> float | None:
        """The score of a span after context, or None when context is required and absent."""
        context = self.has_context(text, start, end)
        if self.needs_context and not context:
            return None
        return min(1.0, self.score + _CONTEXT_BOOST) if context else self.score


def _compile_both(name: str, pattern: str) -> re.Pattern[str]:
    """The pattern must mean the same to Python's ``re`` (spans) and Polars (vectorized)."""
    try:
        compiled = re.compile(pattern)
    except re.error:
        raise InvalidInput(f"recognizer {name!r}: the pattern is not a valid regex") from None
    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except Exception:  # noqa: BLE001 - Polars' regex errors vary by version
        raise InvalidInput(
            f"recognizer {name!r}: the pattern uses syntax the vectorized engine lacks "
            "(look-around and back-references are not supported)"
        ) from None
    return compiled


def _leading_flags(pattern: str) -> tuple[str, str]:
    """Split ``(?i)rest`` into ``("(?i)", "rest")``: global flags must stay in front."""
    match = re.match(r"\(\?[aiLmsux]+\)", pattern)
    return (match.group(), pattern[match.end() :]) if match else ("", pattern)


# ASCII forms of the digit classes, outside and inside a character class (Polars' syntax).
_ASCII_DIGITS = {
    False: {"\\d": "[0-9]", "\\D": "[^0-9]"},
    True: {"\\d": "0-9", "\\D": "[^0-9]"},
}


def _loosened(pattern: str, *, ascii_digits: bool = False) -> str:
    """The pattern without its ``\\b`` assertions, for the vectorized engine.

    Polars' engine gives up its fast path on Unicode word boundaries; without them the
    pattern matches a superset, so it still finds every text (or value) worth a closer look.
    With ``ascii_digits``, ``\\d`` becomes ``[0-9]`` (the same on texts without other decimal
    digits, and about twice as fast in Polars' engine).
    """
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            pair = pattern[i : i + 2]
            if ascii_digits and pair in _ASCII_DIGITS[in_class]:
                out.append(_ASCII_DIGITS[in_class][pair])
            elif not (pair == "\\b" and not in_class):
                out.append(pair)
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
            # A ']' right after '[' or '[^' is a literal member.
            out.append(ch)
            i += 1
            if i < len(pattern) and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < len(pattern) and pattern[i] == "]":
                out.append("]")
                i += 1
            continue
        if ch == "]" and in_class:
            in_class = False
        out.append(ch)
        i += 1
    return "".join(out)


class PatternRecognizer(Recognizer):
    """A regex plus an optional validator.

    The regex must be valid in both Python's ``re`` and Polars (no look-around, no
    back-references). A named group ``m`` marks the entity when the pattern also matches
    characters around it. Polars runs it without ``\\b`` to pick the texts or values worth
    a look (or ``prefilter``, a cheaper expression over column ``t`` that every text with a
    match passes); Python's ``re`` then gives the exact spans in those texts only.
    """

    def __init__(
        self,
        *,
        name: str,
        entity: str,
        pattern: str,
        validator: Validator | None = None,
        value_pattern: str | None = None,
        prefilter: pl.Expr | None = None,
        check: bool = True,
        **settings: Unpack[RecognizerSettings],
    ) -> None:
        super().__init__(name=name, entity=entity, **settings)
        self.pattern = pattern
        self.validator = validator
        self.prefilter = prefilter
        flags, whole = _leading_flags(value_pattern or pattern)
        self._anchored = _loosened(flags + r"^(?:" + whole + r")$")
        self._loose = _loosened(pattern)
        self._loose_ascii = _loosened(pattern, ascii_digits=True)
        self._digits = _needs_digit(pattern)
        if check:
            self.check()

    def check(self) -> None:
        """Compile every form of the pattern in both engines (InvalidInput if one fails)."""
        for form in (self.pattern, self._anchored, self._loose, self._loose_ascii):
            _compile_both(self.name, form)

    @functools.cached_property
    def _re(self) -> re.Pattern[str]:
        # Compiled on first use: Python's compiler is slow on the large built-in patterns.
        return re.compile(self.pattern)

    @functools.cached_property
    def _group(self) -> str | int:
        return "m" if "m" in self._re.groupindex else 0

    def patterns_for(self, texts: list[str]) -> Iterable[re.Pattern[str]]:
        """The compiled pattern :meth:`find` reads each of ``texts`` with (a subclass may
        use a leaner one where part of the pattern cannot match)."""
        return itertools.repeat(self._re, len(texts))

    def match_values(self, values: pl.Series) -> tuple[pl.Series, pl.Series]:
        matched = values.str.contains(self._anchored).fill_null(False)
        if self.validator is None:
            return matched, matched
        hits = matched.arg_true()
        valid = pl.Series(values.name, [False] * len(values), pl.Boolean)
        if len(hits):
            checked = self.validator(values.gather(hits)).fill_null(False)
            valid = valid.scatter(hits, checked)
        return matched, valid

    def loose_match(self, *, ascii_digits: bool = False) -> pl.Expr:
        """The cheap test of :meth:`find` as an expression over the columns of
        :func:`loose_frame`, so a caller can run every recognizer's test in one Polars pass.
        ``ascii_digits``: the texts have no decimal digits but 0-9."""
        if self.prefilter is not None:
            return self.prefilter
        # A pattern that needs a digit reads only the texts with one.
        text = pl.col("t_digits" if self._digits else "t")
        test = text.str.contains(self._loose_ascii if ascii_digits else self._loose)
        if self.needs_context:
            # A context word near a match is in the lower-cased text, anywhere: most texts
            # with a number have no phone, postcode or id word, and are not read again.
            words = "|".join(pl.escape_regex(word) for word in self.context)
            test = test & (pl.col("t_lower").str.contains(words) if words else pl.lit(False))
        return test

    def find(
        self,
        texts: pl.Series,
        rows: list[int] | None = None,
        values: list[str | None] | None = None,
    ) -> list[Found]:
        """Matches in ``texts``; a caller that ran :meth:`loose_match` itself passes the
        ``rows`` that passed it and the texts as a list (``values``)."""
        if rows is None:
            mask = loose_frame(texts).select(self.loose_match()).collect().to_series()
            rows = mask.fill_null(False).arg_true().to_list()
        if not rows:
            return []
        # The rows passed the loose test, so none of their texts is null.
        subset: list[str] = (
            [values[r] or "" for r in rows] if values is not None else texts.gather(rows).to_list()
        )
        candidates: list[tuple[int, int, int, str]] = []
        for row, text, regex in zip(rows, subset, self.patterns_for(subset), strict=True):
            for match in regex.finditer(text):
                start, end = match.span(self._group)
                if end > start:
                    candidates.append((row, start, end, match.group(self._group)))
        if self.validator is not None and candidates:
            checked = self.validator(pl.Series("v", [c[3] for c in candidates], pl.String))
            candidates = [c for c, ok in zip(candidates, checked.to_list(), strict=True) if ok]
        found = []
        by_row = dict(zip(rows, subset, strict=True))
        for row, start, end, _ in candidates:
            score = self.scored(by_row[row], start, end)
            if score is not None:
                found.append(Found(row, start, end, score))
        return found


def loose_frame(texts: pl.Series) -> pl.LazyFrame:
    """The columns :meth:`PatternRecognizer.loose_match` reads: the texts ``t``, their lower
    case ``t_lower``, and ``t_digits``, the texts with a decimal digit (null for the others,
    which string functions skip). Polars computes only the ones a query uses."""
    text = pl.col("t")
    return pl.LazyFrame({"t": texts}, schema={"t": pl.String}).with_columns(
        t_lower=text.str.to_lowercase(),
        t_digits=pl.when(text.str.contains(r"\d")).then(text),
    )


def _needs_digit(pattern: str) -> bool:
    """Whether every match of ``pattern`` (Python syntax) holds a decimal digit; False when
    unsure. Read from the parse tree of Python's own regex parser."""
    try:
        from re import _constants as c  # type: ignore[attr-defined]  # not in typeshed
        from re import _parser  # type: ignore[attr-defined]  # not in typeshed
    except ImportError:  # pragma: no cover - the parser moved in another Python
        return False

    def sequence(items: Any) -> bool:
        return any(item(op, av) for op, av in items)

    def item(op: Any, av: Any) -> bool:
        if op is c.LITERAL:
            return chr(av).isdecimal()
        if op is c.IN:
            return all(member(o, a) for o, a in av) if av else False
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            return av[0] >= 1 and sequence(av[2])
        if op is c.SUBPATTERN:
            return sequence(av[-1])
        if op is c.ATOMIC_GROUP:
            return sequence(av)
        if op is c.BRANCH:
            return all(sequence(branch) for branch in av[1])
        return False

    def member(op: Any, av: Any) -> bool:  # every character of a class is a digit
        if op is c.LITERAL:
            return chr(av).isdecimal()
        if op is c.RANGE:
            return all(chr(code).isdecimal() for code in range(av[0], av[1] + 1))
        return op is c.CATEGORY and av is c.CATEGORY_DIGIT

    try:
        return sequence(_parser.parse(pattern))
    except Exception:  # noqa: BLE001 - an unparsable pattern is refused elsewhere
        return False


# What register_recognizer takes: an instance, or a class or function making one.
Registrable = TypeVar("Registrable", bound="Recognizer | Callable[[], Recognizer]")


class RecognizerRegistry:
    """Recognizers by unique name, in the order they were added."""

    def __init__(self, recognizers: Iterable[Recognizer] = ()) -> None:
        self._items: dict[str, Recognizer] = {}
        for recognizer in recognizers:
            self.add(recognizer)

    def add(self, recognizer: Recognizer, *, force: bool = False) -> Recognizer:
        if not isinstance(recognizer, Recognizer):
            raise InvalidInput(f"{type(recognizer).__name__} is not a Recognizer")
        if recognizer.name in self._items and not force:
            raise AlreadyExists(
                f"a recognizer named {recognizer.name!r} is already registered "
                "(pass force=True to replace it)"
            )
        self._items[recognizer.name] = recognizer
        return recognizer

    def remove(self, name: str) -> None:
        if self._items.pop(name, None) is None:
            raise NotFound(f"no recognizer named {name!r}")

    def get(self, name: str) -> Recognizer:
        try:
            return self._items[name]
        except KeyError:
            raise NotFound(f"no recognizer named {name!r}") from None

    def copy(self) -> RecognizerRegistry:
        return RecognizerRegistry(self._items.values())

    @property
    def names(self) -> list[str]:
        return list(self._items)

    @property
    def entities(self) -> list[str]:
        return sorted({r.entity for r in self._items.values()})

    def __iter__(self) -> Iterator[Recognizer]:
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items


_DEFAULT = RecognizerRegistry()


@overload
def register_recognizer(
    target: Registrable, *, force: bool = False, registry: RecognizerRegistry | None = None
) -> Registrable: ...


@overload
def register_recognizer(
    target: None = None, *, force: bool = False, registry: RecognizerRegistry | None = None
) -> Callable[[Registrable], Registrable]: ...


def register_recognizer(
    target: Registrable | None = None,
    *,
    force: bool = False,
    registry: RecognizerRegistry | None = None,
) -> Registrable | Callable[[Registrable], Registrable]:
    """Add a recognizer to the default registry (or ``registry``).

    Use it as a decorator on a ``Recognizer`` subclass (instantiated without arguments) or on
    a function returning a recognizer, or call it with an instance. ``force=True`` replaces
    a recognizer of the same name.
    """

    def register(obj: Registrable) -> Registrable:
        into = registry if registry is not None else _DEFAULT
        if isinstance(obj, Recognizer):
            into.add(obj, force=force)
        elif callable(obj):  # a class or a factory
            into.add(obj(), force=force)
        else:
            raise InvalidInput("register_recognizer takes a Recognizer, its class or a factory")
        return obj

    if target is None:
        return register
    return register(target)


def default_registry() -> RecognizerRegistry:
    """The registry scans use by default: privet's recognizers plus any registered since."""
    from privet.discover import _builtin  # noqa: F401 - registers the built-in recognizers

    return _DEFAULT


def load_recognizers(
    path: str | Path, *, registry: RecognizerRegistry | None = None
) -> RecognizerRegistry:
    """A registry with the recognizers of a YAML file added to the defaults (or ``registry``).

    See :class:`privet.discover._config.RecognizerFile` for the format.
    """
    from privet.discover._config import read_recognizer_file

    return read_recognizer_file(Path(path), registry)


Factory = Callable[[], Recognizer]
