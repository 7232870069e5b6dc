"""What a scan returns: pydantic models whose ``model_dump()`` is the documented JSON.

Nothing here holds a cell value: shares, counts, names of signals and spans only.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    model_serializer,
)

ROLES = ("direct_identifier", "quasi_identifier", "sensitive", "other")


class Entity(BaseModel):
    """One entity found in a text: its type and where it is (``text[start:end]``)."""

    model_config = ConfigDict(frozen=True)

    type: str = Field(description="Entity type, e.g. EMAIL_ADDRESS or PERSON.")
    start: int = Field(description="Offset of the first character (Python string index).")
    end: int = Field(description="Offset just past the last character.")
    score: float = Field(description="How sure the recognizer is, 0–1.")
    category: str | None = Field(description="fideslang data category, when one applies.")
    recognizer: str = Field(description="Name of the recognizer that found it.")


class EntityShare(BaseModel):
    type: str = Field(description="Entity type found in the column.")
    share: float = Field(description="Share of the scanned non-null values holding it.")


class Evidence(BaseModel):
    """Why a column was classified as it was: signals and shares, never values."""

    signals: list[str] = Field(description="The reasons, most important first.")
    name_hint: str | None = Field(description="What the column name suggests, if anything.")
    matched: dict[str, float] = Field(
        description="Entity type → share of non-null values that the pattern matches."
    )
    validated: dict[str, float] = Field(
        description="Entity type → share that also passes its validator (check digits, ranges)."
    )
    values_scanned: int = Field(description="Non-null values examined.")
    null_share: float = Field(description="Share of null (or empty) cells.")
    unique_share: float = Field(description="Distinct values over non-null values.")
    free_text: bool = Field(description="Whether the column was read as free text.")


class ColumnFinding(BaseModel):
    name: str
    category: str | None = Field(description="fideslang data category key, or None.")
    role: str = Field(description="direct_identifier, quasi_identifier, sensitive or other.")
    confidence: float = Field(description="0–1: how sure the classification is.")
    evidence: Evidence
    entities: list[EntityShare]
    examples: list[str] | None = Field(
        default=None,
        description="Up to three masked values that show why (only when asked for; never raw).",
    )

    @model_serializer(mode="wrap")
    def _without_unasked_examples(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _drop_none(handler(self), "examples")


class QuasiIdentifierSet(BaseModel):
    columns: list[str]
    unique_share: float = Field(
        description="Share of rows whose combination of these columns' values is unique."
    )


class ScanReport(BaseModel):
    source: str | None = Field(
        default=None,
        exclude=True,
        description="What was scanned: a file's name or a dataset version (not in the JSON).",
    )
    rows: int = Field(description="Rows scanned.")
    columns: list[ColumnFinding]
    quasi_identifier_sets: list[QuasiIdentifierSet]
    # Rows of the whole table when a sample was scanned (not part of the JSON).
    _total_rows: int | None = PrivateAttr(default=None)

    @property
    def total_rows(self) -> int:
        return self._total_rows if self._total_rows is not None else self.rows

    def column(self, name: str) -> ColumnFinding:
        for finding in self.columns:
            if finding.name == name:
                return finding
        raise KeyError(name)

    def with_role(self, role: str) -> list[str]:
        return [c.name for c in self.columns if c.role == role]

    @property
    def direct_identifiers(self) -> list[str]:
        return self.with_role("direct_identifier")

    @property
    def quasi_identifiers(self) -> list[str]:
        """Columns to treat as quasi-identifiers by default (for k-anonymity and risk)."""
        return self.with_role("quasi_identifier")


class TextEntity(Entity):
    """An entity in a text document, also located by line and column."""

    recognizer: str = Field(exclude=True, description="Name of the recognizer that found it.")
    line: int = Field(description="Line of its first character, from 1.")
    column: int = Field(description="Column of its first character in that line, from 1.")
    example: str | None = Field(
        default=None, description="The entity masked (only when asked for; never raw)."
    )

    @model_serializer(mode="wrap")
    def _without_unasked_example(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _drop_none(handler(self), "example")


class TextScan(BaseModel):
    """What a scan of one text document found: counts and located spans, never a value."""

    source: str | None = Field(
        default=None, exclude=True, description="The file's name (not in the JSON)."
    )
    characters: int = Field(description="Characters in the text.")
    lines: int = Field(description="Lines in the text (line breaks plus one).")
    counts: dict[str, int] = Field(description="Entity type → how many, sorted by type.")
    entities: list[TextEntity] = Field(description="The entities, sorted by position.")


def _drop_none(data: dict[str, Any], key: str) -> dict[str, Any]:
    """An optional part the caller did not ask for is absent from the JSON, not null."""
    if data.get(key, 0) is None:
        del data[key]
    return data
