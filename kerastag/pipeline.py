"""``tf.data`` input pipelines: shuffling, batching and the vectorised mixing map."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from kerastag.mixing import MixingSpec, apply_mixing


def training_dataset(x: np.ndarray, y: np.ndarray, *, batch_size: int, mixing: MixingSpec,
                     seed: int) -> tf.data.Dataset:
    """Shuffled, batched, mixed training batches.

    Args:
        x: features ``(clips, frames, mels)`` float32.
        y: targets ``(clips, classes)`` float32 (multi-hot or one-hot).
        batch_size: clips per batch (the last batch may be smaller).
        mixing: the sample mixing, applied to whole batches inside the graph.
        seed: shuffling and mixing seed; every epoch reshuffles and redraws.

    Returns:
        A dataset of ``(x_batch, y_batch)``, prefetched.
    """
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    dataset = apply_mixing(dataset, mixing, seed=seed)
    return dataset.prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(x: np.ndarray, y: np.ndarray | None = None, *, batch_size: int) -> tf.data.Dataset:
    """Batches in order, no shuffling or mixing (validation and prediction)."""
    items = x if y is None else (x, y)
    return tf.data.Dataset.from_tensor_slices(items).batch(batch_size).prefetch(tf.data.AUTOTUNE)
