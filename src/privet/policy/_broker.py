"""The broker: the one read path to stored data, for the library, the CLI and the server.

Every read is decided (see ``_decide``: purpose limitation for everyone, then owner, internal
processing, or policy rule + active grant), and both a refusal and a release are written to
the audit log. The log entry of a release commits *before* any data leaves, so no read goes
unrecorded, and anomaly alerts are raised in that same transaction. The view asked for is
applied here, never by a caller: masks, pseudonyms and row filters cannot be skipped by
reading through another door. privet's own processing reads under an internal purpose
(``privet:assessment``) that is logged like any other read but never exported to a file.
The subject link of a derived dataset (``catalog.SUBJECT_LINK``) leaves only for DP releases,
which bound each person's rows by it, and for de-identification into another derived
dataset, which carries it over; every other read, stream and export drops it.

Consent: a read for purpose P of a dataset that rests on consent (its legal basis, which a
derived dataset copies from its root) leaves out the rows of everyone whose latest decision for P is
a withdrawal (``_consent``), matched by the link of the subject-id column (a derived copy
carries the link itself). That holds for every view, stream and export, and for DP queries,
training and synthesis, which read here too; the read's log entry says how many rows were
left out (``consent_excluded``, present exactly when the dataset rests on consent). A
consent-based dataset with no subject-id column cannot honour a withdrawal, so while any
exists for P such a read is refused, except a DP synthetic dataset, whose rows are no one's.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from privet import auditlog, tables
from privet.catalog import (
    INTERNAL_PURPOSES,
    VersionInfo,
    check_purpose,
    is_reserved,
    keyed_prf,
    resolve,
    version_info,
)
from privet.errors import GovernanceMismatch, IntegrityError, InvalidInput, NotFound, PolicyDenied
from privet.policy._alerts import observe
from privet.policy._arrow import BatchStream, batch_stream
from privet.policy._consent import CONSENT_BASIS, ConsentFilter, consent_filter
from privet.policy._decide import Decision, Facts, check_view, decide_on, facts_of, governed
from privet.policy._identity import Identity, aware, roles_of
from privet.policy._rules import Policy, current_policy
from privet.schema import Dataset, Grant, Version
from privet.vault import export_data_key

if TYPE_CHECKING:
    from privet.core import Core

_MESSAGES = {
    "internal_purpose_remote": "privet's internal purposes cannot be used from outside",
    "no_policy_rule": "no policy rule lets your roles read the {view} view of {name!r} for "
    "{purpose!r}",
    "aggregate_is_dp_only": "the aggregate view answers differentially private queries only "
    "(ask for a DP statistic instead), not row reads",
    "row_filter_failed": "the policy's row filter for {name!r} cannot be applied to it (ask "
    "the policy owner to fix the rule)",
    "policy_changed": "the policy changed during the read; read again",
    "no_active_grant": "no active grant lets you read the {view} view of {name!r} for "
    "{purpose!r}; request a grant from its owner or an approver",
    "consent_unenforceable": "{name!r} rests on consent but has no subject-id column, so the "
    "people who withdrew consent for {purpose!r} cannot be left out (register it with one)",
    "consent_changed": "consent records changed during the read; read again",
    "job_needs_unchanged": "the Spark engine reads versions released unchanged, and the "
    "{view} view of {name!r} for {purpose!r} is shaped row by row (masks, pseudonyms, a row "
    "filter or withdrawn consent): use --engine polars",
}
MASK_WIDTH = 8
# Bytes of Parquet per streamed chunk; the grant is re-checked between chunks, so a cut comes
# within one chunk, and 1 MiB keeps those checks (and the server's per-chunk thread hops) few.
_CHUNK = 1024 * 1024
# The channel privet's de-identification reads a source on to carry its subject link into the
# protected copy (with the internal purpose only).
DERIVE_CHANNEL = "deid:derive"
# The channel incident scoping reads a version on (internal purpose only) to count the
# people in it by their subject link; only counts and a sealed list ever leave it.
INCIDENT_CHANNEL = "incident:scope"


class _FilterFailed(Exception):
    pass


@dataclass(frozen=True)
class Release:
    frame: pl.DataFrame
    version: VersionInfo
    log_index: int
    view: str = "raw"
    grant_id: str | None = None


def read(
    core: Core,
    ref: str,
    *,
    purpose: str,
    actor: str | None = None,
    identity: Identity | None = None,
    view: str = "raw",
    channel: str = "library",
) -> Release:
    """Decrypt version ``ref`` for ``purpose`` as ``view``, or raise ``PolicyDenied`` (logged).

    Give ``identity`` (authenticated) or ``actor`` (a local name, whose registered roles apply).
    """
    keep_link = _keeps_link(channel, purpose)
    release, _, _ = _release(
        core, ref, _who(core, actor, identity), view, purpose, channel, keep_link=keep_link
    )
    return release


def _keeps_link(channel: str, purpose: str) -> bool:
    """Does a read on ``channel`` keep a derived version's subject link (see the module)?"""
    return channel.startswith("dp:") or (
        channel in (DERIVE_CHANNEL, INCIDENT_CHANNEL) and purpose in INTERNAL_PURPOSES
    )


