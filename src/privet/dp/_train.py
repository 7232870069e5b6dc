"""DP-SGD models: plan and budget first, learn preprocessing privately, train, store encrypted.

A training release spends, in one ledger entry, everything it learned from the data:

- preprocessing not declared by the owner — category levels by OpenDP's thresholded
  counts, numeric bounds by OpenDP's quantiles — each a pure-ε (plus δ) event;
- DP-SGD: Poisson-subsampled Gaussian steps, composed exactly;
- the held-out accuracy printed on the model card, released by OpenDP (a noisy mean of
  "prediction correct"), since a score measured on people's records is a statistic too.

The noise multiplier is calibrated so that the composition of those events meets the
requested ε (or, without one, whatever the ledger has left) at the requested δ.
"""

from __future__ import annotations

import copy
import hashlib
import io
import math
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
from pydantic import BaseModel, Field
from sqlalchemy import select

from privet import auditlog, lineage, policy
from privet.catalog import (
    Role,
    analysis_dtype,
    check_name,
    check_purpose,
    for_analysis,
    is_reserved,
    resolve,
)
from privet.dp import _accounting as acc
from privet.dp import _ledger as led
from privet.errors import (
    AlreadyExists,
    BudgetExhausted,
    IntegrityError,
    InvalidInput,
    NotFound,
    PolicyDenied,
)
from privet.schema import Dataset, DpModel
from privet.timestamps import UtcDatetime

if TYPE_CHECKING:
    import torch

    from privet.core import Core
    from privet.dp.randomness import SecureRandom

CARD_FORMAT = 1
# Shares of ε for what is not DP-SGD itself (the rest is calibrated into the noise).
PREPROCESSING_SHARE = 0.10
EVALUATION_SHARE = 0.05
# A classification target's classes get a share of their own: without two classes there is
# no model, and a share divided among every feature left classes held by a quarter of 5,000
# rows below the discovery threshold at ε = 1.
TARGET_SHARE = 0.05
# Bin edges for privately learned numeric bounds: 0 and ±{1, 2, 5}·10^k, k = 0…9.
_GRID = sorted({0.0} | {s * m * 10.0**k for s in (-1, 1) for m in (1, 2, 5) for k in range(10)})
Progress = Callable[[str], None]
_ROW = "__privet_row__"


class NoPrivacyWarning(UserWarning):
    """A model trained with ``no_dp=True``: it carries no privacy guarantee."""


class Feature(BaseModel):
    """How one column becomes model inputs (all public or privately learned facts)."""

    name: str
    kind: Literal["numeric", "categorical"]
    lower: float | None = None
    upper: float | None = None
    levels: list[Any] | None = None
    source: Literal["given", "declared", "dp", "data"] = Field(
        description="given (argument), declared (owner), dp (learned with budget), data "
        "(read exactly: only for --no-dp models)"
    )

    @property
    def width(self) -> int:
        return len(self.levels or []) if self.kind == "categorical" else 1


class ModelInfo(BaseModel):
    name: str
    id: str
    dataset: str
    private: bool
    card: dict[str, Any]
    stored_bytes: int
    created_at: UtcDatetime
    created_by: str


class TrainedModel:
    """A decrypted model with its preprocessing: ``predict(frame)`` gives labels or values."""

    def __init__(self, card: dict[str, Any], module: torch.nn.Module) -> None:
        self.card = card
        self.module = module
        self.features = [Feature(**f) for f in card["features"]]

    def encode(self, frame: pl.DataFrame) -> torch.Tensor:
        return _encode(frame, self.features)

    def predict(self, frame: pl.DataFrame) -> pl.Series:
        import torch

        with torch.no_grad():
            out = self.module(self.encode(frame))
        task, classes = self.card["task"], self.card.get("classes")
        if task == "regression":
            low, high = self.card["target_bounds"]
            return pl.Series("prediction", (out.squeeze(1) * (high - low) + low).tolist())
        if out.shape[1] == 1:
            picked = (out.squeeze(1) > 0).long().tolist()
        else:
            picked = out.argmax(1).tolist()
        return pl.Series("prediction", [classes[i] for i in picked])


# -- planning ------------------------------------------------------------------------------------


_NUMERIC = ("Int", "UInt", "Float")


def _is_numeric(dtype: str) -> bool:
    return dtype.startswith(_NUMERIC)


def _is_categorical(dtype: str) -> bool:
    return dtype in ("String", "Boolean", "Categorical") or dtype.startswith("Enum")


def _plan_features(
    columns: Mapping[str, Any],
    *,
    target: str,
    features: Sequence[str] | None,
    subject: str | None,
    declared: Mapping[str, dict[str, Any]],
    bounds: Mapping[str, tuple[float, float]],
    keys: Mapping[str, Sequence[Any]],
) -> list[Feature]:
    if features is None:
        chosen = [
            name
            for name, column in columns.items()
            if name not in (target, subject)
            and column.role != Role.DIRECT_IDENTIFIER
            and (_is_numeric(analysis_dtype(column)) or _is_categorical(column.dtype))
        ]
    else:
        chosen = list(dict.fromkeys(features))
        for name in chosen:
            if name not in columns:
                raise InvalidInput(f"unknown column {name[:80]!r}: the dataset has no such column")
            if name == target:
                raise InvalidInput(f"the target {target!r} cannot also be a feature")
            dtype = analysis_dtype(columns[name])
            if not (_is_numeric(dtype) or _is_categorical(dtype)):
                raise InvalidInput(f"feature {name!r} has type {dtype}; use numbers or categories")
    if not chosen:
        raise InvalidInput("no usable feature columns; name them with --feature COL")
    dtypes = {name: analysis_dtype(columns[name]) for name in chosen}  # numbers kept as text
    return [_feature(name, dtypes[name], declared, bounds, keys) for name in chosen]


