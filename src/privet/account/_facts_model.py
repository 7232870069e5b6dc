"""Models in an assessment: the assessment of one model (its card, its privacy guarantee, the
attacks on it, the risk of its training data), and the models trained on a dataset."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from privet.account._facts_audits import audits
from privet.account._facts_context import facts_of, sections
from privet.account._facts_lineage import model_lineage
from privet.account._facts_risk import reidentification
from privet.account._model import Assessment, Block, Fact, Table, ToFill, quote

if TYPE_CHECKING:
    from privet.account._facts_context import Gathering
    from privet.catalog import DatasetInfo


def model(ctx: Gathering, name: str) -> Assessment:
    from privet import dp

    ctx.progress(f"model {name}: card")
    info = dp.model_info(ctx.core, name, actor=ctx.actor)
    card = info.card.stored()
    cmd = f"privet models {name} --json"
    since = ctx.counted()
    fact = facts_of(cmd)

    privacy, training = card.get("privacy", {}), card.get("training", {})
    described = [
        fact("Model", "model", card.get("model")),
        fact("Trained on", "dataset", card.get("dataset")),
        fact("Purpose", "purpose", card.get("purpose")),
        fact("Architecture", "architecture", card.get("architecture")),
        fact("Task", "task", card.get("task")),
        fact("Target column", "target", card.get("target")),
        fact("Features", "length(features)", len(card.get("features", []))),
        fact("Trained by", "created_by", card.get("created_by")),
        fact("Trained at", "created_at", card.get("created_at")),
        fact("Epochs", "training.epochs", training.get("epochs")),
    ]
    blocks_a = [
        Block(
            title="The model card",
            text=[str(card.get("summary", ""))],
            facts=described,
            fill=[
                ToFill(
                    label="Use of the model",
                    prompt="Who uses its predictions, for which decisions about people, "
                    "and with what human review.",
                )
            ],
        )
    ]
    # The dataset it was trained on, if the catalog still has it.
    source = next((d for d in ctx.datasets if d.id == info.card.dataset_id), None)
    if source is not None:
        blocks_a.append(model_lineage(ctx, info, source))
    split = card.get("split") or {}
    necessity = [fact("Purpose", "purpose", card.get("purpose"))]
    if split:
        necessity += [
            fact("Training records", "split.train_count", split.get("train_count")),
            fact("Held-out records", "split.test_count", split.get("test_count")),
        ]
    blocks_b = [
        Block(
            title="Purpose and data used",
            facts=necessity,
            fill=[
                ToFill(
                    label="Necessity and proportionality",
                    prompt="Why a model trained on personal data is needed for the "
                    "purpose, and why these features.",
                )
            ],
        )
    ]
    guarantee = [
        fact(
            "Differentially private",
            "privacy.differentially_private",
            privacy.get("differentially_private"),
        ),
        fact("ε", "privacy.epsilon", privacy.get("epsilon")),
        fact("δ", "privacy.delta", privacy.get("delta")),
        fact("Privacy unit", "privacy.unit", privacy.get("unit")),
        fact("Noise multiplier", "privacy.noise_multiplier", privacy.get("noise_multiplier")),
        fact("Clipping norm", "privacy.clipping_norm", privacy.get("clipping_norm")),
    ]
    evaluation = card.get("evaluation", {})
    metric = evaluation.get("metric")
    if metric and evaluation.get(metric) is not None:
        guarantee.append(fact(f"Held-out {metric}", f"evaluation.{metric}", evaluation[metric]))
    blocks_c = [Block(title="The privacy guarantee", facts=guarantee)]
    blocks_c.append(audits(ctx, name, card, cmd))
    if source is not None:
        version = next((v for v in source.versions if v.id == card.get("version_id")), None)
        if version is not None and version.shredded_at is None:
            block = reidentification(ctx, version)
            block.title = f"Re-identification risk of its training data, {version.ref}"
            blocks_c.append(block)
    blocks_c[-1].fill.append(
        ToFill(
            label="Likelihood and severity",
            prompt="What an attacker who obtains the model or its predictions could learn "
            "about the people it was trained on, and how much that would harm them.",
        )
    )
    blocks_d = [
        Block(
            title="Measures in place",
            text=[
                "The weights are stored encrypted; loading them is a logged read.",
                "The full card (exact counts, split) is shown only to who may read the "
                "training rows; others get the public card.",
            ],
            facts=[
                Fact(
                    label="Blocked until retrained",
                    value=info.blocked,
                    command="privet models --json",
                    path=f"[?name=={quote(name)}] | [0].blocked",
                ),
                fact(
                    "Unlearnable (SISA shards)",
                    "sisa.shards",
                    (card.get("sisa") or {}).get("shards"),
                ),
            ],
            fill=[
                ToFill(
                    label="Measures envisaged",
                    prompt="Safeguards for each risk in (c): DP, access limits on the "
                    "model and its API, monitoring, retraining after erasure.",
                ),
                ToFill(
                    label="Advice of the data protection officer (Art. 35(2))",
                    prompt="The DPO's advice, its date, and whether it was followed.",
                ),
                ToFill(
                    label="Residual risk and sign-off",
                    prompt="The decision to release the model, who took it and when.",
                ),
            ],
        )
    ]
    return ctx.assessment("model", name, sections(blocks_a, blocks_b, blocks_c, blocks_d), since)


def models_of(ctx: Gathering, info: DatasetInfo) -> Block:
    """The models trained on dataset ``info``: DP, ε, their latest audit, blocked."""
    cmd = "privet models --json"
    rows = []
    for m in ctx.models:
        if m.card.dataset_id != info.id:
            continue
        at = f"[?name=={quote(m.name)}] | [0]"
        latest: dict[str, Any] = (m.card.audits or [{}])[-1]  # the path's audits[-1]
        rows.append(
            [
                Fact(label="model", value=m.name, command=cmd, path=f"{at}.name"),
                Fact(label="DP", value=m.private, command=cmd, path=f"{at}.private"),
                Fact(
                    label="ε",
                    value=m.card.privacy.epsilon,
                    command=cmd,
                    path=f"{at}.card.privacy.epsilon",
                ),
                Fact(
                    label="latest audit AUC",
                    value=latest.get("auc"),
                    command=cmd,
                    path=f"{at}.card.audits[-1].auc",
                ),
                Fact(
                    label="TPR at 1% FPR",
                    value=(latest.get("tpr_at_fpr") or {}).get("0.01"),
                    command=cmd,
                    path=f'{at}.card.audits[-1].tpr_at_fpr."0.01"',
                ),
                Fact(label="blocked", value=m.blocked, command=cmd, path=f"{at}.blocked"),
            ]
        )
    missing = [] if rows else ["no model was trained on this dataset"]
    return Block(
        title="Models trained on it (privet report MODEL for each one's assessment)",
        table=Table(
            header=["model", "DP", "ε", "latest audit AUC", "TPR at 1% FPR", "blocked"],
            rows=rows,
        )
        if rows
        else None,
        missing=missing,
    )
