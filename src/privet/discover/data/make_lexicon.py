"""Regenerate the word lists in this folder from the installed Faker package.

Run from the repository root: ``.venv/bin/python src/privet/discover/data/make_lexicon.py``.
The output is deterministic for a given Faker version (sorted, lowercased, gzip with a
fixed mtime), so a regenerated file only differs when Faker's lists changed.
"""

from __future__ import annotations

import gzip
import importlib
import io
import pkgutil
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from faker.providers import address, person

HERE = Path(__file__).resolve().parent

# Street words only from locales whose lists are street types (fi_FI's "prefixes", for one,
# are name stems).
_STREET_LOCALES = (
    "en_US", "en_GB", "en_CA", "en_AU", "en_NZ", "en_IE", "de_DE", "de_AT", "de_CH",
    "fr_FR", "fr_CA", "fr_CH", "es_ES", "es_MX", "it_IT", "nl_NL", "nl_BE", "pt_BR",
    "pt_PT", "sv_SE", "da_DK", "no_NO", "pl_PL", "cs_CZ",
)  # fmt: skip

_FIRST = (
    "first_names",
    "first_names_male",
    "first_names_female",
    "first_names_nonbinary",
    "first_romanized_names",
    "first_romanized_names_male",
    "first_romanized_names_female",
)
_LAST = ("last_names", "last_names_male", "last_names_female", "last_romanized_names")


def _values(provider: type, attribute: str) -> list[str]:
    value = provider.__dict__.get(attribute)
    if value is None:
        for base in provider.__mro__[1:]:
            if attribute in base.__dict__:
                value = base.__dict__[attribute]
                break
    if isinstance(value, dict):
        return [str(key) for key in value]
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    return []


def _providers(package) -> Iterable[tuple[str, type]]:
    for module in pkgutil.iter_modules(package.__path__):
        yield module.name, importlib.import_module(f"{package.__name__}.{module.name}").Provider


def _word(value: str) -> str | None:
    """One lowercased name token, or None for multi-word or non-alphabetic entries."""
    value = unicodedata.normalize("NFC", value.strip())
    if not value or " " in value:
        return None
    if not all(ch.isalpha() or ch in "'’-" for ch in value) or not value[0].isalpha():
        return None
    return value.lower()


def _write(name: str, words: Iterable[str]) -> int:
    lines = sorted(set(words))
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as out:
        out.write(("\n".join(lines) + "\n").encode("utf-8"))
    (HERE / name).write_bytes(buffer.getvalue())
    return len(lines)


def main() -> None:
    firsts: set[str] = set()
    lasts: set[str] = set()
    for _locale, provider in _providers(person):
        for attribute in _FIRST:
            firsts.update(w for w in map(_word, _values(provider, attribute)) if w)
        for attribute in _LAST:
            lasts.update(w for w in map(_word, _values(provider, attribute)) if w)
    street: set[str] = set()
    countries: set[str] = set()
    for locale, provider in _providers(address):
        if locale not in _STREET_LOCALES:
            if locale.startswith("en"):
                countries.update(c.strip().lower() for c in _values(provider, "countries"))
            continue
        for attribute, kind in (
            ("street_suffixes", "suffix"),
            ("street_suffixes_long", "suffix"),
            ("street_suffixes_short", "suffix"),
            ("street_prefixes", "prefix"),
        ):
            for value in _values(provider, attribute):
                value = value.strip()
                if value and len(value) <= 20 and "\t" not in value:
                    # Case is kept: "Street" is a word of its own, "straße" ends a word.
                    street.add(f"{kind}\t{value}")
        if locale.startswith("en"):
            countries.update(c.strip().lower() for c in _values(provider, "countries"))
    print("first names", _write("first_names.txt.gz", firsts))
    print("last names", _write("last_names.txt.gz", lasts))
    print("street words", _write("street_words.txt.gz", street))
    print("countries", _write("countries.txt.gz", countries))
    lorem = importlib.import_module("faker.providers.lorem.en_US").Provider
    print("common words", _write("common_words.txt.gz", (w.lower() for w in lorem.word_list)))


if __name__ == "__main__":
    main()
