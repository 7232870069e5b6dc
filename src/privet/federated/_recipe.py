"""The federation's model: features from the common data model, weights as NumPy arrays.

Every party and the coordinator build the same network from the request alone (the
features' domains are public), so the only thing that travels is the weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from privet.dp import blocks as dp
from privet.errors import InvalidInput
from privet.federated._requests import FederateRequest

if TYPE_CHECKING:
    import torch

Arrays = list[np.ndarray]


@dataclass(frozen=True)
class Recipe:
    features: list[dp.Feature]
    target: dp.Feature
    task: Literal["classification", "regression"]
    inputs: int
    outputs: int


def recipe_of(request: FederateRequest) -> Recipe:
    """The features and target as the request's keys and bounds declare them."""
    features = [_feature(name, request) for name in request.feature_names]
    if not features:
        raise InvalidInput("no features: name them in keys or bounds", parameter="features")
    target = _feature(request.target, request)
    task: Literal["classification", "regression"] = (
        "classification" if target.kind == "categorical" else "regression"
    )
    classes = len(target.levels or [])
    outputs = 1 if task == "regression" or classes == 2 else classes
    return Recipe(features, target, task, sum(f.width for f in features), outputs)


def _feature(name: str, request: FederateRequest) -> dp.Feature:
    if name in request.keys:
        return dp.Feature(
            name=name, kind="categorical", levels=list(request.keys[name]), source="given"
        )
    if name in request.bounds:
        low, high = request.bounds[name]
        return dp.Feature(name=name, kind="numeric", lower=low, upper=high, source="given")
    raise InvalidInput(
        f"feature {name[:80]!r} has no public domain: give its levels in keys or its bounds",
        parameter="features",
    )


def build(request: FederateRequest, recipe: Recipe) -> torch.nn.Module:
    from privet.dp import sgd

    return sgd.build_model(request.model, recipe.inputs, recipe.outputs, request.hidden_units)


def arrays_of(module: torch.nn.Module) -> Arrays:
    return [p.detach().numpy().copy() for p in module.parameters()]


def load_arrays(module: torch.nn.Module, arrays: Arrays) -> None:
    import torch

    params = list(module.parameters())
    if len(params) != len(arrays) or any(
        tuple(p.shape) != tuple(a.shape) for p, a in zip(params, arrays, strict=True)
    ):
        raise InvalidInput("the global model does not match this party's recipe")
    with torch.no_grad():
        for p, a in zip(params, arrays, strict=True):
            p.copy_(torch.from_numpy(np.asarray(a, dtype=np.float32)))


def initial_arrays(request: FederateRequest, recipe: Recipe) -> Arrays:
    import torch

    if request.seed is not None:
        torch.manual_seed(request.seed)
    return arrays_of(build(request, recipe))
