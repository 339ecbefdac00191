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


def frame_window_starts(n_frames: int, length: int, hop: int) -> np.ndarray:
    """First frames of the windows of ``length`` frames, ``hop`` apart, that fit in
    ``n_frames`` (valid windows, as the authors' ``mat_2d_to_3d`` cut them)."""
    return np.arange(0, max(0, n_frames - length + 1), hop)


def frame_window_dataset(x: np.ndarray, y: np.ndarray, *, length: int, head: int, hop: int,
                         batch_size: int, seed: int | None = None,
                         mixing: MixingSpec | None = None) -> tf.data.Dataset:
    """Every window of frames of every chunk as a sample carrying its chunk's targets.

    Args:
        x: chunks ``(chunks, frames, bins)`` float32.
        y: their targets ``(chunks, ...)``.
        length: frames of a window; windows start every ``hop`` frames
            (:func:`frame_window_starts`).
        head: the chunk's first frames put before each window (0: none).
        batch_size: windows per batch (the last batch may be smaller).
        seed: shuffle the windows of all chunks together, reshuffled every epoch, and
            mix with this seed; None: in chunk and window order (validation).
        mixing: the sample mixing of the batches (training only).

    Returns:
        A dataset of ``(windows (b, head + length, bins), targets (b, ...))``; one pass is
        ``ceil(chunks * len(frame_window_starts(...)) / batch_size)`` batches.
    """
    starts = frame_window_starts(x.shape[1], length, hop)
    chunk = np.repeat(np.arange(len(x), dtype=np.int32), len(starts))
    start = np.tile(starts.astype(np.int32), len(x))
    frames, targets = tf.constant(x), tf.constant(y)
    head_frames = tf.range(head, dtype=tf.int32)[None]
    window_frames = tf.range(length, dtype=tf.int32)[None]

    def cut(chunks, first):
        """``(b,)`` chunks and window starts -> ``(b, head + length, bins)``, targets."""
        frame = tf.concat([tf.zeros_like(first)[:, None] + head_frames,
                           first[:, None] + window_frames], axis=1)
        index = tf.stack([tf.broadcast_to(chunks[:, None], tf.shape(frame)), frame], axis=-1)
        return tf.gather_nd(frames, index), tf.gather(targets, chunks)

    dataset = tf.data.Dataset.from_tensor_slices((chunk, start))
    if seed is not None:
        dataset = dataset.shuffle(len(chunk), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).map(cut, num_parallel_calls=tf.data.AUTOTUNE)
    if seed is not None and mixing is not None:
        dataset = apply_mixing(dataset, mixing, seed=seed)
    return dataset.prefetch(tf.data.AUTOTUNE)
