"""What was made from what the actor read, or by the actor: DP releases, derived datasets
(synthetic data among them) and models — from the actor's entries and from lineage."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from privet.account._incident_entries import Work
from privet.account._incident_models import Made
from privet.schema import DpModel, DpRelease, LineageEdge, Version
from privet.timestamps import aware


def list_made(work: Work) -> list[Made]:
    """Releases, derived datasets and models by the actor, and those made (by anyone)
    from the versions the actor read."""
    found: dict[tuple[str, str], Made] = {}
    for index, entry in work.made_entries:
        kind = entry["event"]
        ts = datetime.fromisoformat(entry["ts"])
        source = work.name(entry.get("dataset", ""))
        number = work.number(entry.get("version", ""))
        if kind == "dp.release":
            model = entry.get("model")
            if model:
                row = work.session.get(DpModel, model)
                found[("model", model)] = Made(
                    kind="model",
                    id=model,
                    name=row.name if row else None,
                    source_dataset=source,
                    source_version=number,
                    made_by=entry["actor"],
                    by_actor=True,
                    ts=ts,
                    log_index=index,
                    epsilon=entry.get("epsilon"),
                    detail="DP-SGD",
                )
            found[("dp_release", entry["release"])] = Made(
                kind="dp_release",
                id=entry["release"],
                source_dataset=source,
                source_version=number,
                made_by=entry["actor"],
                by_actor=True,
                ts=ts,
                log_index=index,
                epsilon=entry.get("epsilon"),
                detail=str(entry.get("kind")),
            )
        elif kind == "model.train":
            row = work.session.get(DpModel, entry["model"])
            found[("model", entry["model"])] = Made(
                kind="model",
                id=entry["model"],
                name=row.name if row else None,
                source_dataset=source,
                source_version=number,
                made_by=entry["actor"],
                by_actor=True,
                ts=ts,
                log_index=index,
                detail="trained without DP",
            )
        elif kind == "dataset.derive":
            found[("derived_dataset", entry["version"])] = Made(
                kind="synthetic" if entry.get("kind") == "synthetic" else "derived_dataset",
                id=entry["version"],
                name=f"{source}@{number}",
                made_by=entry["actor"],
                by_actor=True,
                ts=ts,
                log_index=index,
                detail=str(entry.get("kind")),
            )
    _made_from_reads(work, found)
    return sorted(found.values(), key=lambda m: (m.kind, m.log_index or -1, m.id))


def _made_from_reads(work: Work, found: dict[tuple[str, str], Made]) -> None:
    read_ids = list(work.by_version)
    if not read_ids:
        return
    s = work.session
    refs = [f"version:{v}" for v in read_ids]
    for edge in s.scalars(select(LineageEdge).where(LineageEdge.source.in_(refs))):
        if not edge.target.startswith("version:"):
            continue
        target = s.get(Version, edge.target.split(":", 1)[1])
        if target is None or ("derived_dataset", target.id) in found:
            continue
        source = s.get(Version, edge.source.split(":", 1)[1])
        found[("derived_dataset", target.id)] = Made(
            kind="synthetic" if target.kind == "synthetic" else "derived_dataset",
            id=target.id,
            name=f"{target.dataset.name}@{target.number}",
            source_dataset=source.dataset.name if source else None,
            source_version=source.number if source else None,
            made_by=target.created_by,
            by_actor=target.created_by == work.actor,
            ts=aware(target.created_at),
            log_index=edge.log_index,
            detail=edge.activity,
        )
    for model in s.scalars(select(DpModel).where(DpModel.version_id.in_(read_ids))):
        if ("model", model.id) in found:
            continue
        source = s.get(Version, model.version_id)
        found[("model", model.id)] = Made(
            kind="model",
            id=model.id,
            name=model.name,
            source_dataset=source.dataset.name if source else None,
            source_version=source.number if source else None,
            made_by=model.created_by,
            by_actor=model.created_by == work.actor,
            ts=aware(model.created_at),
            detail="DP-SGD" if model.private else "trained without DP",
        )
    for release in s.scalars(select(DpRelease).where(DpRelease.version_id.in_(read_ids))):
        if ("dp_release", release.id) in found:
            continue
        source = s.get(Version, release.version_id)
        found[("dp_release", release.id)] = Made(
            kind="dp_release",
            id=release.id,
            source_dataset=source.dataset.name if source else None,
            source_version=source.number if source else None,
            made_by=release.actor,
            by_actor=release.actor == work.actor,
            ts=aware(release.created_at),
            log_index=release.log_index,
            epsilon=release.epsilon,
            detail=release.kind,
        )
