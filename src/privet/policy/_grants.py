"""Grants: request → approval by the owner or a designated approver → active → expiry.

The requester can never approve their own grant (four eyes). A grant on a ``restricted``
dataset always needs a person's approval, whatever the policy says. The clock of an approved
grant starts at approval. Expiry needs no job: the broker compares ``expires_at`` with the
clock on every decision (and between chunks of a stream), and the grant commands mark grants
past their time ``expired`` in the log.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from privet import auditlog
from privet.catalog import check_purpose, find_dataset, parse_ref
from privet.errors import InvalidInput, NotFound, PolicyDenied
from privet.policy._decide import facts_of, match_rule
from privet.policy._governance import IN_FORCE
from privet.policy._identity import Identity, aware
from privet.policy._request import GrantRequest
from privet.policy._rules import Policy, current_policy
from privet.schema import Dataset, Grant
from privet.taxonomy import Level
from privet.timestamps import UtcDatetime

if TYPE_CHECKING:
    from privet.core import Core

STATUSES = ("pending", "active", "denied", "revoked", "expired")
GrantStatus = Literal["pending", "active", "denied", "revoked", "expired"]


class GrantInfo(BaseModel):
    """A grant as shown to people (``.model_dump(mode="json")`` for JSON)."""

    id: str
    user: str
    dataset: str
    view: str
    purpose: str
    reason: str
    status: str
    duration_seconds: int
    requested_at: UtcDatetime
    approved_by: str | None
    decided_at: UtcDatetime | None
    expires_at: UtcDatetime | None
    revoked_by: str | None
    revoked_at: UtcDatetime | None


def _info(row: Grant, dataset: str, now: datetime) -> GrantInfo:
    expires = aware(row.expires_at) if row.expires_at else None
    status = row.status
    if status == "active" and expires is not None and expires <= now:
        status = "expired"
    return GrantInfo(
        id=row.id,
        user=row.user,
        dataset=dataset,
        view=row.view,
        purpose=row.purpose,
        reason=row.reason,
        status=status,
        duration_seconds=row.duration_seconds,
        requested_at=aware(row.requested_at),
        approved_by=row.decided_by if row.status != "denied" else None,
        decided_at=aware(row.decided_at) if row.decided_at else None,
        expires_at=expires,
        revoked_by=row.revoked_by,
        revoked_at=aware(row.revoked_at) if row.revoked_at else None,
    )


def _about(row: Grant) -> auditlog.events.GrantFacts:
    # Ids, view and purpose only: the free-text reason stays out of the log.
    return auditlog.events.GrantFacts(
        grant=row.id, user=row.user, dataset=row.dataset_id, view=row.view, purpose=row.purpose
    )


def request_grant(core: Core, identity: Identity, request: GrantRequest) -> GrantInfo:
    """Ask for ``request.view`` of ``request.dataset`` for ``request.purpose``; pending unless
    the policy auto-approves (never for a restricted dataset). Refused when no policy rule lets
    the requester's roles ask for it."""
    view, purpose, reason = request.view, request.purpose, request.reason
    check_purpose(purpose)
    seconds = request.duration_seconds
    name, _ = parse_ref(request.dataset)
    now = core.now()
    with core.session() as session:
        _expire(core, session, now)
        row_dataset = find_dataset(session, name)
        number, policy = current_policy(session)
        # What the request is judged on (purposes, the rules, the requester's roles) must be
        # what the log attests: a grant auto-approved by a forged rule would be attested.
        auditlog.check(
            session,
            ("dataset", row_dataset.id),
            ("policy", IN_FORCE),
            ("user", identity.name),
        )
        facts = facts_of(row_dataset)
        declared = list(facts.purposes)
        rule_index = match_rule(session, policy, identity, facts, view, purpose)
        refusal = None
        if purpose not in declared:
            refusal = (
                "purpose_not_declared",
                f"purpose {purpose!r} is not one dataset {name!r} was collected for "
                f"(declared: {', '.join(declared)})",
            )
        elif rule_index is None:
            refusal = (
                "no_policy_rule",
                f"no policy rule lets roles {sorted(identity.roles) or '(none)'} request the "
                f"{view} view of {name!r} for {purpose!r}",
            )
        elif seconds > policy.rules[rule_index].max_days * 86400:
            refusal = (
                "too_long",
                f"the policy allows grants of at most {policy.rules[rule_index].max_days:g} days "
                "for this request",
            )
        row = Grant(
            id=secrets.token_hex(8),
            user=identity.name,
            dataset_id=row_dataset.id,
            view=view,
            purpose=purpose,
            reason=reason,
            status="pending",
            duration_seconds=seconds,
            requested_at=now,
        )
        if refusal is not None:
            refused = auditlog.events.grant_refused(
                ts=core.now(),
                actor=identity.name,
                grant=_about(row),
                action="request",
                reason=refusal[0],
            )
            auditlog.append(session, [refused])
            session.commit()
            raise PolicyDenied(refusal[1] + "; the refusal is in the audit log")
        assert rule_index is not None  # a refusal otherwise
        rule = policy.rules[rule_index]
        requested_at = core.now()
        expires: datetime | None = None
        if rule.auto_approve and row_dataset.classification != Level.RESTRICTED:
            row.status, row.decided_by, row.decided_at = "active", "policy", now
            row.expires_at = expires = now + timedelta(seconds=seconds)
        session.add(row)
        # The last entry of the two (or the request alone) attests the grant.
        attested = auditlog.attest(session, ("grant", row.id))
        events = [
            auditlog.events.grant_request(
                ts=requested_at,
                actor=identity.name,
                grant=_about(row),
                seconds=seconds,
                rule=rule_index,
                governance=attested if expires is None else None,
            )
        ]
        if expires is not None:
            events.append(
                auditlog.events.grant_approve(
                    ts=core.now(),
                    actor="policy",
                    grant=_about(row),
                    expires=expires,
                    governance=attested,
                )
            )
        auditlog.append(session, events)
        session.commit()
        return _info(row, row_dataset.name, now)


