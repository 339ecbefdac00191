"""Paper B's input pipeline: random fixed-length excerpts for training, windows for scoring.

Paper B trains every network on a random 1.5 s excerpt of each clip, drawn anew every
epoch: 150 frames of the log-mel / MFCC features (10 ms hop) or 66,150 samples of the
44.1 kHz wave (:func:`excerpt_length`). Clips are whole-clip features from
:mod:`kerastag.features`, possibly memory-mapped from the cache:

* time-frequency: ``(channels, bands, frames)``, e.g. ``(3, 64, frames)`` from
  :class:`~kerastag.features.TimeFrequencyB`; the networks take them channels-last,
  ``(bands, frames, channels)`` (:func:`to_model_layout`);
* wave: ``(samples,)`` from :class:`~kerastag.features.Wave`, given as is.

Time is always the last axis of a cached feature. Only the excerpt is read from a
memory-mapped clip (the slice is taken before the copy).

Windows and padding. The window at ``start`` covers time steps ``[start, start+length)``
of the clip; the parts outside the clip are ``pad_value`` (a scalar, or one value per
channel of a time-frequency feature, e.g. ``(-100.0, 0.0, 0.0)`` for silence in a
``power_to_db`` log-mel with its deltas). Training excerpts of a clip shorter than
``length`` contain the whole clip at a random offset; scoring windows of such a clip
contain it at the start.

Scoring (:func:`predict_clips`): a clip's score is the mean of the model's predictions
over windows of ``length`` every ``hop`` time steps (:func:`clip_windows`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import tensorflow as tf

from kerastag.checks import check_int, check_number, is_real
from kerastag.errors import ConfigError, FeatureError
from kerastag.mixing import MixingSpec, apply_mixing
from kerastag.names import unknown_name

#: Paper B's feature types (:data:`kerastag.names.EXCERPT_FEATURE_TYPES`) and whether
#: they are time-frequency features (else the wave).
TIME_FREQUENCY = {"logmel": True, "mfcc": True, "wave": False}

PadValue = float | Sequence[float]


# ------------------------------------------------------------------ windows


def excerpt_length(feature_type: str, *, seconds: float = 1.5, hop_s: float = 0.01,
                   sample_rate: int = 44100) -> int:
    """Length of a training excerpt along the time axis.

    Args:
        feature_type: ``"logmel"`` or ``"mfcc"`` (frames of ``hop_s`` seconds) or
            ``"wave"`` (samples at ``sample_rate`` Hz).
        seconds: excerpt duration in seconds.
        hop_s: frame step of the time-frequency features in seconds.
        sample_rate: sample rate of the wave in Hz.

    Returns:
        ``round(seconds / hop_s)`` frames (150 by default) or
        ``round(seconds * sample_rate)`` samples (66,150 by default).

    Raises:
        ConfigError: unknown feature type, or values that give no positive length.
    """
    if feature_type not in TIME_FREQUENCY:
        raise ConfigError(unknown_name("excerpt feature type", feature_type, TIME_FREQUENCY))
    for name, value in (("seconds", seconds), ("hop_s", hop_s), ("sample_rate", sample_rate)):
        check_number(f"excerpt {name}", value, above=0, error=ConfigError)
    length = round(seconds / hop_s) if TIME_FREQUENCY[feature_type] else round(seconds * sample_rate)
    if length < 1:
        raise ConfigError(f"excerpt of {seconds} s is shorter than one time step for {feature_type!r}")
    return int(length)


def to_model_layout(x: np.ndarray) -> np.ndarray:
    """One feature in the networks' layout.

    Args:
        x: ``(channels, bands, frames)`` time-frequency feature or ``(samples,)`` wave.

    Returns:
        ``(bands, frames, channels)`` (C-contiguous copy) or the wave unchanged.

    Raises:
        FeatureError: ``x`` is neither rank 1 nor rank 3.
    """
    _check_layout(x)
    return x if x.ndim == 1 else np.ascontiguousarray(_model_view(x))


def _model_view(x: np.ndarray) -> np.ndarray:
    """``x`` in the networks' layout as a view (channels moved last for rank 3)."""
    return x if x.ndim == 1 else np.moveaxis(x, 0, -1)


