"""OpenLineage RunEvents from the audit log and the lineage graph.

Each entry of the audit log that made or moved data becomes one run: ``dataset.ingest``
(ingest), ``dataset.derive`` (protect, synth), ``dp.release`` of a model and ``model.train``
(train), ``dp.release`` of a statistic (query), ``model.audit`` (audit) and a ``read`` that
left privet (export: a file, the HTTP
API, a library caller; a ``read.refused`` one is a run that FAILed). Reads privet makes for
itself (de-identification, DP, attacks) are part of the run they serve and are not runs of
their own. Forgetting is lineage too: ``retention.shred`` and ``erasure.shred`` drop a
version or a model, ``erasure.rewrite`` overwrites a version (lifecycleStateChange facet).

Every run is a START and a COMPLETE (or FAIL) event: OpenLineage's run-state model asks for
one START and one terminal event per run, and BATCH jobs (``jobType``) are described as
emitting both. The log records an operation once, when it committed, so both carry that
entry's time; the START names the job and its inputs, the COMPLETE adds the outputs and
their facets.

Identifiers are stable: the namespace is ``privet://<workspace id>``; a version is the
dataset ``NAME@N``, a model ``model:NAME``, an ingested file ``file:sha256:HEX``, an export
``export:INDEX``, a DP statistic ``release:ID``. So raw → protected → model → synthetic is
one graph joined by shared dataset names. A run's id is derived from the workspace id and
the entry's index (with the client's ``generate_static_uuid``: a UUIDv7 ordered by time
whose random bits are a hash of that data), so exporting twice gives the same events.

Facts come from the log itself (each ingest and derive entry attests the dataset's and the
version's governance state as they were) and from lineage facts (operators, k, ε). Only
names, ids, counts, parameters and categories go out: never a cell value, and never the
parts of lineage facts that could hold one (a synthetic column's domain, a model's levels).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from openlineage.client.event_v2 import (
    InputDataset,
    Job,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
)
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    dataset_version_dataset,
    job_type_job,
    lifecycle_state_change_dataset,
    output_statistics_output_dataset,
    processing_engine_run,
    schema_dataset,
)
from openlineage.client.serde import Serde
from openlineage.client.transport.transport import Transport
from openlineage.client.uuid import generate_static_uuid
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from privet import auditlog, lineage, tables
from privet.account._facets import (
    GOVERNANCE,
    PRODUCER,
    PROTECTION,
    RUN,
    PrivetGovernanceDatasetFacet,
    PrivetProtectionDatasetFacet,
    PrivetRunFacet,
    privet_version,
)
from privet.catalog import SUBJECT_LINK
from privet.errors import AlreadyExists, InvalidInput, NotFound, PrivetError
from privet.schema import Column, Dataset, DpModel, Version

if TYPE_CHECKING:
    from openlineage.client.generated.base import DatasetFacet, RunFacet

    from privet.core import Core

ColumnLineage = column_lineage_dataset.ColumnLineageDatasetFacet
Transformation = column_lineage_dataset.Transformation
InputField = column_lineage_dataset.InputField
OutputStatistics = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet

# Reads privet makes for itself, inside another run (de-identification, DP, attacks).
_INTERNAL_CHANNELS = ("deid:", "dp:", "attacks:")
_PAGE = 5000

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


class LineageExport(BaseModel):
    """What an export sent: how many events (two per run), where, and their hash."""

    model_config = ConfigDict(frozen=True)

    events: int = Field(
        description="RunEvents written or accepted (a START and a COMPLETE or FAIL per run)"
    )
    runs: int
    destination: str = Field(description="file:NAME, stream, or http:SCHEME://HOST[:PORT]")
    sha256: str = Field(description="SHA-256 of the events as JSON lines, each ending in \\n")


@dataclass
class _Catalog:
    """Names of what the log refers to by id (tombstones included)."""

    datasets: dict[str, str] = field(default_factory=dict)
    versions: dict[str, tuple[str, int]] = field(default_factory=dict)
    columns: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    models: dict[str, DpModel] = field(default_factory=dict)


@dataclass
class _Builder:
    namespace: str
    workspace: str
    origin: str
    catalog: _Catalog
    edges: Mapping[int, list[lineage.Edge]]
    # The latest attested governance state of each dataset and version, as the log goes.
    dataset_states: dict[str, dict[str, Any]] = field(default_factory=dict)
    version_states: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[RunEvent] = field(default_factory=list)

    # -- names ---------------------------------------------------------------------------

    def dataset_name(self, dataset_id: str) -> str:
        state = self.dataset_states.get(dataset_id)
        return self.catalog.datasets.get(dataset_id) or (state or {}).get("name") or dataset_id

    def version_name(self, version_id: str) -> str:
        found = self.catalog.versions.get(version_id)
        if found is None:
            state = self.version_states.get(version_id)
            if state is None:
                return f"version:{version_id}"
            found = (state["dataset"], state["number"])
        return f"{self.dataset_name(found[0])}@{found[1]}"

    def model_name(self, model_id: str) -> str:
        row = self.catalog.models.get(model_id)
        return f"model:{row.name if row is not None else model_id}"

    def ref_name(self, ref: str) -> str:
        """A lineage ref (``version:…``, ``model:…``, ``file:sha256:…``) as a dataset name."""
        if ref.startswith("version:"):
            return self.version_name(ref.removeprefix("version:"))
        if ref.startswith("model:"):
            return self.model_name(ref.removeprefix("model:"))
        return ref

    # -- entries -------------------------------------------------------------------------

    def add(self, record: auditlog.Record) -> None:
        entry = record.event
        for item in entry.get("governance") or []:
            if isinstance(item, dict) and isinstance(item.get("state"), dict):
                states = {"dataset": self.dataset_states, "version": self.version_states}
                if item.get("kind") in states:
                    states[item["kind"]][item["key"]] = item["state"]
        event = entry.get("event")
        if event in ("dataset.ingest", "dataset.derive"):
            self._version(record)
        elif event == "model.train" or (event == "dp.release" and entry.get("kind") == "train"):
            self._train(record)
        elif event == "dp.release" and entry.get("query_sha256"):
            self._query(record)
        elif event == "model.audit":
            self._audit(record)
        elif event in ("read", "read.refused") and not str(entry.get("channel", "")).startswith(
            _INTERNAL_CHANNELS
        ):
            self._export(record)
        elif event in ("retention.shred", "erasure.shred", "erasure.rewrite"):
            self._forget(record)

    def _version(self, record: auditlog.Record) -> None:
        entry = record.event
        version_id = str(entry["version"])
        kind = str(entry.get("kind", "derived"))
        edge = next(
            (e for e in self.edges.get(record.index, []) if e.target == f"version:{version_id}"),
            None,
        )
        source = edge.source if edge is not None else str(entry.get("source", ""))
        facts = edge.facts if edge is not None else {}
        activity = {"ingest": "ingest", "protected": "protect"}.get(kind, kind)
        if kind in ("synthetic", "baseline"):
            activity = "synth"
        source_name = self.ref_name(source)
        inputs = [self._input(source)] if source else []
        name = self.version_name(version_id)
        columns = self._columns(version_id)
        facets: dict[str, DatasetFacet] = {
            "schema": schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(
                        name=column, type=dtype, ordinal_position=position
                    )
                    for position, (column, dtype) in enumerate(columns, start=1)
                ],
                producer=PRODUCER,
            ),
            "version": dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=version_id, producer=PRODUCER
            ),
            GOVERNANCE: self._governance(str(entry["dataset"]), version_id, kind),
        }
        if source:
            facets["columnLineage"] = self._column_lineage(
                kind, source, source_name, [c for c, _ in columns], facts
            )
        protection = _protection(kind, facts)
        if protection is not None:
            facets[PROTECTION] = protection
        output = OutputDataset(
            namespace=self.namespace,
            name=name,
            facets=facets,
            outputFacets={"outputStatistics": _statistics(entry)},
        )
        self._run(record, activity, name.rsplit("@", 1)[0], inputs, [output])

    def _train(self, record: auditlog.Record) -> None:
        entry = record.event
        if not entry.get("model") or not entry.get("version"):
            return
        model_id = str(entry["model"])
        version_id = str(entry["version"])
        row = self.catalog.models.get(model_id)
        card: dict[str, Any] = dict(row.card) if row is not None else {}
        privacy = card.get("privacy") or {}
        features = [str(f["name"]) for f in card.get("features") or [] if "name" in f]
        target = card.get("target")
        source = lineage.version_ref(version_id)
        source_name = self.version_name(version_id)
        used = [*features, *([str(target)] if target else [])]
        private = bool(privacy.get("differentially_private", entry.get("event") == "dp.release"))
        how = (
            f"model weights fitted with DP-SGD (ε = {_short(privacy.get('epsilon'))})"
            if private
            else "model weights fitted without differential privacy"
        )
        name = self.model_name(model_id)
        facets: dict[str, DatasetFacet] = {
            # The model's id: its weights change when it is retrained or unlearns someone.
            "version": dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=model_id, producer=PRODUCER
            ),
            "columnLineage": ColumnLineage(
                fields={},
                dataset=[
                    InputField(
                        namespace=self.namespace,
                        name=source_name,
                        field=column,
                        transformations=[
                            Transformation(
                                type="INDIRECT",
                                subtype="AGGREGATION",
                                description=how,
                                masking=private,
                            )
                        ],
                    )  # fmt: skip
                    for column in used
                ],
                producer=PRODUCER,
            ),
            PROTECTION: PrivetProtectionDatasetFacet(
                kind="model",
                differentiallyPrivate=private,
                epsilon=_num(privacy.get("epsilon")),
                delta=_num(privacy.get("delta")),
                architecture=_str(card.get("architecture")),
                task=_str(card.get("task")),
                target=_str(target),
                features=features or None,
                release=_str(entry.get("release")),
                producer=PRODUCER,
            ),
        }
        dataset_id = str(entry.get("dataset") or (row.dataset_id if row is not None else ""))
        if dataset_id:
            facets[GOVERNANCE] = self._governance(
                dataset_id, None, "model", only=used, columns_of=version_id
            )
        output = OutputDataset(namespace=self.namespace, name=name, facets=facets)
        self._run(record, "train", name.removeprefix("model:"), [self._input(source)], [output])

    def _audit(self, record: auditlog.Record) -> None:
        entry = record.event
        model_ref = f"model:{entry['model']}"
        name = self.model_name(str(entry["model"]))
        self._run(record, "audit", name.removeprefix("model:"), [self._input(model_ref)], [])

    def _query(self, record: auditlog.Record) -> None:
        """A DP statistic released (``privet query``): its output is the release."""
        entry = record.event
        version_id = str(entry["version"])
        output = OutputDataset(namespace=self.namespace, name=f"release:{entry['release']}")
        subject = self.version_name(version_id).rsplit("@", 1)[0]
        self._run(
            record, "query", subject, [self._input(lineage.version_ref(version_id))], [output]
        )

    def _export(self, record: auditlog.Record) -> None:
        """A read that left privet; a refused one is a run that FAILed, without output."""
        entry = record.event
        if not entry.get("version"):
            return
        version_id = str(entry["version"])
        source = lineage.version_ref(version_id)
        name = self.version_name(version_id)
        outputs = []
        if entry["event"] == "read":
            outputs.append(
                OutputDataset(
                    namespace=self.namespace,
                    name=f"export:{record.index}",
                    outputFacets={"outputStatistics": _statistics(entry)},
                )
            )
        subject = name.rsplit("@", 1)[0]
        self._run(record, "export", subject, [self._input(source)], outputs)

    def _forget(self, record: auditlog.Record) -> None:
        """Retention or an erasure destroyed a version or a model (DROP), or rewrote a
        version without an erased subject's rows (OVERWRITE: same version, new content)."""
        entry = record.event
        if entry.get("model"):
            ref = f"model:{entry['model']}"
            subject = self.model_name(str(entry["model"])).removeprefix("model:")
        else:
            ref = lineage.version_ref(str(entry["version"]))
            subject = self.version_name(str(entry["version"])).rsplit("@", 1)[0]
        change = "OVERWRITE" if entry["event"] == "erasure.rewrite" else "DROP"
        target = self._input(ref)
        facets: dict[str, DatasetFacet] = {
            **(target.facets or {}),
            "lifecycleStateChange": lifecycle_state_change_dataset.LifecycleStateChangeDatasetFacet(
                lifecycleStateChange=lifecycle_state_change_dataset.LifecycleStateChange(change),
                producer=PRODUCER,
            ),
        }
        output = OutputDataset(namespace=self.namespace, name=target.name, facets=facets)
        if change == "OVERWRITE":
            state = self.version_states.get(str(entry["version"])) or {}
            output.outputFacets = {"outputStatistics": _statistics(state)}
        activity = "retention" if entry["event"] == "retention.shred" else "erase"
        self._run(record, activity, subject, [target], [output])

    # -- parts ---------------------------------------------------------------------------

    def _input(self, ref: str) -> InputDataset:
        facets: dict[str, DatasetFacet] = {}
        if ref.startswith("version:"):
            facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=ref.removeprefix("version:"), producer=PRODUCER
            )
        return InputDataset(namespace=self.namespace, name=self.ref_name(ref), facets=facets)

    def _columns(self, version_id: str) -> list[tuple[str, str]]:
        stored = self.catalog.columns.get(version_id)
        if stored:
            return stored
        state = self.version_states.get(version_id) or {}
        return [(c, str(v.get("dtype"))) for c, v in (state.get("columns") or {}).items()]

    def _governance(
        self,
        dataset_id: str,
        version_id: str | None,
        kind: str,
        *,
        only: Sequence[str] | None = None,
        columns_of: str | None = None,
    ) -> PrivetGovernanceDatasetFacet:
        """``columns_of``: the version whose columns describe it (a model: the version it
        was trained on, of which ``only`` the columns it used)."""
        dataset = self.dataset_states.get(dataset_id) or {}
        version = self.version_states.get(version_id or "") or {}
        columns: dict[str, dict[str, str]] = {}
        described = (self.version_states.get(columns_of or "") or version).get("columns") or {}
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
            owner=_str(dataset.get("owner")),
            purposes=[str(p) for p in dataset.get("purposes") or []],
            legalBasis=_str(dataset.get("legal_basis")),
            retentionDays=_int(retention),
            retainUntil=until,
            classification=_str(dataset.get("classification")),
            subjectIdColumn=_str(dataset.get("subject_id")),
            derivedFrom=self.dataset_name(str(derived)) if derived else None,
            versionKind=kind,
            contentSha256=_str(version.get("content_sha256")),
            dataCategories=sorted({c["category"] for c in columns.values() if "category" in c}),
            columns=columns,
            producer=PRODUCER,
        )

    def _column_lineage(
        self,
        kind: str,
        source: str,
        source_name: str,
        columns: Sequence[str],
        facts: Mapping[str, Any],
    ) -> column_lineage_dataset.ColumnLineageDatasetFacet:
        def field_from(
            column: str, subtype: str, description: str, masking: bool, kind_: str = "DIRECT"
        ) -> column_lineage_dataset.Fields:
            return column_lineage_dataset.Fields(
                inputFields=[
                    InputField(
                        namespace=self.namespace,
                        name=source_name,
                        field=column,
                        transformations=[
                            Transformation(
                                type=kind_,
                                subtype=subtype,
                                description=description,
                                masking=masking,
                            )
                        ],
                    )  # fmt: skip
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
            source_columns = self._source_columns(source)
            for column in columns:
                if column == SUBJECT_LINK:
                    link_from = SUBJECT_LINK if SUBJECT_LINK in source_columns else None
                    link_from = link_from or self._subject_of(source)
                    if link_from:
                        fields[column] = field_from(
                            link_from,
                            "TRANSFORMATION",
                            "keyed link to the person (for erasure and DP), never shown",
                            True,
                        )
                    continue
                operator = str(operators.get(column, "keep"))
                level = _int(levels.get(column)) or 0
                subtype, description, masking = _OPERATORS.get(
                    operator, ("TRANSFORMATION", operator, True)
                )
                if level > 0:
                    subtype, masking = "TRANSFORMATION", True
                    description = f"generalized to level {level} of its hierarchy"
                fields[column] = field_from(column, subtype, description, masking)
            suppressed = _int(facts.get("suppressed")) or 0
            if suppressed:
                target = f" to reach k = {facts['k']}" if facts.get("k") else ""
                for column in levels:
                    whole.append(
                        InputField(
                            namespace=self.namespace,
                            name=source_name,
                            field=str(column),
                            transformations=[
                                Transformation(
                                    type="INDIRECT",
                                    subtype="FILTER",
                                    description=f"{suppressed} row(s) suppressed{target}",
                                    masking=False,
                                )
                            ],
                        )
                    )
        elif kind in ("synthetic", "baseline"):
            if facts.get("differentially_private"):
                epsilon, delta = _short(facts.get("epsilon")), _short(facts.get("delta"))
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
                if column in self._source_columns(source):
                    fields[column] = field_from(column, "TRANSFORMATION", f"derived ({kind})", True)
        return ColumnLineage(fields=fields, dataset=whole, producer=PRODUCER)

    def _source_columns(self, source: str) -> set[str]:
        if not source.startswith("version:"):
            return set()
        return {c for c, _ in self._columns(source.removeprefix("version:"))}

    def _subject_of(self, source: str) -> str | None:
        version = self.version_states.get(source.removeprefix("version:")) or {}
        dataset = self.dataset_states.get(str(version.get("dataset"))) or {}
        subject = dataset.get("subject_id")
        return str(subject) if subject else None

    def _run(
        self,
        record: auditlog.Record,
        activity: str,
        subject: str,
        inputs: list[InputDataset],
        outputs: list[OutputDataset],
    ) -> None:
        entry = record.event
        when = str(entry["ts"])
        run_id = generate_static_uuid(
            instant=datetime.fromisoformat(when),
            data=f"{self.workspace}/{record.index}".encode(),
        )
        measures = None
        if entry.get("event") == "model.audit":
            skip = {"event", "ts", "actor", "model", "kind"}
            measures = {
                k: float(v)
                for k, v in entry.items()
                if k not in skip and isinstance(v, int | float) and not isinstance(v, bool)
            }
        run_facets: dict[str, RunFacet] = {
            RUN: PrivetRunFacet(
                logIndex=record.index,
                leafHash=record.leaf_hash.hex(),
                logOrigin=self.origin,
                entry=str(entry.get("event")),
                actor=str(entry.get("actor", "")),
                purpose=_str(entry.get("purpose")),
                channel=_str(entry.get("channel")),
                view=_str(entry.get("view")),
                basis=_str(entry.get("basis")),
                grant=_str(entry.get("grant")),
                rows=_int(entry.get("rows")),
                columns=_int(entry.get("columns")),
                epsilon=_num(entry.get("epsilon")) if entry.get("event") == "dp.release" else None,
                delta=_num(entry.get("delta")) if entry.get("event") == "dp.release" else None,
                mechanism=_str(entry.get("mechanism")),
                release=_str(entry.get("release")),
                auditKind=_str(entry.get("kind")) if measures is not None else None,
                measures=measures,
                reason=_str(entry.get("reason")),
                request=_str(entry.get("request")),
                rowsRemoved=_int(entry.get("rows_removed")),
                querySha256=_str(entry.get("query_sha256")),
                producer=PRODUCER,
            ),
            "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                version=privet_version(),
                name="privet",
                openlineageAdapterVersion=_client_version(),
                producer=PRODUCER,
            ),
        }
        job = Job(
            namespace=self.namespace,
            name=f"{activity}/{subject}",
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH",
                    integration="PRIVET",
                    jobType=activity.upper(),
                    producer=PRODUCER,
                )
            },
        )
        run = Run(runId=str(run_id), facets=run_facets)
        self.events.append(
            RunEvent(
                eventType=RunState.START,
                eventTime=when,
                run=run,
                job=job,
                inputs=inputs,
                outputs=[],
                producer=PRODUCER,
            )
        )
        refused = str(entry.get("event", "")).endswith(".refused")
        self.events.append(
            RunEvent(
                eventType=RunState.FAIL if refused else RunState.COMPLETE,
                eventTime=when,
                run=run,
                job=job,
                inputs=inputs,
                outputs=outputs,
                producer=PRODUCER,
            )
        )


