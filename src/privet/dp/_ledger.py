"""The budget ledger: one per source dataset, shared by every version derived from it.

A release is checked twice: before any data is read (with the requested ε, so a release
that cannot fit never runs) and again inside the write transaction that records it (with
the exact event, under the ledger row's lock, so two concurrent releases cannot both take
the last of the budget). The answer leaves the library only after that transaction
commits; a refused answer is discarded unseen.
"""

from __future__ import annotations

import math
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from privet import auditlog
from privet.catalog import SUBJECT_LINK, check_purpose, find_dataset, resolve
from privet.dp import _accounting as acc
from privet.dp._requests import BudgetRequest, KeyValue, check_delta_value, check_epsilon
from privet.errors import BudgetExhausted, InvalidInput, NotFound, PolicyDenied
from privet.schema import Dataset, DpDomain, DpLedger, DpRelease, Version
from privet.timestamps import UtcDatetime

if TYPE_CHECKING:
    from privet.core import Core

# The limit a ledger starts with until its owner sets one: ε = 1 is a strong guarantee for
# a whole dataset's lifetime; δ is far below 1/n so that no single person is likely exposed.
DEFAULT_EPSILON = 1.0
DEFAULT_DELTA = 1e-6


# A release that discovers category keys and is given no δ takes this share of the δ the
# ledger has left: each such release leaves room for the next, so a dataset supports many
# (δ only shrinks geometrically, and the composed ε of pure-DP releases never exceeds Σε).
DISCOVERY_DELTA_SHARE = 0.1


def default_delta(rows: int) -> float:
    """min(1e-6, 1/n²) for a dataset of n rows."""
    return min(DEFAULT_DELTA, 1.0 / max(rows, 1) ** 2)


class PrivacyUnitWarning(UserWarning):
    """The privacy unit is one row, which protects a person only if each has one row."""


class ReleaseInfo(BaseModel):
    """One entry of a ledger: ids and parameters, never a released value."""

    id: str
    created_at: UtcDatetime
    actor: str
    purpose: str
    kind: str = Field(description="count, sum, mean, quantile, histogram, query, train, …")
    dataset: str = Field(description="the dataset version the release read, NAME@N")
    epsilon: float = Field(description="ε of this release on its own, at the ledger's δ")
    delta: float = Field(
        description="δ of the release: what key discovery spent, or the δ a model's ε is stated at"
    )
    mechanism: str
    query_sha256: str | None = None
    model: str | None = None
    log_index: int
    event: dict[str, Any] = Field(description="the stored dp-accounting event")


class ColumnDomain(BaseModel):
    """What the owner declared public about one column."""

    bounds: tuple[float, float] | None = Field(None, description="clamping bounds [low, high]")
    keys: list[Any] | None = Field(None, description="the category values")


class BudgetInfo(BaseModel):
    """A ledger: its limit, what was spent (PLD), the RDP cross-check, and its releases."""

    dataset: str = Field(description="the source dataset whose ledger this is")
    unit: str = Field(description="privacy unit: 'subject' (one person) or 'row'")
    epsilon_limit: float
    delta: float = Field(description="the ledger's δ: totals are ε at this δ")
    epsilon_spent: float
    epsilon_remaining: float
    epsilon_spent_rdp: float | None = Field(description="RDP accountant's total, a cross-check")
    default_limit: bool = Field(description="true until the owner sets a limit")
    releases: list[ReleaseInfo]
    declared: dict[str, ColumnDomain] = Field(
        default_factory=dict, description="public column domains declared for this dataset"
    )


# -- validation ---------------------------------------------------------------------------------


def check_delta(delta: float | None, rows: int, *, what: str = "delta") -> float:
    """δ in [0, 1/n): a larger δ lets a mechanism publish one whole row outright."""
    value = check_delta_value(delta, parameter="delta")
    if value is None:
        return 0.0
    if rows > 0 and value >= 1.0 / rows:
        raise InvalidInput(
            f"{what} = {value:g} is not below 1/n = {1.0 / rows:.3g} for {rows:,} rows: such a "
            "δ allows publishing a whole record; use a smaller delta (e.g. 1e-6)",
            parameter="delta",
        )
    return value


# -- ledger rows --------------------------------------------------------------------------------


def root_of(session: Session, dataset: Dataset) -> Dataset:
    """The source dataset whose people ``dataset`` holds (itself unless derived)."""
    if dataset.derived_from is None:
        return dataset
    root = session.get(Dataset, dataset.derived_from)
    if root is None:
        raise NotFound("the source dataset of this derived dataset is missing from the catalog")
    return root


