"""Sample-mixing augmentation (paper A): mixup, SamplePairing, mixup-lp, extrapolation.

Mixing runs as one vectorised ``tf.data`` map over whole batches: every sample ``i`` of
a batch is paired with sample ``partner[i]`` of the same batch, where ``partner`` is a
random permutation of the batch indices, and gets its own ``lam`` (``(batch,)``).

=============  ======================================  =====================
mode           input                                   labels
=============  ======================================  =====================
none           ``x_i``                                 ``y_i``
mixup          ``lam*x_i + (1-lam)*x_j``               ``lam*y_i + (1-lam)*y_j``
samplepairing  ``0.5*x_i + 0.5*x_j``                   ``y_i``
mixup_lp       ``lam*x_i + (1-lam)*x_j``               ``y_i``
extrapolation  ``(1+lam)*x_i - lam*x_j``               ``y_i``
=============  ======================================  =====================

``lam ~ Beta(alpha, alpha)``; ``alpha = 0`` turns mixup, mixup_lp and extrapolation off
(identity), as in paper A's "mixup a=0" row. SamplePairing has no ``alpha``.

Batches may carry per-sample weights as a third element ``(x, y, w)`` (Keras' sample
weights, e.g. paper B's down-weighted unverified clips): ``mixup`` mixes them like the
labels, ``lam*w_i + (1-lam)*w_j``; the label-preserving modes keep ``w_i``.

Reproducibility: :func:`apply_mixing` zips the batches with
``tf.data.Dataset.random(seed, rerandomize_each_iteration=True)``; each batch's random
integer ``r`` gives the seed pair ``(r, seed)`` from which the partner permutation and
the lambdas are drawn with stateless ops. A freshly built pipeline with the same seed
therefore yields the same mixed batches, while iterating the same dataset object again
(Keras ``fit`` opens a new iterator every epoch) or ``repeat()``-ing it draws new ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from kerastag.checks import check_number
from kerastag.errors import ConfigError
from kerastag.names import MIXING_MODES, resolve, unknown_name

SeedPair = tf.Tensor  # shape (2,), int64
Batch = tuple[tf.Tensor, tf.Tensor]
#: ``(x, y)`` or ``(x, y, sample_weight)``.
Element = tuple[tf.Tensor, ...]


@dataclasses.dataclass(frozen=True)
class MixingSpec:
    """Which sample mixing to apply.

    Attributes:
        mode: one of :data:`MIXING_MODES`.
        alpha: Beta(alpha, alpha) parameter of ``lam``, ``>= 0``; 0 disables mixup,
            mixup_lp and extrapolation; ignored by ``samplepairing`` and ``none``.

    Raises:
        ConfigError: unknown mode (the nearest valid one is suggested) or an alpha that
            is not a finite number ``>= 0``.
    """

    mode: str = "none"
    alpha: float = 0.0

    def __post_init__(self) -> None:
        _check_mode(self.mode)
        _check_alpha(self.alpha)

    @property
    def is_identity(self) -> bool:
        """True when this spec leaves every batch unchanged."""
        info = MIXING_MODES[self.mode]
        return info.mix is None or (info.uses_alpha and self.alpha == 0)


def _check_mode(mode) -> None:
    """Raise ConfigError unless ``mode`` is one of :data:`MIXING_MODES`."""
    if not (isinstance(mode, str) and mode in MIXING_MODES):
        raise ConfigError(unknown_name("mixing.mode", mode, MIXING_MODES))


def _check_alpha(alpha) -> None:
    """Raise ConfigError unless ``alpha`` is a finite real number ``>= 0``."""
    check_number("mixing.alpha", alpha, minimum=0, error=ConfigError)


# ------------------------------------------------------------------ the formulas


def _per_sample(lam: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """``lam`` ``(batch,)`` cast to ``like.dtype`` and shaped ``(batch, 1, ..., 1)``."""
    lam = tf.cast(lam, like.dtype)
    ones = tf.ones([tf.rank(like) - 1], dtype=tf.int32)
    return tf.reshape(lam, tf.concat([[-1], ones], axis=0))


def mix_batch(x, y, lam, partner, mode: str) -> Batch:
    """Mix a batch with a permutation of itself, given the lambdas and the partners.

    Args:
        x: shape ``(batch, ...)``, rank >= 2, floating (float16/bfloat16/float32/64);
            e.g. log-mel features ``(batch, frames, mel)``.
        y: shape ``(batch, ...)``, labels; floating when ``mode`` mixes labels.
        lam: shape ``(batch,)``, mixing weight per sample (cast to ``x``/``y`` dtype).
        partner: shape ``(batch,)``, int, index ``j`` of each sample's partner.
        mode: one of :data:`MIXING_MODES` (a Python string, fixed at trace time).

    Returns:
        ``(x_mixed, y_mixed)`` with the shapes and dtypes of ``x`` and ``y``.

    Raises:
        ConfigError: unknown mode, or label mixing on non-float labels.
    """
    _check_mode(mode)
    info = MIXING_MODES[mode]
    if info.mix is None:
        return x, y
    x = tf.convert_to_tensor(x)
    y = tf.convert_to_tensor(y)
    x_j, lam_x = tf.gather(x, partner), _per_sample(lam, x)
    y_j = lam_y = None
    if info.mixes_labels:
        _check_label_dtype(mode, y.dtype)
        y_j, lam_y = tf.gather(y, partner), _per_sample(lam, y)
    return _formula(mode)(x, x_j, y, y_j, lam_x, lam_y)


@tf.autograph.experimental.do_not_convert
def _formula(mode: str) -> Callable:
    """The registered formula of ``mode``, looked up in plain Python while tracing."""
    return resolve(MIXING_MODES[mode].mix)


def mixup(x, x_j, y, y_j, lam_x, lam_y) -> Batch:
    """``lam*x_i + (1-lam)*x_j`` and ``lam*y_i + (1-lam)*y_j`` (``lam_*`` broadcast)."""
    return lam_x * x + (1 - lam_x) * x_j, lam_y * y + (1 - lam_y) * y_j


def samplepairing(x, x_j, y, y_j, lam_x, lam_y) -> Batch:
    """``0.5*x_i + 0.5*x_j`` with the first sample's labels."""
    half = tf.constant(0.5, x.dtype)
    return half * x + half * x_j, y


