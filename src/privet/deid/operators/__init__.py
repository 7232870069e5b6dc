"""De-identification operators: one module each, registered by name.

Add your own with :func:`register_operator` on a subclass of :class:`Operator`.
"""

from privet.deid.operators import (  # noqa: F401 - each import registers its operators
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
from privet.deid.operators._base import (
    REGISTRY,
    Context,
    Operator,
    kind_of,
    make_operator,
    register_operator,
)

__all__ = ["REGISTRY", "Context", "Operator", "kind_of", "make_operator", "register_operator"]
