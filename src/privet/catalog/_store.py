"""Storing a version: encrypt it, then register it with its audit entry and lineage edge.

The encrypted object is written (atomically) before the catalog transaction; the version,
its audit entry and its lineage edge then commit together. A crash in between leaves only
an unreferenced object, which ``privet gc`` removes; nothing half-made is ever visible.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import polars as pl
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as DbIntegrityError

from privet import auditlog, lineage, tables
from privet.catalog._info import VersionInfo, version_info
from privet.core import stored_object
from privet.errors import AlreadyExists
from privet.schema import Column, Dataset, DatasetPurpose, Version
from privet.taxonomy import Level

if TYPE_CHECKING:
    from privet.core import Core


@dataclass(frozen=True)
class NewDataset:
    """The governance facts of a dataset that the stored version creates."""

    name: str
    owner: str
    purposes: tuple[str, ...]
    legal_basis: str | None
    retention_days: int | None
    subject_id: str | None
    # The source dataset whose people this one holds: derived data shares its privacy ledger.
    derived_from: str | None = None


@dataclass(frozen=True)
class ParquetFile:
    """A version's plaintext already written as Parquet: a table larger than memory."""

    path: Path
    rows: int
    columns: int


def store_version(
    core: Core,
    *,
    name: str,
    frame: pl.DataFrame | ParquetFile,
    columns: Sequence[Column],
    level: str,
    kind: str,
    actor: str,
    source: str,
    facts: Mapping[str, object],
    new: NewDataset | None,
    progress: Callable[[str], None],
    source_sha256: str | None = None,
) -> VersionInfo:
    """Add ``frame`` as the next version of ``name`` (creating the dataset when ``new``); a
    ``ParquetFile`` (a table larger than memory) is encrypted from disk a chunk at a time.

    ``source`` is the lineage ref it was made from; ``facts`` (counts, parameters, never
    values) go to lineage, and ``source_sha256`` (an ingested file's hash) to the audit
    entry. The new object is safe from garbage collection until the version commits (see
    :func:`privet.core.stored_object`).
    """
    with core.reading() as session:
        existing = session.scalars(select(Dataset).where(Dataset.name == name)).first()
        dataset_id = existing.id if existing else uuid.uuid4().hex

    progress("encrypting")
    version_id = uuid.uuid4().hex
    # Encrypted before the catalog's write lock is taken: a large file must not block writers.
    object_key = f"versions/{dataset_id}/{version_id}.parquet.tink"
    with ExitStack() as stack:
        digest = hashlib.sha256()
        if isinstance(frame, ParquetFile):
            rows, width, plaintext_bytes = frame.rows, frame.columns, frame.path.stat().st_size
            plaintext: bytes | BinaryIO = stack.enter_context(open(frame.path, "rb"))
        else:
            plaintext = tables.to_parquet_bytes(frame)
            rows, width, plaintext_bytes = frame.height, frame.width, len(plaintext)
            digest.update(plaintext)
        stored = stack.enter_context(
            stored_object(
                core,
                object_key,
                plaintext,
                dataset_id=dataset_id,
                context=version_id,
                digest=digest,
            )
        )
        content_sha256 = digest.hexdigest()
        session = stack.enter_context(core.session())
        progress("registering")
        try:
            now = core.now()
            dataset = session.scalars(select(Dataset).where(Dataset.name == name)).first()
            if (dataset is None) != (existing is None) or (dataset is None and new is None):
                raise DbIntegrityError("dataset changed meanwhile", None, Exception())
            if dataset is None:
                assert new is not None
                dataset = Dataset(
                    id=dataset_id,
                    name=name,
                    owner=new.owner,
                    legal_basis=new.legal_basis,
                    retention_days=new.retention_days,
                    subject_id_column=new.subject_id,
                    classification=level,
                    derived_from=new.derived_from,
                    created_at=now,
                    created_by=actor,
                    purposes=[DatasetPurpose(purpose=p) for p in sorted(set(new.purposes))],
                )
                session.add(dataset)
            else:
                # A change made behind privet's back must not be attested with this version.
                auditlog.check(session, ("dataset", dataset.id))
                if Level(level).rank > Level(dataset.classification).rank:
                    dataset.classification = level
            stored.register(session)
            # Shredded versions keep their rows (tombstones), so the count is the last number.
            number = len(dataset.versions) + 1
            version = Version(
                id=version_id,
                number=number,
                kind=kind,
                row_count=rows,
                content_sha256=content_sha256,
                plaintext_bytes=plaintext_bytes,
                stored_bytes=stored.size,
                object_key=object_key,
                key_id=stored.key_id,
                created_at=now,
                created_by=actor,
                columns=list(columns),
            )
            dataset.versions.append(version)
            session.flush()
            entry = auditlog.events.dataset_version(
                kind=kind,
                ts=now,
                actor=actor,
                dataset=dataset_id,
                version=version_id,
                number=number,
                rows=rows,
                columns=width,
                content_sha256=content_sha256,
                classification=dataset.classification,
                source=source,
                source_sha256=source_sha256,
                governance=auditlog.attest(
                    session, ("dataset", dataset_id), ("version", version_id)
                ),
            )
            (index,) = auditlog.append(session, [entry])
            lineage.record(
                session,
                source,
                lineage.version_ref(version_id),
                kind,
                {**facts, "rows": rows},
                index,
                now,
            )
            session.commit()
        except DbIntegrityError:
            session.rollback()
            raise AlreadyExists(f"dataset {name!r} was created by someone else meanwhile") from None
        except BaseException:
            session.rollback()
            raise
        return version_info(dataset, version)