def _root_rows(root: Dataset) -> int:
    return root.versions[-1].row_count if root.versions else 0


def _default_row(root: Dataset, now: datetime) -> DpLedger:
    return DpLedger(
        dataset_id=root.id,
        epsilon_limit=DEFAULT_EPSILON,
        delta_limit=default_delta(_root_rows(root)),
        unit="subject" if root.subject_id_column else "row",
        updated_at=now,
        updated_by="privet:default",
    )


def ledger_row(session: Session, root: Dataset, now: datetime) -> DpLedger:
    """The ledger of ``root`` as stored, or its default (not added to the session).

    Checked against the audit log first: a limit raised or a release deleted in the database
    would let releases spend budget nobody granted.
    """
    auditlog.check(session, ("dp_ledger", root.id))
    row = session.get(DpLedger, root.id)
    return row if row is not None else _default_row(root, now)


def lock_ledger(session: Session, root: Dataset, now: datetime) -> DpLedger:
    """The ledger row, created if missing, locked for the rest of the transaction."""
    query = select(DpLedger).where(DpLedger.dataset_id == root.id).with_for_update()
    row = session.scalars(query).first()
    if row is None:
        row = _default_row(root, now)
        session.add(row)
        session.flush()
    return row


def charges_of(session: Session, root_id: str) -> list[acc.Charge]:
    rows = session.scalars(
        select(DpRelease.event).where(DpRelease.ledger_id == root_id).order_by(DpRelease.created_at)
    )
    return [acc.from_json(data) for data in rows]


def discovery_delta(row: DpLedger, existing: Sequence[acc.Charge]) -> float:
    """The δ a release that discovers keys takes when none is given (see the share above)."""
    return max(0.0, acc.delta_left(existing, row.delta_limit)) * DISCOVERY_DELTA_SHARE


def _delta_refusal(
    row: DpLedger, existing: Sequence[acc.Charge], asked: float, dataset: str | None
) -> BudgetExhausted:
    left = max(0.0, acc.delta_left(existing, row.delta_limit))
    return BudgetExhausted(
        f"this release needs δ = {asked:.3g} for key discovery but the ledger has δ = "
        f"{left:.3g} left of {row.delta_limit:.3g}; nothing was spent: have the owner declare "
        "the column's keys so that no δ is needed, ask for a smaller delta, or ask the owner "
        "to raise the ledger's δ",
        parameter="delta",
        ledger=row.dataset_id,
        dataset=dataset,
        asked_delta=asked,
        remaining_delta=left,
        epsilon_limit=row.epsilon_limit,
        delta_limit=row.delta_limit,
    )


def refusal(
    row: DpLedger, spent: float, asked: float, dataset: str | None = None
) -> BudgetExhausted:
    """The refusal of a release asking ε ≈ ``asked`` of a ledger that has spent ``spent``."""
    remaining = max(0.0, row.epsilon_limit - spent)
    return BudgetExhausted(
        f"this release needs ε ≈ {asked:.3g} but the ledger has ε = {remaining:.3g} left of "
        f"{row.epsilon_limit:g} (at δ = {row.delta_limit:.3g}); nothing was spent: ask for a "
        "smaller epsilon, or ask the owner to raise the ledger's limit",
        parameter="epsilon",
        ledger=row.dataset_id,
        dataset=dataset,
        asked_epsilon=asked,
        remaining_epsilon=remaining,
        epsilon_limit=row.epsilon_limit,
        delta_limit=row.delta_limit,
    )


def check_fits(
    existing: Sequence[acc.Charge],
    new: Sequence[acc.Charge],
    row: DpLedger,
    *,
    dataset: str | None = None,
) -> float:
    """ε spent after ``new`` if it fits the limit; raises BudgetExhausted if not.

    ``dataset`` names the ledger's source dataset in the refusal's facts.
    """
    asked_delta = math.fsum(c.delta for c in new)
    if asked_delta and acc.delta_left([*existing, *new], row.delta_limit) <= 0:
        raise _delta_refusal(row, existing, asked_delta, dataset)
    after = acc.epsilon_spent([*existing, *new], row.delta_limit)
    if after > row.epsilon_limit:
        before = acc.epsilon_spent(existing, row.delta_limit)
        asked = after - before if math.isfinite(after) else after
        raise refusal(row, before, asked, dataset)
    return after


