"""``privet joint count|sum|histogram``: a statistic over several parties through SecAgg+."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from privet.cli._app import Options, cli, command, stdout
from privet.errors import InvalidInput

if TYPE_CHECKING:
    from privet.federated import JointResult


@cli.group(name="joint")
def joint_group() -> None:
    """Counts, sums and histograms across parties (workspaces) without pooling their rows.

    Each party reads its dataset through its own broker, charges its own privacy ledger and
    adds its share of Gaussian noise; Flower's SecAgg+ sums the masked vectors, so this
    workspace (the coordinator) learns the noisy total and no party's value.
    """


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--parties",
            "parties_file",
            required=True,
            type=click.Path(path_type=Path, dir_okay=False),
            metavar="CONFIG",
            help="The parties YAML: each party's workspace, dataset, actor and purpose.",
        ),
        click.option(
            "--epsilon", required=True, type=float, help="ε of the answer (each party's ledger)."
        ),
        click.option("--delta", required=True, type=float, help="δ of the Gaussian noise."),
        click.option(
            "--min-parties",
            type=int,
            help="Contributions the noise is planned for (default: all); fewer release nothing.",
        ),
        click.option(
            "--max-rows",
            type=int,
            help="Public bound on any party's rows (default 1,000,000): sets SecAgg+'s range.",
        ),
        click.option("--num-shares", type=int, help="SecAgg+ key shares (default: all parties)."),
        click.option(
            "--threshold",
            "reconstruction_threshold",
            type=int,
            help="SecAgg+ shares needed to unmask (default: a majority of the shares).",
        ),
    ]
    for option in options:
        func = option(func)
    return func


def _run(opts: Options, statistic: str, column: str | None, **settings: Any) -> None:
    with opts.workspace() as ws, opts.progress(f"joint {statistic}") as step:
        result = ws.federated.joint(
            settings.pop("parties_file"),
            statistic,
            column,
            actor=opts.actor,
            progress=step,
            **settings,
        )
    opts.emit(result, lambda: _show(result))


def _show(result: JointResult) -> None:
    what = f"{result.statistic} of {result.column}" if result.column else result.statistic
    table = Table(
        title=f"Joint {what} over {len(result.took_part)} of {len(result.parties)} parties"
    )
    if result.edges:
        table.add_column("bin")
        table.add_column("noisy count", justify="right")
        edges = result.edges
        for low, high, value in zip(edges, edges[1:], result.answer, strict=False):
            table.add_row(f"[{low:g}, {high:g})", f"{value:,.1f}")
    else:
        table.add_column(result.statistic)
        table.add_row(f"{result.answer[0]:,.2f}")
    stdout.print(table)
    stdout.print(
        f"noise: {result.noise} (σ = {result.sigma:.4g}, 95% within ±{1.96 * result.sigma:.4g});"
        f" SecAgg+ rounding at most ±{result.quantization_error:.3g}",
        markup=False,
    )
    shares = ", ".join(f"{s.party} ε={s.epsilon:.3g}" for s in result.took_part)
    stdout.print(f"charged on each party's own ledger: {shares}", markup=False)
    if result.dropped:
        stdout.print(f"dropped: {', '.join(result.dropped)}", markup=False)
    stdout.print(f"{result.seconds:.1f} s; query {result.query}, log entry {result.log_index}")


@click.option("--column", metavar="COL", help="Count the rows where COL is set (default: rows).")
@_common
@command(joint_group, name="count")
def count_command(opts: Options, column: str | None, **settings: Any) -> None:
    """Count rows (one per person) across the parties, with DP noise."""
    _run(opts, "count", column, **settings)


@click.argument("column")
@click.option(
    "--bounds",
    required=True,
    type=(float, float),
    metavar="L U",
    help="Each row's value is clipped into [L, U] (public bounds).",
)
@_common
@command(joint_group, name="sum")
def sum_command(opts: Options, column: str, bounds: tuple[float, float], **settings: Any) -> None:
    """Sum COLUMN (one row per person, clipped to the bounds) across the parties."""
    _run(opts, "sum", column, bounds=bounds, **settings)


@click.argument("column")
@click.option(
    "--bins",
    required=True,
    metavar="E0,E1,...",
    help="Bin edges, increasing, comma-separated: bins [E0, E1), …, [Ek-1, Ek].",
)
@_common
@command(joint_group, name="histogram")
def histogram_command(opts: Options, column: str, bins: str, **settings: Any) -> None:
    """Count the rows of COLUMN in each bin (one row per person) across the parties."""
    try:
        edges = [float(edge) for edge in bins.split(",") if edge.strip()]
    except ValueError:
        raise InvalidInput(
            "the bin edges must be numbers separated by commas", parameter="bins"
        ) from None
    _run(opts, "histogram", column, bins=edges, **settings)