def _who(core: Core, actor: str | None, identity: Identity | None) -> Identity:
    if identity is not None:
        return identity
    if not actor:
        raise InvalidInput("say who is reading (actor or identity)", parameter="actor")
    with core.reading() as session:
        return Identity(name=actor, roles=roles_of(session, actor))


def _refused(
    core: Core,
    event: auditlog.events.ReadFacts,
    decision: Decision,
    dataset: Facts,
    session: Session | None = None,
) -> PolicyDenied:
    """Log a refusal (in ``session``, else a new write transaction) and make its error."""
    _log_refusal(core, event, decision.reason, session)
    if decision.reason == "purpose_not_declared":
        declared = ", ".join(dataset.purposes)
        text = (
            f"purpose {event.purpose!r} is not one dataset {dataset.name!r} was collected "
            f"for (declared: {declared})"
        )
    else:
        text = _MESSAGES.get(decision.reason, "access refused by policy").format(
            view=event.view, name=dataset.name, purpose=event.purpose
        )
    return PolicyDenied(f"{text}; the refusal is in the audit log")


def _log_refusal(
    core: Core, event: auditlog.events.ReadFacts, reason: str, session: Session | None = None
) -> None:
    entry = auditlog.events.read_refused(facts=event, reason=reason)
    if session is None:
        with core.session() as own:
            auditlog.append(own, [entry])
            own.commit()
    else:
        auditlog.append(session, [entry])
        session.commit()


@contextmanager
def _refusing_mismatches(
    core: Core, event: auditlog.events.ReadFacts, session: Session | None = None
) -> Iterator[None]:
    """A governance row changed outside privet refuses the read; the refusal is logged."""
    try:
        yield
    except GovernanceMismatch:
        _log_refusal(core, event, "governance_mismatch", session)
        raise


@dataclass
class _Decided:
    """A read decided (and its refusals logged) in a read transaction, not yet released."""

    now: datetime
    event: auditlog.events.ReadFacts
    facts: Facts
    decision: Decision
    rule: Any
    consent: ConsentFilter
    handle: Any  # the one object's data key (a Tink keyset handle)
    info: VersionInfo
    served_id: str
    object_key: str
    sha256: str
    # (name, Polars dtype) as in the stored Parquet, privet's own columns included.
    stored_columns: tuple[tuple[str, str], ...]

    def shapes_rows(self, view: str) -> bool:
        """Does the view change rows or cells (masks, pseudonyms, a row filter, consent)?"""
        return (
            view in ("masked", "pseudonymized")
            or bool(self.rule and self.rule.row_filter)
            or self.consent.column is not None
        )

    def linked(self) -> bool:
        return any(is_reserved(name) for name, _ in self.stored_columns)


