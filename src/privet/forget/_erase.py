"""Subject erasure (GDPR Art. 17): every version, derived dataset, synthetic dataset and model.

A request is queued first (the subject id sealed under the workspace key, a plan of the
versions that hold them), then worked through one committed step at a time, each step
recorded in the request: a crash is finished by the next run (``run_pending``), and a step
already done is not done twice. When every step is done the receipt is signed, the sealed
subject id is wiped and the request is closed.

What each store gets:

- a version holding the subject (source or derived: protected, masked, pseudonymized) is
  rewritten without their rows — a new object under a new data key — and the old key is
  destroyed (so the old ciphertext is unreadable wherever a copy survives), then the old
  object deleted; other people's rows stay exact (a k-anonymous version also loses the
  rows of classes that fell below its k);
- a synthetic version made from such a version is destroyed whole, unless it is a DP
  release the owner decided to keep (the non-DP baseline is never kept);
- a model trained on such a version is unlearned (SISA: the affected shards retrained),
  kept by the owner's decision if DP (its card names the ε bounding the subject's influence),
  or else blocked until retrained;
- the subject's consent records are deleted;
- exports that already left the workspace are listed in the receipt for follow-up.

Why rewrite, not per-subject keys: a rewrite touches only the versions that hold the subject
(found through their subject column or link) and keeps every stored object one Parquet file;
per-subject keys would put one key per person per identifying column into every read.
The README gives the measured cost.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from privet import auditlog, policy, tables
from privet.catalog import SUBJECT_LINK, find_dataset, subject_links
from privet.core import (
    Conflict,
    collect_garbage,
    decrypt_object,
    fresh_object_key,
    replace_object,
    shred_object,
)
from privet.errors import IntegrityError, InvalidInput, NotFound
from privet.forget import _receipt
from privet.forget._keep import kept
from privet.forget._requests import EraseRequest
from privet.forget._retention import destruction
from privet.forget._subjects import found_in, made_from, match_for, scope, without_subject
from privet.schema import ConsentRecord, Dataset, DpModel, ErasureRequest, Version
from privet.timestamps import UtcDatetime, aware

if TYPE_CHECKING:
    from privet.core import Core, Replaced, Shredded
    from privet.policy import Identity

# Art. 12(3): without undue delay and in any event within one month.
SLA_DAYS = 30
_RETRIES = 3
Progress = Callable[[str], None]


class ErasureInfo(BaseModel):
    """A request as the dashboard and ``privet erasure list`` show it."""

    id: str
    status: str
    commitment: str
    scope: str | None
    requested_by: str
    requested_at: UtcDatetime
    due_at: UtcDatetime
    completed_at: UtcDatetime | None
    overdue: bool


class ErasureResult(BaseModel):
    """A finished erasure: the receipt, its signed note, and (once) each subject's nonce."""

    id: str
    status: str
    receipt: dict[str, Any]
    note: str
    # subject id → hex nonce; given once, kept nowhere: each subject's proof of the receipt.
    nonces: dict[str, str] = {}


# -- requesting -------------------------------------------------------------------------------


