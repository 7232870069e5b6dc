"""Membership signals of a model on records, and the loss attack (Yeom et al. 2018).

The signal is the true-class logit margin φ = z_y − log Σ_{j≠y} e^{z_j}, computed in float64
from the logits: it is the logit of the true-class probability, so it never saturates the
way a float32 softmax does at 1.0 (LiRA's "logit scaling", Carlini et al. 2022).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def margins(
    module: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor, task: str
) -> np.ndarray:
    """φ per record (classification), or minus the squared error (regression), of a model
    (or any function from records to outputs)."""
    import torch

    with torch.no_grad():
        out = module(x).double()
    if task == "regression":
        return -((out.squeeze(1) - y.double()) ** 2).numpy()
    if out.shape[1] == 1:
        z = out.squeeze(1)
        return torch.where(y > 0.5, z, -z).numpy()
    labels = y.long()
    true = out.gather(1, labels[:, None]).squeeze(1)
    others = out.scatter(1, labels[:, None], float("-inf"))
    return (true - torch.logsumexp(others, 1)).numpy()


def log_prob(phi: np.ndarray) -> np.ndarray:
    """log Pr(true class) = −softplus(−φ), stable for any φ."""
    return -np.logaddexp(0.0, -phi)


def loss_scores(phi: np.ndarray) -> np.ndarray:
    """The loss attack: a low loss (high true-class margin) means member."""
    return np.asarray(phi, dtype=np.float64)
