"""The MFCC statistics of paper B's level 2: max, min, variance and skewness of each
MFCC coefficient over a clip's frames."""

from __future__ import annotations

import numpy as np

from kerastag.errors import FeatureError

#: The four MFCC statistics, in the block order of :func:`mfcc_statistics`.
STAT_NAMES = ("max", "min", "var", "skew")


def mfcc_statistics(mfcc: np.ndarray) -> np.ndarray:
    """Max, min, variance and skewness of each MFCC coefficient over the frames.

    Variance is the population variance (``ddof=0``); skewness is the biased
    ``m3 / m2**1.5`` (``scipy.stats.skew``'s default). A constant row (a silent clip, a
    single frame) has variance 0 and skewness 0 instead of NaN; a matrix with zero frames
    gives all zeros.

    Args:
        mfcc: shape ``(coefficients, frames)``, e.g. channel 0 of a
            ``TimeFrequencyB(kind="mfcc")`` feature.

    Returns:
        Shape ``(4 * coefficients,)``, float64: the blocks max, min, var, skew
        (:data:`STAT_NAMES`), each in coefficient order.

    Raises:
        FeatureError: ``mfcc`` is not 2-D or holds NaN/inf.
    """
    m = np.asarray(mfcc, dtype=np.float64)
    if m.ndim != 2:
        raise FeatureError(f"mfcc_statistics needs a (coefficients, frames) matrix; "
                           f"received shape {m.shape}")
    if m.shape[1] == 0:
        return np.zeros(4 * m.shape[0])
    if not np.all(np.isfinite(m)):
        raise FeatureError("mfcc_statistics: the MFCC matrix holds NaN or inf")
    mean = m.mean(axis=1)
    dev = m - mean[:, None]
    m2 = np.mean(dev**2, axis=1)
    m3 = np.mean(dev**3, axis=1)
    flat = m2 <= (np.finfo(np.float64).resolution * np.abs(mean)) ** 2  # scipy's rule
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = np.where(flat, 0.0, m3 / np.where(flat, 1.0, m2) ** 1.5)
    var = np.where(flat, 0.0, m2)
    return np.concatenate([m.max(axis=1), m.min(axis=1), var, skew])