def _feature(
    name: str,
    dtype: str,
    declared: Mapping[str, dict[str, Any]],
    bounds: Mapping[str, tuple[float, float]],
    keys: Mapping[str, Sequence[Any]],
) -> Feature:
    known = declared.get(name) or {}
    if _is_numeric(dtype):
        if name in bounds:
            low, high = bounds[name]
            source = "given"
        elif known.get("bounds"):
            low, high = known["bounds"]
            source = "declared"
        else:
            return Feature(name=name, kind="numeric", source="dp")
        if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
            raise InvalidInput(f"the bounds of {name!r} must be finite with LO < HI")
        return Feature(name=name, kind="numeric", lower=low, upper=high, source=source)
    if name in keys:
        return Feature(name=name, kind="categorical", levels=list(keys[name]), source="given")
    if known.get("keys"):
        return Feature(name=name, kind="categorical", levels=list(known["keys"]), source="declared")
    return Feature(name=name, kind="categorical", source="dp")


# -- the entry point -----------------------------------------------------------------------------


def train(
    core: Core,
    ref: str,
    *,
    target: str,
    name: str,
    purpose: str,
    actor: str,
    epsilon: float | None = None,
    delta: float | None = None,
    model: str = "logreg",
    task: str | None = None,
    features: Sequence[str] | None = None,
    epochs: int = 10,
    batch_size: int = 256,
    clip: float = 1.0,
    learning_rate: float | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    keys: Mapping[str, Sequence[Any]] | None = None,
    test_fraction: float = 0.2,
    hidden_units: int = 64,
    train_rows: int | None = None,
    no_dp: bool = False,
    seed: int | None = None,
    progress: Progress | None = None,
) -> ModelInfo:
    """Train a model of ``target`` on ``ref`` with DP-SGD and store it as ``name``.

    ``epsilon`` is the whole release's ε at ``delta`` (default: the ledger's δ); without it
    the model uses the rest of the ledger. ``no_dp`` trains without privacy and is allowed
    only to the dataset's owner; such a model's card says so in its first line.
    ``train_rows`` trains on about that many rows (each row not held out is kept with a
    probability set from the catalog's row count; the rest are left unused). The card
    records which rows were trained on and which were held out, so that ``privet audit``
    can attack the model with true members and non-members. ``seed`` fixes the split, the
    sampling and the noise: NOT secure (anyone who knows it recomputes the noise), for tests.
    """
    step = progress or (lambda _s: None)
    check_name(name)
    check_purpose(purpose)
    if model not in ("logreg", "mlp"):
        raise InvalidInput(f"unknown model {model!r}: use logreg or mlp")
    if task not in (None, "classification", "regression"):
        raise InvalidInput(f"unknown task {task!r}: use classification or regression")
    if not 1 <= epochs <= 1000:
        raise InvalidInput("epochs must be between 1 and 1000")
    if batch_size < 1:
        raise InvalidInput("the batch size must be at least 1")
    if not (math.isfinite(clip) and clip > 0):
        raise InvalidInput("the clipping norm must be greater than 0")
    if not 0.0 < test_fraction <= 0.5:
        raise InvalidInput("the held-out fraction must be in (0, 0.5]")
    if not 1 <= hidden_units <= 4096:
        raise InvalidInput("the hidden layer must have between 1 and 4096 units")
    if train_rows is not None and train_rows < 1:
        raise InvalidInput("--train-rows must be at least 1")
    if no_dp and epsilon is not None:
        raise InvalidInput("--no-dp trains without privacy; it takes no --epsilon")
    led.check_epsilon(epsilon, allow_none=True)

    with core.reading() as session:
        if session.scalars(select(DpModel).where(DpModel.name == name)).first() is not None:
            raise AlreadyExists(f"a model named {name!r} already exists")
        dataset, version = resolve(session, ref)
        columns = {c.name: c for c in version.columns if not is_reserved(c.name)}
        if target not in columns:
            raise InvalidInput(f"unknown column {target[:80]!r}: the dataset has no such column")
        target_dtype = analysis_dtype(columns[target])
        if task is None:
            task = "regression" if _is_numeric(target_dtype) else "classification"
        if task == "regression" and not _is_numeric(target_dtype):
            raise InvalidInput(
                f"a regression target must be numeric; {target!r} is {target_dtype} "
                "(use --task classification)"
            )
        if task == "classification" and not (
            _is_categorical(target_dtype) or target_dtype.startswith(("Int", "UInt"))
        ):
            raise InvalidInput(
                f"a classification target must hold categories; {target!r} is {target_dtype}"
            )
        rows = version.row_count
        if rows < 10:
            raise InvalidInput(f"{dataset.name} has too few rows to train and hold some out")
        requested_delta = led.check_delta(delta, rows)
        root = led.root_of(session, dataset)
        ledger = led.ledger_row(session, root, core.now())
        existing = led.charges_of(session, root.id)
        declared = led.domains(session, dataset.id)
        if no_dp and actor != dataset.owner:
            # TODO(issue 3): allow any actor holding a grant for raw access.
            raise PolicyDenied(
                f"--no-dp trains without privacy, which only the owner of {dataset.name!r} "
                f"({dataset.owner}) may do"
            )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            subject = led.unit_for(dataset, version, ledger)
        fixed_ref = f"{dataset.name}@{version.number}"
        dataset_id, version_id = dataset.id, version.id
        ids = {"root_id": root.id, "dataset_id": dataset.id, "version_id": version.id}
    notes = [str(w.message) for w in caught]
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=2)
    plan = _plan_features(
        columns,
        target=target,
        features=features,
        subject=subject,
        declared=declared,
        bounds=dict(bounds or {}),
        keys=dict(keys or {}),
    )
    if task == "classification":
        # Classes are categories even when coded as integers.
        target_spec = _feature(target, "String", declared, {}, dict(keys or {}))
    else:
        target_spec = _feature(target, target_dtype, declared, dict(bounds or {}), {})
    n_train = max(1, int(rows * (1 - test_fraction)))
    if train_rows is not None:
        n_train = min(n_train, train_rows)
    rate = min(1.0, batch_size / n_train)
    steps = epochs * max(1, math.ceil(n_train / batch_size))
    lr = learning_rate or (0.1 if model == "logreg" else 0.01)

    budget = None
    if not no_dp:
        try:
            budget = _budget(
                plan,
                target_spec,
                epsilon=epsilon,
                delta=requested_delta or ledger.delta_limit,
                ledger=ledger,
                existing=existing,
                rate=rate,
                steps=steps,
            )
        except BudgetExhausted:
            led.log_refusal(core, **ids, kind="train", actor=actor, purpose=purpose)
            raise

    step("reading")
    read = policy.read(
        core, fixed_ref, purpose=purpose, actor=actor, view="aggregate", channel="dp:train"
    )
    read_rows = read.frame.height
    frame = read.frame.with_row_index(_ROW).select(
        [_ROW, *(f.name for f in plan), target, *([subject] if subject else [])]
    )
    frame = for_analysis(frame, columns.values())  # numbers kept as text become Float64
    if subject:
        # One row per subject: DP-SGD then protects each subject, not just each row.
        frame = frame.sample(fraction=1.0, shuffle=True, seed=seed).unique(
            subject, keep="first", maintain_order=True
        )

    charges: list[acc.Charge] = []
    step("preprocessing")
    learned = [
        _learn(f, frame, subject, budget, charges, rows) if f.source == "dp" else f for f in plan
    ]
    target_budget = budget and {**budget, "preprocessing_epsilon": budget["target_epsilon"]}
    learned.append(
        _learn(target_spec, frame, subject, target_budget, charges, rows)
        if target_spec.source == "dp"
        else target_spec
    )
    learned = [_from_data(f, frame) if no_dp and f.source == "dp" else f for f in learned]
    plan, target_spec = [f for f in learned[:-1] if f.width > 0], learned[-1]
    dropped = [f.name for f in learned[:-1] if f.width == 0]
    if dropped:
        notes.append(f"dropped features with no level above the threshold: {', '.join(dropped)}")
    problem = None
    if target_spec.kind == "categorical" and len(target_spec.levels or []) < 2:
        problem = (
            f"the target {target!r} has fewer than two classes above the discovery threshold; "
            f"declare them (--keys {target}=A,B)"
        )
    elif not plan:
        problem = "no feature has a level above the discovery threshold; declare --keys"
    if problem is not None:
        if charges:
            # The refusal depends on DP outputs already computed: they are charged.
            _charge_preprocessing(core, fixed_ref, charges, actor=actor, purpose=purpose)
        raise InvalidInput(problem + (" (the preprocessing spent was charged)" if charges else ""))

    from privet.dp import sgd as _sgd
    from privet.dp.randomness import SecureRandom

    random = SecureRandom(seed)
    if seed is not None and not no_dp:
        warnings.warn(
            "a seeded training run is reproducible, so its noise and sampling are predictable "
            "by whoever knows the seed: use --seed for tests only, never for a release",
            UserWarning,
            stacklevel=2,
        )
    # Rows without a label are left out (a per-row choice: the privacy analysis holds for
    # whatever rows remain). A row whose class fell below the discovery threshold cannot be
    # learned, but it is still held out like any other and scored as an error: leaving it
    # out of the held-out rows would report the accuracy of an easier problem.
    frame = frame.filter(pl.col(target).is_not_null())
    x = _encode(frame, plan)
    y, outputs = _target(frame, target_spec, task)
    train_rows_, test = _split(
        len(x), rows=rows, test_fraction=test_fraction, train_rows=train_rows, random=random
    )
    if task == "classification":
        train_rows_ = train_rows_[y[train_rows_] >= 0]
    split = _split_record(frame[_ROW], train_rows_, test, read_rows)
    module = _sgd.build_model(model, x.shape[1], outputs, hidden_units)
    schedule = _sgd.Schedule(epochs=epochs, batch_size=batch_size, learning_rate=lr)
    step("training")
    if no_dp:
        _sgd.train_plain(
            module,
            x[train_rows_],
            y[train_rows_],
            task=task,
            outputs=outputs,
            schedule=schedule,
            generator=_sgd.torch_generator(seed),
            progress=step,
        )
    else:
        assert budget is not None
        _sgd.train_dp(
            module,
            x[train_rows_],
            y[train_rows_],
            task=task,
            outputs=outputs,
            schedule=schedule,
            sample_rate=rate,
            steps=steps,
            noise_multiplier=budget["noise_multiplier"],
            clip=clip,
            random=random,
            progress=step,
        )
    step("evaluating")
    evaluation = _evaluate(
        module, x[test], y[test], task, target_spec, no_dp, budget, charges, public_rows=rows
    )
    model_id = uuid.uuid4().hex
    charge = None
    if not no_dp:
        assert budget is not None
        charges.append(acc.Charge(acc.dp_sgd(budget["noise_multiplier"], rate, steps)))
        charge = acc.Charge(acc.composed([c.event for c in charges]), sum(c.delta for c in charges))
    card = _card(
        name=name,
        model_id=model_id,
        kind=model,
        task=task,
        ref=fixed_ref,
        dataset_id=dataset_id,
        version_id=version_id,
        target=target_spec,
        features=plan,
        inputs=x.shape[1],
        outputs=outputs,
        schedule=schedule,
        hidden=hidden_units if model == "mlp" else None,
        split=split,
        clip=clip,
        rate=rate,
        steps=steps,
        budget=budget,
        charge=charge,
        evaluation=evaluation,
        unit=subject,
        purpose=purpose,
        actor=actor,
        now=core.now(),
        notes=notes,
    )
    if no_dp:
        warnings.warn(card["summary"], NoPrivacyWarning, stacklevel=2)
    step("storing")
    with core.store.writing():  # until the model's row commits: gc must not take its object
        info = _store(
            core,
            module,
            card,
            charge=charge,
            ref=fixed_ref,
            purpose=purpose,
            actor=actor,
            delta=budget["delta"] if budget else 0.0,
        )
    return _as_seen_by(core, info, actor=actor, purpose=purpose)


