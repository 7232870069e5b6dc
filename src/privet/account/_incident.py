"""Incident scoping: what one actor (or one API token) read, exported and made, and whom it
touched — from the audit log, the catalog and lineage, never from a cell value.

:func:`scope` ties the parts together: the actor's entries (``_incident_entries``), what was
made from them (``_incident_made``), the people counted by re-reading the versions
(``_incident_people``) and the Art. 33(3) notification (``_incident_notice``). The subject
ids leave only sealed to the DPO (``_incident_seal``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select

from privet import auditlog, policy
from privet.account._incident_entries import Work, logged_entries
from privet.account._incident_made import list_made
from privet.account._incident_models import AlertSeen, ContainmentDone, IncidentScope
from privet.account._incident_notice import notification
from privet.account._incident_people import SYSTEM_ACTOR, count_people, subject_total
from privet.errors import InvalidInput, NotFound
from privet.schema import AccessEvent, Alert, ApiToken, Dataset, LogHead, User
from privet.timestamps import aware

if TYPE_CHECKING:
    from privet.core import Core


def scope(
    core: Core,
    *,
    actor: str | None = None,
    token: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    by: str = SYSTEM_ACTOR,
    containment: policy.Containment | None = None,
) -> IncidentScope:
    """The incident scope of ``actor`` or of one API ``token`` (exactly one) in
    [``since``, ``until``) (default: all of the log up to now). Logged as ``incident.scope``
    by ``by``; the versions read are re-read through the broker under privet's internal
    purpose to count people (see ``_incident_people``)."""
    if (actor is None) == (token is None):
        raise InvalidInput("give exactly one of actor or token", parameter="actor")
    now = core.now()
    since = aware(since) if since is not None else None
    until = aware(until) if until is not None else now
    if since is not None and since >= until:
        raise InvalidInput("since must be before until", parameter="since")
    by_column: Literal["actor", "token"]
    with core.reading() as session:
        if token is not None:
            row = session.get(ApiToken, token)
            if row is None:
                raise NotFound(f"no API token {token[:40]!r}", parameter="token")
            who = row.user
            by_column, key = "token", token
        else:
            assert actor is not None
            known = session.get(User, actor) is not None or (
                session.scalars(
                    select(AccessEvent.log_index).where(AccessEvent.actor == actor).limit(1)
                ).first()
                is not None
            )
            if not known:
                raise NotFound(f"no user or logged actor named {actor[:60]!r}", parameter="actor")
            who = actor
            by_column, key = "actor", actor
        size = session.execute(select(LogHead.size).where(LogHead.id == 1)).scalar_one()
        entries = logged_entries(session, by_column, key, since, until, size)
        work = Work(session, who, entries)
        alerts = _alerts(session, who, since, until, work.read_indexes if token else None)
        made = list_made(work)
        # Inside the read transaction: the catalog rows above stay loaded and consistent.
        counted = count_people(core, work)
        versions = work.version_reads(counted.per_version)
    subjects = subject_total(versions, counted)
    datasets = sorted({v.dataset for v in versions} | {a for v in versions for a in v.asked})
    rows = sum(v.rows for v in versions if v.disclosed)
    done = (
        ContainmentDone(
            tokens_revoked=containment.tokens,
            grants_revoked=containment.grants,
            log_index=containment.log_index,
        )
        if containment is not None
        else None
    )
    result = IncidentScope(
        actor=who,
        token=token,
        since=since,
        until=until,
        computed_at=now,
        computed_by=by,
        log_size=size,
        log_index=-1,
        entries=len(entries),
        reads=work.reads,
        refused=work.refused,
        datasets=datasets,
        purposes=sorted(work.purposes),
        versions=versions,
        rows=rows,
        subjects=subjects,
        exports=work.exports,
        made=made,
        alerts=alerts,
        containment=done,
        notification=notification(who, token, since, until, work, versions, rows, subjects, done),
    )
    result._people, result._ids_by_link = dict(counted.people), counted.ids_by_link
    result._unresolved = counted.unresolved
    with core.session() as session:
        entry = auditlog.events.incident_scope(
            ts=now,
            actor=by,
            subject_actor=who,
            token=token,
            since=since,
            until=until,
            entries=len(entries),
            reads=work.reads,
            datasets=len(datasets),
            rows=rows,
            subjects=subjects.total,
        )
        (result.log_index,) = auditlog.append(session, [entry])
        session.commit()
    return result


def scope_actor(core: Core, *, actor: str | None, token: str | None) -> str:
    """The user behind ``actor`` or ``token`` (exactly one), checked to exist."""
    if (actor is None) == (token is None):
        raise InvalidInput("give exactly one of actor or token", parameter="actor")
    with core.reading() as session:
        if token is not None:
            row = session.get(ApiToken, token)
            if row is None:
                raise NotFound(f"no API token {token[:40]!r}", parameter="token")
            return row.user
        assert actor is not None
        if session.get(User, actor) is None:
            raise NotFound(f"no user named {actor[:60]!r}", parameter="actor")
        return actor


def _alerts(
    session: Any,
    user: str,
    since: datetime | None,
    until: datetime,
    reads: set[int] | None,
) -> list[AlertSeen]:
    query = select(Alert, Dataset.name).join(Dataset, Dataset.id == Alert.dataset_id, isouter=True)
    query = query.where(Alert.user == user).order_by(Alert.id)
    out = []
    for row, name in session.execute(query):
        created = aware(row.created_at)
        if (since is not None and created < since) or created >= until:
            continue
        if reads is not None and row.log_index not in reads:
            continue
        out.append(
            AlertSeen(
                id=row.id,
                created_at=created,
                dataset=name or row.dataset_id,
                kind=row.kind,
                severity=row.severity,
                read_log_index=row.log_index,
            )
        )
    return out
