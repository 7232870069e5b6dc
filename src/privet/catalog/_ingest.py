"""Ingest: read a file, classify its columns, encrypt it, register an immutable version."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
from sqlalchemy import select

from privet import lineage, tables
from privet.catalog._info import (
    RESERVED_PREFIX,
    VersionInfo,
    check_name,
    check_purpose,
    is_reserved,
)
from privet.catalog._store import NewDataset, ParquetFile, store_version
from privet.errors import AlreadyExists, InvalidInput
from privet.schema import Column, Dataset
from privet.taxonomy import Level, Role, check_category, level_for

if TYPE_CHECKING:
    from privet.core import Core

# GDPR Art. 6(1)(a)–(f).
LEGAL_BASES = (
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interests",
)

Progress = Callable[[str], None]


def ingest(
    core: Core,
    path: Path,
    *,
    name: str,
    owner: str,
    purposes: Sequence[str],
    actor: str,
    legal_basis: str | None = None,
    retention_days: int | None = None,
    subject_id: str | None = None,
    categories: Mapping[str, str] | None = None,
    roles: Mapping[str, str] | None = None,
    classification: str | None = None,
    new_version: bool = False,
    scan: bool = True,
    progress: Progress | None = None,
) -> VersionInfo:
    """Register ``path`` as dataset ``name`` (or, with ``new_version``, its next version).

    With ``scan`` (the default), columns not given a category or role are classified by
    discovery (on a sample of rows) and stored with ``source="discovered"``; a column the
    owner corrected in an earlier version keeps the correction.
    """
    step = progress or (lambda _stage: None)
    check_name(name)
    categories = dict(categories or {})
    roles = dict(roles or {})
    with core.reading() as session:
        existing = session.scalars(select(Dataset).where(Dataset.name == name)).first()
        if existing is not None and not new_version:
            raise AlreadyExists(
                f"dataset {name!r} already exists; add a version to it with `new_version`",
                parameter="new_version",
            )
        corrected = _corrections(existing)
    new = None
    if existing is None:
        _check_governance(owner, purposes, legal_basis, retention_days)
        new = NewDataset(name, owner, tuple(purposes), legal_basis, retention_days, subject_id)
    for key in categories.values():
        check_category(key)
    parsed_roles = {column: _role(value) for column, value in roles.items()}
    with core.reading() as session:
        core.vault.workspace_aead(session)  # a missing master key fails before any work

    step("reading")
    fmt = tables.file_format(path)
    with ExitStack() as stack:
        if tables.streams(tables.file_memory(path)):
            # Larger than memory: staged as Parquet in a private file, encrypted from there.
            staged_file = stack.enter_context(core.private_file("ingest"))
            staged = tables.stage_table(path, staged_file.path, sample_rows=SCAN_SAMPLE)
            shape, sample = pl.DataFrame(schema=staged.schema), staged.sample
            table: pl.DataFrame | ParquetFile = ParquetFile(
                staged_file.path, staged.rows, len(staged.schema)
            )
            meanings, sha256, size = staged.meanings, staged.sha256, staged.size
        else:
            source = tables.read_table(path)
            shape = sample = table = source.frame
            meanings, sha256, size = tables.text_meanings(source.frame), source.sha256, source.size
        reserved = [c for c in shape.columns if is_reserved(c)]
        if reserved:
            raise InvalidInput(
                f"{path.name} has a column named {reserved[0][:80]!r}; names starting with "
                f"{RESERVED_PREFIX!r} are reserved for privet, rename it"
            )
        for column in [*categories, *parsed_roles, *([subject_id] if subject_id else [])]:
            if column not in shape.columns:
                raise InvalidInput(f"{path.name} has no column named {column[:80]!r}")
        discovered = _discover(sample, categories, parsed_roles, step) if scan else {}
        columns = _columns(shape, categories, parsed_roles, discovered, corrected)
        for entry in columns:
            entry.meaning = meanings.get(entry.name)
        return store_version(
            core,
            name=name,
            frame=table,
            columns=columns,
            level=_classification(columns, classification),
            kind="ingest",
            actor=actor,
            source=lineage.file_ref(sha256),
            facts={"format": fmt, "bytes": size},
            new=new,
            progress=step,
            source_sha256=sha256,
        )


def _check_governance(
    owner: str, purposes: Sequence[str], legal_basis: str | None, retention_days: int | None
) -> None:
    if not owner.strip():
        raise InvalidInput("a dataset needs an owner: give `owner`", parameter="owner")
    if not purposes:
        raise InvalidInput(
            "a dataset needs at least one purpose it was collected for: give `purposes`",
            parameter="purposes",
        )
    for purpose in purposes:
        check_purpose(purpose, declaring=True)
    if legal_basis is not None and legal_basis not in LEGAL_BASES:
        raise InvalidInput(
            f"unknown legal basis {legal_basis[:40]!r}; use one of {', '.join(LEGAL_BASES)}"
        )
    if retention_days is not None and retention_days <= 0:
        raise InvalidInput(
            "retention_days must be a positive number of days", parameter="retention_days"
        )


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(
            f"unknown role {value[:40]!r}; use one of {', '.join(r.value for r in Role)}"
        ) from None


# Rows discovery reads at ingest: enough for stable shares, fast on any file size.
SCAN_SAMPLE = 10_000


def _corrections(dataset: Dataset | None) -> dict[str, tuple[str | None, str, float | None]]:
    """The owner's corrections on the latest version: they win over later scans."""
    if dataset is None or not dataset.versions:
        return {}
    return {
        c.name: (c.category, c.role, c.confidence)
        for c in dataset.versions[-1].columns
        if c.source == "corrected"
    }


