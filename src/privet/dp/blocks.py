"""The parts of DP-SGD training that another package composes into its own training.

A federated party (``privet.federated``) trains like :mod:`privet.dp._train` does, but on
its own rows, from weights it is sent, for a run it charges once: it needs the features and
their encoding, the split, the accountant and the ledger, the card and the model store one
by one rather than ``train`` as a whole. They are named here so that the layers' contract
(no package imports another's underscore modules) holds.
"""

from privet.dp._accounting import Charge, calibrate, dp_sgd, epsilon_spent
from privet.dp._card import Evaluation, ModelCard, Split, Training, make_card
from privet.dp._features import Feature, encode, target_tensor
from privet.dp._ledger import check_delta, ledger_row, record, root_of, unit_for
from privet.dp._model_store import ModelInfo, name_taken, store, weights_of
from privet.dp._requests import Bounds, ColumnName, Keys, check_bounds, check_epsilon
from privet.dp._rows import split_record, split_rows

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
