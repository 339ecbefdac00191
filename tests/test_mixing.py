"""Tests for kerastag.mixing: formulas, tf.data batch mapping, reproducibility, errors."""

import numpy as np
import pytest
import tensorflow as tf

from kerastag.errors import ConfigError
from kerastag.mixing import (
    MIXING_MODES,
    MixingSpec,
    apply_mixing,
    make_mixing_map,
    mix_batch,
    mix_pairs_python,
    mix_weights,
    sample_beta,
    sample_mixing_params,
)

LAM = np.array([0.1, 0.5, 0.9, 0.3], np.float32)
PARTNER = np.array([2, 0, 3, 1], np.int32)


def _expected(x, y, mode):
    """Numpy version of paper A's formulas with LAM and PARTNER."""
    lam_x = LAM.reshape((-1,) + (1,) * (x.ndim - 1))
    lam_y = LAM.reshape((-1,) + (1,) * (y.ndim - 1))
    xj, yj = x[PARTNER], y[PARTNER]
    return {
        "none": (x, y),
        "mixup": (lam_x * x + (1 - lam_x) * xj, lam_y * y + (1 - lam_y) * yj),
        "samplepairing": (0.5 * x + 0.5 * xj, y),
        "mixup_lp": (lam_x * x + (1 - lam_x) * xj, y),
        "extrapolation": ((1 + lam_x) * x - lam_x * xj, y),
    }[mode]


def _batch(rank=3, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, 3, 2, 2)[:rank]).astype(dtype)
    y = (rng.random((4, 5)) < 0.4).astype(np.float32)
    return x, y


@pytest.mark.parametrize("mode", MIXING_MODES)
@pytest.mark.parametrize("rank", [2, 3, 4])
def test_mix_batch_matches_formulas(mode, rank):
    x, y = _batch(rank)
    got_x, got_y = mix_batch(tf.constant(x), tf.constant(y), tf.constant(LAM), PARTNER, mode)
    want_x, want_y = _expected(x, y, mode)
    np.testing.assert_allclose(got_x.numpy(), want_x, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(got_y), want_y, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", ["mixup", "extrapolation"])
def test_mix_batch_keeps_float16(mode):
    x, y = _batch(dtype=np.float16)
    got_x, got_y = mix_batch(tf.constant(x), tf.constant(y), tf.constant(LAM), PARTNER, mode)
    assert got_x.dtype == tf.float16 and got_y.dtype == tf.float32
    want_x, _ = _expected(x.astype(np.float32), y, mode)
    np.testing.assert_allclose(got_x.numpy().astype(np.float32), want_x, atol=1e-2)


def test_samplepairing_ignores_lambda_and_keeps_labels():
    x, y = _batch()
    got_x, got_y = mix_batch(x, y, tf.zeros([4]), PARTNER, "samplepairing")
    np.testing.assert_allclose(got_x.numpy(), 0.5 * (x + x[PARTNER]), rtol=1e-6)
    np.testing.assert_array_equal(got_y, y)


def _one_hot_dataset(n=10, batch=4):
    """x = y = one-hot of the sample index, so a mixed row reveals lam and its partner."""
    eye = np.eye(n, dtype=np.float32)
    return tf.data.Dataset.from_tensor_slices((eye, eye)).batch(batch)


def _collect(dataset):
    return [(x.numpy(), y.numpy()) for x, y in dataset]


def test_apply_mixing_mixes_within_each_batch_including_the_smaller_last_one():
    mixed = _collect(apply_mixing(_one_hot_dataset(), MixingSpec("mixup", 1.0), seed=3))
    assert [x.shape for x, _ in mixed] == [(4, 10), (4, 10), (2, 10)]
    for b, (x, y) in enumerate(mixed):
        np.testing.assert_allclose(x, y, atol=1e-6)  # labels mixed with the same lam
        np.testing.assert_allclose(x.sum(axis=1), 1.0, atol=1e-6)
        members = set(range(4 * b, 4 * b + len(x)))
        for row in x:
            assert set(np.flatnonzero(row > 1e-7)) <= members  # partner from the same batch


def test_mixing_map_is_traced_once_for_all_batches():
    traces = []
    mixing_map = make_mixing_map(MixingSpec("mixup_lp", 0.5))

    def counted(seed_pair, batch):
        traces.append(1)  # Python side effect: runs only while tracing
        return mixing_map(seed_pair, batch)

    seeds = tf.data.Dataset.random(seed=1).map(lambda r: tf.stack([r, r]))
    ds = tf.data.Dataset.zip((seeds, _one_hot_dataset(n=13, batch=4))).map(counted)
    assert len(_collect(ds)) == 4
    assert len(traces) == 1


def test_same_seed_gives_identical_batches_on_fresh_pipelines():
    spec = MixingSpec("extrapolation", 1.5)
    first = _collect(apply_mixing(_one_hot_dataset(), spec, seed=7))
    second = _collect(apply_mixing(_one_hot_dataset(), spec, seed=7))
    other = _collect(apply_mixing(_one_hot_dataset(), spec, seed=8))
    for (x1, y1), (x2, y2) in zip(first, second):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(first[0][0], other[0][0])


def test_each_epoch_draws_new_mixing():
    mixed = apply_mixing(_one_hot_dataset(), MixingSpec("mixup", 1.0), seed=7)
    epoch1, epoch2 = _collect(mixed), _collect(mixed)
    assert not np.array_equal(epoch1[0][0], epoch2[0][0])
    repeated = _collect(mixed.repeat(2))
    assert not np.array_equal(repeated[0][0], repeated[3][0])


@pytest.mark.parametrize("spec", [MixingSpec(), MixingSpec("mixup", 0.0),
                                  MixingSpec("mixup_lp", 0), MixingSpec("extrapolation", 0.0)])
def test_identity_specs_leave_batches_unchanged(spec):
    ds = _one_hot_dataset()
    assert spec.is_identity
    assert apply_mixing(ds, spec, seed=0) is ds
    x, y = _batch()
    got_x, got_y = make_mixing_map(spec)(tf.constant([1, 2], tf.int64), (x, y))
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, y)


