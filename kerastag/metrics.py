"""Evaluation metrics as the challenges computed them: EER (DCASE 2016 Task 4) and mAP@3.

Pure numpy + scikit-learn, so callbacks, the evaluation stage and stacking all share them.

Ranking convention for the single-label metrics (``map_at_3``, ``top_k_labels``,
``accuracy``): classes are ranked by descending probability; equal probabilities are
ranked by ascending class index (a stable sort of ``-probs``). The rank of a clip's true
class is therefore ``1 + #(classes with a higher probability) + #(classes with the same
probability and a lower index)``. This makes every result deterministic under ties.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np
from sklearn import metrics as skm

from kerastag.errors import KerastagError

#: Tolerance of the official DCASE 2016 script when testing ``FPR >= 1 - TPR``.
EER_EPS = 1e-6


class MetricError(KerastagError):
    """Metric inputs with the wrong shape, length or values."""


@dataclasses.dataclass(frozen=True)
class EerSummary:
    """EERs of a cross-validation run, summarised the way paper A's Table 1 reports them.

    Attributes:
        per_tag: shape ``(tags,)``, each tag's EER as the nan-mean over folds.
        average: nan-mean of the EER over all folds x tags.
        var_1e3: sample variance (``ddof=1``) of ``per_tag`` times 1000; tags whose
            per-tag EER is NaN (no positives in any fold) are left out.
    """

    per_tag: np.ndarray
    average: float
    var_1e3: float


# ---------------------------------------------------------------------------- EER


def _binary_inputs(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    """Check and convert one tag's labels ``(n,)`` (0/1 or bool) and scores ``(n,)``."""
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1 or y.shape != s.shape:
        raise MetricError(
            f"equal_error_rate needs 1-D y_true and scores of equal length; "
            f"received shapes y_true={y.shape}, scores={s.shape}"
        )
    if not np.all((y == 0) | (y == 1)):
        raise MetricError(f"y_true must hold only 0/1; received values {np.unique(y)[:5]}")
    if not np.all(np.isfinite(s)):
        raise MetricError("scores must be finite; received NaN or inf")
    return y.astype(np.int64), s


def _crossing(p1: tuple[float, float], p2: tuple[float, float]) -> float:
    """FPR where the ROC segment ``p1 -> p2`` meets the anti-diagonal ``TPR = 1 - FPR``.

    ``p1``/``p2`` are ``(FPR, TPR)`` points. The segment is the line ``TPR = m*FPR + o``
    with ``m = (TPR2 - TPR1) / (FPR2 - FPR1)`` and ``o = TPR1 - m*FPR1``. On the
    anti-diagonal FNR = 1 - TPR equals FPR, so ``1 - FPR = m*FPR + o`` gives
    ``FPR = (1 - o) / (1 + m)``: the point where the FPR and FNR curves, both linear
    between the two ROC points, cross. A vertical segment (same FPR within ``EER_EPS``)
    crosses at its own FPR. ROC curves never decrease, so ``m >= 0`` and ``1 + m > 0``.
    """
    (f1, t1), (f2, t2) = p1, p2
    if abs(f2 - f1) < EER_EPS:
        return float(f1)
    slope = (t2 - t1) / (f2 - f1)
    offset = t1 - slope * f1
    return float((1.0 - offset) / (1.0 + slope))