def _as_seen_by(core: Core, info: ModelInfo, *, actor: str, purpose: str) -> ModelInfo:
    """The trainer sees the full card only if they may read the rows it was made from."""
    identity = policy.local_identity(core, actor)
    with core.reading() as session:
        dataset = session.get(Dataset, info.card["dataset_id"])
        access = _row_access(session, dataset, identity, purpose, core.now()) if dataset else None
    if access is not None and access.allowed:
        return info
    return info.model_copy(update={"card": public_card(info.card)})


def _charge_preprocessing(
    core: Core, ref: str, charges: list[acc.Charge], *, actor: str, purpose: str
) -> None:
    with core.session() as session:
        dataset, version = resolve(session, ref)
        led.record_release(
            core,
            session,
            root=led.root_of(session, dataset),
            dataset=dataset,
            version=version,
            kind="preprocessing",
            charge=acc.Charge(
                acc.composed([c.event for c in charges]), sum(c.delta for c in charges)
            ),
            actor=actor,
            purpose=purpose,
        )
        session.commit()


# -- budget ---------------------------------------------------------------------------------------


def _budget(
    features: Sequence[Feature],
    target: Feature,
    *,
    epsilon: float | None,
    delta: float,
    ledger: Any,
    existing: Sequence[acc.Charge],
    rate: float,
    steps: int,
) -> dict[str, Any]:
    """Split ε between preprocessing, evaluation and DP-SGD; calibrate the noise."""
    if delta <= 0:
        raise InvalidInput("DP-SGD needs δ > 0 (e.g. --delta 1e-6)")
    to_learn = [f for f in features if f.source == "dp"]
    learn_target = target.source == "dp"
    categorical = [f for f in [*to_learn, target] if f.kind == "categorical" and f.source == "dp"]
    if epsilon is None:
        spent = acc.epsilon_spent(existing, ledger.delta_limit)
        total = ledger.epsilon_limit - spent
        if total <= 1e-3:
            raise led._refusal(ledger, spent, math.inf)
    else:
        total = epsilon
    shares = [PREPROCESSING_SHARE / len(to_learn)] * len(to_learn) if to_learn else []
    *learning, target_epsilon, evaluation, _ = acc.split(
        total, [*shares, TARGET_SHARE if learn_target else 0.0, EVALUATION_SHARE, 1.0]
    )
    pre = learning[0] if learning else 0.0
    # Key discovery takes a share of the δ the ledger has left (never more than half of the
    # δ the model's ε is stated at), split evenly between the columns it discovers.
    discovery = min(led.discovery_delta(ledger, existing), delta / 2)
    discovery_delta = acc.split(discovery, [1.0] * len(categorical))[0] if categorical else 0.0
    fixed = [
        acc.Charge(acc.pure(pre), discovery_delta if f.kind == "categorical" else 0.0)
        for f in to_learn
    ]
    if learn_target:
        target_delta = discovery_delta if target.kind == "categorical" else 0.0
        fixed.append(acc.Charge(acc.pure(target_epsilon), target_delta))
    fixed.append(acc.Charge(acc.pure(evaluation)))

    def make(sigma: float) -> list[acc.Charge]:
        return [*fixed, acc.Charge(acc.dp_sgd(sigma, rate, steps))]

    try:
        if epsilon is None:
            sigma = acc.calibrate(
                lambda s: [*existing, *make(s)], ledger.epsilon_limit, ledger.delta_limit
            )
        else:
            sigma = acc.calibrate(make, epsilon, delta)
    except ValueError:
        raise InvalidInput(
            f"ε = {total:.3g} is too small for this training (try a larger ε or fewer epochs)"
        ) from None
    led.check_fits(existing, make(sigma), ledger)
    return {
        "epsilon": total,
        "delta": delta,
        "noise_multiplier": sigma,
        "preprocessing_epsilon": pre,
        "target_epsilon": target_epsilon,
        "discovery_delta": discovery_delta,
        "evaluation_epsilon": evaluation,
    }


