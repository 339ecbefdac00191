"""Tests for kerastag.metrics: EER as the DCASE 2016 script, EER summaries, mAP@3."""

import math

import numpy as np
import pytest

from kerastag.errors import KerastagError
from kerastag.metrics import (
    EerSummary,
    MetricError,
    accuracy,
    eer_per_tag,
    equal_error_rate,
    map_at_3,
    map_at_3_per_class,
    summarize_eer,
    top_k_labels,
    true_label_rank,
)
from kerastag.reference_results import PAPER_A_TABLE1

# ------------------------------------------------------------------------ EER


def test_eer_perfect_separation_is_zero():
    assert equal_error_rate([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 0.0


def test_eer_fully_inverted_is_one():
    assert equal_error_rate([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == 1.0


def test_eer_hand_worked_interpolation():
    # Positives 0.9, 0.5; negatives 0.5, 0.5, 0.1. ROC: (0,0) -> (0,.5) [t=.9]
    # -> (2/3, 1) [t=.5, one tied positive with two negatives] -> (1,1).
    # (0,.5) is before the anti-diagonal, (2/3,1) past it. The segment between them is
    # TPR = .5 + .75*FPR; setting TPR = 1 - FPR gives .5 = 1.75*FPR, FPR = 2/7.
    eer = equal_error_rate([1, 1, 0, 0, 0], [0.9, 0.5, 0.5, 0.5, 0.1])
    assert eer == pytest.approx(2 / 7, abs=1e-12)


def test_eer_step_curve_takes_the_corner_value():
    # Positives .9, .3; negatives .8, .1: the ROC corner (.5, .5) is on the anti-diagonal.
    assert equal_error_rate([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1]) == pytest.approx(0.5)


def _brute_force_eer(y, s):
    """Sweep every threshold (predict positive when score >= t); EER where FPR ~ FNR."""
    pos, neg = s[y == 1], s[y == 0]
    thresholds = np.concatenate([np.unique(s), [np.inf]])
    fpr = np.array([(neg >= t).mean() for t in thresholds])
    fnr = np.array([(pos < t).mean() for t in thresholds])
    i = np.argmin(np.abs(fpr - fnr))
    return (fpr[i] + fnr[i]) / 2


def test_eer_matches_brute_force_sweep_on_random_sample():
    rng = np.random.default_rng(0)
    y = (rng.random(3000) < 0.3).astype(int)
    s = rng.normal(size=y.size) + 1.2 * y
    tol = 2.0 / min(y.sum(), (1 - y).sum())
    eer = equal_error_rate(y, s)
    assert eer == pytest.approx(_brute_force_eer(y, s), abs=tol)
    assert 0.2 < eer < 0.35  # d' = 1.2 gives about Phi(-0.6) = 0.27


@pytest.mark.parametrize("y", [[0, 0, 0], [1, 1, 1]])
def test_eer_is_nan_without_positives_or_negatives(y):
    assert math.isnan(equal_error_rate(y, [0.1, 0.5, 0.9]))


@pytest.mark.parametrize(
    "y, s",
    [([0, 1], [0.1]), ([0, 2], [0.1, 0.2]), ([0, 1], [0.1, np.nan]), ([[0, 1]], [[0.1, 0.2]])],
)
def test_eer_bad_inputs_raise_kerastag_errors(y, s):
    with pytest.raises(MetricError):
        equal_error_rate(y, s)


def test_eer_per_tag_columns_and_nan():
    y = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 1, 0]])
    s = np.array([[0.9, 0.1, 0.2], [0.8, 0.2, 0.3], [0.1, 0.9, 0.4], [0.2, 0.7, 0.5]])
    out = eer_per_tag(y, s)
    assert out.shape == (3,)
    assert out[0] == 0.0
    assert out[1] == pytest.approx(equal_error_rate(y[:, 1], s[:, 1]))
    assert math.isnan(out[2])
    with pytest.raises(MetricError, match="shape"):
        eer_per_tag(y, s[:, :2])


# ---------------------------------------------------------------- summaries


@pytest.mark.parametrize(
    "key, expected_var",
    [(("DAE-DNN", "-", None), 9.45), (("CRNN", "mixup", 1.5), 4.11)],
)
def test_summarize_eer_reproduces_paper_variance(key, expected_var):
    per_tag, avg, var = PAPER_A_TABLE1[key]
    assert var == expected_var
    summary = summarize_eer(np.array([per_tag]))
    assert isinstance(summary, EerSummary)
    assert summary.var_1e3 == pytest.approx(expected_var, abs=0.01)
    assert summary.average == pytest.approx(avg, abs=0.005)
    np.testing.assert_allclose(summary.per_tag, per_tag)


def test_summarize_eer_nan_means_over_folds():
    per_fold = np.array([[0.1, np.nan, 0.3], [0.3, 0.2, np.nan], [0.2, np.nan, np.nan]])
    s = summarize_eer(per_fold)
    np.testing.assert_allclose(s.per_tag, [0.2, 0.2, 0.3])
    # nan-mean over the 5 finite fold x tag cells, not the mean of the per-tag means.
    assert s.average == pytest.approx((0.1 + 0.3 + 0.3 + 0.2 + 0.2) / 5)
    assert s.var_1e3 == pytest.approx(np.var([0.2, 0.2, 0.3], ddof=1) * 1000)


def test_summarize_eer_tag_never_positive_is_nan_and_left_out_of_variance():
    s = summarize_eer(np.array([[0.1, np.nan, 0.3], [0.1, np.nan, 0.3]]))
    assert math.isnan(s.per_tag[1])
    assert s.var_1e3 == pytest.approx(np.var([0.1, 0.3], ddof=1) * 1000)
    with pytest.raises(MetricError, match="folds, tags"):
        summarize_eer(np.zeros(3))


# ---------------------------------------------------------------- mAP@3


def test_map_at_3_hand_worked():
    probs = np.array(
        [
            [0.7, 0.2, 0.1, 0.0],  # true 0 ranked 1st -> 1
            [0.5, 0.3, 0.2, 0.0],  # true 2 ranked 3rd -> 1/3
            [0.4, 0.3, 0.3, 0.0],  # true 3 (score 0) ranked 4th -> 0
            [0.5, 0.5, 0.0, 0.0],  # true 1, tied with class 0 at 0.5: ranked 2nd -> 1/2
        ]
    )
    true = np.array([0, 2, 3, 1])
    np.testing.assert_array_equal(true_label_rank(true, probs), [1, 3, 4, 2])
    assert map_at_3(true, probs) == pytest.approx((1 + 1 / 3 + 0 + 1 / 2) / 4)


def test_map_at_3_ties_rank_lower_index_first():
    probs = np.array([[0.25, 0.25, 0.25, 0.25]] * 4)
    true = np.array([0, 1, 2, 3])
    np.testing.assert_array_equal(true_label_rank(true, probs), [1, 2, 3, 4])
    assert map_at_3(true, probs) == pytest.approx((1 + 1 / 2 + 1 / 3 + 0) / 4)
    assert top_k_labels(probs[:1], ["a", "b", "c", "d"]) == [["a", "b", "c"]]


def test_map_at_3_per_class_and_empty_class():
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7]])
    true = np.array([0, 0, 1])  # clip 1: true 0 ranked 3rd; clip 2: true 1 ranked 2nd
    out = map_at_3_per_class(true, probs, 3)
    np.testing.assert_allclose(out[:2], [(1 + 1 / 3) / 2, 1 / 2])
    assert math.isnan(out[2])
    with pytest.raises(MetricError, match="n_classes=4"):
        map_at_3_per_class(true, probs, 4)


def test_top_k_labels_and_accuracy():
    probs = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]])
    assert top_k_labels(probs, ("x", "y", "z"), k=2) == [["y", "z"], ["x", "z"]]
    assert accuracy([1, 2], probs) == 0.5
    assert accuracy([0], [[0.4, 0.4, 0.2]]) == 1.0  # tie goes to the lower index


@pytest.mark.parametrize(
    "true, probs",
    [([0, 3], [[0.5, 0.5, 0.0]] * 2), ([0], [[0.5, 0.5]] * 2), ([0.0], [[0.5, 0.5]]),
     ([0], [[np.nan, 0.5]]), ([0], [0.5, 0.5])],
)
def test_map_at_3_bad_inputs(true, probs):
    with pytest.raises(KerastagError):
        map_at_3(true, probs)
