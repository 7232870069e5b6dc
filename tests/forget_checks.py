"""Consistency of a workspace after forgetting (retention, erasure), checked from outside;
and a workspace built on an injected clock, where versions expire.

Objects are opened with the keys the master key unwraps (tests/forget_support.py), not through
privet's readers; hashes are recomputed here. Used after SIGKILLs and after completed runs.
"""

from __future__ import annotations

import hashlib
import sqlite3
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
from sqlalchemy import select
from tink import proto_keyset_format, secret_key_access
from tink.proto import tink_pb2

from privet import Workspace
from privet.schema import Dataset, DpModel, Keyset, Version
from tests.forget_support import decryptable_objects


def key_ids(ws: Workspace) -> dict[str, set[int]]:
    """dataset id → the ids of the data keys its keyset still holds."""
    core = ws.hazmat
    found: dict[str, set[int]] = {}
    with core.reading() as session:
        names = list(session.scalars(select(Keyset.name).where(Keyset.kind == "streaming-aead")))
        for name in names:
            dataset_id = name.split(":", 1)[1]
            handle = core.vault.dataset_keyset(session, dataset_id)
            keyset = tink_pb2.Keyset.FromString(
                proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
            )
            found[dataset_id] = {key.key_id for key in keyset.key}
    return found


@dataclass(frozen=True)
class Row:
    kind: str  # "version" or "model"
    id: str
    dataset_id: str
    label: str  # NAME@N or the model's name
    object_key: str
    key_id: int
    sha256: str  # of the plaintext: content_sha256 / weights_sha256
    destroyed: bool  # a retention/erasure tombstone, or a model expired by retention


def rows(ws: Workspace) -> list[Row]:
    with ws.hazmat.reading() as session:
        names = {d.id: d.name for d in session.scalars(select(Dataset))}
        found = [
            Row("version", v.id, v.dataset_id, f"{names[v.dataset_id]}@{v.number}",
                v.object_key, v.key_id, v.content_sha256, v.shredded_at is not None)
            for v in session.scalars(select(Version))
        ] + [
            Row("model", m.id, m.dataset_id, m.name, m.object_key, m.key_id, m.weights_sha256,
                m.blocked == "expired")
            for m in session.scalars(select(DpModel))
        ]  # fmt: skip
    return found


def assert_consistent(ws: Workspace, *, settled: bool = False, where: str = "") -> None:
    """What a crash may never leave: a live row whose object is missing, unreadable or not
    what its hash says; a live row under a destroyed key; a tombstone whose key survives;
    a log that does not verify. With ``settled`` (after a completed run), also no leftover
    file: every file in the store is a live row's object. ``where`` goes in the message."""
    try:
        _check(ws, settled)
    except AssertionError as failure:
        raise AssertionError(f"{where}: {failure}") from None


def _check(ws: Workspace, settled: bool) -> None:
    ws.log.verify()
    keys = key_ids(ws)
    opened, sealed = decryptable_objects(ws)
    plaintext = {o.path: o.plaintext for o in opened}
    live_objects = set()
    for row in rows(ws):
        held = keys.get(row.dataset_id, set())
        if row.destroyed:
            assert row.key_id not in held, f"{row.label}: destroyed, but its key survives"
            assert row.object_key not in plaintext, f"{row.label}: destroyed, still readable"
            continue
        live_objects.add(row.object_key)
        assert row.key_id in held, f"{row.label}: live, but its key is gone"
        assert row.object_key in plaintext, f"{row.label}: live, its object missing/unreadable"
        digest = hashlib.sha256(plaintext[row.object_key]).hexdigest()
        assert digest == row.sha256, f"{row.label}: its object does not match its hash"
    for row in rows(ws):  # a destroyed key is used by no live row
        if row.destroyed:
            users = [r.label for r in rows(ws) if not r.destroyed and r.key_id == row.key_id]
            assert not users, f"{row.label}'s destroyed key is used by {users}"
    if settled:
        leftover = sorted(set(plaintext) - live_objects) + sealed
        assert not leftover, f"files left behind: {leftover}"


def object_files(ws: Workspace) -> dict[str, str]:
    """Every file of the object store (temporary ones too) → the SHA-256 of its bytes."""
    root = ws.hazmat.store.root
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def catalog_dump(folder: Path) -> dict[str, list[tuple]]:
    """Every row of every table of the catalog in the ``.privet`` ``folder``, read with plain
    sqlite3."""
    with sqlite3.connect(f"file:{folder / 'catalog.db'}?mode=ro", uri=True) as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert "versions" in tables
        return {t: sorted(db.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}


def any_key_opens(ws: Workspace, ciphertext: bytes, dataset_id: str, context: str) -> bool:
    """Whether some key the master key still unwraps decrypts ``ciphertext`` (a copy of an
    object kept elsewhere: a backup, an S3 version)."""
    import io

    import tink
    from tink import streaming_aead

    from tests.forget_support import every_key

    aad = f"privet/version/{dataset_id}/{context}".encode()
    for handle in every_key(ws):
        primitive = handle.primitive(streaming_aead.StreamingAead)
        try:
            with primitive.new_decrypting_stream(io.BytesIO(ciphertext), aad) as stream:
                stream.read()
            return True
        except tink.TinkError:
            continue
    return False


# -- a workspace where things expire -----------------------------------------------------------


class Clock:
    """A settable clock (UTC)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


MASK_PLAN = """
columns:
  email: {operator: mask, keep_last: 4}
  ssn: {operator: mask}
  phone: {operator: mask, keep_last: 2}
  full_name: drop
  street_address: drop
  notes: drop
  person_id: drop
"""
RETENTION_DAYS = 30


def build_expiring(
    ws: Workspace, clock: Clock, folder: Path, *, rows: int = 300, later: Sequence[float] = (10, 20)
) -> dict[int, pl.DataFrame]:
    """``people`` (retention 30 days, subject column person_id): version 1 at the clock's
    start; a day later ``people-masked`` and ``people-kept`` protected from version 1 (the
    owner keeps the second) and model ``m1`` trained on it; then one version ``later[i]``
    days after the start each. Returns each version's table as ingested."""
    from privet.datasets import raw_people
    from privet.deid import ProtectRequest, parse_plan
    from privet.dp import TrainRequest
    from tests.conftest import PEOPLE_CATEGORIES

    start = clock.now
    people = raw_people(rows + 5 * len(later))
    frames = {1: people.head(rows)}
    for i in range(len(later)):
        frames[i + 2] = people.slice(5 * (i + 1), rows)

    def ingest(number: int) -> None:
        path = folder / f"v{number}.csv"
        frames[number].write_csv(path)
        ws.ingest(
            path, name="people", owner="alice", purposes=["training"], actor="alice",
            subject_id="person_id", categories=PEOPLE_CATEGORIES,
            retention_days=RETENTION_DAYS, new_version=number > 1,
        )  # fmt: skip

    ingest(1)
    clock.advance(days=1)
    plan = ProtectRequest(plan=parse_plan(MASK_PLAN))
    ws.deid.protect("people@1", plan, output="people-masked", actor="alice")
    ws.deid.protect("people@1", plan, output="people-kept", actor="alice")
    ws.forget.keep("people-kept", reason="masked, no direct identifiers left", actor="alice")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ws.dp.train(
            "people@1",
            TrainRequest(target="income", name="m1", purpose="training", epochs=1,
                         features=["age", "education_num"], seed=1, no_dp=True),
            actor="alice",
        )  # fmt: skip
    for i, days in enumerate(later):
        clock.now = start + timedelta(days=days)
        ingest(i + 2)
    return frames