# -- preprocessing --------------------------------------------------------------------------------


def _learn(
    feature: Feature,
    frame: pl.DataFrame,
    subject: str | None,
    budget: dict[str, Any] | None,
    charges: list[acc.Charge],
    rows: int,
) -> Feature:
    """Learn levels or bounds of one column with OpenDP, spending the preprocessing share."""
    if budget is None:
        return feature
    from privet.dp import _opendp

    dp = _opendp.dp
    column = feature.name
    data = frame.select([column, *([subject] if subject else [])])
    if feature.kind == "categorical":
        prepared = _opendp.prepare(
            data,
            lambda source: source.group_by(column).agg(dp.len(signed=True)),
            subject=subject,
            max_rows=1,
            epsilon=budget["preprocessing_epsilon"],
            delta=budget["discovery_delta"],
            public_rows=rows,
            discover_keys=True,
        )
        found = _opendp.release(prepared, data)
        levels = sorted(v for v in found[column].to_list() if v is not None)
        charges.append(acc.Charge(acc.pure(prepared.epsilon), prepared.delta))
        return Feature(name=column, kind="categorical", levels=levels, source="dp")
    # A histogram over log-spaced bins (one count per subject: sensitivity 1), then the
    # bins where its cumulative share crosses 2% and 98%. Counts below what noise alone
    # could reach are ignored first, so empty bins do not pull the bounds outward.
    labels = [str(i) for i in range(len(_GRID) + 1)]
    keys = pl.DataFrame({"bin": pl.Series(labels).cast(pl.Categorical)})

    def histogram(source: pl.LazyFrame) -> pl.LazyFrame:
        binned = pl.col(column).cast(pl.Float64).cut(_GRID, labels=labels).alias("bin")
        counts = source.group_by(binned).agg(dp.len(signed=True).alias("n"))
        return keys.lazy().join(counts, how="left", on=["bin"], nulls_equal=True)

    prepared = _opendp.prepare(
        data,
        histogram,
        subject=subject,
        max_rows=1,
        epsilon=budget["preprocessing_epsilon"],
        delta=0.0,
        public_rows=rows,
        discover_keys=False,
    )
    found = _opendp.release(prepared, data)
    charges.append(acc.Charge(acc.pure(prepared.epsilon)))
    noisy = dict(zip(found["bin"].cast(pl.String).to_list(), found["n"].to_list(), strict=True))
    floor = math.log(len(labels) / 0.05) / prepared.epsilon
    counts = [max(0.0, float(noisy.get(label) or 0)) for label in labels]
    counts = [c if c > floor else 0.0 for c in counts]
    low, high = _histogram_bounds(counts)
    return Feature(name=column, kind="numeric", lower=low, upper=high, source="dp")


