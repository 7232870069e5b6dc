"""One request model per DP operation, shared by the library, the CLI and the server.

Each parameter is declared here once, with its type, default, description and validation.
A request that fails validation raises :class:`privet.errors.InvalidInput` naming the
parameter (never echoing its value), whether it came from Python, a command line or a
JSON body, so every door reports it as one sentence.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from privet.catalog import check_name, check_purpose
from privet.errors import InvalidInput

# Column names and category values as a request may carry them (bounded, no control chars).
ColumnName = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")
]
KeyValue = Annotated[str, StringConstraints(max_length=200)] | bool | int | float
Bounds = dict[ColumnName, tuple[float, float]]
Keys = dict[ColumnName, list[KeyValue]]
ASSESSMENT = "privet:assessment"
MAX_SYNTH_ROWS = 10_000_000


def check_epsilon(epsilon: float | None, *, allow_none: bool = False) -> float | None:
    """ε in (0, 100]: above that a release gives no meaningful privacy."""
    if epsilon is None and allow_none:
        return None
    if epsilon is None or isinstance(epsilon, bool):
        raise InvalidInput("give a privacy budget ε greater than 0", parameter="epsilon")
    value = float(epsilon)
    if not math.isfinite(value) or value <= 0:
        raise InvalidInput(
            f"ε must be a finite number greater than 0, not {value:g}", parameter="epsilon"
        )
    if value > 100:
        raise InvalidInput(
            f"ε = {value:g} gives no meaningful privacy; use at most 100",
            parameter="epsilon",
        )
    return value


def check_delta_value(delta: float | None, *, parameter: str = "delta") -> float | None:
    """δ is 0 or a small positive number (whether it is below 1/n needs the data's size)."""
    if delta is None:
        return None
    value = float(delta)
    if not math.isfinite(value) or value < 0:
        raise InvalidInput(
            f"{parameter} must be 0 or a small positive number, not {value:g}",
            parameter=parameter,
        )
    return value


def check_bounds(bounds: Bounds | None) -> Bounds | None:
    for column, (low, high) in (bounds or {}).items():
        if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
            raise InvalidInput(
                f"the bounds of {column[:80]!r} must be finite with LO < HI", parameter="bounds"
            )
    return bounds


class DpRequest(BaseModel):
    """Base of the request models: unknown fields refused, validation errors as InvalidInput."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="wrap")
    @classmethod
    def _one_sentence(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Self:
        try:
            return handler(data)
        except ValidationError as err:
            raise _invalid(err) from None

    # Shared checks: each runs on the subclasses that have the field.
    @field_validator("purpose", check_fields=False)
    @classmethod
    def _purpose(cls, value: str) -> str:
        return _named(check_purpose, value, "purpose")

    @field_validator("name", check_fields=False)
    @classmethod
    def _name(cls, value: str) -> str:
        return _named(check_name, value, "name")

    @field_validator("epsilon", check_fields=False)
    @classmethod
    def _epsilon(cls, value: float | None) -> float | None:
        return check_epsilon(value, allow_none=True)

    @field_validator("delta", check_fields=False)
    @classmethod
    def _delta(cls, value: float | None) -> float | None:
        return check_delta_value(value)

    @field_validator("bounds", check_fields=False)
    @classmethod
    def _bounds(cls, value: Bounds | None) -> Bounds | None:
        return check_bounds(value)


def _named(check: Any, value: str, parameter: str) -> str:
    try:
        return check(value)
    except InvalidInput as err:
        raise InvalidInput(str(err), parameter=parameter) from None


def _invalid(err: ValidationError) -> InvalidInput:
    """The first problem as one sentence, naming the field; input values are never quoted."""
    first = err.errors(include_input=False, include_url=False)[0]
    location = [str(p) for p in first.get("loc", ())]
    field = location[0] if location else None
    cause = (first.get("ctx") or {}).get("error")
    message = str(cause) if cause is not None else first.get("msg", "invalid value")
    where = ".".join(location) or "the request"
    return InvalidInput(f"{where}: {message[:1].lower()}{message[1:]}", parameter=field)


class QueryRequest(DpRequest):
    """A DP statistic: SQL with count, sum, mean, quantiles and GROUP BY."""

    sql: str = Field(
        min_length=1,
        max_length=20_000,
        description="SELECT COUNT/SUM/AVG/MEDIAN/QUANTILE … FROM NAME [WHERE] [GROUP BY]",
    )
    epsilon: float = Field(description="the ε this release may spend")
    purpose: str = Field(max_length=128, description="why you ask; a declared purpose")
    delta: float | None = Field(
        None, description="δ for discovering GROUP BY keys privately (needed only without keys)"
    )
    bounds: Bounds | None = Field(
        None, max_length=64, description="public clamping bounds per column: [low, high]"
    )
    keys: Keys | None = Field(None, max_length=64, description="public GROUP BY keys per column")
    max_rows_per_subject: int = Field(
        1,
        ge=1,
        description="rows each subject may contribute (more are dropped at random before noise)",
    )


class TrainRequest(DpRequest):
    """A DP-SGD model of one column, stored encrypted with its model card."""

    target: str = Field(min_length=1, description="the column to predict")
    name: str = Field(description="name of the new model in the catalog")
    purpose: str = Field(max_length=128, description="why you train; a declared purpose")
    epsilon: float | None = Field(
        None, description="ε of the whole training release (default: what the ledger has left)"
    )
    delta: float | None = Field(None, description="δ (default: the ledger's δ)")
    model: Literal["logreg", "mlp"] = Field(
        "logreg",
        description="logistic/linear regression or a one-hidden-layer network (hidden_units)",
    )
    task: Literal["classification", "regression"] | None = Field(
        None, description="default: regression for a numeric target, else classification"
    )
    features: list[str] | None = Field(
        None, description="feature columns (default: every non-identifying usable column)"
    )
    epochs: int = Field(
        10, ge=1, le=1000, description="passes over the data (in expectation, Poisson sampling)"
    )
    batch_size: int = Field(
        256, ge=1, description="expected batch size (the Poisson sampling rate is this over n)"
    )
    clip: float = Field(1.0, gt=0, allow_inf_nan=False, description="per-example gradient norm")
    learning_rate: float | None = Field(
        None, gt=0, description="Adam's learning rate (default: 0.1 for logreg, 0.01 for mlp)"
    )
    bounds: Bounds | None = Field(
        None, description="public clamping bounds of numeric columns (overrides the owner's)"
    )
    keys: Keys | None = Field(None, description="public category values of columns")
    test_fraction: float = Field(
        0.2, gt=0.0, le=0.5, description="share of rows held out to score the model"
    )
    hidden_units: int = Field(64, ge=1, le=4096, description="width of the mlp's hidden layer")
    train_rows: int | None = Field(
        None,
        ge=1,
        description="train on about this many rows (each by its own coin; the rest unused)",
    )
    no_dp: bool = Field(
        False,
        description="train WITHOUT privacy (dataset owner only); the model card says so first",
    )
    seed: int | None = Field(
        None, description="fixes split, sampling and noise: NOT secure, for tests only"
    )
    proxy_reason: str | None = Field(
        None,
        min_length=1,
        max_length=500,
        description="why features that reconstruct a sensitive attribute are used (the "
        "dataset's owner only); recorded on the model card",
    )
    unlearnable: bool = Field(
        False,
        description="train a SISA ensemble (Bourtoule et al. 2021) that forgets a subject by "
        "retraining one shard from the slice they first appear in; needs a subject id and "
        "no_dp",
    )
    shards: int = Field(
        5, ge=2, le=64, description="unlearnable: isolated shards, one model each (S)"
    )
    slices: int = Field(
        4, ge=1, le=64, description="unlearnable: checkpointed slices of each shard (R)"
    )

    @model_validator(mode="after")
    def _no_dp_takes_no_epsilon(self) -> Self:
        if self.no_dp and self.epsilon is not None:
            raise InvalidInput(
                "no_dp trains without privacy; it takes no epsilon", parameter="epsilon"
            )
        return self

    @model_validator(mode="after")
    def _sisa_options(self) -> Self:
        if not self.unlearnable and {"shards", "slices"} & self.model_fields_set:
            given = "shards" if "shards" in self.model_fields_set else "slices"
            raise InvalidInput(
                f"{given} apply only to an unlearnable model (add unlearnable)", parameter=given
            )
        if self.unlearnable and not self.no_dp:
            # Each shard would spend its own DP-SGD budget on a disjoint part of the data;
            # that composition is not what the ledger's accountant models yet.
            raise InvalidInput(
                "an unlearnable (SISA) model is trained without DP for now (a DP-SGD "
                "ensemble needs its own accounting); add no_dp",
                parameter="unlearnable",
            )
        return self


class SynthRequest(DpRequest):
    """A synthetic copy of a dataset as a new dataset; AIM and MST spend ε."""

    name: str = Field(description="name of the synthetic dataset")
    method: Literal["aim", "mst", "independent"] = Field(
        "aim",
        description="AIM or MST (DP), or independent columns (a baseline with NO guarantee)",
    )
    epsilon: float | None = Field(None, description="ε this release spends (aim, mst)")
    delta: float | None = Field(
        None, description="δ for discovering category keys privately (default: from the ledger)"
    )
    rows: int | None = Field(
        None, ge=1, le=MAX_SYNTH_ROWS, description="rows to generate (default: as many)"
    )
    columns: list[str] | None = Field(
        None, description="columns to synthesize (default: all usable)"
    )
    bins: int = Field(16, ge=2, le=1000, description="equal-width bins of a numeric column")
    bounds: Bounds | None = Field(
        None, description="public bounds of numeric columns (else the owner's, else learned)"
    )
    keys: Keys | None = Field(None, description="public category values of columns")
    purpose: str = Field(
        ASSESSMENT, description="purpose of the read (the result stays governed in the catalog)"
    )
    max_model_size: float = Field(80.0, gt=0, description="AIM: largest model size in MB")
    rounds: int | None = Field(None, ge=1, description="AIM: most rounds (default 16 × columns)")
    seed: int | None = Field(None, description="fixes the sampling: NOT secure, for tests only")

    @model_validator(mode="after")
    def _epsilon_for_dp_only(self) -> Self:
        if self.method == "independent":
            if self.epsilon is not None or self.delta is not None:
                raise InvalidInput(
                    "the independent method adds no noise and spends no budget; it takes no "
                    "epsilon",
                    parameter="epsilon",
                )
        else:
            check_epsilon(self.epsilon)
        return self


class BudgetRequest(DpRequest):
    """The owner's changes to a ledger: its limit and the public domains of columns."""

    epsilon: float | None = Field(None, description="new ε limit of the ledger")
    delta: float | None = Field(None, description="new δ of the ledger")
    bounds: Bounds | None = Field(None, description="declare public clamping bounds of columns")
    keys: Keys | None = Field(None, description="declare public category values of columns")

    @property
    def declares(self) -> bool:
        return bool(self.bounds or self.keys)

    @property
    def sets_limit(self) -> bool:
        return self.epsilon is not None or self.delta is not None
