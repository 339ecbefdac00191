"""Custom Keras layers shared by kerastag models.

Every layer here is registered under the ``kerastag`` package, so a saved ``.keras``
model that uses it reloads with :func:`keras.saving.load_model` and no
``custom_objects``, once this module has been imported (``import kerastag`` does it).
The layers use :mod:`keras.ops` only, so they run on any Keras backend.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
from keras import ops

from kerastag.checks import check_number, is_int
from kerastag.errors import ModelError


def _check_axis(axis: object) -> int:
    """Return ``axis`` if it is an integer that is not the batch axis (0)."""
    if not is_int(axis) or axis == 0:
        raise ModelError(f"axis: expected a non-zero integer (not the batch axis), got {axis!r}")
    return int(axis)


def _check_rank(layer: keras.layers.Layer, shape: tuple, axis: int) -> None:
    """Raise ModelError if ``axis`` does not exist in a tensor of ``shape`` (batch first)."""
    rank = len(shape)
    if rank < 2 or not -rank <= axis < rank or axis % rank == 0:
        raise ModelError(f"{layer.name}: axis={axis} is not a non-batch axis of input shape {tuple(shape)}")


@keras.saving.register_keras_serializable(package="kerastag")
class NormalizeOverTime(keras.layers.Layer):
    """Divide non-negative scores by their sum along the time axis.

    ``w[b, t, c] = a[b, t, c] / (sum_t a[b, t, c] + epsilon)``, so the weights of each
    (clip, class) sum to 1 over time (up to ``epsilon``). This turns per-frame sigmoid
    attention scores into attention weights (ATT-LOC, Xu et al. 2017).

    Args:
        axis: the time axis (default 1, for ``(batch, frames, classes)`` inputs).
        epsilon: added to the sum, so an all-zero input gives zero weights, not NaN.
        **kwargs: standard :class:`keras.layers.Layer` arguments (``name``, ``dtype``).

    Input shape:
        ``(batch, frames, classes)`` with non-negative values (e.g. sigmoid outputs).

    Output shape:
        Same as the input; non-negative, summing to ``S / (S + epsilon)`` over ``axis``.

    Raises:
        ModelError: ``axis`` is 0 or not an int, or ``epsilon`` is not positive.
    """

    def __init__(self, axis: int = 1, epsilon: float = 1e-7, **kwargs):
        super().__init__(**kwargs)
        self.axis = _check_axis(axis)
        self.epsilon = check_number("epsilon", epsilon, above=0, error=ModelError)

    def build(self, input_shape: tuple) -> None:
        """Check that ``axis`` exists in ``input_shape``; the layer has no weights."""
        _check_rank(self, input_shape, self.axis)
        self.built = True

    def call(self, inputs):
        """Normalise ``inputs`` along ``axis``; shapes as in the class docstring."""
        total = ops.sum(inputs, axis=self.axis, keepdims=True)
        return inputs / (total + ops.cast(self.epsilon, inputs.dtype))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """Return ``input_shape`` unchanged."""
        return tuple(input_shape)

    def get_config(self) -> dict:
        """Return the constructor arguments."""
        config = super().get_config()
        config.update({"axis": self.axis, "epsilon": self.epsilon})
        return config


@keras.saving.register_keras_serializable(package="kerastag")
class WeightedSumOverTime(keras.layers.Layer):
    """Sum ``values * weights`` over the time axis (attention pooling).

    With per-frame class probabilities as ``values`` and time-normalised attention
    (:class:`NormalizeOverTime`) as ``weights``, the result is the clip probability
    ``p[b, c] = sum_t values[b, t, c] * weights[b, t, c]``, in [0, 1].

    Args:
        axis: the time axis, removed from the output (default 1).
        **kwargs: standard :class:`keras.layers.Layer` arguments (``name``, ``dtype``).

    Input shape:
        A list ``[values, weights]`` of two tensors of the same shape
        ``(batch, frames, classes)``.

    Output shape:
        ``(batch, classes)``: the input shape without ``axis``.

    Raises:
        ModelError: ``axis`` is 0 or not an int; at build time, the input is not a list of
            two tensors of the same rank.
    """

    def __init__(self, axis: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.axis = _check_axis(axis)

    def build(self, input_shape: list) -> None:
        """Check the two input shapes; the layer has no weights."""
        values_shape, weights_shape = self._split_shapes(input_shape)
        if len(values_shape) != len(weights_shape):
            raise ModelError(f"{self.name}: values and weights differ in rank, received "
                             f"{tuple(values_shape)} and {tuple(weights_shape)}")
        _check_rank(self, values_shape, self.axis)
        self.built = True

    def call(self, inputs):
        """Return ``sum(values * weights, axis)``; shapes as in the class docstring."""
        values, weights = inputs
        return ops.sum(values * weights, axis=self.axis)

    def compute_output_shape(self, input_shape: list) -> tuple:
        """Return the ``values`` shape with ``axis`` removed."""
        values_shape = list(self._split_shapes(input_shape)[0])
        del values_shape[self.axis]
        return tuple(values_shape)

    def get_config(self) -> dict:
        """Return the constructor arguments."""
        config = super().get_config()
        config.update({"axis": self.axis})
        return config

    def _split_shapes(self, input_shape) -> tuple:
        """Return ``(values_shape, weights_shape)`` or raise ModelError."""
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 \
                or not all(isinstance(s, (list, tuple)) for s in input_shape):
            raise ModelError(f"{self.name}: expects a list [values, weights], "
                             f"received input shape {input_shape!r}")
        return tuple(input_shape[0]), tuple(input_shape[1])


@keras.saving.register_keras_serializable(package="kerastag")
class GroupedConv2D(keras.layers.Conv2D):
    """``Conv2D`` whose grouped convolution (``groups > 1``) runs natively on TensorFlow.

    Keras 3 sends every grouped convolution on the TensorFlow backend through XLA, whose
    gradient on a CPU is orders of magnitude slower than TensorFlow's own kernel (measured
    in ``benchmarks/networks.py``: ResNeXt-50 0.27 vs 11.4 training samples/s). On the
    TensorFlow backend this layer calls ``tf.nn.convolution`` with the grouped kernel
    directly, on a GPU and on a CPU where TensorFlow runs its oneDNN kernels (kerastag
    turns them on before TensorFlow starts, see :mod:`kerastag`). TensorFlow's own CPU
    kernels have no gradient for a grouped convolution ("Gradients for grouped
    convolutions are not supported on CPU"), so on a CPU with oneDNN off (a user's
    ``TF_ENABLE_ONEDNN_OPTS=0``, or TensorFlow imported before kerastag on a CPU where
    TensorFlow leaves oneDNN off) the layer convolves each group's channels with its
    slice of the same kernel and concatenates the groups: the same outputs (up to
    float round-off), a gradient everywhere. On other backends it is exactly
    ``keras.layers.Conv2D``. Same arguments, weights and outputs as ``Conv2D``.
    """

    def convolution_op(self, inputs, kernel):
        if self.groups == 1 or keras.backend.backend() != "tensorflow":
            return super().convolution_op(inputs, kernel)
        import tensorflow as tf

        convolve = functools.partial(
            tf.nn.convolution, strides=list(self.strides), padding=self.padding.upper(),
            dilations=list(self.dilation_rate),
            data_format="NHWC" if self.data_format == "channels_last" else "NCHW")
        if grouped_gradient_is_native():
            return convolve(inputs, kernel)
        channel_axis = -1 if self.data_format == "channels_last" else 1
        groups = zip(tf.split(inputs, self.groups, axis=channel_axis),
                     tf.split(kernel, self.groups, axis=-1))
        return tf.concat([convolve(x, k) for x, k in groups], axis=channel_axis)


def grouped_gradient_is_native() -> bool:
    """Whether TensorFlow in this process has a gradient for a grouped convolution: a GPU
    is visible (cuDNN's kernel) or TensorFlow's oneDNN CPU kernels are on. TensorFlow
    fixes the latter when it loads (``TF_ENABLE_ONEDNN_OPTS``, else its CPU check)."""
    import tensorflow as tf
    from tensorflow.python.util import _pywrap_util_port

    return bool(tf.config.list_logical_devices("GPU")) or _pywrap_util_port.IsMklEnabled()


@keras.saving.register_keras_serializable(package="kerastag")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``BatchNormalization`` whose training step on TensorFlow is one fused kernel.

    Keras 3 computes a training-mode batch norm from separate ops (moments, then the
    normalisation; about ten kernels forward and backward). For 4-D channels-last inputs
    on the TensorFlow backend this layer calls ``FusedBatchNormV3`` (oneDNN on a CPU,
    cuDNN on a GPU) instead: the same normalisation and the same moving-statistics update
    (Keras' biased batch variance, ``momentum``), a third of the time on the paper-A
    CRNN's conv blocks (``benchmarks/scale.py``). Inference, masks, other ranks, axes,
    renorm and other backends are exactly ``BatchNormalization``. Same arguments and
    weights, so a model converts between the two by copying weights.
    """

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable and self._fusable(inputs, mask)):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        gamma = self.gamma if self.scale else tf.ones(self.moving_mean.shape, "float32")
        beta = self.beta if self.center else tf.zeros(self.moving_mean.shape, "float32")
        outputs, mean, unbiased = tf.compat.v1.nn.fused_batch_norm(
            inputs, tf.cast(gamma, "float32"), tf.cast(beta, "float32"),
            epsilon=self.epsilon, data_format="NHWC", is_training=True)
        count = tf.cast(tf.size(inputs) // tf.shape(inputs)[-1], "float32")
        variance = unbiased * (count - 1.0) / count  # the kernel returns Bessel's; Keras keeps biased
        for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            moving.assign(moving * self.momentum + tf.cast(batch, moving.dtype) * (1.0 - self.momentum))
        return outputs

    def _fusable(self, inputs, mask) -> bool:
        return (keras.backend.backend() == "tensorflow" and mask is None and not self.renorm
                and len(inputs.shape) == 4 and self.axis in (-1, 3) and not self.synchronized)


@keras.saving.register_keras_serializable(package="kerastag")
class Standardization(keras.layers.Layer):
    """A fixed per-bin standardisation ``(x - mean) / max(sqrt(variance), epsilon)`` over
    the last axis, with the statistics held as non-trainable weights ``(bins,)``.

    The same arithmetic as ``keras.layers.Normalization`` given ``mean`` and
    ``variance``, which holds them as constants a traced function embeds; as weights, one
    traced training step serves every unit of an architecture, each with its own
    training statistics copied in (:mod:`kerastag.compiled_models`). The statistics are
    saved with the weights, not in the config.

    Args:
        mean, variance: the initial statistics ``(bins,)`` (None: zeros, e.g. when a saved
            model's weights are loaded next).
    """

    def __init__(self, mean=None, variance=None, **kwargs):
        super().__init__(**kwargs)
        self._initial = None if mean is None else (np.asarray(mean, "float32").reshape(-1),
                                                   np.asarray(variance, "float32").reshape(-1))

    def build(self, input_shape):
        bins = int(input_shape[-1])
        self.mean = self.add_weight(shape=(bins,), initializer="zeros", trainable=False,
                                    name="mean")
        self.variance = self.add_weight(shape=(bins,), initializer="ones", trainable=False,
                                        name="variance")
        if self._initial is not None:
            self.mean.assign(self._initial[0])
            self.variance.assign(self._initial[1])

    def call(self, inputs):
        inputs = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        mean = ops.cast(self.mean, self.compute_dtype)
        variance = ops.cast(self.variance, self.compute_dtype)
        return ops.divide(ops.subtract(inputs, mean),
                          ops.maximum(ops.sqrt(variance), keras.backend.epsilon()))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return super().get_config()  # the statistics are weights, not config


def input_normalization(n_bins: int, mean, variance) -> Standardization:
    """A fixed per-bin standardisation (a :class:`Standardization` named ``input_norm``)
    from training statistics ``mean`` and ``variance`` of shape ``(n_bins,)``.

    Raises:
        ModelError: wrong shapes or a negative variance.
    """
    mean = np.asarray(mean, dtype="float32").reshape(-1)
    variance = np.asarray(variance, dtype="float32").reshape(-1)
    if mean.shape != (n_bins,) or variance.shape != (n_bins,) or np.any(variance < 0):
        raise ModelError(f"input_mean/input_variance must be {n_bins} values (variance >= 0), "
                         f"received shapes {mean.shape} and {variance.shape}")
    return Standardization(mean, variance, name="input_norm")
