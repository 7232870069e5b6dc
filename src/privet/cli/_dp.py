"""Differential privacy commands: query, budget, train, models.

Each builds the operation's request model (``privet.dp.QueryRequest``, …) from its options,
opens the workspace and calls one ``ws.dp`` function. OpenDP and PyTorch are imported only
when one of these commands runs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click
from rich.table import Table
from rich.text import Text

from privet.cli._app import Options, command, engine_options, pairs, stdout
from privet.text import escape_controls

if TYPE_CHECKING:
    from privet.dp import KeyValue, ModelCard, QueryRequest


@contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """privet's warnings (a weak privacy unit, a model without DP) as one line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            seen = set()
            for w in caught:
                # privet's own warnings: a dependency's (protobuf's version notice) are not
                # the user's concern.
                own = "privet" in Path(w.filename).parts
                if own and issubclass(w.category, UserWarning) and str(w.message) not in seen:
                    seen.add(str(w.message))
                    click.echo(f"privet: warning: {escape_controls(str(w.message))}", err=True)


def _bounds(values: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    result = {}
    for column, text in pairs(values, "--bound").items():
        low, sep, high = text.partition(":")
        try:
            bounds = (float(low), float(high))
        except ValueError:
            bounds = (math.nan, math.nan)
        if not sep or not all(math.isfinite(b) for b in bounds) or bounds[0] >= bounds[1]:
            raise click.BadParameter(
                f"expected COLUMN=LO:HI with numbers LO < HI for {column[:60]!r}",
                param_hint="--bound",
            )
        result[column] = bounds
    return result


def _keys(values: tuple[str, ...]) -> dict[str, list[KeyValue]]:
    return {
        column: [v.strip() for v in text.split(",") if v.strip()]
        for column, text in pairs(values, "--keys").items()
    }


_BOUND = click.option(
    "--bound",
    "bounds",
    multiple=True,
    metavar="COL=LO:HI",
    help="Public clamping bounds of a numeric column (overrides the owner's declaration).",
)
_KEYS = click.option(
    "--keys",
    "keys",
    multiple=True,
    metavar="COL=A,B,…",
    help="Public category values of a column, for GROUP BY or one-hot features.",
)


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


# -- query --------------------------------------------------------------------------------------


def query_request(
    sql: str,
    epsilon: float,
    delta: float | None,
    purpose: str,
    bounds: tuple[str, ...],
    keys: tuple[str, ...],
    max_rows_per_subject: int,
) -> QueryRequest:
    """The query's options as its request (local and ``--server`` alike)."""
    from privet.dp import QueryRequest

    return QueryRequest(
        sql=sql,
        epsilon=epsilon,
        delta=delta,
        purpose=purpose,
        bounds=_bounds(bounds) or None,
        keys=_keys(keys) or None,
        max_rows_per_subject=max_rows_per_subject,
    )


@click.argument("sql")
@click.argument("ref", metavar="NAME[@VERSION]")
@click.option("--epsilon", type=float, required=True, help="Privacy budget ε this answer spends.")
@click.option(
    "--delta",
    type=float,
    default=None,
    help="δ for discovering GROUP BY keys privately (needed only without --keys).",
)
@click.option("--purpose", required=True, help="Why you ask; must be a declared purpose.")
@_BOUND
@_KEYS
@click.option(
    "--rows-per-subject",
    "max_rows_per_subject",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Rows each subject may contribute (more are dropped at random before any noise).",
)
@engine_options
@command(name="query")
def query_command(
    opts: Options,
    ref: str,
    sql: str,
    epsilon: float,
    delta: float | None,
    purpose: str,
    bounds: tuple[str, ...],
    keys: tuple[str, ...],
    max_rows_per_subject: int,
    engine: str | None,
    spark_master: str | None,
) -> None:
    """Answer SQL with differential privacy (OpenDP); spends ε from the dataset's ledger.

    SQL: SELECT COUNT(*), COUNT(col), SUM(col), AVG(col), MEDIAN(col), QUANTILE(col, q)
    FROM NAME [WHERE …] [GROUP BY col, …]. Each answer comes with its noise scale and a
    95% interval.
    """
    request = query_request(sql, epsilon, delta, purpose, bounds, keys, max_rows_per_subject)
    with opts.workspace() as ws, _warnings_to_stderr():
        result = ws.dp.query(
            ref, request, actor=opts.actor, engine=engine, spark_master=spark_master
        )

    def human() -> None:
        names = [s.name for s in result.statistics]
        keys_ = [k for k in (result.rows[0] if result.rows else {}) if k not in names]
        keys_ = [k for k in keys_ if not k.endswith(("_low", "_high"))]
        table = Table(*keys_, *names, title=f"DP answer on {result.dataset}")
        for row in result.rows:
            cells = [Text(_number(row[k])) for k in keys_]
            for name in names:
                low, high = row.get(f"{name}_low"), row.get(f"{name}_high")
                interval = f"  [{_number(low)}, {_number(high)}]" if low is not None else ""
                cells.append(Text(f"{_number(row[name])}{interval}"))
            table.add_row(*cells)
        stdout.print(table)
        for s in result.statistics:
            stdout.print(Text(f"  {s.name}: {s.mechanism}, noise scale {_number(s.noise_scale)}"))
        if result.threshold is not None:
            stdout.print(Text(f"  groups with a noisy count below {result.threshold} are hidden"))
        stdout.print(
            Text(
                f"Spent ε = {result.epsilon:.4g}"
                + (f", δ = {result.delta:.2g}" if result.delta else "")
                + f"; ledger: ε {result.epsilon_spent:.4g} spent, "
                f"{result.epsilon_remaining:.4g} left. Intervals are 95%."
            )
        )

    opts.emit(result, human)


# -- budget -------------------------------------------------------------------------------------


@click.argument("name")
@click.option(
    "--set-epsilon", "epsilon", type=float, help="New ε limit of the ledger (owner only)."
)
@click.option("--set-delta", "delta", type=float, help="New δ of the ledger (owner only).")
@click.option(
    "--bound",
    "bounds",
    multiple=True,
    metavar="COL=LO:HI",
    help="Declare public clamping bounds of a column (owner only).",
)
@click.option(
    "--keys",
    "keys",
    multiple=True,
    metavar="COL=A,B,…",
    help="Declare the public category values of a column (owner only).",
)
@command(name="budget")
def budget_command(
    opts: Options,
    name: str,
    epsilon: float | None,
    delta: float | None,
    bounds: tuple[str, ...],
    keys: tuple[str, ...],
) -> None:
    """Show the privacy ledger of a dataset; its owner sets the limit and public domains."""
    from privet.dp import BudgetRequest

    change = BudgetRequest(
        epsilon=epsilon, delta=delta, bounds=_bounds(bounds) or None, keys=_keys(keys) or None
    )
    with opts.workspace() as ws:
        info = ws.dp.budget(name, change, actor=opts.actor)
    declared = info.declared
    data = {
        "epsilon_limit": info.epsilon_limit,
        "delta": info.delta,
        "epsilon_spent": info.epsilon_spent,
        "epsilon_remaining": info.epsilon_remaining,
        "releases": [r.model_dump(mode="json") for r in info.releases],
        "dataset": info.dataset,
        "unit": info.unit,
        "epsilon_spent_rdp": info.epsilon_spent_rdp,
        "default_limit": info.default_limit,
        "declared": {
            c: {"bounds": list(d.bounds) if d.bounds else None, "keys": len(d.keys or [])}
            for c, d in declared.items()
        },
    }

    def human() -> None:
        origin = " (default; the owner can set it)" if info.default_limit else ""
        stdout.print(
            Text(
                f"Ledger of {info.dataset}: privacy unit one {info.unit}, limit ε = "
                f"{info.epsilon_limit:g} at δ = {info.delta:.2g}{origin}"
            )
        )
        rdp = info.epsilon_spent_rdp
        stdout.print(
            Text(
                f"Spent ε = {info.epsilon_spent:.4g} (PLD; RDP cross-check "
                f"{'n/a' if rdp is None else f'{rdp:.4g}'}), remaining ε = "
                f"{info.epsilon_remaining:.4g}"
            )
        )
        if info.releases:
            table = Table("time", "actor", "purpose", "kind", "version", "ε", "mechanism")
            for r in info.releases:
                table.add_row(
                    r.created_at.strftime("%Y-%m-%d %H:%M"),
                    Text(r.actor),
                    Text(r.purpose),
                    r.kind,
                    Text(r.dataset),
                    f"{r.epsilon:.4g}",
                    Text(r.mechanism),
                )
            stdout.print(table)
        for column, d in declared.items():
            parts = []
            if d.bounds:
                parts.append(f"bounds {d.bounds[0]:g}..{d.bounds[1]:g}")
            if d.keys:
                parts.append(f"{len(d.keys)} keys")
            stdout.print(Text(f"  declared {column}: {', '.join(parts)}"))

    opts.emit(data, human)


# -- train --------------------------------------------------------------------------------------


@click.argument("ref", metavar="NAME[@VERSION]")
@click.option("--target", required=True, metavar="COL", help="The column to predict.")
@click.option(
    "-o",
    "--output",
    "name",
    required=True,
    metavar="MODEL",
    help="Name of the new model in the catalog.",
)
@click.option("--purpose", required=True, help="Why you train; must be a declared purpose.")
@click.option(
    "--epsilon",
    type=float,
    default=None,
    help="ε of the whole training release (default: what the ledger has left).",
)
@click.option("--delta", type=float, default=None, help="δ (default: the ledger's δ).")
@click.option(
    "--epochs",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="Passes over the data (in expectation, with Poisson sampling).",
)
@click.option(
    "--model",
    "model",
    type=click.Choice(["logreg", "mlp"]),
    default="logreg",
    show_default=True,
    help="Logistic/linear regression or a one-hidden-layer network (--hidden-units).",
)
@click.option(
    "--hidden-units",
    type=click.IntRange(1, 4096),
    default=64,
    show_default=True,
    help="Width of the mlp's hidden layer.",
)
@click.option(
    "--train-rows",
    type=click.IntRange(min=1),
    default=None,
    help="Train on about N rows (each row by its own coin; the rest stay unused or held out).",
)
@click.option(
    "--task",
    type=click.Choice(["classification", "regression"]),
    help="Default: regression for a numeric target, else classification.",
)
@click.option(
    "--feature",
    "features",
    multiple=True,
    metavar="COL",
    help="A feature column (repeat); default: every non-identifying column.",
)
@click.option(
    "--plan",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Take the features from this plan (what privet minimize --plan writes).",
)
@_BOUND
@_KEYS
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Expected batch size (the Poisson sampling rate is this over n).",
)
@click.option(
    "--clip", type=float, default=1.0, show_default=True, help="Per-example gradient norm bound."
)
@click.option("--learning-rate", type=float, default=None, help="Adam's learning rate.")
@click.option(
    "--no-dp",
    is_flag=True,
    help="Train WITHOUT privacy (dataset owner only); the model card says so first.",
)
@click.option("--seed", type=int, default=None, help="Fix the randomness (tests only: not secure).")
@click.option(
    "--unlearnable",
    is_flag=True,
    help="Train a SISA ensemble that forgets an erased subject by retraining one shard "
    "(needs a subject id and --no-dp).",
)
@click.option(
    "--shards",
    type=int,
    default=None,
    help="With --unlearnable: isolated shards, one model each  [default: 5]",
)
@click.option(
    "--slices",
    type=int,
    default=None,
    help="With --unlearnable: checkpointed slices of each shard  [default: 4]",
)
@click.option(
    "--proxy-reason",
    metavar="TEXT",
    help="The dataset owner's reason for features that reconstruct a sensitive attribute "
    "(recorded on the model card).",
)
@command(name="train")
def train_command(
    opts: Options,
    ref: str,
    target: str,
    name: str,
    purpose: str,
    epsilon: float | None,
    delta: float | None,
    epochs: int,
    model: Literal["logreg", "mlp"],  # click.Choice allows only these
    hidden_units: int,
    train_rows: int | None,
    task: Literal["classification", "regression"] | None,
    features: tuple[str, ...],
    plan: Path | None,
    bounds: tuple[str, ...],
    keys: tuple[str, ...],
    batch_size: int,
    clip: float,
    learning_rate: float | None,
    no_dp: bool,
    seed: int | None,
    unlearnable: bool,
    shards: int | None,
    slices: int | None,
    proxy_reason: str | None,
) -> None:
    """Train a model with DP-SGD (Opacus) and store it encrypted with its model card.

    Features that predict a sensitive column the model is not given (a proxy, see
    `privet risk --proxies`) are noted on the card; the policy's proxies rule refuses them
    unless the dataset's owner says why with --proxy-reason.
    """
    from privet.dp import TrainRequest

    # Only what was given: the request says which options go with --unlearnable.
    sisa: dict[str, Any] = {
        k: v for k, v in {"shards": shards, "slices": slices}.items() if v is not None
    }
    request = TrainRequest(
        unlearnable=unlearnable,
        **sisa,
        target=target,
        name=name,
        purpose=purpose,
        epsilon=epsilon,
        delta=delta,
        model=model,
        hidden_units=hidden_units,
        train_rows=train_rows,
        task=task,
        features=list(features) or None,
        epochs=epochs,
        batch_size=batch_size,
        clip=clip,
        learning_rate=learning_rate,
        bounds=_bounds(bounds) or None,
        keys=_keys(keys) or None,
        no_dp=no_dp,
        seed=seed,
        proxy_reason=proxy_reason,
    )
    with (
        opts.workspace() as ws,
        _warnings_to_stderr(),
        opts.progress(f"training {name}") as step,
    ):
        info = ws.dp.train(ref, request, actor=opts.actor, plan=plan, progress=step)
    opts.emit(info, lambda: _print_card(info.card))


