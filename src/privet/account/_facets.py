"""privet's custom OpenLineage facets, each with the JSON schema it ships.

OpenLineage lets a producer add facets of its own, named with its prefix (``privet_``) and
carrying ``_producer`` and a ``_schemaURL`` that points at their schema. The schemas live
next to this module (``schemas/*.json``, package data); their ``$id`` is under
:data:`SCHEMA_BASE`, a reserved domain (RFC 2606) until privet publishes them, so a consumer
resolves them from the package (:func:`facet_schemas`), never over the network.

Every field is a name, an id, a count, a parameter or a category: never a cell value.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from typing import Any

import attr
from openlineage.client.generated.base import DatasetFacet, RunFacet


def privet_version() -> str:
    """privet's installed version (not ``privet.__version__``: the package root imports the
    workspace, a layer above this one)."""
    try:
        return version("privet")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "0+unknown"


# The producer URI of every event and facet privet writes (OpenLineage: "a git url with a
# given tag or sha" is typical; privet has no public home yet, hence the reserved domain).
PRODUCER = f"https://privet.invalid/openlineage/privet/{privet_version()}"
SCHEMA_BASE = "https://privet.invalid/spec/openlineage/facets/1-0-0/"
GOVERNANCE = "privet_governance"
PROTECTION = "privet_protection"
RUN = "privet_run"


def _schema_url(name: str) -> str:
    return f"{SCHEMA_BASE}{name}.json#/$defs/{name}"


@attr.define
class PrivetGovernanceDatasetFacet(DatasetFacet):
    """Purposes, legal basis, retention and data categories of a dataset version (or of the
    dataset a model was trained on), as attested in the audit log."""

    purposes: list[str] = attr.field(factory=list)
    dataCategories: list[str] = attr.field(factory=list)  # noqa: N815 - OpenLineage's camelCase
    datasetId: str | None = None  # noqa: N815
    owner: str | None = None
    legalBasis: str | None = None  # noqa: N815
    retentionDays: int | None = None  # noqa: N815
    retainUntil: str | None = None  # noqa: N815
    classification: str | None = None
    subjectIdColumn: str | None = None  # noqa: N815
    derivedFrom: str | None = None  # noqa: N815
    versionKind: str | None = None  # noqa: N815
    contentSha256: str | None = None  # noqa: N815
    columns: dict[str, dict[str, str]] | None = None

    @staticmethod
    def _get_schema() -> str:
        return _schema_url("PrivetGovernanceDatasetFacet")


@attr.define
class PrivetProtectionDatasetFacet(DatasetFacet):
    """How a derived dataset or a model was protected: de-identification or DP."""

    kind: str = "protected"
    operators: dict[str, str] | None = None
    levels: dict[str, int] | None = None
    k: int | None = None
    l: int | None = None  # noqa: E741 - ℓ-diversity's name
    t: float | None = None
    kAchieved: int | None = None  # noqa: N815
    lAchieved: int | None = None  # noqa: N815
    tAchieved: float | None = None  # noqa: N815
    suppressedRows: int | None = None  # noqa: N815
    maxSuppression: float | None = None  # noqa: N815
    differentiallyPrivate: bool | None = None  # noqa: N815
    epsilon: float | None = None
    delta: float | None = None
    method: str | None = None
    guarantee: str | None = None
    release: str | None = None
    architecture: str | None = None
    task: str | None = None
    target: str | None = None
    features: list[str] | None = None

    @staticmethod
    def _get_schema() -> str:
        return _schema_url("PrivetProtectionDatasetFacet")


@attr.define
class PrivetRunFacet(RunFacet):
    """The audit-log entry a run comes from (provable by its index), who acted and why."""

    logIndex: int = 0  # noqa: N815
    leafHash: str = ""  # noqa: N815
    entry: str = ""
    actor: str = ""
    logOrigin: str | None = None  # noqa: N815
    purpose: str | None = None
    channel: str | None = None
    view: str | None = None
    basis: str | None = None
    grant: str | None = None
    rows: int | None = None
    columns: int | None = None
    epsilon: float | None = None
    delta: float | None = None
    mechanism: str | None = None
    release: str | None = None
    auditKind: str | None = None  # noqa: N815
    measures: dict[str, float] | None = None
    reason: str | None = None
    request: str | None = None
    rowsRemoved: int | None = None  # noqa: N815
    querySha256: str | None = None  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return _schema_url("PrivetRunFacet")


@cache
def facet_schemas() -> dict[str, dict[str, Any]]:
    """The JSON schema of each custom facet by its ``$id`` (read from the package)."""
    found = {}
    for item in files("privet.account").joinpath("schemas").iterdir():
        if item.name.endswith(".json"):
            schema = json.loads(item.read_text(encoding="utf-8"))
            found[schema["$id"]] = schema
    return found