def request_erasure(
    core: Core, request: EraseRequest, *, identity: Identity, progress: Progress | None = None
) -> ErasureResult:
    """Queue the erasure of ``request.subjects`` and carry it out; returns the receipt.

    Refused, with nothing changed, when the actor's roles may not erase, when the dataset
    named has no subject-id column, or when a subject is held by no dataset in scope.
    """
    step = progress or (lambda _s: None)
    policy.check_may_erase(core, identity)
    subjects = request.subjects
    with core.reading() as session:
        named = find_dataset(session, request.dataset) if request.dataset else None
        if named is not None and named.subject_id_column is None:
            raise InvalidInput(
                f"dataset {named.name!r} has no subject-id column, so a person's rows cannot "
                "be found in it",
                parameter="dataset",
            )
        datasets = [(d.id, d.subject_id_column) for d in scope(session, named)]
        scope_id = named.id if named else None
        pending = [r.id for r in session.scalars(_pending()) if r.dataset_id == scope_id]
    for request_id in pending:  # the same request again: resume it, not a second one
        if _unseal(core, request_id)[0] == subjects:
            return _process(core, request_id, actor=identity.name, progress=step)
    step("finding the subjects")
    links = _links_if_needed(core, subjects, datasets)
    plan, missing = _locate(core, datasets, subjects, links)
    if missing:
        what = (
            "this subject" if len(subjects) == 1 else f"{missing} of the {len(subjects)} subjects"
        )
        raise NotFound(
            f"no dataset in scope holds {what} (unknown, or already erased); nothing was erased"
        )
    request_id = uuid.uuid4().hex
    nonces = [os.urandom(32) for _ in subjects]
    commitments = [_receipt.commitment(n, s) for n, s in zip(nonces, subjects, strict=True)]
    digest = hashlib.sha256("".join(sorted(commitments)).encode()).hexdigest()
    now = core.now()
    with core.session() as session:
        seal = core.vault.workspace_aead(session)
        entry = auditlog.events.erasure_request(
            ts=now,
            actor=identity.name,
            request=request_id,
            commitments=commitments,
            scope=scope_id,
            versions=len(plan),
        )
        (index,) = auditlog.append(session, [entry])
        sealed = json.dumps(subjects).encode()
        session.add(
            ErasureRequest(
                id=request_id,
                commitment=digest,
                dataset_id=scope_id,
                reason=request.reason,
                requested_by=identity.name,
                requested_at=now,
                due_at=now + timedelta(days=SLA_DAYS),
                status="pending",
                subject_sealed=seal.encrypt(sealed, _context(request_id, "subject")),
                nonce_sealed=seal.encrypt(b"".join(nonces), _context(request_id, "nonce")),
                receipt={
                    "plan": plan,
                    "commitments": commitments,
                    "steps": [],
                    "log_entries": [index],
                },
                log_index=index,
            )
        )
        session.commit()
    return _process(core, request_id, actor=identity.name, progress=step)


def run_pending(core: Core, *, actor: str, progress: Progress | None = None) -> list[ErasureResult]:
    """Finish every request left pending (by a crash, or queued by another process)."""
    with core.reading() as session:
        ids = [r.id for r in session.scalars(_pending())]
    return [_process(core, request_id, actor=actor, progress=progress) for request_id in ids]


def list_requests(core: Core) -> list[ErasureInfo]:
    now = core.now()
    with core.reading() as session:
        rows = session.scalars(select(ErasureRequest).order_by(ErasureRequest.requested_at))
        return [_info(r, now) for r in rows]


def receipt_note(core: Core, request_id: str) -> str:
    """The signed receipt of a finished request."""
    with core.reading() as session:
        row = session.get(ErasureRequest, request_id)
        if row is None:
            raise NotFound(f"no erasure request has the id {request_id[:40]!r}")
        if row.status != "done" or not row.receipt:
            raise InvalidInput("this erasure is not finished yet; it has no receipt")
        return str(row.receipt["note"])


# -- carrying it out ------------------------------------------------------------------------


def _process(
    core: Core, request_id: str, *, actor: str, progress: Progress | None
) -> ErasureResult:
    step = progress or (lambda _s: None)
    subjects, nonces = _unseal(core, request_id)
    with core.reading() as session:
        row = session.get(ErasureRequest, request_id)
        assert row is not None
        work = dict(row.receipt or {})
    plan: list[str] = list(work["plan"])
    links = subject_links(core, pl.Series(subjects, dtype=pl.String)).to_list()
    for position, version_id in enumerate(plan, 1):
        step(f"rewriting version {position}/{len(plan)}")
        _rewrite(core, request_id, version_id, subjects, links, actor=actor)
    step("synthetic data")
    with core.reading() as session:
        synthetic = [
            v.id for v in made_from(session, set(plan)) if v.kind in ("synthetic", "baseline")
        ]
    for version_id in synthetic:
        _synthetic(core, request_id, version_id, actor=actor)
    step("models")
    with core.reading() as session:
        # Models of the versions that held the subjects, and of the synthetic versions this
        # erasure destroyed (recorded in its steps, so a resumed run finds them too); a model
        # of DP synthetic data the owner kept stays as it is.
        work_row = session.get(ErasureRequest, request_id)
        assert work_row is not None and work_row.receipt is not None
        destroyed = [
            s["version_id"] for s in work_row.receipt["steps"] if s.get("action") == "shredded"
        ]
        models = [
            m.id
            for m in session.scalars(
                select(DpModel).where(DpModel.version_id.in_([*plan, *destroyed]))
            )
            if m.blocked != "expired"
        ]
    for model_id in models:
        _model(core, request_id, model_id, links, actor=actor)
    step("signing the receipt")
    result = _finish(core, request_id, links, actor=actor)
    # Old objects a crash left after their destroying commit (their keys are already gone),
    # whichever way the request is finished.
    collect_garbage(core)
    return result.model_copy(
        update={"nonces": {s: n.hex() for s, n in zip(subjects, nonces, strict=True)}}
    )


