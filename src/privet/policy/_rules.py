"""The access policy: a YAML document validated into pydantic models, stored numbered.

A policy says which roles may *request* which views of which datasets for which purposes;
a grant (approved by the owner or a designated approver) is what then lets a person read.
Rules are tried in order and the first that matches decides (as in a firewall), so a narrow
rule placed first can carry a stricter row filter than a broad one below it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from privet import auditlog
from privet.errors import InvalidInput
from privet.policy._governance import IN_FORCE
from privet.schema import PolicyDoc
from privet.tables import file_errors
from privet.taxonomy import Level

if TYPE_CHECKING:
    from privet.core import Core

VIEWS = ("raw", "masked", "pseudonymized", "protected", "aggregate", "synthetic")
View = Literal["raw", "masked", "pseudonymized", "protected", "aggregate", "synthetic"]
AlertKind = Literal[
    "volume",
    "first_restricted",
    "off_hours_bulk",
    "scraping",
    "purpose_hopping",
    "revoked_token",
    "expired_token",
]
ALERT_KINDS: tuple[str, ...] = get_args(AlertKind)


class Rule(BaseModel):
    """Who may request what. Empty selectors match every dataset."""

    model_config = ConfigDict(extra="forbid")
    description: str = Field("", max_length=500, description="Why this rule exists.")
    roles: list[str] = Field(min_length=1, description="Roles the rule applies to.")
    views: list[View] = Field(min_length=1, description="Views these roles may request.")
    purposes: list[str] = Field(
        ["*"], min_length=1, description="Purposes allowed ('*': any the dataset declares)."
    )
    classifications: list[Level] = Field(
        [], description="Dataset classification levels the rule covers (empty: any)."
    )
    categories: list[str] = Field(
        [],
        description="Data categories (prefixes): the rule covers a dataset holding any of them.",
    )
    datasets: list[str] = Field([], description="Dataset names the rule covers (empty: any).")
    auto_approve: bool = Field(
        False, description="Grant at once without approval (never for restricted datasets)."
    )
    max_days: float = Field(90, gt=0, le=3650, description="Longest grant duration, in days.")
    row_filter: str | None = Field(
        None,
        max_length=2000,
        description="A Polars SQL condition: only rows meeting it are released.",
    )
    mask: list[str] = Field(
        [], description="Extra columns masked in the masked and pseudonymized views."
    )

    @field_validator("row_filter")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                pl.sql_expr(value)
            except Exception:  # noqa: BLE001 - Polars raises several types for bad SQL
                raise ValueError("row_filter is not a valid SQL condition") from None
        return value

    def covers(self, name: str, level: str, categories: Iterable[str | None]) -> bool:
        if self.datasets and name not in self.datasets:
            return False
        if self.classifications and level not in self.classifications:
            return False
        if self.categories:
            held = [c for c in categories if c]
            return any(c == p or c.startswith(p + ".") for c in held for p in self.categories)
        return True

    def allows(self, roles: frozenset[str], view: str, purpose: str) -> bool:
        return (
            view in self.views
            and not roles.isdisjoint(self.roles)
            and ("*" in self.purposes or purpose in self.purposes)
        )


class Oidc(BaseModel):
    """A trusted OpenID Connect issuer: its JWTs authenticate people (no network: the key
    or JWKS is given here, not fetched)."""

    model_config = ConfigDict(extra="forbid")
    issuer: str = Field(min_length=1)
    audience: str = Field(min_length=1)
    public_key: str | None = Field(None, description="PEM public key of the issuer.")
    jwks: dict | None = Field(None, description="The issuer's JSON Web Key Set.")
    algorithms: list[str] = Field(["RS256", "ES256"], min_length=1)
    username_claim: str = "sub"
    roles_claim: str = "roles"

    @field_validator("algorithms")
    @classmethod
    def _asymmetric(cls, value: list[str]) -> list[str]:
        # "none" and HMAC algorithms would let anyone holding the public key forge a token.
        bad = [a for a in value if not a.startswith(("RS", "ES", "PS", "Ed"))]
        if bad:
            raise ValueError(f"only asymmetric algorithms are accepted, not {', '.join(bad)}")
        return value

    @model_validator(mode="after")
    def _one_key(self) -> Oidc:
        if (self.public_key is None) == (self.jwks is None):
            raise ValueError("give exactly one of public_key and jwks")
        return self


class Alerts(BaseModel):
    """Thresholds of the anomaly alerts (see privet.policy._alerts)."""

    model_config = ConfigDict(extra="forbid")
    min_history: int = Field(5, ge=1, description="Reads before volume/hour baselines apply.")
    volume_factor: float = Field(10, gt=1, description="Rows read vs the user's mean per read.")
    bulk_rows: int = Field(1000, ge=1, description="Rows that make an off-hours read bulk.")
    usual_hour_share: float = Field(
        0.05, ge=0, le=1, description="An hour with a smaller share of past reads is off-hours."
    )
    scrape_reads: int = Field(
        30, ge=2, description="Small reads within the scraping window that make scraping."
    )
    scrape_rows: int = Field(100, ge=1, description="A read of at most this many rows is small.")
    scrape_window_seconds: float = Field(
        600, gt=0, le=86_400, description="The sliding window scraping is counted over."
    )
    hop_purposes: int = Field(
        3, ge=2, description="Distinct purposes for one dataset within the window: hopping."
    )
    hop_window_seconds: float = Field(
        3600, gt=0, le=86_400, description="The sliding window purpose hopping is counted over."
    )
    replay_window_seconds: float = Field(
        300, gt=0, le=86_400, description="One alert per revoked or expired token per window."
    )
    contain: list[AlertKind] = Field(
        [],
        description="Alert kinds that contain their user at once: every API token and grant "
        "revoked in the alert's transaction (see ws.access.contain).",
    )

    @property
    def window_seconds(self) -> float:
        """How far back the recent reads are kept."""
        return max(self.scrape_window_seconds, self.hop_window_seconds)


class Proxies(BaseModel):
    """What ``privet train`` does with features that reconstruct a sensitive attribute."""

    model_config = ConfigDict(extra="forbid")
    refuse_above: float = Field(
        gt=0,
        lt=1,
        description="Accuracy points above the base rate at which training is refused, "
        "unless the dataset's owner records why.",
    )


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    approvers: list[str] = Field([], description="Users who may approve any grant.")
    approver_roles: list[str] = Field([], description="Roles whose users may approve grants.")
    erasure_roles: list[str] = Field(
        [],
        description="Roles whose users may request subject erasure (a data protection officer).",
    )
    rules: list[Rule] = Field([], description="Tried in order; the first match decides.")
    oidc: Oidc | None = None
    alerts: Alerts = Alerts()
    proxies: Proxies | None = None

    @property
    def uses_categories(self) -> bool:
        return any(rule.categories for rule in self.rules)

    def match(
        self,
        roles: frozenset[str],
        view: str,
        purpose: str,
        dataset: tuple[str, str, Iterable[str | None]],
    ) -> int | None:
        name, level, categories = dataset
        cats = list(categories)
        for index, rule in enumerate(self.rules):
            if rule.allows(roles, view, purpose) and rule.covers(name, level, cats):
                return index
        return None


EMPTY = Policy()


def parse_policy(text: str) -> Policy:
    """A policy from YAML text, or ``InvalidInput`` naming the first problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        raise InvalidInput("the policy is not valid YAML") from None
    if not isinstance(data, dict):
        raise InvalidInput("the policy must be a YAML mapping (version, rules, approvers…)")
    try:
        return Policy.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "policy"
        raise InvalidInput(f"policy: {where}: {first['msg']}") from None


