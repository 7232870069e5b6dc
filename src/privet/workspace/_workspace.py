"""``Workspace``: the one entry object. Every capability is a method or a facade of it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from pathlib import Path

import polars as pl
from sqlalchemy import select

from privet import catalog, core, lineage, policy
from privet.auditlog import AuditLog
from privet.catalog import DatasetInfo, VersionInfo
from privet.core import Clock, Core, utc_now
from privet.lineage import Edge
from privet.schema import Dataset
from privet.workspace._access import Access
from privet.workspace._audit import Audits
from privet.workspace._consent import Consent
from privet.workspace._deid import Deidentification
from privet.workspace._dp import DifferentialPrivacy
from privet.workspace._drill import Drills
from privet.workspace._federated import Federation
from privet.workspace._forget import Forgetting
from privet.workspace._incident import Incidents
from privet.workspace._kpis import KpisFacade
from privet.workspace._lineage import OpenLineage
from privet.workspace._report import Reports
from privet.workspace._scan import Scanning


class Workspace:
    """A privet workspace: ``Workspace.init(path)`` once, then ``Workspace.open()``.

    The one door: datasets are methods here, every other capability is a facade
    (``ws.scan``, ``ws.deid``, ``ws.dp``, ``ws.access``, ``ws.consent``, ``ws.audit``) and
    the audit log is ``ws.log``. Each goes through the broker and the audit log where it
    reads data.
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    @property
    def hazmat(self) -> Core:
        """The low-level services under the facades: database sessions, the vault (which
        decrypts without asking the broker), the object store. For privet's own packages,
        tests and repairs — using it skips the policy, the grants and the audit log."""
        return self._core

    @property
    def folder(self) -> Path:
        """The workspace's ``.privet`` folder."""
        return self._core.folder

    @property
    def id(self) -> str:
        """The workspace's id (in its keys' associated data and its log's origin)."""
        return self._core.config.id

    @property
    def kms_uri(self) -> str:
        """Where the master key that wraps the workspace keyset lives."""
        return self._core.config.kms_uri

    @property
    def log(self) -> AuditLog:
        """The tamper-evident audit log: entries, verification, checkpoints, proofs."""
        return self._core.log

    def close(self) -> None:
        self._core.close()

    # -- creation and discovery -------------------------------------------------------------

    @classmethod
    def init(
        cls,
        path: str | Path = ".",
        *,
        kms_uri: str | None = None,
        database_url: str | None = None,
        actor: str = "privet",
        clock: Clock = utc_now,
    ) -> Workspace:
        """Create a workspace in ``path/.privet``; the master key file goes outside it."""
        return cls(
            core.create(path, kms_uri=kms_uri, database_url=database_url, actor=actor, clock=clock)
        )

    @classmethod
    def open(cls, path: str | Path | None = None, *, clock: Clock = utc_now) -> Workspace:
        """Open the workspace at ``path``, ``$PRIVET_WORKSPACE`` or the nearest one upward."""
        return cls(core.open_folder(path, clock=clock))

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the catalog ------------------------------------------------------------------------

    def ingest(
        self,
        path: str | Path,
        *,
        name: str,
        owner: str,
        purposes: Sequence[str],
        actor: str,
        legal_basis: str | None = None,
        retention_days: int | None = None,
        subject_id: str | None = None,
        categories: Mapping[str, str] | None = None,
        roles: Mapping[str, str] | None = None,
        classification: str | None = None,
        new_version: bool = False,
        scan: bool = True,
        progress: Callable[[str], None] | None = None,
    ) -> VersionInfo:
        """Register the table at ``path`` as dataset ``name`` (with ``new_version``, as its
        next version), encrypted. Columns not given a ``categories``/``roles`` entry are
        classified by discovery when ``scan``; ``subject_id`` names the column that identifies
        a person when a person may have several rows."""
        return catalog.ingest(
            self._core,
            Path(path),
            name=name,
            owner=owner,
            purposes=purposes,
            actor=actor,
            legal_basis=legal_basis,
            retention_days=retention_days,
            subject_id=subject_id,
            categories=categories,
            roles=roles,
            classification=classification,
            new_version=new_version,
            scan=scan,
            progress=progress,
        )

    def datasets(self) -> list[DatasetInfo]:
        with self._core.reading() as session:
            rows = session.scalars(select(Dataset).order_by(Dataset.name))
            return [catalog.dataset_info(d) for d in rows]

    def dataset(self, name: str) -> DatasetInfo:
        with self._core.reading() as session:
            return catalog.dataset_info(catalog.find_dataset(session, catalog.check_name(name)))

    def lineage(self, ref: str) -> list[lineage.Edge]:
        with self._core.reading() as session:
            _, version = catalog.resolve(session, ref)
            return lineage.edges_of(session, lineage.version_ref(version.id))

    def describe(self, name: str) -> tuple[DatasetInfo, list[Edge]]:
        """Dataset ``name`` and the lineage of its newest version (none before its first),
        read together."""
        with self._core.reading() as session:
            dataset = catalog.find_dataset(session, catalog.check_name(name))
            info = catalog.dataset_info(dataset)
            if not info.versions:
                return info, []
            newest = lineage.version_ref(info.versions[-1].id)
            return info, lineage.edges_of(session, newest)

    # -- differential privacy ---------------------------------------------------------------

    @cached_property
    def dp(self) -> DifferentialPrivacy:
        """Differential privacy: the budget ledger, DP statistics, DP-SGD, DP synthesis."""
        return DifferentialPrivacy(self._core)

    # -- the other capabilities -------------------------------------------------------------

    @cached_property
    def forget(self) -> Forgetting:
        """Retention by crypto-shredding, subject erasure with signed receipts, keep decisions."""
        return Forgetting(self._core)

    @cached_property
    def federated(self) -> Federation:
        """Federated training (SecAgg+, DP per party), joint statistics, set intersection."""
        return Federation(self._core)

    @cached_property
    def openlineage(self) -> OpenLineage:
        """The lineage as OpenLineage events: to a file (JSON lines) or a receiver (Marquez)."""
        return OpenLineage(self._core)

    @cached_property
    def incidents(self) -> Incidents:
        """Incident scoping: what an actor or token read, exported and made; sealed subjects."""
        return Incidents(self._core)

    @cached_property
    def access(self) -> Access:
        """Users and roles, tokens, grants and approvals, the policy, alerts."""
        return Access(self._core)

    @cached_property
    def drills(self) -> Drills:
        """Breach drills against a running server: time to alert, to containment, the scope."""
        return Drills(self._core)

    @cached_property
    def consent(self) -> Consent:
        """Consent per subject and purpose: import, withdraw, grant, counts."""
        return Consent(self._core)

    @cached_property
    def deid(self) -> Deidentification:
        """Protect (mask, pseudonymize, generalize to k/ℓ/t), re-identification risk, detokenize."""
        return Deidentification(self._core)

    @cached_property
    def report(self) -> Reports:
        """Privacy impact assessments of datasets and models, as HTML or PDF."""
        return Reports(self._core)

    @cached_property
    def scan(self) -> Scanning:
        """PII discovery in datasets, files and text; column annotations."""
        return Scanning(self._core)

    @cached_property
    def audit(self) -> Audits:
        """Membership and attribute inference, empirical ε audits, external attack scores."""
        return Audits(self._core)

    @cached_property
    def kpis(self) -> KpisFacade:
        """Privacy KPIs now and over time: ``ws.kpis(since=..., bucket="day")``."""
        return KpisFacade(self._core)

    # -- governed reads ---------------------------------------------------------------------

    def read(
        self,
        ref: str,
        *,
        purpose: str,
        actor: str | None = None,
        identity: policy.Identity | None = None,
        view: str = "raw",
    ) -> pl.DataFrame:
        """The rows of ``ref`` for ``purpose`` as ``view``, through the broker (policy, grant,
        audit); a refusal raises ``PolicyDenied`` and is logged. Who reads is ``identity``
        (authenticated) or ``actor`` (a local name, whose registered roles apply)."""
        return self.release(ref, purpose=purpose, actor=actor, identity=identity, view=view).frame

    def release(
        self,
        ref: str,
        *,
        purpose: str,
        actor: str | None = None,
        identity: policy.Identity | None = None,
        view: str = "raw",
    ) -> policy.Release:
        """Like :meth:`read`, with what the broker released: the version, the view and the
        index of the read's audit entry."""
        return policy.read(
            self._core, ref, purpose=purpose, actor=actor, identity=identity, view=view
        )

    def export(
        self,
        ref: str,
        destination: str | Path,
        *,
        purpose: str,
        actor: str,
        overwrite: bool = False,
        view: str = "raw",
    ) -> policy.Release:
        return policy.export(
            self._core,
            ref,
            Path(destination),
            purpose=purpose,
            actor=actor,
            overwrite=overwrite,
            view=view,
        )

    # -- keys and housekeeping --------------------------------------------------------------

    def rotate_keys(self, *, actor: str, reencrypt: bool = False) -> dict[str, int]:
        """New primary keys everywhere; with ``reencrypt``, rewrite every stored version."""
        return core.rotate_keys(self._core, actor=actor, reencrypt=reencrypt)

    def garbage(self) -> list[str]:
        """Objects no version refers to: left behind by an interrupted write."""
        return core.garbage(self._core)

    def collect_garbage(self) -> list[str]:
        """Delete what :meth:`garbage` lists. Waits for writes in flight to commit (an object
        whose row is not committed yet would look like garbage)."""
        return core.collect_garbage(self._core)
