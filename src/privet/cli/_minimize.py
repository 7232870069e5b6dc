"""``privet minimize``: which columns a model needs, and what each one costs in privacy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table
from rich.text import Text

from privet.cli._app import Options, command, stdout
from privet.cli._protect import _columns

if TYPE_CHECKING:
    from privet.deid import MinimizeReport


@click.argument("source", metavar="DATASET|FILE")
@click.option("--target", required=True, metavar="COL", help="The column the model predicts.")
@click.option(
    "--utility-floor",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.99,
    show_default=True,
    help="Share of the full set's held-out utility the recommended set must keep.",
)
@click.option(
    "--candidates",
    metavar="C1,…",
    help="Columns to weigh (default: what privet train would use).",
)
@click.option("--qi", "quasi_identifiers", metavar="C1,…", help="Columns an attacker may know.")
@click.option(
    "--sensitive", metavar="C1,…", help="Columns whose inference is a risk (default: catalog's)."
)
@click.option(
    "--plan",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the recommended set as a plan file (for protect --plan and train --plan).",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Draw utility against risk per column (PNG).",
)
@click.option(
    "--audit-model",
    metavar="MODEL",
    help="Also train the recommended set by privet's recipe without DP as MODEL (the "
    "dataset's owner) and audit it with the loss attack.",
)
@click.option("--purpose", help="With --audit-model: the purpose the model is trained for.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of split and models.")
@command(name="minimize")
def minimize_command(
    opts: Options,
    source: str,
    target: str,
    utility_floor: float,
    candidates: str | None,
    quasi_identifiers: str | None,
    sensitive: str | None,
    plan: Path | None,
    plot: Path | None,
    audit_model: str | None,
    purpose: str | None,
    seed: int,
) -> None:
    """Data minimization: what each column adds to a model of TARGET and to risk.

    For each column: the held-out utility a quick reference model (gradient boosting) loses
    without it; the records it makes unique; how well it alone predicts each sensitive
    column; and what it adds to a loss attack's membership AUC. Then the smallest set of
    columns that keeps --utility-floor of the full set's utility, with the figures
    `privet risk` reproduces (sample uniques with --qi, and --proxies with --features).
    With --audit-model, the recommended set is trained by privet's recipe and attacked too,
    which `privet audit` reproduces.
    A dataset is read under privet's assessment purpose (logged).
    """
    from privet import deid

    request = deid.MinimizeRequest(
        target=target,
        utility_floor=utility_floor,
        candidates=_columns(candidates),
        quasi_identifiers=_columns(quasi_identifiers),
        sensitive=_columns(sensitive),
        seed=seed,
    )
    with opts.maybe_workspace() as ws, opts.progress(f"weighing the columns of {source}") as step:
        step("reading")
        if ws is None:  # a file, without a workspace
            report = deid.file_minimize(source, request, plan=plan, plot=plot, progress=step)
        else:
            report = ws.deid.minimize(
                source, request, actor=opts.actor, plan=plan, plot=plot,
                audit_model=audit_model, purpose=purpose, progress=step,
            )  # fmt: skip
    opts.emit(report, lambda: _print(report, plan, plot))


def _print(r: MinimizeReport, plan: Path | None, plot: Path | None) -> None:
    stdout.print(
        Text(f"Minimization of {r.source} for {r.target} ({r.rows:,} records, {r.task}): {r.model}")
    )
    table = Table(
        "column",
        f"{r.metric} added",
        "unique alone",
        "uniqueness added",
        "inference lift (best)",
        "membership AUC added",
        "kept",
    )
    for c in sorted(r.columns, key=lambda c: -c.utility_added):
        best = max(c.inference.items(), key=lambda kv: kv[1], default=None)
        table.add_row(
            Text(c.column),
            f"{c.utility_added:+.4f}",
            f"{c.unique_alone:.3f}" if c.quasi_identifier else "-",
            f"{c.uniqueness_added:.3f}" if c.quasi_identifier else "-",
            Text(f"{best[1]:+.3f} ({best[0]})") if best and best[1] > 0 else "none",
            f"{c.membership_added:+.4f}",
            "yes" if c.kept else "",
        )
    stdout.print(table)
    sets = Table("set", "columns", r.metric, "sample uniques", "membership AUC", "inference")
    for label, figures in (("all candidates", r.full), ("recommended", r.recommended)):
        inference = "; ".join(
            f"{f.sensitive} {f.accuracy:.3f} (base {f.base_rate:.3f})" for f in figures.inference
        )
        sets.add_row(
            label,
            str(len(figures.columns)),
            f"{figures.utility:.4f}",
            f"{figures.sample_uniques:.4f}",
            f"{figures.membership_auc:.4f}",
            Text(inference or "-"),
        )
    stdout.print(sets)
    stdout.print(
        Text(
            f"recommended: {', '.join(r.recommended.columns)}; dropped: "
            f"{', '.join(r.dropped) or 'none'} ({r.metric} {r.recommended.utility:.4f} ≥ "
            f"{r.utility_required:.4f}, {r.utility_floor:g} of the full set's; "
            f"{r.seconds:.1f} s)"
        )
    )
    audited = r.recommended
    if audited.audited_model is not None and audited.audited_auc is not None:
        stdout.print(
            Text(
                f"model {audited.audited_model} (privet's recipe, no DP): loss-attack AUC "
                f"{audited.audited_auc:.4f} (privet audit {audited.audited_model} --attack "
                f"loss --seed {r.seed})"
            )
        )
    if plan is not None:
        stdout.print(Text(f"plan: {plan} (privet protect --plan, privet train --plan)"))
    if plot is not None:
        stdout.print(Text(f"picture: {plot}"))
