"""Example data for trying privet out.

``adult()`` loads the bundled UCI Adult ("Census Income") extract: 48,842 people
described by quasi-identifiers (age, race, sex, native country, ...) and sensitive
attributes (income, capital gains). ``raw_people()`` joins those rows with synthetic
names, emails, phone numbers, SSNs, addresses and free-text notes, giving the kind of
raw personal-data table that privet is meant to govern. ``adult_with_identifiers()`` adds
three generated columns that single people out and predict nothing (for ``privet minimize``).
See ``adult/README.md`` for the data's source and licence (CC BY 4.0).
"""

from privet.datasets._adult import PLANTED, adult, adult_with_identifiers
from privet.datasets._people import raw_people

__all__ = ["PLANTED", "adult", "adult_with_identifiers", "raw_people"]
