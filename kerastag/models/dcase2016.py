"""Paper A's Table 1 baselines in Keras 3: DAE-DNN, CGRNN (IMD) and ATT-LOC (IMD).

Written from the papers (Xu et al., DCASE 2016 / TASLP 2017; IJCNN 2017; Interspeech
2017) and the authors' Keras 1 code (read, not copied); every detail the papers leave
out is an argument here and a line in the README's paper-A section.

- :func:`build_dae_dnn`: MFCC frames ``(batch, frames, n_mfcc)`` -> an asymmetric
  denoising auto-encoder's bottleneck per frame (the encoder half; the DAE is pretrained
  without labels, see :func:`dae_autoencoder`) -> windows of ``context`` bottleneck
  frames plus a noise estimate (the mean of the first ``noise_frames``) -> DNN
  1000-500-n_classes with sigmoid outputs per window -> their mean is the clip score.
- :func:`build_cgrnn_imd`: log-mel + IMD frames ``(batch, frames, n_mels + n_imd)`` ->
  per stream one convolution along frequency (128 filters spanning 30 mel / 200 IMD bins)
  with ReLU, max-pooled over the remaining frequency -> concatenated per frame -> cut into
  33-frame windows -> three BiGRU(128), the last returning its final state -> Dense 500
  ReLU, dropout -> sigmoid per window -> the mean over windows is the clip score.
- :func:`build_attloc_imd`: the same streams; a per-frame attention
  ``a_t = sigmoid(Dense(1))`` of the input frame scales the frame's conv features; a
  localization ``d_t = softmax over tags`` of them; three BiGRU(128) over all frames ->
  per-frame Dense 500 ReLU, dropout -> sigmoid ``p_t``; clip output
  ``sum_t p_t d_t a_t / sum_t d_t`` (:class:`AttLocPooling`).

Every layer is built in and registered, so the models reload with ``safe_mode=True``.
"""

from __future__ import annotations

import dataclasses

import keras
from keras import ops

from kerastag.checks import check_int, check_number
from kerastag.errors import ModelError
from kerastag.models.layers import input_normalization

#: Names of the DAE-DNN layers that make up the pretrained encoder.
DAE_ENCODER_LAYERS = ("dae_hidden", "dae_bottleneck")


@keras.saving.register_keras_serializable(package="kerastag")
class FrameContext(keras.layers.Layer):
    """Stack each run of ``context`` consecutive frames into one vector.

    ``out[b, w] = concat(x[b, w * hop], ..., x[b, w * hop + context - 1])``, valid
    windows only (the authors' code drops the tail frames and pads nothing), followed by
    the mean of the clip's first ``noise_frames`` frames when ``noise_frames > 0`` (a
    stationary-noise estimate, Xu et al.'s noise-aware training).

    Input shape: ``(batch, frames, features)`` with ``frames >= context``.
    Output shape: ``(batch, (frames - context) // hop + 1,
    context * features + (features if noise_frames else 0))``.
    """

    def __init__(self, context: int, hop: int = 1, noise_frames: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.context = check_int("context", context, minimum=1, error=ModelError)
        self.hop = check_int("hop", hop, minimum=1, error=ModelError)
        self.noise_frames = check_int("noise_frames", noise_frames, minimum=0, error=ModelError)

    def call(self, x):
        n_frames = ops.shape(x)[1]
        starts = ops.arange(0, n_frames - self.context + 1, self.hop)
        index = ops.expand_dims(starts, 1) + ops.expand_dims(ops.arange(self.context), 0)
        windows = ops.take(x, index, axis=1)            # (b, windows, context, features)
        shape = ops.shape(windows)
        windows = ops.reshape(windows, (shape[0], shape[1], self.context * x.shape[-1]))
        if not self.noise_frames:
            return windows
        noise = ops.mean(x[:, : self.noise_frames], axis=1, keepdims=True)
        noise = ops.repeat(noise, shape[1], axis=1)
        return ops.concatenate([windows, noise], axis=-1)

    def compute_output_shape(self, input_shape):
        frames, features = input_shape[1], input_shape[2]
        windows = None if frames is None else (frames - self.context) // self.hop + 1
        width = self.context * features + (features if self.noise_frames else 0)
        return (input_shape[0], windows, width)

    def get_config(self):
        return super().get_config() | {"context": self.context, "hop": self.hop,
                                       "noise_frames": self.noise_frames}


@keras.saving.register_keras_serializable(package="kerastag")
class FeatureSlice(keras.layers.Layer):
    """``x[..., start:stop]``: one stream of a per-frame feature vector (log-mel or IMD).

    Input shape: ``(batch, frames, features)``; output ``(batch, frames, stop - start)``.
    """

    def __init__(self, start: int, stop: int, **kwargs):
        super().__init__(**kwargs)
        self.start = check_int("start", start, minimum=0, error=ModelError)
        self.stop = check_int("stop", stop, minimum=self.start + 1, error=ModelError)

    def call(self, x):
        return x[..., self.start:self.stop]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.stop - self.start)

    def get_config(self):
        return super().get_config() | {"start": self.start, "stop": self.stop}


