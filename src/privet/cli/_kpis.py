"""``privet kpis``: privacy KPIs now, with their series over time in ``--json``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click
from rich.table import Table
from rich.text import Text

from privet.cli._app import Options, cli, command, stdout
from privet.errors import InvalidInput

if TYPE_CHECKING:
    from privet.account import Kpis


def parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            "give an ISO 8601 date or time, e.g. 2026-01-31 or 2026-01-31T08:00Z",
            parameter="since",
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # privet's times are UTC


@click.option("--since", metavar="T", help="Series and event counts from T (ISO 8601, UTC).")
@click.option(
    "--bucket",
    type=click.Choice(["hour", "day", "week"]),
    default="day",
    show_default=True,
    help="The step of the series.",
)
@command(cli, name="kpis")
def kpis_command(opts: Options, since: str | None, bucket: str) -> None:
    """Privacy KPIs: leakage (membership-inference AUC, TPR at 1% FPR), retention compliance,
    ε spent per ledger, grants outstanding and approval times, alerts, erasure requests.
    --json adds each one's series over time."""
    start = parse_since(since)
    with opts.workspace() as ws:
        found = ws.kpis(since=start, bucket=bucket)
    opts.emit(found, lambda: print_kpis(found))


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def print_kpis(k: Kpis) -> None:
    r, g, e = k.retention, k.grants, k.erasures
    table = Table("KPI", "value", title=f"privacy KPIs at {k.now:%Y-%m-%d %H:%M} UTC")
    table.add_row("retention: versions within", f"{r.versions_compliance:.1%} "
                  f"({r.versions_overdue} of {r.versions_live} overdue)")  # fmt: skip
    table.add_row("retention: rows within", f"{r.rows_compliance:.1%} "
                  f"({r.rows_overdue:,} of {r.rows_live:,} overdue)")  # fmt: skip
    table.add_row("grants pending / active", f"{g.pending} / {g.active}")
    table.add_row(
        f"approval time median / max ({g.approvals} since {k.since:%Y-%m-%d})",
        f"{_duration(g.approval_seconds_median)} / {_duration(g.approval_seconds_max)}",
    )
    kinds = ", ".join(f"{n} {kind}" for kind, n in k.alerts.by_kind.items())
    table.add_row(
        f"alerts since {k.since:%Y-%m-%d}", f"{k.alerts.total}" + (f" ({kinds})" if kinds else "")
    )
    table.add_row("erasures open / done / overdue", f"{e.open} / {e.done} / {e.overdue}")
    table.add_row("oldest open erasure", "—" if e.oldest_open_days is None
                  else f"{e.oldest_open_days:.1f} days")  # fmt: skip
    stdout.print(table)
    if k.budgets:
        budgets = Table("ledger", "ε spent", "ε limit", "δ", "releases", title="ε per ledger")
        for b in k.budgets:
            budgets.add_row(Text(b.dataset), _fmt(b.epsilon_spent), _fmt(b.epsilon_limit),
                            f"{b.delta:g}", str(b.releases))  # fmt: skip
        stdout.print(budgets)
    if k.leakage:
        leakage = Table("model", "attack", "AUC", "TPR @ 1% FPR", "audited", title="leakage")
        for lk in k.leakage:
            leakage.add_row(Text(lk.model), lk.attack, _fmt(lk.auc), _fmt(lk.tpr_at_1pct_fpr),
                            f"{lk.audited_at:%Y-%m-%d %H:%M}")  # fmt: skip
        stdout.print(leakage)
    stdout.print(Text(f"{len(k.series)} series per {k.bucket} since {k.since:%Y-%m-%d}: --json",
                      style="dim"))  # fmt: skip
