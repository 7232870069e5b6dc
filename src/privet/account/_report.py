"""The privacy impact assessment (GDPR Art. 35(7)) of a dataset or a model, as HTML or PDF."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from privet.account import _facts, _html
from privet.account._model import Assessment

if TYPE_CHECKING:
    from privet.core import Core

Progress = Callable[[str], None]


def assess(core: Core, name: str, *, actor: str, progress: Progress | None = None) -> Assessment:
    """The assessment of dataset ``name`` (or, if there is none, model ``name``)."""
    return _facts.assess(core, name, actor=actor, progress=progress)


def assess_all(core: Core, *, actor: str, progress: Progress | None = None) -> list[Assessment]:
    """The assessments of every dataset and every model of the workspace."""
    return _facts.assess_all(core, actor=actor, progress=progress)


def html(assessments: Assessment | Sequence[Assessment]) -> str:
    """One self-contained HTML page: inline CSS and pictures, no script, no network."""
    if isinstance(assessments, Assessment):
        return _html.render([assessments])
    return _html.render(assessments, title="Privacy impact assessments of the workspace")


def write(
    assessments: Assessment | Sequence[Assessment], output: Path, *, pdf: bool = False
) -> Path:
    """Write the HTML to ``output`` (atomically); with ``pdf``, print it to ``output``'s PDF
    sibling too (headless Chromium). Returns the PDF's path with ``pdf``, else the HTML's."""
    page = html(assessments)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    partial.write_text(page, encoding="utf-8")
    partial.replace(output)
    if not pdf:
        return output
    return _html.print_pdf(page, output.with_suffix(".pdf"))