def mixup_lp(x, x_j, y, y_j, lam_x, lam_y) -> Batch:
    """mixup's input, the first sample's labels (label-preserving)."""
    return lam_x * x + (1 - lam_x) * x_j, y


def extrapolation(x, x_j, y, y_j, lam_x, lam_y) -> Batch:
    """``(1+lam)*x_i - lam*x_j`` with the first sample's labels."""
    return (1 + lam_x) * x - lam_x * x_j, y


def mix_weights(w, lam, partner, mode: str) -> tf.Tensor:
    """Per-sample weights of a mixed batch: mixed like the labels under ``mixup``.

    Args:
        w: shape ``(batch,)`` (or ``(batch, ...)``) sample weights; floating for mixup.
        lam: shape ``(batch,)``, the lambdas the batch was mixed with.
        partner: shape ``(batch,)``, int, the partners the batch was mixed with.
        mode: one of :data:`MIXING_MODES`.

    Returns:
        ``lam*w_i + (1-lam)*w_j`` for ``mixup``, else ``w`` unchanged; shape and dtype
        of ``w``.

    Raises:
        ConfigError: unknown mode, or mixup with non-floating weights.
    """
    _check_mode(mode)
    w = tf.convert_to_tensor(w)
    if not MIXING_MODES[mode].mixes_labels:
        return w
    _check_weight_dtype(mode, w.dtype)
    lam_w = _per_sample(lam, w)
    return lam_w * w + (1 - lam_w) * tf.gather(w, partner)