def _discover(
    frame: pl.DataFrame,
    categories: Mapping[str, str],
    roles: Mapping[str, Role],
    progress: Progress,
) -> dict[str, tuple[str | None, str, float]]:
    from privet.discover import scan_frame

    progress("discovering personal data")
    undeclared = [c for c in frame.columns if c not in categories and c not in roles]
    if not undeclared:
        return {}
    report = scan_frame(frame.select(undeclared), sample=SCAN_SAMPLE)
    return {f.name: (f.category, f.role, f.confidence) for f in report.columns}


def _columns(
    frame: pl.DataFrame,
    categories: Mapping[str, str],
    roles: Mapping[str, Role],
    discovered: Mapping[str, tuple[str | None, str, float]] | None = None,
    corrected: Mapping[str, tuple[str | None, str, float | None]] | None = None,
) -> list[Column]:
    """Declared flags win, then the owner's earlier corrections, then discovery."""
    discovered, corrected = discovered or {}, corrected or {}
    columns = []
    for position, (column, dtype) in enumerate(frame.schema.items()):
        if column not in categories and column not in roles:
            found = corrected.get(column) or discovered.get(column)
            if found is not None:
                columns.append(
                    Column(
                        position=position,
                        name=column,
                        dtype=str(dtype),
                        category=found[0],
                        role=str(Role(found[1])),
                        source="corrected" if column in corrected else "discovered",
                        confidence=found[2],
                    )
                )
                continue
        category = categories.get(column)
        default = check_category(category)[0] if category else Role.OTHER
        columns.append(
            Column(
                position=position,
                name=column,
                dtype=str(dtype),
                category=category,
                role=str(roles.get(column, default)),
            )
        )
    return columns


def _classification(columns: Sequence[Column], requested: str | None) -> str:
    """Risk-based level: the declared categories set a floor that a flag may only raise.

    With no category declared the content is unknown, so it is treated as personal data
    (``confidential``) unless the owner says otherwise.
    """
    floor = level_for([c.category for c in columns])
    if requested is None:
        return (floor or Level.CONFIDENTIAL).value
    try:
        wanted = Level(requested)
    except ValueError:
        raise InvalidInput(
            f"unknown classification {requested[:40]!r}; use one of "
            f"{', '.join(lv.value for lv in Level)}"
        ) from None
    if floor is not None and wanted.rank < floor.rank:
        worst = max(
            (c for c in columns if c.category),
            key=lambda c: check_category(c.category or "")[1].rank,
        )
        raise InvalidInput(
            f"classification {wanted.value} is too low: column {worst.name[:80]!r} "
            f"({worst.category}) requires at least {floor.value}"
        )
    return wanted.value


def register_schema(
    core: Core,
    *,
    name: str,
    frame: pl.DataFrame,
    owner: str,
    purposes: Sequence[str],
    actor: str,
    source: str,
    facts: Mapping[str, object],
) -> VersionInfo:
    """Register a table of no rows: a schema others hold the data of (a federation's common
    data model, which anchors the coordinator's model in its catalog and key store)."""
    check_name(name)
    if frame.height:
        raise InvalidInput("a schema-only dataset holds no rows")
    _check_governance(owner, purposes, None, None)
    new = NewDataset(name, owner, tuple(purposes), None, None, None)
    return store_version(
        core,
        name=name,
        frame=frame,
        columns=_columns(frame, {}, {}),
        level=Level.INTERNAL.value,  # no rows: nothing personal is held here
        kind="schema",
        actor=actor,
        source=source,
        facts=facts,
        new=new,
        progress=lambda _s: None,
    )
