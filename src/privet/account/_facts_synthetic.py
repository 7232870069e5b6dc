"""Synthetic data in a dataset's assessment: the datasets synthesized from it, and the risks
measured by the current stored evaluation of each (``privet synth evaluate``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from privet.account import _synthetic
from privet.account._model import Block, Fact, Table, quote

if TYPE_CHECKING:
    from privet.account._facts_context import Gathering
    from privet.catalog import DatasetInfo

SYNTHETIC = ("synthetic", "baseline")  # version kinds privet synth makes (DP, or not)


def synthetic(ctx: Gathering, info: DatasetInfo) -> Block | None:
    """The block, or None when nothing was synthesized from ``info`` nor evaluated."""
    made = [
        d
        for d in ctx.datasets
        if d.derived_from == info.id and any(v.kind in SYNTHETIC for v in d.versions)
    ]
    live = {  # "NAME@N:id" of every live version: an evaluation of others is not current
        f"{d.name}@{v.number}:{v.id}"
        for d in ctx.datasets
        for v in d.versions
        if v.shredded_at is None
    }
    newest = {
        d.name: f"{d.name}@{v.number}:{v.id}"
        for d in ctx.datasets
        for v in [v for v in d.versions if v.shredded_at is None][-1:]
    }
    evaluated = [
        e
        for e in ctx.evaluations
        if e["real"].split("@", 1)[0] == info.name
        and e["real"] in live
        and e["synthetic"] == newest.get(e["synthetic"].split("@", 1)[0])
        and (e.get("holdout") is None or e["holdout"] in live)
    ]
    latest = {e["synthetic"]: e for e in evaluated}  # oldest first: the newest stays
    evaluated = list(latest.values())
    if not made and not evaluated:
        return None
    rows = []
    for d in made:
        at = f"[?name=={quote(d.name)}] | [0]"
        rows.append(
            [
                Fact(
                    label="dataset",
                    value=d.name,
                    command="privet datasets --json",
                    path=f"{at}.name",
                ),
                Fact(
                    label="records",
                    value=d.versions[-1].rows if d.versions else None,
                    command="privet datasets --json",
                    path=f"{at}.versions[-1].rows",
                ),
            ]
        )
    facts = []
    missing = []
    for e in evaluated:
        cmd = _synthetic.command(e)
        result = e["result"]
        name = e["synthetic"].rsplit(":", 1)[0]
        privacy = result.get("privacy")
        picked: list[tuple[str, str]] = [
            ("synthetic records compared", "rows.synthetic"),
            ("mean 2-way TVD (fidelity)", "fidelity.two_way.mean_tvd"),
        ]
        if privacy is None:
            missing.append(f"{name}: no privacy attack ran (they need --holdout): {cmd}")
        else:
            picked += [
                ("singling-out risk", "privacy.singling_out.risk"),
                ("linkability risk", "privacy.linkability.risk"),
                ("attribute-inference risk, worst column", "privacy.inference_worst.risk"),
                ("membership AUC (distance to closest record)", "privacy.membership_auc"),
                (
                    "share of rows closer to a real row than to a holdout row",
                    "privacy.dcr_closer_to_real",
                ),
                ("share of rows equal to a real row", "privacy.exact_match_real"),
                ("share of rows equal to a holdout row", "privacy.exact_match_holdout"),
            ]
        for label, path in picked:
            facts.append(
                Fact(label=f"{name}: {label}", value=_dig(result, path), command=cmd, path=path)
            )
    for d in made:
        if not any(e["synthetic"].split("@", 1)[0] == d.name for e in evaluated):
            missing.append(
                f"{d.name}: no current evaluation is stored; privet synth evaluate "
                f"{info.name} {d.name} --holdout HOLDOUT measures it (and keeps it)"
            )
    return Block(
        title="Synthetic data made from it, and its risk",
        facts=facts,
        table=Table(header=["dataset", "records"], rows=rows) if rows else None,
        missing=missing,
    )


def _dig(data: Any, path: str) -> Any:
    """The value at a dotted ``path`` of nested dicts (None where absent)."""
    for key in path.split("."):
        data = data.get(key) if isinstance(data, dict) else None
    return data
