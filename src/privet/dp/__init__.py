"""Differential privacy: one budget ledger per source dataset, DP statistics, DP-SGD.

Reach it through the workspace: ``ws.dp.query(...)``, ``ws.dp.train(...)``,
``ws.dp.budget(...)``. Every release spends from the ledger of the dataset's source, is
refused before it runs if it would exceed the owner's limit, and is recorded as a
dp-accounting event with its audit entry in the same transaction.

Importing this package is cheap: the names below load OpenDP, dp-accounting and PyTorch on
first use (``privet log verify`` checks ledgers through ``_governance`` without them).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from privet.dp import _governance  # noqa: F401 - registers the DP ledger kind

if TYPE_CHECKING:
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

_WHERE = {
    "Charge": "_accounting",
    "dp_sgd": "_accounting",
    "epsilon_spent": "_accounting",
    "epsilon_spent_rdp": "_accounting",
    "pure": "_accounting",
    "DifferentialPrivacy": "_facade",
    "DEFAULT_EPSILON": "_ledger",
    "BudgetInfo": "_ledger",
    "PrivacyUnitWarning": "_ledger",
    "ReleaseInfo": "_ledger",
    "default_delta": "_ledger",
    "QueryResult": "_query",
    "Statistic": "_query",
    "ModelInfo": "_train",
    "NoPrivacyWarning": "_train",
    "TrainedModel": "_train",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'privet.dp' has no attribute {name!r}")
    value = getattr(import_module(f"privet.dp.{module}"), name)
    globals()[name] = value
    return value


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
