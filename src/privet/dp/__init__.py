"""Differential privacy: one budget ledger per source dataset, DP statistics, DP-SGD.

Reach it through the workspace: ``ws.dp.query(...)``, ``ws.dp.train(...)``,
``ws.dp.budget(...)``. Every release spends from the ledger of the dataset's source, is
refused before it runs if it would exceed the owner's limit, and is recorded as a
dp-accounting event with its audit entry in the same transaction.
"""

from privet.dp._accounting import Charge, dp_sgd, epsilon_spent, epsilon_spent_rdp, pure
from privet.dp._facade import DifferentialPrivacy
from privet.dp._ledger import (
    DEFAULT_EPSILON,
    BudgetInfo,
    PrivacyUnitWarning,
    ReleaseInfo,
    default_delta,
)
from privet.dp._query import QueryResult, Statistic
from privet.dp._train import ModelInfo, NoPrivacyWarning, TrainedModel

__all__ = [
    "DEFAULT_EPSILON",
    "BudgetInfo",
    "Charge",
    "DifferentialPrivacy",
    "ModelInfo",
    "NoPrivacyWarning",
    "PrivacyUnitWarning",
    "QueryResult",
    "ReleaseInfo",
    "Statistic",
    "TrainedModel",
    "default_delta",
    "dp_sgd",
    "epsilon_spent",
    "epsilon_spent_rdp",
    "pure",
]