def equal_error_rate(y_true, scores) -> float:
    """Equal error rate of one tag, exactly as the DCASE 2016 Task 4 official script.

    The ROC points come from ``sklearn.metrics.roc_curve(..., drop_intermediate=True)``
    with ``(0, 0)`` put in front (as the script does). Walking them in order, the first
    point with ``FPR + 1e-6 >= 1 - TPR`` is the first one on or past the anti-diagonal;
    the EER is where the straight segment from the previous point to that point crosses
    the anti-diagonal, i.e. where the linearly interpolated FPR and FNR curves are equal
    (see :func:`_crossing`).

    Args:
        y_true: shape ``(n,)``, 1 for clips that carry the tag, 0 otherwise.
        scores: shape ``(n,)``, the clip scores (probabilities); higher means "tagged".

    Returns:
        The EER in ``[0, 1]``; NaN when ``y_true`` has no positives or no negatives.

    Raises:
        MetricError: shapes differ, labels are not 0/1, or scores are not finite.

    Examples:
        Three clips carry the tag (scores 0.4, 0.7, 0.9), three do not (0.1, 0.3, 0.6):
        at the threshold 0.6, one negative of three is tagged and one positive of three
        missed.

        >>> y_true = [0, 0, 0, 1, 1, 1]
        >>> scores = [0.1, 0.3, 0.6, 0.4, 0.7, 0.9]
        >>> round(equal_error_rate(y_true, scores), 4)
        0.3333
        >>> equal_error_rate([1, 1], [0.2, 0.3])  # no negative clip
        nan
    """
    segment = _eer_segment(y_true, scores)
    if segment is None:
        return float("nan")
    points, _, i = segment
    return _crossing(points[i - 1], points[i])


def _two_class_inputs(y_true, scores) -> tuple[np.ndarray, np.ndarray] | None:
    """``(y, s)`` of :func:`_binary_inputs`, or None when ``y`` has no positives or no
    negatives (no ROC curve, no threshold)."""
    y, s = _binary_inputs(y_true, scores)
    n_pos = int(y.sum())
    return None if n_pos == 0 or n_pos == y.size else (y, s)


def _eer_segment(y_true, scores):
    """``(ROC points with (0, 0) in front, their thresholds, i)``: the EER lies on the
    segment ``points[i - 1] -> points[i]``; None without positives or negatives. A
    threshold of ``inf`` (nothing tagged) is given as the highest score."""
    inputs = _two_class_inputs(y_true, scores)
    if inputs is None:
        return None
    y, s = inputs
    fpr, tpr, thresholds = skm.roc_curve(y, s, drop_intermediate=True)
    top = float(s.max())
    points = [(0.0, 0.0)] + list(zip(fpr.tolist(), tpr.tolist()))
    levels = [top] + [t if np.isfinite(t) else top for t in thresholds.tolist()]
    # The last ROC point is (1, 1), which always satisfies the test, so i >= 1 exists.
    i = next(k for k, (f, t) in enumerate(points) if f + EER_EPS >= 1.0 - t)
    return points, levels, i


def eer_per_tag(y_true, scores) -> np.ndarray:
    """EER of every tag (column).

    Args:
        y_true: shape ``(n, tags)``, 0/1 tag matrix.
        scores: shape ``(n, tags)``, clip scores.

    Returns:
        Shape ``(tags,)``, float64; NaN for a tag with no positives or no negatives.

    Raises:
        MetricError: the two arrays are not 2-D of the same shape.

    Examples:
        The first tag's scores separate its clips; the second tag's are no better than
        chance:

        >>> import numpy as np
        >>> y_true = np.array([[0, 1], [0, 0], [1, 1], [1, 0]])
        >>> scores = np.array([[0.1, 0.8], [0.3, 0.6], [0.7, 0.3], [0.9, 0.4]])
        >>> eer_per_tag(y_true, scores)
        array([0. , 0.5])
    """
    y = np.asarray(y_true)
    s = np.asarray(scores)
    if y.ndim != 2 or y.shape != s.shape:
        raise MetricError(
            f"eer_per_tag needs 2-D y_true and scores of equal shape; "
            f"received shapes y_true={y.shape}, scores={s.shape}"
        )
    return np.array([equal_error_rate(y[:, k], s[:, k]) for k in range(y.shape[1])])


