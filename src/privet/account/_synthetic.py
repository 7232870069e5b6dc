"""Synthetic-data evaluations kept for the report: ``privet synth evaluate`` results of
workspace datasets, with the exact versions and request (seed included) that reproduce them."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as DbIntegrityError

from privet import catalog, tables
from privet.errors import NotFound
from privet.schema import ReportFact

if TYPE_CHECKING:
    from privet.attacks import SynthEvaluation, SynthEvaluationRequest
    from privet.core import Core

SYNTH_EVALUATION = "synth-evaluation"


def remember(core: Core, request: SynthEvaluationRequest, result: SynthEvaluation) -> bool:
    """Keep ``result`` for the report when REAL, SYNTH (and HOLDOUT) are workspace datasets
    and the request has its seed (without one the numbers cannot be re-derived). Holds the
    evaluation's measures (rates, risks, distances), never a row."""
    names = [request.real, request.synthetic, request.holdout]
    if request.seed is None or any(n is not None and tables.names_file(n) for n in names):
        return False
    refs: list[str | None] = []
    with core.reading() as session:
        for name in names:
            if name is None:
                refs.append(None)
                continue
            try:
                dataset, version = catalog.resolve(session, name)
            except NotFound:
                return False
            refs.append(f"{dataset.name}@{version.number}:{version.id}")
    real, synthetic, holdout = refs
    assert real is not None and synthetic is not None
    stored = {
        "real": real,
        "synthetic": synthetic,
        "holdout": holdout,
        "columns": request.columns,
        "target": request.target,
        "n_attacks": request.n_attacks,
        "seed": request.seed,
        "result": result.model_dump(mode="json"),
    }
    key = hashlib.sha256(
        json.dumps({k: v for k, v in stored.items() if k != "result"}, sort_keys=True).encode()
    ).hexdigest()
    try:
        with core.session() as session:
            session.add(
                ReportFact(
                    key=key,
                    kind=SYNTH_EVALUATION,
                    subject=synthetic.rsplit(":", 1)[1],
                    value=stored,
                    created_at=core.now(),
                )
            )
            session.commit()
    except DbIntegrityError:  # the same evaluation, kept before
        pass
    return True


def evaluations(core: Core) -> list[dict[str, Any]]:
    """Every kept evaluation, oldest first."""
    with core.reading() as session:
        rows = session.scalars(
            select(ReportFact)
            .where(ReportFact.kind == SYNTH_EVALUATION)
            .order_by(ReportFact.created_at)
        )
        return [dict(row.value) for row in rows]


def command(stored: dict[str, Any]) -> str:
    """The ``privet synth evaluate`` command that computes ``stored`` again."""
    ref = {k: stored[k].rsplit(":", 1)[0] for k in ("real", "synthetic")}
    parts = ["privet synth evaluate", ref["real"], ref["synthetic"]]
    if stored.get("holdout"):
        parts += ["--holdout", stored["holdout"].rsplit(":", 1)[0]]
    if stored.get("columns"):
        parts += ["--columns", ",".join(stored["columns"])]
    if stored.get("target"):
        parts += ["--target", stored["target"]]
    parts += ["--attacks", str(stored["n_attacks"]), "--seed", str(stored["seed"]), "--json"]
    return " ".join(parts)
