"""Encrypted objects and the catalog rows that refer to them, written, replaced and shredded.

Every object (a version's Parquet, a model's weights) is encrypted under a data key of its
own, kept in its dataset's keyset. Replacing an object's content (re-encryption, erasure of a
subject) writes a new object under a new key, repoints the row and destroys the old key in
one transaction; shredding destroys the key and keeps the row as a tombstone. Once the key
is gone, the old ciphertext is noise wherever a copy of it survives; the file is deleted
after the commit (or by garbage collection, if a crash comes first).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from privet import auditlog
from privet.errors import IntegrityError
from privet.schema import DpModel, Version
from privet.vault import new_data_key, primary_key_id

if TYPE_CHECKING:
    import tink

    from privet.core._core import Core

# The two kinds of row that point at an encrypted object.
Row = Version | DpModel


class Conflict(IntegrityError):
    """The row's object changed while a replacement was being prepared: read it again."""


@dataclass
class StoredObject:
    """An object just written: its size and the id of its own data key.

    The body of :func:`stored_object` must call :meth:`register` in the session that commits
    the row naming the object: that puts the key in the dataset's keyset.
    """

    size: int
    key_id: int
    dataset_id: str
    _key: tink.KeysetHandle
    _core: Core

    def register(self, session: Session) -> None:
        self._core.vault.add_data_key(session, self.dataset_id, self._key)


@contextmanager
def stored_object(
    core: Core,
    key: str,
    plaintext: bytes | BinaryIO,
    *,
    dataset_id: str,
    context: str,
    digest: Any = None,
) -> Iterator[StoredObject]:
    """Encrypt ``plaintext`` under a new data key and put it at ``key``.

    ``plaintext`` may be a readable file (a version larger than memory), encrypted a chunk at
    a time; ``digest`` (a hashlib object) is then fed its bytes on the way.

    The body inserts (and commits) the row that refers to the object, calling
    ``register(session)`` before the commit. If it raises, the object is deleted: a row is
    never left pointing at nothing, nor an object at no row. ``context`` (a version or model
    id) is bound as associated data, so an object cannot pass for another. Encryption
    happens before the body, outside any database write lock. The object store's write lock
    is held from the first byte until the body has committed (or the object is deleted), so
    garbage collection never takes an object in flight.
    """
    data_key = new_data_key(set())
    with core.store.writing():
        if isinstance(plaintext, bytes):
            write = core.vault.encrypt_version(data_key, dataset_id, context, plaintext)
        else:
            digest = digest if digest is not None else hashlib.sha256()
            write = core.vault.encrypt_version_from(
                data_key, dataset_id, context, plaintext, digest
            )
        size = core.store.put(key, write)
        try:
            yield StoredObject(size, primary_key_id(data_key), dataset_id, data_key, core)
        except BaseException:
            core.store.delete(key)
            raise


def model_context(model_id: str) -> str:
    """A model's associated data: its own id, marked, so that a model object can never pass
    for a version or another model."""
    return f"model:{model_id}"


def object_context(row: Version | DpModel) -> str:
    """The associated data an object is sealed with: its version id, or ``model:ID``."""
    return row.id if isinstance(row, Version) else model_context(row.id)


def decrypt_object(core: Core, session: Session, row: Version | DpModel) -> bytes:
    """The plaintext of the object ``row`` points at (raises ``Destroyed`` if shredded)."""
    handle = core.vault.data_key(session, row.dataset_id, row.key_id)
    with core.store.open(row.object_key) as source:
        return core.vault.decrypt_version(handle, row.dataset_id, object_context(row), source)


def _row(
    session: Session, table: type[Version] | type[DpModel], row_id: str, *, lock: bool = False
) -> Row:
    row = session.get(table, row_id, with_for_update=lock)
    assert row is None or isinstance(row, (Version, DpModel))
    if row is None:
        raise IntegrityError("the row of a stored object is missing")
    return row


@dataclass(frozen=True)
class Replaced:
    """Evidence of a replacement: ids and names, never content."""

    old_object: str
    old_key_id: int
    new_key_id: int
    old_key_destroyed: bool


def replace_object(
    core: Core,
    table: type[Version] | type[DpModel],
    row_id: str,
    plaintext: bytes,
    *,
    expected_object: str,
    new_object: str,
    change: Callable[[Session, Version | DpModel, Replaced], None],
) -> Replaced:
    """Point row ``row_id`` at ``plaintext``, encrypted under a new key; destroy the old key.

    ``expected_object`` is the object the new content was computed from: if the row points
    elsewhere by now, :class:`Conflict` is raised and nothing changes. ``change`` updates the
    row's other fields and appends the audit entries, in the same transaction.
    """
    with core.reading() as session:
        row = _row(session, table, row_id)
        dataset_id, context = row.dataset_id, object_context(row)
    with (
        stored_object(core, new_object, plaintext, dataset_id=dataset_id, context=context) as obj,
        core.session() as session,
    ):
        row = _row(session, table, row_id, lock=True)
        if row.object_key != expected_object:
            raise Conflict("a stored object changed while it was being rewritten; try again")
        old_object, old_key_id = row.object_key, row.key_id
        obj.register(session)
        row.object_key, row.key_id, row.stored_bytes = new_object, obj.key_id, obj.size
        session.flush()
        destroyed = not key_in_use(session, dataset_id, old_key_id) and (
            core.vault.destroy_data_key(session, dataset_id, old_key_id)
        )
        replaced = Replaced(old_object, old_key_id, obj.key_id, destroyed)
        change(session, row, replaced)
        session.commit()
    core.store.delete(old_object)
    return replaced


