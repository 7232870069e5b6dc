"""The assessment as one self-contained HTML page (inline CSS and SVG, no script, no network),
and as PDF through headless Chromium's print."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import jinja2
from markupsafe import Markup

from privet.account._model import HEADLINE, Assessment
from privet.errors import InvalidInput, PrivetError


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("privet")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("privet.account"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    # Pictures are made by privet itself (matplotlib, the lineage drawer); every label in
    # them is escaped where it is written.
    env.filters["svg"] = Markup
    return env


def render(assessments: Sequence[Assessment], *, title: str | None = None) -> str:
    """The HTML of one or more assessments (one page, a contents list when several)."""
    if not assessments:
        raise InvalidInput("there is nothing to report: the workspace has no dataset or model")
    first = assessments[0]
    heading = title or f"Privacy impact assessment: {first.kind} {first.subject}"
    template = _environment().get_template("assessment.html.j2")
    return template.render(
        title=heading,
        assessments=list(assessments),
        version=_version(),
        first=first,
        headline={kind: [title for title, _ in columns] for kind, columns in HEADLINE.items()},
    )


class ChromiumMissing(PrivetError):
    """No headless Chromium to print the PDF with."""


def chromium() -> str:
    for name in (os.environ.get("PRIVET_CHROMIUM"), "chromium", "chromium-browser"):
        if name and (found := shutil.which(name)):
            return found
    raise ChromiumMissing(
        "printing the report as PDF needs Chromium, which is not installed: "
        "apt-get install chromium (or write HTML only)"
    )


def print_pdf(html: str, output: Path, *, timeout: float = 120.0) -> Path:
    """Print ``html`` to ``output`` with headless Chromium (written atomically)."""
    browser = chromium()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="privet-pdf-") as folder:
        page = Path(folder) / "report.html"
        page.write_text(html, encoding="utf-8")
        partial = Path(folder) / "report.pdf"
        command = [
            browser,
            "--headless",
            "--no-sandbox",  # root in containers and CI, where the sandbox cannot start
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-pdf-header-footer",
            f"--user-data-dir={Path(folder) / 'profile'}",
            f"--print-to-pdf={partial}",
            page.as_uri(),
        ]
        try:
            subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise PrivetError(f"Chromium did not print the report within {timeout:g} s") from None
        if not partial.is_file() or partial.stat().st_size == 0:
            raise PrivetError("Chromium did not print the report (no PDF was written)")
        tmp = output.with_name(output.name + ".partial")
        shutil.copyfile(partial, tmp)
        tmp.replace(output)
    return output
