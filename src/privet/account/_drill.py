"""Breach drills: scripted breaches played against a running ``privet serve``, measured.

A drill runs beside the server, on the same workspace: it registers disposable users
(``drill-<run>-<scenario>``), gives each a disposable dataset of generated rows (no real
person: ids ``DRILL-<run>-<n>``, a region and a score) that the user owns, issues them API
tokens, and then, over HTTP only, plays the attacker:

- ``off_hours_bulk``: a stolen analyst token reads a whole dataset at an hour its owner never
  works. The drill gives the fresh user a reading history (``seed_baseline``: a few reads, all
  twelve hours away from now), logged as ``baseline.seed``, so that *now* is off-hours for them.
- ``scraping``: the whole dataset read through many small pages (``offset``/``limit``).
- ``purpose_hopping``: the same dataset read under one declared purpose after another.
- ``revoked_token``: a token revoked by the operator (reported stolen) replayed; its user also
  holds a live token, which containment must end too.

For each it measures the **time to alert** (from just before the request that completes the
pattern to the alert being visible in the workspace's alerts) and the **time to containment**
(from the alert to the attacker's token being refused, 401/403, by the server). Containment is
the policy's (``alerts.contain`` lists the kind); when the policy does not contain that kind,
the drill acts as the responder and contains the user itself when it sees the alert, and the
report says so. The scenario sizes follow the thresholds of the policy in force.

The ground truth is what the drill itself received (rows, and the distinct subject ids in
them); the report sets it beside the incident scope privet computes from its log for the same
user and window. Afterwards the drill disables its users; their datasets stay (named
``drill-…``), and the log, append-only, keeps every step.
"""

from __future__ import annotations

import io
import secrets
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import httpx
import polars as pl
from pydantic import BaseModel, Field

from privet import catalog, policy, tables
from privet.errors import InvalidInput, NotFound, PrivetError
from privet.timestamps import UtcDatetime

if TYPE_CHECKING:
    from privet.core import Core

SCENARIOS: dict[str, str] = {
    "off_hours_bulk": "a stolen analyst token reads a whole dataset at an hour its owner "
    "never works",
    "scraping": "slow scraping: a whole dataset read through many small pages",
    "purpose_hopping": "one dataset read under one declared purpose after another",
    "revoked_token": "a revoked token replayed while its user still holds a live one",
}
GOAL_SECONDS = 1.0  # acceptance: alert, and containment after it, each within a second
_SUBJECT = "drill_subject"
_POLL = 0.005  # seconds between two looks at the alerts or the attacker's token
Progress = Callable[[str], None]


class Scope(BaseModel):
    """What one user read: datasets, rows and distinct subjects."""

    datasets: list[str]
    reads: int
    rows: int
    subjects: int


class ScenarioResult(BaseModel):
    scenario: str
    description: str
    user: str = Field(description="The disposable user whose token the attacker holds.")
    dataset: str
    started_at: UtcDatetime
    alert_kind: str = Field(description="The alert the scenario must raise.")
    alert_id: int | None = None
    alert_log_index: int | None = None
    time_to_alert_seconds: float | None = None
    contained_by: Literal["policy", "drill"] | None = Field(
        None, description="policy: alerts.contain; drill: the drill contained when alerted."
    )
    time_to_containment_seconds: float | None = None
    refused_with: int | None = Field(None, description="The HTTP status that refused the token.")
    ground_truth: Scope
    privet_scope: Scope | None = Field(None, description="What privet's incident scope says.")
    scope_matches: bool | None = None
    passed: bool = False
    notes: list[str] = []


class DrillReport(BaseModel):
    """An after-action report: one result per scenario."""

    run: str
    server: str
    started_at: UtcDatetime
    finished_at: UtcDatetime
    goal_seconds: float
    scenarios: list[ScenarioResult]
    disabled_users: list[str]
    passed: bool


ScopeFn = Callable[[str, datetime], Scope | None]