def _protection(kind: str, facts: Mapping[str, Any]) -> PrivetProtectionDatasetFacet | None:
    """The protection facet of a derived version, from its lineage facts (parameters and
    counts only: a synthetic version's ``domains`` hold values and stay out)."""
    if kind == "protected":
        return PrivetProtectionDatasetFacet(
            kind=kind,
            operators={str(k): str(v) for k, v in (facts.get("operators") or {}).items()},
            levels={str(k): int(v) for k, v in (facts.get("levels") or {}).items()},
            k=_int(facts.get("k")),
            l=_int(facts.get("l")),
            t=_num(facts.get("t")),
            kAchieved=_int(facts.get("k_achieved")),
            lAchieved=_int(facts.get("l_achieved")),
            tAchieved=_num(facts.get("t_achieved")),
            suppressedRows=_int(facts.get("suppressed")),
            maxSuppression=_num(facts.get("max_suppression")),
            producer=PRODUCER,
        )
    if kind in ("synthetic", "baseline"):
        private = bool(facts.get("differentially_private"))
        return PrivetProtectionDatasetFacet(
            kind=kind,
            differentiallyPrivate=private,
            epsilon=_num(facts.get("epsilon")),
            delta=_num(facts.get("delta")),
            method=_str(facts.get("method")),
            guarantee=_str(facts.get("guarantee")),
            release=_str(facts.get("release")),
            producer=PRODUCER,
        )
    return None