_cache: dict[str, Policy] = {}
_lock = threading.Lock()


def current_policy(session: Session) -> tuple[int, Policy]:
    """The policy in force (number 0 and an empty policy when none was set).

    Parsed documents are cached by their hash, so a decision costs one indexed lookup.
    """
    row = session.execute(
        select(PolicyDoc.number, PolicyDoc.sha256).order_by(PolicyDoc.number.desc()).limit(1)
    ).first()
    if row is None:
        return 0, EMPTY
    number, digest = row
    cached = _cache.get(digest)
    if cached is None:
        text = session.execute(select(PolicyDoc.text).where(PolicyDoc.number == number)).scalar()
        cached = parse_policy(text or "")
        with _lock:
            _cache[digest] = cached
    return number, cached


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def set_policy(core: Core, source: str | Path, *, actor: str) -> tuple[int, Policy]:
    """Validate and store a new policy (it takes effect for the next decision); logged.

    ``source`` is the YAML text, or a ``Path`` to a UTF-8 file holding it.
    """
    text = _read(source) if isinstance(source, Path) else source
    policy = parse_policy(text)
    with core.session() as session:
        number = (session.execute(select(func.max(PolicyDoc.number))).scalar() or 0) + 1
        session.add(
            PolicyDoc(
                number=number,
                text=text,
                sha256=digest(text),
                created_at=core.now(),
                created_by=actor,
            )
        )
        auditlog.append(
            session,
            [
                auditlog.events.policy_set(
                    ts=core.now(),
                    actor=actor,
                    number=number,
                    sha256=digest(text),
                    rules=len(policy.rules),
                    governance=auditlog.attest(session, ("policy", IN_FORCE)),
                )
            ],
        )
        session.commit()
    return number, policy


def _read(path: Path) -> str:
    with file_errors(path):
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"{path} is not UTF-8 text", parameter="source") from None


def show_policy(core: Core) -> tuple[int, str]:
    """The number and YAML text of the policy in force (0 and "" when none was set)."""
    with core.reading() as session:
        row = session.scalars(select(PolicyDoc).order_by(PolicyDoc.number.desc()).limit(1)).first()
        return (row.number, row.text) if row is not None else (0, "")


def current_alerts(core: Core) -> Alerts:
    """The alert thresholds of the policy in force (the defaults when none was set)."""
    with core.reading() as session:
        return current_policy(session)[1].alerts


def proxy_limit(core: Core) -> float | None:
    """The policy's ``proxies.refuse_above`` (None: proxies are only warned about)."""
    with core.reading() as session:
        proxies = current_policy(session)[1].proxies
    return proxies.refuse_above if proxies is not None else None