def run_drill(
    core: Core,
    server: str,
    *,
    actor: str,
    scenarios: Sequence[str] | None = None,
    scope: ScopeFn | None = None,
    timeout: float = 5.0,
    verify: bool | str = True,
    progress: Progress | None = None,
) -> DrillReport:
    """Play ``scenarios`` (default: all) against the server at ``server`` (serving this
    workspace) and measure them; ``scope(user, since)`` is privet's incident scope."""
    chosen = list(scenarios or SCENARIOS)
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        raise InvalidInput(
            f"unknown drill scenario {unknown[0][:40]!r}; one of {', '.join(SCENARIOS)}",
            parameter="scenario",
        )
    step = progress or (lambda _stage: None)
    run = secrets.token_hex(3)
    started = core.now()
    drill = _Drill(core, server, actor=actor, run=run, timeout=timeout, verify=verify)
    results = []
    try:
        drill.check_server()
        for name in chosen:
            step(name)
            result = drill.play(name)
            if scope is not None:
                result.privet_scope = scope(result.user, result.started_at)
                if result.privet_scope is not None:
                    result.scope_matches = _same(result.privet_scope, result.ground_truth)
                    if not result.scope_matches:
                        result.notes.append("privet's scope differs from the ground truth")
            else:
                result.notes.append("no incident scope available to compare")
            result.passed = _passed(result)
            results.append(result)
    finally:
        disabled = drill.clean_up()
        drill.close()
    return DrillReport(
        run=run,
        server=server,
        started_at=started,
        finished_at=core.now(),
        goal_seconds=GOAL_SECONDS,
        scenarios=results,
        disabled_users=disabled,
        passed=bool(results) and all(r.passed for r in results),
    )


def _same(found: Scope, truth: Scope) -> bool:
    return (
        sorted(found.datasets) == sorted(truth.datasets)
        and found.reads == truth.reads
        and found.rows == truth.rows
        and found.subjects == truth.subjects
    )


def _passed(result: ScenarioResult) -> bool:
    return (
        result.time_to_alert_seconds is not None
        and result.time_to_alert_seconds <= GOAL_SECONDS
        and result.time_to_containment_seconds is not None
        and result.time_to_containment_seconds <= GOAL_SECONDS
        and result.scope_matches is not False
    )


class _Truth:
    """What the attacker actually received."""

    def __init__(self, dataset: str) -> None:
        self.dataset = dataset
        self.reads = 0
        self.rows = 0
        self.subjects: set[str] = set()

    def add(self, body: bytes) -> None:
        frame = pl.read_parquet(io.BytesIO(body))
        self.reads += 1
        self.rows += frame.height
        self.subjects.update(frame[_SUBJECT].cast(pl.String).to_list())

    def scope(self) -> Scope:
        datasets = [self.dataset] if self.reads else []
        return Scope(
            datasets=datasets, reads=self.reads, rows=self.rows, subjects=len(self.subjects)
        )