def record_release(
    core: Core,
    session: Session,
    *,
    root: Dataset,
    dataset: Dataset,
    version: Version,
    kind: str,
    charge: acc.Charge,
    actor: str,
    purpose: str,
    query_sha256: str | None = None,
    model_id: str | None = None,
    requested_delta: float | None = None,
    facts: Mapping[str, Any] | None = None,
) -> tuple[str, int, float]:
    """Lock the ledger, re-check, and add the release with its audit entry.

    Returns (release id, log index, ε spent after). The caller commits; a refusal is
    logged in its own transaction and raised.
    """
    now = core.now()
    # Before lock_ledger, which may create the default row that has no attestation yet.
    auditlog.check(session, ("dp_ledger", root.id))
    row = lock_ledger(session, root, now)
    existing = charges_of(session, root.id)
    try:
        after = check_fits(existing, [charge], row, dataset=root.name)
    except BudgetExhausted:
        # Nothing of this release is kept; only its refusal is logged, in a new transaction.
        session.rollback()
        entry = _refusal_entry(core, root.id, dataset.id, version.id, kind, actor, purpose)
        auditlog.append(session, [entry])
        session.commit()
        raise
    release_id = uuid.uuid4().hex
    epsilon = acc.standalone_epsilon(charge, row.delta_limit)
    release = DpRelease(
        id=release_id,
        ledger_id=root.id,
        dataset_id=dataset.id,
        version_id=version.id,
        kind=kind,
        actor=actor,
        purpose=purpose,
        event=acc.to_json(charge),
        epsilon=epsilon,
        delta=charge.delta if requested_delta is None else float(requested_delta),
        query_sha256=query_sha256,
        model_id=model_id,
        log_index=-1,  # set below, once the entry that attests it has its index
        created_at=now,
    )
    session.add(release)
    entry = auditlog.events.dp_release(
        ts=now,
        actor=actor,
        purpose=purpose,
        kind=kind,
        ledger=root.id,
        dataset=dataset.id,
        version=version.id,
        release=release_id,
        epsilon=epsilon,
        delta=charge.delta if requested_delta is None else float(requested_delta),
        epsilon_spent=after,
        mechanism=acc.describe(charge.event),
        query_sha256=query_sha256,
        model=model_id,
        facts=facts,
        governance=auditlog.attest(session, ("dp_ledger", root.id)),
    )
    (index,) = auditlog.append(session, [entry])
    release.log_index = index
    return release_id, index, after


@dataclass(frozen=True)
class Recorded:
    """A release committed to its ledger."""

    release: str
    log_index: int
    epsilon_spent: float  # the ledger's total after this release
    epsilon_limit: float


def record(
    core: Core,
    ref: str,
    charge: acc.Charge,
    *,
    kind: str,
    actor: str,
    purpose: str,
    query_sha256: str | None = None,
    facts: Mapping[str, Any] | None = None,
    requested_delta: float | None = None,
) -> Recorded:
    """Record a release on the ledger of ``ref`` in its own transaction (see record_release)."""
    with core.session() as session:
        dataset, version = resolve(session, ref)
        root = root_of(session, dataset)
        release_id, index, after = record_release(
            core,
            session,
            root=root,
            dataset=dataset,
            version=version,
            kind=kind,
            charge=charge,
            actor=actor,
            purpose=purpose,
            query_sha256=query_sha256,
            facts=facts,
            requested_delta=requested_delta,
        )
        limit = lock_ledger(session, root, core.now()).epsilon_limit
        session.commit()
    return Recorded(release_id, index, after, limit)


def _refusal_entry(
    core: Core,
    root_id: str,
    dataset_id: str,
    version_id: str,
    kind: str,
    actor: str,
    purpose: str,
) -> dict[str, Any]:
    return auditlog.events.dp_refused(
        ts=core.now(),
        actor=actor,
        purpose=purpose,
        kind=kind,
        ledger=root_id,
        dataset=dataset_id,
        version=version_id,
    )


def log_refusal(
    core: Core,
    *,
    root_id: str,
    dataset_id: str,
    version_id: str,
    kind: str,
    actor: str,
    purpose: str,
) -> None:
    """Record a release refused before it ran (the budget check that precedes any read)."""
    with core.session() as session:
        entry = _refusal_entry(core, root_id, dataset_id, version_id, kind, actor, purpose)
        auditlog.append(session, [entry])
        session.commit()


# -- reading and setting ------------------------------------------------------------------------


