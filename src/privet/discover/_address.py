"""Places: the country and street-address recognizers, whose patterns are built from
privet's place lexicons (country names; street words of 80+ locales) rather than written.

Patterns hold for both engines (Python ``re`` for spans, Polars for vectorized checks).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import polars as pl

from privet.discover import _lexicon as lex
from privet.discover._recognizers import PatternRecognizer, Strength


def _words(words: set[str] | frozenset[str]) -> str:
    """An alternation of literal words as a trie ("St(?:reet|ation)"): Python's engine tries
    a flat alternation word by word at each position, a trie only along one branch. Longer
    words come first at each branch, so the longest word that fits is taken."""
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}
    return _trie_regex(trie)


def _trie_regex(node: dict) -> str:
    branches = []
    ends = "" in node
    for ch in sorted(k for k in node if k):
        branches.append(re.escape(ch) + _trie_regex(node[ch]))
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if ends else body


# -- countries ----------------------------------------------------------------------------------


@functools.cache
def _country_names() -> frozenset[str]:
    names = {c.title() for c in lex.countries() if len(c) > 3} | {"USA", "UK", "UAE"}
    return frozenset(
        n.replace(" And ", " and ").replace(" Of ", " of ").replace(" The ", " the ") for n in names
    )


def _country_pattern() -> str:
    return r"\b(?:" + _words(_country_names()) + r")\b"


def _country_names_flat() -> str:
    return "|".join(pl.escape_regex(name) for name in sorted(_country_names()))


def country_recognizer() -> PatternRecognizer:
    """Country names (and USA, UK, UAE) in text and columns."""
    return PatternRecognizer(
        name="country",
        entity="LOCATION",
        category="user.contact.address.country",
        pattern=_country_pattern(),
        # The same names as one flat alternation: faster in Polars' engine than the trie.
        prefilter=pl.col("t").str.contains(_country_names_flat()),
        strength=Strength.WEAK,
        context=("from", "in", "to", "country", "visit", "live", "lives", "moved"),
        column_hints=("country", "countries", "country_name", "nation"),
        score=0.6,
        check=False,
    )


# -- street addresses ---------------------------------------------------------------------------


# Street-name endings that also end English words ("During 2000" is not "-ring 2000").
_ENGLISH_ENDINGS = frozenset({"ring", "ringen", "singel", "marka"})


@functools.cache
def _address_alternatives() -> tuple[str, str]:
    """The address pattern's alternatives: (all but the street-word ending one, that one)."""
    suffixes, endings, prefixes = lex.street_words()
    suffix = _words(suffixes)
    ending = _words({e for e in endings if len(e) >= 4} - _ENGLISH_ENDINGS)
    prefix = _words(prefixes | {p.capitalize() for p in prefixes})
    word = r"[^\W\d_][\w'’.-]*"
    particle = r"(?:de|del|de la|des|du|di|della|da|do|dos|das|van|von|der|la|le|of)"
    secondary = r"(?:,? (?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|Room|Rm|#)\.? ?#?\w{1,6})?"
    number = r"\d{1,6}(?:[ -]?[A-Za-z]\b)?"
    before = (
        # 12 Main Street, 254 Damvergi St. Apt 4
        rf"\b{number},? (?:{word} ){{0,3}}{word} (?:{suffix})\b\.?{secondary}"
        # Via Roma 12, Calle de Alcalá, 45, 12 rue de la Paix
        rf"|\b(?:{number},? )?(?:{prefix})\.? (?:{particle} )?(?:{word} ){{0,3}}{word},? \d{{1,5}}"
        rf"[A-Za-z]?\b{secondary}"
        rf"|\b{number},? (?:{prefix})\.? (?:{particle} )?(?:{word} ){{0,3}}{word}\b"
    )
    # Hauptstraße 5, Kerkstraat 12a
    ends = rf"\b[^\W\d_][\w'’-]*(?i:{ending})\.? \d{{1,5}}[A-Za-z]?\b"
    # P.O. Box 63
    after = r"\bP\.? ?O\.? Box \d{1,6}\b"
    return f"{before}|{after}", f"{before}|{ends}|{after}"


@functools.cache
def _address_pattern() -> str:
    return "(?:" + _address_alternatives()[1] + ")"


@functools.cache
def _address_lean() -> re.Pattern[str]:
    return re.compile("(?:" + _address_alternatives()[0] + ")")


@functools.cache
def _address_filters() -> tuple[str, str]:
    """Tests for Polars: a street word; a street-word ending before a number."""
    suffixes, endings, prefixes = lex.street_words()
    # Bounded by non-ASCII-letters: a superset of the Unicode boundaries, and fast.
    street = suffixes | prefixes | {p.capitalize() for p in prefixes} | {"Box"}
    words = r"(?:^|[^A-Za-z])(?:" + _words(street) + r")(?:[^A-Za-z]|$)"
    # Python's case-insensitive "i" also matches "İ" and "ı"; Polars' needs telling.
    ending = _words({e for e in endings if len(e) >= 4} - _ENGLISH_ENDINGS)
    ends = r"(?i:" + ending.replace("i", "[iİı]") + r")\.? \d"
    return words, ends


def _address_prefilter() -> pl.Expr:
    """Every street address holds a digit and a street word (or a word ending like it)."""
    words, ends = _address_filters()
    text = pl.col("t").str
    return (text.contains(words) & pl.col("t_digits").is_not_null()) | text.contains(ends)


class StreetAddressRecognizer(PatternRecognizer):
    """Street addresses. The pattern's alternative for street-word endings ("Hauptstraße 5")
    is slow in Python's engine, so texts without such an ending before a number are read
    with the pattern without it: an alternative that matches nowhere in a text changes none
    of its matches."""

    def patterns_for(self, texts: list[str]) -> Iterable[re.Pattern[str]]:
        ending = pl.Series(texts, dtype=pl.String).str.contains(_address_filters()[1])
        lean = _address_lean()
        return [self._re if has_ending else lean for has_ending in ending.to_list()]


def street_address_recognizer() -> StreetAddressRecognizer:
    """Street addresses in 80+ locales' forms, and P.O. boxes."""
    return StreetAddressRecognizer(
        name="street_address",
        entity="STREET_ADDRESS",
        category="user.contact.address.street",
        pattern=_address_pattern(),
        value_pattern=r"(?s).*(?:" + _address_pattern() + r").*",
        prefilter=_address_prefilter(),
        context=("address", "live", "lives", "living", "moved", "send", "ship", "deliver", "at"),
        column_hints=("address", "addresses", "street", "street_address", "addr", "address_line",
                      "address_1", "address1", "line_1", "line1", "strasse", "adresse", "calle"),
        score=0.8,
        min_share=0.7,
        check=False,
    )  # fmt: skip