def _may_approve(identity: Identity, dataset: Dataset, policy: Policy) -> bool:
    return (
        identity.name == dataset.owner
        or identity.name in policy.approvers
        or not identity.roles.isdisjoint(policy.approver_roles)
    )


def _decide_grant(core: Core, grant_id: str, identity: Identity, approve: bool) -> GrantInfo:
    verb = "approve" if approve else "deny"
    now = core.now()
    with core.session() as session:
        _expire(core, session, now)
        row = _grant(session, grant_id)
        dataset = session.get(Dataset, row.dataset_id)
        assert dataset is not None
        _, policy = current_policy(session)
        _check(session, row, identity)
        problem = None
        if identity.name == row.user:
            problem = ("self_approval", f"nobody may {verb} their own grant request")
        elif not _may_approve(identity, dataset, policy):
            problem = (
                "not_an_approver",
                f"only the owner of {dataset.name!r} or a designated approver may {verb} it",
            )
        elif row.status != "pending":
            problem = ("not_pending", f"grant {row.id} is {row.status}, not pending")
        if problem is not None:
            refused = auditlog.events.grant_refused(
                ts=core.now(),
                actor=identity.name,
                grant=_about(row),
                action="approve" if approve else "deny",
                reason=problem[0],
            )
            auditlog.append(session, [refused])
            session.commit()
            raise PolicyDenied(problem[1] + "; the refusal is in the audit log")
        row.decided_by, row.decided_at = identity.name, now
        expires = now + timedelta(seconds=row.duration_seconds)
        if approve:
            row.status, row.expires_at = "active", expires
        else:
            row.status = "denied"
        attested = auditlog.attest(session, ("grant", row.id))
        decided = (
            auditlog.events.grant_approve(
                ts=core.now(),
                actor=identity.name,
                grant=_about(row),
                expires=expires,
                governance=attested,
            )
            if approve
            else auditlog.events.grant_deny(
                ts=core.now(), actor=identity.name, grant=_about(row), governance=attested
            )
        )
        auditlog.append(session, [decided])
        session.commit()
        return _info(row, dataset.name, now)


