"""What a federated training asks for: the recipe, the common data model, SecAgg+ and DP."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from privet.catalog import check_name, check_purpose
from privet.dp import blocks as dp
from privet.errors import InvalidInput

Mode = Literal["simulation", "processes"]


class SecAgg(BaseModel):
    """Flower's SecAgg+ settings (see ``flwr.server.workflow.SecAggPlusWorkflow``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_shares: int = Field(7, ge=2, description="shares of each party's key (its neighbours)")
    threshold: int = Field(
        4, ge=2, description="shares needed to rebuild a dropped party's mask (dropout tolerance)"
    )
    clipping_range: float = Field(
        8.0, gt=0, allow_inf_nan=False, description="model values are clipped to ±this"
    )
    quantization_range: int = Field(
        2**22, ge=2**8, le=2**30, description="integer levels values are quantized to"
    )
    max_weight: float = Field(
        100_000.0,
        gt=0,
        allow_inf_nan=False,
        description="cap of a party's FedAvg weight (its training rows)",
    )
    timeout: float | None = Field(
        600.0,
        gt=0,
        description="seconds to wait for a stage's replies: a party slower than this drops out "
        "of the round (None: wait for every party)",
    )

    @model_validator(mode="after")
    def _threshold(self) -> Self:
        if self.threshold >= self.num_shares:  # Flower's SecAggPlusWorkflow requires it
            raise ValueError("threshold must be less than num_shares")
        return self


class FederateRequest(BaseModel):
    """FedAvg of a privet recipe across parties, optionally with SecAgg+ and DP-SGD per party.

    The features' domains (category levels in ``keys``, numeric ``bounds``) are the
    federation's common data model: public, given here, the same for every party.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="name of the model in the coordinator's catalog")
    target: dp.ColumnName = Field(description="the column to predict (its levels in keys)")
    purpose: str = Field(max_length=128, description="the coordinator's purpose for the model")
    keys: dp.Keys = Field(description="category levels of the categorical features and the target")
    bounds: dp.Bounds = Field(default_factory=dict, description="bounds of the numeric features")
    features: list[dp.ColumnName] | None = Field(
        None, description="feature columns (default: every column of keys and bounds)"
    )
    model: Literal["logreg", "mlp"] = "logreg"
    hidden_units: int = Field(64, ge=1, le=4096)
    rounds: int = Field(20, ge=1, le=1000, description="FedAvg rounds")
    local_epochs: int = Field(1, ge=1, le=100, description="passes over each party's rows")
    batch_size: int = Field(256, ge=1, description="expected batch size of each local step")
    learning_rate: float | None = Field(
        None, gt=0, description="local SGD's, momentum 0.9 (default: 0.3 logreg, 0.05 mlp)"
    )
    clip: float = Field(1.0, gt=0, allow_inf_nan=False, description="DP-SGD gradient norm")
    test_fraction: float = Field(0.2, gt=0, le=0.5, description="rows each party holds out")
    epsilon: float | None = Field(None, description="ε per party (None: no DP)")
    delta: float | None = Field(None, description="δ per party (default: each ledger's δ)")
    secagg: SecAgg | None = Field(None, description="SecAgg+ (None: plain FedAvg)")
    min_parties: int | None = Field(
        None, ge=1, description="fewest parties a round needs (default: all, or SecAgg's threshold)"
    )
    mode: Mode = "simulation"
    seed: int | None = Field(None, description="fixes splits, sampling and noise: tests only")

    @model_validator(mode="after")
    def _checks(self) -> Self:
        check_name(self.name)
        check_purpose(self.purpose)
        dp.check_epsilon(self.epsilon, allow_none=True)
        dp.check_bounds(self.bounds)
        if self.target not in self.keys and self.target not in self.bounds:
            raise ValueError("give the target's classes in keys")
        for column, levels in self.keys.items():
            if len(levels) < (2 if column == self.target else 1):
                raise ValueError(f"keys of {column!r} need more levels")
        return self

    @property
    def feature_names(self) -> list[str]:
        if self.features is not None:
            return list(dict.fromkeys(self.features))
        return [c for c in [*self.keys, *self.bounds] if c != self.target]


def federate_request(**fields: object) -> FederateRequest:
    """A validated request, or InvalidInput naming the parameter (never echoing values)."""
    try:
        return FederateRequest.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "request"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"invalid {where}: {message}", parameter=where) from None


def load_schema(path: str | Path) -> dict[str, Any]:
    """A common data model file: ``keys`` (column: [levels]) and ``bounds`` (column: [lo, hi]).

    ```yaml
    keys: {income: ["<=50K", ">50K"], sex: [Female, Male]}
    bounds: {age: [17, 90]}
    ```
    """
    import yaml

    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise InvalidInput(f"no schema file at {str(path)[:200]!r}", parameter="schema") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(
            f"cannot read the schema file {path.name!r}: {type(exc).__name__}", parameter="schema"
        ) from None
    if not isinstance(document, dict) or set(document) - {"keys", "bounds"}:
        raise InvalidInput(
            f"the schema file {path.name!r} must hold only 'keys' and 'bounds' mappings",
            parameter="schema",
        )
    return {k: v for k, v in document.items() if v is not None}


def secagg_settings(parties: int, shares: int | None, threshold: int | None) -> SecAgg:
    """SecAgg+ with the given shares and threshold, or defaults for ``parties`` parties."""
    n = shares or min(7, parties)
    t = threshold or max(2, n // 2 + 1)
    try:
        return SecAgg(num_shares=n, threshold=max(2, t))
    except ValidationError as exc:
        message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"invalid SecAgg+ settings: {message}", parameter="secagg") from None
