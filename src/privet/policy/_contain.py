"""Containment: a user's API tokens and grants revoked at once, in one transaction.

What an operator does first when an account looks stolen (and what an alert of a kind the
policy lists under ``alerts.contain`` does by itself): every active or pending grant and
every unexpired, unrevoked token of the user ends together, so no door stays open between
two revocations. Each revocation is the ordinary ``token.revoke`` / ``grant.revoke`` entry
(attested like one made by hand), followed by one ``incident.contain`` entry listing them.
The reason is a fixed word (``incident``, ``scraping``…), never free text: the log holds no
text a person typed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from privet import auditlog
from privet.errors import InvalidInput, NotFound
from privet.policy._grants import revoke_grant_row
from privet.policy._identity import check_user_name, revoke_token_row
from privet.schema import ApiToken, Grant, User

if TYPE_CHECKING:
    from privet.core import Core

_REASON = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")


class Containment(BaseModel):
    """What containment revoked: ids only."""

    user: str
    tokens: list[str] = Field(description="Ids of the API tokens revoked.")
    grants: list[str] = Field(description="Ids of the grants revoked (active or pending).")
    log_index: int = Field(description="The index of the ``incident.contain`` log entry.")


def check_reason(reason: str) -> str:
    if not isinstance(reason, str) or not _REASON.match(reason):
        raise InvalidInput(
            "a containment reason is a short word (lower-case letters, digits, '_ . : -', up to "
            "64), e.g. 'incident' or 'stolen-token': the log holds no free text",
            parameter="reason",
        )
    return reason


def contain(core: Core, user: str, *, actor: str, reason: str) -> Containment:
    """Revoke every active token and every active or pending grant of ``user`` now, in one
    transaction, logged (``incident.contain``). Their next request is refused."""
    check_user_name(user)
    check_reason(reason)
    with core.session() as session:
        if session.get(User, user) is None:
            raise NotFound(f"no user {user[:60]!r}")
        done = contain_in(core, session, user, actor=actor, reason=reason)
        session.commit()
    assert done is not None  # logged even when nothing was left to revoke
    return done


def contain_in(
    core: Core,
    session: Session,
    user: str,
    *,
    actor: str,
    reason: str,
    alert: int | None = None,
    skip_empty: bool = False,
) -> Containment | None:
    """:func:`contain` inside the caller's write transaction (which commits it): an alert
    contains its user in the transaction that raised it. With ``skip_empty``, nothing is
    logged (and None returned) when the user holds no active token or grant: an attacker
    replaying a dead token must not add a containment entry per request."""
    now = core.now()
    tokens = list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user == user, ApiToken.revoked_at.is_(None))
            .where(ApiToken.expires_at > now)
            .order_by(ApiToken.created_at, ApiToken.id)
        )
    )
    grants = list(
        session.scalars(
            select(Grant)
            .where(Grant.user == user)
            .where(
                or_(
                    Grant.status == "pending",
                    (Grant.status == "active") & (Grant.expires_at > now),
                )
            )
            .order_by(Grant.requested_at, Grant.id)
        )
    )
    if skip_empty and not tokens and not grants:
        return None
    # Before any change: the grants are what the log attests (tokens are checked one by one).
    auditlog.check(session, *[("grant", g.id) for g in grants])
    events = [revoke_token_row(core, session, t, actor=actor) for t in tokens]
    events += [revoke_grant_row(core, session, g, actor=actor, now=now) for g in grants]
    events.append(
        auditlog.events.incident_contain(
            ts=core.now(),
            actor=actor,
            user=user,
            tokens=[t.id for t in tokens],
            grants=[g.id for g in grants],
            reason=reason,
            alert=alert,
        )
    )
    indexes = auditlog.append(session, events)
    return Containment(
        user=user,
        tokens=[t.id for t in tokens],
        grants=[g.id for g in grants],
        log_index=indexes[-1],
    )