@keras.saving.register_keras_serializable(package="kerastag")
class AttLocPooling(keras.layers.Layer):
    """ATT-LOC's clip output from per-frame tag probabilities, localization and attention.

    ``y[b, k] = sum_t p[b,t,k] d[b,t,k] a[b,t] / sum_t clip(d[b,t,k], epsilon, 1)``.

    Input: ``[p, d, a]`` of shapes ``(batch, frames, tags)``, ``(batch, frames, tags)``,
    ``(batch, frames, 1)``. Output: ``(batch, tags)`` in [0, 1].
    """

    def __init__(self, epsilon: float = 1e-9, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = check_number("epsilon", epsilon, above=0, error=ModelError)

    def call(self, inputs):
        p, d, a = inputs
        return ops.sum(p * d * a, axis=1) / ops.sum(ops.clip(d, self.epsilon, 1.0), axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], input_shape[0][2])

    def get_config(self):
        return super().get_config() | {"epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="kerastag")
class SplitWindows(keras.layers.Layer):
    """Cut each clip's frames into windows of ``window`` frames, ``hop`` apart (valid),
    stacked along the batch axis: ``(batch, frames, f)`` -> ``(batch * windows, window, f)``
    (clip-major). :class:`MergeWindows` undoes it."""

    def __init__(self, window: int, hop: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.window = check_int("window", window, minimum=1, error=ModelError)
        self.hop = check_int("hop", hop, minimum=1, error=ModelError)

    def call(self, x):
        starts = ops.arange(0, ops.shape(x)[1] - self.window + 1, self.hop)
        index = ops.expand_dims(starts, 1) + ops.expand_dims(ops.arange(self.window), 0)
        windows = ops.take(x, index, axis=1)            # (b, windows, window, f)
        return ops.reshape(windows, (-1, self.window, x.shape[-1]))

    def compute_output_shape(self, input_shape):
        return (None, self.window, input_shape[-1])

    def get_config(self):
        return super().get_config() | {"window": self.window, "hop": self.hop}


@keras.saving.register_keras_serializable(package="kerastag")
class MergeWindows(keras.layers.Layer):
    """Mean over each clip's windows: ``[(batch * windows, n), clip_frames]`` ->
    ``(batch, n)``; ``clip_frames`` (any tensor with the clip batch first) gives the
    batch size."""

    def call(self, inputs):
        per_window, clips = inputs
        grouped = ops.reshape(per_window, (ops.shape(clips)[0], -1, per_window.shape[-1]))
        return ops.mean(grouped, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[1][0], input_shape[0][-1])


def build_dae_dnn(input_shape, n_classes: int, *, dae_context: int = 7, dae_hidden: int = 500,
                  bottleneck: int = 24, context: int = 91, noise_frames: int = 6,
                  hidden: tuple[int, ...] = (1000, 500), input_dropout: float = 0.1,
                  dropout: float = 0.2, window_hop: int = 1, bottleneck_norm: bool = True,
                  input_mean=None, input_variance=None, name: str = "dae_dnn") -> keras.Model:
    """The DAE-DNN tagger.

    Args:
        input_shape: ``(frames, n_mfcc)``; frames may be None.
        n_classes: tags.
        dae_context: MFCC frames the DAE encodes into one bottleneck frame (valid).
        dae_hidden: units of the DAE's hidden layers (ReLU).
        bottleneck: units of the DAE's bottleneck (ReLU); with 24 the DNN takes
            ``24 * 91 + 24 = 2208`` inputs, the published size.
        context: bottleneck frames per DNN window (valid windows).
        noise_frames: frames averaged into the noise estimate appended to each window.
        hidden: DNN hidden units (ReLU).
        input_dropout, dropout: dropout on the DNN input and after each hidden layer.
        window_hop: frames between the windows the chunk score averages (the authors
            scored every frame's window: 1).
        bottleneck_norm: standardise each bottleneck unit before the DNN (a
            ``Normalization`` named ``bottleneck_norm``; identity until its statistics
            are set from the training chunks after pretraining, as the authors
            re-standardised the DAE's features).
        input_mean, input_variance: per-coefficient training statistics ``(n_mfcc,)``
            (a ``Standardization`` layer named ``input_norm``), or None.

    Returns:
        A model ``(batch, frames, n_mfcc)`` -> clip probabilities ``(batch, n_classes)``,
        the mean of the per-window sigmoid outputs (layer ``window_probs``). A clip needs
        at least ``dae_context + context - 1`` frames (97: 1 s at a 10 ms hop).

    Examples:
        >>> model = build_dae_dnn((None, 20), 7, dae_hidden=32, hidden=(64, 32))
        >>> model.output_shape, model.get_layer("window_probs").output.shape
        ((None, 7), (None, None, 7))
    """
    _check_sizes(dae_context=dae_context, dae_hidden=dae_hidden, bottleneck=bottleneck,
                 context=context, window_hop=window_hop,
                 **{f"hidden[{i}]": v for i, v in enumerate(hidden)})
    check_int("noise_frames", noise_frames, minimum=0, error=ModelError)
    n_frames, n_mfcc = _frames_and_bins(input_shape, dae_context + context - 1)
    _check_rates(input_dropout=input_dropout, dropout=dropout)
    inputs = keras.Input(shape=(n_frames, n_mfcc), name="mfcc")
    x = _normalized(inputs, n_mfcc, input_mean, input_variance)
    x = FrameContext(dae_context, name="dae_context")(x)
    x = keras.layers.Dense(dae_hidden, activation="relu", name=DAE_ENCODER_LAYERS[0])(x)
    x = keras.layers.Dense(bottleneck, activation="relu", name=DAE_ENCODER_LAYERS[1])(x)
    if bottleneck_norm:
        x = keras.layers.Normalization(axis=-1, name="bottleneck_norm")(x)
    x = FrameContext(context, window_hop, noise_frames, name="dnn_context")(x)
    x = keras.layers.Dropout(input_dropout, name="input_dropout")(x)
    for index, units in enumerate(hidden, start=1):
        x = keras.layers.Dense(units, activation="relu", name=f"dnn_dense{index}")(x)
        x = keras.layers.Dropout(dropout, name=f"dnn_dropout{index}")(x)
    x = keras.layers.Dense(n_classes, activation="sigmoid", name="window_probs")(x)
    clip = keras.layers.GlobalAveragePooling1D(name="clip")(x)
    return keras.Model(inputs, clip, name=name)


def dae_autoencoder(model: keras.Model, *, corruption: float = 0.1,
                    dae_hidden: int | None = None, frames: int | None = None) -> keras.Model:
    """The denoising auto-encoder around a DAE-DNN's encoder layers, for pretraining.

    Dropout ``corruption`` on the ``dae_context`` window -> the DNN's own encoder layers
    (shared, so training this trains them) -> Dense ``dae_hidden`` ReLU -> linear
    reconstruction of the window's centre frame. Asymmetric, as the authors' DAE: it
    reconstructs one frame from ``dae_context``.

    Args:
        frames: the input's frames (None: the DAE-DNN's); ``dae_context`` makes each
            sample one window, as the authors trained the DAE.

    Returns:
        A model ``(batch, frames, n_mfcc)`` -> ``(batch, windows, n_mfcc)``: the
        reconstruction minus the clean (normalised) centre frames; train it towards zero
        with mean squared error.
    """
    context_layer = model.get_layer("dae_context")
    hidden_layer, bottleneck_layer = (model.get_layer(name) for name in DAE_ENCODER_LAYERS)
    n_frames = model.input.shape[1] if frames is None else frames
    inputs = keras.Input(shape=(n_frames, model.input.shape[-1]), name="mfcc")
    clean = model.get_layer("input_norm")(inputs) if _has_layer(model, "input_norm") else inputs
    half = context_layer.context // 2
    centre = keras.layers.Cropping1D((half, context_layer.context - 1 - half), name="centre")(clean)
    x = keras.layers.Dropout(corruption, name="corruption")(context_layer(clean))
    x = bottleneck_layer(hidden_layer(x))
    x = keras.layers.Dense(dae_hidden or hidden_layer.units, activation="relu", name="dae_decoder")(x)
    reconstruction = keras.layers.Dense(inputs.shape[-1], name="dae_reconstruction")(x)
    return keras.Model(inputs, keras.layers.Subtract(name="error")([reconstruction, centre]),
                       name="dae")


def build_cgrnn_imd(input_shape, n_classes: int, *, n_mels: int = 40, filters: int = 128,
                    mel_kernel: int = 30, imd_kernel: int = 200, rnn_units: int = 128,
                    rnn_layers: int = 3, dense_units: int = 500, dropout: float = 0.2,
                    window: int | None = 33, window_hop: int = 10,
                    input_mean=None, input_variance=None,
                    name: str = "cgrnn_imd") -> keras.Model:
    """The CGRNN with spatial (IMD) features.

    Args:
        input_shape: ``(frames, n_mels + n_imd)`` (:class:`kerastag.features.LogMelImd`).
        n_classes: tags.
        n_mels: log-mel columns at the front of each frame; the rest is the IMD.
        filters: convolution filters per stream.
        mel_kernel, imd_kernel: frequency bins each filter spans (valid).
        rnn_units, rnn_layers: BiGRU units per direction and layers.
        dense_units, dropout: the dense layer after the last BiGRU and its dropout.
        window, window_hop: the recurrent layers read windows of ``window`` frames,
            ``window_hop`` apart, each scored on its own; the clip score is the mean of
            the window scores (the authors' 33-frame windows). None reads the whole clip.
        input_mean, input_variance: per-column training statistics, or None.

    Returns:
        A model ``(batch, frames, n_mels + n_imd)`` -> ``(batch, n_classes)``.

    Examples:
        >>> model = build_cgrnn_imd((None, 40 + 40), 7, filters=8, imd_kernel=30,
        ...                         rnn_units=8, rnn_layers=1, dense_units=16)
        >>> model.input_shape, model.output_shape
        ((None, None, 80), (None, 7))
    """
    _check_sizes(rnn_units=rnn_units, rnn_layers=rnn_layers, dense_units=dense_units)
    _check_rates(dropout=dropout)
    if window is not None:
        _frames_and_bins(input_shape, check_int("window", window, minimum=1, error=ModelError))
    inputs, _, frames = _two_stream_frames(input_shape, n_mels, filters, mel_kernel, imd_kernel,
                                           input_mean, input_variance)
    x = frames if window is None else SplitWindows(window, window_hop, name="windows")(frames)
    for index in range(1, rnn_layers + 1):
        last = index == rnn_layers
        gru = keras.layers.GRU(rnn_units, return_sequences=not last, name=f"bigru{index}_gru")
        x = keras.layers.Bidirectional(gru, name=f"bigru{index}")(x)
    x = keras.layers.Dense(dense_units, activation="relu", name="dense")(x)
    x = keras.layers.Dropout(dropout, name="dense_dropout")(x)
    if window is None:
        clip = keras.layers.Dense(n_classes, activation="sigmoid", name="clip")(x)
    else:
        x = keras.layers.Dense(n_classes, activation="sigmoid", name="window_probs")(x)
        clip = MergeWindows(name="clip")([x, frames])
    return keras.Model(inputs, clip, name=name)


def build_attloc_imd(input_shape, n_classes: int, *, n_mels: int = 40, filters: int = 128,
                     mel_kernel: int = 30, imd_kernel: int = 200, rnn_units: int = 128,
                     rnn_layers: int = 3, dense_units: int = 500, dropout: float = 0.2,
                     input_mean=None, input_variance=None,
                     name: str = "attloc_imd") -> keras.Model:
    """ATT-LOC with spatial (IMD) features; arguments as :func:`build_cgrnn_imd`.

    Returns:
        A model ``(batch, frames, n_mels + n_imd)`` -> ``(batch, n_classes)``; its layers
        ``attention`` ``(b, t, 1)``, ``localization`` and ``frame_probs`` ``(b, t, tags)``
        are the per-frame outputs.

    Examples:
        >>> model = build_attloc_imd((None, 40 + 40), 7, filters=8, imd_kernel=30,
        ...                          rnn_units=8, rnn_layers=1, dense_units=16)
        >>> model.output_shape, model.get_layer("frame_probs").output.shape
        ((None, 7), (None, None, 7))
    """
    _check_sizes(rnn_units=rnn_units, rnn_layers=rnn_layers, dense_units=dense_units)
    _check_rates(dropout=dropout)
    inputs, normalized, frames = _two_stream_frames(input_shape, n_mels, filters, mel_kernel,
                                                    imd_kernel, input_mean, input_variance)
    attention = keras.layers.Dense(1, activation="sigmoid", name="attention")(normalized)
    x = keras.layers.Multiply(name="attended")([frames, attention])
    localization = keras.layers.Dense(n_classes, activation="softmax", name="localization")(x)
    for index in range(1, rnn_layers + 1):
        gru = keras.layers.GRU(rnn_units, return_sequences=True, name=f"bigru{index}_gru")
        x = keras.layers.Bidirectional(gru, name=f"bigru{index}")(x)
    x = keras.layers.Dense(dense_units, activation="relu", name="dense")(x)
    x = keras.layers.Dropout(dropout, name="dense_dropout")(x)
    probs = keras.layers.Dense(n_classes, activation="sigmoid", name="frame_probs")(x)
    clip = AttLocPooling(name="clip")([probs, localization, attention])
    return keras.Model(inputs, clip, name=name)


# ------------------------------------------------------------ window-level training


@dataclasses.dataclass(frozen=True)
class FrameWindowTrainer:
    """What training a chunk model one window of frames at a time needs.

    Attributes:
        model: ``(batch, head + length, bins)`` -> ``(batch, n_classes)``: one window's
            sigmoid outputs, built from the chunk model's own layers (training it trains
            the chunk model, whose score is the mean of these over its windows).
        length: frames of the chunk one window reads.
        head: the chunk's first frames every sample carries before its window (the
            DAE-DNN's noise estimate; 0 for none).
        default_hop: frames between training windows in the authors' code.
    """

    model: keras.Model
    length: int
    head: int
    default_hop: int


def dae_dnn_window_trainer(model: keras.Model) -> FrameWindowTrainer:
    """The DAE-DNN scoring one DNN window: ``dae_context + context - 1`` MFCC frames,
    after the chunk's first ``noise_frames + dae_context - 1`` (whose bottleneck mean is
    the noise estimate). The authors' DNN trained on windows 7 frames apart
    (``main_DNN_keras_*.py``: ``hop = 7``)."""
    encoder = _layers(model, "dae_context", *DAE_ENCODER_LAYERS, "bottleneck_norm")
    dae_context, dnn_context = encoder[0].context, model.get_layer("dnn_context")
    length = dae_context + dnn_context.context - 1
    head = dnn_context.noise_frames + dae_context - 1 if dnn_context.noise_frames else 0
    inputs = keras.Input(shape=(head + length, model.input.shape[-1]), name="mfcc_window")
    frames = _apply(_layers(model, "input_norm"), inputs)
    window = _apply(encoder, keras.layers.Cropping1D((head, 0), name="window")(frames))
    x = keras.layers.Reshape((1, dnn_context.context * window.shape[-1]), name="stacked")(window)
    if head:  # FrameContext's noise estimate: the mean of the chunk's first bottleneck frames
        noise = _apply(encoder, keras.layers.Cropping1D((0, length), name="head")(frames))
        noise = keras.layers.GlobalAveragePooling1D(keepdims=True, name="noise")(noise)
        x = keras.layers.Concatenate(name="with_noise")([x, noise])
    hidden = [name for layer in model.layers if layer.name.startswith("dnn_dense")
              for name in (layer.name, layer.name.replace("dense", "dropout"))]
    x = _apply(_layers(model, "input_dropout", *hidden, "window_probs"), x)
    outputs = keras.layers.Reshape((x.shape[-1],), name="window_scores")(x)
    return FrameWindowTrainer(keras.Model(inputs, outputs, name="dae_dnn_window"), length,
                              head, default_hop=7)


def cgrnn_window_trainer(model: keras.Model) -> FrameWindowTrainer:
    """The CGRNN scoring one window of ``window`` frames (the authors trained on windows
    10 frames apart: ``main_cnnlstm_*.py``, ``agg_num = 33``, ``hop = 10``).

    Raises:
        ModelError: the model reads whole chunks (``window: null``).
    """
    if not _has_layer(model, "windows"):
        raise ModelError("cgrnn_imd with window: null reads the whole chunk, so it has no "
                         "windows of frames to train on; use training.samples: chunks")
    length = model.get_layer("windows").window
    inputs = keras.Input(shape=(length, model.input.shape[-1]), name="logmel_imd_window")
    frames = _apply(_layers(model, "input_norm"), inputs)
    streams = [_apply(_layers(model, prefix, *(f"{prefix}_{part}" for part in
                                               ("channel", "conv", "pool", "frames"))), frames)
               for prefix in ("mel", "imd")]
    x = model.get_layer("streams")(streams)
    recurrent = [layer.name for layer in model.layers if layer.name.startswith("bigru")]
    outputs = _apply(_layers(model, *recurrent, "dense", "dense_dropout", "window_probs"), x)
    return FrameWindowTrainer(keras.Model(inputs, outputs, name="cgrnn_window"), length, 0,
                              default_hop=10)


def _layers(model: keras.Model, *names: str) -> list:
    """The model's layers of these names, in this order; a name it lacks is skipped."""
    return [model.get_layer(name) for name in names if _has_layer(model, name)]


def _apply(layers, x):
    for layer in layers:
        x = layer(x)
    return x


# --------------------------------------------------------------------------- helpers


def _two_stream_frames(input_shape, n_mels, filters, mel_kernel, imd_kernel, mean, variance):
    """The input, its standardised frames and the per-frame conv features of both streams
    ``(b, t, 2 * filters)``."""
    _check_sizes(filters=filters)
    n_frames, n_bins = _frames_and_bins(input_shape, 1)
    n_mels = check_int("n_mels", n_mels, minimum=1, maximum=n_bins - 1, error=ModelError)
    inputs = keras.Input(shape=(n_frames, n_bins), name="logmel_imd")
    x = _normalized(inputs, n_bins, mean, variance)
    streams = [_frequency_conv(FeatureSlice(0, n_mels, name="mel")(x), filters, mel_kernel, "mel"),
               _frequency_conv(FeatureSlice(n_mels, n_bins, name="imd")(x), filters, imd_kernel,
                               "imd")]
    return inputs, x, keras.layers.Concatenate(name="streams")(streams)


def _frequency_conv(x, filters: int, kernel: int, prefix: str):
    """``(b, t, bins)`` -> Conv over ``kernel`` bins (ReLU, valid) -> max over the rest
    -> ``(b, t, filters)``."""
    bins = x.shape[-1]
    kernel = check_int(f"{prefix}_kernel", kernel, minimum=1, maximum=bins, error=ModelError)
    x = keras.layers.Reshape((-1, bins, 1), name=f"{prefix}_channel")(x)
    x = keras.layers.Conv2D(filters, (1, kernel), activation="relu", name=f"{prefix}_conv")(x)
    x = keras.layers.MaxPooling2D((1, bins - kernel + 1), name=f"{prefix}_pool")(x)
    return keras.layers.Reshape((-1, filters), name=f"{prefix}_frames")(x)


def _normalized(inputs, n_bins: int, mean, variance):
    """``inputs`` standardised by a ``Standardization`` named ``input_norm`` when statistics
    are given, else unchanged."""
    if mean is None and variance is None:
        return inputs
    return input_normalization(n_bins, mean, variance)(inputs)


def _has_layer(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def _frames_and_bins(input_shape, min_frames: int) -> tuple[int | None, int]:
    """``(frames or None, bins)`` of a ``(frames, bins)`` input shape, checked."""
    if len(tuple(input_shape)) != 2:
        raise ModelError(f"input_shape: expected (frames, bins), got {tuple(input_shape)}")
    frames, bins = input_shape
    bins = check_int("input bins", bins, minimum=1, error=ModelError)
    if frames is not None:
        frames = check_int("input frames", frames, minimum=min_frames, error=ModelError)
    return frames, bins


def _check_sizes(**sizes: int) -> None:
    for key, value in sizes.items():
        check_int(key, value, minimum=1, error=ModelError)


def _check_rates(**rates: float) -> None:
    for key, value in rates.items():
        check_number(key, value, minimum=0, below=1, error=ModelError)