def _histogram_bounds(counts: list[float]) -> tuple[float, float]:
    """The edges of the bins holding the 2% and 98% points (bin i is (edge i-1, edge i])."""
    total = sum(counts)
    if total <= 0:
        return 0.0, 1.0
    edges = [_GRID[0], *_GRID, _GRID[-1]]
    cumulative, low_bin, high_bin = 0.0, None, len(counts) - 1
    for i, count in enumerate(counts):
        cumulative += count
        if low_bin is None and cumulative >= 0.02 * total:
            low_bin = i
        if cumulative >= 0.98 * total:
            high_bin = i
            break
    low, high = edges[low_bin or 0], edges[high_bin + 1]
    return (low, high) if high > low else (low, low + 1.0)


def _from_data(feature: Feature, frame: pl.DataFrame) -> Feature:
    """Exact levels or range, for a model that makes no privacy claim anyway."""
    series = frame[feature.name]
    if feature.kind == "categorical":
        levels = sorted(v for v in series.unique().to_list() if v is not None)
        return Feature(name=feature.name, kind="categorical", levels=levels, source="data")
    low, high = series.min(), series.max()
    low = 0.0 if low is None else float(low)
    high = low + 1.0 if high is None or float(high) <= low else float(high)
    return Feature(name=feature.name, kind="numeric", lower=low, upper=high, source="data")


def _encode(frame: pl.DataFrame, features: Sequence[Feature]) -> torch.Tensor:
    """Numbers clipped to their bounds and scaled to [0, 1]; categories one-hot (unknown: 0)."""
    import torch

    expressions = []
    for f in features:
        if f.name not in frame.columns:
            raise InvalidInput(f"the frame has no column named {f.name[:80]!r}")
        column = pl.col(f.name)
        if f.kind == "numeric":
            assert f.lower is not None and f.upper is not None
            scaled = (column.cast(pl.Float64).clip(f.lower, f.upper) - f.lower) / (
                f.upper - f.lower
            )
            expressions.append(scaled.fill_nan(0.0).fill_null(0.0).alias(f"{f.name}"))
        else:
            for i, level in enumerate(f.levels or []):
                expressions.append(
                    (column.cast(pl.String) == str(level)).fill_null(False).alias(f"{f.name}#{i}")
                )
    matrix = frame.select(expressions).cast(pl.Float32).to_numpy()
    return torch.from_numpy(matrix.copy())


def _target(frame: pl.DataFrame, spec: Feature, task: str) -> tuple[torch.Tensor, int]:
    import torch

    column = frame[spec.name]
    if task == "regression":
        assert spec.lower is not None and spec.upper is not None
        scaled = (
            (
                (column.cast(pl.Float64).clip(spec.lower, spec.upper) - spec.lower)
                / (spec.upper - spec.lower)
            )
            .fill_null(0.5)
            .fill_nan(0.5)
        )
        return torch.tensor(scaled.to_list(), dtype=torch.float32), 1
    levels = [str(v) for v in spec.levels or []]
    lookup = {level: i for i, level in enumerate(levels)}
    # -1: a class the model does not know (below the discovery threshold); never predicted.
    codes = [lookup.get(str(v), -1) for v in column.to_list()]
    if len(levels) == 2:
        return torch.tensor(codes, dtype=torch.float32), 1
    return torch.tensor(codes, dtype=torch.int64), len(levels)


