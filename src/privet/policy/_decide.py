"""The access decision: may this identity read this view of this dataset for this purpose, now?

Who reads without a grant, and why:
- privet's own processing (``privet:assessment``, local only): scans, risk measurement and
  de-identification produce findings or governed derived datasets, never rows for a person;
- the dataset's owner (the controller who registered it) — they hold the data already;
- everyone, in a workspace that is not governed yet (no user registered, no policy set): a
  single-operator workspace where whoever holds the master key can decrypt anyway, so only
  purpose limitation applies, as before governance existed.
Everyone else needs a policy rule that lets one of their roles request that view for that
purpose, *and* an approved grant that is active right now. Purpose limitation (the dataset's
declared purposes) applies to everybody.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from privet.catalog import INTERNAL_PURPOSES, check_purpose, find_dataset, parse_ref
from privet.catalog._models import Column, Dataset, Grant, User, Version
from privet.errors import InvalidInput
from privet.policy._identity import Identity
from privet.policy._rules import VIEWS, Policy, current_policy

if TYPE_CHECKING:
    from collections.abc import Iterator

    from privet.workspace import Workspace


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    grant_id: str | None = None
    # How access was allowed: "internal", "owner", "ungoverned" or "grant".
    basis: str | None = None
    rule: int | None = None


def check_view(view: str) -> str:
    if view not in VIEWS:
        raise InvalidInput(f"unknown view {view[:40]!r}; views: {', '.join(VIEWS)}")
    return view


def governed(session: Session, policy_number: int) -> bool:
    """A workspace is governed once a policy is set or any user is registered."""
    return policy_number > 0 or bool(
        session.execute(select(exists().where(User.name != ""))).scalar()
    )


def dataset_facts(session: Session, dataset: Dataset) -> tuple[str, str, list[str | None]]:
    """(name, classification, categories of the newest version) for rule matching."""
    newest = (
        select(Version.id)
        .where(Version.dataset_id == dataset.id)
        .order_by(Version.number.desc())
        .limit(1)
        .scalar_subquery()
    )
    categories = list(session.scalars(select(Column.category).where(Column.version_id == newest)))
    return dataset.name, dataset.classification, categories


def decide_on(
    session: Session,
    identity: Identity,
    dataset: Dataset,
    view: str,
    purpose: str,
    now: datetime,
    *,
    policy: tuple[int, Policy] | None = None,
) -> Decision:
    """The decision for an already loaded dataset row (the broker's path)."""
    check_view(view)
    check_purpose(purpose)
    if purpose in INTERNAL_PURPOSES:
        # A remote caller naming privet's internal purpose would bypass every grant.
        if identity.via != "local":
            return Decision(False, "internal_purpose_remote")
        return Decision(True, "internal", basis="internal")
    declared = [p.purpose for p in dataset.purposes]
    if purpose not in declared:
        return Decision(False, "purpose_not_declared")
    number, rules = policy or current_policy(session)
    if not governed(session, number):
        return Decision(True, "ungoverned", basis="ungoverned")
    if identity.name == dataset.owner:
        return Decision(True, "owner", basis="owner")
    rule = rules.match(identity.roles, view, purpose, dataset_facts(session, dataset))
    if rule is None:
        return Decision(False, "no_policy_rule")
    row = session.execute(
        select(Grant.id)
        .where(
            Grant.user == identity.name,
            Grant.dataset_id == dataset.id,
            Grant.view == view,
            Grant.purpose == purpose,
            Grant.status == "active",
            Grant.expires_at > now,
        )
        .order_by(Grant.expires_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return Decision(False, "no_active_grant", rule=rule)
    return Decision(True, "grant", grant_id=row[0], basis="grant", rule=rule)


@contextmanager
def _session(source: Any) -> Iterator[Session]:
    if isinstance(source, Session):
        yield source
    else:
        with source.reading() as session:
            yield session


def decide(
    source: Workspace | Session,
    identity: Identity,
    dataset: str,
    view: str,
    purpose: str,
    now: datetime | None = None,
) -> Decision:
    """Decide without reading or logging (for dashboards, benchmarks and ``--dry-run``).

    ``dataset`` is a name or ``NAME@VERSION``; ``now`` defaults to the workspace clock.
    """
    name, _ = parse_ref(dataset)
    with _session(source) as session:
        if now is None:
            if isinstance(source, Session):
                raise InvalidInput("decide on a session needs an explicit now")
            now = source.now()
        return decide_on(session, identity, find_dataset(session, name), view, purpose, now)
