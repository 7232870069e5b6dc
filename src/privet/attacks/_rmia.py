"""RMIA (Zarifzadeh et al. 2024, "Low-cost high-power membership inference attacks").

Offline variant: a record is scored only with reference models that never saw it. For a
record x, LR(x) = Pr(x|θ) / Pr(x), with Pr(x) approximated from reference models that did not
train on x as ((1+a)/2)·Pr_out(x) + (1−a)/2; the score of x is the share of population records z
with LR(x)/LR(z) > γ. The ranking is that of LR(x) (the population only calibrates the
score), so ties in the share are broken by LR(x) itself.
"""

from __future__ import annotations

import numpy as np

from privet.attacks._membership import log_prob


def log_ratio(target: np.ndarray, refs: np.ndarray, out: np.ndarray, a: float) -> np.ndarray:
    """log LR per record: ``target`` φ (n), ``refs`` φ (k×n), ``out`` (k×n) True where OUT."""
    p_ref = np.exp(log_prob(refs))
    counts = out.sum(0)
    p_out = np.where(counts > 0, (p_ref * out).sum(0) / np.maximum(counts, 1), np.nan)
    p_x = (1 + a) / 2 * p_out + (1 - a) / 2
    return log_prob(target) - np.log(np.maximum(p_x, 1e-300))


def scores(
    x_target: np.ndarray,
    x_refs: np.ndarray,
    x_out: np.ndarray,
    z_target: np.ndarray,
    z_refs: np.ndarray,
    z_out: np.ndarray,
    *,
    a: float,
    gamma: float = 1.0,
) -> np.ndarray:
    """RMIA scores of audited records; ``x_out`` (k×n) marks the reference models OUT for each."""
    lr_x = log_ratio(x_target, x_refs, x_out, a)
    lr_z = log_ratio(z_target, z_refs, z_out, a)
    lr_z = np.sort(lr_z[np.isfinite(lr_z)])
    share = np.searchsorted(lr_z, lr_x - np.log(gamma), side="left") / max(len(lr_z), 1)
    # Tie-break inside equal shares by LR(x), scaled below one population step.
    spread = np.arctan(lr_x) / np.pi + 0.5
    return share + spread / (len(lr_z) + 1) / 2


def tune_a(refs: np.ndarray, out: np.ndarray, grid: np.ndarray | None = None) -> float:
    """Choose a by attacking each reference model with the others (leave-one-out).

    ``refs`` (k×n) are φ of population records under k ≥ 2 reference models, ``out`` marks
    which model did not train on which record. Nothing about the audited records is used.
    """
    from privet.attacks._report import auc, roc

    grid = np.round(np.arange(0.0, 1.01, 0.1), 2) if grid is None else grid
    best, best_auc = 0.3, -1.0
    for a in grid:
        total = 0.0
        for k in range(len(refs)):
            rest = np.delete(np.arange(len(refs)), k)
            lr = log_ratio(refs[k], refs[rest], out[rest], float(a))
            usable = np.isfinite(lr)
            if not (~out[k][usable]).any():
                continue  # a model with no known member cannot be attacked
            fpr, tpr = roc(lr[usable], ~out[k][usable])
            total += auc(fpr, tpr)
        if total > best_auc:
            best, best_auc = float(a), total
    return best