def _decide_read(
    core: Core, ref: str, identity: Identity, view: str, purpose: str, channel: str
) -> _Decided:
    """Resolve ``ref``, decide, check the governance rows and consent, and fetch the key of
    the served object, in a read transaction; a refusal is logged and raised."""
    check_view(view)
    check_purpose(purpose)
    now = core.now()
    with core.reading() as session:
        dataset, version = resolve(session, ref)
        facts = facts_of(dataset)
        event = auditlog.events.ReadFacts(
            ts=now,
            actor=identity.name,
            dataset=dataset.id,
            version=version.id,
            purpose=purpose,
            view=view,
            channel=channel,
            token=identity.token_id,  # the token's id, never its secret
        )
        with _refusing_mismatches(core, event):
            decision = _decision(session, identity, facts, view, purpose, now, channel)
            if not decision.allowed:
                raise _refused(core, event, decision, facts)
            served, served_version = _target(session, dataset, version, view)
            # The columns' roles decide the masks; a served derived copy is checked whole.
            objects = [("version", version.id), ("dataset", served.id)]
            auditlog.check(session, *dict.fromkeys([*objects, ("version", served_version.id)]))
            consent = _consent(session, dataset, served, served_version, purpose)
            if consent.unenforceable:
                refusal = Decision(False, "consent_unenforceable")
                raise _refused(core, event, refusal, facts)
        handle = core.vault.data_key(session, served.id, served_version.key_id)
        decided = _Decided(
            now=now,
            event=event,
            facts=facts,
            decision=decision,
            rule=None,
            consent=consent,
            handle=handle,
            info=version_info(served, served_version),
            served_id=served.id,
            object_key=served_version.object_key,
            sha256=served_version.content_sha256,
            stored_columns=tuple((c.name, c.dtype) for c in served_version.columns),
        )
        if served.id != dataset.id:
            event.served, event.version = served.id, served_version.id
    _, policy = _policy_of(core)
    decided.rule = policy.rules[decision.rule] if decision.rule is not None else None
    return decided


def _log_release(
    core: Core,
    decided: _Decided,
    identity: Identity,
    *,
    rows: int,
    columns: int,
    page: tuple[int, int | None] | None = None,
) -> tuple[int, Decision]:
    """Decide again under the write lock and log the release (with its alerts); returns
    the log entry's index and the decision that authorized it."""
    event, facts = decided.event, decided.facts
    with core.session() as session:
        # Decided again under the write lock: a grant revoked while the rows were being
        # decrypted is honoured, and the entry below is the one that authorizes the release.
        policy_now = current_policy(session)
        with _refusing_mismatches(core, event, session):
            again = _decision(
                session,
                identity,
                facts,
                event.view,
                event.purpose,
                decided.now,
                event.channel,
                policy_now,
            )
        if again.allowed and again.rule != decided.decision.rule:
            again = Decision(False, "policy_changed")  # the rows were shaped by another rule
        if again.allowed and decided.consent.applies and not decided.consent.still(session):
            again = Decision(False, "consent_changed")  # a withdrawal came in meanwhile
        if not again.allowed:
            raise _refused(core, event, again, facts, session)
        consent = decided.consent
        entry = auditlog.events.read(
            facts=event,
            grant=again.grant_id,
            basis=again.basis,
            rows=rows,
            columns=columns,
            consent_excluded=consent.excluded if consent.applies else None,
            offset=page[0] if page is not None else None,
            limit=page[1] if page is not None else None,
        )
        (index,) = auditlog.append(session, [entry])
        if again.basis in ("grant", "owner") and governed(session, policy_now[0]):
            observe(
                core,
                session,
                policy_now[1].alerts,
                user=identity.name,
                dataset=facts,
                purpose=event.purpose,
                rows=rows,
                now=decided.now,
                read_index=index,
            )
        session.commit()
    return index, again


