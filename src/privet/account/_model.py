"""What a privacy impact assessment holds: facts that name their command, fields to fill, figures.

Every measured value is a :class:`Fact`: its value, the ``privet`` command that prints it with
``--json``, and a JMESPath expression that picks it out of that JSON, so a reader (or a test)
can re-derive each number. What no measurement can say (is the processing necessary? were the
people consulted?) is a :class:`ToFill` for a person. Values are names of columns, counts,
risks and budgets; never a cell of a dataset.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

Value = float | int | str | bool | list[str] | None


def quote(text: str) -> str:
    """``text`` as a JMESPath raw string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def show(value: Value, unit: str = "") -> str:
    """How a value is printed in the report (the JSON keeps it exact)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(value) if value else "—"
    if isinstance(value, int):
        text = f"{value:,}"
    elif isinstance(value, float):
        if math.isinf(value):
            text = "∞"
        elif value == 0 or 1e-3 <= abs(value) < 1e6:
            text = f"{value:.4g}"
        else:
            text = f"{value:.3e}"
    else:
        text = value
    return f"{text} {unit}".strip()


class Fact(BaseModel):
    """One measured or recorded value and how to get it again."""

    label: str
    value: Value
    command: str = Field(description="the privet command that prints it (with --json)")
    path: str = Field(description="JMESPath of the value in that command's JSON output")
    unit: str = ""

    @property
    def shown(self) -> str:
        return show(self.value, self.unit)


class ToFill(BaseModel):
    """A field no measurement can fill: a person writes it."""

    label: str
    prompt: str


class Figure(BaseModel):
    """A picture: inline SVG, or a PNG as a data: URI; ``caption`` names its source."""

    title: str
    svg: str | None = None
    png_data_uri: str | None = None
    caption: str = ""


class Table(BaseModel):
    """A table of facts: one row per item (a column, a model, a release)."""

    header: list[str]
    rows: list[list[Fact]]


class Block(BaseModel):
    title: str
    text: list[str] = Field(default_factory=list)
    facts: list[Fact] = Field(default_factory=list)
    table: Table | None = None
    figure: Figure | None = None
    fill: list[ToFill] = Field(default_factory=list)
    missing: list[str] = Field(
        default_factory=list, description="what could not be measured, and the command for it"
    )


class Section(BaseModel):
    letter: Literal["a", "b", "c", "d"]
    title: str
    blocks: list[Block]


class Assessment(BaseModel):
    """A privacy impact assessment of one dataset or one model (GDPR Art. 35(7))."""

    kind: Literal["dataset", "model"]
    subject: str
    workspace: str = Field(description="the workspace id")
    generated_at: str
    actor: str = Field(description="who the commands are run as (--as)")
    sections: list[Section]
    reused: int = Field(0, description="measurements taken from the stored results")
    measured: int = Field(0, description="measurements made for this report")

    def facts(self) -> list[Fact]:
        """Every fact of the report, in order."""
        found: list[Fact] = []
        for section in self.sections:
            for block in section.blocks:
                found.extend(block.facts)
                if block.table is not None:
                    for row in block.table.rows:
                        found.extend(row)
        return found

    def headline(self) -> list[Fact | None]:
        """The facts of the workspace overview, in :data:`HEADLINE`'s order (None: not there)."""
        facts = self.facts()
        found: list[Fact | None] = []
        for _title, wanted in HEADLINE[self.kind]:
            chosen = [f for f in facts if wanted(f)]
            found.append(chosen[-1] if chosen else None)
        return found

    def to_fill(self) -> list[ToFill]:
        return [f for s in self.sections for b in s.blocks for f in b.fill]

    def summary(self) -> dict[str, Any]:
        """The JSON ``privet report --json`` prints: facts and fields, no pictures."""
        return {
            "kind": self.kind,
            "subject": self.subject,
            "workspace": self.workspace,
            "generated_at": self.generated_at,
            "actor": self.actor,
            "reused": self.reused,
            "measured": self.measured,
            "sections": [
                {
                    "letter": s.letter,
                    "title": s.title,
                    "blocks": [
                        {
                            "title": b.title,
                            "facts": [f.model_dump() for f in b.facts],
                            "table": None if b.table is None else b.table.model_dump(),
                            "figure": None if b.figure is None else b.figure.title,
                            "to_fill": [f.model_dump() for f in b.fill],
                            "missing": b.missing,
                        }
                        for b in s.blocks
                    ],
                }
                for s in self.sections
            ],
        }


def _audit_auc(fact: Fact) -> bool:
    return fact.path.startswith("audits[") and fact.path.endswith("].auc")


# The overview of many assessments: a column title and which fact fills it.
HEADLINE: dict[str, list[tuple[str, Callable[[Fact], bool]]]] = {
    "dataset": [
        ("records", lambda f: f.label.startswith("Records in version")),
        ("k", lambda f: f.path == "k"),
        ("prosecutor risk, highest", lambda f: f.path == "prosecutor_risk_max"),
        ("ε spent", lambda f: f.path == "epsilon_spent"),
        ("ε limit", lambda f: f.path == "epsilon_limit"),
        ("reads", lambda f: f.label == "Reads"),
        ("alerts", lambda f: f.label == "Alerts on unusual reads"),
    ],
    "model": [
        ("trained on", lambda f: f.path == "dataset"),
        ("DP", lambda f: f.path == "privacy.differentially_private"),
        ("ε", lambda f: f.path == "privacy.epsilon"),
        ("latest audit AUC", _audit_auc),
    ],
}