def _rewrite(
    core: Core,
    request_id: str,
    version_id: str,
    subjects: list[str],
    links: list[str],
    *,
    actor: str,
) -> None:
    for _attempt in range(_RETRIES):
        try:
            _rewrite_once(core, request_id, version_id, subjects, links, actor=actor)
            return
        except Conflict:
            continue  # the version changed meanwhile (another erasure): read it again
    raise Conflict("a version kept changing while it was being rewritten; run the erasure again")


def _rewrite_once(
    core: Core,
    request_id: str,
    version_id: str,
    subjects: list[str],
    links: list[str],
    *,
    actor: str,
) -> None:
    with core.reading() as session:
        version = session.get(Version, version_id)
        if version is None or version.shredded_at is not None:
            return
        dataset = session.get(Dataset, version.dataset_id)
        assert dataset is not None
        match = match_for(dataset, subjects, links)
        if match is None:
            return
        plaintext = decrypt_object(core, session, version)
        if hashlib.sha256(plaintext).hexdigest() != version.content_sha256:
            raise IntegrityError("a stored version does not match its recorded hash")
        result = without_subject(session, version, tables.from_parquet_bytes(plaintext), match)
        object_key, name = version.object_key, dataset.name
    if result is None:
        return  # done before a crash, or never held them
    old_sha256 = core.store.sha256(object_key)

    def record(session: Session, row: Version | DpModel, replaced: Replaced) -> None:
        assert isinstance(row, Version)
        row.row_count, row.content_sha256 = result.rows, result.content_sha256
        row.plaintext_bytes = len(result.plaintext)
        session.flush()
        governance = auditlog.attest(session, ("dataset", row.dataset_id), ("version", row.id))
        evidence = auditlog.events.Destruction(
            object_key=replaced.old_object,
            key_id=replaced.old_key_id,
            object_sha256=old_sha256,
            key_destroyed=replaced.old_key_destroyed,
        )
        entry = auditlog.events.erasure_rewrite(
            ts=core.now(),
            actor=actor,
            request=request_id,
            dataset=row.dataset_id,
            version=row.id,
            rows_removed=result.removed,
            suppressed=result.suppressed,
            content_sha256=result.content_sha256,
            new_key_id=replaced.new_key_id,
            evidence=evidence,
            governance=governance,
        )
        (index,) = auditlog.append(session, [entry])
        _add_step(session, request_id, index, {
            "store": "version", "dataset": name, "version": row.number,
            "version_id": row.id, "action": "rewritten", "rows_removed": result.removed,
            "suppressed": result.suppressed, "old_key_id": replaced.old_key_id,
            "old_key_destroyed": replaced.old_key_destroyed, "old_object_sha256": old_sha256,
            "new_key_id": replaced.new_key_id, "log_index": index,
        })  # fmt: skip

    replace_object(
        core,
        Version,
        version_id,
        result.plaintext,
        expected_object=object_key,
        new_object=fresh_object_key(object_key),
        change=record,
    )


def _synthetic(core: Core, request_id: str, version_id: str, *, actor: str) -> None:
    with core.reading() as session:
        version = session.get(Version, version_id)
        if version is None or version.shredded_at is not None:
            return
        dataset = session.get(Dataset, version.dataset_id)
        assert dataset is not None
        keep = version.kind == "synthetic" and kept(session, "dataset", dataset.id) is not None
        name, number = dataset.name, version.number
    if keep:
        _record_once(core, request_id, ("version", version_id), {
            "store": "version", "dataset": name, "version": number, "version_id": version_id,
            "action": "kept", "why": "DP synthetic data, kept by the owner's decision",
        })  # fmt: skip
        return

    def mark(session: Session, row: Version | DpModel, evidence: Shredded) -> None:
        assert isinstance(row, Version)
        row.shredded_at, row.shred_reason = core.now(), "erasure"
        session.flush()
        governance = auditlog.attest(session, ("dataset", row.dataset_id), ("version", row.id))
        entry = auditlog.events.erasure_shred(
            ts=core.now(), actor=actor, request=request_id, dataset=row.dataset_id,
            version=row.id, evidence=destruction(evidence), governance=governance,
        )  # fmt: skip
        (index,) = auditlog.append(session, [entry])
        _add_step(session, request_id, index, {
            "store": "version", "dataset": name, "version": number, "version_id": row.id,
            "action": "shredded", "old_key_id": evidence.key_id,
            "old_key_destroyed": evidence.key_destroyed,
            "old_object_sha256": evidence.object_sha256, "log_index": index,
        })  # fmt: skip

    shred_object(core, Version, version_id, mark=mark, actor=actor)