def _print_card(card: ModelCard) -> None:
    stdout.print(Text(card.summary, style="bold"))
    stdout.print(
        Text(
            f"model {card.model} ({card.architecture}, {card.task}) of "
            f"{card.target} on {card.dataset}: {len(card.features)} features, "
            f"{card.inputs} inputs"
        )
    )
    privacy = card.privacy
    if privacy.differentially_private:
        stdout.print(
            Text(
                f"ε = {privacy.epsilon:.4g}, δ = {privacy.delta:.2g}, noise multiplier "
                f"{privacy.noise_multiplier:.4g}, clipping norm {privacy.clipping_norm:g}, "
                f"sample rate {privacy.sample_rate:.4g}, {privacy.steps:,} steps"
            )
        )
    evaluation = card.evaluation
    interval = evaluation.interval
    shown = f" (95% interval {interval[0]:.4g}–{interval[1]:.4g})" if interval else ""
    if evaluation.test_rows is not None:
        rows = f"{evaluation.test_rows:,} held-out rows"
    elif evaluation.test_rows_dp is not None:
        rows = f"about {max(0, evaluation.test_rows_dp):,} held-out rows (a DP count)"
    else:
        rows = "the held-out rows"
    stdout.print(Text(f"{evaluation.metric} on {rows}: {_number(evaluation.score)}{shown}"))
    if card.sisa is not None:
        stdout.print(
            Text(
                f"unlearnable: {card.sisa.shards} shards × {card.sisa.slices} slices "
                f"(unlearned {card.sisa.unlearned} times)"
            )
        )
    for note in card.notes:
        stdout.print(Text(f"note: {note}"))
    if card.withheld:
        stdout.print(
            Text(
                f"withheld (computed exactly from the rows): {', '.join(card.withheld)}; "
                "shown to the dataset's owner, or with --purpose to a grantee of its raw rows"
            )
        )


