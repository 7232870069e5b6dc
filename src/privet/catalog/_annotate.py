"""The owner's correction of a column's classification.

A version's rows are immutable; its column classification is metadata about them, so it
may be corrected. The correction (``source="corrected"``), the dataset's recomputed risk
level and the audit entry commit in one transaction, and later ingests keep it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from privet import auditlog
from privet.catalog._info import check_name, find_dataset, is_reserved
from privet.errors import InvalidInput, NotFound
from privet.taxonomy import Level, Role, check_category, level_for

if TYPE_CHECKING:
    from privet.core import Core


class ColumnAnnotation(BaseModel):
    dataset: str
    version: int
    column: str
    old_category: str | None
    old_role: str
    category: str | None
    role: str
    classification: str
    previous_classification: str
    log_index: int


def annotate(
    core: Core,
    name: str,
    column: str,
    *,
    category: str | None,
    role: str | None = None,
    actor: str,
) -> ColumnAnnotation:
    """Set ``column`` of the latest version of ``name`` to ``category`` and ``role``.

    ``role`` defaults to the category's usual role. The dataset's classification is
    recomputed over the categories of all its versions: a correction raises it when it
    requires more, and lowers it only when the corrected column was what required the
    old level (a level the owner raised by hand stays).
    """
    check_name(name)
    if category is not None:
        check_category(category)
    if role is None:
        if category is None:
            raise InvalidInput(
                "give a data category or a role for the column", parameter="category"
            )
        role = check_category(category)[0].value
    try:
        parsed_role = Role(role)
    except ValueError:
        raise InvalidInput(
            f"unknown role {role[:40]!r}; use one of {', '.join(r.value for r in Role)}"
        ) from None
    with core.session() as session:
        dataset = find_dataset(session, name)
        if not dataset.versions:
            raise NotFound(f"dataset {name!r} has no versions")
        version = dataset.versions[-1]
        target = next(
            (c for c in version.columns if c.name == column and not is_reserved(c.name)), None
        )
        if target is None:
            raise NotFound(f"{dataset.name}@{version.number} has no column named {column[:80]!r}")
        # A change made behind privet's back must not be attested with this correction.
        auditlog.check(session, ("dataset", dataset.id), ("version", version.id))
        every = [c for v in dataset.versions for c in v.columns]
        before = level_for([c.category for c in every]) or Level.CONFIDENTIAL
        old_category, old_role = target.category, target.role
        target.category, target.role = category, parsed_role.value
        target.source, target.confidence = "corrected", 1.0
        after = level_for([c.category for c in every]) or Level.CONFIDENTIAL
        current = Level(dataset.classification)
        previous = current
        if after.rank > current.rank or (before == current and after.rank < current.rank):
            dataset.classification = after.value
        (index,) = auditlog.append(
            session,
            [
                auditlog.events.column_annotate(
                    ts=core.now(),
                    actor=actor,
                    dataset=dataset.id,
                    version=version.id,
                    column=column,
                    old_category=old_category,
                    old_role=old_role,
                    category=category,
                    role=parsed_role.value,
                    classification=dataset.classification,
                    governance=auditlog.attest(
                        session, ("dataset", dataset.id), ("version", version.id)
                    ),
                )
            ],
        )
        session.commit()
        return ColumnAnnotation(
            dataset=dataset.name,
            version=version.number,
            column=column,
            old_category=old_category,
            old_role=old_role,
            category=category,
            role=parsed_role.value,
            classification=dataset.classification,
            previous_classification=previous.value,
            log_index=index,
        )
