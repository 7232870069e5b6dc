"""The audit log stored in the catalog database: append in the caller's transaction,
verify, checkpoint, prove.

Each entry is canonical JSON (sorted keys, no spaces, UTF-8) holding ids, hashes, counts and
purposes — never a cell value. Its RFC 9162 leaf hash is stored beside it; signed checkpoints
(C2SP signed notes) fix the tree root at a size, so rewriting history breaks a signature.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypedDict

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, Engine, select, text, update
from sqlalchemy.orm import Session

from privet.auditlog import _attest
from privet.auditlog._access import INSERT as _INDEX
from privet.auditlog._access import access_rows
from privet.auditlog._merkle import (
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)
from privet.auditlog._note import (
    Checkpoint,
    NoteError,
    open_note,
    parse_verifier_key,
    sign_note,
)
from privet.errors import IntegrityError, InvalidInput, NotFound
from privet.schema import Checkpoint as CheckpointRow
from privet.schema import LogEntry, LogHead, reader

_BATCH = 20_000
_INSERT = text("INSERT INTO log_entries (idx, data, leaf_hash) VALUES (:idx, :data, :leaf_hash)")


def canonical(event: Mapping[str, object]) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def append(session: Session, events: Sequence[Mapping[str, object]]) -> list[int]:
    """Append ``events`` inside the caller's transaction; returns their indexes.

    The head row is updated first: on PostgreSQL that row lock (and on SQLite the write
    lock) orders concurrent appenders, so indexes never collide or leave gaps.
    """
    if not events:
        return []
    count = len(events)
    session.execute(update(LogHead).where(LogHead.id == 1).values(size=LogHead.size + count))
    end = session.execute(select(LogHead.size).where(LogHead.id == 1)).scalar_one()
    start = end - count
    rows = []
    for offset, event in enumerate(events):
        data = canonical(event)
        rows.append({"idx": start + offset, "data": data, "leaf_hash": leaf_hash(data)})
    # A Core text statement: the ORM bulk-insert path costs more per row than hashing it.
    session.execute(_INSERT, rows)
    # Same transaction: an entry and its index row commit together or not at all.
    if indexed := access_rows(start, events):
        session.execute(_INDEX, indexed)
    _attest.point(session, events, start)
    return list(range(start, end))


@dataclass(frozen=True)
class Record:
    index: int
    event: dict[str, Any]  # the entry's JSON object as stored
    leaf_hash: bytes


class _CheckpointRow(Protocol):
    """A stored checkpoint's columns (a row of ``checkpoints``)."""

    @property
    def size(self) -> int: ...

    @property
    def root(self) -> bytes: ...

    @property
    def note(self) -> str: ...


class InclusionProof(TypedDict):
    """Entry ``index`` is leaf ``index`` of the tree of ``checkpoint`` (hex hashes)."""

    index: int
    tree_size: int
    entry: str
    leaf_hash: str
    proof: list[str]
    root: str
    checkpoint: str


class ConsistencyProof(TypedDict):
    """The tree of size ``old_size`` is a prefix of the latest one (hex hashes)."""

    old_size: int
    old_root: str
    new_size: int
    new_root: str
    proof: list[str]
    checkpoint: str


@dataclass(frozen=True)
class VerifyReport:
    size: int
    root: bytes
    checkpoints: int
    # Governance objects whose rows match their latest attestation.
    governance: int = 0