def _model(core: Core, request_id: str, model_id: str, links: list[str], *, actor: str) -> None:
    with core.reading() as session:
        row = session.get(DpModel, model_id)
        assert row is not None
        work = session.get(ErasureRequest, request_id)
        assert work is not None and work.receipt is not None
        if any(s.get("model_id") == model_id for s in work.receipt["steps"]):
            return
        card = dict(row.card)
        name, private = row.name, row.private
        keep = private and kept(session, "model", model_id) is not None
    epsilon = (card.get("privacy") or {}).get("epsilon")
    action: Literal["blocked", "kept", "unlearned"] = "blocked"
    facts: dict[str, Any] = {}
    if _is_sisa(card):
        from privet.dp import unlearn

        result = unlearn(core, name, links, actor=actor, erasure=request_id)
        action, facts = "unlearned", {"shards": list(result.shards)}
    elif keep:
        action, facts = "kept", {"epsilon": epsilon}
    with core.session() as session:
        row = session.get(DpModel, model_id, with_for_update=True)
        assert row is not None
        now = core.now()
        if action == "blocked":
            row.blocked, row.blocked_at = "contains-erased-subject", now
        elif action == "kept":
            note = (
                f"kept after an erasure by the owner's decision: the erased subject's influence "
                f"is bounded by ε = {epsilon:g}"
                if isinstance(epsilon, int | float)
                else "kept after an erasure by the owner's decision"
            )
            row.card = {**row.card, "notes": [*row.card.get("notes", []), note]}
        entry = auditlog.events.erasure_model(
            ts=now, actor=actor, request=request_id, model=model_id, action=action,
            epsilon=epsilon if action == "kept" and isinstance(epsilon, float) else None,
        )  # fmt: skip
        (index,) = auditlog.append(session, [entry])
        _add_step(session, request_id, index, {
            "store": "model", "model": name, "model_id": model_id, "action": action,
            **facts, "log_index": index,
        })  # fmt: skip
        session.commit()


def _is_sisa(card: dict[str, Any]) -> bool:
    return isinstance(card.get("sisa"), dict)


def _finish(core: Core, request_id: str, links: list[str], *, actor: str) -> ErasureResult:
    exports = _exports(core, request_id)
    with core.session() as session:
        row = session.get(ErasureRequest, request_id, with_for_update=True)
        assert row is not None and row.receipt is not None
        work = row.receipt
        now = core.now()
        consent = session.execute(
            delete(ConsentRecord).where(ConsentRecord.subject_link.in_(links))
        )
        receipt = {
            "request": request_id,
            "workspace": core.config.id,
            "origin": core.origin,
            "commitments": work["commitments"],
            "scope": row.dataset_id,
            "requested_by": row.requested_by,
            "requested_at": aware(row.requested_at).isoformat(),
            "completed_at": now.isoformat(),
            "reason_sha256": hashlib.sha256(row.reason.encode()).hexdigest(),
            "stores": [s for s in work["steps"] if s["store"] == "version"],
            "models": [s for s in work["steps"] if s["store"] == "model"],
            "consent_records_deleted": int(getattr(consent, "rowcount", 0) or 0),
            "exports": exports,
            "log_entries": sorted(work["log_entries"]),
        }
        note = core.log.sign(_receipt.note_body(receipt))
        entry = auditlog.events.erasure_done(
            ts=now,
            actor=actor,
            request=request_id,
            commitment=row.commitment,
            receipt_sha256=hashlib.sha256(note.encode()).hexdigest(),
        )
        auditlog.append(session, [entry])
        row.receipt = {**receipt, "note": note}
        row.status, row.completed_at = "done", now
        row.subject_sealed = row.nonce_sealed = None  # wiped (secure_delete zeroes the bytes)
        session.commit()
    _settle(core)
    return ErasureResult(id=request_id, status="done", receipt=receipt, note=note)


def _exports(core: Core, request_id: str) -> list[dict[str, Any]]:
    """Reads that left the workspace with the subject's versions (raw data, not DP
    releases nor privet's own processing), before the request: the DPO follows them up."""
    with core.reading() as session:
        row = session.get(ErasureRequest, request_id)
        assert row is not None and row.receipt is not None
        versions = set(row.receipt["plan"])
        before = row.log_index
    found = []
    for record in core.log.records(0, before):
        event = record.event
        if event.get("event") != "read" or event.get("version") not in versions:
            continue
        channel = str(event.get("channel", ""))
        if channel.startswith("dp:") or str(event.get("purpose", "")).startswith("privet:"):
            continue
        found.append({
            "actor": event.get("actor"), "ts": event.get("ts"), "channel": channel,
            "purpose": event.get("purpose"), "view": event.get("view"),
            "rows": event.get("rows"), "log_index": record.index,
        })  # fmt: skip
    return found


