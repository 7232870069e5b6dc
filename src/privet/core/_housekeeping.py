"""Keeping the object store in order: key rotation with re-encryption, garbage collection."""

from __future__ import annotations

import uuid
from typing import TypeVar

import tink
from sqlalchemy import select

from privet import auditlog
from privet.core._core import Core
from privet.core._objects import stored_object
from privet.schema import DpModel, Version
from privet.vault import primary_key_id

# The two kinds of row that point at an encrypted object (constrained: ``session.get`` then
# returns that row type, with its ``object_key`` and ``key_id``).
Stored = TypeVar("Stored", Version, DpModel)


def rotate_keys(core: Core, *, actor: str, reencrypt: bool = False) -> dict[str, int]:
    """New primary keys everywhere; with ``reencrypt``, rewrite every stored version."""
    with core.session() as session:
        result = core.vault.rotate(session)
        auditlog.append(
            session, [auditlog.events.keys_rotate(ts=core.now(), actor=actor, rotated=result)]
        )
        session.commit()
    done = _reencrypt(core, actor) if reencrypt else {"versions": 0, "models": 0}
    result["reencrypted_versions"] = done["versions"]
    result["reencrypted_models"] = done["models"]
    return result


def _reencrypt(core: Core, actor: str) -> dict[str, int]:
    """Rewrite every stored object (versions and models) not under its primary key."""
    with core.reading() as session:
        targets = [
            (Version, v.id, v.dataset_id, v.id, "versions", "parquet.tink")
            for v in session.scalars(select(Version))
        ] + [
            (DpModel, m.id, m.dataset_id, f"model:{m.id}", "models", "pt.tink")
            for m in session.scalars(select(DpModel))
        ]
    done = {"versions": 0, "models": 0}
    for target in targets:
        done[target[4]] += _reencrypt_object(core, *target, actor=actor)
    return done


def _reencrypt_object(
    core: Core,
    table: type[Stored],
    row_id: str,
    dataset_id: str,
    context: str,
    folder: str,
    suffix: str,
    *,
    actor: str,
) -> int:
    # ``context`` is the associated data the object was sealed with (see privet.dp for
    # models); it does not change, only the key does.
    with core.reading() as session:
        handle = core.vault.dataset_keyset(session, dataset_id)
        row = session.get(table, row_id)
        assert row is not None
        if row.key_id == primary_key_id(handle):
            return 0
        old_key = row.object_key
        with core.store.open(old_key) as source:
            plaintext = core.vault.decrypt_version(handle, dataset_id, context, source)
    new_key = f"{folder}/{dataset_id}/{row_id}.{uuid.uuid4().hex[:8]}.{suffix}"
    _replace_object(
        core, table, row_id, dataset_id, context, handle, plaintext, new_key, actor=actor
    )
    core.store.delete(old_key)
    return 1


def _replace_object(
    core: Core,
    table: type[Stored],
    row_id: str,
    dataset_id: str,
    context: str,
    handle: tink.KeysetHandle,
    plaintext: bytes,
    new_key: str,
    *,
    actor: str,
) -> None:
    with (
        stored_object(
            core, new_key, plaintext, handle=handle, dataset_id=dataset_id, context=context
        ) as stored,
        core.session() as session,
    ):
        row = session.get(table, row_id)
        assert row is not None
        row.object_key, row.stored_bytes = new_key, stored
        row.key_id = primary_key_id(handle)
        is_version = table is Version
        event = auditlog.events.keys_reencrypt(
            ts=core.now(),
            actor=actor,
            dataset=dataset_id,
            key_id=row.key_id,
            version=row_id if is_version else None,
            model=None if is_version else row_id,
        )
        auditlog.append(session, [event])
        session.commit()


def garbage(core: Core) -> list[str]:
    """Objects no version refers to: left behind by an interrupted write."""
    with core.store.collecting():
        return _garbage(core)


def _garbage(core: Core) -> list[str]:
    with core.reading() as session:
        referenced = set(session.scalars(select(Version.object_key))) | set(
            session.scalars(select(DpModel.object_key))
        )
    orphans = [key for key in core.store.object_keys() if key not in referenced]
    return orphans + [f".tmp/{p.name}" for p in core.store.temporary_files()]


def collect_garbage(core: Core) -> list[str]:
    """Delete what :meth:`garbage` lists. Waits for writes in flight to commit (an object
    whose row is not committed yet would look like garbage)."""
    with core.store.collecting():
        return _collect(core)


def _collect(core: Core) -> list[str]:
    removed = _garbage(core)
    for key in removed:
        if key.startswith(".tmp/"):
            (core.store.root / key).unlink(missing_ok=True)
        else:
            core.store.delete(key)
    return removed
