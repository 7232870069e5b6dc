"""One run as its two RunEvents: a START naming the job and its inputs, then a COMPLETE (or,
for a refused entry, a FAIL) that adds the outputs.

OpenLineage's run-state model asks for one START and one terminal event per run, and BATCH
jobs (``jobType``) are described as emitting both. The log records an operation once, when
it committed, so both carry that entry's time. The run's id is derived from the workspace id
and the entry's index (the client's ``generate_static_uuid``: a UUIDv7 ordered by time whose
random bits are a hash of that data), so exporting twice gives the same events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import job_type_job, processing_engine_run
from openlineage.client.uuid import generate_static_uuid

from privet import auditlog
from privet.account._facets import PRODUCER, RUN, PrivetRunFacet, privet_version
from privet.account._lineage_values import as_int, as_num, as_str

if TYPE_CHECKING:
    from openlineage.client.generated.base import RunFacet


@dataclass(frozen=True)
class Origin:
    """The workspace whose log the runs come from."""

    workspace: str  # its id
    log: str  # the audit log's origin, which a run's privet_run facet names

    @property
    def namespace(self) -> str:
        return f"privet://{self.workspace}"


def run_events(
    origin: Origin,
    record: auditlog.Record,
    activity: str,
    subject: str,
    inputs: list[InputDataset],
    outputs: list[OutputDataset],
) -> list[RunEvent]:
    """The job ``ACTIVITY/SUBJECT``'s run for one log entry, as START and COMPLETE/FAIL."""
    entry = record.event
    when = str(entry["ts"])
    run_id = generate_static_uuid(
        instant=datetime.fromisoformat(when),
        data=f"{origin.workspace}/{record.index}".encode(),
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
            logOrigin=origin.log,
            entry=str(entry.get("event")),
            actor=str(entry.get("actor", "")),
            purpose=as_str(entry.get("purpose")),
            channel=as_str(entry.get("channel")),
            view=as_str(entry.get("view")),
            basis=as_str(entry.get("basis")),
            grant=as_str(entry.get("grant")),
            rows=as_int(entry.get("rows")),
            columns=as_int(entry.get("columns")),
            epsilon=as_num(entry.get("epsilon")) if entry.get("event") == "dp.release" else None,
            delta=as_num(entry.get("delta")) if entry.get("event") == "dp.release" else None,
            mechanism=as_str(entry.get("mechanism")),
            release=as_str(entry.get("release")),
            auditKind=as_str(entry.get("kind")) if measures is not None else None,
            measures=measures,
            reason=as_str(entry.get("reason")),
            request=as_str(entry.get("request")),
            rowsRemoved=as_int(entry.get("rows_removed")),
            querySha256=as_str(entry.get("query_sha256")),
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
        namespace=origin.namespace,
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
    refused = str(entry.get("event", "")).endswith(".refused")
    return [
        RunEvent(
            eventType=RunState.START,
            eventTime=when,
            run=run,
            job=job,
            inputs=inputs,
            outputs=[],
            producer=PRODUCER,
        ),
        RunEvent(
            eventType=RunState.FAIL if refused else RunState.COMPLETE,
            eventTime=when,
            run=run,
            job=job,
            inputs=inputs,
            outputs=outputs,
            producer=PRODUCER,
        ),
    ]


def _client_version() -> str | None:
    try:
        return version("openlineage-python")
    except PackageNotFoundError:  # pragma: no cover - installed with privet
        return None