# -- small parts ----------------------------------------------------------------------------


def _locate(
    core: Core,
    datasets: list[tuple[str, str | None]],
    subjects: list[str],
    links: list[str] | None,
) -> tuple[list[str], int]:
    """The live versions, in scope, that hold any of the subjects (decrypted here, never
    served), and how many subjects no version holds."""
    found: list[str] = []
    seen: set[str] = set()
    by_link = dict(zip(links, subjects, strict=True)) if links else {}
    with core.reading() as session:
        for dataset_id, _column in datasets:
            dataset = session.get(Dataset, dataset_id)
            match = None if dataset is None else match_for(dataset, subjects, links)
            if match is None:
                continue
            versions = session.scalars(
                select(Version).where(
                    Version.dataset_id == dataset_id, Version.shredded_at.is_(None)
                )
            )
            for version in versions:
                plaintext = decrypt_object(core, session, version)
                present = found_in(plaintext, match).to_list()
                if present:
                    found.append(version.id)
                    seen.update(by_link.get(v, v) for v in present)
    return found, len(set(subjects) - seen)


def _links_if_needed(
    core: Core, subjects: list[str], datasets: list[tuple[str, str | None]]
) -> list[str] | None:
    """The subjects' links, if a dataset in scope finds people by them (the key exists)."""
    if not any(column == SUBJECT_LINK for _, column in datasets):
        return None
    return subject_links(core, pl.Series(subjects, dtype=pl.String)).to_list()


def _pending() -> Any:
    return (
        select(ErasureRequest)
        .where(ErasureRequest.status == "pending")
        .order_by(ErasureRequest.requested_at)
    )


def _context(request_id: str, what: str) -> bytes:
    return f"privet/erasure/{request_id}/{what}".encode()


def _unseal(core: Core, request_id: str) -> tuple[list[str], list[bytes]]:
    """A pending request's subject ids and their nonces (32 bytes each)."""
    with core.reading() as session:
        row = session.get(ErasureRequest, request_id)
        if row is None or row.subject_sealed is None or row.nonce_sealed is None:
            raise IntegrityError("a pending erasure request lost its sealed subjects")
        seal = core.vault.workspace_aead(session)
        subjects = json.loads(seal.decrypt(row.subject_sealed, _context(request_id, "subject")))
        packed = seal.decrypt(row.nonce_sealed, _context(request_id, "nonce"))
    return subjects, [packed[i : i + 32] for i in range(0, len(packed), 32)]


def _add_step(session: Session, request_id: str, index: int, step: dict[str, Any]) -> None:
    """Record a done step in the request, in the transaction that did it."""
    row = session.get(ErasureRequest, request_id, with_for_update=True)
    assert row is not None and row.receipt is not None
    work = row.receipt
    row.receipt = {
        **work,
        "steps": [*work["steps"], step],
        "log_entries": [*work["log_entries"], index],
    }


def _record_once(core: Core, request_id: str, key: tuple[str, str], step: dict[str, Any]) -> None:
    with core.session() as session:
        row = session.get(ErasureRequest, request_id, with_for_update=True)
        assert row is not None and row.receipt is not None
        if any(
            s.get("version_id") == key[1] and s.get("action") == step["action"]
            for s in row.receipt["steps"]
        ):
            return
        row.receipt = {**row.receipt, "steps": [*row.receipt["steps"], step]}
        session.commit()


def _settle(core: Core) -> None:
    """On SQLite, move the write-ahead log into the database and truncate it, so the frames
    that held destroyed keys or the sealed subject id are gone from the WAL file too."""
    if core.engine.dialect.name != "sqlite":
        return
    raw = core.engine.raw_connection()  # outside SQLAlchemy's BEGIN: a checkpoint cannot
    try:  # run inside a transaction
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


def _info(row: ErasureRequest, now: datetime) -> ErasureInfo:
    due = aware(row.due_at)
    return ErasureInfo(
        id=row.id,
        status=row.status,
        commitment=row.commitment,
        scope=row.dataset_id,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        due_at=due,
        completed_at=row.completed_at,
        overdue=row.status != "done" and due < now,
    )
