"""``ws.scan``: PII discovery in datasets, files and text; annotations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from privet.catalog import ColumnAnnotation
    from privet.core import Core
    from privet.discover import RecognizerRegistry, ScanReport, TextScan
    from privet.policy import Identity

Progress = Callable[[str], None]
# privet's own processing: logged like any read, never exported (see privet.policy).
_ASSESSMENT = "privet:assessment"


class Scanning:
    """PII discovery: each column's data category, role and entities, the quasi-identifier
    sets of a table, and the entities of a text; corrections of a column's classification.

    Reports hold shares, names and spans, never a value (``examples`` are masked). A
    ``recognizers`` argument is a registry, or a YAML recognizer file added to the built-ins.
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    def dataset(
        self,
        ref: str,
        *,
        actor: str | None = None,
        identity: Identity | None = None,
        sample: int | None = None,
        recognizers: RecognizerRegistry | str | Path | None = None,
        examples: bool = False,
        progress: Progress | None = None,
        engine: str | None = None,
        spark_master: str | None = None,
    ) -> ScanReport:
        """Scan dataset version ``ref`` (``NAME`` or ``NAME@VERSION``), read through the broker
        for privet's own assessment purpose (logged) as ``identity`` or local ``actor``.

        With ``sample``, at most that many rows drawn at random; ``examples`` adds up to three
        masked values per column with a finding. On ``engine="spark"`` the same sample is
        drawn there (same rows, same roles) and only it comes to this process.
        """
        from privet import discover, policy
        from privet import engine as engines

        registry = _registry(recognizers)  # a bad recognizer file fails before the read
        if engines.choose_engine(engine) == "spark":
            with engines.open_rows(
                self._core,
                ref,
                purpose=_ASSESSMENT,
                actor=actor,
                identity=identity,
                engine="spark",
                spark_master=spark_master,
            ) as rows:
                table = engines.sample_rows(rows, sample, seed=0) if sample else rows.collect()
                report = discover.scan_frame(
                    table,
                    registry=registry,
                    examples=examples,
                    progress=progress,
                    total_rows=rows.height,
                )
                report.source = ref
                return report
        release = policy.read(self._core, ref, purpose=_ASSESSMENT, actor=actor, identity=identity)
        report = discover.scan_frame(
            release.frame,
            sample=sample,
            registry=registry,
            examples=examples,
            progress=progress,
        )
        report.source = release.version.ref
        return report

    def file(
        self,
        path: str | Path,
        *,
        sample: int | None = None,
        recognizers: RecognizerRegistry | str | Path | None = None,
        examples: bool = False,
        progress: Progress | None = None,
    ) -> ScanReport:
        """Scan a CSV, Parquet or JSON lines file (see :func:`privet.discover.scan_file`)."""
        from privet import discover

        return discover.scan_file(
            path, sample=sample, recognizers=recognizers, examples=examples, progress=progress
        )

    def text(
        self,
        text: str,
        *,
        recognizers: RecognizerRegistry | str | Path | None = None,
        examples: bool = False,
    ) -> TextScan:
        """The entities of ``text`` with their spans, lines and columns, and counts by type."""
        from privet import discover

        return discover.scan_document(text, recognizers=recognizers, examples=examples)

    def text_file(
        self,
        path: str | Path,
        *,
        recognizers: RecognizerRegistry | str | Path | None = None,
        examples: bool = False,
    ) -> TextScan:
        """:meth:`text` over a UTF-8 text file (up to 1 GiB)."""
        from privet import discover

        return discover.scan_text_file(path, recognizers=recognizers, examples=examples)

    def annotate(
        self,
        name: str,
        column: str,
        *,
        actor: str,
        category: str | None = None,
        role: str | None = None,
    ) -> ColumnAnnotation:
        """Correct ``column`` of the latest version of dataset ``name``: its fideslang
        ``category`` and ``role`` (default: the category's usual role); give at least one.

        The correction is logged, wins over later scans, and recomputes the dataset's level.
        """
        from privet import catalog

        return catalog.annotate(self._core, name, column, category=category, role=role, actor=actor)


def _registry(recognizers: RecognizerRegistry | str | Path | None) -> RecognizerRegistry | None:
    from privet import discover

    if recognizers is None or isinstance(recognizers, discover.RecognizerRegistry):
        return recognizers
    return discover.load_recognizers(recognizers)
