"""Gathering what a privacy impact assessment states: from the catalog, the ledgers, the model
cards, the audit log, lineage and retention, and re-identification risk measured on the spot
(or reused from ``report_facts`` while the version, the request and the code are unchanged).

Each value is a :class:`Fact` naming the ``privet … --json`` command that prints it and the
JMESPath that picks it out, so anyone can re-derive it. Commands run as the report's actor in
the same workspace. This module is the entry (``assess``, ``assess_all``) and puts a dataset's
four parts together; each ``_facts_*`` module gathers one kind of fact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from privet import catalog
from privet.account._facts_access import access
from privet.account._facts_context import Gathering, Progress, sections
from privet.account._facts_dp import ledger
from privet.account._facts_inventory import describe
from privet.account._facts_measures import measures
from privet.account._facts_model import model, models_of
from privet.account._facts_necessity import necessity
from privet.account._facts_risk import reidentification
from privet.account._facts_synthetic import synthetic
from privet.account._model import Assessment, Block, ToFill
from privet.errors import NotFound, PrivetError
from privet.schema import DpModel

if TYPE_CHECKING:
    from privet.catalog import DatasetInfo, VersionInfo
    from privet.core import Core


def assess(core: Core, name: str, *, actor: str, progress: Progress | None = None) -> Assessment:
    """The assessment of dataset ``name``, else of model ``name``."""
    ctx = Gathering(core, actor, progress or (lambda _s: None))
    try:
        with core.reading() as session:
            catalog.find_dataset(session, catalog.check_name(name))
    except (NotFound, PrivetError):
        with core.reading() as session:
            found = session.scalars(select(DpModel.id).where(DpModel.name == name)).first()
        if found is None:
            raise NotFound(f"no dataset or model named {name[:80]!r} in this workspace") from None
        return model(ctx, name)
    return dataset(ctx, name)


def assess_all(core: Core, *, actor: str, progress: Progress | None = None) -> list[Assessment]:
    """An assessment of every dataset, then of every model, sharing one read of the log."""
    ctx = Gathering(core, actor, progress or (lambda _s: None))
    found = [dataset(ctx, d.name) for d in ctx.datasets]
    found += [model(ctx, m.name) for m in ctx.models]
    return found


def dataset(ctx: Gathering, name: str) -> Assessment:
    ctx.progress(f"{name}: catalog")
    info = next((d for d in ctx.datasets if d.name == name), None)
    if info is None:
        with ctx.core.reading() as session:
            found = catalog.find_dataset(session, catalog.check_name(name))
            info = catalog.dataset_info(found)
    live = [v for v in info.versions if v.shredded_at is None]
    current = live[-1] if live else None  # destroyed versions have no rows to measure
    since = ctx.counted()
    parts = sections(
        describe(ctx, info, current),
        necessity(info, current),
        risks(ctx, info, current),
        measures(ctx, info),
    )
    return ctx.assessment("dataset", name, parts, since)


def risks(ctx: Gathering, info: DatasetInfo, current: VersionInfo | None) -> list[Block]:
    """Part (c): re-identification, the DP ledger, models, synthetic data, access."""
    blocks = []
    if current is not None:
        blocks.append(reidentification(ctx, current))
    blocks.append(ledger(ctx, info))
    blocks.append(models_of(ctx, info))
    made = synthetic(ctx, info)
    if made is not None:
        blocks.append(made)
    blocks.append(access(ctx, info))
    blocks[-1].fill.append(
        ToFill(
            label="Likelihood and severity",
            prompt="For each risk above (illegitimate access, unwanted change, "
            "disappearance, re-identification, inference): how likely, how severe for "
            "the people concerned, and why.",
        )
    )
    return blocks
