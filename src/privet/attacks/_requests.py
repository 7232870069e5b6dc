"""What an audit asks for: one request model per operation, shared by library, CLI and server.

Each parameter is declared here once (type, default, bounds, description); the CLI builds a
request from its options and the server takes it as a JSON body.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from privet.errors import InvalidInput
from privet.requests import Request

MAX_REFERENCES = 64


class MembershipAuditRequest(Request):
    """Membership inference on a model: with its lineage, or with member and non-member files."""

    model_config = ConfigDict(frozen=True)

    attack: Literal["loss", "lira", "rmia"] = Field(
        "rmia", description="Membership attack: loss, offline LiRA or offline RMIA."
    )
    reference_models: int = Field(
        1,
        ge=1,
        le=MAX_REFERENCES,
        description="Models trained by the model's recipe (LiRA, RMIA; ignored by loss).",
    )
    reference_data: Literal["population", "training"] = Field(
        "population",
        description="What reference models learn from: population rows never audited (an "
        "outsider), or the model's training rows minus the records each one scores (an "
        "insider who knows the rest of the training set, as DP assumes; stronger).",
    )
    audit_size: int | None = Field(
        None, ge=1, description="Members (= non-members) to attack (default: up to 5,000)."
    )
    plot: Path | None = Field(None, description="Where to write the ROC curve (PNG).")
    members: Path | None = Field(
        None, description="File of training records (for a model without lineage)."
    )
    non_members: Path | None = Field(
        None, description="File of records the model did not train on."
    )
    label: str = Field("label", description="Class column of the record files of a model file.")
    seed: int | None = Field(None, description="Fix the randomness (tests only).")

    @model_validator(mode="after")
    def _files_in_pairs(self) -> MembershipAuditRequest:
        # Raised as privet's own error (not a ValueError) so it names the missing parameter.
        if self.members is None and self.non_members is not None:
            raise InvalidInput("give a file of members with the non-members", parameter="members")
        if self.members is not None and self.non_members is None:
            raise InvalidInput(
                "give a file of non_members with the members", parameter="non_members"
            )
        return self

    @property
    def from_files(self) -> bool:
        """Whether members and non-members are given as files rather than by lineage."""
        return self.members is not None


class AttributeAuditRequest(Request):
    """Attribute inference: does the model help infer a categorical feature of its members?"""

    model_config = ConfigDict(frozen=True)

    attribute: str = Field(description="The categorical feature the attacker wants.")
    seed: int | None = Field(None, description="Fix the randomness (tests only).")


class EpsilonAuditRequest(Request):
    """The one-run canary audit: an empirical lower bound on the model's ε."""

    model_config = ConfigDict(frozen=True)

    canaries: int | None = Field(
        None, ge=1, description="Canary records (default: up to 1,000 rows never trained on)."
    )
    confidence: float = Field(0.95, ge=0.5, lt=1.0, description="Of the ε lower bound.")
    seed: int | None = Field(None, description="Fix the randomness (tests only).")


ModelAuditRequest = MembershipAuditRequest | AttributeAuditRequest | EpsilonAuditRequest


class SynthEvaluationRequest(Request):
    """Fidelity, utility and privacy risk of a synthetic table against the real one."""

    model_config = ConfigDict(frozen=True)

    real: str = Field(description="The real data: a dataset (NAME[@VERSION]) or a file.")
    synthetic: str = Field(description="The synthetic data: a dataset or a file.")
    holdout: str | None = Field(
        None, description="Real records the synthesizer never saw (needed for privacy risk)."
    )
    columns: list[str] | None = Field(None, min_length=1, description="Compare only these.")
    target: str | None = Field(None, description="Column to predict for utility (default: last).")
    n_attacks: int = Field(500, ge=10, le=100_000, description="Attempts per privacy attack.")
    seed: int | None = Field(None, description="Fix the randomness of the evaluation.")
