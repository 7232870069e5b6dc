"""Gathering what a privacy impact assessment states: from the catalog, the ledgers, the model
cards, the audit log, lineage and retention, and re-identification risk measured on the spot
(or reused from ``report_facts`` while the version, the request and the code are unchanged).

Each value is a :class:`Fact` naming the ``privet … --json`` command that prints it and the
JMESPath that picks it out, so anyone can re-derive it. Commands run as the report's actor in
the same workspace.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as DbIntegrityError

from privet import catalog, lineage
from privet.account import _figures, _synthetic
from privet.account._model import (
    Assessment,
    Block,
    Fact,
    Figure,
    Section,
    Table,
    ToFill,
    Value,
    quote,
)
from privet.errors import NotFound, PolicyDenied, PrivetError
from privet.schema import Dataset, DpModel, LineageEdge, ReportFact, Version

if TYPE_CHECKING:
    from privet.catalog import DatasetInfo, VersionInfo
    from privet.core import Core
    from privet.dp import ModelInfo

# Bumped when a stored measurement's meaning changes, so older rows stop being current.
FACTS_FORMAT = 1
SYNTHETIC = ("synthetic", "baseline")  # version kinds privet synth makes (DP, or not)
ACCESS_INDEX = "access-index"  # per-dataset read counts over a prefix of the audit log
AUDITS = "audits"  # where `privet audit` draws ROC curves (privet.attacks._run.AUDITS)
Progress = Callable[[str], None]

ART35 = {
    "a": "Systematic description of the processing and its purposes",
    "b": "Necessity and proportionality of the processing",
    "c": "Risks to the rights and freedoms of data subjects",
    "d": "Measures envisaged to address the risks",
}


def _ver(number: int) -> str:
    return f"versions[?number==`{number}`] | [0]"


@functools.cache
def code_revision() -> str:
    """A hash of the code behind stored measurements (the risk measure and the drawings):
    a changed privet computes them anew instead of reusing what older code stored."""
    digest = hashlib.sha256(str(FACTS_FORMAT).encode())
    for package, files in (
        ("privet.deid", ("_assess.py", "_measure.py", "_risk.py", "_columns.py")),
        ("privet.account", ("_figures.py",)),
    ):
        spec = importlib.util.find_spec(package)
        folder = Path(spec.origin).parent if spec is not None and spec.origin else None
        for name in files:
            source = folder / name if folder is not None else None
            digest.update(source.read_bytes() if source is not None and source.is_file() else b"?")
    return digest.hexdigest()[:16]


@dataclass
class Gatherer:
    """What one report (or one report of many subjects) reads once and shares."""

    core: Core
    actor: str
    progress: Progress = field(default=lambda _stage: None)
    reused: int = 0
    measured: int = 0

    # -- shared reads ---------------------------------------------------------------------------

    @cached_property
    def access(self) -> tuple[int, dict[str, dict[str, Any]]]:
        """Per dataset id, over the log's first ``size`` entries: reads, records released,
        refusals and reads per purpose. The log is append-only, so counts over a prefix
        never change: the longest stored prefix whose last leaf hash still matches is
        extended by the entries after it, and the result stored for the next report."""
        size, latest = self.core.log.size(), None
        with self.core.reading() as session:
            for row in session.scalars(
                select(ReportFact)
                .where(ReportFact.kind == ACCESS_INDEX)
                .order_by(ReportFact.subject.desc())
            ):
                if row.value["size"] <= size:
                    latest = row.value
                    break
        start, counts = 0, {}
        if latest is not None and latest["size"] > 0:
            (check,) = self.core.log.records(latest["size"] - 1, 1)
            if check.leaf_hash.hex() == latest["leaf"]:
                start, counts = latest["size"], latest["counts"]
        if start == size:
            return size, counts
        self.progress("reading the audit log")
        _, records = self.core.log.page(start, size - start)
        for record in records:
            event = record.event
            kind = event.get("event")
            if kind not in ("read", "read.refused") or not isinstance(event.get("dataset"), str):
                continue
            empty = {"reads": 0, "rows": 0, "refused": 0, "purposes": {}}
            mine = counts.setdefault(event["dataset"], empty)
            if kind == "read.refused":
                mine["refused"] += 1
                continue
            purpose = str(event.get("purpose"))
            mine["reads"] += 1
            mine["rows"] += int(event.get("rows") or 0)
            mine["purposes"][purpose] = mine["purposes"].get(purpose, 0) + 1
        if records:
            value = {"size": size, "leaf": records[-1].leaf_hash.hex(), "counts": counts}
            self._store(ACCESS_INDEX, f"log:{size:015d}", value)
        return size, counts

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

    # -- the cache of measurements ------------------------------------------------------------

    def cached(
        self, kind: str, subject: str, parts: dict[str, Any], compute: Callable[[], Any]
    ) -> Any:
        """The stored result for these exact inputs, else ``compute()`` stored under them."""
        key_text = json.dumps(
            {"kind": kind, "subject": subject, "revision": code_revision(), **parts},
            sort_keys=True,
            default=str,
        )
        key = hashlib.sha256(key_text.encode()).hexdigest()
        with self.core.reading() as session:
            row = session.get(ReportFact, key)
            if row is not None:
                self.reused += 1
                return row.value["value"]
        value = compute()
        self.measured += 1
        self._store(kind, subject, {"value": value}, key)
        return value

    def _store(self, kind: str, subject: str, value: dict[str, Any], key: str = "") -> None:
        key = key or hashlib.sha256(f"{kind}\n{subject}".encode()).hexdigest()
        try:
            with self.core.session() as session:
                row = ReportFact(
                    key=key, kind=kind, subject=subject, value=value, created_at=self.core.now()
                )
                session.add(row)
                session.commit()
        except DbIntegrityError:  # another report stored the same measurement meanwhile
            pass

    # -- one dataset ----------------------------------------------------------------------------

    def dataset(self, name: str) -> Assessment:
        self.progress(f"{name}: catalog")
        info = next((d for d in self.datasets if d.name == name), None)
        if info is None:
            with self.core.reading() as session:
                found = catalog.find_dataset(session, catalog.check_name(name))
                info = catalog.dataset_info(found)
        live = [v for v in info.versions if v.shredded_at is None]
        current = live[-1] if live else None  # destroyed versions have no rows to measure
        reused, measured = self.reused, self.measured
        sections = [
            Section(letter="a", title=ART35["a"], blocks=self._describe(info, current)),
            Section(letter="b", title=ART35["b"], blocks=self._necessity(info, current)),
            Section(letter="c", title=ART35["c"], blocks=self._risks(info, current)),
            Section(letter="d", title=ART35["d"], blocks=self._measures(info)),
        ]
        return Assessment(
            kind="dataset",
            subject=name,
            workspace=self.core.config.id,
            generated_at=self.core.now().isoformat(),
            actor=self.actor,
            sections=sections,
            reused=self.reused - reused,
            measured=self.measured - measured,
        )

    def _describe(self, info: DatasetInfo, current: VersionInfo | None) -> list[Block]:
        cmd = f"privet datasets {info.name} --json"
        inventory = [
            Fact(label="Owner (controller's contact)", value=info.owner, command=cmd, path="owner"),
            Fact(label="Purposes", value=list(info.purposes), command=cmd, path="purposes"),
            Fact(label="Legal basis", value=info.legal_basis, command=cmd, path="legal_basis"),
            Fact(
                label="Classification",
                value=info.classification,
                command=cmd,
                path="classification",
            ),
            Fact(
                label="Column identifying a person",
                value=info.subject_id_column,
                command=cmd,
                path="subject_id_column",
            ),
            Fact(
                label="Derived from (dataset id)",
                value=info.derived_from,
                command=cmd,
                path="derived_from",
            ),
            Fact(label="Versions", value=len(info.versions), command=cmd, path="length(versions)"),
        ]
        fill = [
            ToFill(
                label="Nature, scope and context of the processing",
                prompt="What is done with the data, by whom, for how long, and in which "
                "systems; the relationship with the people concerned.",
            )
        ]
        if info.legal_basis is None:
            fill.append(
                ToFill(
                    label="Legal basis (Art. 6, and Art. 9 for special categories)",
                    prompt="The catalog records none: state the basis relied on.",
                )
            )
        blocks = [Block(title="Inventory", facts=inventory, fill=fill)]
        if current is None and info.versions:
            blocks[0].missing.append(
                "every version was destroyed (retention or erasure): no rows are left to measure"
            )
        if current is not None:
            v = _ver(current.number)
            blocks[0].facts += [
                Fact(
                    label=f"Records in version {current.number}",
                    value=current.rows,
                    command=cmd,
                    path=f"{v}.rows",
                ),
                Fact(
                    label=f"Columns in version {current.number}",
                    value=len(current.columns),
                    command=cmd,
                    path=f"length({v}.columns)",
                ),
            ]
            blocks.append(self._discovery(info.name, current))
        blocks.append(self._lineage_block(info))
        return blocks

    def _discovery(self, name: str, version: VersionInfo) -> Block:
        cmd = f"privet datasets {name} --json"
        v = _ver(version.number)
        rows = []
        for column in version.columns:
            at = f"{v}.columns[?name=={quote(column.name)}] | [0]"
            rows.append(
                [
                    Fact(label="column", value=column.name, command=cmd, path=f"{at}.name"),
                    Fact(label="role", value=column.role, command=cmd, path=f"{at}.role"),
                    Fact(
                        label="category",
                        value=column.category,
                        command=cmd,
                        path=f"{at}.category",
                    ),
                    Fact(label="source", value=column.source, command=cmd, path=f"{at}.source"),
                    Fact(
                        label="confidence",
                        value=column.confidence,
                        command=cmd,
                        path=f"{at}.confidence",
                    ),
                ]
            )
        counts = []
        for role, label in (
            ("direct_identifier", "Direct identifiers"),
            ("quasi_identifier", "Quasi-identifiers"),
            ("sensitive", "Sensitive attributes"),
        ):
            counts.append(
                Fact(
                    label=label,
                    value=sum(1 for c in version.columns if c.role == role),
                    command=cmd,
                    path=f"length({v}.columns[?role=={quote(role)}])",
                )
            )
        return Block(
            title=f"Discovery: the columns of {version.ref}, their roles and data categories",
            facts=counts,
            table=Table(header=["column", "role", "category", "source", "confidence"], rows=rows),
        )

    def _lineage_block(self, info: DatasetInfo) -> Block:
        self.progress(f"{info.name}: lineage")
        version_refs = {lineage.version_ref(v.id) for v in info.versions}
        nodes, edges = self._component(version_refs)
        figure = Figure(
            title=f"Lineage of {info.name}",
            svg=_figures.lineage(nodes, edges, version_refs) if edges else None,
            caption=f"privet datasets NAME --json → lineage (for each dataset shown); "
            f"{len(nodes)} nodes, {len(edges)} edges",
        )
        derived = [d.name for d in self.datasets if d.derived_from == info.id]
        models = [m for m in self.models if m.card.dataset_id == info.id]
        facts = [
            Fact(
                label="Datasets derived from it",
                value=len(derived),
                command="privet datasets --json",
                path=f"length([?derived_from=={quote(info.id)}])",
            ),
            Fact(
                label="Models trained on it",
                value=len(models),
                command="privet models --json",
                path=f"length([?card.dataset_id=={quote(info.id)}])",
            ),
        ]
        missing = [] if edges else ["no lineage edge is recorded for this dataset"]
        return Block(title="Lineage", facts=facts, figure=figure, missing=missing)

    def _component(
        self, start: set[str]
    ) -> tuple[dict[str, tuple[str, str]], list[tuple[str, str, str]]]:
        """Sources of ``start`` one step up, and everything made from it, transitively."""
        all_edges, labels = self.graph
        keep: set[str] = set(start)
        frontier = list(start)
        while frontier:
            ref = frontier.pop()
            for source, target, _a in all_edges:
                if source == ref and target not in keep:
                    keep.add(target)
                    frontier.append(target)
        upstream = {s for s, t, _a in all_edges if t in start}
        keep |= upstream
        edges = [(s, t, a) for s, t, a in all_edges if s in keep and t in keep]
        nodes: dict[str, tuple[str, str]] = {}
        for ref in sorted(keep, key=lambda r: (r not in upstream, labels.get(r, (r,))[0])):
            if ref in labels:
                nodes[ref] = labels[ref]
            elif ref.startswith("file:sha256:"):
                nodes[ref] = (f"file sha256:{ref.removeprefix('file:sha256:')[:12]}…", "file")
            else:
                nodes[ref] = (ref.split(":", 1)[0], "file")
        return nodes, edges

    def _necessity(self, info: DatasetInfo, current: VersionInfo | None) -> list[Block]:
        cmd = f"privet datasets {info.name} --json"
        facts = [
            Fact(
                label="Retention",
                value=info.retention_days,
                command=cmd,
                path="retention_days",
                unit="days",
            ),
        ]
        if current is not None:
            facts.append(
                Fact(
                    label=f"Direct identifiers kept in version {current.number}",
                    value=sum(1 for c in current.columns if c.role == "direct_identifier"),
                    command=cmd,
                    path=f"length({_ver(current.number)}.columns[?role=='direct_identifier'])",
                )
            )
        fill = [
            ToFill(
                label="Necessity",
                prompt="Why each purpose needs this processing, and why less intrusive means "
                "would not do.",
            ),
            ToFill(
                label="Proportionality and data minimisation",
                prompt="Why each direct identifier and quasi-identifier listed above is needed "
                "for the purposes; what is dropped, generalized or kept.",
            ),
            ToFill(
                label="Information to data subjects and exercise of their rights",
                prompt="How people are told (Art. 13–14) and how access, erasure and objection "
                "are handled.",
            ),
        ]
        if info.retention_days is None:
            fill.append(
                ToFill(
                    label="Storage limitation",
                    prompt="The catalog records no retention period: state how long the data "
                    "is kept and why.",
                )
            )
        return [Block(title="Purpose limitation, minimisation and storage", facts=facts, fill=fill)]

    def _risks(self, info: DatasetInfo, current: VersionInfo | None) -> list[Block]:
        blocks = []
        if current is not None:
            blocks.append(self._reidentification(current))
        blocks.append(self._ledger(info))
        blocks.append(self._models_of(info))
        synthetic = self._synthetic(info)
        if synthetic is not None:
            blocks.append(synthetic)
        blocks.append(self._access(info))
        blocks[-1].fill.append(
            ToFill(
                label="Likelihood and severity",
                prompt="For each risk above (illegitimate access, unwanted change, "
                "disappearance, re-identification, inference): how likely, how severe for "
                "the people concerned, and why.",
            )
        )
        return blocks

    def risk_of(self, version: VersionInfo) -> dict[str, Any] | None:
        """``privet risk NAME@N --json`` of a version with the catalog's roles (reused when
        stored for the same content, roles and code), or None without quasi-identifiers."""
        from privet import deid

        qis = [c.name for c in version.columns if c.role == "quasi_identifier"]
        if not qis:
            return None
        sensitive = [c.name for c in version.columns if c.role == "sensitive"]
        parts = {
            "content": version.content_sha256,
            "rows": version.rows,
            "qis": qis,
            "sensitive": sensitive,
        }

        def measure() -> dict[str, Any]:
            self.progress(f"{version.ref}: measuring re-identification risk")
            report = deid.dataset_risk(self.core, version.ref, actor=self.actor)
            return report.model_dump(mode="json")

        result: dict[str, Any] = self.cached("risk", version.id, parts, measure)
        return result

    def _reidentification(self, version: VersionInfo) -> Block:
        cmd = f"privet risk {version.ref} --json"
        title = f"Re-identification risk of {version.ref}"
        try:
            risk = self.risk_of(version)
        except (PolicyDenied, NotFound) as refused:  # not allowed, or destroyed meanwhile
            return Block(title=title, missing=[f"not measured: {refused}"])
        if risk is None:
            return Block(
                title=title,
                missing=[
                    "no column is marked quasi_identifier, so no linkage risk was measured; "
                    "mark them (privet datasets annotate) or give --qi to privet risk"
                ],
            )

        def fact(label: str, key: str, value: Value = None) -> Fact:
            return Fact(
                label=label, value=risk[key] if value is None else value, command=cmd, path=key
            )

        facts = [
            fact("Records measured", "rows"),
            fact("Quasi-identifiers", "quasi_identifiers"),
            fact("Sensitive attributes", "sensitive"),
            fact("k (smallest equivalence class)", "k"),
            fact("Distinct ℓ-diversity", "l"),
            fact("t-closeness (largest EMD)", "t"),
            fact("Equivalence classes", "classes"),
            fact("Prosecutor risk, highest", "prosecutor_risk_max"),
            fact("Prosecutor risk, mean", "prosecutor_risk_avg"),
            fact(f"Share of records above risk {risk['threshold']:g}", "records_at_risk"),
            fact("Marketer risk", "marketer_risk"),
            fact("Sample uniques (share of records)", "sample_uniques"),
        ]
        missing = []
        if risk.get("journalist_risk_max") is not None:
            facts.append(fact("Journalist risk, highest", "journalist_risk_max"))
        else:
            missing.append(
                f"journalist risk needs a population table: privet risk {version.ref} "
                "--population FILE"
            )
        for i, band in enumerate(risk.get("risk_histogram") or []):
            facts.append(
                Fact(
                    label=f"Records with prosecutor risk in ({band['low']:g}, {band['high']:g}]",
                    value=band["records"],
                    command=cmd,
                    path=f"risk_histogram[{i}].records",
                )
            )

        def draw() -> str:
            return _figures.risk_histogram(risk["risk_histogram"], title)

        figure = None
        if risk.get("risk_histogram"):
            parts = {"risk": risk["risk_histogram"], "title": title}
            svg = self.cached("figure:risk-histogram", version.id, parts, draw)
            figure = Figure(
                title="Risk histogram", svg=svg, caption=f"{cmd} → risk_histogram[*].records"
            )
        return Block(title=title, facts=facts, figure=figure, missing=missing)

    def _ledger(self, info: DatasetInfo) -> Block:
        from privet import dp

        cmd = f"privet budget {info.name} --json"
        budget = dp.budget(self.core, info.name)
        facts = [
            Fact(label="Ledger of", value=budget.dataset, command=cmd, path="dataset"),
            Fact(label="Privacy unit", value=budget.unit, command=cmd, path="unit"),
            Fact(label="ε limit", value=budget.epsilon_limit, command=cmd, path="epsilon_limit"),
            Fact(label="δ", value=budget.delta, command=cmd, path="delta"),
            Fact(label="ε spent", value=budget.epsilon_spent, command=cmd, path="epsilon_spent"),
            Fact(
                label="ε remaining",
                value=budget.epsilon_remaining,
                command=cmd,
                path="epsilon_remaining",
            ),
            Fact(
                label="DP releases",
                value=len(budget.releases),
                command=cmd,
                path="length(releases)",
            ),
            Fact(
                label="Limit left at its default",
                value=budget.default_limit,
                command=cmd,
                path="default_limit",
            ),
        ]
        title = f"ε of the {budget.dataset} ledger"
        parts = {"spent": budget.epsilon_spent, "limit": budget.epsilon_limit, "title": title}
        svg = self.cached(
            "figure:ledger",
            budget.dataset,
            parts,
            lambda: _figures.ledger(budget.epsilon_spent, budget.epsilon_limit, title),
        )
        figure = Figure(
            title="Privacy budget", svg=svg, caption=f"{cmd} → epsilon_spent, epsilon_limit"
        )
        return Block(title="Differential privacy: the budget ledger", facts=facts, figure=figure)

    def _models_of(self, info: DatasetInfo) -> Block:
        cmd = "privet models --json"
        rows = []
        for m in self.models:
            if m.card.dataset_id != info.id:
                continue
            at = f"[?name=={quote(m.name)}] | [0]"
            latest: dict[str, Any] = (m.card.audits or [{}])[-1]  # the path's audits[-1]
            rows.append(
                [
                    Fact(label="model", value=m.name, command=cmd, path=f"{at}.name"),
                    Fact(label="DP", value=m.private, command=cmd, path=f"{at}.private"),
                    Fact(
                        label="ε",
                        value=m.card.privacy.epsilon,
                        command=cmd,
                        path=f"{at}.card.privacy.epsilon",
                    ),
                    Fact(
                        label="latest audit AUC",
                        value=latest.get("auc"),
                        command=cmd,
                        path=f"{at}.card.audits[-1].auc",
                    ),
                    Fact(
                        label="TPR at 1% FPR",
                        value=(latest.get("tpr_at_fpr") or {}).get("0.01"),
                        command=cmd,
                        path=f'{at}.card.audits[-1].tpr_at_fpr."0.01"',
                    ),
                    Fact(label="blocked", value=m.blocked, command=cmd, path=f"{at}.blocked"),
                ]
            )
        missing = [] if rows else ["no model was trained on this dataset"]
        return Block(
            title="Models trained on it (privet report MODEL for each one's assessment)",
            table=Table(
                header=["model", "DP", "ε", "latest audit AUC", "TPR at 1% FPR", "blocked"],
                rows=rows,
            )
            if rows
            else None,
            missing=missing,
        )

    @cached_property
    def evaluations(self) -> list[dict[str, Any]]:
        return _synthetic.evaluations(self.core)

    def _synthetic(self, info: DatasetInfo) -> Block | None:
        made = [
            d
            for d in self.datasets
            if d.derived_from == info.id and any(v.kind in SYNTHETIC for v in d.versions)
        ]
        live = {  # "NAME@N:id" of every live version: an evaluation of others is not current
            f"{d.name}@{v.number}:{v.id}"
            for d in self.datasets
            for v in d.versions
            if v.shredded_at is None
        }
        newest = {
            d.name: f"{d.name}@{v.number}:{v.id}"
            for d in self.datasets
            for v in [v for v in d.versions if v.shredded_at is None][-1:]
        }
        evaluated = [
            e
            for e in self.evaluations
            if e["real"].split("@", 1)[0] == info.name
            and e["real"] in live
            and e["synthetic"] == newest.get(e["synthetic"].split("@", 1)[0])
            and (e.get("holdout") is None or e["holdout"] in live)
        ]
        latest = {e["synthetic"]: e for e in evaluated}  # oldest first: the newest stays
        evaluated = list(latest.values())
        if not made and not evaluated:
            return None
        rows = []
        for d in made:
            at = f"[?name=={quote(d.name)}] | [0]"
            rows.append(
                [
                    Fact(
                        label="dataset",
                        value=d.name,
                        command="privet datasets --json",
                        path=f"{at}.name",
                    ),
                    Fact(
                        label="records",
                        value=d.versions[-1].rows if d.versions else None,
                        command="privet datasets --json",
                        path=f"{at}.versions[-1].rows",
                    ),
                ]
            )
        facts = []
        missing = []
        for e in evaluated:
            cmd = _synthetic.command(e)
            result = e["result"]
            name = e["synthetic"].rsplit(":", 1)[0]
            privacy = result.get("privacy")
            picked: list[tuple[str, str]] = [
                ("synthetic records compared", "rows.synthetic"),
                ("mean 2-way TVD (fidelity)", "fidelity.two_way.mean_tvd"),
            ]
            if privacy is None:
                missing.append(f"{name}: no privacy attack ran (they need --holdout): {cmd}")
            else:
                picked += [
                    ("singling-out risk", "privacy.singling_out.risk"),
                    ("linkability risk", "privacy.linkability.risk"),
                    ("attribute-inference risk, worst column", "privacy.inference_worst.risk"),
                    ("membership AUC (distance to closest record)", "privacy.membership_auc"),
                    (
                        "share of rows closer to a real row than to a holdout row",
                        "privacy.dcr_closer_to_real",
                    ),
                    ("share of rows equal to a real row", "privacy.exact_match_real"),
                    ("share of rows equal to a holdout row", "privacy.exact_match_holdout"),
                ]
            for label, path in picked:
                facts.append(
                    Fact(label=f"{name}: {label}", value=_dig(result, path), command=cmd, path=path)
                )
        for d in made:
            if not any(e["synthetic"].split("@", 1)[0] == d.name for e in evaluated):
                missing.append(
                    f"{d.name}: no current evaluation is stored; privet synth evaluate "
                    f"{info.name} {d.name} --holdout HOLDOUT measures it (and keeps it)"
                )
        return Block(
            title="Synthetic data made from it, and its risk",
            facts=facts,
            table=Table(header=["dataset", "records"], rows=rows) if rows else None,
            missing=missing,
        )

    def _access(self, info: DatasetInfo) -> Block:
        self.progress(f"{info.name}: access")
        size, counts = self.access
        seen = counts.get(info.id, {"reads": 0, "rows": 0, "refused": 0, "purposes": {}})
        cmd = f"privet log show --start 0 --limit {size} --json"
        mine = f"entries[?event=='read' && dataset=={quote(info.id)}]"
        facts = [
            Fact(
                label="Audit-log entries examined",
                value=size,
                command=cmd,
                path="length(entries)",
            ),
            Fact(label="Reads", value=seen["reads"], command=cmd, path=f"length({mine})"),
            Fact(
                label="Records released by those reads",
                value=seen["rows"],
                command=cmd,
                path=f"sum({mine}.rows)",
            ),
            Fact(
                label="Reads refused",
                value=seen["refused"],
                command=cmd,
                path=f"length(entries[?event=='read.refused' && dataset=={quote(info.id)}])",
            ),
            Fact(
                label="Alerts on unusual reads",
                value=sum(1 for a in self.alerts if a.dataset in (info.name, info.id)),
                command="privet alerts --json",
                path=f"length([?dataset=={quote(info.name)} || dataset=={quote(info.id)}])",
            ),
        ]
        for purpose, reads in sorted(seen["purposes"].items()):
            facts.append(
                Fact(
                    label=f"Reads for {purpose}",
                    value=reads,
                    command=cmd,
                    path=f"length(entries[?event=='read' && dataset=={quote(info.id)} && "
                    f"purpose=={quote(purpose)}])",
                )
            )
        return Block(title="Access: who read it and what was raised", facts=facts)

    def _measures(self, info: DatasetInfo) -> list[Block]:
        cmd = f"privet datasets {info.name} --json"
        facts = [
            Fact(
                label="Versions destroyed (retention or erasure)",
                value=sum(1 for v in info.versions if v.shredded_at is not None),
                command=cmd,
                path="length(versions[?shredded_at != null])",
            ),
            Fact(
                label="Versions due for destruction within 30 days",
                value=sum(1 for d in self.due if d.dataset == info.name),
                command="privet retention due --days 30 --json",
                path=f"length([?dataset=={quote(info.name)}])",
            ),
            Fact(
                label="Protected (de-identified) datasets made from it",
                value=sum(
                    1
                    for d in self.datasets
                    if d.derived_from == info.id and any(v.kind == "protected" for v in d.versions)
                ),
                command="privet datasets --json",
                path=f"length([?derived_from=={quote(info.id)} && versions[?kind=='protected']])",
            ),
            Fact(
                label="Erasure requests in the workspace",
                value=len(self.erasures),
                command="privet erasure list --json",
                path="length(@)",
            ),
            Fact(
                label="Erasure requests overdue",
                value=sum(1 for e in self.erasures if e.overdue),
                command="privet erasure list --json",
                path="length([?overdue])",
            ),
        ]
        text = [
            "Every version is stored encrypted (AEAD under the workspace keyset); destroying "
            "its key (crypto-shredding) is how retention and erasure delete it.",
            "Every read goes through the broker: a declared purpose, the policy and a grant, "
            "and an entry in the tamper-evident audit log.",
            "Differentially private releases spend from one ledger per source, refused "
            "before reading when they would exceed its limit.",
        ]
        fill = [
            ToFill(
                label="Measures envisaged",
                prompt="For each risk in (c): the safeguard, security measure or mechanism "
                "that addresses it, who is responsible and by when.",
            ),
            ToFill(
                label="Advice of the data protection officer (Art. 35(2))",
                prompt="The DPO's advice, its date, and whether it was followed.",
            ),
            ToFill(
                label="Views of data subjects or their representatives (Art. 35(9))",
                prompt="Who was consulted, how, and what they said; or why not.",
            ),
            ToFill(
                label="Residual risk and sign-off",
                prompt="Whether high risk remains (then prior consultation, Art. 36), the "
                "decision, who took it and when.",
            ),
        ]
        return [Block(title="Measures in place", text=text, facts=facts, fill=fill)]

    # -- one model ------------------------------------------------------------------------------

    def model(self, name: str) -> Assessment:
        from privet import dp

        self.progress(f"model {name}: card")
        info = dp.model_info(self.core, name, actor=self.actor)
        card = info.card.stored()
        cmd = f"privet models {name} --json"
        reused, measured = self.reused, self.measured

        def fact(label: str, path: str, value: Value, unit: str = "") -> Fact:
            return Fact(label=label, value=value, command=cmd, path=path, unit=unit)

        privacy, training = card.get("privacy", {}), card.get("training", {})
        described = [
            fact("Model", "model", card.get("model")),
            fact("Trained on", "dataset", card.get("dataset")),
            fact("Purpose", "purpose", card.get("purpose")),
            fact("Architecture", "architecture", card.get("architecture")),
            fact("Task", "task", card.get("task")),
            fact("Target column", "target", card.get("target")),
            fact("Features", "length(features)", len(card.get("features", []))),
            fact("Trained by", "created_by", card.get("created_by")),
            fact("Trained at", "created_at", card.get("created_at")),
            fact("Epochs", "training.epochs", training.get("epochs")),
        ]
        blocks_a = [
            Block(
                title="The model card",
                text=[str(card.get("summary", ""))],
                facts=described,
                fill=[
                    ToFill(
                        label="Use of the model",
                        prompt="Who uses its predictions, for which decisions about people, "
                        "and with what human review.",
                    )
                ],
            )
        ]
        source = self._source_dataset(info)
        if source is not None:
            blocks_a.append(self._model_lineage(info, source))
        split = card.get("split") or {}
        necessity = [fact("Purpose", "purpose", card.get("purpose"))]
        if split:
            necessity += [
                fact("Training records", "split.train_count", split.get("train_count")),
                fact("Held-out records", "split.test_count", split.get("test_count")),
            ]
        blocks_b = [
            Block(
                title="Purpose and data used",
                facts=necessity,
                fill=[
                    ToFill(
                        label="Necessity and proportionality",
                        prompt="Why a model trained on personal data is needed for the "
                        "purpose, and why these features.",
                    )
                ],
            )
        ]
        guarantee = [
            fact(
                "Differentially private",
                "privacy.differentially_private",
                privacy.get("differentially_private"),
            ),
            fact("ε", "privacy.epsilon", privacy.get("epsilon")),
            fact("δ", "privacy.delta", privacy.get("delta")),
            fact("Privacy unit", "privacy.unit", privacy.get("unit")),
            fact("Noise multiplier", "privacy.noise_multiplier", privacy.get("noise_multiplier")),
            fact("Clipping norm", "privacy.clipping_norm", privacy.get("clipping_norm")),
        ]
        evaluation = card.get("evaluation", {})
        metric = evaluation.get("metric")
        if metric and evaluation.get(metric) is not None:
            guarantee.append(fact(f"Held-out {metric}", f"evaluation.{metric}", evaluation[metric]))
        blocks_c = [Block(title="The privacy guarantee", facts=guarantee)]
        blocks_c.append(self._audits(name, card, cmd))
        if source is not None:
            version = next((v for v in source.versions if v.id == card.get("version_id")), None)
            if version is not None and version.shredded_at is None:
                block = self._reidentification(version)
                block.title = f"Re-identification risk of its training data, {version.ref}"
                blocks_c.append(block)
        blocks_c[-1].fill.append(
            ToFill(
                label="Likelihood and severity",
                prompt="What an attacker who obtains the model or its predictions could learn "
                "about the people it was trained on, and how much that would harm them.",
            )
        )
        measures = [
            fact("Blocked until retrained", "blocked", info.blocked),
            fact(
                "Unlearnable (SISA shards)", "sisa.shards", (card.get("sisa") or {}).get("shards")
            ),
        ]
        blocks_d = [
            Block(
                title="Measures in place",
                text=[
                    "The weights are stored encrypted; loading them is a logged read.",
                    "The full card (exact counts, split) is shown only to who may read the "
                    "training rows; others get the public card.",
                ],
                facts=[
                    Fact(
                        label="Blocked until retrained",
                        value=info.blocked,
                        command="privet models --json",
                        path=f"[?name=={quote(name)}] | [0].blocked",
                    ),
                    measures[1],
                ],
                fill=[
                    ToFill(
                        label="Measures envisaged",
                        prompt="Safeguards for each risk in (c): DP, access limits on the "
                        "model and its API, monitoring, retraining after erasure.",
                    ),
                    ToFill(
                        label="Advice of the data protection officer (Art. 35(2))",
                        prompt="The DPO's advice, its date, and whether it was followed.",
                    ),
                    ToFill(
                        label="Residual risk and sign-off",
                        prompt="The decision to release the model, who took it and when.",
                    ),
                ],
            )
        ]
        sections = [
            Section(letter="a", title=ART35["a"], blocks=blocks_a),
            Section(letter="b", title=ART35["b"], blocks=blocks_b),
            Section(letter="c", title=ART35["c"], blocks=blocks_c),
            Section(letter="d", title=ART35["d"], blocks=blocks_d),
        ]
        return Assessment(
            kind="model",
            subject=name,
            workspace=self.core.config.id,
            generated_at=self.core.now().isoformat(),
            actor=self.actor,
            sections=sections,
            reused=self.reused - reused,
            measured=self.measured - measured,
        )

    def _source_dataset(self, info: ModelInfo) -> DatasetInfo | None:
        return next((d for d in self.datasets if d.id == info.card.dataset_id), None)

    def _model_lineage(self, info: ModelInfo, source: DatasetInfo) -> Block:
        model_ref = f"model:{info.id}"
        nodes, edges = self._component({lineage.version_ref(v.id) for v in source.versions})
        return Block(
            title="Lineage",
            figure=Figure(
                title=f"Lineage of {info.name}",
                svg=_figures.lineage(nodes, edges, {model_ref}) if edges else None,
                caption=f"privet datasets {source.name} --json → lineage",
            ),
        )

    def _audits(self, name: str, card: dict[str, Any], cmd: str) -> Block:
        audits = card.get("audits") or []
        rows = []
        points = []
        columns = [  # (header, JMESPath with {a} for audits[i])
            ("kind", "{a}.kind"),
            ("attack or attribute", "{a}.attack || {a}.attribute"),
            ("at", "{a}.at"),
            ("AUC", "{a}.auc"),
            ("TPR at 1% FPR", '{a}.tpr_at_fpr."0.01"'),
            ("TPR at 0.1% FPR", '{a}.tpr_at_fpr."0.001"'),
            ("advantage", "{a}.advantage.value"),
            ("ε lower bound", "{a}.epsilon_lower_bound"),
        ]
        for i, audit in enumerate(audits):
            tpr, adv = audit.get("tpr_at_fpr") or {}, audit.get("advantage") or {}
            values = [
                audit.get("kind"),
                audit.get("attack") or audit.get("attribute"),
                audit.get("at"),
                audit.get("auc"),
                tpr.get("0.01"),
                tpr.get("0.001"),
                adv.get("value") if isinstance(adv, dict) else None,
                audit.get("epsilon_lower_bound"),
            ]
            row = [
                Fact(label=header, value=value, command=cmd, path=path.format(a=f"audits[{i}]"))
                for (header, path), value in zip(columns, values, strict=True)
            ]
            if audit.get("kind") == "membership":
                points.append(
                    (
                        f"#{i} {audit.get('attack')}",
                        float(tpr.get("0.001") or 0.0),
                        float(tpr.get("0.01") or 0.0),
                        float(audit.get("auc") or 0.0),
                    )
                )
            rows.append(row)
        missing = []
        figure = None
        if not any(a.get("kind") == "membership" for a in audits):
            missing.append(f"no membership-inference audit is stored: privet audit {name}")
        else:
            last = next(a for a in reversed(audits) if a.get("kind") == "membership")
            drawn = self.core.folder / AUDITS / f"{name}-{last.get('attack')}.png"
            if _drawn_by(drawn, last):
                figure = Figure(
                    title="ROC of the latest membership audit",
                    png_data_uri=_figures.png_data_uri(drawn),
                    caption=f"drawn by privet audit {name} --attack {last.get('attack')}; "
                    f"its AUC is audits[{audits.index(last)}].auc of {cmd}",
                )
            else:
                svg = self.cached(
                    "figure:roc-points",
                    name,
                    {"points": points},
                    lambda: _figures.roc_points(points, f"membership audits of {name}"),
                )
                figure = Figure(
                    title="ROC points kept on the card (TPR at 0.1% and 1% FPR)",
                    svg=svg,
                    caption=f"{cmd} → audits[*].tpr_at_fpr",
                )
        header = [h for h, _ in columns]
        return Block(
            title="Attacks on the model (membership and attribute inference, ε audits)",
            table=Table(header=header, rows=rows) if rows else None,
            figure=figure,
            missing=missing,
        )


def _dig(data: Any, path: str) -> Any:
    """The value at a dotted ``path`` of nested dicts (None where absent)."""
    for key in path.split("."):
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _drawn_by(picture: Path, audit: dict[str, Any]) -> bool:
    """Was ``picture`` drawn by ``audit`` (written while it ran), not by an earlier one?"""
    if not picture.is_file():
        return False
    try:
        finished = datetime.fromisoformat(str(audit.get("at"))).timestamp()
    except ValueError:
        return False
    took = float(audit.get("seconds") or 0.0)
    drawn = picture.stat().st_mtime
    return finished - took - 60.0 <= drawn <= finished + 5.0


def assess(core: Core, name: str, *, actor: str, progress: Progress | None = None) -> Assessment:
    """The assessment of dataset ``name``, else of model ``name``."""
    gatherer = Gatherer(core, actor, progress or (lambda _s: None))
    try:
        with core.reading() as session:
            catalog.find_dataset(session, catalog.check_name(name))
    except (NotFound, PrivetError):
        with core.reading() as session:
            found = session.scalars(select(DpModel.id).where(DpModel.name == name)).first()
        if found is None:
            raise NotFound(f"no dataset or model named {name[:80]!r} in this workspace") from None
        return gatherer.model(name)
    return gatherer.dataset(name)


def assess_all(core: Core, *, actor: str, progress: Progress | None = None) -> list[Assessment]:
    """An assessment of every dataset, then of every model, sharing one read of the log."""
    gatherer = Gatherer(core, actor, progress or (lambda _s: None))
    found = [gatherer.dataset(d.name) for d in gatherer.datasets]
    found += [gatherer.model(m.name) for m in gatherer.models]
    return found