def _model_shape(feature: np.ndarray, length: int) -> tuple[int, ...]:
    """Networks'-layout shape of a window of ``length`` of ``feature``."""
    return (length,) if feature.ndim == 1 else (feature.shape[1], length, feature.shape[0])


def random_excerpt(feature: np.ndarray, length: int, rng: np.random.Generator, *,
                   pad_value: PadValue) -> np.ndarray:
    """A random window of ``length`` time steps (last axis) of one clip.

    A clip of at least ``length`` steps gives a uniformly random contiguous window of
    it. A shorter clip (even an empty one) is placed whole at a uniformly random offset
    in the window and the rest is ``pad_value``.

    Args:
        feature: ``(..., time)`` float, e.g. ``(3, 64, frames)`` or ``(samples,)``; may
            be an ``np.memmap`` (only the window is read).
        length: window length in time steps, ``>= 1``.
        rng: draws the offset (one integer).
        pad_value: scalar, or one value per channel (first axis) of a rank-3 feature.

    Returns:
        float32 ``(..., length)``, the cached layout (see :func:`to_model_layout`).

    Raises:
        ConfigError: bad ``length`` or ``pad_value``.
        FeatureError: ``feature`` has no time axis.
    """
    _check_positive_int("length", length)
    start = _random_start(_time_steps(feature), length, rng)
    return window_at(feature, start, length, pad_value=pad_value)


def _random_start(n_time: int, length: int, rng: np.random.Generator) -> int:
    """Uniform start in ``[0, n_time - length]``, or ``[n_time - length, 0]`` if shorter."""
    low, high = min(0, n_time - length), max(0, n_time - length)
    return int(rng.integers(low, high + 1))


def window_at(feature: np.ndarray, start: int, length: int, *, pad_value: PadValue) -> np.ndarray:
    """Time steps ``[start, start + length)`` of ``feature``, padded where outside the clip.

    Args:
        feature: ``(..., time)``; may be an ``np.memmap`` (only the window is read).
        start: first time step; negative values put the clip's start inside the window.
        length: window length in time steps.
        pad_value: scalar, or one value per channel (first axis) of a rank-3 feature.

    Returns:
        float32 ``(..., length)``, always a fresh array.
    """
    if _is_inside(feature, start, length):
        return np.array(feature[..., start:start + length], dtype=np.float32)
    return _padded_window(feature, start, length, pad_value)


def _is_inside(feature: np.ndarray, start: int, length: int) -> bool:
    """True when the window ``[start, start + length)`` lies within the clip."""
    return 0 <= start and start + length <= _time_steps(feature)


def _padded_window(feature: np.ndarray, start: int, length: int, pad_value: PadValue) -> np.ndarray:
    """:func:`window_at` for a window reaching outside the clip: float32 ``(..., length)``."""
    lo, hi = max(start, 0), min(start + length, _time_steps(feature))
    out = np.empty(feature.shape[:-1] + (length,), np.float32)
    out[...] = _pad_array(pad_value, feature)
    if hi > lo:
        out[..., lo - start:hi - start] = feature[..., lo:hi]
    return out


def window_starts(n_time: int, length: int, hop: int) -> np.ndarray:
    """First time steps of the scoring windows of a clip of ``n_time`` steps.

    Windows start every ``hop`` steps from 0; when the last of them ends before the
    clip does, one more window aligned to the clip's end (start ``n_time - length``)
    is added, so every time step is covered. A clip of at most ``length`` steps has
    the single window starting at 0.

    Args:
        n_time: clip length in time steps, ``>= 0``.
        length: window length, ``>= 1``.
        hop: step between window starts, ``>= 1``.

    Returns:
        int64 ``(windows,)``, increasing.
    """
    if n_time <= length:
        return np.zeros(1, np.int64)
    starts = np.arange(0, n_time - length + 1, hop, dtype=np.int64)
    if starts[-1] + length < n_time:
        starts = np.append(starts, n_time - length)
    return starts


