"""privet's built-in recognizers, registered in the default registry once, on first import.

The pattern recognizers are data (``recognizers.yaml``, the format of a user's recognizer
file); the country, street-address and person-name recognizers are code built from the
lexicons (:mod:`._address`, :mod:`._names`). Registration order is the order scans use.
"""

from __future__ import annotations

from privet.discover._address import country_recognizer, street_address_recognizer
from privet.discover._config import builtin_recognizers
from privet.discover._names import PersonNameRecognizer
from privet.discover._recognizers import register_recognizer

for _recognizer in (
    *builtin_recognizers(),
    country_recognizer(),
    street_address_recognizer(),
    PersonNameRecognizer(),
):
    register_recognizer(_recognizer)
