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
    from privet.dp._ledger import (
        DEFAULT_EPSILON,
        BudgetInfo,
        PrivacyUnitWarning,
        ReleaseInfo,
        budget,
        charge,
        declare,
        declared_domains,
        default_delta,
        set_limit,
    )
    from privet.dp._query import QueryResult, Statistic, query
    from privet.dp._synth import SynthReport, synthesize
    from privet.dp._train import (
        ModelInfo,
        NoPrivacyWarning,
        TrainedModel,
        list_models,
        load_model,
        model_info,
        pack_rows,
        train,
        unpack_rows,
    )

_WHERE = {
    "Charge": "_accounting",
    "dp_sgd": "_accounting",
    "epsilon_spent": "_accounting",
    "epsilon_spent_rdp": "_accounting",
    "pure": "_accounting",
    "DEFAULT_EPSILON": "_ledger",
    "BudgetInfo": "_ledger",
    "PrivacyUnitWarning": "_ledger",
    "ReleaseInfo": "_ledger",
    "default_delta": "_ledger",
    "budget": "_ledger",
    "charge": "_ledger",
    "declare": "_ledger",
    "declared_domains": "_ledger",
    "set_limit": "_ledger",
    "query": "_query",
    "synthesize": "_synth",
    "train": "_train",
    "list_models": "_train",
    "model_info": "_train",
    "QueryResult": "_query",
    "Statistic": "_query",
    "SynthReport": "_synth",
    "ModelInfo": "_train",
    "NoPrivacyWarning": "_train",
    "TrainedModel": "_train",
    "load_model": "_train",
    "pack_rows": "_train",
    "unpack_rows": "_train",
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
    "ModelInfo",
    "NoPrivacyWarning",
    "PrivacyUnitWarning",
    "QueryResult",
    "ReleaseInfo",
    "Statistic",
    "SynthReport",
    "TrainedModel",
    "budget",
    "charge",
    "declare",
    "declared_domains",
    "default_delta",
    "list_models",
    "model_info",
    "query",
    "set_limit",
    "synthesize",
    "train",
    "dp_sgd",
    "epsilon_spent",
    "epsilon_spent_rdp",
    "load_model",
    "pack_rows",
    "pure",
    "unpack_rows",
]
