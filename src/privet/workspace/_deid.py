"""``ws.deid``: protect, re-identification risk, linkage, proxies, minimization, detokenize."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from privet.errors import InvalidInput

if TYPE_CHECKING:
    import polars as pl

    from privet.core import Core
    from privet.deid import (
        Column,
        Detokenized,
        LinkageReport,
        MinimizeReport,
        MinimizeRequest,
        ProtectReport,
        ProtectRequest,
        ProxyReport,
        ProxyRequest,
        ReleasesReport,
        RiskReport,
        RiskRequest,
    )

Progress = Callable[[str], None]


class Deidentification:
    """De-identification of a workspace's datasets, and of files with its keys.

    A SOURCE is a dataset (``NAME`` or ``NAME@VERSION``) or a file, by
    :func:`privet.tables.names_file`. Reads of a dataset go through the broker and are logged.
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    def columns(self, ref: str) -> list[Column]:
        """The columns of version ``ref`` with their catalog roles (no data is read)."""
        from privet import deid

        return deid.dataset_columns(self._core, ref)

    def protect(
        self,
        source: str,
        request: ProtectRequest,
        *,
        output: str | Path,
        actor: str,
        overwrite: bool = False,
        progress: Progress | None = None,
        engine: str | None = None,
        spark_master: str | None = None,
    ) -> ProtectReport:
        """Protect ``source`` as ``request`` says, with risk and utility before and after.

        A dataset becomes a new version of dataset ``output`` (with its lineage and audit
        entry); a file becomes file ``output`` (replaced only with ``overwrite``), and the use
        of the workspace's keys on it, if any, is logged. ``engine`` (``polars`` or ``spark``;
        default ``$PRIVET_ENGINE`` or ``polars``) holds a dataset's rows, on ``spark_master``.
        """
        from privet import deid, tables

        if tables.names_file(source):
            _in_process_only(engine, spark_master)
            return deid.protect_file(
                source,
                request,
                output,
                core=self._core,
                actor=actor,
                overwrite=overwrite,
                progress=progress,
            )
        return deid.protect(
            self._core,
            source,
            request,
            name=str(output),
            actor=actor,
            progress=progress,
            engine=engine,
            spark_master=spark_master,
        )

    def risk(
        self,
        source: str,
        request: RiskRequest | None = None,
        *,
        actor: str,
        population: pl.DataFrame | str | Path | None = None,
        engine: str | None = None,
        spark_master: str | None = None,
    ) -> RiskReport:
        """Re-identification risk of ``source``: k, ℓ, t, prosecutor, journalist, marketer.

        ``population`` (a table or its file, with the same quasi-identifiers) gives the
        journalist risk. A dataset is read under privet's assessment purpose (logged), on
        ``engine`` (``polars`` or ``spark``; default ``$PRIVET_ENGINE`` or ``polars``).
        """
        from privet import deid, tables

        if tables.names_file(source):
            _in_process_only(engine, spark_master)
            return deid.file_risk(source, request, population=population)
        return deid.dataset_risk(
            self._core,
            source,
            request,
            actor=actor,
            population=population,
            engine=engine,
            spark_master=spark_master,
        )

    def linkage(
        self,
        source: str,
        other: str,
        *,
        actor: str,
        on: list[str] | None = None,
        precisions: list[float] | None = None,
        probabilistic: bool = True,
    ) -> LinkageReport:
        """Linkage risk of dataset ``source`` against ``other`` (a dataset, a version or a
        CSV/Parquet/JSON-lines file such as a public register) on their shared
        quasi-identifiers (``on``, default found from roles and value overlap): unique exact
        matches, people re-identified by the pair, and a Fellegi–Sunter attacker (Splink) at
        each precision target. Datasets are read under privet's assessment purpose (logged).
        """
        from privet import deid

        return deid.dataset_linkage(
            self._core,
            source,
            other,
            actor=actor,
            on=on,
            precisions=precisions or deid.PRECISIONS,
            probabilistic=probabilistic,
        )

    def release_linkage(
        self,
        source: str,
        *,
        actor: str,
        on: list[str] | None = None,
        precisions: list[float] | None = None,
        probabilistic: bool = True,
    ) -> ReleasesReport:
        """:meth:`linkage` of dataset ``source`` against its source and each other release
        derived from the same root (the same people): two releases that are each k-anonymous
        but link together show here."""
        from privet import deid

        return deid.release_linkage(
            self._core,
            source,
            actor=actor,
            on=on,
            precisions=precisions or deid.PRECISIONS,
            probabilistic=probabilistic,
        )

    def proxies(
        self, source: str, request: ProxyRequest | None = None, *, actor: str
    ) -> ProxyReport:
        """Which features of ``source`` predict each sensitive column, alone and together,
        against the base rate (held-out accuracy with a 95% interval). A dataset is read under
        privet's assessment purpose (logged)."""
        from privet import deid, tables

        if tables.names_file(source):
            return deid.file_proxies(source, request)
        return deid.dataset_proxies(self._core, source, request, actor=actor)

    def minimize(
        self,
        source: str,
        request: MinimizeRequest,
        *,
        actor: str,
        plan: str | Path | None = None,
        plot: str | Path | None = None,
        audit_model: str | None = None,
        purpose: str | None = None,
        progress: Progress | None = None,
    ) -> MinimizeReport:
        """Which columns a model of ``request.target`` needs: what each adds to its utility
        and to risk (uniqueness, attribute inference, membership exposure), and the smallest
        set that keeps ``request.utility_floor`` of the utility. ``plan`` writes that set as a
        plan ``protect`` and ``dp.train(plan=...)`` accept; ``plot`` draws utility against
        risk per column (PNG). A dataset is read under privet's assessment purpose (logged).

        ``audit_model`` (a model name; a dataset only, its owner, with ``purpose``) also
        trains the recommended set by privet's recipe without DP, as ``train --plan`` would,
        and runs the loss attack on it seeded with ``request.seed``: ``privet audit MODEL
        --attack loss --seed S`` gives the same AUC. (Not the full set: privet's recipe
        one-hot encodes every level, and identifying columns have tens of thousands.)"""
        from privet import deid, tables

        say = progress or (lambda _stage: None)
        plan_path = None if plan is None else Path(plan)
        plot_path = None if plot is None else Path(plot)
        if tables.names_file(source):
            if audit_model is not None:
                raise InvalidInput(
                    "the audited model is trained on a dataset: ingest the file first",
                    parameter="audit_model",
                )
            return deid.file_minimize(
                source, request, plan=plan_path, plot=plot_path, progress=progress
            )
        if audit_model is not None and purpose is None:
            raise InvalidInput(
                "the audited model is trained for a purpose: give one of the dataset's purposes",
                parameter="purpose",
            )
        report = deid.dataset_minimize(
            self._core, source, request, actor=actor, plan=plan_path, plot=plot_path,
            progress=progress,
        )  # fmt: skip
        if audit_model is not None and purpose is not None:
            say(f"training and auditing {audit_model}")
            chosen = report.recommended
            chosen.audited_model = audit_model
            chosen.audited_auc = self._audited_auc(
                source, audit_model, report.target, chosen.columns, purpose, actor, request.seed
            )
        return report

    def _audited_auc(
        self,
        source: str,
        name: str,
        target: str,
        features: list[str],
        purpose: str,
        actor: str,
        seed: int,
    ) -> float:
        """Train ``features`` by privet's recipe without DP and attack it (loss attack)."""
        from privet import attacks
        from privet.attacks import MembershipAuditRequest
        from privet.dp import TrainRequest
        from privet.workspace._dp import DifferentialPrivacy

        request = TrainRequest(
            target=target, name=name, purpose=purpose, features=features, no_dp=True
        )
        DifferentialPrivacy(self._core).train(source, request, actor=actor)
        audit = MembershipAuditRequest(attack="loss", seed=seed)
        return attacks.membership(self._core, name, audit, actor=actor).auc

    def detokenize(
        self,
        ref: str,
        column: str,
        *,
        purpose: str,
        actor: str,
        namespace: str = "",
        output: str | Path | None = None,
        overwrite: bool = False,
    ) -> Detokenized:
        """The rows of ``ref`` with the tokens of ``column`` turned back into values.

        A governed read for ``purpose`` (one the data was collected for), then an audit entry
        of its own whose index the result carries; written to ``output`` if given.
        """
        from privet import deid

        return deid.detokenize(
            self._core,
            ref,
            column,
            purpose=purpose,
            actor=actor,
            namespace=namespace,
            output=output,
            overwrite=overwrite,
        )


def _in_process_only(engine: str | None, spark_master: str | None) -> None:
    """A file outside the workspace is read here: only a stored dataset goes to Spark."""
    if engine == "spark" or spark_master is not None:
        raise InvalidInput(
            "the spark engine reads stored datasets through the broker; ingest the file "
            "first (privet ingest FILE --name NAME), then name the dataset",
            parameter="engine",
        )
