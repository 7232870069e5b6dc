"""Synthetic data commands: ``privet synth NAME …`` and ``privet synth evaluate REAL SYNTH``.

``privet synth NAME`` runs the hidden subcommand ``create`` (a dataset may not be named
``evaluate``). OpenDP, JAX and scikit-learn are imported only when a command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import click
from rich.table import Table
from rich.text import Text

from privet.cli._app import Options, PrivetCommand, cli, command, stderr, stdout
from privet.cli._dp import _KEYS, _bounds, _keys, _warnings_to_stderr

if TYPE_CHECKING:
    from privet.attacks import SynthEvaluation
    from privet.dp import SynthReport


class SynthGroup(click.Group):
    """``privet synth NAME …`` means ``privet synth create NAME …``."""

    command_class = PrivetCommand  # library errors name their flag (``--epsilon``)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        help_only = not args or args[0] in ("-h", "--help")
        if not help_only and args[0] not in self.commands:
            args = ["create", *args]
        return super().parse_args(ctx, args)


@cli.group(cls=SynthGroup, name="synth")
def synth_group() -> None:
    """DP synthetic data (OpenDP's AIM/MST) and its evaluation.

    \b
    privet synth NAME --epsilon E [--delta D] [--method aim|mst|independent] [--rows N] -o NEW
    privet synth evaluate REAL SYNTH [--holdout HOLDOUT] [--json]
    """


def _columns(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise click.BadParameter("give column names separated by commas")
    return names


@click.argument("ref", metavar="NAME[@VERSION]")
@click.option(
    "-o", "--output", "name", required=True, metavar="NEW", help="Name of the synthetic dataset."
)
@click.option("--epsilon", type=float, default=None, help="ε this release spends (aim, mst).")
@click.option(
    "--delta",
    type=float,
    default=None,
    help="δ for discovering category keys privately (default: half the ledger's δ).",
)
@click.option(
    "--method",
    type=click.Choice(["aim", "mst", "independent"]),
    default="aim",
    show_default=True,
    help="AIM or MST (DP), or independent columns (a baseline with NO formal guarantee).",
)
@click.option("--rows", type=click.IntRange(min=1), help="Rows to generate (default: as many).")
@click.option("--columns", metavar="C1,C2,…", help="Columns to synthesize (default: all usable).")
@click.option(
    "--bins",
    type=click.IntRange(2, 1000),
    default=16,
    show_default=True,
    help="Equal-width bins of a numeric column.",
)
@click.option(
    "--bound",
    "bounds",
    multiple=True,
    metavar="COL=LO:HI",
    help="Public bounds of a numeric column (else the owner's, else learned with DP).",
)
@_KEYS
@click.option(
    "--purpose",
    default="privet:assessment",
    show_default=True,
    help="Purpose of the read (the result stays governed in the catalog).",
)
@click.option(
    "--max-model-size",
    type=float,
    default=80.0,
    show_default=True,
    help="AIM: largest model size in MB.",
)
@click.option(
    "--rounds", type=click.IntRange(min=1), help="AIM: most rounds (default 16 × columns)."
)
@click.option("--seed", type=int, default=None, help="Fix the sampling (tests only: not secure).")
@command(synth_group, name="create")
def synth_create(
    opts: Options,
    ref: str,
    name: str,
    epsilon: float | None,
    delta: float | None,
    method: Literal["aim", "mst", "independent"],  # click.Choice allows only these
    rows: int | None,
    columns: str | None,
    bins: int,
    bounds: tuple[str, ...],
    keys: tuple[str, ...],
    purpose: str,
    max_model_size: float,
    rounds: int | None,
    seed: int | None,
) -> None:
    """Synthesize dataset NAME into a new dataset NEW; AIM/MST spend ε from its ledger."""
    from privet.dp import SynthRequest

    request = SynthRequest(
        name=name,
        method=method,
        epsilon=epsilon,
        delta=delta,
        rows=rows,
        columns=_columns(columns),
        bins=bins,
        bounds=_bounds(bounds) or None,
        keys=_keys(keys) or None,
        purpose=purpose,
        max_model_size=max_model_size,
        rounds=rounds,
        seed=seed,
    )
    with (
        opts.workspace() as ws,
        _warnings_to_stderr(),
        opts.progress(f"synthesizing {name}") as step,
    ):
        report = ws.dp.synthesize(ref, request, actor=opts.actor, progress=step)
    opts.emit(report, lambda: _print_report(report))


def _print_report(report: SynthReport) -> None:
    stdout.print(Text(report.summary, style="bold"))
    stdout.print(
        Text(
            f"{report.output}: {report.rows:,} synthetic rows of {len(report.columns)} columns "
            f"from {report.source} by {report.method} in {report.seconds:.1f} s"
        )
    )
    table = Table("column", "kind", "domain from", "modelled as")
    for c in report.columns:
        if c.kind == "numeric":
            shape = f"{c.lower:g}..{c.upper:g} in bins"
        else:
            count = len(c.keys) if c.keys is not None else c.bins
            shape = f"{count} categories" if count is not None else "categories"
        table.add_row(Text(c.name), c.kind, c.domain, shape)
    stdout.print(table)
    if report.skipped:
        stdout.print(Text(f"not synthesized: {', '.join(report.skipped)}"))
    if report.epsilon_spent is not None:
        stdout.print(
            Text(f"ledger: ε {report.epsilon_spent:.4g} spent, {report.epsilon_remaining:.4g} left")
        )
    for note in report.notes:
        stdout.print(Text(f"note: {note}"))


# -- evaluate ----------


@click.argument("synth", metavar="SYNTH")
@click.argument("real", metavar="REAL")
@click.option("--holdout", metavar="HOLDOUT", help="Real records the synthesizer never saw.")
@click.option("--columns", metavar="C1,C2,…", help="Compare only these columns.")
@click.option("--target", metavar="COL", help="Column to predict for utility (default: last).")
@click.option(
    "--attacks",
    "n_attacks",
    type=click.IntRange(10, 100_000),
    default=500,
    show_default=True,
    help="Attempts per privacy attack.",
)
@click.option("--seed", type=int, default=None, help="Fix the randomness of the evaluation.")
@command(synth_group, name="evaluate")
def synth_evaluate(
    opts: Options,
    real: str,
    synth: str,
    holdout: str | None,
    columns: str | None,
    target: str | None,
    n_attacks: int,
    seed: int | None,
) -> None:
    """Fidelity, utility and privacy risk of SYNTH against REAL (datasets or files)."""
    from privet.attacks import SynthEvaluationRequest, evaluate_sources

    request = SynthEvaluationRequest(
        real=real,
        synthetic=synth,
        holdout=holdout,
        columns=_columns(columns),
        target=target,
        n_attacks=n_attacks,
        seed=seed,
    )
    with opts.maybe_workspace() as ws, opts.progress("evaluating") as step:
        if ws is None:  # files only
            result = evaluate_sources(request, progress=step)
        else:
            result = ws.audit.evaluate_synthetic(request, actor=opts.actor, progress=step)
    for note in result.notes:
        stderr.print(Text(f"privet: {note}"))
    opts.emit(result, lambda: print_evaluation(result))


def _interval(pair: Any) -> str:
    return f"[{pair[0]:.3f}, {pair[1]:.3f}]"


def print_evaluation(result: SynthEvaluation) -> None:
    """The human rendering of an evaluation (also used by the demo)."""
    f = result.fidelity
    stdout.print(
        Text(
            f"{result.synthetic} against {result.real}: {result.rows['synthetic']:,} vs "
            f"{result.rows['real']:,} rows, {len(result.columns)} columns",
            style="bold",
        )
    )
    table = Table("fidelity", "mean", "worst", "worst columns")
    for m in (f.one_way, f.two_way, f.three_way):
        if m is not None:
            table.add_row(
                f"{m.way}-way TVD ({m.marginals})",
                f"{m.mean_tvd:.4f}",
                f"{m.max_tvd:.4f}",
                Text(", ".join(m.worst)),
            )
    table.add_row(
        "|Δ Cramér's V|", f"{f.association_mean_abs_diff:.4f}", f"{f.association_max_abs_diff:.4f}"
    )
    if f.correlation_mean_abs_diff is not None and f.correlation_max_abs_diff is not None:
        table.add_row(
            "|Δ Pearson r|",
            f"{f.correlation_mean_abs_diff:.4f}",
            f"{f.correlation_max_abs_diff:.4f}",
        )
    stdout.print(table)
    u = result.utility
    if u is not None:
        stdout.print(
            Text(
                f"utility ({u.target}, test on {u.test_rows:,} rows of the {u.test_set}): "
                f"accuracy {u.accuracy_synthetic:.4f} trained on synthetic vs "
                f"{u.accuracy_real:.4f} on real (ratio {u.ratio:.3f}; majority class "
                f"{u.majority_baseline:.4f})"
            )
        )
    p = result.privacy
    if p is None:
        return
    risks = Table("privacy attack", "on real", "on holdout", "risk (excess)", "95% interval")
    for r in [p.singling_out, p.linkability, p.inference_worst]:
        risks.add_row(
            Text(r.attack + (" (worst column)" if r is p.inference_worst else "")),
            f"{r.success_rate:.3f}",
            f"{r.control_rate:.3f}",
            f"{r.risk:.3f}",
            _interval(r.risk_interval),
        )
    stdout.print(risks)
    stdout.print(
        Text(
            f"closer to a real record than to a holdout one: {p.dcr_closer_to_real:.3f} "
            f"{_interval(p.dcr_interval)} (0.5: no sign of copying); exact copies of real rows: "
            f"{p.exact_match_real:.3f} (of holdout rows: {p.exact_match_holdout:.3f}); "
            f"membership inference AUC {p.membership_auc:.3f} {_interval(p.membership_interval)}"
        )
    )