class AuditLog:
    """Read side of the log plus checkpoints; appends go through :func:`append`."""

    def __init__(
        self,
        engine: Engine,
        origin: str,
        verifier_key: str,
        signing_key: Callable[[], Ed25519PrivateKey],
        clock: Callable[[], datetime],
    ) -> None:
        self._engine = engine
        self._reader = reader(engine)
        self.origin = origin
        self.verifier_key = verifier_key
        self._signing_key = signing_key
        self._clock = clock

    def size(self) -> int:
        with self._reader.connect() as conn:
            return conn.execute(select(LogHead.size).where(LogHead.id == 1)).scalar_one()

    def sign(self, body: str) -> str:
        """``body`` (a text ending in a newline) as a C2SP signed note by the log's key, so
        that whoever holds the published verifier key can check it (erasure receipts)."""
        return sign_note(body, self.origin, self._signing_key())

    def records(self, start: int = 0, limit: int | None = None) -> list[Record]:
        return self.page(start, limit)[1]

    def page(self, start: int = 0, limit: int | None = None) -> tuple[int, list[Record]]:
        """The log's size and up to ``limit`` records from ``start``, read together (the size
        counts every record shown)."""
        query = select(LogEntry).where(LogEntry.idx >= start).order_by(LogEntry.idx)
        if limit is not None:
            query = query.limit(limit)
        with Session(self._reader) as session, session.begin():
            size = session.execute(select(LogHead.size).where(LogHead.id == 1)).scalar_one()
            records = [
                Record(row.idx, json.loads(row.data), row.leaf_hash)
                for row in session.scalars(query.where(LogEntry.idx < size))
            ]
        return size, records

    def checkpoints(self) -> list[CheckpointRow]:
        with Session(self._reader) as session:
            return list(session.scalars(select(CheckpointRow).order_by(CheckpointRow.size)))

    # -- verification ---------------------------------------------------------------------

    def verify(self, verifier_key: str | None = None) -> VerifyReport:
        """Recompute every leaf and the tree, check every stored checkpoint against it, then
        replay the governance attestations and check the current rows against the latest.

        Raises ``IntegrityError`` naming the first bad index (or checkpoint), and
        ``GovernanceMismatch`` naming the first object changed outside privet.
        """
        key = verifier_key or self.verifier_key
        replay = _attest.Replay(lambda: _public_key(key))
        with self._reader.connect() as conn:
            head = conn.execute(select(LogHead.size).where(LogHead.id == 1)).scalar_one()
            checkpoints = conn.execute(
                select(CheckpointRow.size, CheckpointRow.root, CheckpointRow.note).order_by(
                    CheckpointRow.size
                )
            ).all()
            tree = CompactRange()
            pending = iter(checkpoints)
            checkpoint = next(pending, None)
            while checkpoint is not None and checkpoint.size == 0:
                self._check_checkpoint(checkpoint, tree, key)
                checkpoint = next(pending, None)
            expected = 0
            for index, data, stored in _entry_rows(conn):
                if index != expected:
                    raise IntegrityError(f"log entry {expected} is missing", index=expected)
                data = bytes(data)
                computed = leaf_hash(data)
                if computed != bytes(stored):
                    raise IntegrityError(
                        f"log entry {index} does not match its stored hash", index=index
                    )
                tree.append(computed)
                replay.feed(index, data)
                expected += 1
                while checkpoint is not None and checkpoint.size == expected:
                    self._check_checkpoint(checkpoint, tree, key)
                    checkpoint = next(pending, None)
            if checkpoint is not None:
                raise IntegrityError(
                    f"checkpoint at size {checkpoint.size} covers entries that are no longer in "
                    f"the log (first missing index {expected})",
                    index=expected,
                )
            if expected != head:
                raise IntegrityError(
                    f"the log head says {head} entries but {expected} are stored", index=expected
                )
            with Session(bind=conn) as session:
                objects = replay.finish(session)
        return VerifyReport(expected, tree.root(), len(checkpoints), objects)

    def _check_checkpoint(self, row: _CheckpointRow, tree: CompactRange, key: str) -> None:
        where = f"checkpoint at size {row.size}"
        try:
            signed = open_note(row.note, key)
        except NoteError:
            raise IntegrityError(f"{where} has an invalid signature", index=row.size) from None
        if (
            signed.origin != self.origin
            or signed.size != row.size
            or signed.root != bytes(row.root)
        ):
            raise IntegrityError(f"{where} does not match its signed note", index=row.size)
        if tree.root() != signed.root:
            raise IntegrityError(
                f"{where} does not match the entries before index {row.size}: "
                "an entry and its hash were rewritten",
                index=row.size,
            )

    # -- checkpoints and proofs ---------------------------------------------------------------

    def checkpoint(self) -> CheckpointRow:
        """Sign and store a checkpoint of the whole log, after verifying it.

        Signing a log that does not verify would vouch for tampered history, so the full
        verification runs first.
        """
        report = self.verify()
        with Session(self._engine) as session, session.begin():
            existing = session.get(CheckpointRow, report.size)
            if existing is not None:
                session.expunge(existing)
                return existing
            body = Checkpoint(self.origin, report.size, report.root).body()
            note = sign_note(body, self.origin, self._signing_key())
            row = CheckpointRow(
                size=report.size, root=report.root, note=note, created_at=self._clock()
            )
            session.add(row)
            session.flush()
            session.expunge(row)
            return row

    def latest_checkpoint(self) -> CheckpointRow:
        with Session(self._reader) as session:
            row = session.scalars(
                select(CheckpointRow).order_by(CheckpointRow.size.desc()).limit(1)
            ).first()
        if row is None:
            raise NotFound("the log has no checkpoint yet; sign one first")
        return row

    def _leaves(self, size: int) -> list[bytes]:
        """The leaf hashes of entries 0…size-1, recomputed from the entries themselves.

        A proof is only as good as the leaves under it: the stored hashes are checked
        against the entries, and a gap in the indexes (a deleted entry) is refused.
        """
        with self._reader.connect() as conn:
            # The DBAPI cursor, as in _entry_rows: SQLAlchemy rows double the cost at 10^6.
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                # An int literal: no placeholder style to pick per driver.
                query = f"SELECT idx, data, leaf_hash FROM log_entries WHERE idx < {int(size)}"
                cursor.execute(query + " ORDER BY idx")
                rows = cursor.fetchall()
            finally:
                cursor.close()
        hashes = []
        for expected, (index, data, stored) in enumerate(rows):
            if index != expected:
                raise IntegrityError(f"log entry {expected} is missing", index=expected)
            computed = leaf_hash(bytes(data))
            if computed != bytes(stored):
                raise IntegrityError(
                    f"log entry {index} does not match its stored hash", index=index
                )
            hashes.append(computed)
        if len(hashes) != size:
            raise IntegrityError("the log is shorter than its checkpoint", index=len(hashes))
        return hashes

    def _verified_latest(self) -> tuple[Checkpoint, str, list[bytes]]:
        """The latest checkpoint, its signature checked, and the leaves it covers.

        Raises ``IntegrityError`` when the note's signature, its stored copy or the entries
        under it disagree: a proof built on any of them would not verify.
        """
        row = self.latest_checkpoint()
        where = f"the latest checkpoint (size {row.size})"
        try:
            signed = open_note(row.note, self.verifier_key)
        except NoteError:
            raise IntegrityError(f"{where} has an invalid signature", index=row.size) from None
        if (
            signed.origin != self.origin
            or signed.size != row.size
            or signed.root != bytes(row.root)
        ):
            raise IntegrityError(f"{where} does not match its signed note", index=row.size)
        leaves = self._leaves(signed.size)
        if root_from_leaves(leaves) != signed.root:
            raise IntegrityError(
                f"the entries no longer match {where}: history was rewritten", index=row.size
            )
        return signed, row.note, leaves

    def prove_inclusion(self, index: int) -> InclusionProof:
        """An inclusion proof of entry ``index`` in the tree of the latest checkpoint.

        The proof is checked (RFC 9162 §2.1.3.2) before it is returned.
        """
        latest = self.latest_checkpoint()
        if not 0 <= index < latest.size:
            raise InvalidInput(
                f"index {index} is outside the latest checkpoint (size {latest.size}); "
                "sign a checkpoint first"
            )
        checkpoint, note, leaves = self._verified_latest()
        with Session(self._reader) as session:
            entry = session.get(LogEntry, index)
            assert entry is not None
            data = bytes(entry.data)
        proof = inclusion_proof(index, leaves)
        if not verify_inclusion(index, checkpoint.size, leaf_hash(data), proof, checkpoint.root):
            raise IntegrityError(
                f"the inclusion proof of entry {index} does not verify", index=index
            )
        return {
            "index": index,
            "tree_size": checkpoint.size,
            "entry": data.decode(),
            "leaf_hash": leaves[index].hex(),
            "proof": [h.hex() for h in proof],
            "root": checkpoint.root.hex(),
            "checkpoint": note,
        }

    def prove_consistency(self, old_note: str) -> ConsistencyProof:
        """A consistency proof from an older signed checkpoint to the latest one.

        Both checkpoints' signatures are checked and the proof is verified (RFC 9162
        §2.1.4.2) before it is returned.
        """
        try:
            old = open_note(old_note, self.verifier_key)
        except NoteError:
            raise InvalidInput("that checkpoint is not a note signed by this workspace") from None
        if old.origin != self.origin:
            raise InvalidInput("that checkpoint belongs to another log")
        latest, note, leaves = self._verified_latest()
        if old.size > latest.size:
            raise InvalidInput(
                f"that checkpoint (size {old.size}) is newer than the latest stored one "
                f"({latest.size})"
            )
        if root_from_leaves(leaves[: old.size]) != old.root:
            raise IntegrityError(
                f"the log no longer matches the checkpoint at size {old.size}: history was "
                "rewritten",
                index=old.size,
            )
        proof = consistency_proof(old.size, leaves) if 0 < old.size < latest.size else []
        if not verify_consistency(old.size, latest.size, old.root, latest.root, proof):
            raise IntegrityError(
                f"the consistency proof from size {old.size} does not verify", index=old.size
            )
        return {
            "old_size": old.size,
            "old_root": old.root.hex(),
            "new_size": latest.size,
            "new_root": latest.root.hex(),
            "proof": [h.hex() for h in proof],
            "checkpoint": note,
        }


def _public_key(verifier_key: str) -> Ed25519PublicKey:
    try:
        return parse_verifier_key(verifier_key)[2]
    except (NoteError, ValueError):
        raise InvalidInput("the verifier key is not a note verifier key (NAME+ID+KEY)") from None


def _entry_rows(conn: Connection) -> Iterator[tuple[int, bytes, bytes]]:
    # The DBAPI cursor directly: ORM rows would cost more than the hashing at 10^6 entries.
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute("SELECT idx, data, leaf_hash FROM log_entries ORDER BY idx")
        while batch := cursor.fetchmany(_BATCH):
            yield from batch
    finally:
        cursor.close()
