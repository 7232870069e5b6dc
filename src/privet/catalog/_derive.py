"""Derived datasets: a protected, filtered or synthetic table made from a stored version.

The result is a new dataset that inherits its source's owner, purposes, legal basis and
retention (it holds the same people, for the same reasons), points at the root source for
the privacy ledger, and is linked to the source version in lineage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import polars as pl
from sqlalchemy import select

from privet import lineage, tables
from privet.catalog._info import SUBJECT_LINK, VersionInfo, check_name, is_reserved, resolve
from privet.catalog._store import NewDataset, ParquetFile, store_version
from privet.errors import AlreadyExists, InvalidInput
from privet.schema import Column, Dataset
from privet.taxonomy import Level, Role, check_category, level_for

if TYPE_CHECKING:
    from privet.core import Core


def derive(
    core: Core,
    source_ref: str,
    frame: pl.DataFrame | ParquetFile,
    *,
    name: str,
    kind: str,
    actor: str,
    facts: Mapping[str, Any] | None = None,
    columns: Mapping[str, tuple[str | None, str]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> VersionInfo:
    """Store ``frame``, made from ``source_ref``, as dataset ``name`` (kind e.g. "protected");
    a ``ParquetFile`` (a result larger than memory) is read from disk, never whole.

    Column categories and roles carry over from the source by name unless ``columns`` gives
    ``{column: (category, role)}``; facts (counts, parameters, never values) go to lineage.
    A frame holding ``SUBJECT_LINK`` (the keyed link to the source's people) makes it the
    new dataset's subject id, so that DP on it bounds each person's rows.
    """
    check_name(name)
    schema = frame.schema if isinstance(frame, pl.DataFrame) else pl.read_parquet_schema(frame.path)
    unknown = [c for c in schema if is_reserved(c) and c != SUBJECT_LINK]
    if unknown:
        raise InvalidInput(f"column {unknown[0][:80]!r} has a name reserved for privet")
    with core.reading() as session:
        source, version = resolve(session, source_ref)
        root = source.derived_from or source.id
        existing = session.scalars(select(Dataset).where(Dataset.name == name)).first()
        if existing is not None and existing.derived_from != root:
            raise AlreadyExists(f"dataset {name!r} already exists and was not derived from it")
        carried = {c.name: (c.category, c.role) for c in version.columns}
        meanings = {c.name: c.meaning for c in version.columns if c.meaning}
        new = None
        if existing is None:
            subject = SUBJECT_LINK if SUBJECT_LINK in schema else source.subject_id_column
            new = NewDataset(
                name=name,
                owner=source.owner,
                purposes=tuple(p.purpose for p in source.purposes),
                legal_basis=source.legal_basis,
                retention_days=source.retention_days,
                subject_id=subject if subject in schema else None,
                derived_from=root,
            )
        source_version = lineage.version_ref(version.id)
    overrides = dict(columns or {})
    specs = []
    for position, (column, dtype) in enumerate(schema.items()):
        category, role = overrides.get(column) or carried.get(column) or (None, Role.OTHER)
        if column == SUBJECT_LINK:
            category, role = None, Role.DIRECT_IDENTIFIER  # it singles out a person's rows
        if category:
            check_category(category)
        specs.append(
            Column(
                position=position,
                name=column,
                dtype=str(dtype),
                category=category,
                role=str(Role(role)),
                source="declared" if column in overrides else "derived",
                meaning=_meaning(frame, column, meanings.get(column)),
            )
        )
    level = level_for([c.category for c in specs]) or Level.CONFIDENTIAL
    return store_version(
        core,
        name=name,
        frame=frame,
        columns=specs,
        level=level.value,
        kind=kind,
        actor=actor,
        source=source_version,
        facts=dict(facts or {}),
        new=new,
        progress=progress or (lambda _stage: None),
    )


def _meaning(frame: pl.DataFrame | ParquetFile, column: str, carried: str | None) -> str | None:
    """The source column's meaning, while the derived values still have it."""
    if carried is None:
        return None
    if isinstance(frame, pl.DataFrame):
        fits = tables.fits_meaning(frame.get_column(column), carried)
    else:
        fits = tables.fits_meaning_lazily(pl.scan_parquet(frame.path), frame.rows, column, carried)
    return carried if fits else None
