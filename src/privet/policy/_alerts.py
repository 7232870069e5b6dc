"""Anomaly alerts on governed reads, against each user's own baseline.

The baseline is counts only: reads, rows read, the datasets read before, and reads per UTC
hour, plus the reads of the last window (``recent_reads``: ids, purposes, row counts). It is
updated in the read's own transaction, and an alert is raised in that same transaction —
recorded in the audit log and the alerts table before any row leaves — so an alert is never
later than the read it flags. Each signal is a known insider-exfiltration pattern:

- ``volume``: a read far above the user's usual volume;
- ``first_restricted``: a first-ever read of a restricted dataset;
- ``off_hours_bulk``: a bulk read at an hour the user never works (a stolen token used at night);
- ``scraping``: many small reads within a sliding window (slow scraping that stays under the
  volume signal, one page at a time);
- ``purpose_hopping``: one dataset read under several purposes within a window (hunting for the
  purpose whose grant or rule lets more through);
- ``revoked_token`` / ``expired_token``: a token that no longer works presented again with its
  whole secret (raised by authentication, see :func:`token_presented`).

A kind the policy lists under ``alerts.contain`` contains its user in the alert's transaction
(every API token and grant revoked, see ``_contain``): their next request is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from privet import auditlog
from privet.errors import InvalidInput, NotFound
from privet.policy._contain import contain_in
from privet.policy._decide import Facts
from privet.policy._grants import check_may_oversee
from privet.policy._identity import Identity, aware
from privet.policy._rules import Alerts, current_policy
from privet.schema import AccessBaseline, Alert, Dataset, RecentRead, User
from privet.taxonomy import Level
from privet.timestamps import UtcDatetime

if TYPE_CHECKING:
    from privet.core import Core


class AlertInfo(BaseModel):
    id: int
    created_at: UtcDatetime
    user: str
    dataset: str
    kind: str
    severity: str
    facts: dict[str, Any]
    log_index: int


def observe(
    core: Core,
    session: Session,
    thresholds: Alerts,
    *,
    user: str,
    dataset: Facts,
    purpose: str,
    rows: int,
    now: datetime,
    read_index: int,
) -> list[dict[str, Any]]:
    """Compare one read with ``user``'s baseline, fold it in, record any alert, and contain
    the user when the policy says so for its kind.

    Returns the alert events appended to the log (empty for an ordinary read).
    """
    # Called after the read's log append, whose update of the log-head row (PostgreSQL) or
    # write lock (SQLite) already serializes writers, so a first baseline row is never
    # inserted twice; FOR UPDATE keeps that true if the order ever changes.
    base = session.scalars(
        select(AccessBaseline).where(AccessBaseline.user == user).with_for_update()
    ).first()
    if base is None:
        base = AccessBaseline(
            user=user, reads=0, rows_total=0, datasets=[], hours=[0] * 24, updated_at=now
        )
        session.add(base)
    hour = (now.astimezone(UTC) if now.tzinfo else now).hour
    found: list[tuple[str, str, dict[str, Any]]] = []
    history = base.reads >= thresholds.min_history
    mean = base.rows_total / base.reads if base.reads else 0.0
    if history and rows > thresholds.volume_factor * max(mean, 1.0):
        found.append(
            ("volume", "high", {"rows": rows, "mean_rows": round(mean, 1), "reads": base.reads})
        )
    # The owner registered the dataset: their first read of it is no surprise.
    first = dataset.id not in base.datasets and user != dataset.owner
    if dataset.classification == Level.RESTRICTED and first:
        found.append(("first_restricted", "high", {"rows": rows, "classification": "restricted"}))
    share = base.hours[hour] / base.reads if base.reads else 0.0
    if history and share < thresholds.usual_hour_share and rows >= thresholds.bulk_rows:
        found.append(("off_hours_bulk", "medium", {"rows": rows, "hour": hour}))
    found += _spanning(session, thresholds, user, dataset.id, purpose, rows, now)
    # Fold the read in (new lists: JSON columns do not track in-place mutation).
    base.reads += 1
    base.rows_total += rows
    if dataset.id not in base.datasets:
        base.datasets = [*base.datasets, dataset.id]
    hours = list(base.hours)
    hours[hour] += 1
    base.hours = hours
    base.updated_at = now
    if not found:
        return []
    return _raise(core, session, thresholds, found, user=user, dataset=dataset.id,
                  read=read_index, now=now)  # fmt: skip


def _raise(
    core: Core,
    session: Session,
    thresholds: Alerts,
    found: list[tuple[str, str, dict[str, Any]]],
    *,
    user: str,
    dataset: str | None,
    read: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """Log and store the alerts ``found``; contain ``user`` if one's kind says so."""
    events = [
        auditlog.events.alert(
            ts=now, user=user, dataset=dataset, kind=kind, severity=severity, read=read,
            facts=facts,
        )
        for kind, severity, facts in found
    ]  # fmt: skip
    indexes = auditlog.append(session, events)
    for (kind, severity, facts), index in zip(found, indexes, strict=True):
        session.add(
            Alert(
                created_at=now,
                user=user,
                dataset_id=dataset or "",
                kind=kind,
                severity=severity,
                facts={**facts, **({"read": read} if read is not None else {})},
                log_index=index,
            )
        )
    containing = [
        (kind, index)
        for (kind, _, _), index in zip(found, indexes, strict=True)
        if kind in thresholds.contain
    ]
    if containing:
        kind, index = containing[0]
        # In this transaction: the tokens and grants end when the alert is committed.
        contain_in(core, session, user, actor="privet", reason=f"alert:{kind}", alert=index,
                   skip_empty=True)  # fmt: skip
    return events