def _release(
    core: Core,
    ref: str,
    identity: Identity,
    view: str,
    purpose: str,
    channel: str,
    *,
    keep_stored: bool = False,
    keep_link: bool = False,
    page: tuple[int, int | None] | None = None,
) -> tuple[Release, Decision, Iterator[bytes] | None]:
    """Decide, decrypt and shape the rows in a read transaction, then decide again and log
    in a short write transaction: SQLite's single write lock is held for a few lookups and
    one append, not for the decryption, so concurrent readers overlap.

    With ``keep_stored``, a view that releases the stored version unchanged (no mask, no
    row filter) returns its stored Parquet as chunks decrypted on demand instead of decoding
    it (the frame of the release is then empty). Without ``keep_link``, privet's own columns
    (a derived version's subject link) are dropped, so such a version is never sent as
    stored: the link would let a reader tie a person's rows together across derived copies.
    """
    decided = _decide_read(core, ref, identity, view, purpose, channel)
    info, handle = decided.info, decided.handle
    unchanged = not decided.shapes_rows(view) and not (decided.linked() and not keep_link)
    stored: Iterator[bytes] | None = None
    if keep_stored and unchanged and page is None:
        # Decrypted chunk by chunk while it is sent, after the log entry below commits.
        stored = _stored_chunks(
            core, handle, decided.served_id, info.id, decided.object_key, decided.sha256
        )
        frame = pl.DataFrame()
        rows, columns = info.rows, len(info.columns)
    else:
        with core.store.open(decided.object_key) as source:
            plaintext = core.vault.decrypt_version(handle, decided.served_id, info.id, source)
        if hashlib.sha256(plaintext).hexdigest() != decided.sha256:
            raise IntegrityError("a stored version does not match its recorded hash")
        frame = tables.from_parquet_bytes(plaintext)
        # Before the link is dropped and any mask hides the subject id.
        frame = decided.consent.apply(core, frame)
        if not keep_link:
            frame = frame.drop([c for c in frame.columns if is_reserved(c)])
        try:
            frame = _apply_view(core, frame, info, view, decided.rule)
        except _FilterFailed:
            # Fail closed: a filter that cannot run on this dataset releases nothing.
            failed = Decision(False, "row_filter_failed")
            raise _refused(core, decided.event, failed, decided.facts) from None
        if page is not None:
            # A page of the view as released (masks, filter and consent applied first), so
            # its offsets name the same rows whoever pages through it under the same rule.
            frame = frame.slice(page[0], page[1])
        rows, columns = frame.height, frame.width
    index, decision = _log_release(core, decided, identity, rows=rows, columns=columns, page=page)
    return Release(frame, info, index, view, decision.grant_id), decision, stored


def _consent(
    session: Session, dataset: Dataset, served: Dataset, version: Version, purpose: str
) -> ConsentFilter:
    """The consent filter of a read of ``dataset`` served from ``served``/``version``.

    A derived dataset carries its root's legal basis (copied when it is made, never changed
    after), and its subject id is the link (``SUBJECT_LINK``) when it has one.
    """
    if served.legal_basis != CONSENT_BASIS:
        return ConsentFilter()  # the hot path: nothing looked up
    root = dataset.derived_from or dataset.id
    return consent_filter(
        session,
        legal_basis=served.legal_basis,
        purpose=purpose,
        subject_column=served.subject_id_column,
        columns=[c.name for c in version.columns],
        exempt=lambda: version.kind == "synthetic" and _dp_synthetic(session, version, root),
    )


def _decision(
    session: Session,
    identity: Identity,
    facts: Facts,
    view: str,
    purpose: str,
    now: datetime,
    channel: str,
    policy: tuple[int, Policy] | None = None,
) -> Decision:
    decision = decide_on(session, identity, facts, view, purpose, now, policy=policy)
    if decision.allowed and view == "aggregate" and not channel.startswith("dp:"):
        return Decision(False, "aggregate_is_dp_only")
    return decision


def _policy_of(core: Core) -> tuple[int, Policy]:
    with core.reading() as session:
        return current_policy(session)


