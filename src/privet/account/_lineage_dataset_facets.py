"""The facets of a dataset in a run: OpenLineage's own (schema, version, output statistics,
lifecycle change) and privet's governance and protection facets, from the attested state and
lineage facts.

Only parameters and counts leave: a synthetic version's ``domains`` and a model's levels
hold values and stay out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from openlineage.client.facet_v2 import (
    dataset_version_dataset,
    lifecycle_state_change_dataset,
    output_statistics_output_dataset,
    schema_dataset,
)

from privet.account._facets import (
    PRODUCER,
    PrivetGovernanceDatasetFacet,
    PrivetProtectionDatasetFacet,
)
from privet.account._lineage_catalog import Catalog
from privet.account._lineage_values import as_int, as_num, as_str

OutputStatistics = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet


def schema_facet(columns: Sequence[tuple[str, str]]) -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(
                name=column, type=dtype, ordinal_position=position
            )
            for position, (column, dtype) in enumerate(columns, start=1)
        ],
        producer=PRODUCER,
    )


def version_facet(version: str) -> dataset_version_dataset.DatasetVersionDatasetFacet:
    return dataset_version_dataset.DatasetVersionDatasetFacet(
        datasetVersion=version, producer=PRODUCER
    )


def statistics_facet(entry: Mapping[str, Any]) -> OutputStatistics:
    return OutputStatistics(rowCount=as_int(entry.get("rows")), producer=PRODUCER)


def lifecycle_facet(
    change: str,
) -> lifecycle_state_change_dataset.LifecycleStateChangeDatasetFacet:
    return lifecycle_state_change_dataset.LifecycleStateChangeDatasetFacet(
        lifecycleStateChange=lifecycle_state_change_dataset.LifecycleStateChange(change),
        producer=PRODUCER,
    )


def governance_facet(
    catalog: Catalog,
    dataset_id: str,
    version_id: str | None,
    kind: str,
    *,
    only: Sequence[str] | None = None,
    columns_of: str | None = None,
) -> PrivetGovernanceDatasetFacet:
    """``columns_of``: the version whose columns describe it (a model: the version it
    was trained on, of which ``only`` the columns it used)."""
    dataset = catalog.dataset_states.get(dataset_id) or {}
    version = catalog.version_states.get(version_id or "") or {}
    columns: dict[str, dict[str, str]] = {}
    described = (catalog.version_states.get(columns_of or "") or version).get("columns") or {}
    for column, info in described.items():
        if only is not None and column not in only:
            continue
        columns[column] = {"role": str(info.get("role"))}
        if info.get("category"):
            columns[column]["category"] = str(info["category"])
    retention = dataset.get("retention_days")
    until = None
    if retention is not None and version.get("created_at"):
        created = datetime.fromisoformat(str(version["created_at"]))
        until = (created + timedelta(days=int(retention))).isoformat()
    derived = dataset.get("derived_from")
    return PrivetGovernanceDatasetFacet(
        datasetId=dataset_id,
        owner=as_str(dataset.get("owner")),
        purposes=[str(p) for p in dataset.get("purposes") or []],
        legalBasis=as_str(dataset.get("legal_basis")),
        retentionDays=as_int(retention),
        retainUntil=until,
        classification=as_str(dataset.get("classification")),
        subjectIdColumn=as_str(dataset.get("subject_id")),
        derivedFrom=catalog.dataset_name(str(derived)) if derived else None,
        versionKind=kind,
        contentSha256=as_str(version.get("content_sha256")),
        dataCategories=sorted({c["category"] for c in columns.values() if "category" in c}),
        columns=columns,
        producer=PRODUCER,
    )


def protection_facet(kind: str, facts: Mapping[str, Any]) -> PrivetProtectionDatasetFacet | None:
    """The protection facet of a derived version, from its lineage facts (parameters and
    counts only: a synthetic version's ``domains`` hold values and stay out)."""
    if kind == "protected":
        return PrivetProtectionDatasetFacet(
            kind=kind,
            operators={str(k): str(v) for k, v in (facts.get("operators") or {}).items()},
            levels={str(k): int(v) for k, v in (facts.get("levels") or {}).items()},
            k=as_int(facts.get("k")),
            l=as_int(facts.get("l")),
            t=as_num(facts.get("t")),
            kAchieved=as_int(facts.get("k_achieved")),
            lAchieved=as_int(facts.get("l_achieved")),
            tAchieved=as_num(facts.get("t_achieved")),
            suppressedRows=as_int(facts.get("suppressed")),
            maxSuppression=as_num(facts.get("max_suppression")),
            producer=PRODUCER,
        )
    if kind in ("synthetic", "baseline"):
        private = bool(facts.get("differentially_private"))
        return PrivetProtectionDatasetFacet(
            kind=kind,
            differentiallyPrivate=private,
            epsilon=as_num(facts.get("epsilon")),
            delta=as_num(facts.get("delta")),
            method=as_str(facts.get("method")),
            guarantee=as_str(facts.get("guarantee")),
            release=as_str(facts.get("release")),
            producer=PRODUCER,
        )
    return None


def model_protection_facet(
    card: Mapping[str, Any], *, private: bool, features: list[str], release: object
) -> PrivetProtectionDatasetFacet:
    """A model's protection, from its card (architecture and parameters, never its levels)."""
    privacy = card.get("privacy") or {}
    return PrivetProtectionDatasetFacet(
        kind="model",
        differentiallyPrivate=private,
        epsilon=as_num(privacy.get("epsilon")),
        delta=as_num(privacy.get("delta")),
        architecture=as_str(card.get("architecture")),
        task=as_str(card.get("task")),
        target=as_str(card.get("target")),
        features=features or None,
        release=as_str(release),
        producer=PRODUCER,
    )