# -- evaluation -----------------------------------------------------------------------------------


def _evaluate(
    module: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    task: str,
    target: Feature,
    exact: bool,
    budget: dict[str, Any] | None,
    charges: list[acc.Charge],
    *,
    public_rows: int,
) -> dict[str, Any]:
    import torch

    with torch.no_grad():
        out = module(x)
    if task == "regression":
        assert target.lower is not None and target.upper is not None
        span = target.upper - target.lower
        score = ((out.squeeze(1) - y).abs() * span).clamp(max=span)
        metric, low, high = "mae", 0.0, span
    else:
        predicted = (out.squeeze(1) > 0).float() if out.shape[1] == 1 else out.argmax(1)
        score = (predicted == y).float()
        metric, low, high = "accuracy", 0.0, 1.0
    result: dict[str, Any] = {"split": "held-out", "test_rows": len(x), "metric": metric}
    if exact or budget is None:
        result.update({metric: float(score.mean()) if len(x) else None, "private": False})
        return result
    from privet.dp import _opendp
    from privet.dp._query import _mean_interval

    dp = _opendp.dp
    frame = pl.DataFrame({"score": score.double().numpy()})
    prepared = _opendp.prepare(
        frame,
        lambda source: source.select(
            pl.col("score").dp.sum((low, high)).alias("total"),
            dp.len(signed=True).alias("count"),
        ),
        subject=None,
        max_rows=1,
        epsilon=budget["evaluation_epsilon"],
        delta=0.0,
        public_rows=public_rows,
        discover_keys=False,
    )
    released = _opendp.release(prepared, frame).row(0, named=True)
    half = _opendp.summary(prepared, 0.025)["accuracy"].to_list()
    value, lo, hi = _mean_interval(
        released["total"], released["count"], half[0], half[1], low, high
    )
    charges.append(acc.Charge(acc.pure(prepared.epsilon)))
    result.update(
        {
            metric: value,
            f"{metric}_interval_95": [lo, hi],
            # The noisy count behind the mean: part of this release, so the card may show
            # it to anyone (the exact ``test_rows`` is for those allowed the rows).
            "test_rows_dp": int(released["count"]),
            "private": True,
            "epsilon": prepared.epsilon,
        }
    )
    return result


# -- the card and storage -------------------------------------------------------------------------


def _card(
    *,
    name: str,
    model_id: str,
    kind: str,
    task: str,
    ref: str,
    dataset_id: str,
    version_id: str,
    target: Feature,
    features: Sequence[Feature],
    inputs: int,
    outputs: int,
    schedule: Any,
    hidden: int | None,
    split: dict[str, Any],
    clip: float,
    rate: float,
    steps: int,
    budget: dict[str, Any] | None,
    charge: acc.Charge | None,
    evaluation: dict[str, Any],
    unit: str | None,
    purpose: str,
    actor: str,
    now: datetime,
    notes: list[str],
) -> dict[str, Any]:
    if budget is None:
        summary = (
            "No privacy guarantee: this model was trained without differential privacy "
            "(--no-dp) and may reveal the records it was trained on; keep it among people "
            "allowed raw access to the data."
        )
        privacy: dict[str, Any] = {"differentially_private": False}
    else:
        assert charge is not None
        spent = acc.epsilon_spent([charge], budget["delta"])
        summary = (
            f"Differentially private: ({spent:.3g}, {budget['delta']:.2g})-DP for each "
            f"{'subject (' + unit + ')' if unit else 'row'} of {ref}, trained with DP-SGD "
            "(Opacus); preprocessing and the reported score are included in that budget."
        )
        privacy = {
            "differentially_private": True,
            "epsilon": spent,
            "delta": budget["delta"],
            "epsilon_rdp": acc.epsilon_spent_rdp([charge], budget["delta"]),
            "accountant": "PLD (dp-accounting)",
            "unit": f"subject ({unit})" if unit else "row",
            "noise_multiplier": budget["noise_multiplier"],
            "clipping_norm": clip,
            "sample_rate": rate,
            "sampling": "Poisson",
            "steps": steps,
            "preprocessing_epsilon": budget["preprocessing_epsilon"],
            "target_epsilon": budget["target_epsilon"],
            "evaluation_epsilon": budget["evaluation_epsilon"],
        }
    card = {
        "summary": summary,
        "format": CARD_FORMAT,
        "model": name,
        "id": model_id,
        "architecture": kind,
        "task": task,
        "dataset": ref,
        "dataset_id": dataset_id,
        "version_id": version_id,
        "target": target.name,
        "features": [f.model_dump() for f in features],
        "inputs": inputs,
        "outputs": outputs,
        "training": {
            "epochs": schedule.epochs,
            "batch_size": schedule.batch_size,
            "learning_rate": schedule.learning_rate,
            "optimizer": "Adam",
            **({"hidden_units": hidden} if hidden is not None else {}),
        },
        "split": split,
        "privacy": privacy,
        "evaluation": evaluation,
        "purpose": purpose,
        "created_by": actor,
        "created_at": now.isoformat(),
        "notes": notes,
    }
    card["target_source"] = target.source
    if task == "classification":
        card["classes"] = list(target.levels or [])
    else:
        card["target_bounds"] = [target.lower, target.upper]
    return card


