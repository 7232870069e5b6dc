"""Differential privacy: one budget ledger per source dataset, DP statistics, DP-SGD.

Reach it through the workspace: ``ws.dp.query(ref, QueryRequest(...), actor=...)``,
``ws.dp.train(ref, TrainRequest(...), actor=...)``, ``ws.dp.budget(...)``; each operation's
parameters are declared once, in its request model. Every release spends from the ledger
of the dataset's source, is refused before it runs if it would exceed the owner's limit,
and is recorded as a dp-accounting event with its audit entry in the same transaction.

Importing this package is cheap: the names below load OpenDP, dp-accounting and PyTorch on
first use (``privet log verify`` checks ledgers through ``_governance`` without them).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from privet.dp import _governance  # noqa: F401 - registers the DP ledger kind

if TYPE_CHECKING:
    from privet.dp._accounting import Charge, dp_sgd, epsilon_spent, epsilon_spent_rdp, pure
    from privet.dp._card import Evaluation, ModelCard, Privacy, Split, Training
    from privet.dp._features import Feature
    from privet.dp._ledger import (
        DEFAULT_EPSILON,
        BudgetInfo,
        ColumnDomain,
        PrivacyUnitWarning,
        ReleaseInfo,
        budget,
        charge,
        declare,
        declared_domains,
        default_delta,
        set_limit,
        update_budget,
    )
    from privet.dp._model_store import (
        ModelInfo,
        TrainedModel,
        list_models,
        load_model,
        model_info,
    )
    from privet.dp._query import QueryResult, Statistic, query
    from privet.dp._requests import (
        BudgetRequest,
        KeyValue,
        QueryRequest,
        SynthRequest,
        TrainRequest,
    )
    from privet.dp._rows import pack_rows, unpack_rows
    from privet.dp._synth import SynthReport, synthesize
    from privet.dp._train import NoPrivacyWarning, train, training_features
    from privet.dp._unlearn import UnlearnResult, retrain, unlearn

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
    "update_budget": "_ledger",
    "ColumnDomain": "_ledger",
    "query": "_query",
    "synthesize": "_synth",
    "train": "_train",
    "training_features": "_train",
    "NoPrivacyWarning": "_train",
    "UnlearnResult": "_unlearn",
    "retrain": "_unlearn",
    "unlearn": "_unlearn",
    "list_models": "_model_store",
    "model_info": "_model_store",
    "ModelInfo": "_model_store",
    "TrainedModel": "_model_store",
    "load_model": "_model_store",
    "QueryResult": "_query",
    "Statistic": "_query",
    "SynthReport": "_synth",
    "pack_rows": "_rows",
    "unpack_rows": "_rows",
    "ModelCard": "_card",
    "Privacy": "_card",
    "Training": "_card",
    "Split": "_card",
    "Evaluation": "_card",
    "Feature": "_features",
    "QueryRequest": "_requests",
    "TrainRequest": "_requests",
    "SynthRequest": "_requests",
    "BudgetRequest": "_requests",
    "KeyValue": "_requests",
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
    "BudgetRequest",
    "Charge",
    "ColumnDomain",
    "Evaluation",
    "Feature",
    "KeyValue",
    "ModelCard",
    "Privacy",
    "QueryRequest",
    "Split",
    "SynthRequest",
    "TrainRequest",
    "Training",
    "update_budget",
    "ModelInfo",
    "NoPrivacyWarning",
    "PrivacyUnitWarning",
    "QueryResult",
    "ReleaseInfo",
    "Statistic",
    "SynthReport",
    "TrainedModel",
    "UnlearnResult",
    "budget",
    "charge",
    "declare",
    "declared_domains",
    "default_delta",
    "list_models",
    "model_info",
    "query",
    "retrain",
    "set_limit",
    "synthesize",
    "train",
    "training_features",
    "dp_sgd",
    "epsilon_spent",
    "epsilon_spent_rdp",
    "load_model",
    "pack_rows",
    "pure",
    "unlearn",
    "unpack_rows",
]
