"""DP synthetic data: OpenDP's AIM and MST (Private-PGM) into a new catalog dataset.

A release is planned and its whole cost checked against the source's ledger before any
row is read: the numeric bounds to learn (a share of ε, pure DP) and the contingency table
(the rest of ε; plus δ when category keys are discovered). The table is fitted with pure-ε
Laplace measurements (``max_divergence``) so the ledger records an exact ε-DP event; the
synthetic rows are sampled from the fitted model, which is post-processing.

``method="independent"`` is a baseline for comparison only: each column is drawn from its
exact empirical distribution, independently of the others. It spends no budget and carries
no formal guarantee (rare values are copied as they are), and says so on its card.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from pydantic import BaseModel, Field
from sqlalchemy import select

from privet import catalog, policy
from privet.catalog import is_reserved, resolve
from privet.dp import _accounting as acc
from privet.dp import _ledger as led
from privet.dp import _synth_prep as prep
from privet.dp._requests import SynthRequest
from privet.errors import AlreadyExists, BudgetExhausted, InvalidInput
from privet.schema import Dataset

if TYPE_CHECKING:
    from privet.core import Core

METHODS = ("aim", "mst", "independent")
# Share of ε spent learning numeric bounds the owner did not declare (the rest fits the table).
PREPROCESSING_SHARE = 0.10
# A column whose modelled share of nulls is below this holds nulls only as noise (the null
# cell collects values outside the keys and the noise on it): such rows are redrawn.
NULL_FLOOR = 0.01
Progress = Callable[[str], None]


class SynthReport(BaseModel):
    """The card of a synthetic release: what was modelled and what it cost."""

    summary: str
    source: str = Field(description="the dataset version read, NAME@N")
    output: str = Field(description="the new synthetic version, NAME@N")
    method: str
    differentially_private: bool
    epsilon: float | None = Field(description="ε of this release at the ledger's δ")
    delta: float = Field(description="δ spent discovering category keys (0 if all were known)")
    unit: str
    rows: int
    columns: list[prep.SynthColumn]
    skipped: list[str] = Field(description="columns not synthesized (identifiers, text, dates)")
    null_rows_redrawn: int
    seconds: float
    epsilon_spent: float | None = None
    epsilon_remaining: float | None = None
    release: str | None = None
    notes: list[str] = Field(default_factory=list)


def synthesize(
    core: Core,
    ref: str,
    request: SynthRequest,
    *,
    actor: str,
    progress: Progress | None = None,
) -> SynthReport:
    """Synthesize dataset ``ref`` into dataset ``request.name``; AIM/MST spend its ``epsilon``."""
    r = request
    name, method, epsilon, delta, rows, purpose, seed = (
        r.name,
        r.method,
        r.epsilon,
        r.delta,
        r.rows,
        r.purpose,
        r.seed,
    )
    step = progress or (lambda _s: None)
    started = time.perf_counter()
    private = method != "independent"

    with core.reading() as session:
        dataset, version = resolve(session, ref)
        existing_out = session.scalars(select(Dataset).where(Dataset.name == name)).first()
        root = led.root_of(session, dataset)
        if existing_out is not None and existing_out.derived_from != root.id:
            raise AlreadyExists(
                f"dataset {name!r} already exists and was not derived from it", parameter="name"
            )
        source_rows = version.row_count
        ledger = led.ledger_row(session, root, core.now())
        existing = led.charges_of(session, root.id)
        declared = led.domains(session, dataset.id)
        catalog_columns = {c.name: c for c in version.columns if not is_reserved(c.name)}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            subject = led.unit_for(dataset, version, ledger) if private else None
        if not private:
            subject = dataset.subject_id_column
        fixed_ref = f"{dataset.name}@{version.number}"
        ids = {"root_id": root.id, "dataset_id": dataset.id, "version_id": version.id}
        ledger_name = root.name
        ledger_delta = ledger.delta_limit
    notes = [str(w.message) for w in caught]
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=2)
    if source_rows < 10:
        raise InvalidInput(f"{dataset.name} has too few rows to synthesize from")
    plan, skipped = prep.plan_columns(
        catalog_columns,
        chosen=r.columns,
        subject=subject,
        declared=declared,
        bounds=dict(r.bounds or {}),
        keys=dict(r.keys or {}),
        bins=r.bins,
    )

    budget: dict[str, Any] = {}
    if private:
        assert epsilon is not None
        budget = _budget(
            plan, method, epsilon, delta, led.discovery_delta(ledger, existing), source_rows, notes
        )
        try:
            led.check_fits(existing, budget["planned"], ledger, dataset=ledger_name)
        except BudgetExhausted:
            led.log_refusal(core, **ids, kind="synth", actor=actor, purpose=purpose)
            raise

    step("reading")
    read = policy.read(core, fixed_ref, purpose=purpose, actor=actor, channel="dp:synth")
    wanted = [c.name for c in plan]
    frame = read.frame.select([*wanted, *([subject] if subject and subject not in wanted else [])])
    frame = catalog.for_analysis(frame, catalog_columns.values())  # text of numbers: Float64
    if subject and private:
        # One row per subject: the table's privacy unit (one row) then protects each subject.
        frame = frame.sample(fraction=1.0, shuffle=True, seed=seed).unique(
            subject, keep="first", maintain_order=True
        )
    frame = frame.select(wanted)
    rng = np.random.default_rng(seed)

    charges: list[acc.Charge] = []
    redrawn = 0
    if private:
        step("preprocessing")
        plan = [_learn_bounds(c, frame, budget, charges, source_rows) for c in plan]
        step(f"fitting {method.upper()}")
        configured = algorithm(
            method, max_model_size=r.max_model_size, rounds=r.rounds, progress=step
        )
        table, charge = _fit(frame, plan, configured, budget)
        charges.append(charge)
        step("sampling")
        plan = _discovered_keys(plan, table)
        synthetic, redrawn = _sample(table, plan, rows, seed)
        synthetic = prep.decode(synthetic, plan, rng)
    else:
        step("sampling")
        plan = [prep.exact_domain(c, frame) for c in plan]
        count = rows or frame.height
        synthetic = pl.DataFrame(
            [
                frame[c.name].sample(count, with_replacement=True, seed=int(rng.integers(2**31)))
                for c in plan
            ]
        )
    if synthetic.height == 0:
        raise InvalidInput("the synthesizer produced no rows; ask for more rows", parameter="rows")

    total = acc.Charge(acc.composed([c.event for c in charges]), sum(c.delta for c in charges))
    epsilon_at_ledger = acc.standalone_epsilon(total, ledger_delta) if charges else None
    summary = _summary(method, epsilon_at_ledger, total.delta, ledger_delta, subject, fixed_ref)
    facts: dict[str, Any] = {
        "synthetic": True,
        "method": method,
        "differentially_private": private,
        "epsilon": epsilon_at_ledger,
        "delta": total.delta if private else None,
        "guarantee": summary if private else "no formal guarantee",
        "columns": len(plan),
        "rows": synthetic.height,
        "domains": {c.name: c.domain for c in plan},
    }
    release_id = None
    spent_after = None
    if private:
        step("charging the ledger")
        release_id = led.record(
            core,
            fixed_ref,
            total,
            kind="synth",
            actor=actor,
            purpose=purpose,
            facts={"method": method, "columns": len(plan)},
        ).release
        facts["release"] = release_id
    step("storing")
    version_info = catalog.derive(
        core,
        fixed_ref,
        synthetic,
        name=name,
        # Only a DP release is "synthetic" (the broker serves it as the synthetic view); the
        # baseline copies rare values as they are, so it gets a kind of its own.
        kind="synthetic" if private else "baseline",
        actor=actor,
        facts=facts,
        progress=step,
    )
    remaining = None
    if private:
        info = led.budget(core, fixed_ref.split("@")[0])
        spent_after, remaining = info.epsilon_spent, info.epsilon_remaining
    if redrawn:
        notes.append(
            f"{redrawn:,} sampled rows held a null only as modelling noise and were redrawn"
        )
    return SynthReport(
        summary=summary,
        source=fixed_ref,
        output=version_info.ref,
        method=method,
        differentially_private=private,
        epsilon=epsilon_at_ledger,
        delta=total.delta if private else 0.0,
        unit=(f"subject ({subject})" if subject else "row") if private else "none",
        rows=synthetic.height,
        columns=plan,
        skipped=skipped,
        null_rows_redrawn=redrawn,
        seconds=time.perf_counter() - started,
        epsilon_spent=spent_after,
        epsilon_remaining=remaining,
        release=release_id,
        notes=notes,
    )


def _summary(
    method: str,
    epsilon: float | None,
    delta: float,
    ledger_delta: float,
    subject: str | None,
    ref: str,
) -> str:
    if epsilon is None:
        return (
            "No formal guarantee: the independent baseline draws each column from its exact "
            "values, so rare values of real people appear as they are; use it only to compare."
        )
    unit = f"subject ({subject})" if subject else "row"
    shown_delta = f", δ = {delta:.2g} for key discovery" if delta else ""
    return (
        f"Differentially private: ε = {epsilon:.3g} (at the ledger's δ = {ledger_delta:.2g}"
        f"{shown_delta}) for each {unit} of {ref}, by OpenDP's {method.upper()}; preprocessing "
        "is included in that budget."
    )


# -- budget ---------------------------------------------------------------------------------------


def _budget(
    plan: Sequence[prep.SynthColumn],
    method: str,
    epsilon: float,
    delta: float | None,
    default_delta: float,
    rows: int,
    notes: list[str],
) -> dict[str, Any]:
    """Split ε between learning bounds and the table; the δ key discovery needs (``delta``,
    else ``default_delta``: the ledger's share for a release that discovers keys)."""
    learn = [c for c in plan if c.kind == "numeric" and c.domain == "dp"]
    discover = [c for c in plan if c.kind == "categorical" and c.keys is None]
    requested = led.check_delta(delta, rows)
    if discover:
        # Thresholded key discovery may reveal a rare value with probability δ.
        table_delta = requested or default_delta
        if table_delta <= 0:
            raise InvalidInput(
                "discovering category keys needs delta > 0; give a delta, or keys",
                parameter="delta",
            )
    else:
        table_delta = 0.0
        if requested:
            notes.append("every column's domain is public, so no δ was needed or spent")
    *parts, table_epsilon = (
        acc.split(
            epsilon, [*[PREPROCESSING_SHARE / len(learn)] * len(learn), 1 - PREPROCESSING_SHARE]
        )
        if learn
        else [epsilon]
    )
    pre = parts[0] if parts else 0.0
    if method == "mst":
        from privet.dp import _mst

        _mst.check_plan(table_epsilon, len(plan))
    planned = [acc.Charge(acc.pure(pre)) for _ in learn]
    planned.append(acc.Charge(acc.pure(table_epsilon), table_delta))
    return {
        "planned": planned,
        "preprocessing_epsilon": pre,
        "table_epsilon": table_epsilon,
        "table_delta": table_delta,
    }


def _learn_bounds(
    column: prep.SynthColumn,
    frame: pl.DataFrame,
    budget: dict[str, Any],
    charges: list[acc.Charge],
    rows: int,
) -> prep.SynthColumn:
    if column.kind != "numeric" or column.domain != "dp":
        return column
    from privet.dp._features import Feature, learn

    learned = learn(
        Feature(name=column.name, kind="numeric", source="dp"),
        frame.select(column.name),
        None,
        {"preprocessing_epsilon": budget["preprocessing_epsilon"]},
        charges,
        rows,
    )
    return column.model_copy(update={"lower": learned.lower, "upper": learned.upper})


# -- OpenDP -----------------------------------------------------------------------------------


def algorithm(
    method: str,
    *,
    max_model_size: float = 80.0,
    rounds: int | None = None,
    progress: Progress | None = None,
) -> Any:
    """OpenDP's configuration of AIM or MST.

    The graphical model is fitted by :mod:`privet.dp._estimator`: mbi's mirror descent,
    step for step, in NumPy instead of JAX (OpenDP's ``estimator`` extension point; the
    fit is post-processing of the released measurements, so the mechanism and its ε are
    OpenDP's unchanged). AIM is 12.6× faster on Adult, almost all of it JAX compiling.
    """
    from privet.dp._estimator import Estimator
    from privet.dp._opendp import dp

    fit = Estimator(progress, label=f"fitting {method.upper()}: ")
    if method == "aim":
        return dp.mbi.AIM(max_size=max_model_size, rounds=rounds, estimator=fit)
    return dp.mbi.MST(estimator=fit)


def contingency_measurement(
    frame: pl.DataFrame,
    plan: Sequence[prep.SynthColumn],
    configured: Any,
    budget: dict[str, Any],
) -> tuple[Any, pl.LazyFrame]:
    """OpenDP's measurement of the contingency table (``configured``: AIM or MST) on
    ``frame`` encoded by ``plan``, with the table's share of the budget; and its input."""
    from privet.dp._opendp import dp

    encoded = prep.encode(frame, plan)
    keys = {c.name: k for c in plan if (k := prep.key_values(c)) is not None}
    epsilon, delta = budget["table_epsilon"], budget["table_delta"]
    lazy = encoded.lazy()
    domain = dp.domain_of(lazy, infer=True)
    stable = dp.t.make_stable_lazyframe(
        domain,
        dp.symmetric_distance(),
        lazyframe=pl.LazyFrame(schema=encoded.schema),
        MO="FrameDistance<SymmetricDistance>",
    )
    d_in = stable.map(1)
    measure = dp.approximate(dp.max_divergence()) if delta else dp.max_divergence()
    measurement, _, _ = dp.mbi.make_contingency_table(
        stable.output_domain,
        stable.output_metric,
        measure,
        d_in,
        (epsilon, delta) if delta else epsilon,
        keys=keys,
        algorithm=configured,
    )
    return stable >> measurement, lazy


def _fit(
    frame: pl.DataFrame,
    plan: Sequence[prep.SynthColumn],
    configured: Any,
    budget: dict[str, Any],
) -> tuple[Any, acc.Charge]:
    """Fit the contingency table; its privacy map is checked against the plan before it runs."""
    epsilon, delta = budget["table_epsilon"], budget["table_delta"]
    chain, lazy = contingency_measurement(frame, plan, configured, budget)
    loss = chain.map(1)
    spent_eps, spent_delta = (float(loss[0]), float(loss[1])) if delta else (float(loss), 0.0)
    if spent_eps > epsilon or spent_delta > delta:
        raise InvalidInput("OpenDP could not fit the synthesizer within the planned budget")
    from privet.dp import _mst

    with _mst.selection_fitted():  # OpenDP 0.16's MST split overshoots (see _mst)
        table = chain(lazy)
    return table, acc.Charge(acc.pure(spent_eps), spent_delta)


def _discovered_keys(plan: Sequence[prep.SynthColumn], table: Any) -> list[prep.SynthColumn]:
    """Record how many keys discovery kept (their values stay in the data, not the card)."""
    out = []
    for column in plan:
        if column.kind == "categorical" and column.keys is None:
            found = [k for k in table.keys[column.name].to_list() if k is not None]
            out.append(column.model_copy(update={"keys": None, "bins": len(found)}))
        else:
            out.append(column)
    return out


def _sample(
    table: Any, plan: Sequence[prep.SynthColumn], rows: int | None, seed: int | None
) -> tuple[pl.DataFrame, int]:
    """Sample rows from the fitted model; rows with a noise-only null cell are redrawn."""
    if seed is not None:
        # mbi samples with NumPy's global generator; a seed is for tests only.
        np.random.seed(seed)
    noise_only = []
    for column in plan:
        keys = table.keys[column.name]
        nulls = keys.is_null().arg_true().to_list()
        if not nulls:
            continue
        counts = np.asarray(table.project([column.name]), dtype=float).ravel()
        share = counts[nulls[0]] / counts.sum() if counts.sum() > 0 else 0.0
        if share < NULL_FLOOR:
            noise_only.append(column.name)
    target = rows
    if target is None:
        target = max(1, int(round(float(np.asarray(table.project([plan[0].name])).sum()))))
    kept: list[pl.DataFrame] = []
    have, redrawn = 0, 0
    for _ in range(20):
        batch = table.synthesize(rows=max(100, int((target - have) * 1.1) + 10), method="sample")
        if noise_only:
            clean = batch.filter(pl.all_horizontal(pl.col(noise_only).is_not_null()))
            redrawn += batch.height - clean.height
            batch = clean
        kept.append(batch)
        have += batch.height
        if have >= target:
            break
    frame = pl.concat(kept).head(target)
    return frame, redrawn