def _spanning(
    session: Session,
    thresholds: Alerts,
    user: str,
    dataset: str,
    purpose: str,
    rows: int,
    now: datetime,
) -> list[tuple[str, str, dict[str, Any]]]:
    """The patterns that span reads (scraping, purpose hopping), over ``recent_reads``; the
    read is added and reads older than the longest window are dropped."""
    horizon = now - timedelta(seconds=thresholds.window_seconds)
    found: list[tuple[str, str, dict[str, Any]]] = []
    scrape_since = now - timedelta(seconds=thresholds.scrape_window_seconds)
    if rows <= thresholds.scrape_rows:
        # Counted by the database (the (user, at) index): a scraper's window holds many reads.
        before = session.scalar(
            select(func.count())
            .select_from(RecentRead)
            .where(
                RecentRead.user == user,
                RecentRead.at > scrape_since,
                RecentRead.rows <= thresholds.scrape_rows,
            )
        )
        small = 1 + (before or 0)
        if small >= thresholds.scrape_reads and not _raised(
            session, user, "scraping", scrape_since
        ):
            found.append(
                (
                    "scraping",
                    "high",
                    {
                        "reads": small,
                        "window_seconds": thresholds.scrape_window_seconds,
                        "rows_per_read": thresholds.scrape_rows,
                    },
                )
            )
    hop_since = now - timedelta(seconds=thresholds.hop_window_seconds)
    purposes = set(
        session.scalars(
            select(RecentRead.purpose)
            .distinct()
            .where(
                RecentRead.user == user,
                RecentRead.at > hop_since,
                RecentRead.dataset_id == dataset,
            )
        )
    )
    hopping = purpose not in purposes and len(purposes) + 1 >= thresholds.hop_purposes
    if hopping and not _raised(session, user, "purpose_hopping", hop_since, dataset=dataset):
        found.append(
            (
                "purpose_hopping",
                "high",
                {
                    "purposes": len(purposes) + 1,
                    "window_seconds": thresholds.hop_window_seconds,
                },
            )
        )
    # Core statements, not the unit of work: this runs under the write lock of every read.
    session.execute(
        insert(RecentRead).values(user=user, at=now, dataset_id=dataset, purpose=purpose, rows=rows)
    )
    session.execute(delete(RecentRead).where(RecentRead.user == user, RecentRead.at <= horizon))
    return found


