"""Part (a) of a dataset's assessment: its inventory from the catalog (owner, purposes, legal
basis, versions), the columns of its current version with their roles, and its lineage."""

from __future__ import annotations

from typing import TYPE_CHECKING

from privet.account._facts_context import facts_of, ver
from privet.account._facts_lineage import lineage_block
from privet.account._model import Block, Table, ToFill, quote

if TYPE_CHECKING:
    from privet.account._facts_context import Gathering
    from privet.catalog import DatasetInfo, VersionInfo


def describe(ctx: Gathering, info: DatasetInfo, current: VersionInfo | None) -> list[Block]:
    fact = facts_of(f"privet datasets {info.name} --json")
    inventory = [
        fact("Owner (controller's contact)", "owner", info.owner),
        fact("Purposes", "purposes", list(info.purposes)),
        fact("Legal basis", "legal_basis", info.legal_basis),
        fact("Classification", "classification", info.classification),
        fact("Column identifying a person", "subject_id_column", info.subject_id_column),
        fact("Derived from (dataset id)", "derived_from", info.derived_from),
        fact("Versions", "length(versions)", len(info.versions)),
    ]
    fill = [
        ToFill(
            label="Nature, scope and context of the processing",
            prompt="What is done with the data, by whom, for how long, and in which "
            "systems; the relationship with the people concerned.",
        )
    ]
    if info.legal_basis is None:
        fill.append(
            ToFill(
                label="Legal basis (Art. 6, and Art. 9 for special categories)",
                prompt="The catalog records none: state the basis relied on.",
            )
        )
    blocks = [Block(title="Inventory", facts=inventory, fill=fill)]
    if current is None and info.versions:
        blocks[0].missing.append(
            "every version was destroyed (retention or erasure): no rows are left to measure"
        )
    if current is not None:
        v = ver(current.number)
        blocks[0].facts += [
            fact(f"Records in version {current.number}", f"{v}.rows", current.rows),
            fact(
                f"Columns in version {current.number}", f"length({v}.columns)", len(current.columns)
            ),
        ]
        blocks.append(discovery(info.name, current))
    blocks.append(lineage_block(ctx, info))
    return blocks


def discovery(name: str, version: VersionInfo) -> Block:
    fact = facts_of(f"privet datasets {name} --json")
    v = ver(version.number)
    rows = []
    for column in version.columns:
        at = f"{v}.columns[?name=={quote(column.name)}] | [0]"
        rows.append(
            [
                fact("column", f"{at}.name", column.name),
                fact("role", f"{at}.role", column.role),
                fact("category", f"{at}.category", column.category),
                fact("source", f"{at}.source", column.source),
                fact("confidence", f"{at}.confidence", column.confidence),
            ]
        )
    counts = [
        fact(
            label,
            f"length({v}.columns[?role=={quote(role)}])",
            sum(1 for c in version.columns if c.role == role),
        )
        for role, label in (
            ("direct_identifier", "Direct identifiers"),
            ("quasi_identifier", "Quasi-identifiers"),
            ("sensitive", "Sensitive attributes"),
        )
    ]
    return Block(
        title=f"Discovery: the columns of {version.ref}, their roles and data categories",
        facts=counts,
        table=Table(header=["column", "role", "category", "source", "confidence"], rows=rows),
    )