def _check_label_dtype(mode: str, dtype: tf.DType) -> None:
    """Raise ConfigError when ``mode`` mixes labels of a non-floating dtype."""
    if MIXING_MODES[mode].mixes_labels and not dtype.is_floating:
        raise ConfigError(
            f"mixing.mode={mode!r} mixes labels, which must be float (one-hot or "
            f"multi-hot); received label dtype {dtype.name}"
        )


def _check_weight_dtype(mode: str, dtype: tf.DType) -> None:
    """Raise ConfigError when ``mode`` mixes sample weights of a non-floating dtype."""
    if MIXING_MODES[mode].mixes_labels and not dtype.is_floating:
        raise ConfigError(
            f"mixing.mode={mode!r} mixes sample weights, which must be float; "
            f"received weight dtype {dtype.name}"
        )


# ------------------------------------------------------------ random draws


def sample_beta(seed: SeedPair, shape, alpha: float) -> tf.Tensor:
    """Stateless draws of ``Beta(alpha, alpha)`` as ``g1 / (g1 + g2)``, ``g ~ Gamma(alpha)``.

    Args:
        seed: shape ``(2,)`` int seed pair.
        shape: output shape, e.g. ``[batch]``.
        alpha: Beta parameter, ``> 0``.

    Returns:
        float32 tensor of ``shape`` in ``[0, 1]``. The gammas are drawn in float64 so
        that small ``alpha`` (e.g. 0.1) does not underflow to ``0/0``; if it still does,
        ``lam`` is 0.5.
    """
    s1, s2 = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    g1 = tf.random.stateless_gamma(shape, s1, alpha=alpha, dtype=tf.float64)
    g2 = tf.random.stateless_gamma(shape, s2, alpha=alpha, dtype=tf.float64)
    total = g1 + g2
    safe_total = tf.where(total > 0, total, tf.ones_like(total))
    lam = tf.where(total > 0, g1 / safe_total, tf.constant(0.5, tf.float64))
    return tf.cast(lam, tf.float32)


def sample_mixing_params(seed: SeedPair, batch_size, alpha: float) -> tuple[tf.Tensor, tf.Tensor]:
    """Draw the partners (a permutation) and lambdas of one batch from a seed pair.

    Args:
        seed: shape ``(2,)`` int seed pair.
        batch_size: scalar int (may be a tensor: the last batch can be smaller).
        alpha: Beta parameter; ``0`` gives ``lam = 1`` (no mixing).

    Returns:
        ``(lam, partner)``: float32 ``(batch,)`` and int32 ``(batch,)``.
    """
    s_perm, s_lam = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    partner = tf.random.experimental.stateless_shuffle(tf.range(batch_size), s_perm)
    if alpha > 0:
        lam = sample_beta(s_lam, [batch_size], alpha)
    else:
        lam = tf.ones([batch_size], tf.float32)
    return lam, partner


def make_mixing_map(spec: MixingSpec) -> Callable[[SeedPair, Element], Element]:
    """Build the batch-level map function ``(seed_pair, (x, y[, w])) -> (x, y[, w])``.

    The function is a pure function of its arguments (stateless random ops), so the
    same seed pair and batch always give the same mixed batch.

    Args:
        spec: the mixing to apply.

    Returns:
        A function of a ``(2,)`` int64 seed pair and a batch ``(x, y)`` or
        ``(x, y, w)`` (``w`` ``(batch,)`` sample weights, see :func:`mix_weights`).
    """

    def mixing_map(seed_pair: SeedPair, batch: Element) -> Element:
        if spec.is_identity:
            return tuple(batch)
        x, y, *weights = batch
        lam, partner = sample_mixing_params(seed_pair, tf.shape(x)[0], float(spec.alpha))
        x, y = mix_batch(x, y, lam, partner, spec.mode)
        return (x, y, *(mix_weights(w, lam, partner, spec.mode) for w in weights))

    return mixing_map