def summarize_eer(per_fold) -> EerSummary:
    """Summarise per-fold, per-tag EERs as paper A's Table 1 does.

    Args:
        per_fold: shape ``(folds, tags)``, EERs (NaN where a fold has no positives).

    Returns:
        :class:`EerSummary` with the per-tag nan-mean over folds, the nan-mean over all
        folds x tags and 1000 x the sample variance (ddof=1) of the non-NaN per-tag EERs
        (NaN when fewer than two tags have an EER).

    Raises:
        MetricError: ``per_fold`` is not 2-D.

    Examples:
        Two folds, two tags; the second fold has no positive of the second tag:

        >>> summary = summarize_eer([[0.1, 0.3], [0.2, float("nan")]])
        >>> summary.per_tag, round(summary.average, 4), round(summary.var_1e3, 4)
        (array([0.15, 0.3 ]), 0.2, 11.25)
    """
    e = np.asarray(per_fold, dtype=np.float64)
    if e.ndim != 2:
        raise MetricError(f"summarize_eer needs a (folds, tags) array; received shape {e.shape}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices -> NaN is intended
        per_tag = np.nanmean(e, axis=0)
        average = float(np.nanmean(e)) if e.size else float("nan")
    valid = per_tag[~np.isnan(per_tag)]
    var = float(np.var(valid, ddof=1)) * 1000.0 if valid.size >= 2 else float("nan")
    return EerSummary(per_tag=per_tag, average=average, var_1e3=var)


# ------------------------------------------------------------ decision thresholds


def eer_threshold(y_true, scores) -> float:
    """The score threshold at the equal-error point of one tag (a clip is tagged when
    ``score >= threshold``, as in ``sklearn.metrics.roc_curve``).

    Found on exactly the ROC segment :func:`equal_error_rate` uses: the points of
    ``roc_curve(..., drop_intermediate=True)`` with ``(0, 0)`` in front, and the segment
    ``p1 -> p2`` ending at the first point with ``FPR + 1e-6 >= 1 - TPR``. The EER point
    lies a fraction ``f`` of the way along it (``f = (EER - FPR1) / (FPR2 - FPR1)``; on a
    vertical segment ``f = (1 - EER - TPR1) / (TPR2 - TPR1)``, clipped to ``[0, 1]``), and
    the threshold is interpolated linearly the same way:
    ``threshold = thr1 + f * (thr2 - thr1)``. The ``(0, 0)`` points (sklearn's threshold
    ``inf``: nothing tagged) take the highest score, so the result always lies between
    the lowest and the highest score.

    Perfectly separable scores give ``f = 1`` on the vertical segment from ``(0, 0)``: the
    lowest positive score, which tags every positive and no negative.

    Args:
        y_true: shape ``(n,)``, 1 for clips that carry the tag, 0 otherwise.
        scores: shape ``(n,)``, the clip scores (probabilities); higher means "tagged".

    Returns:
        The threshold; NaN when ``y_true`` has no positives or no negatives.

    Raises:
        MetricError: shapes differ, labels are not 0/1, or scores are not finite.

    Examples:
        The clips of :func:`equal_error_rate`'s example, whose EER of 1/3 is met there:

        >>> round(eer_threshold([0, 0, 0, 1, 1, 1], [0.1, 0.3, 0.6, 0.4, 0.7, 0.9]), 4)
        0.6
    """
    segment = _eer_segment(y_true, scores)
    if segment is None:
        return float("nan")
    points, levels, i = segment
    (f1, t1), (f2, t2) = points[i - 1], points[i]
    eer = _crossing(points[i - 1], points[i])
    if abs(f2 - f1) < EER_EPS:
        fraction = 1.0 if t2 == t1 else (1.0 - eer - t1) / (t2 - t1)
    else:
        fraction = (eer - f1) / (f2 - f1)
    fraction = min(max(fraction, 0.0), 1.0)
    return float(levels[i - 1] + fraction * (levels[i] - levels[i - 1]))


def max_f1_threshold(y_true, scores) -> float:
    """The score threshold that maximises F1 of one tag (tagged when ``score >= threshold``).

    The candidates are the thresholds of ``sklearn.metrics.precision_recall_curve`` (the
    distinct scores); F1 = 2PR / (P + R) is computed for each (0 where P + R = 0). Ties
    (F1 within 1e-12 of the best) go to the lowest such threshold, the one that tags the
    most clips.

    Args:
        y_true: shape ``(n,)``, 1 for clips that carry the tag, 0 otherwise.
        scores: shape ``(n,)``, the clip scores (probabilities); higher means "tagged".

    Returns:
        The threshold (one of the scores); NaN when ``y_true`` has no positives or no
        negatives.

    Raises:
        MetricError: shapes differ, labels are not 0/1, or scores are not finite.

    Examples:
        Tagging from 0.4 up catches the three positives and one negative (F1 6/7):

        >>> max_f1_threshold([0, 0, 0, 1, 1, 1], [0.1, 0.3, 0.6, 0.4, 0.7, 0.9])
        0.4
    """
    inputs = _two_class_inputs(y_true, scores)
    if inputs is None:
        return float("nan")
    precision, recall, thresholds = skm.precision_recall_curve(*inputs)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0,
                      2 * precision * recall / (precision + recall), 0.0)
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)
    return float(thresholds[best].min())