def _statistics(entry: Mapping[str, Any]) -> OutputStatistics:
    return OutputStatistics(rowCount=_int(entry.get("rows")), producer=PRODUCER)


def _short(value: object) -> str:
    """A parameter for a sentence (the exact value is in the facet's own field)."""
    number = _num(value)
    return "?" if number is None else f"{number:.3g}"


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _client_version() -> str | None:
    try:
        return version("openlineage-python")
    except PackageNotFoundError:  # pragma: no cover - installed with privet
        return None


# -- building ------------------------------------------------------------------------------


def _catalog(core: Core) -> _Catalog:
    found = _Catalog()
    with core.reading() as session:
        found.datasets = dict(session.execute(select(Dataset.id, Dataset.name)).all())
        for version_id, dataset_id, number in session.execute(
            select(Version.id, Version.dataset_id, Version.number)
        ):
            found.versions[version_id] = (dataset_id, number)
        for version_id, name, dtype in session.execute(
            select(Column.version_id, Column.name, Column.dtype).order_by(
                Column.version_id, Column.position
            )
        ):
            found.columns.setdefault(version_id, []).append((name, dtype))
        for row in session.scalars(select(DpModel)):
            session.expunge(row)
            found.models[row.id] = row
    return found


def events(core: Core) -> list[RunEvent]:
    """The workspace's runs as OpenLineage RunEvents (a START and a COMPLETE each), in log
    order; the same log gives the same events."""
    with core.reading() as session:
        edges: dict[int, list[lineage.Edge]] = defaultdict(list)
        for edge in lineage.all_edges(session):
            edges[edge.log_index].append(edge)
    builder = _Builder(
        namespace=f"privet://{core.config.id}",
        workspace=core.config.id,
        origin=core.log.origin,
        catalog=_catalog(core),
        edges=edges,
    )
    start = 0
    while True:
        size, page = core.log.page(start, _PAGE)
        for record in page:
            builder.add(record)
        start += len(page)
        if not page or start >= size:
            return builder.events