def _split(
    n: int, *, rows: int, test_fraction: float, train_rows: int | None, random: SecureRandom
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training and held-out positions among ``n`` rows, by an independent coin per row.

    A row is held out with probability ``test_fraction``; otherwise it is trained on with
    probability min(1, train_rows / (rows · (1 − test_fraction))), where ``rows`` is the
    catalog's row count (public), never a count of the data; otherwise it is unused.
    Adding or removing one person then changes only that person's row: exactly the
    add/remove neighbours the accountant composes. A fixed-size split (shuffle, cut at a
    count, keep the first k) lets one person's arrival displace another's row, a
    replacement the add/remove analysis does not cover.
    """
    import numpy as np
    import torch

    held = random.uniform(n) < test_fraction
    trained = ~held
    if train_rows is not None:
        keep = min(1.0, train_rows / max(rows * (1 - test_fraction), 1.0))
        trained &= random.uniform(n) < keep
    return torch.from_numpy(np.flatnonzero(trained)), torch.from_numpy(np.flatnonzero(held))


def _split_record(
    positions: pl.Series, train: torch.Tensor, test: torch.Tensor, rows: int
) -> dict[str, Any]:
    """Which rows of the version (by position in the broker's read) were trained on / held out.

    Stored as packed bitmaps (row positions, never values) with a digest, so an audit can
    rebuild the exact members and non-members of the model.
    """
    rows_of = positions.to_numpy()
    return {
        "rows": rows,
        "train": pack_rows(rows_of[train.numpy()], rows),
        "test": pack_rows(rows_of[test.numpy()], rows),
        "train_count": len(train),
        "test_count": len(test),
    }


def pack_rows(positions: Any, rows: int) -> str:
    import base64
    import zlib

    import numpy as np

    bits = np.zeros(rows, dtype=bool)
    bits[np.asarray(positions, dtype=np.int64)] = True
    return base64.b64encode(zlib.compress(np.packbits(bits).tobytes(), 9)).decode()


def unpack_rows(packed: str, rows: int) -> Any:
    """The row positions of a bitmap made by ``pack_rows`` (a sorted int64 array)."""
    import base64
    import zlib

    import numpy as np

    raw = np.frombuffer(zlib.decompress(base64.b64decode(packed)), dtype=np.uint8)
    return np.flatnonzero(np.unpackbits(raw)[:rows]).astype(np.int64)


def _object_key(dataset_id: str, model_id: str) -> str:
    return f"models/{dataset_id}/{model_id}.pt.tink"


def _context(model_id: str) -> str:
    # The vault binds a stored object to (dataset, "version") ids as associated data; a
    # model uses its own id there, so a model object can never pass for a version or
    # another model.
    return f"model:{model_id}"


def _store(
    core: Core,
    module: torch.nn.Module,
    card: dict[str, Any],
    *,
    charge: acc.Charge | None,
    ref: str,
    purpose: str,
    actor: str,
    delta: float,
) -> ModelInfo:
    import torch

    from privet.vault import primary_key_id

    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    weights = buffer.getvalue()
    digest = hashlib.sha256(weights).hexdigest()
    model_id, dataset_id = card["id"], card["dataset_id"]
    with core.reading() as session:
        handle = core.vault.dataset_keyset(session, dataset_id)
    key = _object_key(dataset_id, model_id)
    stored = core.store.put(
        key, core.vault.encrypt_version(handle, dataset_id, _context(model_id), weights)
    )
    try:
        with core.session() as session:
            dataset, version = resolve(session, ref)
            now = core.now()
            if charge is not None:
                root = led.root_of(session, dataset)
                _, index, _ = led.record_release(
                    core,
                    session,
                    root=root,
                    dataset=dataset,
                    version=version,
                    kind="train",
                    charge=charge,
                    actor=actor,
                    purpose=purpose,
                    model_id=model_id,
                    requested_delta=delta,
                    facts={"model_name": card["model"], "private": True},
                )
            else:
                (index,) = auditlog.append(
                    session,
                    [
                        {
                            "event": "model.train",
                            "ts": now.isoformat(),
                            "actor": actor,
                            "purpose": purpose,
                            "dataset": dataset.id,
                            "version": version.id,
                            "model": model_id,
                            "private": False,
                        }
                    ],
                )
            if session.scalars(select(DpModel).where(DpModel.name == card["model"])).first():
                raise AlreadyExists(f"a model named {card['model']!r} already exists")
            row = DpModel(
                id=model_id,
                name=card["model"],
                dataset_id=dataset_id,
                version_id=version.id,
                object_key=key,
                key_id=primary_key_id(handle),
                stored_bytes=stored,
                weights_sha256=digest,
                private=charge is not None,
                card=card,
                created_at=now,
                created_by=actor,
            )
            session.add(row)
            lineage.record(
                session,
                lineage.version_ref(version.id),
                f"model:{model_id}",
                "train",
                {
                    "private": charge is not None,
                    "architecture": card["architecture"],
                    "epsilon": card["privacy"].get("epsilon"),
                },
                index,
                now,
            )
            session.commit()
            return _info(row, ref, full=True)
    except BaseException:
        core.store.delete(key)
        raise


# -- reading cards ---------------------------------------------------------------------------------
#
# A card is governed like the rows it was made from. Its split bitmaps say which rows were
# trained on and held out (and so which had a usable label), and exact counts let two cards
# be differenced down to one person (Dinur & Nissim 2003): readers who may not read the raw
# rows get the card without them; its DP figures (ε, the score's interval) stay public.


def public_card(card: dict[str, Any]) -> dict[str, Any]:
    """``card`` without what was computed exactly from the rows; ``withheld`` names it."""
    out = copy.deepcopy(card)
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
    exact_target = out.get("target_source", "data") == "data"
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
    out["withheld"] = withheld
    return out


def _info(row: DpModel, ref: str, *, full: bool = False) -> ModelInfo:
    return ModelInfo(
        name=row.name,
        id=row.id,
        dataset=ref,
        private=row.private,
        card=dict(row.card) if full else public_card(row.card),
        stored_bytes=row.stored_bytes,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _find(session: Any, name: str) -> DpModel:
    row = session.scalars(select(DpModel).where(DpModel.name == name)).first()
    if row is None:
        raise NotFound(f"no model named {name[:80]!r} in this workspace (see: privet train)")
    return row


def _row_access(
    session: Any, dataset: Dataset, identity: Any, purpose: str | None, now: datetime
) -> policy.Decision:
    """May ``identity`` read the raw rows of ``dataset``: its owner, or an active grant of
    the raw view for ``purpose`` (an ungoverned workspace or internal purpose is no grant)."""
    if identity is not None and identity.name == dataset.owner:
        return policy.Decision(True, "owner", basis="owner")
    if identity is None or purpose is None:
        return policy.Decision(False, "no_purpose")
    decision = policy.decide(session, identity, dataset.name, "raw", purpose, now)
    if decision.basis != "grant":
        return policy.Decision(False, decision.reason if not decision.allowed else "no_grant")
    return decision


def _reader(core: Core, actor: str | None, identity: Any) -> Any:
    if identity is not None:
        return identity
    return policy.local_identity(core, actor) if actor else None


def list_models(core: Core) -> list[ModelInfo]:
    """Every model with its public card (``model_info`` gives the full one to who may)."""
    with core.reading() as session:
        rows = list(session.scalars(select(DpModel).order_by(DpModel.name)))
        return [_info(r, r.card.get("dataset", "")) for r in rows]


def model_info(
    core: Core,
    name: str,
    *,
    actor: str | None = None,
    identity: Any = None,
    purpose: str | None = None,
) -> ModelInfo:
    """A model and its card: the full card for the dataset's owner, or for a reader whose
    active grant of the raw rows covers ``purpose`` (that read is logged); the public card
    for anyone else. Naming a ``purpose`` that gives no such access is refused."""
    reader = _reader(core, actor, identity)
    with core.reading() as session:
        row = _find(session, name)
        dataset = session.get(Dataset, row.dataset_id)
        if dataset is None:
            raise NotFound("the dataset of this model is missing from the catalog")
        access = _row_access(session, dataset, reader, purpose, core.now())
        info = _info(row, row.card.get("dataset", ""), full=access.allowed)
        dataset_name = dataset.name
    if not access.allowed:
        if purpose is not None:
            raise PolicyDenied(
                f"no active grant lets you read the raw rows of {dataset_name!r} for "
                f"{purpose!r}, so the full card of {name!r} is not yours to see; without "
                "--purpose you get its public card"
            )
        return info
    with core.session() as session:
        auditlog.append(
            session,
            [
                {
                    "event": "model.card",
                    "ts": core.now().isoformat(),
                    "actor": reader.name,
                    "model": info.id,
                    "basis": access.basis,
                    **({"grant": access.grant_id} if access.grant_id else {}),
                    **({"purpose": purpose} if purpose else {}),
                }
            ],
        )
        session.commit()
    return info


def load_model(core: Core, name: str, *, actor: str, purpose: str | None = None) -> TrainedModel:
    """Decrypt a model's weights (logged). A model without DP carries its training rows, so it
    is for its dataset's owner, or for an actor whose active grant lets them read those rows
    raw for ``purpose``; the same decides whether its card comes full or public."""
    import torch

    from privet.dp import sgd as _sgd

    identity = policy.local_identity(core, actor)
    with core.session() as session:
        row = _find(session, name)
        dataset = session.get(Dataset, row.dataset_id)
        if dataset is None:
            raise NotFound("the dataset of this model is missing from the catalog")
        access = _row_access(session, dataset, identity, purpose, core.now())
        if not row.private and not access.allowed:
            raise PolicyDenied(
                f"model {name!r} has no privacy guarantee; only the owner of "
                f"{dataset.name!r}, or someone granted its raw rows, may load it"
            )
        handle = core.vault.dataset_keyset(session, row.dataset_id)
        with core.store.open(row.object_key) as source:
            weights = core.vault.decrypt_version(handle, row.dataset_id, _context(row.id), source)
        if hashlib.sha256(weights).hexdigest() != row.weights_sha256:
            raise IntegrityError("a stored model does not match its recorded hash")
        auditlog.append(
            session,
            [
                {
                    "event": "model.read",
                    "ts": core.now().isoformat(),
                    "actor": actor,
                    "model": row.id,
                    "private": row.private,
                    "card": "full" if access.allowed else "public",
                }
            ],
        )
        session.commit()
        card = dict(row.card) if access.allowed else public_card(row.card)
    if card.get("format") != CARD_FORMAT:
        raise IntegrityError("a stored model card has an unknown format")
    module = _sgd.build_model(
        card["architecture"],
        card["inputs"],
        card["outputs"],
        card["training"].get("hidden_units", _sgd.HIDDEN_UNITS),
    )
    module.load_state_dict(torch.load(io.BytesIO(weights), weights_only=True))
    module.eval()
    return TrainedModel(card, module)
