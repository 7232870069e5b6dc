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
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, bindparam, text
from sqlalchemy.orm import Session

from privet import auditlog
from privet.auditlog.kinds import fetch
from privet.catalog import INTERNAL_PURPOSES, check_purpose, parse_ref
from privet.errors import InvalidInput, NotFound
from privet.policy._governance import IN_FORCE
from privet.policy._identity import Identity
from privet.policy._rules import VIEWS, Policy, current_policy
from privet.schema import Dataset

if TYPE_CHECKING:
    from collections.abc import Iterator

    from privet.core import Core


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
        raise InvalidInput(
            f"unknown view {view[:40]!r}; views: {', '.join(VIEWS)}", parameter="view"
        )
    return view


# Plain SQL text: a decision is a handful of indexed lookups, and building ORM queries
# costs several times more than running them (see bench/bench_policy.py).
_DATASET = text(
    "SELECT d.id, d.owner, d.classification, p.purpose FROM datasets d "
    "LEFT JOIN dataset_purposes p ON p.dataset_id = d.id WHERE d.name = :name"
)
_NEWEST = "SELECT id FROM versions WHERE dataset_id = :id ORDER BY number DESC LIMIT 1"
_ANY_USER = text("SELECT 1 FROM users LIMIT 1")
# "user" is reserved in PostgreSQL; the typed bind stores times the way the ORM does.
_GRANT = text(
    'SELECT id FROM grants WHERE "user" = :user AND dataset_id = :dataset AND "view" = :view '
    "AND purpose = :purpose AND status = 'active' AND expires_at > :now "
    "ORDER BY expires_at DESC LIMIT 1"
).bindparams(bindparam("now", type_=DateTime(timezone=True)))


@dataclass(frozen=True)
class Facts:
    """What a decision needs to know about a dataset."""

    id: str
    name: str
    owner: str
    classification: str
    purposes: tuple[str, ...]


def facts_of(dataset: Dataset) -> Facts:
    purposes = tuple(p.purpose for p in dataset.purposes)
    return Facts(dataset.id, dataset.name, dataset.owner, dataset.classification, purposes)


def load_facts(session: Session, name: str) -> Facts:
    rows = session.execute(_DATASET, {"name": name}).all()
    if not rows:
        raise NotFound(f"no dataset named {name!r} in this workspace", parameter="dataset")
    purposes = tuple(sorted(r[3] for r in rows if r[3] is not None))
    return Facts(rows[0][0], name, rows[0][1], rows[0][2], purposes)


def governed(session: Session, policy_number: int) -> bool:
    """A workspace is governed once a policy is set or any user is registered."""
    return policy_number > 0 or session.execute(_ANY_USER).first() is not None


def categories(session: Session, dataset_id: str, newest: str | None = None) -> list[str | None]:
    """Data categories of the dataset's newest version (for rules that select by category),
    checked against the log: a category changed in the database could make a rule match."""
    if newest is None:
        found = fetch(session, _NEWEST, id=dataset_id)
        if not found:
            return []
        newest = found[0][0]
    state = auditlog.check(session, ("version", newest))[("version", newest)]
    return [c["category"] for c in state["columns"].values()] if state else []


def match_rule(
    session: Session,
    policy: Policy,
    identity: Identity,
    facts: Facts,
    view: str,
    purpose: str,
    newest: str | None = None,
) -> int | None:
    """The first rule letting ``identity`` request this; ``newest`` is the dataset's newest
    version id when the caller knows it."""
    held = categories(session, facts.id, newest) if policy.uses_categories else []
    return policy.match(identity.roles, view, purpose, (facts.name, facts.classification, held))


def decide_on(
    session: Session,
    identity: Identity,
    dataset: Facts,
    view: str,
    purpose: str,
    now: datetime,
    *,
    policy: tuple[int, Policy] | None = None,
) -> Decision:
    """The decision for a dataset whose facts are loaded (the broker's path).

    Every governance row it relies on (the dataset, the policy in force, the user's roles,
    the grant) is checked against its attestation in the audit log first: a row changed
    behind privet's back raises ``GovernanceMismatch`` instead of deciding on it.
    """
    check_view(view)
    check_purpose(purpose)
    # What any branch below may rely on, in one pointer lookup: the dataset's purposes and
    # owner, the rules and approvers in force, the user's roles and disabled flag.
    checked = auditlog.check(
        session, ("dataset", dataset.id), ("policy", IN_FORCE), ("user", identity.name)
    )
    versions = (checked[("dataset", dataset.id)] or {}).get("versions") or [None]
    if purpose in INTERNAL_PURPOSES:
        # A remote caller naming privet's internal purpose would bypass every grant.
        if identity.via != "local":
            return Decision(False, "internal_purpose_remote")
        return Decision(True, "internal", basis="internal")
    if purpose not in dataset.purposes:
        return Decision(False, "purpose_not_declared")
    number, rules = policy or current_policy(session)
    if not governed(session, number):
        # Deleting every user (and the policy) would turn governance off: none may be gone.
        auditlog.check_every(session, "user")
        return Decision(True, "ungoverned", basis="ungoverned")
    if identity.name == dataset.owner:
        return Decision(True, "owner", basis="owner")
    rule = match_rule(session, rules, identity, dataset, view, purpose, versions[-1])
    if rule is None:
        return Decision(False, "no_policy_rule")
    params = {
        "user": identity.name,
        "dataset": dataset.id,
        "view": view,
        "purpose": purpose,
        "now": now.astimezone(UTC) if now.tzinfo else now,
    }
    row = session.execute(_GRANT, params).first()
    if row is None:
        return Decision(False, "no_active_grant", rule=rule)
    auditlog.check(session, ("grant", row[0]))
    return Decision(True, "grant", grant_id=row[0], basis="grant", rule=rule)


@contextmanager
def _session(source: Any) -> Iterator[Session]:
    if isinstance(source, Session):
        yield source
    else:
        with source.reading() as session:
            yield session


def decide(
    source: Core | Session,
    identity: Identity,
    dataset: str,
    view: str,
    purpose: str,
    now: datetime | None = None,
) -> Decision:
    """Decide without reading or logging (for dashboards, benchmarks and dry runs).

    ``dataset`` is a name or ``NAME@VERSION``; ``now`` defaults to the workspace clock.
    """
    name, _ = parse_ref(dataset)
    with _session(source) as session:
        if now is None:
            if isinstance(source, Session):
                raise InvalidInput("decide on a session needs an explicit now")
            now = source.now()
        return decide_on(session, identity, load_facts(session, name), view, purpose, now)
