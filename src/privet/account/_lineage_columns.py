"""The columnLineage facet: where each output column came from and what was done to it.

A derived version's columns map to its source's (per de-identification operator, or all
sampled for a synthetic one); a model's weights draw on every column it was trained on.
``masking`` says whether the output still shows the input's values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from openlineage.client.facet_v2 import column_lineage_dataset

from privet.account._facets import PRODUCER
from privet.account._lineage_catalog import Catalog
from privet.account._lineage_values import as_int, short
from privet.catalog import SUBJECT_LINK

ColumnLineage = column_lineage_dataset.ColumnLineageDatasetFacet
Transformation = column_lineage_dataset.Transformation
InputField = column_lineage_dataset.InputField

# What each de-identification operator does to a column, for the column-lineage facet:
# (subtype, description, masking). "keep" is the identity unless the column is generalized.
_OPERATORS: dict[str, tuple[str, str, bool]] = {
    "keep": ("IDENTITY", "kept as is", False),
    "generalize": ("TRANSFORMATION", "generalized", True),
    "mask": ("TRANSFORMATION", "masked: characters replaced", True),
    "pseudonym": ("TRANSFORMATION", "pseudonymized: a keyed one-way pseudonym", True),
    "token": (
        "TRANSFORMATION",
        "tokenized: deterministic encryption, reversible with a grant",
        True,
    ),
    "redact": ("TRANSFORMATION", "redacted: replaced by a constant", True),
    "redact_text": ("TRANSFORMATION", "personal data found in the text redacted", True),
    "suppress": ("TRANSFORMATION", "suppressed: set to null", True),
    "microaggregate": ("AGGREGATION", "microaggregated: replaced by its group's mean", True),
    "date_shift": ("TRANSFORMATION", "dates shifted by a keyed offset per person", True),
    "top_bottom_code": ("TRANSFORMATION", "top and bottom coded", True),
}


def _input(
    namespace: str,
    source_name: str,
    column: str,
    type_: str,
    subtype: str,
    description: str,
    masking: bool,
) -> InputField:
    """``column`` of ``source_name`` as an input, with the one transformation it went through."""
    return InputField(
        namespace=namespace,
        name=source_name,
        field=column,
        transformations=[
            Transformation(type=type_, subtype=subtype, description=description, masking=masking)
        ],
    )


def derived_lineage(
    namespace: str,
    catalog: Catalog,
    kind: str,
    source: str,
    source_name: str,
    columns: Sequence[str],
    facts: Mapping[str, Any],
) -> ColumnLineage:
    """A version's columns from its source's, by how it was made (``kind``)."""

    def field_from(
        column: str, subtype: str, description: str, masking: bool, kind_: str = "DIRECT"
    ) -> column_lineage_dataset.Fields:
        return column_lineage_dataset.Fields(
            inputFields=[
                _input(namespace, source_name, column, kind_, subtype, description, masking)
            ]
        )

    fields: dict[str, column_lineage_dataset.Fields] = {}
    whole: list[column_lineage_dataset.InputField] = []
    if kind == "ingest":
        for column in columns:
            fields[column] = field_from(column, "IDENTITY", "ingested as is", False)
    elif kind == "protected":
        operators = facts.get("operators") or {}
        levels = facts.get("levels") or {}
        source_columns = catalog.source_columns(source)
        for column in columns:
            if column == SUBJECT_LINK:
                link_from = SUBJECT_LINK if SUBJECT_LINK in source_columns else None
                link_from = link_from or catalog.subject_of(source)
                if link_from:
                    fields[column] = field_from(
                        link_from,
                        "TRANSFORMATION",
                        "keyed link to the person (for erasure and DP), never shown",
                        True,
                    )
                continue
            operator = str(operators.get(column, "keep"))
            level = as_int(levels.get(column)) or 0
            subtype, description, masking = _OPERATORS.get(
                operator, ("TRANSFORMATION", operator, True)
            )
            if level > 0:
                subtype, masking = "TRANSFORMATION", True
                description = f"generalized to level {level} of its hierarchy"
            fields[column] = field_from(column, subtype, description, masking)
        suppressed = as_int(facts.get("suppressed")) or 0
        if suppressed:
            target = f" to reach k = {facts['k']}" if facts.get("k") else ""
            how = f"{suppressed} row(s) suppressed{target}"
            whole += [
                _input(namespace, source_name, str(column), "INDIRECT", "FILTER", how, False)
                for column in levels
            ]
    elif kind in ("synthetic", "baseline"):
        if facts.get("differentially_private"):
            epsilon, delta = short(facts.get("epsilon")), short(facts.get("delta"))
            how = (
                f"sampled from a {str(facts.get('method', '')).upper()} model of noisy "
                f"marginals (ε = {epsilon}, δ = {delta})"
            )
        else:
            how = "sampled from each column's own distribution (no formal guarantee)"
        for column in columns:
            fields[column] = field_from(column, "AGGREGATION", how, True)
    else:
        for column in columns:
            if column in catalog.source_columns(source):
                fields[column] = field_from(column, "TRANSFORMATION", f"derived ({kind})", True)
    return ColumnLineage(fields=fields, dataset=whole, producer=PRODUCER)


def model_lineage(
    namespace: str, source_name: str, used: Sequence[str], *, private: bool, epsilon: object
) -> ColumnLineage:
    """A model's weights, fitted on the ``used`` columns of the version it was trained on."""
    how = (
        f"model weights fitted with DP-SGD (ε = {short(epsilon)})"
        if private
        else "model weights fitted without differential privacy"
    )
    return ColumnLineage(
        fields={},
        dataset=[
            _input(namespace, source_name, column, "INDIRECT", "AGGREGATION", how, private)
            for column in used
        ],
        producer=PRODUCER,
    )