# ------------------------------------------------------------------ single-label


def _check_probs(probs) -> np.ndarray:
    """Return ``probs`` as a finite float64 ``(n, classes)`` array."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] == 0:
        raise MetricError(f"probs must have shape (n, classes); received shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise MetricError("probs must be finite; received NaN or inf")
    return p


def _check_labels(true_idx, probs) -> tuple[np.ndarray, np.ndarray]:
    """Validate true class indices ``(n,)`` against ``probs`` ``(n, classes)``."""
    p = _check_probs(probs)
    t = np.asarray(true_idx)
    if t.ndim != 1 or t.shape[0] != p.shape[0]:
        raise MetricError(
            f"true_idx must have shape ({p.shape[0]},) to match probs; received {t.shape}"
        )
    if t.size and (not np.issubdtype(t.dtype, np.integer) or t.min() < 0 or t.max() >= p.shape[1]):
        raise MetricError(
            f"true_idx must be integers in [0, {p.shape[1]}); received dtype {t.dtype}, "
            f"range [{t.min()}, {t.max()}]"
        )
    return t.astype(np.int64), p


def true_label_rank(true_idx, probs) -> np.ndarray:
    """1-based rank of each clip's true class under the module's tie rule.

    Args:
        true_idx: shape ``(n,)``, true class index per clip.
        probs: shape ``(n, classes)``, class probabilities (any real scores).

    Returns:
        Shape ``(n,)``, int64 ranks in ``[1, classes]``.

    Examples:
        >>> import numpy as np
        >>> true_label_rank([0, 1, 0], np.array([[0.7, 0.2, 0.1], [0.2, 0.3, 0.5],
        ...                                      [0.1, 0.6, 0.3]]))
        array([1, 2, 3])
        >>> true_label_rank([1], np.array([[0.5, 0.5]]))  # a tie goes to the lower index
        array([2])
    """
    t, p = _check_labels(true_idx, probs)
    p_true = p[np.arange(p.shape[0]), t][:, None]
    lower_index = np.arange(p.shape[1])[None, :] < t[:, None]
    ahead = (p > p_true) | ((p == p_true) & lower_index)
    return 1 + ahead.sum(axis=1)


def _ap_at_3(true_idx, probs) -> np.ndarray:
    """Per-clip average precision at 3: ``1/rank`` if rank <= 3 else 0, shape ``(n,)``."""
    rank = true_label_rank(true_idx, probs)
    return np.where(rank <= 3, 1.0 / rank, 0.0)


def map_at_3(true_idx, probs) -> float:
    """Mean average precision at 3 (Kaggle / DCASE 2018 Task 2).

    Args:
        true_idx: shape ``(n,)``, the one true class index per clip.
        probs: shape ``(n, classes)``, class probabilities.

    Returns:
        Mean over clips of ``1/rank`` of the true class when it is in the top 3, else 0;
        NaN for no clips. Ties are ranked by lower class index first (module docstring).

    Examples:
        Three clips of three classes; the true classes rank 1st, 2nd and 3rd:

        >>> import numpy as np
        >>> probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.3, 0.5], [0.1, 0.6, 0.3]])
        >>> true_idx = [0, 1, 0]
        >>> round(map_at_3(true_idx, probs), 4)  # (1 + 1/2 + 1/3) / 3
        0.6111
    """
    ap = _ap_at_3(true_idx, probs)
    return float(ap.mean()) if ap.size else float("nan")


def map_at_3_per_class(true_idx, probs, n_classes: int) -> np.ndarray:
    """mAP@3 restricted to the clips of each true class.

    Args:
        true_idx: shape ``(n,)``, true class index per clip.
        probs: shape ``(n, classes)``, class probabilities; ``classes == n_classes``.
        n_classes: number of classes.

    Returns:
        Shape ``(n_classes,)``: mean per-clip AP@3 over the clips whose true class is
        ``c``; NaN for a class with no clips.

    Examples:
        Three clips of three classes; the true classes rank 1st, 2nd and 3rd:

        >>> import numpy as np
        >>> probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.3, 0.5], [0.1, 0.6, 0.3]])
        >>> true_idx = [0, 1, 0]
        >>> map_at_3_per_class(true_idx, probs, 3)
        array([0.66666667, 0.5       ,        nan])
    """
    p = _check_probs(probs)
    if p.shape[1] != n_classes:
        raise MetricError(f"probs has {p.shape[1]} classes; received n_classes={n_classes}")
    ap = _ap_at_3(true_idx, p)
    t = np.asarray(true_idx, dtype=np.int64)
    sums = np.bincount(t, weights=ap, minlength=n_classes)
    counts = np.bincount(t, minlength=n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def top_k_indices(probs, k: int = 3) -> np.ndarray:
    """Indices of the ``k`` best classes per clip, best first, ties by lower index.

    Args:
        probs: shape ``(n, classes)``.
        k: how many classes to keep, ``1 <= k``; capped at ``classes``.

    Returns:
        Shape ``(n, min(k, classes))``, int64.

    Examples:
        >>> import numpy as np
        >>> top_k_indices(np.array([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]]), k=2)
        array([[0, 1],
               [2, 0]])
    """
    p = _check_probs(probs)
    if k < 1:
        raise MetricError(f"k must be >= 1; received k={k}")
    return np.argsort(-p, axis=1, kind="stable")[:, :k]


def top_k_labels(probs, classes: Sequence[str], k: int = 3) -> list[list[str]]:
    """Names of the ``k`` best classes per clip (e.g. a Kaggle submission's label field).

    Args:
        probs: shape ``(n, classes)``.
        classes: the class names, in the column order of ``probs``.
        k: how many labels per clip.

    Returns:
        ``n`` lists of ``min(k, classes)`` names, best first, ties by lower index.

    Examples:
        >>> import numpy as np
        >>> probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.3, 0.5]])
        >>> top_k_labels(probs, ["Bark", "Meow", "Chirp"], k=2)
        [['Bark', 'Meow'], ['Chirp', 'Meow']]
    """
    p = _check_probs(probs)
    if len(classes) != p.shape[1]:
        raise MetricError(f"probs has {p.shape[1]} columns; received {len(classes)} class names")
    return [[classes[j] for j in row] for row in top_k_indices(p, k).tolist()]


def accuracy(true_idx, probs) -> float:
    """Fraction of clips whose top-1 class (ties by lower index) is the true class.

    Args:
        true_idx: shape ``(n,)``.
        probs: shape ``(n, classes)``.

    Returns:
        Accuracy in ``[0, 1]``; NaN for no clips.

    Examples:
        Three clips of three classes; the true classes rank 1st, 2nd and 3rd:

        >>> import numpy as np
        >>> probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.3, 0.5], [0.1, 0.6, 0.3]])
        >>> true_idx = [0, 1, 0]
        >>> round(accuracy(true_idx, probs), 4)
        0.3333
    """
    rank = true_label_rank(true_idx, probs)
    return float((rank == 1).mean()) if rank.size else float("nan")
