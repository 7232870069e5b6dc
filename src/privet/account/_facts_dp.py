"""Differential privacy in a dataset's assessment: the budget ledger of its source, with the
ε spent against its limit drawn."""

from __future__ import annotations

from typing import TYPE_CHECKING

from privet.account import _figures
from privet.account._facts_context import facts_of
from privet.account._model import Block, Figure

if TYPE_CHECKING:
    from privet.account._facts_context import Gathering
    from privet.catalog import DatasetInfo


def ledger(ctx: Gathering, info: DatasetInfo) -> Block:
    from privet import dp

    cmd = f"privet budget {info.name} --json"
    fact = facts_of(cmd)
    budget = dp.budget(ctx.core, info.name)
    facts = [
        fact("Ledger of", "dataset", budget.dataset),
        fact("Privacy unit", "unit", budget.unit),
        fact("ε limit", "epsilon_limit", budget.epsilon_limit),
        fact("δ", "delta", budget.delta),
        fact("ε spent", "epsilon_spent", budget.epsilon_spent),
        fact("ε remaining", "epsilon_remaining", budget.epsilon_remaining),
        fact("DP releases", "length(releases)", len(budget.releases)),
        fact("Limit left at its default", "default_limit", budget.default_limit),
    ]
    title = f"ε of the {budget.dataset} ledger"
    parts = {"spent": budget.epsilon_spent, "limit": budget.epsilon_limit, "title": title}
    svg = ctx.cached(
        "figure:ledger",
        budget.dataset,
        parts,
        lambda: _figures.ledger(budget.epsilon_spent, budget.epsilon_limit, title),
    )
    figure = Figure(
        title="Privacy budget", svg=svg, caption=f"{cmd} → epsilon_spent, epsilon_limit"
    )
    return Block(title="Differential privacy: the budget ledger", facts=facts, figure=figure)
