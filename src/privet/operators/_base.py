"""The operator interface and its registry (an abstract base, a registry, a decorator).

An operator rewrites one column of a frame. It never puts a cell value into an exception or
a log line: messages name the column and what to fix, nothing else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, TypeVar, overload

import polars as pl
from pydantic import BaseModel, ConfigDict, ValidationError

from privet.errors import AlreadyExists, InvalidInput

KINDS = ("string", "numeric", "temporal", "boolean", "other")


def kind_of(dtype: pl.DataType | str) -> str:
    """The coarse type an operator cares about, from a Polars dtype or its catalog name."""
    name = str(dtype)
    if name.startswith(("Int", "UInt", "Float", "Decimal")):
        return "numeric"
    if name.startswith(("Date", "Datetime", "Time", "Duration")):
        return "temporal"
    if name.startswith(("String", "Utf8", "Categorical", "Enum")):
        return "string"
    if name.startswith("Boolean"):
        return "boolean"
    return "other"


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KeyedPrf(Protocol):
    """The workspace's keyed PRF (Tink's ``prf.Prf``)."""

    def compute(self, input_data: bytes, output_length: int, /) -> bytes: ...


class DeterministicAead(Protocol):
    """The workspace's deterministic AEAD (Tink's ``daead.DeterministicAead``)."""

    def encrypt_deterministically(self, plaintext: bytes, associated_data: bytes, /) -> bytes: ...

    def decrypt_deterministically(self, ciphertext: bytes, associated_data: bytes, /) -> bytes: ...


class ColumnHierarchy(Protocol):
    """A generalization hierarchy bound to a column (built by :mod:`privet.deid`)."""

    @property
    def height(self) -> int: ...

    def expr(self, level: int, /) -> pl.Expr: ...


class TextSpan(Protocol):
    """Where a scanner found an entity in a text: ``text[start:end]`` is of ``type``."""

    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...

    @property
    def type(self) -> str: ...


TextScanner = Callable[[str], Sequence[TextSpan]]


@dataclass
class Context:
    """What an operator may use besides the column: keys, the subject column, a text scanner.

    ``prf`` is the workspace's keyed PRF (pseudonyms, date shifts) and ``daead`` its
    deterministic AEAD (tokens); both are None outside a workspace, and the operators that
    need them refuse to run without them.
    """

    prf: KeyedPrf | None = None
    daead: DeterministicAead | None = None
    subject: str | None = None
    hierarchies: Mapping[str, ColumnHierarchy] = field(default_factory=dict)
    scan_text: TextScanner | None = None


class Operator(ABC):
    """Base of every de-identification operator; subclasses are registered by name."""

    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams
    accepts: ClassVar[tuple[str, ...]] = KINDS
    needs_keys: ClassVar[bool] = False
    # The catalog entry of the output column: None keeps the source's category and role.
    output_role: ClassVar[tuple[str | None, str] | None] = None

    def __init__(self, params: BaseModel) -> None:
        self.params = params

    def check(self, column: str, dtype: pl.DataType | str) -> None:
        """Refuse a column whose type the operator cannot handle (before any data moves)."""
        kind = kind_of(dtype)
        if kind not in self.accepts:
            raise InvalidInput(
                f"operator {self.name!r} cannot be applied to column {column!r} ({kind}); "
                f"it takes {' or '.join(self.accepts)} columns"
            )

    @abstractmethod
    def apply(self, frame: pl.DataFrame, column: str, context: Context) -> pl.DataFrame:
        """The frame with ``column`` rewritten (or removed, or rows removed)."""


OperatorType = TypeVar("OperatorType", bound=type[Operator])
REGISTRY: dict[str, type[Operator]] = {}


@overload
def register_operator(cls: OperatorType, *, force: bool = False) -> OperatorType: ...


@overload
def register_operator(
    cls: None = None, *, force: bool = False
) -> Callable[[OperatorType], OperatorType]: ...


def register_operator(
    cls: OperatorType | None = None, *, force: bool = False
) -> OperatorType | Callable[[OperatorType], OperatorType]:
    """Class decorator adding an operator to the registry; a taken name needs ``force``."""

    def add(operator: OperatorType) -> OperatorType:
        name = operator.name
        if name in REGISTRY and not force and REGISTRY[name] is not operator:
            raise AlreadyExists(
                f"an operator named {name!r} is already registered; choose another name, or "
                "pass force=True to replace it"
            )
        REGISTRY[name] = operator
        return operator

    return add if cls is None else add(cls)


def make_operator(name: str, params: Mapping[str, object] | None = None) -> Operator:
    """An operator from its registered name and parameters, validated."""
    try:
        cls = REGISTRY[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, REGISTRY, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InvalidInput(
            f"unknown operator {name!r}{hint}; operators: {', '.join(sorted(REGISTRY))}"
        ) from None
    try:
        return cls(cls.Params.model_validate(dict(params or {})))
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "parameters"
        # The pydantic message, never the offending input (it could be a copied value).
        raise InvalidInput(f"operator {name!r}: {where}: {first['msg']}") from None


def all_dates(values: pl.Series) -> bool:
    """Whether a text column holds only ISO dates or timestamps (and at least one)."""
    if values.dtype != pl.String:
        return False
    present = values.drop_nulls()
    if present.len() == 0:
        return False
    if not present.str.contains(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?$").all():
        return False
    try:
        return present.str.to_datetime(strict=False).null_count() == 0
    except pl.exceptions.PolarsError:
        return False