def key_in_use(session: Session, dataset_id: str, key_id: int) -> bool:
    """Whether a live version or model of the dataset is still encrypted under ``key_id``
    (objects written before per-object keys shared their dataset's primary key)."""
    versions = select(func.count()).where(
        Version.dataset_id == dataset_id, Version.key_id == key_id, Version.shredded_at.is_(None)
    )
    models = select(func.count()).where(
        DpModel.dataset_id == dataset_id, DpModel.key_id == key_id, _live_model()
    )
    return bool(session.scalar(versions)) or bool(session.scalar(models))


def _live_model() -> ColumnElement[bool]:
    """A model retention has not destroyed (its row stays, blocked "expired", as the tombstone)."""
    return DpModel.blocked.is_distinct_from("expired")


@dataclass(frozen=True)
class Shredded:
    """Evidence of a destruction: which object, which key, the ciphertext's hash."""

    object_key: str
    key_id: int
    object_sha256: str | None
    key_destroyed: bool


def shred_object(
    core: Core,
    table: type[Version] | type[DpModel],
    row_id: str,
    *,
    mark: Callable[[Session, Version | DpModel, Shredded], None],
    actor: str,
) -> Shredded:
    """Destroy the key of row ``row_id``'s object, then the object; ``mark`` records the
    tombstone and the audit entry in the destroying transaction.

    An object whose key other live objects share (written before per-object keys) has those
    objects moved to keys of their own first, so that only this one becomes unreadable.
    """
    with core.reading() as session:
        row = _row(session, table, row_id)
        dataset_id, key_id, object_key = row.dataset_id, row.key_id, row.object_key
    _rekey_sharers(core, dataset_id, key_id, skip=(table, row_id), actor=actor)
    object_sha256 = core.store.sha256(object_key)
    with core.session() as session:
        row = _row(session, table, row_id, lock=True)
        if row.object_key != object_key:
            raise Conflict("a stored object changed while it was being destroyed; try again")
        destroyed = core.vault.destroy_data_key(session, dataset_id, key_id)
        evidence = Shredded(object_key, key_id, object_sha256, destroyed)
        mark(session, row, evidence)
        session.flush()
        if key_in_use(session, dataset_id, key_id):
            raise Conflict("a stored object gained a shared key meanwhile; try again")
        session.commit()
    core.store.delete(object_key)
    return evidence


def _rekey_sharers(
    core: Core,
    dataset_id: str,
    key_id: int,
    *,
    skip: tuple[type[Version] | type[DpModel], str],
    actor: str,
) -> None:
    with core.reading() as session:
        sharers: list[Version | DpModel] = [
            *session.scalars(
                select(Version).where(
                    Version.dataset_id == dataset_id,
                    Version.key_id == key_id,
                    Version.shredded_at.is_(None),
                )
            ),
            *session.scalars(
                select(DpModel).where(
                    DpModel.dataset_id == dataset_id, DpModel.key_id == key_id, _live_model()
                )
            ),
        ]
        work = [(type(r), r.id, r.object_key) for r in sharers if (type(r), r.id) != skip]
    for table, row_id, object_key in work:
        rekey_object(core, table, row_id, object_key, actor=actor)


def rekey_object(
    core: Core,
    table: type[Version] | type[DpModel],
    row_id: str,
    object_key: str,
    *,
    actor: str,
) -> Replaced:
    """The same content under a new data key (the old key destroyed unless shared)."""
    with core.reading() as session:
        row = _row(session, table, row_id)
        plaintext = decrypt_object(core, session, row)

    def record(session: Session, row: Version | DpModel, replaced: Replaced) -> None:
        is_version = isinstance(row, Version)
        event = auditlog.events.keys_reencrypt(
            ts=core.now(),
            actor=actor,
            dataset=row.dataset_id,
            key_id=replaced.new_key_id,
            version=row.id if is_version else None,
            model=None if is_version else row.id,
        )
        auditlog.append(session, [event])

    return replace_object(
        core,
        table,
        row_id,
        plaintext,
        expected_object=object_key,
        new_object=fresh_object_key(object_key),
        change=record,
    )


_RENAMED = re.compile(r"^(?P<stem>[^.]+)(?:\.[0-9a-f]{8})?\.(?P<suffix>.+)$")


def fresh_object_key(object_key: str) -> str:
    """A new object name beside ``object_key``: ``versions/D/V.parquet.tink`` becomes
    ``versions/D/V.1a2b3c4d.parquet.tink`` (and that one another such name)."""
    folder, _, name = object_key.rpartition("/")
    parts = _RENAMED.match(name)
    if parts is None:
        raise IntegrityError("a stored object has a name privet did not give it")
    return f"{folder}/{parts['stem']}.{uuid.uuid4().hex[:8]}.{parts['suffix']}"
