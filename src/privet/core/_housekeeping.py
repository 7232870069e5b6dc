"""Keeping the object store in order: key rotation with re-encryption, garbage collection."""

from __future__ import annotations

from sqlalchemy import select

from privet import auditlog
from privet.core._core import Core
from privet.core._objects import rekey_object
from privet.schema import DpModel, Version


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
    """Move every live object (versions and models) to a new data key of its own; each old
    key is destroyed once no object uses it."""
    with core.reading() as session:
        targets: list[tuple[type[Version] | type[DpModel], str, str]] = [
            (Version, v.id, v.object_key)
            for v in session.scalars(select(Version).where(Version.shredded_at.is_(None)))
        ] + [
            (DpModel, m.id, m.object_key)
            for m in session.scalars(
                select(DpModel).where(DpModel.blocked.is_distinct_from("expired"))
            )
        ]
    done = {"versions": 0, "models": 0}
    for table, row_id, object_key in targets:
        rekey_object(core, table, row_id, object_key, actor=actor)
        done["versions" if table is Version else "models"] += 1
    return done


def garbage(core: Core) -> list[str]:
    """Objects no live version or model refers to: left behind by an interrupted write, or
    by a crash after a destroying commit (the key is gone, the file was not deleted yet)."""
    with core.store.collecting():
        return _garbage(core)


def _garbage(core: Core) -> list[str]:
    # A tombstone's object counts as garbage too: its key is destroyed, and a crash between
    # the destroying commit and the file's deletion must not leave the file for good.
    with core.reading() as session:
        referenced = set(
            session.scalars(select(Version.object_key).where(Version.shredded_at.is_(None)))
        ) | set(
            session.scalars(
                select(DpModel.object_key).where(DpModel.blocked.is_distinct_from("expired"))
            )
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
