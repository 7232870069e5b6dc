"""Part (d) of a dataset's assessment: the measures in place (destruction under retention and
erasure, protected copies, erasure requests) and what a person must add (DPO, sign-off)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from privet.account._model import Block, Fact, ToFill, quote

if TYPE_CHECKING:
    from privet.account._facts_context import Gathering
    from privet.catalog import DatasetInfo


def measures(ctx: Gathering, info: DatasetInfo) -> list[Block]:
    cmd = f"privet datasets {info.name} --json"
    facts = [
        Fact(
            label="Versions destroyed (retention or erasure)",
            value=sum(1 for v in info.versions if v.shredded_at is not None),
            command=cmd,
            path="length(versions[?shredded_at != null])",
        ),
        Fact(
            label="Versions due for destruction within 30 days",
            value=sum(1 for d in ctx.due if d.dataset == info.name),
            command="privet retention due --days 30 --json",
            path=f"length([?dataset=={quote(info.name)}])",
        ),
        Fact(
            label="Protected (de-identified) datasets made from it",
            value=sum(
                1
                for d in ctx.datasets
                if d.derived_from == info.id and any(v.kind == "protected" for v in d.versions)
            ),
            command="privet datasets --json",
            path=f"length([?derived_from=={quote(info.id)} && versions[?kind=='protected']])",
        ),
        Fact(
            label="Erasure requests in the workspace",
            value=len(ctx.erasures),
            command="privet erasure list --json",
            path="length(@)",
        ),
        Fact(
            label="Erasure requests overdue",
            value=sum(1 for e in ctx.erasures if e.overdue),
            command="privet erasure list --json",
            path="length([?overdue])",
        ),
    ]
    text = [
        "Every version is stored encrypted (AEAD under the workspace keyset); destroying "
        "its key (crypto-shredding) is how retention and erasure delete it.",
        "Every read goes through the broker: a declared purpose, the policy and a grant, "
        "and an entry in the tamper-evident audit log.",
        "Differentially private releases spend from one ledger per source, refused "
        "before reading when they would exceed its limit.",
    ]
    fill = [
        ToFill(
            label="Measures envisaged",
            prompt="For each risk in (c): the safeguard, security measure or mechanism "
            "that addresses it, who is responsible and by when.",
        ),
        ToFill(
            label="Advice of the data protection officer (Art. 35(2))",
            prompt="The DPO's advice, its date, and whether it was followed.",
        ),
        ToFill(
            label="Views of data subjects or their representatives (Art. 35(9))",
            prompt="Who was consulted, how, and what they said; or why not.",
        ),
        ToFill(
            label="Residual risk and sign-off",
            prompt="Whether high risk remains (then prior consultation, Art. 36), the "
            "decision, who took it and when.",
        ),
    ]
    return [Block(title="Measures in place", text=text, facts=facts, fill=fill)]