def test_alpha_zero_draws_lambda_one():
    lam, partner = sample_mixing_params(tf.constant([4, 2], tf.int64), 6, 0.0)
    np.testing.assert_array_equal(lam.numpy(), np.ones(6))
    assert sorted(partner.numpy()) == list(range(6))


@pytest.mark.parametrize("alpha", [0.2, 1.5, 3.0])
def test_lambda_follows_symmetric_beta(alpha):
    lam = sample_beta(tf.constant([11, 5], tf.int64), [20000], alpha).numpy()
    assert lam.min() >= 0 and lam.max() <= 1
    assert lam.mean() == pytest.approx(0.5, abs=0.01)
    assert lam.var() == pytest.approx(1 / (4 * (2 * alpha + 1)), rel=0.05)


def test_small_alpha_gives_no_nan():
    lam = sample_beta(tf.constant([1, 2], tf.int64), [20000], 0.05).numpy()
    assert np.all(np.isfinite(lam))


@pytest.mark.parametrize("mode", ["mixup", "samplepairing", "mixup_lp", "extrapolation"])
def test_python_loop_reference_equals_batch_version(mode):
    x, y = _batch(rank=3)
    spec = MixingSpec(mode, 1.5)
    got_x, got_y = mix_pairs_python(x, y, spec, np.random.default_rng(5))
    rng = np.random.default_rng(5)  # replay the reference's draws: permutation, then lams
    partner = rng.permutation(4)
    lam = np.array([0.5 if mode == "samplepairing" else rng.beta(1.5, 1.5) for _ in range(4)])
    want_x, want_y = mix_batch(x, y, lam, partner, mode)
    np.testing.assert_allclose(got_x, want_x.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_y, np.asarray(want_y), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"mode": "mixpu"}, "did you mean 'mixup'"), ({"mode": "cutmix"}, "unknown value 'cutmix'"),
     ({"mode": "mixup", "alpha": -0.5}, "got -0.5"), ({"alpha": float("nan")}, "nan"),
     ({"mode": "mixup", "alpha": "1"}, "got '1'")],
)
def test_bad_spec_raises_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        MixingSpec(**kwargs)


