"""Read-only views of the catalog, and dataset references ``NAME`` / ``NAME@VERSION``."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from privet.errors import Destroyed, InvalidInput, NotFound
from privet.schema import Dataset, Version
from privet.timestamps import UtcDatetime

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_PURPOSE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def check_name(name: str) -> str:
    """Dataset names become parts of references and paths: letters, digits, ``_ . -`` only."""
    if not _NAME.match(name) or ".." in name:
        raise InvalidInput(
            f"invalid dataset name {name[:60]!r}: use letters, digits, '_', '.' and '-' "
            "(no '/' or '..'), starting with a letter or digit"
        )
    return name


# privet's own processing (scans, risk measurement, de-identification into the catalog):
# its results are findings or governed derived datasets, never raw data handed to a person.
INTERNAL_PURPOSES = ("privet:assessment",)

# Columns privet adds for its own use. A derived dataset (e.g. a protected copy, whose direct
# identifiers are gone) keeps its rows linked to their people in SUBJECT_LINK, a keyed
# pseudonym of the source's subject id: DP on the copy then still bounds each person's rows
# (a person with 200 rows would otherwise be protected at 200ε). The broker serves it only to
# DP releases; the catalog's views of a version never list it.
RESERVED_PREFIX = "__privet_"
SUBJECT_LINK = "__privet_subject__"


def is_reserved(column: str) -> bool:
    return column.startswith(RESERVED_PREFIX)


def check_purpose(purpose: str, *, declaring: bool = False) -> str:
    if purpose in INTERNAL_PURPOSES and not declaring:
        return purpose
    if purpose.startswith("privet:"):
        raise InvalidInput("purposes starting with 'privet:' are reserved for privet itself")
    if not _PURPOSE.match(purpose):
        raise InvalidInput(
            f"invalid purpose {purpose[:60]!r}: use letters, digits, '_', '.', ':' and '-'"
        )
    return purpose


class ColumnInfo(BaseModel):
    name: str
    dtype: str
    category: str | None
    role: str
    source: str = "declared"
    confidence: float | None = None
    # What a text column holds when its values are kept as given: "integer" (digit strings
    # such as codes with leading zeros), "number", "boolean" or "date"; None otherwise.
    meaning: str | None = None


class VersionInfo(BaseModel):
    dataset: str
    number: int
    id: str
    kind: str
    rows: int
    content_sha256: str
    stored_bytes: int
    created_at: UtcDatetime
    created_by: str
    columns: list[ColumnInfo]
    classification: str = Field(description="the dataset's risk level once this version was added")
    shredded_at: UtcDatetime | None = Field(
        None, description="when retention or erasure destroyed it (its key is gone)"
    )
    shred_reason: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.number}"


class DatasetInfo(BaseModel):
    name: str
    id: str
    owner: str
    purposes: list[str]
    legal_basis: str | None
    retention_days: int | None
    subject_id_column: str | None
    classification: str
    derived_from: str | None
    created_at: UtcDatetime
    created_by: str
    versions: list[VersionInfo]

    def summary(self) -> DatasetSummary:
        return DatasetSummary(
            name=self.name,
            owner=self.owner,
            classification=self.classification,
            purposes=self.purposes,
            versions=len(self.versions),
            rows=self.versions[-1].rows if self.versions else None,
            derived_from=self.derived_from,
        )


class DatasetSummary(BaseModel):
    """One line of a dataset listing: what the CLI's table and the HTTP list show."""

    name: str
    owner: str
    classification: str
    purposes: list[str]
    versions: int = Field(description="how many versions the dataset has")
    rows: int | None = Field(description="rows in the newest version")
    derived_from: str | None


def version_info(dataset: Dataset, version: Version) -> VersionInfo:
    return VersionInfo(
        dataset=dataset.name,
        classification=dataset.classification,
        number=version.number,
        id=version.id,
        kind=version.kind,
        rows=version.row_count,
        content_sha256=version.content_sha256,
        stored_bytes=version.stored_bytes,
        created_at=version.created_at,
        created_by=version.created_by,
        shredded_at=version.shredded_at,
        shred_reason=version.shred_reason,
        columns=[
            ColumnInfo(
                name=c.name,
                dtype=c.dtype,
                category=c.category,
                role=c.role,
                source=c.source,
                confidence=c.confidence,
                meaning=c.meaning,
            )
            for c in version.columns
            if not is_reserved(c.name)
        ],
    )


def dataset_info(dataset: Dataset) -> DatasetInfo:
    return DatasetInfo(
        name=dataset.name,
        id=dataset.id,
        owner=dataset.owner,
        purposes=[p.purpose for p in dataset.purposes],
        legal_basis=dataset.legal_basis,
        retention_days=dataset.retention_days,
        subject_id_column=dataset.subject_id_column,
        classification=dataset.classification,
        derived_from=dataset.derived_from,
        created_at=dataset.created_at,
        created_by=dataset.created_by,
        versions=[version_info(dataset, v) for v in dataset.versions],
    )


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``NAME`` (newest version) or ``NAME@N``."""
    name, _, version = ref.partition("@")
    check_name(name)
    if not version or version == "latest":
        return name, None
    if not version.isdigit() or int(version) < 1:
        raise InvalidInput(f"invalid version {version[:20]!r} in {name}@…: use NAME@1, NAME@2, …")
    return name, int(version)


def find_dataset(session: Session, name: str) -> Dataset:
    dataset = session.scalars(select(Dataset).where(Dataset.name == name)).first()
    if dataset is None:
        raise NotFound(f"no dataset named {name!r} in this workspace")
    return dataset


def resolve(session: Session, ref: str) -> tuple[Dataset, Version]:
    name, number = parse_ref(ref)
    dataset = find_dataset(session, name)
    if not dataset.versions:
        raise NotFound(f"dataset {name!r} has no versions")
    live = [v for v in dataset.versions if v.shredded_at is None]
    if number is None:
        if not live:
            raise Destroyed(f"every version of dataset {name!r} was destroyed (retention)")
        return dataset, live[-1]
    for version in dataset.versions:
        if version.number == number:
            if version.shredded_at is not None:
                raise Destroyed(
                    f"version {number} of dataset {name!r} was destroyed on "
                    f"{version.shredded_at:%Y-%m-%d} ({version.shred_reason or 'retention'})"
                )
            return dataset, version
    raise NotFound(f"dataset {name!r} has no version {number} (it has 1–{len(dataset.versions)})")
