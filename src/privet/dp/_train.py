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

import math
import uuid
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from privet import policy
from privet.catalog import analysis_dtype, for_analysis, is_reserved, resolve
from privet.dp import _accounting as acc
from privet.dp import _features as feat
from privet.dp import _ledger as led
from privet.dp import _model_store as models
from privet.dp._card import Evaluation, ModelCard, Training, make_card
from privet.dp._features import Feature
from privet.dp._model_store import Fitted, ModelInfo
from privet.dp._requests import TrainRequest
from privet.dp._rows import split_record, split_rows
from privet.errors import AlreadyExists, BudgetExhausted, InvalidInput, PolicyDenied

if TYPE_CHECKING:
    import torch

    from privet.core import Core

# Shares of ε for what is not DP-SGD itself (the rest is calibrated into the noise).
PREPROCESSING_SHARE = 0.10
EVALUATION_SHARE = 0.05
# A classification target's classes get a share of their own: without two classes there is
# no model, and a share divided among every feature left classes held by a quarter of 5,000
# rows below the discovery threshold at ε = 1.
TARGET_SHARE = 0.05
Progress = Callable[[str], None]
_ROW = "__privet_row__"


class NoPrivacyWarning(UserWarning):
    """A model trained with ``no_dp=True``: it carries no privacy guarantee."""


# -- the entry point -----------------------------------------------------------------------------


def train(
    core: Core,
    ref: str,
    request: TrainRequest,
    *,
    actor: str,
    progress: Progress | None = None,
    notes: Sequence[str] = (),
) -> ModelInfo:
    """Train a model of ``request.target`` on ``ref`` and store it (see :func:`fit`);
    ``notes`` (e.g. the proxy check's) go on its card."""
    step = progress or (lambda _s: None)
    fitted = fit(core, ref, request, actor=actor, progress=step, notes=notes)
    step("storing")
    info = models.store(
        core,
        fitted.weights,
        fitted.card,
        charge=fitted.charge,
        ref=fitted.card.dataset,
        purpose=request.purpose,
        actor=actor,
        delta=fitted.delta,
    )
    return models.as_seen_by(core, info, actor=actor, purpose=request.purpose)


def training_features(core: Core, ref: str, request: TrainRequest) -> list[str]:
    """The feature columns ``train`` would use for ``request`` (no data is read)."""
    if request.features is not None:
        return list(dict.fromkeys(request.features))
    with core.reading() as session:
        dataset, version = resolve(session, ref)
        columns = {c.name: c for c in version.columns if not is_reserved(c.name)}
        subject = dataset.subject_id_column
    return feat.default_features(columns, target=request.target, subject=subject)