def _target(
    session: Session, dataset: Dataset, version: Version, view: str
) -> tuple[Dataset, Version]:
    """The dataset and version a view is served from: protected and synthetic views come
    from the newest derived dataset of that kind (same people, made by privet).

    Only a differentially private release is served as synthetic: a version counts when its
    lineage names a release recorded in the source's ledger. The independent baseline (kind
    "baseline") copies real rare values with no ε charged, so it is never served, nor is any
    other version merely labelled synthetic.
    """
    if view not in ("protected", "synthetic"):
        return dataset, version
    root = dataset.derived_from or dataset.id

    def servable(candidate: Version) -> bool:
        return view != "synthetic" or _dp_synthetic(session, candidate, root)

    if version.kind == view and servable(version):
        return dataset, version
    candidates = session.execute(
        select(Dataset, Version)
        .join(Version, Version.dataset_id == Dataset.id)
        .where(Dataset.derived_from == root, Version.kind == view, Version.shredded_at.is_(None))
        .order_by(Version.created_at.desc())
    ).all()
    for served, served_version in candidates:
        if servable(served_version):
            return served, served_version
    how = "protect it" if view == "protected" else "synthesize it with MST or AIM"
    what = "protected" if view == "protected" else "differentially private synthetic"
    raise NotFound(
        f"dataset {dataset.name!r} has no {what} derived dataset yet (make one: {how})",
        parameter="view",
    )


def _dp_synthetic(session: Session, candidate: Version, root: str) -> bool:
    """Does ``candidate``'s lineage name a DP release recorded in ``root``'s ledger?"""
    from privet.lineage import version_ref
    from privet.schema import DpRelease, LineageEdge

    edges = session.scalars(
        select(LineageEdge.facts).where(LineageEdge.target == version_ref(candidate.id))
    )
    for facts in edges:
        if not isinstance(facts, dict):
            continue
        release = facts.get("release")
        if facts.get("differentially_private") is True and isinstance(release, str):
            recorded = session.get(DpRelease, release)
            if recorded is not None and recorded.ledger_id == root:
                return True
    return False


def _apply_view(
    core: Core,
    frame: pl.DataFrame,
    info: VersionInfo,
    view: str,
    rule: Any,
) -> pl.DataFrame:
    from privet.operators import Context, kind_of, make_operator

    if rule is not None and rule.row_filter:
        try:
            frame = frame.filter(pl.sql_expr(rule.row_filter))
        except Exception:  # noqa: BLE001 - Polars raises several types for a bad column
            raise _FilterFailed from None
    if view not in ("masked", "pseudonymized"):
        return frame
    direct = [c.name for c in info.columns if c.role == "direct_identifier"]
    extra = [c for c in (rule.mask if rule is not None else []) if c in frame.columns]
    context = Context()
    if view == "pseudonymized":
        context = Context(prf=keyed_prf(core))
    # A fixed width: a masked name or e-mail must not give away its length either.
    mask = make_operator("mask", {"keep_first": 0, "keep_last": 0, "width": MASK_WIDTH})
    blank = make_operator("redact", {"replacement": None})
    pseudonym = make_operator("pseudonym", {})
    for column in [c for c in direct if c in frame.columns] + extra:
        kind = kind_of(frame.schema[column])
        if view == "pseudonymized" and column in direct and kind != "other":
            frame = pseudonym.apply(frame, column, context)
        elif kind in ("string", "numeric"):
            frame = mask.apply(frame, column, context)
        else:
            frame = blank.apply(frame, column, context)
    return frame


def export(
    core: Core,
    ref: str,
    destination: Path,
    *,
    purpose: str,
    actor: str,
    overwrite: bool = False,
    view: str = "raw",
) -> Release:
    """A governed read written to ``destination`` (CSV, Parquet or JSON lines, atomically);
    a version larger than memory is written without holding it (see ``_export_streamed``)."""
    if larger_than_memory(core, ref):
        return _export_streamed(core, ref, destination, purpose=purpose, actor=actor, view=view)
    if purpose in INTERNAL_PURPOSES:
        raise PolicyDenied(f"{purpose!r} is for privet's own processing, not for exports")
    tables.check_destination(destination, overwrite=overwrite)
    release = read(
        core, ref, purpose=purpose, actor=actor, view=view, channel=f"file:{destination.suffix[1:]}"
    )
    tables.write_table(release.frame, destination, overwrite=overwrite, journal=core.journal)
    return release


# -- streaming --------------------------------------------------------------------------------