def budget(core: Core, name: str) -> BudgetInfo:
    with core.reading() as session:
        dataset = find_dataset(session, name)
        root = root_of(session, dataset)
        row = ledger_row(session, root, core.now())
        releases = list(
            session.scalars(
                select(DpRelease)
                .where(DpRelease.ledger_id == root.id)
                .order_by(DpRelease.created_at)
            )
        )
        refs = _version_refs(session, [r.version_id for r in releases])
        charges = [acc.from_json(r.event) for r in releases]
        spent = acc.epsilon_spent(charges, row.delta_limit)
        return BudgetInfo(
            dataset=root.name,
            unit=row.unit,
            epsilon_limit=row.epsilon_limit,
            delta=row.delta_limit,
            epsilon_spent=spent,
            epsilon_remaining=max(0.0, row.epsilon_limit - spent),
            epsilon_spent_rdp=acc.epsilon_spent_rdp(charges, row.delta_limit),
            default_limit=session.get(DpLedger, root.id) is None
            or row.updated_by == "privet:default",
            releases=[
                ReleaseInfo(
                    id=r.id,
                    created_at=r.created_at,
                    actor=r.actor,
                    purpose=r.purpose,
                    kind=r.kind,
                    dataset=refs.get(r.version_id, r.version_id),
                    epsilon=r.epsilon,
                    delta=r.delta,
                    mechanism=acc.describe(charge.event),
                    query_sha256=r.query_sha256,
                    model=r.model_id,
                    log_index=r.log_index,
                    event=r.event,
                )
                for r, charge in zip(releases, charges, strict=True)
            ],
            declared={c: ColumnDomain(**d) for c, d in domains(session, dataset.id).items()},
        )


def _version_refs(session: Session, version_ids: list[str]) -> dict[str, str]:
    if not version_ids:
        return {}
    rows = session.execute(
        select(Version.id, Dataset.name, Version.number)
        .join(Dataset, Dataset.id == Version.dataset_id)
        .where(Version.id.in_(set(version_ids)))
    )
    return {vid: f"{name}@{number}" for vid, name, number in rows}


def _owner_only(dataset: Dataset, actor: str, what: str) -> None:
    if actor != dataset.owner:
        raise PolicyDenied(
            f"only the owner of dataset {dataset.name!r} ({dataset.owner}) can {what}"
        )


def set_limit(
    core: Core,
    name: str,
    *,
    actor: str,
    epsilon: float | None = None,
    delta: float | None = None,
) -> BudgetInfo:
    """The owner sets the ledger's ε and/or δ; a limit below what is spent is refused."""
    if epsilon is None and delta is None:
        raise InvalidInput("give a new limit: epsilon and/or delta", parameter="epsilon")
    if epsilon is not None:
        check_epsilon(epsilon)
    with core.session() as session:
        dataset = find_dataset(session, name)
        root = root_of(session, dataset)
        _owner_only(root, actor, "set its privacy budget")
        if delta is not None:
            check_delta(delta, _root_rows(root), what="the ledger's delta")
            if delta <= 0:
                raise InvalidInput(
                    "the ledger's delta must be greater than 0 (e.g. 1e-6)", parameter="delta"
                )
        auditlog.check(session, ("dp_ledger", root.id))  # before lock_ledger may create it
        row = lock_ledger(session, root, core.now())
        new_epsilon = row.epsilon_limit if epsilon is None else float(epsilon)
        new_delta = row.delta_limit if delta is None else float(delta)
        spent = acc.epsilon_spent(charges_of(session, root.id), new_delta)
        if spent > new_epsilon:
            raise InvalidInput(
                f"the ledger has already spent ε = {spent:.3g} at δ = {new_delta:.3g}; a limit "
                "below that cannot be set (set it to the spent value to stop further releases)"
            )
        row.epsilon_limit, row.delta_limit = new_epsilon, new_delta
        row.updated_at, row.updated_by = core.now(), actor
        auditlog.append(
            session,
            [
                auditlog.events.dp_budget_set(
                    ts=core.now(),
                    actor=actor,
                    ledger=root.id,
                    epsilon_limit=new_epsilon,
                    delta=new_delta,
                    governance=auditlog.attest(session, ("dp_ledger", root.id)),
                )
            ],
        )
        session.commit()
    return budget(core, name)


def update_budget(core: Core, name: str, request: BudgetRequest, *, actor: str) -> BudgetInfo:
    """The owner's changes, if any (declared domains first, then the limit); the ledger after."""
    if request.declares:
        declare(core, name, actor=actor, bounds=request.bounds, keys=request.keys)
    if request.sets_limit:
        return set_limit(core, name, actor=actor, epsilon=request.epsilon, delta=request.delta)
    return budget(core, name)