def approve_grant(core: Core, grant_id: str, *, identity: Identity) -> GrantInfo:
    """Approve a pending grant: by the dataset owner or a designated approver, never the
    requester. It is active from now for the duration asked."""
    return _decide_grant(core, grant_id, identity, approve=True)


def deny_grant(core: Core, grant_id: str, *, identity: Identity) -> GrantInfo:
    return _decide_grant(core, grant_id, identity, approve=False)


def revoke_grant(core: Core, grant_id: str, *, identity: Identity) -> GrantInfo:
    """End a pending or active grant now (owner, approver, or the grantee giving it up)."""
    now = core.now()
    with core.session() as session:
        row = _grant(session, grant_id)
        dataset = session.get(Dataset, row.dataset_id)
        assert dataset is not None
        _, policy = current_policy(session)
        _check(session, row, identity)
        if identity.name != row.user and not _may_approve(identity, dataset, policy):
            refused = auditlog.events.grant_refused(
                ts=core.now(),
                actor=identity.name,
                grant=_about(row),
                action="revoke",
                reason="not_an_approver",
            )
            auditlog.append(session, [refused])
            session.commit()
            raise PolicyDenied(
                f"only the owner of {dataset.name!r}, an approver or the grantee may revoke it"
            )
        if row.status not in ("pending", "active"):
            raise InvalidInput(f"grant {row.id} is already {row.status}")
        event = revoke_grant_row(core, session, row, actor=identity.name, now=now)
        auditlog.append(session, [event])
        session.commit()
        return _info(row, dataset.name, now)


def revoke_grant_row(
    core: Core, session: Session, row: Grant, *, actor: str, now: datetime
) -> auditlog.events.Entry:
    """Mark ``row`` revoked in ``session`` (already checked against the log) and return its
    log entry, for the caller to append and commit: containment revokes several at once."""
    row.status, row.revoked_by, row.revoked_at = "revoked", actor, now
    attested = auditlog.attest(session, ("grant", row.id))
    return auditlog.events.grant_revoke(
        ts=core.now(), actor=actor, grant=_about(row), governance=attested
    )