def stream(
    core: Core,
    ref: str,
    *,
    identity: Identity,
    purpose: str,
    view: str = "raw",
    fmt: str = "parquet",
    batch_rows: int = 10_000,
    channel: str | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> Iterator[bytes]:
    """A governed read as a byte stream (Parquet, CSV or the Arrow IPC stream format); with
    ``offset`` or ``limit``, only that page of the view (logged as a read of those rows,
    with the page).

    The decision and its log entry happen *now*, before this returns (so a refusal raises
    ``PolicyDenied`` here, before any response starts); the read is logged once. Between
    chunks the grant is checked again, and an expired or revoked one stops the stream with
    ``PolicyDenied`` (the stop is logged too). ``channel`` names the door in the log entry
    (default ``stream:<fmt>``; the server passes ``http:<request id>``).
    """
    if fmt not in ("parquet", "csv", "arrow"):
        raise InvalidInput("stream format must be parquet, csv or arrow", parameter="fmt")
    release, decision, stored = _stream_release(
        core, ref, identity, purpose, view, fmt, batch_rows, channel, offset, limit
    )
    if fmt == "arrow":
        arrow = batch_stream(core, release, decision, identity, batch_rows, stored, serialized=True)
        return arrow.ipc()
    return _chunks(core, release, decision, identity, fmt, batch_rows, stored)


def stream_batches(
    core: Core,
    ref: str,
    *,
    identity: Identity,
    purpose: str,
    view: str = "raw",
    batch_rows: int = 65_536,
    channel: str | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> BatchStream:
    """A governed read as Arrow record batches (what Arrow Flight sends): decided and logged
    as :func:`stream` is, before this returns; the stored object is decrypted and its hash
    checked before the first batch is made (a failure raises here), and the grant is
    re-checked between batches (see :class:`BatchStream`)."""
    release, decision, stored = _stream_release(
        core, ref, identity, purpose, view, "arrow", batch_rows, channel, offset, limit
    )
    return batch_stream(core, release, decision, identity, batch_rows, stored)


def _stream_release(
    core: Core,
    ref: str,
    identity: Identity,
    purpose: str,
    view: str,
    fmt: str,
    batch_rows: int,
    channel: str | None,
    offset: int,
    limit: int | None,
) -> tuple[Release, Decision, Iterator[bytes] | None]:
    if batch_rows < 1:
        raise InvalidInput("batch_rows must be positive", parameter="batch_rows")
    if purpose in INTERNAL_PURPOSES:
        raise PolicyDenied(f"{purpose!r} is for privet's own processing, not for streaming")
    if offset < 0 or (limit is not None and limit < 1):
        raise InvalidInput("a page needs offset >= 0 and limit >= 1", parameter="limit")
    page = (offset, limit) if offset or limit is not None else None
    return _release(
        core,
        ref,
        identity,
        view,
        purpose,
        channel or f"stream:{fmt}",
        # The stored Parquet, decrypted as it goes, when the view leaves it unchanged.
        keep_stored=fmt in ("parquet", "arrow"),
        page=page,
    )


def _chunks(
    core: Core,
    release: Release,
    decision: Decision,
    identity: Identity,
    fmt: str,
    batch_rows: int,
    stored: Iterator[bytes] | None = None,
) -> Iterator[bytes]:
    # The stored Parquet, already verified against its hash, when the view left it unchanged:
    # decoding and re-encoding it would cost ~40× the decryption.
    pieces = stored if stored is not None else _encode(release.frame, fmt, batch_rows)
    first = True
    for chunk in pieces:
        if not first:
            still_allowed(core, release, decision, identity)
        first = False
        yield chunk


def _encode(frame: pl.DataFrame, fmt: str, batch_rows: int) -> Iterator[bytes]:
    if fmt == "csv":
        if frame.height == 0:
            yield frame.write_csv().encode()
        for offset in range(0, frame.height, batch_rows):
            part = frame.slice(offset, batch_rows)
            yield part.write_csv(include_header=offset == 0).encode()
        return
    buffer = io.BytesIO()
    # LZ4: the stream is consumed at once, so encoding speed matters more than size.
    frame.write_parquet(buffer, row_group_size=batch_rows, compression="lz4")
    yield from _pieces(buffer.getvalue())


def _stored_chunks(
    core: Core, handle: Any, dataset_id: str, version_id: str, key: str, sha256: str
) -> Iterator[bytes]:
    """The stored Parquet of a version, decrypted ``_CHUNK`` bytes at a time.

    Streaming AEAD authenticates every segment before it is returned, so no altered byte is
    ever sent; the content hash is checked at the end too, and a mismatch raises, cutting
    the stream before its end rather than completing it.
    """
    digest = hashlib.sha256()
    with core.store.open(key) as source:
        for chunk in core.vault.decrypt_version_chunks(
            handle, dataset_id, version_id, source, _CHUNK
        ):
            digest.update(chunk)
            yield chunk
    if digest.hexdigest() != sha256:
        raise IntegrityError("a stored version does not match its recorded hash")


def _pieces(data: bytes) -> Iterator[bytes]:
    for offset in range(0, len(data), _CHUNK):
        yield data[offset : offset + _CHUNK]


def still_allowed(core: Core, release: Release, decision: Decision, identity: Identity) -> None:
    """Raise ``PolicyDenied`` (and log the stop) once the grant behind a read has ended."""
    if decision.grant_id is None:
        return
    now = core.now()
    mismatch = None
    # Two columns by primary key through Core: this runs between every two chunks.
    with core.reading() as session:
        row = session.execute(
            select(Grant.status, Grant.expires_at).where(Grant.id == decision.grant_id)
        ).first()
        try:
            auditlog.check(session, ("grant", decision.grant_id))
        except GovernanceMismatch as err:
            mismatch = err
    live = (
        mismatch is None
        and row is not None
        and row.status == "active"
        and row.expires_at is not None
        and aware(row.expires_at) > now
    )
    if live:
        return
    with core.session() as session:
        auditlog.append(
            session,
            [
                auditlog.events.read_stopped(
                    ts=now,
                    actor=identity.name,
                    grant=decision.grant_id,
                    read=release.log_index,
                    reason="grant_ended" if mismatch is None else "governance_mismatch",
                )
            ],
        )
        session.commit()
    if mismatch is not None:
        raise mismatch
    raise PolicyDenied("the grant behind this read has expired or been revoked; stream stopped")


# -- jobs: engines that decrypt elsewhere (Spark executors) ------------------------------------


@dataclass(frozen=True)
class JobRelease:
    """A read decided and logged for a job that decrypts the version itself, elsewhere.

    ``key`` decrypts this one object and nothing else (a per-object data key, serialized);
    it is for the job's own tasks only: never logged, printed, put in a job's options or
    written to disk (it is left out of ``repr``).
    """

    version: VersionInfo
    log_index: int
    grant_id: str | None
    path: Path  # the encrypted object, where the job's tasks open it
    context: bytes  # the associated data the object was encrypted under
    sha256: str  # of the plaintext Parquet
    columns: tuple[tuple[str, str], ...]  # released (name, Polars dtype), in stored order
    drop: tuple[str, ...]  # privet's own columns, to drop after decoding
    key: bytes = field(repr=False)


def release_to_job(
    core: Core,
    ref: str,
    *,
    purpose: str,
    actor: str | None = None,
    identity: Identity | None = None,
    view: str = "raw",
    channel: str,
) -> JobRelease:
    """Decide and log a read of ``ref`` as :func:`read` does, and hand the job what decrypts
    it (the object, its context, hash and data key) instead of the rows: nothing is
    decrypted here. The log entry (the version's rows) commits before this returns.

    A job releases the stored version unchanged, so a view that shapes rows or cells here
    (masks, pseudonyms, a row filter, withdrawn consent) is refused, and logged as such.
    """
    who = _who(core, actor, identity)
    decided = _decide_read(core, ref, who, view, purpose, channel)
    if decided.shapes_rows(view):
        refusal = Decision(False, "job_needs_unchanged")
        raise _refused(core, decided.event, refusal, decided.facts)
    keep_link = _keeps_link(channel, purpose)
    stored = decided.stored_columns
    drop = tuple(name for name, _ in stored if is_reserved(name) and not keep_link)
    columns = tuple((name, dtype) for name, dtype in stored if name not in drop)
    path = core.store.path(decided.object_key)  # a missing object fails before the entry
    info = decided.info
    index, decision = _log_release(core, decided, who, rows=info.rows, columns=len(columns))
    return JobRelease(
        version=info,
        log_index=index,
        grant_id=decision.grant_id,
        path=path,
        context=core.vault.version_context(decided.served_id, info.id),
        sha256=decided.sha256,
        columns=columns,
        drop=drop,
        key=export_data_key(decided.handle),
    )


# -- larger than memory -----------------------------------------------------------------------


class FileRelease:
    """A governed read written to an owner-only Parquet file in the workspace's scratch folder
    (``path``); :meth:`close` (or leaving the ``with`` block) deletes the file, and a process
    that dies first leaves it to the next open of the workspace, which deletes it."""

    def __init__(self, release: Release, file: tables.PrivateFile) -> None:
        self.release = release
        self._file = file

    @property
    def path(self) -> Path:
        return self._file.path

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> FileRelease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def release_to_file(
    core: Core,
    ref: str,
    *,
    purpose: str,
    actor: str | None = None,
    identity: Identity | None = None,
    view: str = "raw",
    channel: str = "library",
) -> FileRelease:
    """``read``, with the rows written to a private Parquet file instead of memory: the same
    decision and one log entry, before any byte is decrypted (a refusal writes no file).

    When the view releases the stored version unchanged, its plaintext goes to the file a
    chunk at a time (its hash checked at the end) and is never whole in memory; a view that
    reshapes rows (masks, a row filter, consent, a dropped subject link) is shaped in memory
    by ``read``'s path, and that frame is written.
    """
    keep_link = _keeps_link(channel, purpose)
    who = _who(core, actor, identity)
    release, _, stored = _release(
        core, ref, who, view, purpose, channel, keep_stored=True, keep_link=keep_link
    )
    file = core.private_file("release")
    try:
        with open(file.path, "wb") as out:
            _write_release(release, stored, out)
    except BaseException:
        file.close()
        raise
    return FileRelease(release, file)


def _write_release(release: Release, stored: Iterator[bytes] | None, out: BinaryIO) -> None:
    if stored is None:
        release.frame.write_parquet(out, compression="zstd")
        return
    for chunk in stored:
        out.write(chunk)


def larger_than_memory(core: Core, ref: str) -> bool:
    """Whether version ``ref`` is read by streaming rather than into memory: its plaintext
    size against the memory available (see :func:`privet.tables.streams`)."""
    with core.reading() as session:
        _, version = resolve(session, ref)
        dtypes = [c.dtype for c in version.columns]
        needed = tables.table_memory(version.row_count, dtypes, version.plaintext_bytes or 0)
    return tables.streams(needed)


def _export_streamed(
    core: Core, ref: str, destination: Path, *, purpose: str, actor: str, view: str
) -> Release:
    """``export`` of a version larger than memory: a Parquet destination gets the decrypted
    chunks as they come; CSV and JSON lines are written a slice at a time from a private
    Parquet file (see ``tables.slices``). Either way the destination appears whole or not
    at all."""
    fmt = tables.file_format(destination)
    channel = f"file:{destination.suffix[1:]}"
    if fmt == "parquet":
        who = _who(core, actor, None)
        release, _, stored = _release(core, ref, who, view, purpose, channel, keep_stored=True)
        with tables.atomic_file(destination, journal=core.journal) as out:
            _write_release(release, stored, out)
        return release
    with release_to_file(core, ref, purpose=purpose, actor=actor, view=view, channel=channel) as (
        released
    ):
        rows = pl.scan_parquet(released.path)
        if fmt == "csv" and any(t.is_nested() for t in rows.collect_schema().dtypes()):
            raise InvalidInput(
                "this table has nested columns, which CSV cannot hold; export to .parquet"
            )
        height = int(rows.select(pl.len()).collect(engine="streaming").item())
        with tables.atomic_file(destination, journal=core.journal) as out:
            for number, part in enumerate(tables.slices(rows, height)):
                frame = part.collect(engine="streaming")
                if fmt == "csv":
                    frame.write_csv(out, include_header=number == 0)
                else:
                    frame.write_ndjson(out)
        return released.release