def declare(
    core: Core,
    name: str,
    *,
    actor: str,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    keys: Mapping[str, Sequence[KeyValue]] | None = None,
) -> dict[str, dict[str, Any]]:
    """The owner declares public facts about columns: clamping bounds and category keys.

    These are assumptions everyone may know (an age lies in 0–120; sex is one of a listed
    set); DP queries and training use them instead of spending budget to learn them.
    """
    bounds, keys = dict(bounds or {}), dict(keys or {})
    if not bounds and not keys:
        raise InvalidInput("declare the bounds or keys of at least one column", parameter="bounds")
    with core.session() as session:
        dataset = find_dataset(session, name)
        _owner_only(dataset, actor, "declare public column domains")
        if not dataset.versions:
            raise NotFound(f"dataset {name!r} has no versions")
        columns = {c.name for c in dataset.versions[-1].columns}
        for column in [*bounds, *keys]:
            if column not in columns:
                raise InvalidInput(
                    f"dataset {name!r} has no column named {column[:80]!r}",
                    parameter="keys" if column in keys else "bounds",
                )
        for column, (lower, upper) in bounds.items():
            if not (math.isfinite(lower) and math.isfinite(upper)) or lower >= upper:
                raise InvalidInput(
                    f"the bounds of {column!r} must be finite with LO < HI", parameter="bounds"
                )
        for column, values in keys.items():
            if not values or len(set(map(str, values))) != len(values):
                raise InvalidInput(
                    f"the keys of {column!r} must be a non-empty list of distinct values",
                    parameter="keys",
                )
        now = core.now()
        for column in {*bounds, *keys}:
            row = session.get(DpDomain, (dataset.id, column))
            if row is None:
                row = DpDomain(
                    dataset_id=dataset.id, column=column, updated_at=now, updated_by=actor
                )
                session.add(row)
            if column in bounds:
                row.lower, row.upper = (float(b) for b in bounds[column])
            if column in keys:
                row.keys = list(keys[column])
            row.updated_at, row.updated_by = now, actor
        auditlog.append(
            session,
            [
                auditlog.events.dp_domain_declare(
                    ts=now, actor=actor, dataset=dataset.id, bounds=bounds, keys=keys
                )
            ],
        )
        session.commit()
        return domains(session, dataset.id)


def domains(session: Session, dataset_id: str) -> dict[str, dict[str, Any]]:
    """{column: {"bounds": (lo, hi) | None, "keys": [...] | None}} declared for a dataset."""
    result: dict[str, dict[str, Any]] = {}
    for row in session.scalars(select(DpDomain).where(DpDomain.dataset_id == dataset_id)):
        bounds = (row.lower, row.upper) if row.lower is not None and row.upper is not None else None
        result[row.column] = {"bounds": bounds, "keys": row.keys}
    return result


def unit_for(dataset: Dataset, version: Version, row: DpLedger) -> str | None:
    """The subject-id column to bound contributions by, or None (one row) with a warning.

    A derived version's link to its source's people counts as its subject id even when the
    dataset was registered before the link existed (its older versions have none).
    """
    held = {c.name for c in version.columns}
    for subject in (dataset.subject_id_column, SUBJECT_LINK):
        if subject and subject in held:
            return subject
    if row.unit == "subject":
        message = (
            f"{dataset.name} has no subject-id column, so the privacy unit here is one row; "
            "that protects a person of the source dataset only if each has one row"
        )
    else:
        message = (
            f"{dataset.name} has no subject-id column: the privacy unit is one row, which "
            "protects a person only if each has one row (declare its subject id at ingest)"
        )
    warnings.warn(message, PrivacyUnitWarning, stacklevel=3)
    return None


def declared_domains(core: Core, name: str) -> dict[str, dict[str, Any]]:
    """The public column domains the owner of dataset ``name`` declared."""
    with core.reading() as session:
        return domains(session, find_dataset(session, name).id)


def charge(
    core: Core,
    ref: str,
    cost: acc.Charge,
    *,
    kind: str,
    purpose: str,
    actor: str,
    facts: Mapping[str, Any] | None = None,
) -> str:
    """Record a release made elsewhere (e.g. by a DP synthesizer) on the ledger of ``ref``.

    Refused with ``BudgetExhausted`` if it does not fit; returns the release id. ``facts``
    (ids, counts, parameters: never a value) go into the release's log entry.
    """
    check_purpose(purpose)
    return record(core, ref, cost, kind=kind, actor=actor, purpose=purpose, facts=facts).release
