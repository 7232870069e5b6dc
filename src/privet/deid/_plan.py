"""The protection plan: a YAML file, read with ``safe_load`` into pydantic models and checked
against the table *before* any data is transformed.

```yaml
quasi_identifiers: [age, sex, zip]      # default: the columns whose role is quasi_identifier
sensitive: [diagnosis]
privacy: {k: 5, l: 2, max_suppression: 0.05, metric: loss}
hierarchies:
  age: {type: intervals, widths: [5, 10, 20]}
  zip: {type: truncate}
columns:
  email: pseudonym
  ssn: {operator: token}
  phone: {operator: mask, keep_last: 2}
  name: drop
```
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from privet.catalog import analysis_dtype
from privet.deid._hierarchy import Hierarchy, HierarchySpec, IntervalsSpec, build, default_spec
from privet.deid._search import METRICS
from privet.errors import InvalidInput, NotFound
from privet.operators import Operator, kind_of, make_operator

# Operators that keep a quasi-identifier's values in its domain, so the search still applies.
_QI_OPERATORS = {"keep", "top_bottom_code", "microaggregate", "date_shift"}
_HANDLES_IDENTIFIERS = {"drop", "pseudonym", "token", "mask", "redact", "suppress", "keep"}


class PrivacyModel(BaseModel):
    """k-anonymity, and optionally ℓ-diversity and t-closeness, with record suppression."""

    model_config = ConfigDict(extra="forbid")
    k: int = Field(
        1,
        ge=1,
        description="Every released record shares its quasi-identifiers "
        "with at least k − 1 others.",
    )
    l: int | None = Field(  # noqa: E741 - the model's name
        None, ge=1, description="Each class holds at least ℓ distinct sensitive values."
    )
    t: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Each class's sensitive values are within EMD t of the table's.",
    )
    max_suppression: float = Field(
        0.05, ge=0, lt=1, description="Largest share of records that may be removed."
    )
    metric: Literal["loss", "entropy", "discernibility"] = Field(
        "loss", description="Information-loss metric the search minimizes."
    )


class ColumnRule(BaseModel):
    """One operator applied to one column; its parameters sit beside ``operator``."""

    model_config = ConfigDict(extra="forbid")
    operator: str = Field(
        description="A registered operator name (see ``privet.operators.REGISTRY``)."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="The operator's parameters.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"operator": data}
        if isinstance(data, dict) and "params" not in data:
            rest = {k: v for k, v in data.items() if k != "operator"}
            return {"operator": data.get("operator"), "params": rest}
        return data


class Plan(BaseModel):
    """A protection plan. Every field is optional; a plan with nothing to do is refused."""

    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = Field(1, description="Plan format version.")
    quasi_identifiers: list[str] | None = Field(
        None, description="Columns an attacker may know (default: the catalog's QI roles)."
    )
    sensitive: list[str] | None = Field(
        None, description="Sensitive attributes for ℓ and t (default: the catalog's)."
    )
    privacy: PrivacyModel | None = Field(None, description="The privacy model to reach.")
    hierarchies: dict[str, HierarchySpec] = Field(
        default_factory=dict, description="Hierarchy per column (default: automatic)."
    )
    columns: dict[str, ColumnRule] = Field(
        default_factory=dict, description="Operator per column; other columns are kept."
    )
    target: str | None = Field(None, description="Column to predict for the ML-utility check.")
    features: list[str] | None = Field(
        None,
        description="The columns a model of target is trained on (privet minimize's "
        "recommendation; privet train --plan uses them).",
    )
    direct_identifiers: Literal["refuse", "drop"] = Field(
        "refuse",
        description="A direct identifier the plan gives no operator: refuse the plan, or drop "
        "the column (what the k/ℓ/t shortcut does).",
    )


def load_plan(path: str | Path) -> Plan:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"the plan {path} does not exist") from None
    except (OSError, UnicodeDecodeError):
        raise InvalidInput(f"the plan {path.name} cannot be read as UTF-8 text") from None
    return parse_plan(text, path.name)


def parse_plan(text: str, source: str = "the plan") -> Plan:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidInput(f"{source} is not valid YAML{where}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInput(f"{source} must be a YAML mapping (quasi_identifiers:, privacy:, …)")
    try:
        return Plan.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the plan"
        raise InvalidInput(f"{source}: {where}: {first['msg']}") from None


@dataclass(frozen=True)
class Column:
    """What the plan checker knows about a column before reading any data."""

    name: str
    dtype: str
    role: str = "other"
    category: str | None = None
    # What a text column holds (the catalog's meaning): "number" columns are numeric here.
    meaning: str | None = None


@dataclass
class Checked:
    """A plan resolved against a table's columns: ready to run once the values pass too."""

    plan: Plan
    quasi_identifiers: list[str]
    sensitive: list[str]
    operators: dict[str, Operator]
    columns: dict[str, Column]
    target: str | None
    notes: list[str] = field(default_factory=list)
    hierarchies: dict[str, Hierarchy] = field(default_factory=dict)

    @property
    def needs_keys(self) -> bool:
        return any(op.needs_keys for op in self.operators.values())


