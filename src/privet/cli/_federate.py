"""``privet federate``: train across parties without pooling their rows (Flower, SecAgg+, DP)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click
from rich.table import Table

from privet.cli._app import Options, command, stdout
from privet.cli._dp import _BOUND, _KEYS, _bounds, _keys, _warnings_to_stderr

if TYPE_CHECKING:
    from privet.federated import FederatedModel


@click.argument("name")
@click.option(
    "--parties",
    "parties_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML file naming each party's workspace, dataset, actor and purpose.",
)
@click.option("--target", required=True, help="The column to predict.")
@click.option(
    "--purpose",
    default="federated-learning",
    show_default=True,
    help="The coordinator's purpose for the model.",
)
@click.option(
    "--schema",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The common data model: a YAML file of keys (levels) and bounds per column.",
)
@_KEYS
@_BOUND
@click.option(
    "--feature",
    "features",
    multiple=True,
    metavar="COL",
    help="A feature column (repeat); default: every column of the schema.",
)
@click.option("--model", type=click.Choice(["logreg", "mlp"]), default="logreg", show_default=True)
@click.option("--hidden-units", type=click.IntRange(1, 4096), default=64, show_default=True)
@click.option(
    "--rounds", type=click.IntRange(1, 1000), default=5, show_default=True, help="FedAvg rounds."
)
@click.option(
    "--local-epochs",
    type=click.IntRange(1, 100),
    default=1,
    show_default=True,
    help="Passes over each party's rows per round.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option(
    "--learning-rate",
    type=float,
    default=None,
    help="Local SGD's rate (momentum 0.9; default 0.3 logreg, 0.05 mlp).",
)
@click.option(
    "--clip",
    type=float,
    default=1.0,
    show_default=True,
    help="DP-SGD per-example gradient norm bound.",
)
@click.option(
    "--epsilon",
    type=float,
    default=None,
    help="ε per party: each party runs DP-SGD at this ε over the whole run.",
)
@click.option("--delta", type=float, default=None, help="δ per party (default: its ledger's).")
@click.option(
    "--secagg",
    is_flag=True,
    help="Aggregate with Flower's SecAgg+: the coordinator sees only masked updates.",
)
@click.option(
    "--shares",
    type=click.IntRange(min=2),
    default=None,
    help="SecAgg+: parties each key is shared with  [default: min(7, parties)]",
)
@click.option(
    "--threshold",
    type=click.IntRange(min=2),
    default=None,
    help="SecAgg+: shares that rebuild a dropped party's mask  [default: shares//2+1]",
)
@click.option(
    "--min-parties",
    type=click.IntRange(min=1),
    default=None,
    help="Fewest parties a round needs (default: all).",
)
@click.option(
    "--mode",
    type=click.Choice(["simulation", "processes"]),
    default="simulation",
    show_default=True,
    help="One machine (Flower's simulation) or real SuperLink/SuperNode processes "
    "over TLS on loopback.",
)
@click.option("--seed", type=int, default=None, help="Fix the randomness (tests only: not secure).")
@command(name="federate")
def federate_command(
    opts: Options,
    name: str,
    parties_file: Path,
    target: str,
    purpose: str,
    schema: Path | None,
    keys: tuple[str, ...],
    bounds: tuple[str, ...],
    features: tuple[str, ...],
    model: Literal["logreg", "mlp"],
    hidden_units: int,
    rounds: int,
    local_epochs: int,
    batch_size: int,
    learning_rate: float | None,
    clip: float,
    epsilon: float | None,
    delta: float | None,
    secagg: bool,
    shares: int | None,
    threshold: int | None,
    min_parties: int | None,
    mode: Literal["simulation", "processes"],
    seed: int | None,
) -> None:
    """Train model NAME across the parties with FedAvg (Flower); store it here with its card.

    Each party reads its own dataset through its own broker every round and trains locally;
    only weights leave it. --epsilon runs DP-SGD at every party, charged to its own ledger
    before its first update leaves; --secagg hides each update from the coordinator.
    Needs the federated extra: pip install 'privet[federated]'.
    """
    from privet import federated

    parties = federated.load_parties(parties_file)
    common = federated.load_schema(schema) if schema else {}
    request = federated.federate_request(
        name=name,
        target=target,
        purpose=purpose,
        keys={**common.get("keys", {}), **_keys(keys)},
        bounds={**common.get("bounds", {}), **_bounds(bounds)},
        features=list(features) or None,
        model=model,
        hidden_units=hidden_units,
        rounds=rounds,
        local_epochs=local_epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        clip=clip,
        epsilon=epsilon,
        delta=delta,
        secagg=federated.secagg_settings(len(parties), shares, threshold) if secagg else None,
        min_parties=min_parties,
        mode=mode,
        seed=seed,
    )
    with (
        opts.workspace() as ws,
        _warnings_to_stderr(),
        opts.progress(f"federating {name}") as step,
    ):
        result = ws.federated.train(parties, request, actor=opts.actor, progress=step)
    opts.emit(result, lambda: _print(result))


def _print(result: FederatedModel) -> None:
    table = Table(title=f"{result.model.name}: {len(result.parties)} parties, {result.mode}")
    for column in ("round", "seconds", "failed"):
        table.add_column(column, justify="right")
    for r in result.rounds:
        table.add_row(str(r.number), f"{r.seconds:.2f}", str(r.failures))
    stdout.print(table)
    stdout.print(result.model.card.summary, markup=False, highlight=False)
    if result.accuracy is not None:
        stdout.print(f"held-out accuracy at the parties: {result.accuracy:.4f}")
