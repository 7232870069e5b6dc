"""The actor's (or token's) audit entries, sorted into reads by version served, exports
and the entries that made something (read by ``_incident_made``).

- **Entries.** The access index (``access_events``, written with every append of a read,
  release, model or derivation entry) gives the log indexes of the actor's (or token's)
  entries in the window in one range scan; only those entries are parsed.
- **Columns.** A read entry names the version served and the view. The columns are that
  version's columns (privet's own link column excluded); for the ``masked`` and
  ``pseudonymized`` views the direct identifiers are marked masked (the broker masks them
  in every such read).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select, text

from privet import auditlog
from privet.account._incident_categories import is_special
from privet.account._incident_models import Basis, ColumnRead, ExportRead, VersionRead
from privet.catalog import INTERNAL_PURPOSES, is_reserved
from privet.schema import Dataset, Version

# Channels on which the actor received no rows: DP releases (noisy statistics, models,
# synthetic data) and privet writing a derived dataset into the catalog.
_PROCESSING_PREFIXES = ("dp:", "deid:derive", "incident:")

_ENTRIES = text(
    "SELECT e.idx, e.data FROM access_events a JOIN log_entries e ON e.idx = a.log_index "
    "WHERE {where} AND a.ts >= :since AND a.ts < :until AND a.log_index < :size "
    "ORDER BY a.log_index"
)


def logged_entries(
    session: Any,
    by: Literal["actor", "token"],
    key: str,
    since: datetime | None,
    until: datetime,
    size: int,
) -> list[tuple[int, dict[str, Any]]]:
    """The log entries (index, parsed entry) whose ``by`` is ``key`` in [``since``,
    ``until``), among the first ``size`` entries of the log."""
    found = session.execute(
        text(_ENTRIES.text.format(where=f"a.{by} = :key")),
        {
            "key": key,
            "since": auditlog.micros(since) if since else -(2**62),
            "until": auditlog.micros(until),
            "size": size,
        },
    ).all()
    return [(int(index), json.loads(bytes(data))) for index, data in found]


class _Reads:
    """The reads of one served version, gathered."""

    def __init__(self) -> None:
        self.served = ""  # the dataset the rows came from (a derived copy for some views)
        self.asked: set[str] = set()
        self.views: set[str] = set()
        self.purposes: set[str] = set()
        self.channels: set[str] = set()
        self.reads = 0
        self.rows = 0
        self.max_rows = 0
        self.disclosed = False
        self.disclosed_max = 0
        self.disclosed_rows = 0
        self.disclosed_views: set[str] = set()
        self.first: datetime | None = None
        self.last: datetime | None = None


class Work:
    """The actor's entries sorted into reads, exports and what they made."""

    def __init__(self, session: Any, actor: str, entries: list[tuple[int, dict[str, Any]]]):
        self.session = session
        self.actor = actor
        self.reads = 0
        self.refused = 0
        self.purposes: set[str] = set()
        self.read_indexes: set[int] = set()
        self.by_version: dict[str, _Reads] = defaultdict(_Reads)
        self.made_entries: list[tuple[int, dict[str, Any]]] = []
        raw_exports: list[tuple[int, dict[str, Any]]] = []
        for index, entry in entries:
            kind = entry.get("event")
            if kind == "read.refused":
                self.refused += 1
            elif kind == "read":
                self._read(index, entry)
                if _exported(entry["channel"]):
                    raw_exports.append((index, entry))
            elif kind in ("dp.release", "model.train", "dataset.derive"):
                self.made_entries.append((index, entry))
        ids = {e["dataset"] for _, e in entries if isinstance(e.get("dataset"), str)}
        ids |= {e["served"] for _, e in entries if isinstance(e.get("served"), str)}
        self.datasets = {
            d.id: d for d in session.scalars(select(Dataset).where(Dataset.id.in_(ids)))
        }
        version_ids = set(self.by_version) | {
            e["version"] for _, e in self.made_entries if isinstance(e.get("version"), str)
        }
        self.versions = {
            v.id: v for v in session.scalars(select(Version).where(Version.id.in_(version_ids)))
        }
        self.exports = [self._export(i, e) for i, e in raw_exports]

    def _read(self, index: int, entry: dict[str, Any]) -> None:
        self.reads += 1
        self.read_indexes.add(index)
        ts = datetime.fromisoformat(entry["ts"])
        group = self.by_version[entry["version"]]
        group.asked.add(entry["dataset"])
        group.served = entry.get("served") or entry["dataset"]
        group.views.add(entry["view"])
        group.purposes.add(entry["purpose"])
        group.channels.add(entry["channel"])
        group.reads += 1
        rows = int(entry.get("rows", 0))
        group.rows += rows
        group.max_rows = max(group.max_rows, rows)
        if _disclosed(entry):
            group.disclosed = True
            group.disclosed_max = max(group.disclosed_max, rows)
            group.disclosed_rows += rows
            group.disclosed_views.add(entry["view"])
            self.purposes.add(entry["purpose"])
        group.first = ts if group.first is None else min(group.first, ts)
        group.last = ts if group.last is None else max(group.last, ts)

    def name(self, dataset_id: str) -> str:
        found = self.datasets.get(dataset_id)
        return found.name if found is not None else dataset_id

    def number(self, version_id: str) -> int:
        found = self.versions.get(version_id)
        return found.number if found is not None else 0

    def _export(self, index: int, entry: dict[str, Any]) -> ExportRead:
        channel = entry["channel"]
        if channel.startswith("file:"):
            destination = f"a {channel[5:]} file written by the actor (path not logged)"
        elif channel.startswith("http:"):
            destination = (
                f"HTTP download by the caller (request id {channel[5:]}, its X-Request-Id; "
                "the server's access log at that time has the client address)"
            )
        else:
            destination = f"a {channel.split(':', 1)[-1]} stream to the caller"
        return ExportRead(
            ts=datetime.fromisoformat(entry["ts"]),
            log_index=index,
            dataset=self.name(entry.get("served") or entry["dataset"]),
            version=self.number(entry["version"]),
            view=entry["view"],
            purpose=entry["purpose"],
            channel=channel,
            destination=destination,
            rows=int(entry.get("rows", 0)),
            token=entry.get("token"),
        )

    def version_reads(self, per_version: dict[str, tuple[int, Basis, bool]]) -> list[VersionRead]:
        """The reads by version served, with the people counted in ``per_version``
        (version id → distinct people, basis, exact)."""
        out = []
        for version_id, group in self.by_version.items():
            version = self.versions.get(version_id)
            served = group.served
            views = group.disclosed_views or group.views
            columns = [] if version is None else _columns(version, views)
            people = per_version.get(version_id)
            out.append(
                VersionRead(
                    dataset=self.name(served),
                    dataset_id=served,
                    version=version.number if version else 0,
                    version_id=version_id,
                    kind=version.kind if version else "unknown",
                    asked=sorted(self.name(a) for a in group.asked),
                    views=sorted(views),
                    purposes=sorted(group.purposes),
                    channels=sorted(group.channels),
                    reads=group.reads,
                    rows=group.disclosed_rows,
                    processed_rows=group.rows - group.disclosed_rows,
                    max_rows=group.max_rows,
                    version_rows=version.row_count if version else 0,
                    disclosed=group.disclosed,
                    columns=columns,
                    subjects=people[0] if people and group.disclosed else None,
                    subject_basis=people[1] if people else "unknown",
                    subjects_exact=bool(people and people[2]),
                    first_read=group.first or datetime.now(UTC),
                    last_read=group.last or datetime.now(UTC),
                )
            )
        out.sort(key=lambda v: (v.dataset, v.version))
        return out


def _disclosed(entry: dict[str, Any]) -> bool:
    """Did the rows of this read reach the actor (not only a DP release or the catalog)?"""
    channel = str(entry.get("channel", ""))
    return entry.get("purpose") not in INTERNAL_PURPOSES and not channel.startswith(
        _PROCESSING_PREFIXES
    )


def _exported(channel: str) -> bool:
    return channel.startswith(("file:", "http:", "stream:"))


def _columns(version: Version, views: Iterable[str]) -> list[ColumnRead]:
    # A masked or pseudonymized read hides direct identifiers; a raw read of the same
    # version in the window shows them, so "masked" holds only when every read masked.
    masking = set(views) <= {"masked", "pseudonymized"}
    return [
        ColumnRead(
            name=c.name,
            category=c.category,
            role=c.role,
            masked=masking and c.role == "direct_identifier",
            special=is_special(c.category),
        )
        for c in version.columns
        if not is_reserved(c.name)
    ]
