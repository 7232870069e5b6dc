"""Consent: each subject's latest decision per purpose, and the withdrawals the broker honours.

A record is keyed by the subject's link (``catalog.subject_link``: a keyed HMAC of the id as
text), never by the id, so the catalog holds no subject id in clear and the same person
matches in every dataset of the workspace. Only the latest decision per (subject, purpose)
is kept: an older one, from a file or otherwise, never overwrites a newer one.

Withdrawals decide access (the broker leaves those people's rows out), so each purpose's set
of withdrawn links is a governance object (kind ``consent``, key the purpose): its count and
the hash of its sorted links are attested in the log, and a withdrawal deleted behind
privet's back makes the next read for that purpose refuse instead of releasing the rows.

Who may record consent: anyone while the workspace is not governed (as for reads); then a
named approver, a holder of an approver role, or the owner of a dataset that rests on
consent. A refusal is logged.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from privet import auditlog
from privet.auditlog.kinds import Kind, Reader, fetch, register_kind
from privet.catalog import (
    INTERNAL_PURPOSES,
    SUBJECT_LINK,
    check_purpose,
    subject_link,
    subject_links,
)
from privet.errors import InvalidInput, PolicyDenied
from privet.policy._decide import governed
from privet.policy._governance import IN_FORCE
from privet.policy._identity import Identity
from privet.policy._rules import current_policy
from privet.schema import ConsentRecord, Dataset
from privet.tables import file_errors
from privet.timestamps import aware

if TYPE_CHECKING:
    from privet.core import Core

CONSENT_BASIS = "consent"
STATUSES = ("granted", "withdrawn")
ConsentStatus = Literal["granted", "withdrawn"]
REQUIRED = ("subject_id", "purpose", "status")
OPTIONAL = ("recorded_at",)
_WITHDRAWN = (
    "SELECT subject_link FROM consent_records WHERE purpose = :purpose "
    "AND status = 'withdrawn' ORDER BY subject_link"
)
_PURPOSES = "SELECT DISTINCT purpose FROM consent_records WHERE status = 'withdrawn'"


# -- the governance state of a purpose's withdrawals --------------------------------------------


def consent_state(rows: Reader, purpose: str) -> dict[str, Any] | None:
    """The withdrawals for ``purpose``: how many, and the hash of their sorted links (the
    links themselves stay out of the log). None when nobody withdrew."""
    links = [row[0] for row in rows(_WITHDRAWN, purpose=purpose)]
    if not links:
        return None
    return {"withdrawn": len(links), "links_sha256": _links_digest(links)}


def _links_digest(links: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(links)).encode()).hexdigest()


register_kind(
    Kind(
        "consent",
        consent_state,
        lambda rows: [row[0] for row in rows(_PURPOSES)],
        lambda _rows, key, _state: f"the consent withdrawals for purpose {key!r}",
    )
)


def withdrawn_links(session: Session, purpose: str) -> frozenset[str]:
    """The links of the subjects whose latest decision for ``purpose`` is a withdrawal,
    checked against their attestation (``GovernanceMismatch`` when one was deleted or
    changed behind privet's back). Two index probes when nobody withdrew."""
    auditlog.check(session, ("consent", purpose))
    return frozenset(row[0] for row in fetch(session, _WITHDRAWN, purpose=purpose))


@dataclass
class ConsentFilter:
    """What one read leaves out for consent (see the broker): nothing unless ``applies``."""

    applies: bool = False
    purpose: str = ""
    withdrawn: frozenset[str] = field(default_factory=frozenset)
    # The column whose links are matched, set only when there is something to leave out.
    column: str | None = None
    unenforceable: bool = False
    excluded: int = 0

    def apply(self, core: Core, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` without the withdrawn subjects' rows (rows with no subject id stay)."""
        if self.column is None:
            return frame
        values = frame.get_column(self.column)
        links = values if self.column == SUBJECT_LINK else subject_links(core, values)
        drop = links.is_in(list(self.withdrawn)).fill_null(False)
        self.excluded = int(drop.sum())
        return frame.filter(~drop) if self.excluded else frame

    def still(self, session: Session) -> bool:
        """The withdrawals are those the rows were filtered by (checked before logging)."""
        if not self.applies or self.purpose in INTERNAL_PURPOSES:
            return True
        now = frozenset(row[0] for row in fetch(session, _WITHDRAWN, purpose=self.purpose))
        return now == self.withdrawn


def consent_filter(
    session: Session,
    *,
    legal_basis: str | None,
    purpose: str,
    subject_column: str | None,
    columns: Iterable[str],
    exempt: Callable[[], bool],
) -> ConsentFilter:
    """The filter of a read for ``purpose`` of a version with ``columns`` whose dataset has
    ``legal_basis`` and ``subject_column``; ``exempt()`` says whether rows that cannot be
    matched may be served anyway (a DP synthetic dataset). Nothing is looked up unless the
    dataset rests on consent, and no link is computed unless someone withdrew for ``purpose``."""
    if legal_basis != CONSENT_BASIS:
        return ConsentFilter()
    if purpose in INTERNAL_PURPOSES:  # privet's own processing; nobody consents to it
        return ConsentFilter(applies=True, purpose=purpose)
    withdrawn = withdrawn_links(session, purpose)
    found = ConsentFilter(applies=True, purpose=purpose, withdrawn=withdrawn)
    if withdrawn:
        if subject_column is not None and subject_column in set(columns):
            found.column = subject_column
        elif not exempt():
            found.unenforceable = True
    return found


# -- reading a file -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentLine:
    """One record of a consent file, as given (``line`` is its line number in the file)."""

    line: int
    subject_id: str
    purpose: str
    status: ConsentStatus
    recorded_at: datetime | None


def parse_consent_csv(text: str, *, now: datetime, name: str = "the file") -> list[ConsentLine]:
    """The records of a consent CSV (header ``subject_id,purpose,status`` and optionally
    ``recorded_at``, in any order), or ``InvalidInput`` naming the first bad line and column,
    never a value: a subject id is personal data."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise InvalidInput(f"{name} is empty")
        position = _header(header, name)
        found = []
        for fields in reader:
            if not fields:
                continue  # a blank line is no record
            found.append(_line(fields, reader.line_num, position, now, name))
    except csv.Error:
        raise InvalidInput(f"{name}: line {reader.line_num + 1}: not well-formed CSV") from None
    if not found:
        raise InvalidInput(f"{name} holds no consent records, only a header")
    return found


def _header(header: list[str], name: str) -> dict[str, int]:
    known = REQUIRED + OPTIONAL
    for column in header:
        if column not in known:
            raise InvalidInput(
                f"{name}: line 1: unknown column {column[:40]!r}; the columns are "
                f"{', '.join(known)} (recorded_at optional)"
            )
    if len(set(header)) != len(header):
        raise InvalidInput(f"{name}: line 1: a column is named twice")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InvalidInput(f"{name}: line 1: the header has no column {missing[0]}")
    return {column: index for index, column in enumerate(header)}


def _line(
    fields: list[str], number: int, position: dict[str, int], now: datetime, name: str
) -> ConsentLine:
    where = f"{name}: line {number}"
    if len(fields) != len(position):
        raise InvalidInput(f"{where}: expected {len(position)} fields, found {len(fields)}")
    subject = fields[position["subject_id"]]
    if not subject:
        raise InvalidInput(f"{where}, column subject_id: empty")
    purpose = fields[position["purpose"]]
    try:
        check_purpose(purpose, declaring=True)
    except InvalidInput:
        raise InvalidInput(
            f"{where}, column purpose: not a purpose (letters, digits, '_', '.', ':' and '-'; "
            "not privet's own)"
        ) from None
    status = fields[position["status"]]
    if status not in STATUSES:
        raise InvalidInput(f"{where}, column status: must be granted or withdrawn")
    recorded_at = None
    if "recorded_at" in position and fields[position["recorded_at"]]:
        recorded_at = _time(fields[position["recorded_at"]], f"{where}, column recorded_at", now)
    return ConsentLine(number, subject, purpose, status, recorded_at)  # type: ignore[arg-type]


def _time(text: str, where: str, now: datetime) -> datetime:
    try:
        value = aware(datetime.fromisoformat(text))
    except ValueError:
        raise InvalidInput(f"{where}: not an ISO 8601 time") from None
    if value > now:
        raise InvalidInput(f"{where}: in the future")
    return value


# -- recording ----------------------------------------------------------------------------------


class ConsentImport(BaseModel):
    """What an import stored (``.model_dump(mode="json")`` for JSON)."""

    lines: int = Field(description="Records in the file.")
    written: dict[str, dict[str, int]] = Field(
        description="Records stored, per purpose and status."
    )
    superseded: int = Field(
        description="Records not stored: a later decision for the same subject and purpose "
        "(in the file or already recorded) wins."
    )
    log_index: int


class ConsentChange(BaseModel):
    """One subject's consent for one purpose, as recorded."""

    purpose: str
    status: ConsentStatus
    changed: bool = Field(description="False when it already was this.")
    log_index: int


class PurposeConsent(BaseModel):
    """How many subjects granted and withdrew consent for one purpose."""

    purpose: str
    granted: int
    withdrawn: int


@dataclass(frozen=True)
class _Decision:
    link: str
    purpose: str
    status: str
    recorded_at: datetime


def import_consent(core: Core, path: Path, *, identity: Identity) -> ConsentImport:
    """Store the consent records of the CSV at ``path``: all of them or, at the first bad
    line, none (``InvalidInput`` naming the line and the column)."""
    with file_errors(path):
        data = path.read_bytes()
    if b"\x00" in data:
        raise InvalidInput(f"{path.name} is a binary file, not CSV text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path.name} is not UTF-8 text") from None
    now = core.now()
    lines = parse_consent_csv(text, now=now, name=path.name)
    links = subject_links(core, pl.Series([line.subject_id for line in lines], dtype=pl.String))
    latest: dict[tuple[str, str], _Decision] = {}
    for line, link in zip(lines, links.to_list(), strict=True):
        decision = _Decision(link, line.purpose, line.status, line.recorded_at or now)
        held = latest.get((link, line.purpose))
        if held is None or held.recorded_at <= decision.recorded_at:  # later lines win ties
            latest[(link, line.purpose)] = decision
    with core.session() as session:
        _authorize(core, session, identity, "import")
        written: dict[str, dict[str, int]] = {}
        for purpose in sorted({p for _, p in latest}):
            stored = {
                row.subject_link: row
                for row in session.scalars(
                    select(ConsentRecord).where(ConsentRecord.purpose == purpose)
                )
            }
            for (link, _), decision in latest.items():
                if decision.purpose == purpose and _store(
                    session, stored.get(link), decision, identity.name
                ):
                    counts = written.setdefault(purpose, {s: 0 for s in STATUSES})
                    counts[decision.status] += 1
        governance = auditlog.attest(session, *[("consent", p) for p in sorted(written)])
        entry = auditlog.events.consent_import(
            ts=core.now(),
            actor=identity.name,
            source_sha256=hashlib.sha256(data).hexdigest(),
            lines=len(lines),
            written=written,
            superseded=len(lines) - sum(sum(c.values()) for c in written.values()),
            governance=governance,
        )
        (index,) = auditlog.append(session, [entry])
        session.commit()
    return ConsentImport(
        lines=len(lines),
        written=written,
        superseded=len(lines) - sum(sum(c.values()) for c in written.values()),
        log_index=index,
    )


def _store(session: Session, row: ConsentRecord | None, new: _Decision, by: str) -> bool:
    """Write ``new`` unless the stored decision is later; True when written."""
    if row is None:
        session.add(
            ConsentRecord(
                subject_link=new.link,
                purpose=new.purpose,
                status=new.status,
                recorded_at=new.recorded_at,
                recorded_by=by,
            )
        )
        return True
    if aware(row.recorded_at) > new.recorded_at:
        return False
    row.status, row.recorded_at, row.recorded_by = new.status, new.recorded_at, by
    return True


def record_consent(
    core: Core, subject: str, purpose: str, status: ConsentStatus, *, identity: Identity
) -> ConsentChange:
    """Record, now, that ``subject`` granted or withdrew consent for ``purpose``."""
    if not isinstance(subject, str) or not subject:
        raise InvalidInput("give the subject's id", parameter="subject")
    check_purpose(purpose, declaring=True)
    if status not in STATUSES:
        raise InvalidInput("status must be granted or withdrawn", parameter="status")
    link = subject_link(core, subject)
    action: Literal["withdraw", "grant"] = "withdraw" if status == "withdrawn" else "grant"
    with core.session() as session:
        _authorize(core, session, identity, action)
        row = session.get(ConsentRecord, (link, purpose))
        changed = row is None or row.status != status
        now = core.now()
        if row is not None and aware(row.recorded_at) > now:
            raise InvalidInput("a later decision of this subject for this purpose is recorded")
        _store(session, row, _Decision(link, purpose, status, now), identity.name)
        entry = auditlog.events.consent_record(
            ts=core.now(),
            actor=identity.name,
            purpose=purpose,
            status=status,
            changed=changed,
            governance=auditlog.attest(session, ("consent", purpose)),
        )
        (index,) = auditlog.append(session, [entry])
        session.commit()
    return ConsentChange(purpose=purpose, status=status, changed=changed, log_index=index)


def consent_summary(core: Core) -> list[PurposeConsent]:
    """Per purpose, how many subjects' latest decision is a grant and how many a withdrawal."""
    query = select(ConsentRecord.purpose, ConsentRecord.status, func.count()).group_by(
        ConsentRecord.purpose, ConsentRecord.status
    )
    counts: dict[str, dict[str, int]] = {}
    with core.reading() as session:
        for purpose, status, count in session.execute(query):
            counts.setdefault(purpose, {s: 0 for s in STATUSES})[status] = count
    return [
        PurposeConsent(purpose=p, granted=c.get("granted", 0), withdrawn=c.get("withdrawn", 0))
        for p, c in sorted(counts.items())
    ]


def _authorize(
    core: Core,
    session: Session,
    identity: Identity,
    action: Literal["import", "withdraw", "grant"],
) -> None:
    """Refuse (logged, ``PolicyDenied``) unless ``identity`` may record consent."""
    number, policy = current_policy(session)
    if not governed(session, number):
        # As for reads: deleting every user would turn governance off, so none may be gone.
        auditlog.check_every(session, "user")
        return
    auditlog.check(session, ("policy", IN_FORCE), ("user", identity.name))
    if identity.name in policy.approvers or not identity.roles.isdisjoint(policy.approver_roles):
        return
    owned = session.scalars(
        select(Dataset.id)
        .where(Dataset.owner == identity.name, Dataset.legal_basis == CONSENT_BASIS)
        .limit(1)
    ).first()
    if owned is not None:
        auditlog.check(session, ("dataset", owned))
        return
    refused = auditlog.events.consent_refused(
        ts=core.now(), actor=identity.name, action=action, reason="not_permitted"
    )
    auditlog.append(session, [refused])
    session.commit()
    raise PolicyDenied(
        "only an approver or the owner of a dataset that rests on consent may record consent; "
        "the refusal is in the audit log"
    )