@click.argument("name", required=False)
@click.option(
    "--purpose",
    default=None,
    help="With NAME, for someone other than the dataset's owner: the purpose of their "
    "approved grant of its raw rows, to see the full card (row bitmaps, exact counts).",
)
@command(name="models")
def models_command(opts: Options, name: str | None, purpose: str | None) -> None:
    """List trained models, or show one model's card (public unless you may see the rows)."""
    if purpose is not None and name is None:
        raise click.UsageError("--purpose goes with a model NAME")
    with opts.workspace() as ws:
        if name is not None:
            info = ws.dp.model(name, actor=opts.actor, purpose=purpose)
            opts.emit(info.card, lambda: _print_card(info.card))
            return
        listing = ws.dp.models()

    def human() -> None:
        if not listing:
            stdout.print("No models yet. Train one with: privet train NAME --target COL -o MODEL")
            return
        table = Table("model", "dataset", "private", "ε", "metric", "created", "blocked")
        for m in listing:
            evaluation = m.card.evaluation
            table.add_row(
                Text(m.name),
                Text(m.dataset),
                "yes" if m.private else "NO",
                _number(m.card.privacy.epsilon),
                f"{evaluation.metric} {_number(evaluation.score)}",
                m.created_at.strftime("%Y-%m-%d %H:%M"),
                m.blocked or "",
            )
        stdout.print(table)

    opts.emit(listing, human)


@click.argument("name", metavar="MODEL")
@command(name="retrain")
def retrain_command(opts: Options, name: str) -> None:
    """Train MODEL again with its recorded request on its (rewritten) dataset version.

    The new weights replace the old, and a model blocked for holding an erased subject's
    influence may be used again. For the dataset's owner; a DP model is not retrained.
    """
    with opts.workspace() as ws, _warnings_to_stderr(), opts.progress(f"retraining {name}"):
        info = ws.dp.retrain(name, actor=opts.actor)
    opts.emit(info, lambda: _print_card(info.card))