def to_json(event: RunEvent) -> str:
    """One event as the client serializes it (what a transport sends; keys sorted)."""
    return Serde.to_json(event)


# -- transports ----------------------------------------------------------------------------


class _LinesTransport(Transport):
    """Newline-delimited JSON into a writer, serialized as every OpenLineage transport does."""

    kind = "privet-ndjson"

    def __init__(self, write: Callable[[str], object]) -> None:
        self._write = write

    def emit(self, event: Any) -> None:
        self._write(Serde.to_json(event) + "\n")


def _emit(transport: Transport, runs: Sequence[RunEvent]) -> str:
    digest = hashlib.sha256()
    for event in runs:
        transport.emit(event)
        digest.update((to_json(event) + "\n").encode())
    return digest.hexdigest()


def _runs(runs: Sequence[RunEvent]) -> int:
    return len({event.run.runId for event in runs})


def write_file(core: Core, path: Path, *, overwrite: bool = False) -> LineageExport:
    """Write the events to ``path`` as JSON lines, atomically."""
    if path.is_dir():
        raise InvalidInput(f"{path} is a directory; give a file name")
    if path.exists() and not overwrite:
        raise AlreadyExists(
            f"{path} already exists (`overwrite` replaces it)", parameter="overwrite"
        )
    if not path.parent.is_dir():
        raise NotFound(f"the folder {path.parent} does not exist")
    runs = events(core)
    with tables.atomic_file(path, mode=0o644, journal=core.journal) as out:
        digest = _emit(_LinesTransport(lambda line: out.write(line.encode("utf-8"))), runs)
    return LineageExport(
        events=len(runs), runs=_runs(runs), destination=f"file:{path.name}", sha256=digest
    )


