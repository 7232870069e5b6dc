"""An incident scope as one self-contained HTML page (inline CSS; no script, image or link
to anything outside the file), from the Jinja2 template ``templates/incident.html.j2``."""

from __future__ import annotations

from importlib import metadata

import jinja2

from privet.account._incident_models import TO_FILL, IncidentScope


def render_incident(incident: IncidentScope) -> str:
    """The HTML report of ``incident`` (every value escaped by the template engine)."""

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("privet.account"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    template = env.get_template("incident.html.j2")
    return template.render(s=incident, n=incident.notification, to_fill=TO_FILL, version=_version())


def _version() -> str:
    # From the installed metadata: importing ``privet`` here would import the workspace,
    # a layer above this one.
    try:
        return metadata.version("privet")
    except metadata.PackageNotFoundError:
        return "(source)"