def fit(
    core: Core,
    ref: str,
    request: TrainRequest,
    *,
    actor: str,
    progress: Progress | None = None,
    model_id: str | None = None,
    sisa_seed: int | None = None,
    notes: Sequence[str] = (),
) -> Fitted:
    """Train a model of ``request.target`` on ``ref`` with DP-SGD and store it.

    ``epsilon`` is the whole release's ε at ``delta`` (default: the ledger's δ); without it
    the model uses the rest of the ledger. ``no_dp`` trains without privacy and is allowed
    only to the dataset's owner; such a model's card says so in its first line.
    ``train_rows`` trains on about that many rows (each row not held out is kept with a
    probability set from the catalog's row count; the rest are left unused). The card
    records which rows were trained on and which were held out, so that an audit can
    attack the model with true members and non-members. ``seed`` fixes the split, the
    sampling and the noise: NOT secure (anyone who knows it recomputes the noise), for tests.
    ``unlearnable`` trains a SISA ensemble instead (see :mod:`privet.dp._sisa_fit`).

    Nothing is stored: :func:`train` stores a new model; ``model_id`` (an existing model's,
    when retraining it) skips the check that the name is free. ``sisa_seed`` replaces a
    missing ``seed`` of an unlearnable model (a retrain keeps its first run's).
    """
    r = request
    name, purpose, target, task, no_dp, seed = r.name, r.purpose, r.target, r.task, r.no_dp, r.seed
    step = progress or (lambda _s: None)
    with core.reading() as session:
        if model_id is None and models.name_taken(session, name):
            raise AlreadyExists(f"a model named {name!r} already exists", parameter="name")
        dataset, version = resolve(session, ref)
        columns = {c.name: c for c in version.columns if not is_reserved(c.name)}
        if target not in columns:
            raise InvalidInput(
                f"unknown column {target[:80]!r}: the dataset has no such column",
                parameter="target",
            )
        target_dtype = analysis_dtype(columns[target])
        if task is None:
            task = "regression" if feat.is_numeric(target_dtype) else "classification"
        if task == "regression" and not feat.is_numeric(target_dtype):
            raise InvalidInput(
                f"a regression target must be numeric; {target!r} is {target_dtype} "
                "(use the classification task)",
                parameter="task",
            )
        if task == "classification" and not (
            feat.is_categorical(target_dtype) or target_dtype.startswith(("Int", "UInt"))
        ):
            raise InvalidInput(
                f"a classification target must hold categories; {target!r} is {target_dtype}",
                parameter="target",
            )
        rows = version.row_count
        if rows < 10:
            raise InvalidInput(f"{dataset.name} has too few rows to train and hold some out")
        requested_delta = led.check_delta(r.delta, rows)
        root = led.root_of(session, dataset)
        ledger = led.ledger_row(session, root, core.now())
        existing = led.charges_of(session, root.id)
        declared = led.domains(session, dataset.id)
        if no_dp and actor != dataset.owner:
            # TODO(issue 3): allow any actor holding a grant for raw access.
            raise PolicyDenied(
                f"no_dp trains without privacy, which only the owner of {dataset.name!r} "
                f"({dataset.owner}) may do",
                parameter="no_dp",
            )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            subject = led.unit_for(dataset, version, ledger)
        fixed_ref = f"{dataset.name}@{version.number}"
        dataset_id, version_id = dataset.id, version.id
        ids = {"root_id": root.id, "dataset_id": dataset.id, "version_id": version.id}
        ledger_name = root.name
    if r.unlearnable and subject is None:
        raise InvalidInput(
            f"an unlearnable model finds each person's rows by their subject id, and "
            f"{fixed_ref.rsplit('@', 1)[0]!r} has none (declare one at ingest)",
            parameter="unlearnable",
        )
    notes = [*notes, *(str(w.message) for w in caught)]
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=2)
    bounds, keys = dict(r.bounds or {}), dict(r.keys or {})
    plan = feat.plan_features(
        columns,
        target=target,
        features=r.features,
        subject=subject,
        declared=declared,
        bounds=bounds,
        keys=keys,
    )
    if task == "classification":
        # Classes are categories even when coded as integers.
        target_spec = feat.feature_spec(target, "String", declared, {}, keys)
    else:
        target_spec = feat.feature_spec(target, target_dtype, declared, bounds, {})
    n_train = max(1, int(rows * (1 - r.test_fraction)))
    if r.train_rows is not None:
        n_train = min(n_train, r.train_rows)
    rate = min(1.0, r.batch_size / n_train)
    steps = r.epochs * max(1, math.ceil(n_train / r.batch_size))
    lr = r.learning_rate or (0.1 if r.model == "logreg" else 0.01)

    budget = None
    if not no_dp:
        try:
            budget = _budget(
                plan,
                target_spec,
                epsilon=r.epsilon,
                delta=requested_delta or ledger.delta_limit,
                ledger=ledger,
                ledger_name=ledger_name,
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
    if r.unlearnable:
        from privet.dp import _sisa_fit

        assert subject is not None
        return _sisa_fit.fit(
            core,
            r,
            frame,
            subject=subject,
            plan=plan,
            target_spec=target_spec,
            task=task,
            rows=rows,
            read_rows=read_rows,
            ref=fixed_ref,
            dataset_id=dataset_id,
            version_id=version_id,
            actor=actor,
            model_id=model_id or uuid.uuid4().hex,
            seed=r.seed if r.seed is not None else sisa_seed,
            notes=notes,
            progress=step,
        )
    if subject:
        # One row per subject: DP-SGD then protects each subject, not just each row.
        frame = frame.sample(fraction=1.0, shuffle=True, seed=seed).unique(
            subject, keep="first", maintain_order=True
        )

    charges: list[acc.Charge] = []
    step("preprocessing")
    learned = [
        feat.learn(f, frame, subject, budget, charges, rows) if f.source == "dp" else f
        for f in plan
    ]
    target_budget = budget and {**budget, "preprocessing_epsilon": budget["target_epsilon"]}
    learned.append(
        feat.learn(target_spec, frame, subject, target_budget, charges, rows)
        if target_spec.source == "dp"
        else target_spec
    )
    learned = [feat.from_data(f, frame) if no_dp and f.source == "dp" else f for f in learned]
    plan, target_spec = [f for f in learned[:-1] if f.width > 0], learned[-1]
    dropped = [f.name for f in learned[:-1] if f.width == 0]
    if dropped:
        notes.append(f"dropped features with no level above the threshold: {', '.join(dropped)}")
    problem = None
    if target_spec.kind == "categorical" and len(target_spec.levels or []) < 2:
        problem = (
            f"the target {target!r} has fewer than two classes above the discovery threshold; "
            "give them in keys (or have the owner declare them)"
        )
    elif not plan:
        problem = "no feature has a level above the discovery threshold; give the levels in keys"
    if problem is not None:
        if charges:
            # The refusal depends on DP outputs already computed: they are charged.
            total = acc.Charge(
                acc.composed([c.event for c in charges]), sum(c.delta for c in charges)
            )
            led.record(core, fixed_ref, total, kind="preprocessing", actor=actor, purpose=purpose)
        raise InvalidInput(
            problem + (" (the preprocessing spent was charged)" if charges else ""),
            parameter="keys",
        )

    from privet.dp import sgd as _sgd
    from privet.dp.randomness import SecureRandom

    random = SecureRandom(seed)
    if seed is not None and not no_dp:
        warnings.warn(
            "a seeded training run is reproducible, so its noise and sampling are predictable "
            "by whoever knows the seed: use a seed for tests only, never for a release",
            UserWarning,
            stacklevel=2,
        )
    # Rows without a label are left out (a per-row choice: the privacy analysis holds for
    # whatever rows remain). A row whose class fell below the discovery threshold cannot be
    # learned, but it is still held out like any other and scored as an error: leaving it
    # out of the held-out rows would report the accuracy of an easier problem.
    frame = frame.filter(pl.col(target).is_not_null())
    x = feat.encode(frame, plan)
    y, outputs = feat.target_tensor(frame, target_spec, task)
    train_rows_, test = split_rows(
        len(x), rows=rows, test_fraction=r.test_fraction, train_rows=r.train_rows, random=random
    )
    if task == "classification":
        train_rows_ = train_rows_[y[train_rows_] >= 0]
    split = split_record(frame[_ROW], train_rows_, test, read_rows)
    module = _sgd.build_model(r.model, x.shape[1], outputs, r.hidden_units)
    schedule = _sgd.Schedule(epochs=r.epochs, batch_size=r.batch_size, learning_rate=lr)
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
            clip=r.clip,
            random=random,
            progress=step,
        )
    step("evaluating")
    evaluation = _evaluate(
        module, x[test], y[test], task, target_spec, no_dp, budget, charges, public_rows=rows
    )
    model_id = model_id or uuid.uuid4().hex
    charge = None
    if not no_dp:
        assert budget is not None
        charges.append(acc.Charge(acc.dp_sgd(budget["noise_multiplier"], rate, steps)))
        charge = acc.Charge(acc.composed([c.event for c in charges]), sum(c.delta for c in charges))
    card = make_card(
        name=name,
        model_id=model_id,
        kind=r.model,
        task=task,
        ref=fixed_ref,
        dataset_id=dataset_id,
        version_id=version_id,
        target=target_spec,
        features=plan,
        inputs=x.shape[1],
        outputs=outputs,
        training=Training(
            epochs=schedule.epochs,
            batch_size=schedule.batch_size,
            learning_rate=schedule.learning_rate,
            optimizer="Adam",
            **({"hidden_units": r.hidden_units} if r.model == "mlp" else {}),
        ),
        split=split,
        clip=r.clip,
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
    recorded = r.model_dump(mode="json", exclude={"shards", "slices"})  # SISA's only
    card = ModelCard.load({**card.stored(), "request": recorded})
    if no_dp:
        warnings.warn(card.summary, NoPrivacyWarning, stacklevel=3)
    return Fitted(
        weights=models.weights_of(module),
        card=card,
        charge=charge,
        delta=budget["delta"] if budget else 0.0,
    )


# -- budget ---------------------------------------------------------------------------------------


def _budget(
    features: Sequence[Feature],
    target: Feature,
    *,
    epsilon: float | None,
    delta: float,
    ledger: Any,
    ledger_name: str,
    existing: Sequence[acc.Charge],
    rate: float,
    steps: int,
) -> dict[str, Any]:
    """Split ε between preprocessing, evaluation and DP-SGD; calibrate the noise."""
    if delta <= 0:
        raise InvalidInput("DP-SGD needs delta > 0 (e.g. 1e-6)", parameter="delta")
    to_learn = [f for f in features if f.source == "dp"]
    learn_target = target.source == "dp"
    categorical = [f for f in [*to_learn, target] if f.kind == "categorical" and f.source == "dp"]
    if epsilon is None:
        spent = acc.epsilon_spent(existing, ledger.delta_limit)
        total = ledger.epsilon_limit - spent
        if total <= 1e-3:
            raise led.refusal(ledger, spent, math.inf, ledger_name)
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
            f"ε = {total:.3g} is too small for this training (try a larger epsilon or fewer "
            "epochs)",
            parameter="epsilon",
        ) from None
    led.check_fits(existing, make(sigma), ledger, dataset=ledger_name)
    return {
        "epsilon": total,
        "delta": delta,
        "noise_multiplier": sigma,
        "preprocessing_epsilon": pre,
        "target_epsilon": target_epsilon,
        "discovery_delta": discovery_delta,
        "evaluation_epsilon": evaluation,
    }


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
) -> Evaluation:
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
        return Evaluation.model_validate(result)
    from privet.dp import _opendp
    from privet.dp._query import _mean_interval

    dp = _opendp.dp
    frame = pl.DataFrame({"score": score.double().numpy()})
    prepared = _opendp.prepare(
        frame,
        lambda source: source.select(
            _opendp.dp_sum(pl.col("score"), (low, high)).alias("total"),
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
    return Evaluation.model_validate(result)
