"""The minimization advisor's outputs: the plan (for protect --plan and train --plan), the
picture, and the entry points for a stored dataset and for a file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from privet import tables
from privet.deid._columns import ASSESSMENT, file_columns, require_columns, stored_columns
from privet.deid._minimize import MinimizeReport, MinimizeRequest, minimize
from privet.deid._plan import Column, ColumnRule, Plan
from privet.deid._protect import Progress

if TYPE_CHECKING:
    from privet.core import Core


def plan_of(report: MinimizeReport, columns: Sequence[Column]) -> Plan:
    """The plan that keeps the recommended columns and the target and drops the rest: for
    ``protect`` (a release with only what the model needs) and ``train --plan``."""
    kept = {*report.recommended.columns, report.target}
    return Plan(
        target=report.target,
        features=list(report.recommended.columns),
        quasi_identifiers=list(report.recommended.quasi_identifiers),
        columns={c.name: ColumnRule(operator="drop") for c in columns if c.name not in kept},
        direct_identifiers="drop",
    )


def write_plan(report: MinimizeReport, columns: Sequence[Column], path: Path) -> Plan:
    """Write the plan of ``report`` to ``path`` (YAML, whole or not at all)."""
    plan = plan_of(report, columns)
    data = plan.model_dump(mode="json", exclude_defaults=False, exclude_none=True)
    data["columns"] = {name: "drop" for name in data["columns"]}
    header = (
        f"# privet minimize {report.source} --target {report.target} "
        f"--utility-floor {report.utility_floor:g}\n"
        f"# keeps {len(report.recommended.columns)} of {len(report.full.columns)} candidate "
        f"columns: {report.metric} {report.recommended.utility:.4f} against "
        f"{report.full.utility:.4f} with all of them\n"
    )
    text = header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    with tables.atomic_file(path, mode=0o644) as out:
        out.write(text.encode())
    return plan


def dataset_minimize(
    core: Core,
    ref: str,
    request: MinimizeRequest,
    *,
    actor: str,
    plan: Path | None = None,
    plot: Path | None = None,
    progress: Progress | None = None,
) -> MinimizeReport:
    """The advisor on a stored dataset, read through the broker under privet's assessment
    purpose (one logged read); ``plan`` and ``plot`` are written when given."""
    from privet import policy

    stored = stored_columns(core, ref)
    # A target the catalog does not know fails before the logged read (minimize checks again).
    require_columns({c.name for c in stored.columns}, f"dataset {ref!r}", target=[request.target])
    read = policy.read(core, stored.ref, purpose=ASSESSMENT, actor=actor)
    report = minimize(
        read.frame, stored.columns, request, source=stored.ref, subject=stored.subject,
        progress=progress,
    )  # fmt: skip
    return _written(report, stored.columns, plan, plot)


def file_minimize(
    path: str | Path,
    request: MinimizeRequest,
    *,
    plan: Path | None = None,
    plot: Path | None = None,
    progress: Progress | None = None,
) -> MinimizeReport:
    """The advisor on a CSV, Parquet or JSON-lines file (roles from discovery)."""
    frame = tables.read_table(Path(path)).frame
    columns = file_columns(frame)
    report = minimize(frame, columns, request, source=str(path), progress=progress)
    return _written(report, columns, plan, plot)


def _written(
    report: MinimizeReport, columns: Sequence[Column], plan: Path | None, plot: Path | None
) -> MinimizeReport:
    if plan is not None:
        write_plan(report, columns, plan)
    if plot is not None:
        draw(report, plot)
    return report


def draw(report: MinimizeReport, path: Path) -> Path:
    """The picture: each column's utility added against what it adds to each risk (PNG,
    written whole or not at all); kept columns in blue, dropped ones in orange."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    risks = (
        ("uniqueness added (share of records)", lambda c: c.uniqueness_added),
        ("attribute inference (best lift alone)", lambda c: max([0.0, *c.inference.values()])),
        ("membership AUC added", lambda c: c.membership_added),
    )
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.4), dpi=100, sharex=True)
    try:
        for ax, (label, value) in zip(axes, risks, strict=True):
            for cost in report.columns:
                colour = "tab:blue" if cost.kept else "tab:orange"
                x, y = cost.utility_added, value(cost)
                ax.scatter([x], [y], color=colour, s=22)
                ax.annotate(cost.column, (x, y), fontsize=7, xytext=(3, 2),
                            textcoords="offset points")  # fmt: skip
            ax.axvline(report.standard_error, color="grey", linestyle="--", linewidth=0.8)
            ax.set_xlabel(f"{report.metric} added (dashed: one standard error)")
            ax.set_ylabel(label)
        fig.suptitle(
            f"{report.source}: what each column adds to predicting {report.target} and to risk "
            f"(blue kept, orange dropped)",
            fontsize=10,
        )
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    with tables.atomic_file(path, mode=0o644) as out:
        out.write(buffer.getvalue())
    return path