class _Drill:
    def __init__(
        self,
        core: Core,
        server: str,
        *,
        actor: str,
        run: str,
        timeout: float,
        verify: bool | str,
    ) -> None:
        self.core = core
        self.actor = actor
        self.run = run
        self.timeout = timeout
        self.http = httpx.Client(base_url=server.rstrip("/"), timeout=30, verify=verify)
        self.thresholds = policy.current_alerts(core)
        self.users: list[str] = []
        self.folder = tempfile.TemporaryDirectory(prefix="privet-drill-")

    def close(self) -> None:
        self.http.close()
        self.folder.cleanup()

    def check_server(self) -> None:
        try:
            self.http.get("/openapi.json").raise_for_status()
        except httpx.HTTPError:
            raise InvalidInput(
                f"no privet service answers at {str(self.http.base_url)[:200]} (start one with "
                "`privet serve` on this workspace)",
                parameter="server",
            ) from None

    # -- setting up ------------------------------------------------------------------------

    def _user(self, scenario: str) -> str:
        name = f"drill-{self.run}-{scenario.replace('_', '-')}"
        policy.add_user(self.core, name, roles=["drill"], actor=self.actor)
        self.users.append(name)
        return name

    def _token(self, user: str) -> policy.IssuedToken:
        return policy.issue_token(self.core, user, expires_in=timedelta(hours=1), actor=self.actor)

    def _dataset(self, user: str, scenario: str, rows: int, purposes: list[str]) -> str:
        """Generated rows, one disposable subject each, owned by ``user``."""
        name = f"drill-{self.run}-{scenario.replace('_', '-')}"
        rng = secrets.SystemRandom()
        frame = pl.DataFrame(
            {
                _SUBJECT: [f"DRILL-{self.run}-{i:06d}" for i in range(rows)],
                "region": [rng.choice(["north", "south", "east", "west"]) for _ in range(rows)],
                "score": [rng.randrange(1000) for _ in range(rows)],
            }
        )
        path = Path(self.folder.name) / f"{name}.parquet"
        frame.write_parquet(path)
        catalog.ingest(
            self.core,
            path,
            name=name,
            owner=user,
            purposes=purposes,
            actor=self.actor,
            subject_id=_SUBJECT,
            categories={_SUBJECT: "user.unique_id"},
            scan=False,
        )
        return name

    # -- the attacker's requests -----------------------------------------------------------

    def _get(
        self, path: str, token: str, params: dict[str, str | int] | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(20):
            response = self.http.get(path, headers=headers, params=params)
            if response.status_code != 429:
                return response
            # The server's per-token rate limit: a slow scraper waits, as a real one would.
            time.sleep(float(response.headers.get("Retry-After", "1")))
        return response

    def _read(
        self,
        truth: _Truth,
        token: str,
        purpose: str,
        page: tuple[int, int] | None = None,
    ) -> httpx.Response:
        params: dict[str, str | int] = {"purpose": purpose, "format": "parquet"}
        if page is not None:
            params.update(offset=page[0], limit=page[1])
        response = self._get(f"/v1/datasets/{truth.dataset}/rows", token, params)
        if response.status_code == 200:
            truth.add(response.content)
        return response

    # -- measuring -------------------------------------------------------------------------

    def _last_alert(self) -> int | None:
        found = policy.list_alerts(self.core)
        return found[0].id if found else None

    def _await_alert(self, result: ScenarioResult, since: int | None, start: float) -> float | None:
        deadline = start + self.timeout
        while True:
            for alert in policy.list_alerts(self.core, since=since):
                if alert.user == result.user and alert.kind == result.alert_kind:
                    seen = time.perf_counter()
                    result.alert_id, result.alert_log_index = alert.id, alert.log_index
                    result.time_to_alert_seconds = round(seen - start, 4)
                    return seen
            if time.perf_counter() > deadline:
                result.notes.append(f"no {result.alert_kind} alert within {self.timeout:g} s")
                return None
            time.sleep(_POLL)

    def _await_refusal(self, result: ScenarioResult, token: str, alerted: float) -> None:
        if result.alert_kind in self.thresholds.contain:
            result.contained_by = "policy"
        else:
            result.contained_by = "drill"
            result.notes.append(
                f"the policy does not contain {result.alert_kind} (alerts.contain): the drill "
                "contained the user when it saw the alert"
            )
            policy.contain(self.core, result.user, actor=self.actor, reason="drill")
        deadline = alerted + self.timeout
        while True:
            status = self._get("/v1/me", token).status_code
            if status in (401, 403):
                result.refused_with = status
                result.time_to_containment_seconds = round(time.perf_counter() - alerted, 4)
                return
            if time.perf_counter() > deadline:
                result.notes.append(f"the token still worked {self.timeout:g} s after the alert")
                return
            time.sleep(_POLL)

    def _result(self, scenario: str, user: str, dataset: str, kind: str) -> ScenarioResult:
        return ScenarioResult(
            scenario=scenario,
            description=SCENARIOS[scenario],
            user=user,
            dataset=dataset,
            started_at=self.core.now(),
            alert_kind=kind,
            ground_truth=Scope(datasets=[], reads=0, rows=0, subjects=0),
        )

    def _finish(
        self,
        result: ScenarioResult,
        truth: _Truth,
        since: int | None,
        start: float,
        attacker: str,
        response: httpx.Response,
    ) -> ScenarioResult:
        if response.status_code not in (200, 401, 403):
            result.notes.append(f"the anomalous request got HTTP {response.status_code}")
        alerted = self._await_alert(result, since, start)
        if alerted is not None:
            self._await_refusal(result, attacker, alerted)
        result.ground_truth = truth.scope()
        return result

    # -- the scenarios ---------------------------------------------------------------------

    def play(self, scenario: str) -> ScenarioResult:
        return getattr(self, f"_{scenario}")()

    def _off_hours_bulk(self) -> ScenarioResult:
        t = self.thresholds
        user = self._user("off_hours_bulk")
        rows = max(t.bulk_rows, 100)
        result_started = self.core.now()
        dataset = self._dataset(user, "off_hours_bulk", rows, ["drill"])
        result = self._result("off_hours_bulk", user, dataset, "off_hours_bulk")
        result.started_at = result_started
        away = (self.core.now().hour + 12) % 24
        # Same volume as the bulk read: only the hour is unusual, not the size.
        policy.seed_baseline(
            self.core, user, reads=t.min_history, rows_per_read=rows, hours=[away], actor=self.actor
        )
        result.notes.append(f"baseline seeded: {t.min_history} reads at {away:02d}h UTC")
        token = self._token(user).secret
        truth = _Truth(dataset)
        since = self._last_alert()
        start = time.perf_counter()
        response = self._read(truth, token, "drill")
        return self._finish(result, truth, since, start, token, response)

    def _scraping(self) -> ScenarioResult:
        t = self.thresholds
        user = self._user("scraping")
        page = max(1, min(t.scrape_rows, 20))
        pages = t.scrape_reads
        started = self.core.now()
        dataset = self._dataset(user, "scraping", page * pages, ["drill"])
        result = self._result("scraping", user, dataset, "scraping")
        result.started_at = started
        token = self._token(user).secret
        truth = _Truth(dataset)
        for i in range(pages - 1):
            self._read(truth, token, "drill", (i * page, page))
        since = self._last_alert()
        start = time.perf_counter()
        response = self._read(truth, token, "drill", ((pages - 1) * page, page))
        result.notes.append(f"{pages} pages of {page} rows")
        return self._finish(result, truth, since, start, token, response)

    def _purpose_hopping(self) -> ScenarioResult:
        t = self.thresholds
        user = self._user("purpose_hopping")
        purposes = [f"drill-purpose-{i + 1}" for i in range(t.hop_purposes)]
        started = self.core.now()
        dataset = self._dataset(user, "purpose_hopping", 50, purposes)
        result = self._result("purpose_hopping", user, dataset, "purpose_hopping")
        result.started_at = started
        token = self._token(user).secret
        truth = _Truth(dataset)
        for purpose in purposes[:-1]:
            self._read(truth, token, purpose)
        since = self._last_alert()
        start = time.perf_counter()
        response = self._read(truth, token, purposes[-1])
        return self._finish(result, truth, since, start, token, response)

    def _revoked_token(self) -> ScenarioResult:
        user = self._user("revoked_token")
        started = self.core.now()
        dataset = self._dataset(user, "revoked_token", 50, ["drill"])
        result = self._result("revoked_token", user, dataset, "revoked_token")
        result.started_at = started
        stolen, live = self._token(user), self._token(user)
        truth = _Truth(dataset)
        self._read(truth, stolen.secret, "drill")  # used before it was reported stolen
        policy.revoke_token(self.core, stolen.id, actor=self.actor)
        since = self._last_alert()
        start = time.perf_counter()
        response = self._get("/v1/me", stolen.secret)
        if response.status_code not in (401, 403):
            result.notes.append(f"the revoked token got HTTP {response.status_code}")
        # Containment must end the user's other, live token too.
        return self._finish(result, truth, since, start, live.secret, response)

    # -- afterwards ------------------------------------------------------------------------

    def clean_up(self) -> list[str]:
        """Disable every drill user (their tokens stop working); the log keeps everything."""
        done = []
        for user in self.users:
            try:
                policy.set_disabled(self.core, user, disabled=True, actor=self.actor)
                done.append(user)
            except PrivetError:
                continue
        return done


# -- the after-action report as HTML ------------------------------------------------------------

_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>privet breach drill {{ r.run }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1d232a; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #c8ced4; padding: .3rem .6rem; text-align: left; }
th { background: #eef1f4; }
.ok { color: #1a7f37; font-weight: 600; } .bad { color: #b42318; font-weight: 600; }
</style></head><body>
<h1>Breach drill {{ r.run }}: after-action report</h1>
<p>Server {{ r.server }}, {{ r.started_at }} to {{ r.finished_at }}. Goal: an alert within
{{ r.goal_seconds }} s of the anomalous request, containment within {{ r.goal_seconds }} s of the
alert, and privet's incident scope equal to what the drill received.
Overall: <span class="{{ 'ok' if r.passed else 'bad' }}">
{{- 'passed' if r.passed else 'failed' }}</span>.</p>
<table>
<tr><th>scenario</th><th>alert</th><th>time to alert (s)</th><th>contained by</th>
<th>time to containment (s)</th><th>result</th></tr>
{% for s in r.scenarios %}
<tr><td>{{ s.scenario }}</td><td>{{ s.alert_kind }}{% if s.alert_id %} #{{ s.alert_id }}
(log {{ s.alert_log_index }}){% else %}: none{% endif %}</td>
<td>{{ s.time_to_alert_seconds if s.time_to_alert_seconds is not none else '-' }}</td>
<td>{{ s.contained_by or '-' }}{% if s.refused_with %} (HTTP {{ s.refused_with }}){% endif %}</td>
<td>{{ s.time_to_containment_seconds if s.time_to_containment_seconds is not none else '-' }}</td>
<td class="{{ 'ok' if s.passed else 'bad' }}">{{ 'passed' if s.passed else 'failed' }}</td></tr>
{% endfor %}
</table>
{% for s in r.scenarios %}
<h2>{{ s.scenario }}</h2>
<p>{{ s.description }}. User {{ s.user }}, dataset {{ s.dataset }}, from {{ s.started_at }}.</p>
<table>
<tr><th></th><th>datasets</th><th>reads</th><th>rows</th><th>distinct subjects</th></tr>
<tr><th>ground truth (what the drill received)</th>
<td>{{ s.ground_truth.datasets | join(', ') or '-' }}</td>
<td>{{ s.ground_truth.reads }}</td><td>{{ s.ground_truth.rows }}</td>
<td>{{ s.ground_truth.subjects }}</td></tr>
{% if s.privet_scope %}
<tr><th>privet's incident scope</th><td>{{ s.privet_scope.datasets | join(', ') or '-' }}</td>
<td>{{ s.privet_scope.reads }}</td><td>{{ s.privet_scope.rows }}</td>
<td>{{ s.privet_scope.subjects }}</td></tr>
{% endif %}
</table>
<p>Scope {% if s.scope_matches is none %}not compared{% elif s.scope_matches -%}
<span class="ok">matches</span>{% else %}<span class="bad">differs</span>{% endif %}.</p>
{% if s.notes %}<ul>{% for n in s.notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}
{% endfor %}
<p>Disabled afterwards: {{ r.disabled_users | join(', ') or 'none' }}.
The audit log keeps every step.</p>
</body></html>
"""


def render_html(report: DrillReport) -> str:
    """The after-action report as one self-contained HTML page."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_HTML).render(r=report)


def drill_scope(core: Core, *, actor: str) -> ScopeFn:
    """privet's incident scope (``privet.account.scope``, computed and logged by ``actor``) of
    a drill user since a time, in the drill's terms."""
    from privet.account._incident import scope

    def compute(user: str, since: datetime) -> Scope:
        found = scope(core, actor=user, since=since, by=actor)
        return Scope(
            datasets=sorted(found.datasets),
            reads=found.reads,
            rows=found.rows,
            subjects=found.subjects.total,
        )

    return compute


def check_output(path: Path) -> None:
    """Refuse an after-action report path before the drill runs: .html or .json, in a folder
    that exists."""
    if path.suffix.lower() not in (".html", ".htm", ".json"):
        raise InvalidInput(
            f"the after-action report is .html or .json, not {path.suffix[:12] or 'no suffix'!r}",
            parameter="output",
        )
    if path.is_dir():
        raise InvalidInput(f"{path} is a directory; give a file name", parameter="output")
    if not path.parent.is_dir():
        raise NotFound(f"the folder {path.parent} does not exist", parameter="output")


def write_report(report: DrillReport, path: Path) -> None:
    """Write ``report`` to ``path`` (HTML or JSON by its suffix), whole or not at all."""
    check_output(path)
    html = path.suffix.lower() in (".html", ".htm")
    text = render_html(report) if html else report.model_dump_json(indent=2)
    # Ids, counts and timings only: nothing personal, so readable like any report (0644).
    with tables.atomic_file(path, mode=0o644) as out:
        out.write(text.encode())
