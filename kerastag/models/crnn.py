"""The paper-A CRNN with attention and localization heads (``crnn_attloc``).

Log-mel input ``(batch, frames, n_mels)`` -> conv blocks that pool over frequency only
-> a bidirectional GRU over time -> two per-frame heads: class probabilities
(``localization``) and attention scores, normalised over time (``attention``). Their
weighted sum over time is the clip probability (``clip``), the model's single output,
trained with binary cross-entropy. :func:`frame_level_model` exposes all three.

Every layer has a fixed name, so a saved model (or a model reloaded from ``.keras``)
can be taken apart by name.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from kerastag.checks import check_int, check_number, is_int
from kerastag.errors import ModelError
from kerastag.models.layers import (FusedBatchNormalization, NormalizeOverTime,
                                    WeightedSumOverTime, input_normalization)

FRAME_OUTPUTS = ("clip", "localization", "attention")
"""Names of the layers :func:`frame_level_model` returns, in this order."""


def count_blocks(n_mels: int) -> int:
    """Return how many (1, 2) frequency poolings bring ``n_mels`` bins down to 1.

    Each pooling halves the frequency axis with floor (``valid`` padding):
    128 -> 7 blocks, 64 -> 6, 40 -> 5 (40, 20, 10, 5, 2, 1).

    Args:
        n_mels: number of mel bins, at least 2.

    Returns:
        ``floor(log2(n_mels))``.

    Raises:
        ModelError: ``n_mels`` is not an int >= 2.
    """
    check_int("n_mels", n_mels, minimum=2, error=ModelError)
    return int(n_mels).bit_length() - 1


def build_crnn_attloc(*, n_mels: int = 128, n_classes: int = 7, n_frames: int | None = None,
                      filters: Sequence[int] = (8, 16, 32, 64, 64, 64, 64), rnn_units: int = 64,
                      gated_rnn: bool = False, dropout: float = 0.1, input_batchnorm: bool = True,
                      input_mean=None, input_variance=None, fused_blocks: bool = False,
                      name: str = "crnn_attloc") -> keras.Model:
    """Build the paper-A CRNN with ATT-LOC heads.

    Args:
        n_mels: mel bins of the input (frequency axis), at least 2. It sets the number of
            conv blocks, :func:`count_blocks` (128 -> 7).
        n_classes: number of tags.
        n_frames: frames per clip, or None for clips of any length (a 4 s paper-A chunk
            has 124 frames).
        filters: conv filters per block. If fewer values than blocks are given, the last
            one is repeated; if more, only the first ``count_blocks(n_mels)`` are used.
        rnn_units: GRU units per direction.
        gated_rnn: use the authors' gated BiGRU (a BiGRU with linear activation times a
            BiGRU with sigmoid activation) instead of a plain tanh BiGRU.
        dropout: dropout rate after each conv block, in [0, 1).
        input_batchnorm: batch-normalise the input per mel bin (authors' code).
        input_mean, input_variance: per-mel-bin statistics ``(n_mels,)`` of the training
            features; when given, the input is standardised with them by a
            :class:`~kerastag.models.layers.Standardization` named ``input_norm`` (its statistics
            are weights, saved with the model).
            Unlike the input BatchNorm it is right from the first step, which matters
            when an epoch has only a few batches.
        fused_blocks: build the conv blocks for speed with the same function: no conv
            bias (the BatchNorm's mean removes it), a fused BatchNorm kernel
            (:class:`~kerastag.models.layers.FusedBatchNormalization`) and the ELU after
            the max-pooling (ELU is increasing, so the two commute exactly; half the
            ELUs). 1.5x the training speed on a CPU (``benchmarks/scale.py``).
        name: model name.

    Returns:
        A functional :class:`keras.Model` mapping log-mel ``(batch, frames, n_mels)`` to
        clip probabilities ``(batch, n_classes)`` in [0, 1]. Use
        :func:`frame_level_model` for the per-frame outputs.

    Raises:
        ModelError: an argument is out of range (the message quotes the value).

    Examples:
        A narrow CRNN for 40-band log-mel chunks of 124 frames (5 conv blocks):

        >>> model = build_crnn_attloc(n_mels=40, n_classes=7, n_frames=124, filters=(8, 16),
        ...                           rnn_units=16)
        >>> model.input_shape, model.output_shape, count_blocks(40)
        ((None, 124, 40), (None, 7), 5)
    """
    _check_arguments(n_mels, n_classes, n_frames, filters, rnn_units, dropout)
    n_mels, n_classes, rnn_units = int(n_mels), int(n_classes), int(rnn_units)  # numpy ints too
    n_frames, dropout = (None if n_frames is None else int(n_frames)), float(dropout)
    block_filters = _block_filters([int(value) for value in filters], count_blocks(n_mels))
    inputs = keras.Input(shape=(n_frames, n_mels), name="log_mel")  # (batch, frames, mel)
    x = inputs
    if input_mean is not None or input_variance is not None:
        x = input_normalization(n_mels, input_mean, input_variance)(x)
    if input_batchnorm:
        x = keras.layers.BatchNormalization(name="input_bn")(x)
    x = keras.layers.Reshape((-1, n_mels, 1), name="add_channel")(x)  # (batch, frames, mel, 1)
    for index, n_filters in enumerate(block_filters, start=1):
        x = _conv_block(x, n_filters, dropout, prefix=f"block{index}", fused=fused_blocks)
    # The frequency axis is now 1: (batch, frames, 1, filters) -> (batch, frames, filters).
    x = keras.layers.Reshape((-1, block_filters[-1]), name="to_sequence")(x)
    x = _gated_bigru(x, rnn_units) if gated_rnn else _bigru(x, rnn_units)  # (batch, frames, 2*units)
    clip = _attloc_heads(x, n_classes)
    return keras.Model(inputs, clip, name=name)


def frame_level_model(model: keras.Model) -> keras.Model:
    """Return a sub-model of ``model`` with its clip and per-frame outputs.

    The sub-model shares the layers (and weights) of ``model``, which may be one built by
    :func:`build_crnn_attloc` or one reloaded from a ``.keras`` file.

    Args:
        model: a functional model with layers named ``clip``, ``localization`` and
            ``attention``.

    Returns:
        A :class:`keras.Model` with the same input whose output is a dict, in this order:
        ``"clip"`` ``(batch, classes)``, ``"localization"`` ``(batch, frames, classes)``
        per-frame probabilities, and ``"attention"`` ``(batch, frames, classes)`` weights
        that sum to 1 over frames.

    Raises:
        ModelError: ``model`` is not a Keras model or lacks one of those layers.

    Examples:
        >>> import numpy as np
        >>> model = build_crnn_attloc(n_mels=40, n_frames=124, filters=(8,), rnn_units=8)
        >>> outputs = frame_level_model(model)(np.zeros((2, 124, 40), "float32"))
        >>> {name: tuple(output.shape) for name, output in outputs.items()}
        {'clip': (2, 7), 'localization': (2, 124, 7), 'attention': (2, 124, 7)}
        >>> round(float(outputs["attention"][0, :, 0].numpy().sum()), 5)
        1.0
    """
    if not isinstance(model, keras.Model):
        raise ModelError(f"frame_level_model expects a keras.Model, received {type(model).__name__}")
    names = {layer.name for layer in model.layers}
    missing = [layer_name for layer_name in FRAME_OUTPUTS if layer_name not in names]
    if missing:
        raise ModelError(f"model {model.name!r} has no layer(s) named {', '.join(missing)}; "
                         f"expected {', '.join(FRAME_OUTPUTS)}")
    outputs = {layer_name: model.get_layer(layer_name).output for layer_name in FRAME_OUTPUTS}
    return keras.Model(model.input, outputs, name=f"{model.name}_frame_level")


def _conv_block(x, n_filters: int, dropout: float, *, prefix: str, fused: bool = False):
    """Conv 3x3 -> BN -> ELU -> MaxPool (1, 2) -> Dropout (``fused``: the same function
    as conv without bias -> fused BN -> MaxPool -> ELU -> Dropout).

    Shapes: ``(batch, frames, freq, channels)`` -> ``(batch, frames, freq // 2, n_filters)``.
    """
    conv = keras.layers.Conv2D(n_filters, (3, 3), padding="same", use_bias=not fused,
                               name=f"{prefix}_conv")
    norm = (FusedBatchNormalization if fused else keras.layers.BatchNormalization)(name=f"{prefix}_bn")
    elu = keras.layers.Activation("elu", name=f"{prefix}_elu")
    pool = keras.layers.MaxPooling2D(pool_size=(1, 2), name=f"{prefix}_pool")
    x = norm(conv(x))
    x = elu(pool(x)) if fused else pool(elu(x))
    return keras.layers.Dropout(dropout, name=f"{prefix}_dropout")(x)


def _bigru(x, units: int, *, activation: str = "tanh", prefix: str = "bigru"):
    """Bidirectional GRU over time: ``(b, t, features)`` -> ``(b, t, 2 * units)``."""
    gru = keras.layers.GRU(units, activation=activation, return_sequences=True, name=f"{prefix}_gru")
    return keras.layers.Bidirectional(gru, name=prefix)(x)


def _gated_bigru(x, units: int):
    """Authors' gated BiGRU, linear BiGRU * sigmoid BiGRU: ``(b, t, f)`` -> ``(b, t, 2 * units)``."""
    linear = _bigru(x, units, activation="linear", prefix="bigru_linear")
    gate = _bigru(x, units, activation="sigmoid", prefix="bigru_gate")
    return keras.layers.Multiply(name="bigru_gated")([linear, gate])


def _attloc_heads(x, n_classes: int):
    """ATT-LOC heads: ``(b, t, features)`` -> clip probabilities ``(b, n_classes)``."""
    localization = keras.layers.Dense(n_classes, activation="sigmoid", name="localization")(x)
    scores = keras.layers.Dense(n_classes, activation="sigmoid", name="attention_scores")(x)
    attention = NormalizeOverTime(axis=1, name="attention")(scores)  # sums to 1 over frames
    # float32 under a mixed policy too: the clip score is what the loss and the tables read
    return WeightedSumOverTime(axis=1, name="clip", dtype="float32")([localization, attention])


def _block_filters(filters: Sequence[int], n_blocks: int) -> list[int]:
    """Fit ``filters`` to ``n_blocks``: cut extra values, repeat the last one if short."""
    filters = list(filters)[:n_blocks]
    return filters + [filters[-1]] * (n_blocks - len(filters))


def _check_arguments(n_mels, n_classes, n_frames, filters, rnn_units, dropout) -> None:
    """Raise ModelError for the first argument of build_crnn_attloc that is out of range."""
    check_int("n_mels", n_mels, minimum=2, error=ModelError)
    check_int("n_classes", n_classes, minimum=1, error=ModelError)
    if n_frames is not None:
        check_int("n_frames", n_frames, minimum=1, error=ModelError)
    if not _positive_ints(filters):
        raise ModelError(f"filters: expected a non-empty sequence of integers >= 1, got {filters!r}")
    check_int("rnn_units", rnn_units, minimum=1, error=ModelError)
    check_number("dropout", dropout, minimum=0, below=1, error=ModelError)


def _positive_ints(values) -> bool:
    """Return True if ``values`` is a non-empty sequence (not a string) of ints >= 1."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
        return False
    return all(is_int(v) and v >= 1 for v in values)