_NESTED = ("List", "Array", "Struct", "Object")


def check_plan(plan: Plan, columns: Sequence[Column], rows: int) -> Checked:
    """Check everything that needs no data: names, roles, operators against types, k vs rows."""
    by_name = {c.name: c for c in columns}

    def known(name: str, where: str) -> None:
        if name not in by_name:
            close = difflib.get_close_matches(name, by_name, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InvalidInput(f"{where} names column {name!r}, which the table lacks{hint}")

    privacy = plan.privacy
    qis = plan.quasi_identifiers
    if qis is None:
        qis = [c.name for c in columns if c.role == "quasi_identifier"]
    sensitive = plan.sensitive
    if sensitive is None:
        sensitive = (
            [c.name for c in columns if c.role == "sensitive"]
            if privacy and (privacy.l or privacy.t)
            else []
        )
    for name in qis:
        known(name, "quasi_identifiers")
    for name in sensitive:
        known(name, "sensitive")
    for name in plan.columns:
        known(name, "columns")
    for name in plan.hierarchies:
        known(name, "hierarchies")
    if plan.target is not None:
        known(plan.target, "target")
    for name in plan.features or []:
        known(name, "features")
        rule = plan.columns.get(name)
        if name == plan.target or (rule is not None and rule.operator == "drop"):
            raise InvalidInput(f"feature {name!r} is the plan's target or is dropped by it")
    if len(set(qis)) != len(qis) or len(set(sensitive)) != len(sensitive):
        raise InvalidInput("a column is listed twice among the quasi-identifiers or sensitive")
    for name in [*qis, *sensitive]:
        if by_name[name].dtype.startswith(_NESTED):
            raise InvalidInput(
                f"column {name!r} holds {by_name[name].dtype.split('(')[0].lower()}s, which "
                "cannot be grouped or generalized; use numbers, text, dates or booleans"
            )
    both = set(qis) & set(sensitive)
    if both:
        raise InvalidInput(
            f"column {sorted(both)[0]!r} is both a quasi-identifier and sensitive; choose one"
        )
    operators = {
        name: make_operator(rule.operator, rule.params) for name, rule in plan.columns.items()
    }
    for name, op in operators.items():
        try:
            op.check(name, by_name[name].dtype)
        except InvalidInput:
            if analysis_dtype(by_name[name]) == by_name[name].dtype:
                raise
            op.check(name, analysis_dtype(by_name[name]))  # numbers kept as text
        if privacy is not None and name in qis and op.name not in _QI_OPERATORS:
            raise InvalidInput(
                f"column {name!r} is a quasi-identifier, so the search sets its generalization; "
                f"remove its {op.name!r} rule (or drop it from quasi_identifiers)"
            )
        if name in sensitive and op.name in {"drop", "redact", "suppress"}:
            raise InvalidInput(
                f"column {name!r} is sensitive for ℓ/t but the plan removes its values; "
                "remove it from sensitive or change its rule"
            )
    if privacy is None and not operators:
        raise InvalidInput(
            "the plan does nothing: give a privacy model (k, ℓ, t) or operators for columns"
        )
    notes = []
    for column in columns:
        if column.role != "direct_identifier" or column.name in operators:
            pass
        elif plan.direct_identifiers == "drop":
            operators[column.name] = make_operator("drop")
        else:
            raise InvalidInput(
                f"column {column.name!r} is a direct identifier and the plan does not say what "
                "to do with it: give it drop, pseudonym, token, mask or redact (or keep, to "
                "release it as it is)"
            )
        chosen = operators.get(column.name)
        if chosen is not None and chosen.name == "keep" and column.role == "direct_identifier":
            notes.append(f"warning: direct identifier {column.name!r} is released unchanged (keep)")
    for name in plan.hierarchies:
        chosen = operators.get(name)
        if name not in qis and (chosen is None or chosen.name != "generalize"):
            raise InvalidInput(
                f"a hierarchy is given for {name!r}, which is neither a quasi-identifier nor "
                "generalized; remove it or add the column to quasi_identifiers"
            )
    if privacy is not None:
        if not qis:
            raise InvalidInput(
                "the privacy model needs quasi-identifiers: list them in quasi_identifiers; "
                "none is marked in the catalog",
                parameter="quasi_identifiers",
            )
        if privacy.k > rows:
            raise InvalidInput(f"k = {privacy.k} is larger than the table's {rows:,} rows; lower k")
        if (privacy.l is not None or privacy.t is not None) and not sensitive:
            model = "ℓ-diversity" if privacy.l is not None else "t-closeness"
            raise InvalidInput(
                f"{model} needs a sensitive column: name it in sensitive", parameter="sensitive"
            )
        if privacy.metric not in METRICS:  # pragma: no cover - pydantic keeps this out
            raise InvalidInput(f"unknown metric {privacy.metric!r}")
    if plan.target is not None:
        chosen = operators.get(plan.target)
        if plan.target in qis or (
            chosen is not None and chosen.name in {"drop", "redact", "suppress"}
        ):
            raise InvalidInput(
                f"the ML-utility target {plan.target!r} must be released unchanged; choose "
                "another target"
            )
    target = plan.target
    if target is None and sensitive:
        target = next((s for s in sensitive if kind_of(by_name[s].dtype) == "string"), None)
    return Checked(plan, list(qis), list(sensitive), operators, by_name, target, notes)


def check_values(checked: Checked, frame: pl.DataFrame) -> Checked:
    """Check what needs the data (hierarchies cover every value, ℓ possible) and bind them."""
    plan = checked.plan
    hierarchies: dict[str, Hierarchy] = {}
    generalized = [name for name, op in checked.operators.items() if op.name == "generalize"]
    for name in [*(checked.quasi_identifiers if plan.privacy else []), *generalized]:
        values = frame.get_column(name)
        column = checked.columns[name]
        # Numbers kept as text are generalized as numbers (intervals); what stays at level 0
        # keeps its text.
        numbers = values.dtype == pl.String and analysis_dtype(column) != column.dtype
        numeric = values.cast(pl.Float64, strict=False) if numbers else values
        spec = plan.hierarchies.get(name) or default_spec(numeric, category=column.category)
        intervals = numbers and isinstance(spec, IntervalsSpec)
        hierarchies[name] = build(name, spec, numeric if intervals else values)
        hierarchies[name].text_numbers = intervals
    privacy = plan.privacy
    if privacy is not None and privacy.l is not None:
        for name in checked.sensitive:
            distinct = frame.get_column(name).n_unique()
            if privacy.l > distinct:
                raise InvalidInput(
                    f"ℓ = {privacy.l} is impossible: sensitive column {name!r} has only "
                    f"{distinct} distinct values; lower ℓ to at most {distinct}"
                )
    checked.hierarchies = hierarchies
    return checked


def shortcut_plan(
    *,
    k: int | None,
    l: int | None = None,  # noqa: E741
    t: float | None = None,
    quasi_identifiers: Sequence[str] | None = None,
    sensitive: Sequence[str] | None = None,
    max_suppression: float = 0.05,
    metric: str = "loss",
    hierarchies: Mapping[str, Any] | None = None,
    target: str | None = None,
) -> Plan:
    """The plan of a bare privacy model (k, ℓ, t): direct identifiers are dropped by default."""
    if k is None and l is None and t is None:
        raise InvalidInput("give a privacy model (k, l or t) or a plan")
    data: dict[str, Any] = {
        "direct_identifiers": "drop",
        "privacy": {
            "k": k or 1,
            "l": l,
            "t": t,
            "max_suppression": max_suppression,
            "metric": metric,
        },
        "hierarchies": dict(hierarchies or {}),
        "target": target,
    }
    if quasi_identifiers:
        data["quasi_identifiers"] = list(quasi_identifiers)
    if sensitive:
        data["sensitive"] = list(sensitive)
    try:
        return Plan.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:] or first["loc"])
        raise InvalidInput(f"{where}: {first['msg']}", parameter=where) from None