def write_stream(core: Core, stream: IO[str]) -> LineageExport:
    """Write the events to a text stream (standard output) as JSON lines."""
    runs = events(core)
    digest = _emit(_LinesTransport(stream.write), runs)
    stream.flush()
    return LineageExport(events=len(runs), runs=_runs(runs), destination="stream", sha256=digest)


def receiver(url: str) -> tuple[str, str]:
    """``(base, endpoint)`` of an OpenLineage HTTP receiver: a bare ``http(s)://HOST[:PORT]``
    gets the standard endpoint ``api/v1/lineage`` (Marquez), a URL with a path is used as is."""
    wrong = InvalidInput(
        f"{url[:80]!r} is not an OpenLineage receiver URL; give http(s)://HOST[:PORT][/PATH]",
        parameter="url",
    )
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise wrong from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise wrong
    endpoint = parts.path.lstrip("/") or "api/v1/lineage"
    if parts.query:
        endpoint += f"?{parts.query}"
    return f"{parts.scheme}://{parts.netloc}/", endpoint


def send(core: Core, url: str, *, timeout: float = 10.0) -> LineageExport:
    """POST each event to the receiver at ``url`` with the client's HTTP transport."""
    import requests
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    base, endpoint = receiver(url)
    where = urlsplit(base)
    shown = f"{where.scheme}://{where.hostname}" + (f":{where.port}" if where.port else "")
    transport = HttpTransport(
        HttpConfig(
            url=base,
            endpoint=endpoint,
            timeout=timeout,
            # A receiver that is down fails fast: two retries on a lost connection or a 5xx.
            retry={
                "total": 2,
                "connect": 2,
                "read": 2,
                "backoff_factor": 0.2,
                "status_forcelist": [500, 502, 503, 504],
                "allowed_methods": ["HEAD", "POST"],
            },
        )
    )
    runs = events(core)
    sent = 0
    try:
        digest = hashlib.sha256()
        for event in runs:
            transport.emit(event)
            digest.update((to_json(event) + "\n").encode())
            sent += 1
    except requests.HTTPError as err:
        status = err.response.status_code if err.response is not None else "an error"
        raise PrivetError(
            f"the OpenLineage receiver at {shown} answered HTTP {status} "
            f"(after {sent} of {len(runs)} event(s) were accepted)"
        ) from None
    except requests.RequestException as err:
        reason = "could not be reached"
        if isinstance(err, requests.Timeout):
            reason = "timed out"
        elif isinstance(err, requests.exceptions.SSLError):
            reason = "has a TLS certificate this machine does not trust"
        raise PrivetError(
            f"the OpenLineage receiver at {shown} {reason} "
            f"(after {sent} of {len(runs)} event(s) were accepted)"
        ) from None
    finally:
        transport.close()
    return LineageExport(
        events=len(runs), runs=_runs(runs), destination=f"http:{shown}", sha256=digest.hexdigest()
    )


def record_export(core: Core, result: LineageExport, *, actor: str) -> None:
    """The export's audit-log entry (where to, how many events, their hash)."""
    with core.session() as session:
        auditlog.append(
            session,
            [
                auditlog.events.lineage_export(
                    ts=core.now(),
                    actor=actor,
                    destination=result.destination,
                    events=result.events,
                    runs=result.runs,
                    sha256=result.sha256,
                )
            ],
        )
        session.commit()


def lines(runs: Sequence[RunEvent]) -> Iterator[str]:
    """Each event as one JSON line (without its newline)."""
    return (to_json(event) for event in runs)
