"""Part (b) of a dataset's assessment: its retention and the direct identifiers it keeps, and
what a person must justify (necessity, minimisation, information, storage limitation)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from privet.account._facts_context import facts_of, ver
from privet.account._model import Block, ToFill

if TYPE_CHECKING:
    from privet.catalog import DatasetInfo, VersionInfo


def necessity(info: DatasetInfo, current: VersionInfo | None) -> list[Block]:
    fact = facts_of(f"privet datasets {info.name} --json")
    facts = [fact("Retention", "retention_days", info.retention_days, unit="days")]
    if current is not None:
        facts.append(
            fact(
                f"Direct identifiers kept in version {current.number}",
                f"length({ver(current.number)}.columns[?role=='direct_identifier'])",
                sum(1 for c in current.columns if c.role == "direct_identifier"),
            )
        )
    fill = [
        ToFill(
            label="Necessity",
            prompt="Why each purpose needs this processing, and why less intrusive means "
            "would not do.",
        ),
        ToFill(
            label="Proportionality and data minimisation",
            prompt="Why each direct identifier and quasi-identifier listed above is needed "
            "for the purposes; what is dropped, generalized or kept.",
        ),
        ToFill(
            label="Information to data subjects and exercise of their rights",
            prompt="How people are told (Art. 13–14) and how access, erasure and objection "
            "are handled.",
        ),
    ]
    if info.retention_days is None:
        fill.append(
            ToFill(
                label="Storage limitation",
                prompt="The catalog records no retention period: state how long the data "
                "is kept and why.",
            )
        )
    return [Block(title="Purpose limitation, minimisation and storage", facts=facts, fill=fill)]
