"""De-identification operators: one module each, registered by name.

Add your own with :func:`register_operator` on a subclass of :class:`Operator`.
"""

from privet.operators import (  # noqa: F401 - each import registers its operators
    _coding,
    _dateshift,
    _drop,
    _generalize,
    _mask,
    _microaggregate,
    _pseudonym,
    _redact,
    _suppress,
    _suppress_records,
    _text,
    _token,
)
from privet.operators._base import (
    REGISTRY,
    Context,
    Operator,
    all_dates,
    kind_of,
    make_operator,
    register_operator,
)
from privet.operators._text import scanner as text_scanner
from privet.operators._token import open_token
from privet.tables import unique_map

__all__ = [
    "REGISTRY",
    "Context",
    "Operator",
    "all_dates",
    "kind_of",
    "make_operator",
    "open_token",
    "register_operator",
    "text_scanner",
    "unique_map",
]