def test_bad_datasets_raise_config_error():
    x = np.zeros((4, 3), np.float32)
    int_labels = tf.data.Dataset.from_tensor_slices((x, np.arange(4))).batch(2)
    with pytest.raises(ConfigError, match="label dtype int64"):
        apply_mixing(int_labels, MixingSpec("mixup", 1.0), seed=0)
    apply_mixing(int_labels, MixingSpec("mixup_lp", 1.0), seed=0)  # labels kept: fine
    x_only = tf.data.Dataset.from_tensor_slices(x).batch(2)
    with pytest.raises(ConfigError, match="element_spec"):
        apply_mixing(x_only, MixingSpec("samplepairing"), seed=0)
    with pytest.raises(ConfigError, match="mode"):
        mix_batch(x, x, LAM, PARTNER, "mix")


# ------------------------------------------------------ sample weights (x, y, w)

WEIGHTS = np.array([1.0, 0.6, 0.6, 1.0], np.float32)


@pytest.mark.parametrize("mode", MIXING_MODES)
def test_mix_weights_mix_like_labels_only_for_mixup(mode):
    got = mix_weights(tf.constant(WEIGHTS), tf.constant(LAM), PARTNER, mode).numpy()
    if mode == "mixup":
        want = LAM * WEIGHTS + (1 - LAM) * WEIGHTS[PARTNER]
        np.testing.assert_allclose(got, want, rtol=1e-6)
        assert not np.allclose(got, WEIGHTS)
    else:
        np.testing.assert_array_equal(got, WEIGHTS)


def _weighted_one_hot_dataset(n=10, batch=4):
    """x = y = one-hot of the index; w = 1 + index, so w reveals lam and the partner."""
    eye = np.eye(n, dtype=np.float32)
    w = 1.0 + np.arange(n, dtype=np.float32)
    return tf.data.Dataset.from_tensor_slices((eye, eye, w)).batch(batch)


@pytest.mark.parametrize("mode", ["mixup", "samplepairing", "mixup_lp", "extrapolation"])
def test_apply_mixing_carries_sample_weights(mode):
    mixed = apply_mixing(_weighted_one_hot_dataset(), MixingSpec(mode, 3.0), seed=2)
    plain = list(_weighted_one_hot_dataset())
    assert len(mixed.element_spec) == 3
    changed = []
    for (x, y, w), (_, y0, w0) in zip(mixed, plain):
        x, y, w = x.numpy(), y.numpy(), w.numpy()
        if mode == "mixup":  # w = sum_k y[k] * (1 + k): the same lam and partner as y
            np.testing.assert_allclose(w, y @ (1.0 + np.arange(10)), rtol=1e-5)
        else:
            np.testing.assert_array_equal(w, w0.numpy())
            np.testing.assert_array_equal(y, y0.numpy())
        changed.append(not np.array_equal(x, y0.numpy()))
    assert changed[0] and changed[1]  # batches of 4: the permutation is rarely identity


def test_weighted_batches_reproduce_with_the_seed_and_identity_keeps_them():
    spec = MixingSpec("mixup", 3.0)
    first, again = (
        [tuple(t.numpy() for t in element)
         for element in apply_mixing(_weighted_one_hot_dataset(), spec, seed=4)]
        for _ in range(2))
    for a, b in zip(first, again):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)
    x, y = _batch()
    out = make_mixing_map(MixingSpec())(tf.constant([1, 2], tf.int64), (x, y, WEIGHTS))
    assert len(out) == 3
    np.testing.assert_array_equal(out[2], WEIGHTS)


def test_bad_weighted_datasets_raise_config_error():
    x = np.zeros((4, 3), np.float32)
    y = np.eye(4, dtype=np.float32)
    int_weights = tf.data.Dataset.from_tensor_slices((x, y, np.arange(4))).batch(2)
    with pytest.raises(ConfigError, match="weight dtype int64"):
        apply_mixing(int_weights, MixingSpec("mixup", 1.0), seed=0)
    apply_mixing(int_weights, MixingSpec("mixup_lp", 1.0), seed=0)  # weights kept: fine
    four = tf.data.Dataset.from_tensor_slices((x, y, x, x)).batch(2)
    with pytest.raises(ConfigError, match="sample_weight"):
        apply_mixing(four, MixingSpec("mixup", 1.0), seed=0)
