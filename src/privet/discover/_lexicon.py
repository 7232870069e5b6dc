"""Word lists shipped with privet (see data/README.md): names, street words, countries.

Loaded once, on first use, from gzip files inside the package; nothing is downloaded.
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources

# Street-type abbreviations that Faker's lists spell out in full.
_ABBREVIATIONS = (
    "St", "Ave", "Av", "Rd", "Blvd", "Dr", "Ln", "Ct", "Pl", "Sq", "Ter", "Terr", "Hwy",
    "Pkwy", "Cir", "Way", "Cres", "Crt", "Gdns", "Gr", "Mt", "Trl", "Expy", "Fwy", "Plz",
)  # fmt: skip

# Words that open a place name ("North Michael" is a town in Faker, not a person).
PLACE_WORDS = frozenset(
    [
        "north",
        "south",
        "east",
        "west",
        "new",
        "lake",
        "port",
        "fort",
        "mount",
        "saint",
        "san",
        "santa",
        "st",
        "upper",
        "lower",
        "great",
        "little",
        "old",
        "royal",
    ]
)

# Titles before a name ("Mr. Brown", "Dr Smith").
TITLES = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "dr",
        "prof",
        "sir",
        "madam",
        "lady",
        "lord",
        "rev",
        "herr",
        "frau",
        "mme",
        "mlle",
        "sr",
        "sra",
        "srta",
        "señor",
        "señora",
        "monsieur",
        "madame",
        "signor",
        "signora",
        "dott",
    ]
)


def _lines(name: str) -> list[str]:
    data = (resources.files("privet.discover") / "data" / name).read_bytes()
    return gzip.decompress(data).decode("utf-8").splitlines()


@functools.cache
def first_names() -> frozenset[str]:
    return frozenset(_lines("first_names.txt.gz"))


@functools.cache
def last_names() -> frozenset[str]:
    return frozenset(_lines("last_names.txt.gz"))


@functools.cache
def common_words() -> frozenset[str]:
    """Frequent English words: a capitalized one at a sentence start is not a name."""
    return frozenset(_lines("common_words.txt.gz")) | {
        "i", "i'm", "hi", "hello", "dear", "thanks", "thank", "please", "yes", "no", "ok",
        "my", "your", "his", "her", "our", "their", "the", "a", "an", "this", "that", "who",
        "what", "when", "where", "why", "how", "can", "could", "would", "will", "may",
        "might", "shall", "should", "is", "are", "was", "were", "do", "does", "did", "mr",
        "mrs", "ms", "dr", "name", "street", "road", "avenue", "card", "bank", "account",
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
        "january", "february", "march", "april", "june", "july", "august", "september",
        "october", "november", "december", "god", "sir", "madam", "hey", "best",
        "regards", "call", "email", "phone", "address", "ssn", "iban", "visa", "mastercard",
    }  # fmt: skip


@functools.cache
def street_words() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(separate suffixes such as "Street", word endings such as "straße", prefixes)."""
    suffixes, endings, prefixes = set(_ABBREVIATIONS), set(), set()
    for line in _lines("street_words.txt.gz"):
        kind, _, word = line.partition("\t")
        if kind == "prefix":
            prefixes.add(word)
        elif word[:1].isupper():
            suffixes.add(word)
        elif len(word) >= 3:
            endings.add(word)
    return frozenset(suffixes), frozenset(endings), frozenset(prefixes)


@functools.cache
def countries() -> frozenset[str]:
    extra = {"usa", "us", "united states", "uk", "england", "scotland", "wales", "holland"}
    return frozenset(_lines("countries.txt.gz")) | extra
