"""How an attack is scored: ROC, AUC, TPR at low FPR, advantage with a CI, a log-log ROC plot.

Membership attacks are judged by their true-positive rate at a low false-positive rate
(Carlini et al. 2022, "Membership inference attacks from first principles"): an attack that
confidently exposes a few records matters even when its AUC is near 0.5.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

FPRS = (0.01, 0.001)


def roc(scores: np.ndarray, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FPR and TPR at every distinct threshold, from (0, 0) to (1, 1); higher score = member."""
    scores = np.asarray(scores, dtype=np.float64)
    members = np.asarray(members, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    ranked, labels = scores[order], members[order]
    # One point per distinct score: tied records cross the threshold together.
    last = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]
    tp = np.cumsum(labels)[last]
    fp = np.cumsum(~labels)[last]
    positives, negatives = max(int(labels.sum()), 1), max(int((~labels).sum()), 1)
    return np.r_[0.0, fp / negatives], np.r_[0.0, tp / positives]


def auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    return float(np.trapezoid(tpr, fpr))


def tpr_at(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    """The best TPR among thresholds whose FPR does not exceed ``target``."""
    allowed = fpr <= target + 1e-12
    return float(tpr[allowed].max()) if allowed.any() else 0.0


def advantage(
    scores: np.ndarray, members: np.ndarray, *, rounds: int = 200, seed: int = 0
) -> dict[str, float]:
    """max(TPR − FPR) (Yeom et al. 2018) with a 95% percentile-bootstrap interval."""
    scores, members = np.asarray(scores), np.asarray(members, dtype=bool)

    def gap(s: np.ndarray, m: np.ndarray) -> float:
        f, t = roc(s, m)
        return float((t - f).max())

    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(rounds):
        pick = rng.integers(0, len(scores), len(scores))
        draws.append(gap(scores[pick], members[pick]))
    low, high = np.percentile(draws, [2.5, 97.5])
    return {"value": gap(scores, members), "ci_low": float(low), "ci_high": float(high)}


def summarize(scores: np.ndarray, members: np.ndarray) -> dict[str, Any]:
    fpr, tpr = roc(scores, members)
    return {
        "auc": auc(fpr, tpr),
        "tpr_at_fpr": {str(f): tpr_at(fpr, tpr, f) for f in FPRS},
        "advantage": advantage(scores, members),
        "members": int(np.sum(members)),
        "non_members": int(np.sum(~np.asarray(members, dtype=bool))),
    }


def plot(scores: np.ndarray, members: np.ndarray, path: Path, title: str) -> Path:
    """A log-log ROC curve (PNG), the chance line for reference; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fpr, tpr = roc(scores, members)
    floor = 1.0 / max(len(scores), 1) / 10
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    try:
        ax.loglog(np.maximum(fpr, floor), np.maximum(tpr, floor), label=f"AUC {auc(fpr, tpr):.3f}")
        ax.loglog([floor, 1], [floor, 1], "--", color="grey", label="chance")
        ax.set_xlim(floor * 10, 1)
        ax.set_ylim(floor * 10, 1)
        ax.set_xlabel("false-positive rate")
        ax.set_ylabel("true-positive rate")
        ax.set_title(title, fontsize=10)
        ax.legend(loc="lower right")
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        fig.savefig(partial, format="png")
        partial.replace(path)
    finally:
        plt.close(fig)
    return path
