"""Access in a dataset's assessment: reads, records released, refusals and reads per purpose
from the audit log, and the alerts raised on unusual reads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from privet.account._facts_context import facts_of
from privet.account._model import Block, Fact, quote

if TYPE_CHECKING:
    from privet.account._facts_context import Gathering
    from privet.catalog import DatasetInfo


def access(ctx: Gathering, info: DatasetInfo) -> Block:
    ctx.progress(f"{info.name}: access")
    size, counts = ctx.access
    seen = counts.get(info.id, {"reads": 0, "rows": 0, "refused": 0, "purposes": {}})
    fact = facts_of(f"privet log show --start 0 --limit {size} --json")
    mine = f"entries[?event=='read' && dataset=={quote(info.id)}]"
    facts = [
        fact("Audit-log entries examined", "length(entries)", size),
        fact("Reads", f"length({mine})", seen["reads"]),
        fact("Records released by those reads", f"sum({mine}.rows)", seen["rows"]),
        fact(
            "Reads refused",
            f"length(entries[?event=='read.refused' && dataset=={quote(info.id)}])",
            seen["refused"],
        ),
        Fact(
            label="Alerts on unusual reads",
            value=sum(1 for a in ctx.alerts if a.dataset in (info.name, info.id)),
            command="privet alerts --json",
            path=f"length([?dataset=={quote(info.name)} || dataset=={quote(info.id)}])",
        ),
    ]
    for purpose, reads in sorted(seen["purposes"].items()):
        facts.append(
            fact(
                f"Reads for {purpose}",
                f"length(entries[?event=='read' && dataset=={quote(info.id)} && "
                f"purpose=={quote(purpose)}])",
                reads,
            )
        )
    return Block(title="Access: who read it and what was raised", facts=facts)