def _raised(
    session: Session,
    user: str,
    kind: str,
    since: datetime,
    *,
    dataset: str | None = None,
    token: str | None = None,
) -> bool:
    """Was an alert of ``kind`` raised for ``user`` (and ``dataset``/``token``) since then?
    A pattern that goes on is one alert per window, not one per read."""
    query = select(Alert.dataset_id, Alert.facts).where(
        Alert.user == user, Alert.kind == kind, Alert.created_at > since
    )
    for found_dataset, facts in session.execute(query):
        if dataset is not None and found_dataset != dataset:
            continue
        if token is not None and (facts or {}).get("token") != token:
            continue
        return True
    return False


def token_presented(core: Core, *, user: str, token: str, kind: str) -> None:
    """A revoked (``kind`` "revoked_token") or expired ("expired_token") API token was
    presented with its whole secret: its holder still has it, whoever they are. Raised in a
    transaction of its own (authentication itself only reads); at most one per token per
    replay window. Only the token's id is logged, never its secret."""
    now = core.now()
    with core.session() as session:
        _, policy = current_policy(session)
        thresholds = policy.alerts
        since = now - timedelta(seconds=thresholds.replay_window_seconds)
        if _raised(session, user, kind, since, token=token):
            return
        severity = "high" if kind == "revoked_token" else "low"
        found = [(kind, severity, {"token": token})]
        _raise(core, session, thresholds, found, user=user, dataset=None, read=None, now=now)
        session.commit()


def list_alerts(
    core: Core, *, since: int | None = None, identity: Identity | None = None
) -> list[AlertInfo]:
    """Alerts, newest first; ``since`` gives only those with an id above it (for polling).

    With ``identity`` (a remote caller), only someone who may oversee access (an approver or
    a dataset owner) sees them; without it, the local key holder does.
    """
    check_may_oversee(core, identity, to="see alerts")
    query = (
        select(Alert, Dataset.name)
        .join(Dataset, Dataset.id == Alert.dataset_id, isouter=True)
        .order_by(Alert.id.desc())
    )
    if since is not None:
        query = query.where(Alert.id > since)
    with core.reading() as session:
        return [
            AlertInfo(
                id=row.id,
                created_at=aware(row.created_at),
                user=row.user,
                dataset=name or row.dataset_id,
                kind=row.kind,
                severity=row.severity,
                facts=dict(row.facts),
                log_index=row.log_index,
            )
            for row, name in session.execute(query)
        ]


def seed_baseline(
    core: Core, user: str, *, reads: int, rows_per_read: int, hours: list[int], actor: str
) -> int:
    """Give ``user``, who has no baseline yet, a history of ``reads`` reads of
    ``rows_per_read`` rows spread over the UTC ``hours`` (logged, ``baseline.seed``).

    For breach drills: a disposable user's history, so that the hour a drill runs at is
    off-hours for them. Refused for anyone who has read before: a real baseline is never
    rewritten (that would hide an anomaly). Returns the log index.
    """
    if reads < 1 or rows_per_read < 0 or not hours or any(not 0 <= h < 24 for h in hours):
        raise InvalidInput("a seeded baseline needs reads >= 1 and hours in 0..23")
    now = core.now()
    counts = [0] * 24
    for i in range(reads):
        counts[hours[i % len(hours)]] += 1
    with core.session() as session:
        if session.get(User, user) is None:
            raise NotFound(f"no user {user[:60]!r}")
        if session.get(AccessBaseline, user) is not None:
            raise InvalidInput(f"user {user[:60]!r} already has a reading history")
        session.add(
            AccessBaseline(
                user=user,
                reads=reads,
                rows_total=reads * rows_per_read,
                datasets=[],
                hours=counts,
                updated_at=now,
            )
        )
        event = auditlog.events.baseline_seed(
            ts=now, actor=actor, user=user, reads=reads, rows=reads * rows_per_read,
            hours=sorted(set(hours)),
        )  # fmt: skip
        (index,) = auditlog.append(session, [event])
        session.commit()
    return index