def list_grants(
    core: Core, *, status: str | None = None, user: str | None = None
) -> list[GrantInfo]:
    """Grants, newest request first; ``status`` is the effective one (an active grant past
    its expiry shows as ``expired``)."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(
            f"unknown grant status {status[:20]!r}; one of {', '.join(STATUSES)}",
            parameter="status",
        )
    now = core.now()
    query = (
        select(Grant, Dataset.name)
        .join(Dataset, Dataset.id == Grant.dataset_id)
        .order_by(Grant.requested_at.desc(), Grant.id)
    )
    if user is not None:
        query = query.where(Grant.user == user)
    if status in ("pending", "denied", "revoked"):
        query = query.where(Grant.status == status)
    with core.reading() as session:
        infos = [_info(row, name, now) for row, name in session.execute(query)]
    return [g for g in infos if status is None or g.status == status]


def grants_visible_to(
    core: Core, identity: Identity, *, status: str | None = None
) -> list[GrantInfo]:
    """The grants ``identity`` may see: their own, and those of every dataset they may
    approve (as its owner, a named approver, or through an approver role)."""
    every = list_grants(core, status=status)
    with core.reading() as session:
        _, policy = current_policy(session)
        # Who may see others' grants rests on the approvers and owners the log attests.
        auditlog.check(session, ("policy", IN_FORCE), ("user", identity.name))
        if identity.name in policy.approvers or not identity.roles.isdisjoint(
            policy.approver_roles
        ):
            return every
        query = select(Dataset.id, Dataset.name).where(Dataset.owner == identity.name)
        owned = {dataset_id: name for dataset_id, name in session.execute(query)}
        auditlog.check(session, *[("dataset", dataset_id) for dataset_id in owned])
    return [g for g in every if g.user == identity.name or g.dataset in owned.values()]


def may_oversee(core: Core, identity: Identity) -> bool:
    """May ``identity`` see alerts and others' grants: a named approver, an approver role,
    or the owner of some dataset."""
    with core.reading() as session:
        _, policy = current_policy(session)
        auditlog.check(session, ("policy", IN_FORCE), ("user", identity.name))
        if identity.name in policy.approvers or not identity.roles.isdisjoint(
            policy.approver_roles
        ):
            return True
        owned = session.scalars(
            select(Dataset.id).where(Dataset.owner == identity.name).limit(1)
        ).first()
        if owned is not None:
            auditlog.check(session, ("dataset", owned))
        return owned is not None


def check_may_oversee(core: Core, identity: Identity | None, *, to: str) -> None:
    """A remote ``identity`` must be one who may oversee access (:func:`may_oversee`) ``to``
    do something (named in the refusal); the local key holder (None) may."""
    if identity is not None and not may_oversee(core, identity):
        raise PolicyDenied(f"only approvers and dataset owners may {to}")


def overseer(core: Core, actor: str | None, identity: Identity | None, *, to: str) -> str:
    """Who oversees, as logged: an authenticated ``identity`` who may oversee access (else
    ``PolicyDenied``), or the local ``actor`` (the key holder)."""
    check_may_oversee(core, identity, to=to)
    name = identity.name if identity is not None else actor
    if not name:
        raise InvalidInput("say who is acting (actor or identity)", parameter="actor")
    return name


def check_may_erase(core: Core, identity: Identity) -> None:
    """Erasure destroys data in every dataset: only a role the policy names may ask for it."""
    with core.reading() as session:
        _, policy = current_policy(session)
        auditlog.check(session, ("policy", IN_FORCE), ("user", identity.name))
    if identity.roles.isdisjoint(policy.erasure_roles):
        if not policy.erasure_roles:
            raise PolicyDenied(
                "the policy names no role that may request erasure (set its erasure_roles)"
            )
        raise PolicyDenied(
            f"{identity.name!r} may not request erasure: it takes one of the roles "
            f"{', '.join(sorted(policy.erasure_roles))}"
        )


def get_grant(core: Core, grant_id: str) -> GrantInfo:
    with core.reading() as session:
        row = _grant(session, grant_id)
        dataset = session.get(Dataset, row.dataset_id)
        assert dataset is not None
        return _info(row, dataset.name, core.now())


def _check(session: Session, row: Grant, identity: Identity) -> None:
    """Before a grant is decided or revoked: the grant, its dataset (its owner approves),
    the policy (its approvers) and the deciding user's roles are what the log attests."""
    auditlog.check(
        session,
        ("grant", row.id),
        ("dataset", row.dataset_id),
        ("policy", IN_FORCE),
        ("user", identity.name),
    )


def _grant(session: Session, grant_id: str) -> Grant:
    row = session.get(Grant, grant_id) if isinstance(grant_id, str) and grant_id else None
    if row is None:
        raise NotFound(f"no grant {str(grant_id)[:40]!r}")
    return row


def _expire(core: Core, session: Session, now: datetime) -> None:
    """Mark active grants past their expiry as expired, each with a log entry.

    The broker never relies on this (it compares times itself); it keeps the table and the
    log telling the same story as the clock.
    """
    due = list(
        session.scalars(select(Grant).where(Grant.status == "active", Grant.expires_at <= now))
    )
    auditlog.check(session, *[("grant", row.id) for row in due])
    for row in due:
        row.status = "expired"
    if due:
        events = [
            auditlog.events.grant_expire(
                ts=core.now(),
                grant=_about(row),
                governance=auditlog.attest(session, ("grant", row.id)),
            )
            for row in due
        ]
        auditlog.append(session, events)