def clip_windows(feature: np.ndarray, length: int, hop: int, *,
                 pad_value: PadValue) -> np.ndarray:
    """All scoring windows of one clip, in the networks' layout.

    Args:
        feature: ``(channels, bands, frames)`` or ``(samples,)``; may be memory-mapped.
        length: window length in time steps (frames or samples).
        hop: step between windows in time steps; see :func:`window_starts` for the
            last window (aligned to the clip end) and short clips (one window, the
            clip at its start, padded with ``pad_value`` after it).
        pad_value: scalar, or one value per channel of a time-frequency feature.

    Returns:
        float32 ``(windows, bands, length, channels)`` or ``(windows, length)``.

    Raises:
        ConfigError: bad ``length``, ``hop`` or ``pad_value``.
        FeatureError: a feature that is neither rank 1 nor rank 3.
    """
    _check_positive_int("length", length)
    _check_positive_int("hop", hop)
    _check_layout(feature)
    starts = window_starts(_time_steps(feature), length, hop)
    return _stack_windows(feature, starts, length, pad_value)


def _stack_windows(feature: np.ndarray, starts, length: int, pad_value: PadValue) -> np.ndarray:
    """The windows of ``feature`` at ``starts``, stacked in the networks' layout."""
    out = np.empty((len(starts),) + _model_shape(feature, length), np.float32)
    for row, start in zip(out, starts):
        _write_window(row, feature, int(start), length, pad_value)
    return out


def _write_window(row: np.ndarray, feature: np.ndarray, start: int, length: int,
                  pad_value: PadValue) -> None:
    """Copy the window at ``start`` into ``row`` (networks' layout) with a single copy.

    Reading the strided slice of the clip straight into ``row`` (no intermediate
    window) is what makes the excerpt generator fast, memory-mapped clips included.
    """
    if _is_inside(feature, start, length):
        window = feature[..., start:start + length]
    else:
        window = _padded_window(feature, start, length, pad_value)
    row[...] = _model_view(window)


# ------------------------------------------------------------------ training data


