"""LiRA, offline (Carlini et al. 2022, "Membership inference attacks from first principles").

Each audited record's logit-scaled confidence under reference models that did not train on
it is fitted with a Gaussian; the target's confidence is scored by how far it lies above
that OUT distribution. With few reference models a per-record variance is unreliable, so
the variance is pooled over records (the paper's "global variance"), as it recommends.
"""

from __future__ import annotations

import numpy as np

PER_RECORD_VARIANCE_FROM = 16


def scores(target: np.ndarray, refs: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Standardized distance of φ_target above the OUT mean (higher = member).

    ``refs`` (k×n) are φ under the reference models, ``out`` (k×n) marks those that did not
    train on each record; only they are used.
    """
    counts = out.sum(0)
    mean = (refs * out).sum(0) / np.maximum(counts, 1)
    if counts.min() >= PER_RECORD_VARIANCE_FROM:
        std = np.sqrt((((refs - mean) * out) ** 2).sum(0) / (counts - 1))
    else:
        centred = (refs - mean) * out
        dof = int(counts.sum()) - refs.shape[1]
        pooled = float(np.sqrt((centred**2).sum() / dof)) if dof > 0 else 0.0
        if pooled == 0:
            # One OUT model per record gives no spread: use the spread of φ across records.
            pooled = float(refs[out].std()) or 1.0
        std = np.full_like(mean, pooled)
    return (target - mean) / np.maximum(std, 1e-6)
