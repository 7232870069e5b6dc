"""The parts of DP-SGD training that another package composes into its own training.

A federated party (``privet.federated``) trains like :mod:`privet.dp._train` does, but on
its own rows, from weights it is sent, for a run it charges once: it needs the features and
their encoding, the split, the accountant and the ledger, the card and the model store one
by one rather than ``train`` as a whole. They are named here so that the layers' contract
(no package imports another's underscore modules) holds.

Importing this module is cheap (a deployed party's process imports it for every message):
each name loads its module on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from privet.dp._accounting import Charge, calibrate, dp_sgd, epsilon_spent
    from privet.dp._card import Evaluation, ModelCard, Split, Training, make_card
    from privet.dp._features import Feature, encode, target_tensor
    from privet.dp._ledger import check_delta, ledger_row, record, root_of, unit_for
    from privet.dp._model_store import ModelInfo, name_taken, store, weights_of
    from privet.dp._requests import Bounds, ColumnName, Keys, check_bounds, check_epsilon
    from privet.dp._rows import split_record, split_rows

_WHERE = {
    "Charge": "_accounting",
    "calibrate": "_accounting",
    "dp_sgd": "_accounting",
    "epsilon_spent": "_accounting",
    "Evaluation": "_card",
    "ModelCard": "_card",
    "Split": "_card",
    "Training": "_card",
    "make_card": "_card",
    "Feature": "_features",
    "encode": "_features",
    "target_tensor": "_features",
    "check_delta": "_ledger",
    "ledger_row": "_ledger",
    "record": "_ledger",
    "root_of": "_ledger",
    "unit_for": "_ledger",
    "ModelInfo": "_model_store",
    "name_taken": "_model_store",
    "store": "_model_store",
    "weights_of": "_model_store",
    "Bounds": "_requests",
    "ColumnName": "_requests",
    "Keys": "_requests",
    "check_bounds": "_requests",
    "check_epsilon": "_requests",
    "split_record": "_rows",
    "split_rows": "_rows",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"privet.dp.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Bounds",
    "Charge",
    "ColumnName",
    "Evaluation",
    "Feature",
    "Keys",
    "ModelCard",
    "ModelInfo",
    "Split",
    "Training",
    "calibrate",
    "check_bounds",
    "check_delta",
    "check_epsilon",
    "dp_sgd",
    "encode",
    "epsilon_spent",
    "ledger_row",
    "make_card",
    "name_taken",
    "record",
    "root_of",
    "split_record",
    "split_rows",
    "store",
    "target_tensor",
    "unit_for",
    "weights_of",
]
