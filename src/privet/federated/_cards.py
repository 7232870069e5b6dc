"""The federated model's cards: the coordinator's, and each party's copy of the model.

Both record the federation (parties, rounds, SecAgg+ settings, ε per party); a party's copy
also records which of its own rows were trained on and held out, so that its owner can
attack the model (``privet audit``) with true members and non-members of its own data.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from privet.dp import blocks as dp
from privet.federated._local import MOMENTUM, learning_rate
from privet.federated._recipe import Recipe
from privet.federated._requests import FederateRequest


def federation_facts(
    request: FederateRequest,
    *,
    run: str,
    parties: list[str],
    epsilons: dict[str, float | None],
    rounds: list[dict[str, Any]],
) -> dict[str, Any]:
    """The card's ``federation`` section."""
    return {
        "run": run,
        "parties": parties,
        "rounds": request.rounds,
        "local_epochs": request.local_epochs,
        "mode": request.mode,
        "aggregation": "FedAvg (Flower)",
        "secagg": None
        if request.secagg is None
        else {"protocol": "SecAgg+ (Flower)", **request.secagg.model_dump()},
        "dp": None
        if request.epsilon is None
        else {
            "mechanism": "DP-SGD at each party (Poisson sampling, clipping, Gaussian noise)",
            "unit": "row or subject of each party's dataset",
            "epsilon_per_party": epsilons,
        },
        "round_facts": rounds,
    }


def card(
    request: FederateRequest,
    recipe: Recipe,
    *,
    model_id: str | None = None,
    ref: str,
    dataset_id: str,
    version_id: str,
    split: dp.Split,
    budget: Any,
    evaluation: dp.Evaluation,
    unit: str | None,
    actor: str,
    purpose: str,
    now: datetime,
    federation: dict[str, Any],
    notes: list[str],
) -> dp.ModelCard:
    """A model card of the global model (``budget``: a party's :class:`Budget`, or None)."""

    made = dp.make_card(
        name=request.name,
        model_id=model_id or uuid.uuid4().hex,
        kind=request.model,
        task=recipe.task,
        ref=ref,
        dataset_id=dataset_id,
        version_id=version_id,
        target=recipe.target,
        features=recipe.features,
        inputs=recipe.inputs,
        outputs=recipe.outputs,
        training=dp.Training(
            epochs=request.rounds * request.local_epochs,
            batch_size=request.batch_size,
            learning_rate=learning_rate(request),
            optimizer=f"SGD, momentum {MOMENTUM} (local, afresh each round)",
            **({"hidden_units": request.hidden_units} if request.model == "mlp" else {}),
        ),
        split=split,
        clip=request.clip,
        rate=budget.sample_rate if budget else 0.0,
        steps=budget.steps if budget else 0,
        budget=None
        if budget is None
        else {
            "epsilon": budget.epsilon,
            "delta": budget.delta,
            "noise_multiplier": budget.noise_multiplier,
            "preprocessing_epsilon": 0.0,
            "target_epsilon": 0.0,
            "evaluation_epsilon": 0.0,
        },
        charge=budget.charge if budget else None,
        evaluation=evaluation,
        unit=unit,
        purpose=purpose,
        actor=actor,
        now=now,
        notes=notes,
    )
    stored = made.stored()
    if budget is None and request.epsilon is not None:
        # The coordinator's copy: DP at every party, each at its own ε (the federation facts).
        stored["summary"] = (
            f"Differentially private at each party: every party's rows are protected by "
            f"DP-SGD at ε = {request.epsilon:g} per party, recorded in that party's ledger "
            "(see federation.dp); the coordinator saw only aggregated updates."
        )
        stored["privacy"] = {
            "differentially_private": True,
            "epsilon": request.epsilon,
            "delta": request.delta,
            "accountant": "PLD (dp-accounting), at each party",
            "unit": "row or subject of each party's dataset",
            "clipping_norm": request.clip,
            "sampling": "Poisson",
        }
    return dp.ModelCard.load(
        {**stored, "request": request.model_dump(mode="json"), "federation": federation}
    )


def epsilon_of(budget: Any) -> float | None:
    return None if budget is None else dp.epsilon_spent([budget.charge], budget.delta)
