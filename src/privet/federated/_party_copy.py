"""A party keeps the final global model in its own model store, bound to its own dataset."""

from __future__ import annotations

from typing import TYPE_CHECKING

from privet.dp import blocks as dp
from privet.federated import _cards, _local
from privet.federated._parties import Party
from privet.federated._recipe import Arrays, Recipe, build, load_arrays
from privet.federated._requests import FederateRequest

if TYPE_CHECKING:
    from privet.core import Core


def store(
    core: Core,
    party: Party,
    data: _local.PartyData,
    request: FederateRequest,
    recipe: Recipe,
    weights: Arrays,
    *,
    budget: _local.Budget | None,
    run: str,
    model: str,
) -> float:
    """Store the global model with the party's split; its held-out score (kept local)."""
    module = build(request, recipe)
    load_arrays(module, weights)
    test = data.test
    score = _local.accuracy(module, data.x[test], data.y[test], recipe.task)
    metric = "accuracy" if recipe.task == "classification" else "mae"
    card = _cards.card(
        request.model_copy(update={"name": model}),
        recipe,
        ref=data.ref,
        dataset_id=data.dataset_id,
        version_id=data.version_id,
        split=data.split,
        budget=budget,
        evaluation=dp.Evaluation.model_validate(
            {"split": "held-out", "test_rows": len(test), "metric": metric, metric: score}
        ),
        unit=data.subject,
        actor=party.actor,
        purpose=party.purpose,
        now=core.now(),
        federation=_cards.federation_facts(
            request,
            run=run,
            parties=[party.name],
            epsilons={party.name: _cards.epsilon_of(budget)},
            rounds=[],
        ),
        notes=[f"this party's copy of the federated model of run {run}"],
    )
    dp.store(
        core,
        dp.weights_of(module),
        card,
        charge=None,
        charged=budget is not None,
        ref=data.ref,
        purpose=party.purpose,
        actor=party.actor,
        delta=budget.delta if budget else 0.0,
    )
    return score
