"""Synthetic direct identifiers joined onto the Adult rows: a "raw" personal-data table.

Everything here is made up. Names, streets and cities come from Faker's en_US word lists;
SSNs and phone numbers are random numbers in the valid ranges, so any match with a real
person is coincidence.

Speed: calling Faker's per-value generators costs about 300 microseconds per row
(roughly 15 s for 48,842 rows), so we take only Faker's vocabularies and draw from them
with ``random.Random``, which needs well under a second for the whole table.

Determinism: each column draws from its own ``random.Random`` seeded with a string
(str seeds are hashed with SHA-512, so they do not depend on PYTHONHASHSEED) and
consumes it row by row. That makes the output reproducible for a seed and also
prefix-stable: ``raw_people(n)`` equals the first ``n`` rows of ``raw_people()``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import string
from collections.abc import Callable, Mapping, Sequence

import polars as pl
from faker.providers.address.en_US import Provider as _AddressProvider
from faker.providers.person.en_US import Provider as _PersonProvider

from privet.datasets._adult import adult

# Ages in Adult are as of the 1994 Current Population Survey; mid-year is the reference day.
CENSUS_DATE = dt.date(1994, 7, 1)

# Approximate 1990 Census resident population (thousands), used only so that draws look
# like a US sample (many Californians, few Wyomingites).
_STATE_POPULATION_K: dict[str, int] = {
    "AL": 4041, "AK": 550, "AZ": 3665, "AR": 2351, "CA": 29760, "CO": 3294, "CT": 3287,
    "DE": 666, "DC": 607, "FL": 12938, "GA": 6478, "HI": 1108, "ID": 1007, "IL": 11431,
    "IN": 5544, "IA": 2777, "KS": 2478, "KY": 3685, "LA": 4220, "ME": 1228, "MD": 4781,
    "MA": 6016, "MI": 9295, "MN": 4375, "MS": 2573, "MO": 5117, "MT": 799, "NE": 1578,
    "NV": 1202, "NH": 1109, "NJ": 7730, "NM": 1515, "NY": 17990, "NC": 6629, "ND": 639,
    "OH": 10847, "OK": 3146, "OR": 2842, "PA": 11882, "RI": 1003, "SC": 3487, "SD": 696,
    "TN": 4877, "TX": 16987, "UT": 1723, "VT": 563, "VA": 6187, "WA": 4867, "WV": 1793,
    "WI": 4892, "WY": 454,
}  # fmt: skip

_EMAIL_DOMAINS: dict[str, float] = {
    "gmail.com": 30, "yahoo.com": 18, "hotmail.com": 12, "aol.com": 8, "outlook.com": 8,
    "icloud.com": 5, "comcast.net": 5, "msn.com": 3, "att.net": 3, "verizon.net": 3,
    "sbcglobal.net": 2, "earthlink.net": 1,
}  # fmt: skip

# Mixed on purpose: raw data rarely has one phone format.
_PHONE_FORMATS: dict[str, float] = {
    "({a}) {e}-{line}": 0.5,
    "{a}-{e}-{line}": 0.35,
    "+1 {a} {e} {line}": 0.15,
}

# Free-text notes: some leak identifiers (always the row's own), some carry none.
_NOTE_TEMPLATES: tuple[str, ...] = (
    "Called {name} at {phone} about the renewal.",
    "Customer asked to use {email} instead.",
    "Verified SSN {ssn} in person.",
    "Left voicemail for {first} on {phone}.",
    "Statement sent to {email} bounced once; resent.",
    "Mailed replacement card to {street}, {city}, {state} {zip}.",
    "DOB {dob} confirmed over the phone.",
    "{name} moved recently; confirm address at next visit.",
    "SSN on file was mistyped, corrected to {ssn}.",
    "Prefers text messages to {phone} after 5pm.",
    "Requested paper statements.",
    "Account reviewed, no changes needed.",
    "Do not call before 9am.",
    "Follow up next quarter about the new plan.",
)
_NOTE_SHARE = 1 / 3

_MIDDLE_INITIAL_SHARE = 0.6
_SECONDARY_ADDRESS_SHARE = 0.15
_CITIES_PER_THOUSAND_K = 1 / 150  # city pool size per state: population (k) / 150, at least 4
_ZIPS_PER_CITY = 5

# Generated columns, in output order; they come before Adult's columns.
IDENTIFIER_SCHEMA: dict[str, pl.DataType] = {
    "person_id": pl.String(),
    "full_name": pl.String(),
    "email": pl.String(),
    "phone": pl.String(),
    "ssn": pl.String(),
    "date_of_birth": pl.Date(),
    "street_address": pl.String(),
    "city": pl.String(),
    "state": pl.String(),
    "zip": pl.String(),
    "notes": pl.String(),
}


def _stream(seed: int, column: str) -> random.Random:
    return random.Random(f"privet.datasets.raw_people/{seed}/{column}")


def _cumulative(weights: Mapping[str, float], power: float = 1.0) -> tuple[list[str], list[float]]:
    """Population and cumulative weights for ``Random.choices``.

    ``power < 1`` flattens the frequency distribution: Faker's en_US lists are only a few
    hundred first names, and at true frequencies a third of 48,842 names would be repeats.
    """
    return list(weights), list(itertools.accumulate(w**power for w in weights.values()))


def _unique(draw: Callable[[], str], count: int) -> list[str]:
    """Draw ``count`` distinct values; identifiers such as SSNs must not repeat."""
    seen: set[str] = set()
    out: list[str] = []
    for _ in range(count):
        value = draw()
        while value in seen:
            value = draw()
        seen.add(value)
        out.append(value)
    return out


def _names(sexes: Sequence[str], rng: random.Random) -> tuple[list[str], list[str], list[str]]:
    male = _cumulative(_PersonProvider.first_names_male, power=0.5)
    female = _cumulative(_PersonProvider.first_names_female, power=0.5)
    last = _cumulative(_PersonProvider.last_names, power=0.5)
    firsts, lasts, fulls = [], [], []
    for sex in sexes:
        pool, cum = female if sex == "Female" else male
        first = rng.choices(pool, cum_weights=cum)[0]
        surname = rng.choices(last[0], cum_weights=last[1])[0]
        if rng.random() < _MIDDLE_INITIAL_SHARE:
            full = f"{first} {rng.choice(string.ascii_uppercase)}. {surname}"
        else:
            full = f"{first} {surname}"
        firsts.append(first)
        lasts.append(surname)
        fulls.append(full)
    return firsts, lasts, fulls


def _emails(
    firsts: Sequence[str], lasts: Sequence[str], birth_years: Sequence[int], rng: random.Random
) -> list[str]:
    domains, domain_cum = _cumulative(_EMAIL_DOMAINS)
    seen: set[str] = set()
    out = []
    for first, last, year in zip(firsts, lasts, birth_years, strict=True):
        f, s = first.lower(), last.lower()
        local = rng.choice(
            (
                f"{f}.{s}",
                f"{f}{s}",
                f"{f[0]}{s}",
                f"{f}_{s}",
                f"{f}.{s}{year % 100:02d}",
                f"{f}{s[0]}{rng.randrange(1, 100)}",
            )
        )
        domain = rng.choices(domains, cum_weights=domain_cum)[0]
        email = f"{local}@{domain}"
        # Mailbox names are unique per provider, so real tables show the numeric suffixes.
        while email in seen:
            email = f"{local}{rng.randrange(1, 1000)}@{domain}"
        seen.add(email)
        out.append(email)
    return out


def _phone_draw(rng: random.Random) -> Callable[[], str]:
    formats, format_cum = _cumulative(_PHONE_FORMATS)

    def draw() -> str:
        # NANP: area code [2-9][0-8]x, not N11 and not the reserved 37x/96x blocks;
        # exchange [2-9]xx, not N11 and not 555 (directory and fictional use).
        while True:
            area = rng.randrange(200, 1000)
            if (area // 10) % 10 != 9 and area % 100 != 11 and area // 10 not in (37, 96):
                break
        while True:
            exchange = rng.randrange(200, 1000)
            if exchange % 100 != 11 and exchange != 555:
                break
        fmt = rng.choices(formats, cum_weights=format_cum)[0]
        return fmt.format(a=area, e=exchange, line=f"{rng.randrange(10000):04d}")

    return draw


def _ssn_draw(rng: random.Random) -> Callable[[], str]:
    def draw() -> str:
        # SSA rules: area 001-899 except 666, group 01-99, serial 0001-9999.
        area = rng.randrange(1, 899)
        if area >= 666:
            area += 1  # skip 666 without a rejection loop
        return f"{area:03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"

    return draw


def _birth_dates(ages: Sequence[int], rng: random.Random) -> list[dt.date]:
    # Someone aged `age` on CENSUS_DATE was born after CENSUS_DATE - (age + 1) years
    # and on or before CENSUS_DATE - age years.
    out = []
    for age in ages:
        latest = CENSUS_DATE.replace(year=CENSUS_DATE.year - age)
        earliest = CENSUS_DATE.replace(year=CENSUS_DATE.year - age - 1)
        span = (latest - earliest).days
        out.append(latest - dt.timedelta(days=rng.randrange(span)))
    return out


_FIRST_NAMES = (*_PersonProvider.first_names_male, *_PersonProvider.first_names_female)
_LAST_NAMES = tuple(_PersonProvider.last_names)


def _city_name(rng: random.Random) -> str:
    first = rng.choice(_FIRST_NAMES)
    last = rng.choice(_LAST_NAMES)
    prefix = rng.choice(_AddressProvider.city_prefixes)
    suffix = rng.choice(_AddressProvider.city_suffixes)
    # Same four shapes as Faker's en_US city_formats.
    return rng.choice(
        (f"{prefix} {first}{suffix}", f"{prefix} {first}", f"{first}{suffix}", f"{last}{suffix}")
    )


def _city_pool(rng: random.Random) -> dict[str, tuple[list[tuple[str, int]], list[float]]]:
    """Per state: cities with a base ZIP, and Zipf cumulative weights.

    A fixed pool (rather than a fresh city per row) makes people share cities and ZIP
    codes, as in real data, so city/ZIP behave like quasi-identifiers, not unique keys.
    """
    pool = {}
    for state, population in _STATE_POPULATION_K.items():
        low, high = _AddressProvider.states_postcode[state]
        count = max(4, round(population * _CITIES_PER_THOUSAND_K))
        names: set[str] = set()
        while len(names) < count:
            names.add(_city_name(rng))
        cities = [
            (name, rng.randint(low, max(low, high - _ZIPS_PER_CITY))) for name in sorted(names)
        ]
        rng.shuffle(cities)
        cum = list(itertools.accumulate(1 / rank for rank in range(1, count + 1)))
        pool[state] = (cities, cum)
    return pool


def _addresses(
    count: int, rng: random.Random, seed: int
) -> tuple[list[str], list[str], list[str], list[str]]:
    cities = _city_pool(_stream(seed, "city_pool"))
    states, state_cum = _cumulative(_STATE_POPULATION_K)
    street_names = _FIRST_NAMES + _LAST_NAMES
    suffixes = _AddressProvider.street_suffixes
    streets, city_col, state_col, zip_col = [], [], [], []
    for _ in range(count):
        digits = rng.randint(3, 5)  # Faker's building_number_formats: ###, ####, #####
        number = rng.randrange(10 ** (digits - 1), 10**digits)
        street = f"{number} {rng.choice(street_names)} {rng.choice(suffixes)}"
        if rng.random() < _SECONDARY_ADDRESS_SHARE:
            street += f" {rng.choice(('Apt.', 'Suite'))} {rng.randrange(100, 1000)}"
        state = rng.choices(states, cum_weights=state_cum)[0]
        state_cities, city_cum = cities[state]
        city, base_zip = rng.choices(state_cities, cum_weights=city_cum)[0]
        streets.append(street)
        city_col.append(city)
        state_col.append(state)
        zip_col.append(f"{base_zip + rng.randrange(_ZIPS_PER_CITY):05d}")
    return streets, city_col, state_col, zip_col


def _notes(
    columns: Mapping[str, Sequence[object]], count: int, rng: random.Random
) -> list[str | None]:
    out: list[str | None] = []
    for i in range(count):
        if rng.random() >= _NOTE_SHARE:
            out.append(None)
            continue
        template = rng.choice(_NOTE_TEMPLATES)
        out.append(template.format(**{key: values[i] for key, values in columns.items()}))
    return out


def raw_people(n: int | None = None, seed: int = 7) -> pl.DataFrame:
    """Adult rows with synthetic direct identifiers: a table full of personal data.

    Returns the first ``n`` rows of :func:`adult` (all 48,842 if ``n`` is None) with
    these columns in front: ``person_id`` ("P000001", ...), ``full_name`` (matching
    ``sex``), ``email``, ``phone`` (mixed US formats), ``ssn``, ``date_of_birth``
    (consistent with ``age`` on 1994-07-01), ``street_address``, ``city``, ``state``,
    ``zip`` and ``notes`` (free text for about a third of rows, sometimes repeating the
    row's own identifiers). Output is deterministic for a given ``seed``, and
    ``raw_people(n)`` equals ``raw_people().head(n)``.
    """
    if n is not None and n < 0:
        raise ValueError(f"n must be non-negative or None, not {n}")
    base = adult() if n is None else adult().head(n)
    count = base.height
    ages = base["age"].to_list()

    firsts, lasts, full_names = _names(base["sex"].to_list(), _stream(seed, "name"))
    birth_dates = _birth_dates(ages, _stream(seed, "date_of_birth"))
    emails = _emails(firsts, lasts, [d.year for d in birth_dates], _stream(seed, "email"))
    phones = _unique(_phone_draw(_stream(seed, "phone")), count)
    ssns = _unique(_ssn_draw(_stream(seed, "ssn")), count)
    streets, cities, states, zips = _addresses(count, _stream(seed, "address"), seed)
    notes = _notes(
        {
            "name": full_names,
            "first": firsts,
            "email": emails,
            "phone": phones,
            "ssn": ssns,
            "dob": birth_dates,  # str.format renders dates as ISO
            "street": streets,
            "city": cities,
            "state": states,
            "zip": zips,
        },
        count,
        _stream(seed, "notes"),
    )

    identifiers = pl.DataFrame(
        {
            "person_id": [f"P{i:06d}" for i in range(1, count + 1)],
            "full_name": full_names,
            "email": emails,
            "phone": phones,
            "ssn": ssns,
            "date_of_birth": birth_dates,
            "street_address": streets,
            "city": cities,
            "state": states,
            "zip": zips,
            "notes": notes,
        },
        schema=IDENTIFIER_SCHEMA,
    )
    return pl.concat([identifiers, base], how="horizontal")