def excerpt_dataset(features: Sequence[np.ndarray], targets: np.ndarray, *, length: int,
                    batch_size: int, seed: int, mixing: MixingSpec = MixingSpec(),
                    sample_weights: np.ndarray | None = None,
                    pad_value: PadValue = 0.0) -> tf.data.Dataset:
    """Shuffled batches of a fresh random excerpt of every clip, mixed, prefetched.

    Every new iteration of the returned dataset (one per epoch under Keras ``fit``)
    draws a new clip order and new excerpt offsets from ``np.random.default_rng((seed,
    epoch))``, ``epoch`` counting the iterations of this dataset object from 0; a fresh
    pipeline with the same arguments therefore repeats the same sequence of epochs. The
    batches then go through :func:`kerastag.mixing.apply_mixing` (same ``seed``).

    The ``from_generator`` generator yields whole batches, each excerpt copied once
    straight from its clip into the batch: a per-excerpt element would cost
    ``from_generator``'s fixed overhead (a few hundred microseconds) per excerpt, several
    times the copy itself.

    Args:
        features: one whole-clip feature per clip, all ``(channels, bands, frames)``
            with the same channels and bands, or all ``(samples,)``; memory-mapped
            arrays are read one excerpt at a time.
        targets: ``(clips, classes)`` one-hot (or multi-hot) targets, cast to float32.
        length: excerpt length in time steps (:func:`excerpt_length`).
        batch_size: clips per batch; the last batch may be smaller.
        seed: non-negative integer seed of the order, the offsets and the mixing.
        mixing: the sample mixing (paper B: ``MixingSpec("mixup", 3.0)``).
        sample_weights: optional ``(clips,)`` per-clip loss weights (e.g. 0.6 for
            unverified clips); mixup mixes them like the targets.
        pad_value: padding of clips shorter than ``length``: a scalar or one value per
            channel of a time-frequency feature.

    Returns:
        A dataset of ``(x, y)`` or ``(x, y, w)`` batches: ``x`` float32 ``(batch,
        bands, length, channels)`` or ``(batch, length)``, ``y`` float32 ``(batch,
        classes)``, ``w`` float32 ``(batch,)``; its cardinality is known.

    Raises:
        ConfigError: bad sizes, seed, pad value, or targets/weights that do not match
            the clips.
        FeatureError: features of an unsupported rank or of differing shapes.
    """
    _check_positive_int("length", length)
    _check_positive_int("batch_size", batch_size)
    _check_seed(seed)
    targets = _check_targets(targets, len(features))
    weights = None if sample_weights is None else _check_weights(sample_weights, len(features))
    x_shape = _excerpt_shape(features, length)
    _pad_array(pad_value, features[0])
    generator = _excerpt_batches(features, targets, weights, length=length,
                                 batch_size=batch_size, seed=seed, pad_value=pad_value)
    signature = (tf.TensorSpec((None,) + x_shape, tf.float32),
                 tf.TensorSpec((None,) + targets.shape[1:], tf.float32))
    if weights is not None:
        signature += (tf.TensorSpec((None,), tf.float32),)
    dataset = tf.data.Dataset.from_generator(generator, output_signature=signature)
    n_batches = -(-len(features) // batch_size)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(n_batches))
    dataset = apply_mixing(dataset, mixing, seed=seed)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _excerpt_batches(features, targets, weights, *, length: int, batch_size: int, seed: int,
                     pad_value: PadValue) -> Callable[[], Iterator[tuple]]:
    """The ``from_generator`` callable: each call is one epoch, seeded by ``(seed, epoch)``.

    An epoch yields ``(x, y)`` or ``(x, y, w)`` batches of ``batch_size`` clips in a
    random order (the last one smaller), one random excerpt per clip.
    """
    epochs = itertools.count()
    x_shape = _model_shape(features[0], length)

    def one_epoch() -> Iterator[tuple]:
        rng = np.random.default_rng((seed, next(epochs)))
        order = rng.permutation(len(features))
        for begin in range(0, len(order), batch_size):
            index = order[begin:begin + batch_size]
            x = np.empty((len(index),) + x_shape, np.float32)
            for row, clip in zip(x, index):
                feature = features[clip]
                start = _random_start(_time_steps(feature), length, rng)
                _write_window(row, feature, start, length, pad_value)
            yield (x, targets[index]) if weights is None else (x, targets[index], weights[index])

    return one_epoch


# ------------------------------------------------------------------ scoring


def predict_clips(model, features: Sequence[np.ndarray], *, length: int, hop: int,
                  batch_size: int = 64, pad_value: PadValue = 0.0) -> np.ndarray:
    """Whole-clip scores: the mean of the model's predictions over each clip's windows.

    Windows (:func:`clip_windows`) of consecutive clips are packed together into
    batches of ``batch_size``; only one batch of windows is in memory at a time.

    Args:
        model: a Keras model mapping windows in the networks' layout to
            ``(batch, classes)`` probabilities.
        features: whole-clip features, ``(channels, bands, frames)`` or ``(samples,)``.
        length: window length in time steps (the model's input length).
        hop: step between windows in time steps.
        batch_size: windows per model call.
        pad_value: padding of clips shorter than ``length``.

    Returns:
        float32 ``(clips, classes)``.

    Raises:
        ConfigError: bad ``length``, ``hop``, ``batch_size`` or ``pad_value``.
        FeatureError: a feature that is neither rank 1 nor rank 3.
    """
    for name, value in (("length", length), ("hop", hop), ("batch_size", batch_size)):
        _check_positive_int(name, value)
    for feature in features:
        _check_layout(feature)
    sums, counts = None, np.zeros(len(features), np.int64)
    for clip_ids, windows in _window_batches(features, length, hop, batch_size, pad_value):
        predictions = np.asarray(model.predict_on_batch(windows), np.float64)
        if sums is None:
            sums = np.zeros((len(features), predictions.shape[-1]), np.float64)
        np.add.at(sums, clip_ids, predictions)
        np.add.at(counts, clip_ids, 1)
    if sums is None:
        return np.zeros((0, int(model.outputs[0].shape[-1])), np.float32)
    return (sums / counts[:, None]).astype(np.float32)


def _window_batches(features, length: int, hop: int, batch_size: int,
                    pad_value: PadValue) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(clip_ids (n,), windows (n, ...))`` with ``n <= batch_size``, clips in order."""
    jobs = ((index, start) for index, feature in enumerate(features)
            for start in window_starts(_time_steps(feature), length, hop))
    while chunk := list(itertools.islice(jobs, batch_size)):
        parts = [_stack_windows(features[index], [s for _, s in group], length, pad_value)
                 for index, group in itertools.groupby(chunk, key=lambda job: job[0])]
        yield np.array([index for index, _ in chunk]), np.concatenate(parts)


# ------------------------------------------------------------------ checks


def _time_steps(feature: np.ndarray) -> int:
    """Length of the last (time) axis; FeatureError for a scalar."""
    if feature.ndim < 1:
        raise FeatureError(f"a feature needs a time axis; received shape {feature.shape}")
    return int(feature.shape[-1])


def _check_layout(feature: np.ndarray) -> None:
    """FeatureError unless ``feature`` is ``(samples,)`` or ``(channels, bands, frames)``."""
    if feature.ndim not in (1, 3):
        raise FeatureError(f"features must be (samples,) or (channels, bands, frames); "
                           f"received shape {feature.shape}")


def _excerpt_shape(features: Sequence[np.ndarray], length: int) -> tuple[int, ...]:
    """Model-layout shape of one excerpt; FeatureError for mixed or unsupported shapes."""
    if len(features) == 0:
        raise ConfigError("excerpt_dataset needs at least one clip; received none")
    lead = features[0].shape[:-1]
    for index, feature in enumerate(features):
        _check_layout(feature)
        if feature.shape[:-1] != lead:
            raise FeatureError(f"all features must share their non-time axes {lead}; "
                               f"clip {index} has shape {feature.shape}")
    return _model_shape(features[0], length)


def _pad_array(pad_value: PadValue, feature: np.ndarray) -> np.ndarray:
    """``pad_value`` as float32 broadcastable to ``feature.shape[:-1] + (length,)``."""
    if is_real(pad_value):
        return np.float32(pad_value)
    values = np.asarray(pad_value, np.float32) if _is_real_sequence(pad_value) else None
    if values is None or values.ndim != 1 or feature.ndim != 3 or len(values) != feature.shape[0]:
        raise ConfigError("pad_value must be a number or one number per channel of "
                          f"(channels, bands, frames) features; received {pad_value!r} "
                          f"for features of shape {feature.shape}")
    return values.reshape(-1, 1, 1)


def _is_real_sequence(value) -> bool:
    """True for a list/tuple/array of real, non-bool numbers."""
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "iuf"
    return (isinstance(value, Sequence) and not isinstance(value, str)
            and all(is_real(v) for v in value))


def _check_positive_int(name: str, value) -> None:
    """ConfigError unless ``value`` is an integer >= 1."""
    check_int(name, value, minimum=1, error=ConfigError)


def _check_seed(seed) -> None:
    """ConfigError unless ``seed`` is an integer >= 0 (numpy seed sequences need that)."""
    check_int("seed", seed, minimum=0, error=ConfigError)


def _check_targets(targets, clips: int) -> np.ndarray:
    """Targets as float32 ``(clips, classes)``; ConfigError otherwise."""
    targets = np.asarray(targets, np.float32)
    if targets.ndim != 2 or len(targets) != clips:
        raise ConfigError(f"targets must have shape (clips={clips}, classes); "
                          f"received {targets.shape}")
    return targets


def _check_weights(weights, clips: int) -> np.ndarray:
    """Sample weights as float32 ``(clips,)``, finite and >= 0; ConfigError otherwise."""
    weights = np.asarray(weights, np.float32)
    if weights.shape != (clips,):
        raise ConfigError(f"sample_weights must have shape ({clips},); received {weights.shape}")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ConfigError("sample_weights must be finite and >= 0")
    return weights