def _check_element_spec(dataset: tf.data.Dataset, spec: MixingSpec) -> None:
    """Raise ConfigError unless the dataset yields ``(x, y[, w])`` tensors fit for ``spec``."""
    element = dataset.element_spec
    if not (isinstance(element, tuple) and len(element) in (2, 3)
            and all(isinstance(e, tf.TensorSpec) for e in element)):
        raise ConfigError(
            "mixing needs a dataset of batched (x, y) or (x, y, sample_weight) tensors; "
            f"received element_spec {element}"
        )
    x_spec, y_spec, *w_specs = element
    if x_spec.shape.rank is not None and x_spec.shape.rank < 2:
        raise ConfigError(f"mixing needs batched x of rank >= 2; received shape {x_spec.shape}")
    if not x_spec.dtype.is_floating:
        raise ConfigError(f"mixing needs floating x; received dtype {x_spec.dtype.name}")
    _check_label_dtype(spec.mode, y_spec.dtype)
    for w_spec in w_specs:
        _check_weight_dtype(spec.mode, w_spec.dtype)


def apply_mixing(dataset: tf.data.Dataset, spec: MixingSpec, *, seed: int) -> tf.data.Dataset:
    """Mix every batch of ``dataset`` (after ``batch()``, before ``prefetch()``).

    Args:
        dataset: yields batched ``(x, y)`` or ``(x, y, w)``: ``x`` ``(batch, ...)``
            floating, ``y`` ``(batch, ...)``, ``w`` ``(batch,)`` sample weights (mixed
            like ``y`` by mixup, see :func:`mix_weights`); the last batch may be smaller.
        spec: the mixing to apply; an identity spec returns ``dataset`` itself.
        seed: integer seed; the same seed gives the same mixed batches on a fresh
            pipeline, each new iteration (epoch) of the result draws new ones.

    Returns:
        The mapped dataset (``num_parallel_calls=AUTOTUNE, deterministic=True``).

    Raises:
        ConfigError: the dataset elements are not ``(x, y[, w])`` tensors fit for ``spec``.
    """
    if spec.is_identity:
        return dataset
    _check_element_spec(dataset, spec)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    seed_pairs = seeds.map(lambda r: tf.stack([r, tf.constant(seed, tf.int64)]))
    mixing_map = make_mixing_map(spec)
    return tf.data.Dataset.zip((seed_pairs, dataset)).map(
        mixing_map, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )


# ------------------------------------------------- reference (benchmark only)


def mix_pairs_python(xs, ys, spec: MixingSpec, rng: np.random.Generator):
    """Per-sample Python-loop mixing, as the authors' Keras 2 generator did.

    Only for the benchmark's speed comparison; same formulas as :func:`mix_batch`.

    Args:
        xs: shape ``(batch, ...)`` numpy features.
        ys: shape ``(batch, ...)`` numpy labels.
        spec: the mixing to apply.
        rng: numpy random generator (partners and lambdas).

    Returns:
        ``(x_mixed, y_mixed)`` numpy arrays of the input shapes (float labels for mixup).
    """
    xs = np.asarray(xs)
    ys = np.asarray(ys)
    if spec.is_identity:
        return xs.copy(), ys.copy()
    partner = rng.permutation(len(xs))
    out_x = np.empty_like(xs)
    label_mixing = MIXING_MODES[spec.mode].mixes_labels and not np.issubdtype(ys.dtype, np.floating)
    out_y = ys.astype(np.float32) if label_mixing else ys.copy()
    for i in range(len(xs)):
        j = partner[i]
        lam = 0.5 if spec.mode == "samplepairing" else rng.beta(spec.alpha, spec.alpha)
        out_x[i], out_y[i] = _mix_one(xs[i], xs[j], ys[i], ys[j], lam, spec.mode)
    return out_x, out_y


def _mix_one(x_i, x_j, y_i, y_j, lam: float, mode: str):
    """One sample's mixed ``(x, y)`` for :func:`mix_pairs_python`."""
    if mode == "extrapolation":
        return (1 + lam) * x_i - lam * x_j, y_i
    x = lam * x_i + (1 - lam) * x_j
    if mode == "mixup":
        return x, lam * y_i + (1 - lam) * y_j
    return x, y_i
