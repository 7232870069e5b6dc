"""The parameters of protect and risk, declared once for the library, the CLI and the server.

A request that breaks a rule raises :class:`privet.errors.InvalidInput` naming the field as
its ``parameter`` (see :mod:`privet.requests`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from privet.deid._plan import Plan, shortcut_plan
from privet.requests import Request

Metric = Literal["loss", "entropy", "discernibility"]
_SHORTCUT = ("k", "l", "t", "quasi_identifiers", "sensitive", "target")


class ProtectRequest(Request):
    """How to protect: a full :class:`Plan`, or the shortcut of a privacy model (k, ℓ, t)
    searched over the quasi-identifiers, with direct identifiers dropped."""

    plan: Plan | None = Field(
        default=None,
        description="A full protection plan: privacy model, hierarchies, operators per column. "
        "Excludes k, l, t, quasi_identifiers, sensitive and target.",
    )
    k: int | None = Field(default=None, ge=1, description="k-anonymity: smallest class size.")
    l: int | None = Field(  # noqa: E741 - the model's name
        default=None, ge=1, description="Distinct ℓ-diversity: fewest sensitive values in a class."
    )
    t: float | None = Field(
        default=None, gt=0, le=1, description="t-closeness: largest EMD of a class from the table."
    )
    quasi_identifiers: list[str] | None = Field(
        default=None,
        description="Columns an attacker may know (default: the catalog's, or discovery's "
        "for a file).",
    )
    sensitive: list[str] | None = Field(default=None, description="Sensitive columns for ℓ and t.")
    max_suppression: float = Field(
        default=0.05, ge=0, lt=1, description="Largest share of records the search may remove."
    )
    metric: Metric = Field(
        default="loss", description="Information-loss metric the search minimizes."
    )
    target: str | None = Field(
        default=None, description="Column to predict for the ML-utility check."
    )

    @model_validator(mode="after")
    def _plan_or_shortcut(self) -> ProtectRequest:
        shortcut = [name for name in _SHORTCUT if getattr(self, name) is not None]
        if self.plan is not None and shortcut:
            raise ValueError(f"give either a plan or {', '.join(shortcut)}, not both")
        if self.plan is None and self.k is None and self.l is None and self.t is None:
            raise ValueError("give a privacy model (k, l or t) or a plan")
        return self

    def to_plan(self) -> Plan:
        """The plan to run: the one given, or the shortcut's."""
        if self.plan is not None:
            return self.plan
        return shortcut_plan(
            k=self.k,
            l=self.l,
            t=self.t,
            quasi_identifiers=self.quasi_identifiers,
            sensitive=self.sensitive,
            max_suppression=self.max_suppression,
            metric=self.metric,
            target=self.target,
        )


class RiskRequest(Request):
    """Which columns to measure re-identification risk over, and how."""

    quasi_identifiers: list[str] | None = Field(
        default=None,
        description="Columns an attacker may know (default: the catalog's, or discovery's "
        "for a file).",
    )
    sensitive: list[str] | None = Field(
        default=None,
        description="Sensitive columns for ℓ and t (default: the catalog's; none for a file).",
    )
    threshold: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="Prosecutor risk above which a record counts as at risk.",
    )
    population_size: int | None = Field(
        default=None,
        ge=1,
        description="Size of the population the table was sampled from (estimates population "
        "uniques).",
    )
