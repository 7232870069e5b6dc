"""Which audit-log entries are runs, and each activity's job, inputs and outputs.

``dataset.ingest`` is an ingest, ``dataset.derive`` a protect or a synth, ``model.train``
(and a training ``dp.release``) a train, a ``dp.release`` of a statistic a query,
``model.audit`` an audit, a ``read`` that left privet an export (a ``read.refused`` one is
a run that FAILed), and ``retention.shred``, ``erasure.shred`` and ``erasure.rewrite`` a
retention or an erase. Reads privet makes for itself are part of the run they serve.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openlineage.client.event_v2 import InputDataset, OutputDataset, RunEvent

from privet import auditlog, lineage
from privet.account._facets import GOVERNANCE, PROTECTION
from privet.account._lineage_catalog import Catalog
from privet.account._lineage_columns import derived_lineage, model_lineage
from privet.account._lineage_dataset_facets import (
    governance_facet,
    lifecycle_facet,
    model_protection_facet,
    protection_facet,
    schema_facet,
    statistics_facet,
    version_facet,
)
from privet.account._lineage_run import Origin, run_events

if TYPE_CHECKING:
    from openlineage.client.generated.base import DatasetFacet

# Reads privet makes for itself, inside another run (de-identification, DP, attacks).
_INTERNAL_CHANNELS = ("deid:", "dp:", "attacks:")


@dataclass
class Runs:
    """The runs of a log read in order; :meth:`add` takes the next entry."""

    origin: Origin
    catalog: Catalog
    edges: Mapping[int, list[lineage.Edge]]
    events: list[RunEvent] = field(default_factory=list)

    def add(self, record: auditlog.Record) -> None:
        entry = record.event
        self.catalog.attest(entry)
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
        """A version made: ingested, protected or synthesized from its source."""
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
        source_name = self.catalog.ref_name(source)
        inputs = [self._input(source)] if source else []
        name = self.catalog.version_name(version_id)
        columns = self.catalog.columns_of(version_id)
        facets: dict[str, DatasetFacet] = {
            "schema": schema_facet(columns),
            "version": version_facet(version_id),
            GOVERNANCE: governance_facet(self.catalog, str(entry["dataset"]), version_id, kind),
        }
        if source:
            facets["columnLineage"] = derived_lineage(
                self.origin.namespace,
                self.catalog,
                kind,
                source,
                source_name,
                [c for c, _ in columns],
                facts,
            )
        protection = protection_facet(kind, facts)
        if protection is not None:
            facets[PROTECTION] = protection
        output = OutputDataset(
            namespace=self.origin.namespace,
            name=name,
            facets=facets,
            outputFacets={"outputStatistics": statistics_facet(entry)},
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
        source_name = self.catalog.version_name(version_id)
        used = [*features, *([str(target)] if target else [])]
        private = bool(privacy.get("differentially_private", entry.get("event") == "dp.release"))
        name = self.catalog.model_name(model_id)
        facets: dict[str, DatasetFacet] = {
            # The model's id: its weights change when it is retrained or unlearns someone.
            "version": version_facet(model_id),
            "columnLineage": model_lineage(
                self.origin.namespace,
                source_name,
                used,
                private=private,
                epsilon=privacy.get("epsilon"),
            ),
            PROTECTION: model_protection_facet(
                card, private=private, features=features, release=entry.get("release")
            ),
        }
        dataset_id = str(entry.get("dataset") or (row.dataset_id if row is not None else ""))
        if dataset_id:
            facets[GOVERNANCE] = governance_facet(
                self.catalog, dataset_id, None, "model", only=used, columns_of=version_id
            )
        output = OutputDataset(namespace=self.origin.namespace, name=name, facets=facets)
        self._run(record, "train", name.removeprefix("model:"), [self._input(source)], [output])

    def _audit(self, record: auditlog.Record) -> None:
        entry = record.event
        model_ref = f"model:{entry['model']}"
        name = self.catalog.model_name(str(entry["model"]))
        self._run(record, "audit", name.removeprefix("model:"), [self._input(model_ref)], [])

    def _query(self, record: auditlog.Record) -> None:
        """A DP statistic released (``privet query``): its output is the release."""
        entry = record.event
        version_id = str(entry["version"])
        output = OutputDataset(namespace=self.origin.namespace, name=f"release:{entry['release']}")
        subject = self.catalog.version_name(version_id).rsplit("@", 1)[0]
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
        name = self.catalog.version_name(version_id)
        outputs = []
        if entry["event"] == "read":
            outputs.append(
                OutputDataset(
                    namespace=self.origin.namespace,
                    name=f"export:{record.index}",
                    outputFacets={"outputStatistics": statistics_facet(entry)},
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
            subject = self.catalog.model_name(str(entry["model"])).removeprefix("model:")
        else:
            ref = lineage.version_ref(str(entry["version"]))
            subject = self.catalog.version_name(str(entry["version"])).rsplit("@", 1)[0]
        change = "OVERWRITE" if entry["event"] == "erasure.rewrite" else "DROP"
        target = self._input(ref)
        facets: dict[str, DatasetFacet] = {
            **(target.facets or {}),
            "lifecycleStateChange": lifecycle_facet(change),
        }
        output = OutputDataset(namespace=self.origin.namespace, name=target.name, facets=facets)
        if change == "OVERWRITE":
            state = self.catalog.version_states.get(str(entry["version"])) or {}
            output.outputFacets = {"outputStatistics": statistics_facet(state)}
        activity = "retention" if entry["event"] == "retention.shred" else "erase"
        self._run(record, activity, subject, [target], [output])

    def _input(self, ref: str) -> InputDataset:
        facets: dict[str, DatasetFacet] = {}
        if ref.startswith("version:"):
            facets["version"] = version_facet(ref.removeprefix("version:"))
        return InputDataset(
            namespace=self.origin.namespace, name=self.catalog.ref_name(ref), facets=facets
        )

    def _run(
        self,
        record: auditlog.Record,
        activity: str,
        subject: str,
        inputs: list[InputDataset],
        outputs: list[OutputDataset],
    ) -> None:
        self.events.extend(run_events(self.origin, record, activity, subject, inputs, outputs))
