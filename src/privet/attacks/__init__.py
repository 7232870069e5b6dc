"""Privacy attacks: synthetic-data risk (singling out, linkability, inference, distance to
closest record, exact matches, membership inference against the synthesizer)."""

from privet.attacks._synthetic import (
    AttackResult,
    SyntheticRisk,
    inference,
    linkability,
    singling_out,
    synthetic_risk,
)

__all__ = [
    "AttackResult",
    "SyntheticRisk",
    "inference",
    "linkability",
    "singling_out",
    "synthetic_risk",
]
