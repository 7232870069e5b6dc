"""The GDPR Art. 33(3) notification, prefilled from the scope: nature, people and data
concerned, likely consequences, severity and measures; what a person must complete is named."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from privet.account._incident_categories import CONSEQUENCES, is_special
from privet.account._incident_entries import Work
from privet.account._incident_models import (
    TO_FILL,
    ContainmentDone,
    Notification,
    SubjectCount,
    VersionRead,
)
from privet.taxonomy import CATEGORIES, Level


def notification(
    actor: str,
    token: str | None,
    since: datetime | None,
    until: datetime,
    work: Work,
    versions: list[VersionRead],
    rows: int,
    subjects: SubjectCount,
    containment: ContainmentDone | None,
) -> Notification:
    disclosed = [v for v in versions if v.disclosed]
    columns = [c for v in disclosed for c in v.columns if c.category]
    categories = sorted({c.category for c in columns if c.category})
    clear = {c.category for c in columns if c.category and not c.masked}
    special = sorted(c for c in clear if is_special(c))
    levels = [CATEGORIES[c][1] for c in clear if c in CATEGORIES]
    if special or Level.RESTRICTED in levels:
        severity: Literal["high", "medium", "low"] = "high"
    elif Level.CONFIDENTIAL in levels or any(c.role == "direct_identifier" for c in columns):
        severity = "medium"
    else:
        severity = "low"
    if not disclosed:
        severity = "low"
    harms = sorted({h for c in clear for prefix, h in CONSEQUENCES.items() if c.startswith(prefix)})
    window = f"from {since.isoformat()} " if since else ""
    who = f"{actor} (API token {token})" if token else actor
    exports = len(work.exports)
    nature = (
        f"Confidentiality breach (to confirm): access to personal data by {who} {window}"
        f"until {until.isoformat()}: {work.reads} read(s) of {len(disclosed)} dataset "
        f"version(s) disclosing {rows} record(s), {exports} of them exported "
        f"({', '.join(sorted({e.channel.split(':')[0] for e in work.exports})) or 'none'}); "
        f"purposes claimed: {', '.join(sorted(work.purposes)) or 'none'}."
    )
    subjects_text = (
        f"People whose records are in {', '.join(sorted({v.dataset for v in disclosed}))}"
        f" ({TO_FILL}: customers, employees, patients, …)"
        if disclosed
        else "none: no rows of people were disclosed"
    )
    if any(c.startswith("user.children") for c in categories):
        subjects_text += "; includes children"
    consequences = (
        f"{severity.upper()} risk: "
        + ("; ".join(harms) if harms else "limited")
        + (f"; special categories disclosed: {', '.join(special)}" if special else "")
    )
    if containment:
        measures = (
            f"Containment before this scope (audit log entry {containment.log_index}): "
            f"{len(containment.tokens_revoked)} API token(s) and "
            f"{len(containment.grants_revoked)} grant(s) of {actor} revoked at once. "
            f"Further measures: {TO_FILL}"
        )
    else:
        measures = TO_FILL
    to_fill = ["nature (confirm)", "subject_categories", "dpo_contact"]
    if not containment:
        to_fill.append("measures_taken")
    return Notification(
        nature=nature,
        subject_categories=subjects_text,
        data_categories=categories,
        special_categories=special,
        approximate_subjects=subjects.total,
        approximate_records=rows,
        likely_consequences=consequences,
        severity=severity,
        measures_taken=measures,
        to_fill=to_fill,
    )
