"""What one report (or one report of many subjects) reads once and shares: the catalog, the
models, alerts, erasures, lineage and audit-log counts, and the store of measurements; with the
helpers every section uses to build a :class:`Fact` and an :class:`Assessment`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlalchemy import select

from privet import catalog, lineage
from privet.account import _synthetic
from privet.account._facts_cache import Measurements
from privet.account._facts_reads import read_counts
from privet.account._model import Assessment, Block, Fact, Section, Value
from privet.schema import Dataset, DpModel, LineageEdge, Version

if TYPE_CHECKING:
    from privet.catalog import DatasetInfo
    from privet.core import Core
    from privet.dp import ModelInfo

Progress = Callable[[str], None]

ART35 = {
    "a": "Systematic description of the processing and its purposes",
    "b": "Necessity and proportionality of the processing",
    "c": "Risks to the rights and freedoms of data subjects",
    "d": "Measures envisaged to address the risks",
}


class FactOf(Protocol):
    """What ``facts_of`` returns: label, JMESPath, value and an optional unit."""

    def __call__(self, label: str, path: str, value: Value, unit: str = "") -> Fact: ...


def facts_of(command: str) -> FactOf:
    """A builder of facts printed by ``command``: each a label, its JMESPath and its value."""

    def fact(label: str, path: str, value: Value, unit: str = "") -> Fact:
        return Fact(label=label, value=value, command=command, path=path, unit=unit)

    return fact


def ver(number: int) -> str:
    """The JMESPath of version ``number`` in ``privet datasets NAME --json``."""
    return f"versions[?number==`{number}`] | [0]"


def sections(a: list[Block], b: list[Block], c: list[Block], d: list[Block]) -> list[Section]:
    """The four parts of Art. 35(7), in order."""
    return [
        Section(letter="a", title=ART35["a"], blocks=a),
        Section(letter="b", title=ART35["b"], blocks=b),
        Section(letter="c", title=ART35["c"], blocks=c),
        Section(letter="d", title=ART35["d"], blocks=d),
    ]


@dataclass
class Gathering:
    """What one report (or one report of many subjects) reads once and shares."""

    core: Core
    actor: str
    progress: Progress = field(default=lambda _stage: None)
    measurements: Measurements = field(init=False)

    def __post_init__(self) -> None:
        self.measurements = Measurements(self.core)

    def cached(
        self, kind: str, subject: str, parts: dict[str, Any], compute: Callable[[], Any]
    ) -> Any:
        """The stored result for these exact inputs, else ``compute()`` stored under them."""
        return self.measurements.cached(kind, subject, parts, compute)

    def counted(self) -> tuple[int, int]:
        """How many measurements were reused and measured so far."""
        return self.measurements.reused, self.measurements.measured

    def assessment(
        self,
        kind: Literal["dataset", "model"],
        subject: str,
        parts: list[Section],
        since: tuple[int, int],
    ) -> Assessment:
        """The assessment of ``subject``, counting the measurements made ``since``."""
        reused, measured = since
        return Assessment(
            kind=kind,
            subject=subject,
            workspace=self.core.config.id,
            generated_at=self.core.now().isoformat(),
            actor=self.actor,
            sections=parts,
            reused=self.measurements.reused - reused,
            measured=self.measurements.measured - measured,
        )

    @cached_property
    def access(self) -> tuple[int, dict[str, dict[str, Any]]]:
        """The audit log's size, and per dataset id its reads over it (see ``read_counts``)."""
        return read_counts(self.core, self.measurements, self.progress)

    @cached_property
    def models(self) -> list[ModelInfo]:
        from privet import dp

        return dp.list_models(self.core)

    @cached_property
    def alerts(self) -> list[Any]:
        from privet import policy

        return policy.list_alerts(self.core)

    @cached_property
    def erasures(self) -> list[Any]:
        from privet import forget

        return forget.list_requests(self.core)

    @cached_property
    def due(self) -> list[Any]:
        from privet import forget

        return forget.due(self.core, within_days=30.0)

    @cached_property
    def datasets(self) -> list[DatasetInfo]:
        with self.core.reading() as session:
            rows = session.scalars(select(Dataset).order_by(Dataset.name))
            return [catalog.dataset_info(d) for d in rows]

    @cached_property
    def evaluations(self) -> list[dict[str, Any]]:
        return _synthetic.evaluations(self.core)

    @cached_property
    def graph(self) -> tuple[list[tuple[str, str, str]], dict[str, tuple[str, str]]]:
        """Every lineage edge, and a label and kind for every reference (names, not paths)."""
        with self.core.reading() as session:
            edges = [
                (e.source, e.target, e.activity)
                for e in session.scalars(select(LineageEdge).order_by(LineageEdge.id))
            ]
            labels: dict[str, tuple[str, str]] = {}
            for version, name in session.execute(
                select(Version, Dataset.name).join(Dataset, Version.dataset_id == Dataset.id)
            ):
                labels[lineage.version_ref(version.id)] = (f"{name}@{version.number}", "version")
            for model_id, model_name in session.execute(select(DpModel.id, DpModel.name)):
                labels[f"model:{model_id}"] = (f"model {model_name}", "model")
        return edges, labels
