"""Paper B's level-2 model: XGBoost on the meta-features of :mod:`.meta_features`.

The level-2 model is an ``xgboost.XGBClassifier`` with the default parameters of 2018 (paper
B: "default parameters") except ``max_depth=3``: ``learning_rate=0.1``, XGBoost's default
until version 1.x (today's default is 0.3), plus ``tree_method="hist"``, a seed and a thread
count.

Honest stacked score (:func:`nested_cv_probs`): level 2 is cross-validated over the
*same* folds as level 1. For outer fold ``k`` it is fitted on the meta-features of the
clips of the other folds only and predicts fold ``k``. Every meta-feature is itself
out-of-fold: a fold-``k`` clip's probabilities come from the level-1 model trained
without fold ``k``, and level 2 never sees a fold-``k`` row while predicting fold ``k``.
(The level-1 models that produced the *training* rows' features did train on fold ``k``;
that is inherent to cross-validated stacking and is the usual, mildly optimistic,
estimate.) The submitted model is one level-2 fit on all training clips, applied to the
test-set meta-features (whose probabilities come from the level-1 ``full`` models).

Classes absent from a level-2 training set: XGBoost's scikit-learn wrapper insists that
the labels present are exactly ``0..C-1``. When some class is missing (a small fold),
:func:`fit_level2` appends one placeholder row per missing class with sample weight 0.
A zero-weight row adds nothing to any gradient, hessian or intercept estimate and copies
the first real row's features, so it adds no new histogram cut either: the fit equals
XGBoost's native ``multi:softprob`` training with ``num_class=C`` on the real rows
(checked in the tests). The missing class has no positive example, so its intercept
and its trees push its probability towards zero, as for any class without positives.

Saving and loading are :mod:`kerastag.formats.level2_model`'s.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from kerastag.errors import StackingError
from kerastag.formats.level1_csv import Level1
from kerastag.formats.level2_model import META_FORMAT

#: Level-2 parameters that differ from today's XGBoost defaults: paper B's max_depth 3, and
#: the learning rate XGBoost defaulted to in 2018 (0.1; 0.3 since).
LEVEL2_PARAMS = {"max_depth": 3, "learning_rate": 0.1, "tree_method": "hist"}


def fit_level2(X: np.ndarray, y: np.ndarray, *, n_classes: int | None = None, seed: int = 0,
               n_jobs: int | None = None):
    """Fit paper B's level-2 XGBoost classifier.

    Args:
        X: ``(clips, features)`` meta-features.
        y: ``(clips,)`` class indices in ``0..n_classes-1``.
        n_classes: number of classes ``C``; default ``max(y) + 1``. Classes missing from
            ``y`` get zero-weight placeholder rows (module docstring), so the model always
            outputs ``C`` probabilities.
        seed: ``random_state``.
        n_jobs: threads; default ``os.cpu_count()``.

    Returns:
        The fitted ``xgboost.XGBClassifier`` (``classes_ == arange(C)``).

    Raises:
        StackingError: empty input, mismatched lengths or labels out of range.
    """
    import xgboost

    X, y, n_classes = _check_xy(X, y, n_classes)
    model = xgboost.XGBClassifier(**LEVEL2_PARAMS, random_state=seed,
                                  n_jobs=n_jobs or os.cpu_count())
    absent = np.setdiff1d(np.arange(n_classes), y)
    if absent.size == 0:
        return model.fit(X, y)
    X_fit = np.vstack([X, np.repeat(X[:1], absent.size, axis=0)])
    y_fit = np.concatenate([y, absent])
    weight = np.concatenate([np.ones(y.size), np.zeros(absent.size)])
    return model.fit(X_fit, y_fit, sample_weight=weight)


def _check_xy(X, y, n_classes: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[0] == 0 or y.shape != (X.shape[0],):
        raise StackingError(f"level 2 needs X of shape (clips, features) and y of shape "
                            f"(clips,) with clips >= 1; received {X.shape} and {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise StackingError(f"level 2 labels must be class indices >= 0; received dtype "
                            f"{y.dtype}, minimum {y.min()}")
    n_classes = int(y.max()) + 1 if n_classes is None else int(n_classes)
    if n_classes < 2 or y.max() >= n_classes:
        raise StackingError(f"level 2 needs n_classes >= 2 and labels < n_classes; "
                            f"received n_classes={n_classes}, largest label {y.max()}")
    return X, y.astype(np.int64), n_classes


def nested_cv_probs(X: np.ndarray, y: np.ndarray, folds: np.ndarray, *, seed: int = 0,
                    n_classes: int | None = None, n_jobs: int | None = None) -> np.ndarray:
    """Cross-validated level-2 probabilities over level 1's folds.

    For each fold ``k`` (ascending), level 2 is fitted on the rows whose fold is not
    ``k`` and predicts the rows of fold ``k``; no row is ever predicted by a model that
    was fitted on it or on any row of its fold.

    Args:
        X: ``(clips, features)`` meta-features (out-of-fold probabilities + MFCC stats).
        y: ``(clips,)`` class indices.
        folds: ``(clips,)`` the level-1 fold of each clip.
        seed: level-2 ``random_state``.
        n_classes: number of classes; default ``max(y) + 1``.
        n_jobs: threads; default ``os.cpu_count()``.

    Returns:
        ``(clips, n_classes)`` float64 probabilities.

    Raises:
        StackingError: fewer than two folds or mismatched lengths.
    """
    X, y, n_classes = _check_xy(X, y, n_classes)
    folds = np.asarray(folds)
    if folds.shape != y.shape:
        raise StackingError(f"nested_cv_probs: folds has shape {folds.shape}, expected "
                            f"{y.shape}")
    fold_ids = np.unique(folds)
    if fold_ids.size < 2:
        raise StackingError(f"nested_cv_probs needs at least 2 folds; received "
                            f"{fold_ids.tolist()}")
    probs = np.zeros((y.size, n_classes))
    for k in fold_ids:
        held_out = folds == k
        model = fit_level2(X[~held_out], y[~held_out], n_classes=n_classes, seed=seed,
                           n_jobs=n_jobs)
        probs[held_out] = model.predict_proba(X[held_out])
    return probs


def level2_meta(level1: Level1, names: Sequence[str], seed: int) -> dict:
    """The ``level2_meta.json`` content for a level-2 model fitted on ``level1``."""
    import xgboost

    n_mfcc = (len(names) - len(level1.model_order) * level1.n_classes) // 4
    return {"format": META_FORMAT, "version": 1, "model_order": list(level1.model_order),
            "classes": list(level1.classes), "feature_names": list(names),
            "n_mfcc": n_mfcc, "seed": seed, "params": dict(LEVEL2_PARAMS),
            "n_train_clips": int(level1.train_fnames.size),
            "run_dir": str(Path(level1.run_dir).resolve()),
            "xgboost_version": xgboost.__version__}


def predict_level2(model, meta: Mapping, X: np.ndarray) -> np.ndarray:
    """Class probabilities of a level-2 model.

    Args:
        model: a fitted or loaded ``XGBClassifier``.
        meta: its metadata (:func:`level2_meta`); fixes the expected width of ``X``.
        X: ``(clips, features)`` meta-features in the metadata's column order.

    Returns:
        ``(clips, classes)`` float64 probabilities.

    Raises:
        StackingError: ``X`` has the wrong width.
    """
    X = np.asarray(X, dtype=np.float64)
    width = len(meta["feature_names"])
    if X.ndim != 2 or X.shape[1] != width:
        raise StackingError(f"level 2 expects meta-features of shape (clips, {width}); "
                            f"received {X.shape}")
    if X.shape[0] == 0:
        return np.zeros((0, len(meta["classes"])))
    return np.asarray(model.predict_proba(X), dtype=np.float64)
