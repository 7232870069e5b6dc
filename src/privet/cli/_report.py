"""``privet report``: the privacy impact assessment of a dataset or a model."""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from privet.cli._app import Options, command, stdout


@click.argument("name", required=False, metavar="DATASET|MODEL")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The HTML file to write (self-contained: no script, no network).",
)
@click.option("--pdf", is_flag=True, help="Also print it to PDF (OUTPUT.pdf) with Chromium.")
@click.option("--all", "every", is_flag=True, help="Every dataset and model of the workspace.")
@command(name="report")
def report_command(
    opts: Options, name: str | None, output: Path | None, pdf: bool, every: bool
) -> None:
    """Privacy impact assessment (GDPR Art. 35(7)) of a dataset or model, from measured facts.

    Every number names the command that reproduces it; what cannot be measured (necessity,
    consultation, sign-off) is a marked field for a person to fill. --json prints the facts.
    """
    if (name is None) == (not every):
        raise click.UsageError("give a DATASET or MODEL name, or --all")
    if output is None and not opts.as_json:
        raise click.UsageError("give -o report.html (or --json for the facts)")
    if pdf and output is None:
        raise click.UsageError("--pdf needs -o report.html")
    with opts.workspace() as ws, opts.progress("assessing") as step:
        if every:
            found = ws.report.assess_all(actor=opts.actor, progress=step)
        else:
            assert name is not None
            found = [ws.report.assess(name, actor=opts.actor, progress=step)]
        written = None
        if output is not None:
            step("writing")
            written = ws.report.write(found if every else found[0], output, pdf=pdf)
    data = {
        "output": None if output is None else str(output),
        "pdf": str(written) if pdf and written is not None else None,
        "assessments": [a.summary() for a in found],
    }

    def human() -> None:
        facts = sum(len(a.facts()) for a in found)
        fill = sum(len(a.to_fill()) for a in found)
        reused = sum(a.reused for a in found)
        measured = sum(a.measured for a in found)
        stdout.print(
            Text(
                f"Wrote {output}{f' and {written}' if pdf else ''}: {len(found)} assessment(s), "
                f"{facts} facts ({measured} measured now, {reused} reused), {fill} fields "
                "to fill by a person"
            )
        )

    opts.emit(data, human)
