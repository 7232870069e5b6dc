"""The model card: what a model is, what it cost, how it scored; validated whenever it is read.

The stored form is the JSON of :class:`ModelCard` with only the fields a card was made
with (format 1): a card written before this model existed loads unchanged, and one read
back and written again keeps its exact shape.

A card is governed like the rows it was made from. Its split bitmaps say which rows were
trained on and held out (and so which had a usable label), and exact counts let two cards
be differenced down to one person (Dinur & Nissim 2003): readers who may not read the raw
rows get :meth:`ModelCard.public`, without them; its DP figures (ε, the score's interval)
stay public.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
)

from privet.dp._features import Feature
from privet.errors import IntegrityError

if TYPE_CHECKING:
    from privet.dp import _accounting as acc

CARD_FORMAT: Final = 1


class _Stored(BaseModel):
    """Dumps only the fields it was made or loaded with: the stored shape is kept as it was."""

    model_config = ConfigDict(extra="allow")

    @model_serializer(mode="wrap")
    def _as_stored(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        kept = self.model_fields_set | set(self.__pydantic_extra__ or {})
        return {key: value for key, value in data.items() if key in kept}


class Privacy(_Stored):
    """The guarantee, and the parameters that let anyone recompute it."""

    differentially_private: bool
    epsilon: float | None = None
    delta: float | None = None
    epsilon_rdp: float | None = Field(None, description="RDP accountant's ε, a cross-check")
    accountant: str | None = None
    unit: str | None = Field(None, description="'row' or 'subject (COLUMN)'")
    noise_multiplier: float | None = None
    clipping_norm: float | None = None
    sample_rate: float | None = None
    sampling: str | None = None
    steps: int | None = None
    preprocessing_epsilon: float | None = None
    target_epsilon: float | None = None
    evaluation_epsilon: float | None = None


class Training(_Stored):
    epochs: int
    batch_size: int
    learning_rate: float
    optimizer: str = "Adam"
    hidden_units: int | None = None


class Split(_Stored):
    """Which rows (positions in the broker's read) were trained on and held out."""

    rows: int
    train: str = Field(description="packed bitmap of the training rows (see pack_rows)")
    test: str = Field(description="packed bitmap of the held-out rows")
    train_count: int
    test_count: int


class Evaluation(_Stored):
    """The held-out score: a DP release (with its interval) unless the model has no DP."""

    split: str = "held-out"
    test_rows: int | None = Field(None, description="exact count: for who may read the rows")
    metric: Literal["accuracy", "mae"]
    accuracy: float | None = None
    mae: float | None = None
    accuracy_interval_95: list[float] | None = None
    mae_interval_95: list[float] | None = None
    test_rows_dp: int | None = Field(None, description="the noisy count behind a DP score")
    private: bool = False
    epsilon: float | None = None

    @property
    def score(self) -> float | None:
        return self.accuracy if self.metric == "accuracy" else self.mae

    @property
    def interval(self) -> list[float] | None:
        return self.accuracy_interval_95 if self.metric == "accuracy" else self.mae_interval_95


class Sisa(_Stored):
    """An unlearnable model: a SISA ensemble (Bourtoule et al. 2021), see privet.dp._sisa."""

    kind: Literal["sisa"] = "sisa"
    shards: int
    slices: int
    epochs_per_slice: int
    subject: str = Field(description="the column whose links place each person's rows")
    keep: float = Field(1.0, description="each person's chance to be trained on (train_rows)")
    seed: int = Field(description="seeds every shard's and stage's random choices")
    aggregation: str = "mean of the shards' probabilities"
    min_subjects: int = Field(description="levels and classes held by fewer are not learned")
    shard_rows: list[int] | None = Field(None, description="exact training rows per shard")
    shard_hashes: list[str] = Field(description="SHA-256 of each shard's final parameters")
    unlearned: int = Field(0, description="how many times subjects were unlearned")


class ModelCard(_Stored):
    """A trained model's card (format 1)."""

    summary: str = Field(description="the guarantee in one sentence; says first if there is none")
    format: Literal[1]
    model: str = Field(description="the model's name")
    id: str
    architecture: Literal["logreg", "mlp"]
    task: Literal["classification", "regression"]
    dataset: str = Field(description="the version trained on, NAME@N")
    dataset_id: str
    version_id: str
    target: str
    features: list[Feature]
    inputs: int
    outputs: int
    training: Training
    split: Split | None = None
    privacy: Privacy
    evaluation: Evaluation
    purpose: str
    created_by: str
    created_at: str
    notes: list[str] = Field(default_factory=list)
    target_source: Literal["given", "declared", "dp", "data"] | None = None
    classes: list[Any] | None = None
    target_bounds: list[float] | None = None
    audits: list[dict[str, Any]] | None = Field(None, description="attack results, appended")
    withheld: list[str] | None = Field(
        None, description="in a public card: what was left out because it was computed exactly"
    )
    sisa: Sisa | None = Field(None, description="an unlearnable model's shards and slices")
    request: dict[str, Any] | None = Field(
        None, description="the TrainRequest it was trained with, for retraining"
    )

    @classmethod
    def load(cls, stored: Any) -> ModelCard:
        """A stored card, checked: an unknown format or a malformed card is refused."""
        try:
            return cls.model_validate(stored)
        except ValidationError:
            raise IntegrityError("a stored model card has an unknown format") from None

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def public(self) -> ModelCard:
        """This card without what was computed exactly from the rows; ``withheld`` names it."""
        out = copy.deepcopy(self.stored())
        withheld: list[str] = []
        if out.pop("split", None) is not None:
            withheld.append("split")
        evaluation = out.get("evaluation") or {}
        if evaluation.pop("test_rows", None) is not None:
            withheld.append("evaluation.test_rows")
        metric = evaluation.get("metric")
        if not evaluation.get("private") and evaluation.pop(metric, None) is not None:
            withheld.append(f"evaluation.{metric}")  # an exact score of people's records
        for feature in out.get("features", []):
            if feature.get("source") == "data":  # exact levels or range, read from the rows
                feature.update(lower=None, upper=None, levels=None)
                withheld.append(f"features.{feature['name']}")
        exact_target = (out.get("target_source") or "data") == "data"
        if exact_target and not out.get("privacy", {}).get("differentially_private"):
            for key in ("classes", "target_bounds"):
                if out.pop(key, None) is not None:
                    withheld.append(key)
        counted = False
        for audit in out.get("audits") or []:
            for key in ("members", "non_members"):  # how many scorable rows the split had
                counted = audit.pop(key, None) is not None or counted
        if counted:
            withheld.append("audits.members")
        if (out.get("sisa") or {}).pop("shard_rows", None) is not None:
            withheld.append("sisa.shard_rows")
        if (out.get("request") or {}).pop("seed", None) is not None:
            withheld.append("request.seed")
        out["withheld"] = withheld
        return ModelCard.model_validate(out)


def make_card(
    *,
    name: str,
    model_id: str,
    kind: Literal["logreg", "mlp"],
    task: Literal["classification", "regression"],
    ref: str,
    dataset_id: str,
    version_id: str,
    target: Feature,
    features: Sequence[Feature],
    inputs: int,
    outputs: int,
    training: Training,
    split: Split,
    clip: float,
    rate: float,
    steps: int,
    budget: dict[str, Any] | None,
    charge: acc.Charge | None,
    evaluation: Evaluation,
    unit: str | None,
    purpose: str,
    actor: str,
    now: datetime,
    notes: list[str],
) -> ModelCard:
    from privet.dp import _accounting as acc

    if budget is None:
        summary = (
            "No privacy guarantee: this model was trained without differential privacy "
            "(no_dp) and may reveal the records it was trained on; keep it among people "
            "allowed raw access to the data."
        )
        privacy = Privacy(differentially_private=False)
    else:
        assert charge is not None
        spent = acc.epsilon_spent([charge], budget["delta"])
        summary = (
            f"Differentially private: ({spent:.3g}, {budget['delta']:.2g})-DP for each "
            f"{'subject (' + unit + ')' if unit else 'row'} of {ref}, trained with DP-SGD "
            "(Opacus); preprocessing and the reported score are included in that budget."
        )
        privacy = Privacy(
            differentially_private=True,
            epsilon=spent,
            delta=budget["delta"],
            epsilon_rdp=acc.epsilon_spent_rdp([charge], budget["delta"]),
            accountant="PLD (dp-accounting)",
            unit=f"subject ({unit})" if unit else "row",
            noise_multiplier=budget["noise_multiplier"],
            clipping_norm=clip,
            sample_rate=rate,
            sampling="Poisson",
            steps=steps,
            preprocessing_epsilon=budget["preprocessing_epsilon"],
            target_epsilon=budget["target_epsilon"],
            evaluation_epsilon=budget["evaluation_epsilon"],
        )
    card = ModelCard(
        summary=summary,
        format=CARD_FORMAT,
        model=name,
        id=model_id,
        architecture=kind,
        task=task,
        dataset=ref,
        dataset_id=dataset_id,
        version_id=version_id,
        target=target.name,
        features=list(features),
        inputs=inputs,
        outputs=outputs,
        training=training,
        split=split,
        privacy=privacy,
        evaluation=evaluation,
        purpose=purpose,
        created_by=actor,
        created_at=now.isoformat(),
        notes=notes,
        target_source=target.source,
    )
    if task == "classification":
        card.classes = list(target.levels or [])
    else:
        card.target_bounds = [target.lower, target.upper]  # type: ignore[list-item]
    # Validated once more as stored: what is written is exactly what a reader will load.
    return ModelCard.load(card.stored())
