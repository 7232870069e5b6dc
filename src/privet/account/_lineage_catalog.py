"""What the audit log refers to by id: dataset names, columns and governance state.

A version is the dataset ``NAME@N``, a model ``model:NAME``; any other lineage ref (an
ingested file ``file:sha256:HEX``) is its own name. Names come from the catalog's rows
(tombstones included) and, for what is gone from it, from the governance state the log's
entries attest, which :meth:`Catalog.attest` follows as the log is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from privet.schema import Column, Dataset, DpModel, Version

if TYPE_CHECKING:
    from privet.core import Core


@dataclass
class Catalog:
    """Names of what the log refers to by id, and the latest attested state of each."""

    datasets: dict[str, str] = field(default_factory=dict)
    versions: dict[str, tuple[str, int]] = field(default_factory=dict)
    columns: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    models: dict[str, DpModel] = field(default_factory=dict)
    # The latest attested governance state of each dataset and version, as the log goes.
    dataset_states: dict[str, dict[str, Any]] = field(default_factory=dict)
    version_states: dict[str, dict[str, Any]] = field(default_factory=dict)

    def attest(self, entry: Mapping[str, Any]) -> None:
        """Take in the governance state an entry attests (ingest and derive entries do)."""
        for item in entry.get("governance") or []:
            if isinstance(item, dict) and isinstance(item.get("state"), dict):
                states = {"dataset": self.dataset_states, "version": self.version_states}
                if item.get("kind") in states:
                    states[item["kind"]][item["key"]] = item["state"]

    def dataset_name(self, dataset_id: str) -> str:
        state = self.dataset_states.get(dataset_id)
        return self.datasets.get(dataset_id) or (state or {}).get("name") or dataset_id

    def version_name(self, version_id: str) -> str:
        found = self.versions.get(version_id)
        if found is None:
            state = self.version_states.get(version_id)
            if state is None:
                return f"version:{version_id}"
            found = (state["dataset"], state["number"])
        return f"{self.dataset_name(found[0])}@{found[1]}"

    def model_name(self, model_id: str) -> str:
        row = self.models.get(model_id)
        return f"model:{row.name if row is not None else model_id}"

    def ref_name(self, ref: str) -> str:
        """A lineage ref (``version:…``, ``model:…``, ``file:sha256:…``) as a dataset name."""
        if ref.startswith("version:"):
            return self.version_name(ref.removeprefix("version:"))
        if ref.startswith("model:"):
            return self.model_name(ref.removeprefix("model:"))
        return ref

    def columns_of(self, version_id: str) -> list[tuple[str, str]]:
        """A version's ``(column, dtype)`` in order: stored, or as last attested."""
        stored = self.columns.get(version_id)
        if stored:
            return stored
        state = self.version_states.get(version_id) or {}
        return [(c, str(v.get("dtype"))) for c, v in (state.get("columns") or {}).items()]

    def source_columns(self, source: str) -> set[str]:
        """The column names of a lineage source (none unless it is a version)."""
        if not source.startswith("version:"):
            return set()
        return {c for c, _ in self.columns_of(source.removeprefix("version:"))}

    def subject_of(self, source: str) -> str | None:
        """The subject-id column of the dataset a source version belongs to."""
        version = self.version_states.get(source.removeprefix("version:")) or {}
        dataset = self.dataset_states.get(str(version.get("dataset"))) or {}
        subject = dataset.get("subject_id")
        return str(subject) if subject else None


def read_catalog(core: Core) -> Catalog:
    found = Catalog()
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
