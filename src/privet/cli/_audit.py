"""``privet audit``: privacy attacks on a model (membership, attribute, empirical ε)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import click
from pydantic import BaseModel
from rich.text import Text

from privet.cli._app import Options, command, stdout


@click.argument("model", metavar="MODEL")
@click.option(
    "--attack",
    type=click.Choice(["loss", "lira", "rmia"]),
    default="rmia",
    show_default=True,
    help="Membership attack: loss, offline LiRA or offline RMIA.",
)
@click.option(
    "--reference-models",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Models trained by the model's recipe (LiRA, RMIA).",
)
@click.option(
    "--reference-data",
    type=click.Choice(["population", "training"]),
    default="population",
    show_default=True,
    help="What reference models learn from: population rows never audited (an outsider), or "
    "the model's training rows minus the records each one scores (an insider who knows the "
    "rest of the training set, as DP assumes; stronger).",
)
@click.option(
    "--audit-size",
    type=click.IntRange(min=1),
    default=None,
    help="Members (= non-members) to attack (default: up to 5,000).",
)
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="ROC PNG path.")
@click.option("--attribute", metavar="COL", help="Attribute inference of this feature instead.")
@click.option("--epsilon-audit", is_flag=True, help="One-run canary audit: a lower bound on ε.")
@click.option("--canaries", type=click.IntRange(min=1), default=None, help="For --epsilon-audit.")
@click.option(
    "--confidence", type=float, default=0.95, show_default=True, help="Of the ε lower bound."
)
@click.option(
    "--members",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File of training records (for a model without lineage).",
)
@click.option(
    "--non-members",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File of records the model did not train on.",
)
@click.option(
    "--label",
    default="label",
    show_default=True,
    help="Class column of --members/--non-members for a model file.",
)
@click.option(
    "--purpose",
    default=None,
    help="For someone other than the dataset's owner: the purpose of their approved grant of "
    "its raw rows.",
)
@click.option("--seed", type=int, default=None, help="Fix the randomness (tests only).")
@command(name="audit")
def audit_command(
    opts: Options,
    model: str,
    attack: Literal["loss", "lira", "rmia"],
    reference_models: int,
    reference_data: Literal["population", "training"],
    audit_size: int | None,
    plot: Path | None,
    attribute: str | None,
    epsilon_audit: bool,
    canaries: int | None,
    confidence: float,
    members: Path | None,
    non_members: Path | None,
    label: str,
    purpose: str | None,
    seed: int | None,
) -> None:
    """Attack a model: membership inference, attribute inference or an empirical ε bound.

    Members and non-members come from the model's lineage (its training split and held-out
    rows); a model privet did not train needs --members FILE --non-members FILE.
    """
    from privet import attacks, tables

    if (members is None) != (non_members is None):
        raise click.UsageError("give both --members FILE and --non-members FILE")
    if members is not None and (attribute or epsilon_audit):
        raise click.UsageError("--members/--non-members go with a membership attack only")
    if attribute and epsilon_audit:
        raise click.UsageError("choose one of --attribute and --epsilon-audit")
    request: attacks.ModelAuditRequest
    if attribute:
        request = attacks.AttributeAuditRequest(attribute=attribute, seed=seed)
    elif epsilon_audit:
        request = attacks.EpsilonAuditRequest(canaries=canaries, confidence=confidence, seed=seed)
    else:
        request = attacks.MembershipAuditRequest(
            attack=attack,
            reference_models=reference_models,
            reference_data=reference_data,
            audit_size=audit_size,
            plot=plot,
            members=members,
            non_members=non_members,
            label=label,
            seed=seed,
        )
    result: attacks.MembershipAudit | attacks.AttributeAudit | attacks.EpsilonAudit
    if tables.names_file(model):  # a model privet did not train: no workspace needed
        result = attacks.audit_model_file(Path(model), request)
    else:
        with opts.workspace() as ws, opts.progress(f"auditing {model}") as step:
            result = ws.audit.run(model, request, actor=opts.actor, purpose=purpose, progress=step)
    opts.emit(result, lambda: _print(result))


def _print(result: BaseModel) -> None:
    from privet import attacks

    if isinstance(result, attacks.EpsilonAudit):
        _print_epsilon(result.model_dump())
    elif isinstance(result, attacks.AttributeAudit):
        _print_attribute(result.model_dump())
    else:
        _print_membership(result.model_dump())


def _print_membership(r: dict[str, Any]) -> None:
    tpr = r["tpr_at_fpr"]
    adv = r["advantage"]
    refs = ""
    if r["reference_models"]:
        refs = f" with {r['reference_models']} reference model(s) on {r['reference_data']} rows"
    stdout.print(
        Text(
            f"{r['attack'].upper()} on {r['model']}{refs}: {r['members']:,} members, "
            f"{r['non_members']:,} non-members",
            style="bold",
        )
    )
    stdout.print(
        Text(
            f"AUC {r['auc']:.3f}; TPR {tpr['0.01']:.3f} at 1% FPR, {tpr['0.001']:.4f} at 0.1% "
            f"FPR; advantage {adv['value']:.3f} (95% CI {adv['ci_low']:.3f}–{adv['ci_high']:.3f})"
        )
    )
    if r["exposed_rows"]:
        shown = ", ".join(str(i) for i in r["exposed_rows"])
        stdout.print(Text(f"most exposed records (row numbers, at ≤1% FPR): {shown}"))
    if r.get("plot"):
        stdout.print(Text(f"ROC (log-log): {r['plot']}"))


def _print_attribute(r: dict[str, Any]) -> None:
    b, m, g = r["baseline_accuracy"], r["model_accuracy"], r["advantage"]
    stdout.print(Text(f"Attribute inference of {r['attribute']} with {r['model']}", style="bold"))
    stdout.print(
        Text(
            f"members: {b['members']:.3f} without the model, {m['members']:.3f} with it; "
            f"non-members: {b['non_members']:.3f} → {m['non_members']:.3f}"
        )
    )
    stdout.print(
        Text(
            f"gain on members beyond non-members: {g['value']:+.3f} "
            f"(95% CI {g['ci_low']:+.3f} to {g['ci_high']:+.3f})"
        )
    )


def _print_epsilon(r: dict[str, Any]) -> None:
    claim = r["claimed_epsilon"]
    stdout.print(
        Text(
            f"Empirical ε ≥ {r['epsilon_lower_bound']:.3f} at {r['confidence']:.0%} confidence "
            f"({r['correct']} of {r['guesses']} guesses right on {r['canaries']} canaries)",
            style="bold",
        )
    )
    if claim is None:
        stdout.print(Text("claimed ε: none (the model was trained without DP)"))
    else:
        stdout.print(Text(f"claimed ε = {claim:.3g} at δ = {r['delta']:.2g}"))
    if r["defect"]:
        stdout.print(Text("DEFECT: the lower bound exceeds the claimed ε", style="bold red"))
