"""Paper B's level-2 inputs: the level-1 models' class probabilities plus MFCC statistics.

Meta-feature column order (fixed, see :func:`feature_names`):

1. for every level-1 model in ``model_order`` (sorted row names unless given), its ``C``
   class probabilities in class order (``classes.json``): ``<model>:<class>``;
2. ``mfcc_max_0 .. mfcc_max_{K-1}``, ``mfcc_min_*``, ``mfcc_var_*``, ``mfcc_skew_*``
   (``K`` MFCC coefficients, the block order of
   :func:`~kerastag.tasks.stacking.mfcc_statistics.mfcc_statistics`).

Rows are the clips in ascending ``fname`` order (training and test set separately).
Extraction of MFCCs stays outside this module: callers pass precomputed statistics
(:func:`~kerastag.tasks.stacking.mfcc_statistics.mfcc_statistics` of each clip's MFCC
matrix).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from kerastag.errors import StackingError
from kerastag.formats.level1_csv import Level1
from kerastag.tasks.stacking.mfcc_statistics import STAT_NAMES

#: Where MFCC statistics come from (see :func:`resolve_mfcc_stats`).
MfccSource = Callable[[str, Sequence[str]], np.ndarray] | Mapping[str, np.ndarray] | None


def feature_names(model_order: Sequence[str], classes: Sequence[str],
                  n_mfcc: int) -> list[str]:
    """Names of the meta-feature columns, in column order.

    Args:
        model_order: level-1 row names, in column order.
        classes: class names, in column order.
        n_mfcc: MFCC coefficients (0 for no MFCC statistics).

    Returns:
        ``[f"{model}:{class}" ...] + [f"mfcc_{stat}_{i}" ...]``, e.g.
        ``resnext_logmel_mixup:Bark``, ``mfcc_max_0``.
    """
    probs = [f"{model}:{name}" for model in model_order for name in classes]
    stats = [f"mfcc_{stat}_{i}" for stat in STAT_NAMES for i in range(n_mfcc)]
    return probs + stats


def meta_features(level1: Level1, mfcc_stats_train: np.ndarray | None = None,
                  mfcc_stats_test: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Build the level-2 inputs in the module's fixed column order.

    Args:
        level1: the level-1 outputs.
        mfcc_stats_train: ``(training clips, 4*K)`` MFCC statistics in
            ``level1.train_fnames`` order, or None for probabilities only.
        mfcc_stats_test: ``(test clips, 4*K)`` in ``level1.test_fnames`` order, or None
            (both or neither).

    Returns:
        ``(X_train, X_test, names)``: float64 matrices of width ``models*C + 4*K`` with
        rows in sorted-fname order, and the column names (:func:`feature_names`).

    Raises:
        StackingError: MFCC statistics of the wrong shape, not finite, or given for only
            one of the two sets.
    """
    if (mfcc_stats_train is None) != (mfcc_stats_test is None):
        raise StackingError("meta_features: give MFCC statistics for both the training "
                            "and the test set, or for neither")
    train = _prob_block(level1.oof_probs)
    test = _prob_block(level1.test_probs)
    n_mfcc = 0
    if mfcc_stats_train is not None:
        stats_train = _check_stats(mfcc_stats_train, train.shape[0], "training")
        stats_test = _check_stats(mfcc_stats_test, test.shape[0], "test")
        if stats_train.shape[1] != stats_test.shape[1]:
            raise StackingError(f"meta_features: MFCC statistics have width "
                                f"{stats_train.shape[1]} (training) but "
                                f"{stats_test.shape[1]} (test)")
        train, test = np.hstack([train, stats_train]), np.hstack([test, stats_test])
        n_mfcc = stats_train.shape[1] // 4
    return train, test, feature_names(level1.model_order, level1.classes, n_mfcc)


def _prob_block(probs: np.ndarray) -> np.ndarray:
    """``(models, clips, classes)`` -> ``(clips, models*classes)``, model-major."""
    models, clips, classes = probs.shape
    return np.ascontiguousarray(probs.transpose(1, 0, 2)).reshape(clips, models * classes)


def _check_stats(stats, n_rows: int, split: str) -> np.ndarray:
    stats = np.asarray(stats, dtype=np.float64)
    if stats.ndim != 2 or stats.shape[0] != n_rows or stats.shape[1] % 4 or not stats.shape[1]:
        raise StackingError(f"meta_features: {split} MFCC statistics must have shape "
                            f"({n_rows}, 4*K) with K >= 1; received {stats.shape}")
    if not np.all(np.isfinite(stats)):
        raise StackingError(f"meta_features: {split} MFCC statistics hold NaN or inf")
    return stats


def resolve_mfcc_stats(mfcc_stats: MfccSource, level1: Level1
                       ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Turn the caller's MFCC statistics into matrices in level-1 row order.

    Args:
        mfcc_stats: None (no MFCC features); a mapping ``fname -> (4*K,) vector`` over
            the training and test clips (clip names must then differ between the two
            sets); or a callable ``(split, fnames) -> (len(fnames), 4*K) array`` called
            once with ``"train"`` and once with ``"test"``.
        level1: the level-1 outputs whose clip order to follow.

    Returns:
        ``(train, test)`` matrices, or ``(None, None)``.

    Raises:
        StackingError: a missing clip, an ambiguous mapping or a wrong shape.
    """
    if mfcc_stats is None:
        return None, None
    if isinstance(mfcc_stats, Mapping):
        return (_stats_from_mapping(mfcc_stats, level1.train_fnames, level1.test_fnames),
                _stats_from_mapping(mfcc_stats, level1.test_fnames, level1.train_fnames))
    if callable(mfcc_stats):
        return (np.asarray(mfcc_stats("train", list(level1.train_fnames)), np.float64),
                np.asarray(mfcc_stats("test", list(level1.test_fnames)), np.float64))
    raise StackingError(f"mfcc_stats must be a mapping fname -> vector, a callable or "
                        f"None; received {type(mfcc_stats).__name__}")


def _stats_from_mapping(mapping: Mapping[str, np.ndarray], fnames: np.ndarray,
                        other: np.ndarray) -> np.ndarray:
    shared = np.intersect1d(fnames, other)
    if shared.size:
        raise StackingError(f"MFCC statistics keyed by fname are ambiguous: {shared.size} "
                            f"clip names (e.g. {str(shared[0])!r}) are in both the training and "
                            f"the test set; pass a callable (split, fnames) instead")
    missing = [f for f in fnames if f not in mapping]
    if missing:
        raise StackingError(f"MFCC statistics: no entry for clip {str(missing[0])!r} "
                            f"({len(missing)} clips missing)")
    rows = [np.asarray(mapping[f], dtype=np.float64).ravel() for f in fnames]
    widths = {r.size for r in rows}
    if len(widths) > 1:
        raise StackingError(f"MFCC statistics: vectors of different lengths "
                            f"{sorted(widths)[:4]}")
    if not rows:
        width = np.asarray(next(iter(mapping.values()), np.zeros(4))).size
        return np.zeros((0, width))
    return np.vstack(rows)
