"""LiRA, offline (Carlini et al. 2022, "Membership inference attacks from first principles").

Each audited record's logit-scaled confidence under reference models that did not train on
it is fitted with a Gaussian; the target's confidence is scored by how far it lies above
that OUT distribution. With few reference models a per-record variance is unreliable, so
the variance is pooled over records (the paper's "global variance"), as it recommends.
"""

from __future__ import annotations

import numpy as np

PER_RECORD_VARIANCE_FROM = 16


def scores(target: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """Standardized distance of φ_target above the OUT mean (higher = member)."""
    mean = refs.mean(0)
    if len(refs) >= PER_RECORD_VARIANCE_FROM:
        std = refs.std(0, ddof=1)
    else:
        centred = refs - mean
        pooled = float(np.sqrt((centred**2).sum() / max(refs.size - refs.shape[1], 1)))
        if len(refs) == 1 or pooled == 0:
            # One model gives no spread: use the spread of φ across records instead.
            pooled = float(refs.std()) or 1.0
        std = np.full_like(mean, pooled)
    return (target - mean) / np.maximum(std, 1e-6)
