"""kerastag.pipeline: the tf.data training and evaluation datasets."""

from __future__ import annotations

import numpy as np
import pytest

from kerastag.mixing import MixingSpec
from kerastag.pipeline import evaluation_dataset, training_dataset

N, FRAMES, MELS, CLASSES = 10, 3, 2, 4


@pytest.fixture
def data():
    """Clip i's features are all i, so a batch tells which clips it holds."""
    x = np.repeat(np.arange(N, dtype="float32"), FRAMES * MELS).reshape(N, FRAMES, MELS)
    y = np.eye(CLASSES, dtype="float32")[np.arange(N) % CLASSES]
    return x, y


def _epoch(dataset):
    return [(xb.numpy(), yb.numpy()) for xb, yb in dataset]


def _order(batches):
    return [int(v) for xb, _ in batches for v in xb[:, 0, 0]]


def test_training_batches_have_the_shapes_and_cover_every_clip_once(data):
    x, y = data
    batches = _epoch(training_dataset(x, y, batch_size=4, mixing=MixingSpec(), seed=0))
    assert [xb.shape for xb, _ in batches] == [(4, FRAMES, MELS), (4, FRAMES, MELS), (2, FRAMES, MELS)]
    assert [yb.shape for _, yb in batches] == [(4, CLASSES), (4, CLASSES), (2, CLASSES)]
    assert all(xb.dtype == np.float32 and yb.dtype == np.float32 for xb, yb in batches)
    order = _order(batches)
    assert sorted(order) == list(range(N))
    for xb, yb in batches:  # each clip keeps its own label (no mixing)
        for features, label in zip(xb, yb):
            np.testing.assert_array_equal(label, y[int(features[0, 0])])


def test_training_order_is_shuffled_seeded_and_redrawn_every_epoch(data):
    x, y = data
    dataset = training_dataset(x, y, batch_size=4, mixing=MixingSpec(), seed=5)
    first, second = _order(_epoch(dataset)), _order(_epoch(dataset))
    assert first != list(range(N)), "not shuffled"
    assert first != second, "the same order every epoch"
    fresh = training_dataset(x, y, batch_size=4, mixing=MixingSpec(), seed=5)
    assert _order(_epoch(fresh)) == first, "the seed does not fix the order"
    other = training_dataset(x, y, batch_size=4, mixing=MixingSpec(), seed=6)
    assert _order(_epoch(other)) != first


def test_training_batches_are_mixed_when_asked(data):
    x, y = data
    batches = _epoch(training_dataset(x, y, batch_size=5, mixing=MixingSpec("mixup", 1.0), seed=0))
    mixed = np.concatenate([xb[:, 0, 0] for xb, _ in batches])
    assert not np.allclose(mixed, np.round(mixed)), "mixup left every clip whole"
    labels = np.concatenate([yb for _, yb in batches])
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)  # convex label mixing


def test_evaluation_dataset_keeps_the_order_and_the_last_batch(data):
    x, y = data
    batches = list(evaluation_dataset(x, batch_size=4))
    assert [b.shape[0] for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in batches]), x)
    pairs = _epoch(evaluation_dataset(x, y, batch_size=3))
    assert _order(pairs) == list(range(N))
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in pairs]), y)
