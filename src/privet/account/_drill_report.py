"""The after-action report: one self-contained HTML page or JSON, written whole or not at
all, and the check of its path before the drill runs."""

from __future__ import annotations

from pathlib import Path

from privet import tables
from privet.account._drill_models import DrillReport
from privet.errors import InvalidInput, NotFound

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
