"""The coordinator's copy of the global model, in its own catalog, keys and log.

The coordinator holds none of the parties' rows. Its catalog gets a schema-only dataset, the
federation's common data model (NAME.federation, no rows), which anchors the model as every
privet model is anchored: weights encrypted under that dataset's keys, lineage from it, one
log entry. The parties' own logs hold their reads and ledgers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from privet.catalog import register_schema, resolve
from privet.dp import blocks as dp
from privet.federated import _cards
from privet.federated._recipe import Arrays, Recipe, build, load_arrays
from privet.federated._requests import FederateRequest

if TYPE_CHECKING:
    from privet.core import Core


def schema_name(model: str) -> str:
    return f"{model}.federation"


def schema_frame(request: FederateRequest, recipe: Recipe) -> pl.DataFrame:
    """No rows: the columns of the common data model with their types."""
    dtypes = {
        f.name: pl.String if f.kind == "categorical" else pl.Float64
        for f in [*recipe.features, recipe.target]
    }
    return pl.DataFrame(schema=dtypes)


def store(
    core: Core,
    request: FederateRequest,
    recipe: Recipe,
    weights: Arrays,
    *,
    run: str,
    actor: str,
    federation: dict[str, Any],
    accuracy: float | None,
) -> dp.ModelInfo:
    """Register the schema and store the global model with its card."""
    version = register_schema(
        core,
        name=schema_name(request.name),
        frame=schema_frame(request, recipe),
        owner=actor,
        purposes=[request.purpose],
        actor=actor,
        source=f"federation:{run}",
        facts={"run": run, "parties": len(federation["parties"])},
    )
    ref = f"{version.dataset}@{version.number}"
    with core.reading() as session:
        dataset_id = resolve(session, ref)[0].id
    module = build(request, recipe)
    load_arrays(module, weights)
    metric = "accuracy" if recipe.task == "classification" else "mae"
    card = _cards.card(
        request,
        recipe,
        ref=ref,
        dataset_id=dataset_id,
        version_id=version.id,
        split=dp.Split(rows=0, train="", test="", train_count=0, test_count=0),
        budget=None,
        evaluation=dp.Evaluation.model_validate(
            {
                "split": "held-out at the parties",
                "metric": metric,
                **({metric: accuracy} if accuracy is not None else {}),
            }
        ),
        unit=None,
        actor=actor,
        purpose=request.purpose,
        now=core.now(),
        federation=federation,
        notes=["trained by federation: the coordinator holds no rows of any party"],
    )
    return dp.store(
        core,
        dp.weights_of(module),
        card,
        charge=None,
        charged=request.epsilon is not None,
        ref=ref,
        purpose=request.purpose,
        actor=actor,
        delta=0.0,
    )
