"""Deployable models: raw mono audio in, what ``kerastag predict`` returns out.

:func:`build_tagging_deploy_model` wraps a tagger (paper A's CRNN), :func:`build_classification_
deploy_model` a paper-B network, each with its front end (:mod:`kerastag.models.
frontends`) and the windowing that ``kerastag predict`` does in numpy, as registered
layers in ``keras.ops`` (the time axis stays dynamic, so any length is accepted):

* paper A: the audio is zero-padded to a whole number of 4 s windows; each window is
  scored on its own; a tag's clip score is its maximum over the windows and the frame
  outputs of the windows are laid end to end (:class:`AudioWindows`,
  :class:`JoinWindows`);
* paper B: the whole clip's features are cut into windows of ``length`` frames every
  ``hop`` (one more aligned to the clip's end when the last one stops short, a short clip
  padded with ``pad_value``), and the clip's probabilities are their mean
  (:class:`FeatureWindows`, :class:`WindowMean`), as
  :func:`kerastag.tasks.classification.excerpts.predict_clips`.

Inputs are ``(batch, samples)``: a batch holds recordings of one length (pad them).
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from kerastag.errors import ModelError
from kerastag.models.frontends import front_end_for

#: Names of a deployed tagger's outputs, in order (``clip``: (batch, classes);
#: ``localization`` and ``attention``: (batch, frames, classes)).
TAGGER_OUTPUTS = ("clip", "localization", "attention")
#: The output of a deployed classifier: (batch, classes) probabilities.
CLASSIFIER_OUTPUT = "probabilities"


def _n_windows(samples, window: int):
    """``max(1, ceil(samples / window))`` as a scalar tensor."""
    return ops.maximum((samples + window - 1) // window, 1)


@keras.saving.register_keras_serializable(package="kerastag")
class AudioWindows(keras.layers.Layer):
    """``(batch, samples)`` -> ``(batch * windows, window)``: consecutive windows of
    ``window`` samples, the last zero-padded (a recording shorter than one window is one
    padded window)."""

    def __init__(self, window: int, **kwargs):
        super().__init__(**kwargs)
        self.window = int(window)

    def call(self, audio):
        samples = ops.shape(audio)[1]
        total = _n_windows(samples, self.window) * self.window
        audio = ops.pad(ops.cast(audio, "float32"), [[0, 0], [0, total - samples]])
        return ops.reshape(audio, (-1, self.window))

    def compute_output_shape(self, input_shape):
        return (None, self.window)

    def get_config(self):
        return {**super().get_config(), "window": self.window}


@keras.saving.register_keras_serializable(package="kerastag")
class JoinWindows(keras.layers.Layer):
    """Per-window outputs back to recordings: inputs ``[per_window, audio]``.

    ``mode="max"``: ``(batch * windows, classes)`` -> ``(batch, classes)``, the maximum
    over windows. ``mode="concat"``: ``(batch * windows, frames, classes)`` ->
    ``(batch, windows * frames, classes)``, the windows end to end.
    """

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("max", "concat"):
            raise ModelError(f"JoinWindows: mode must be 'max' or 'concat', got {mode!r}")
        self.mode = mode

    def call(self, inputs):
        per_window, audio = inputs
        batch = ops.shape(audio)[0]
        classes = ops.shape(per_window)[-1]
        if self.mode == "max":
            return ops.max(ops.reshape(per_window, (batch, -1, classes)), axis=1)
        return ops.reshape(per_window, (batch, -1, classes))

    def compute_output_shape(self, input_shapes):
        per_window, audio = input_shapes
        if self.mode == "max":
            return (audio[0], per_window[-1])
        return (audio[0], None, per_window[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def _window_starts(n_time, length: int, hop: int):
    """Graph version of :func:`~kerastag.tasks.classification.excerpts.window_starts`:
    ``(starts (windows,), weights (windows,))``. The window aligned to the clip's end is
    always there, with weight 0 when it repeats the last regular window."""
    n = ops.maximum(n_time, length)
    regular = (n - length) // hop + 1
    starts = ops.arange(regular) * hop
    last = n - length
    extra = ops.cast(ops.greater(last, (regular - 1) * hop), "float32")
    starts = ops.concatenate([starts, ops.reshape(last, (1,))], axis=0)
    weights = ops.concatenate([ops.ones((regular,), "float32"), ops.reshape(extra, (1,))], axis=0)
    return starts, weights


@keras.saving.register_keras_serializable(package="kerastag")
class FeatureWindows(keras.layers.Layer):
    """Whole-clip features -> scoring windows of ``length`` time steps every ``hop``.

    ``(batch, bands, frames, channels)`` -> ``(batch * windows, bands, length, channels)``
    or ``(batch, samples)`` -> ``(batch * windows, length)``. A clip shorter than
    ``length`` is padded after its end with ``pad_value`` (a number, or one per channel).
    """

    def __init__(self, length: int, hop: int, pad_value: float | Sequence[float] = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.length, self.hop = int(length), int(hop)
        self.pad_value = (float(pad_value) if isinstance(pad_value, (int, float))
                          else [float(v) for v in pad_value])

    def call(self, features):
        time_axis = 2 if len(features.shape) == 4 else 1
        features = self._pad(features, time_axis)
        starts, _ = _window_starts(ops.shape(features)[time_axis], self.length, self.hop)
        index = ops.expand_dims(starts, 1) + ops.expand_dims(ops.arange(self.length), 0)
        if time_axis == 1:
            return ops.reshape(ops.take(features, index, axis=1), (-1, self.length))
        windows = ops.take(features, index, axis=2)        # (batch, bands, W, length, ch)
        windows = ops.transpose(windows, (0, 2, 1, 3, 4))
        shape = (-1, features.shape[1], self.length, features.shape[3])
        return ops.reshape(windows, shape)

    def _pad(self, features, time_axis: int):
        """``features`` padded with ``pad_value`` to at least ``length`` time steps."""
        pad = ops.convert_to_tensor(self.pad_value, "float32")
        missing = ops.maximum(self.length - ops.shape(features)[time_axis], 0)
        widths = [[0, 0]] * len(features.shape)
        widths[time_axis] = [0, missing]
        return ops.pad(features - pad, widths) + pad

    def compute_output_shape(self, input_shape):
        if len(input_shape) == 4:
            return (None, input_shape[1], self.length, input_shape[3])
        return (None, self.length)

    def get_config(self):
        return {**super().get_config(), "length": self.length, "hop": self.hop,
                "pad_value": self.pad_value}


@keras.saving.register_keras_serializable(package="kerastag")
class WindowMean(keras.layers.Layer):
    """Inputs ``[per_window (batch * windows, classes), features]`` -> ``(batch,
    classes)``: the mean over each clip's windows of :class:`FeatureWindows` (same
    ``length`` and ``hop``), the end-aligned window counted only when it is a new one."""

    def __init__(self, length: int, hop: int, **kwargs):
        super().__init__(**kwargs)
        self.length, self.hop = int(length), int(hop)

    def call(self, inputs):
        per_window, features = inputs
        time_axis = 2 if len(features.shape) == 4 else 1
        _, weights = _window_starts(ops.shape(features)[time_axis], self.length, self.hop)
        batch, classes = ops.shape(features)[0], ops.shape(per_window)[-1]
        per_clip = ops.reshape(ops.cast(per_window, "float32"), (batch, -1, classes))
        weights = ops.reshape(weights, (1, -1, 1))
        return ops.sum(per_clip * weights, axis=1) / ops.sum(weights)

    def compute_output_shape(self, input_shapes):
        per_window, features = input_shapes
        return (features[0], per_window[-1])

    def get_config(self):
        return {**super().get_config(), "length": self.length, "hop": self.hop}


def build_tagging_deploy_model(model: keras.Model, spec, *, window_samples: int,
                               frame_model: keras.Model | None = None) -> keras.Model:
    """A tagger with its front end: ``audio (batch, samples)`` -> ``{"clip"}``, and with a
    ``frame_model`` ``{"clip", "localization", "attention"}`` (see :data:`TAGGER_OUTPUTS`).

    Args:
        model: a trained tagger, ``(windows, frames, bins)`` -> ``(windows, classes)``.
        spec: its input's feature spec (one with a front end, e.g.
            :class:`~kerastag.features.specs.LogMelA`).
        window_samples: the training chunk in samples (4 s at 16 kHz: 64000).
        frame_model: None, or ``model``'s frame-level model (paper A's CRNN:
            :func:`kerastag.models.crnn.frame_level_model`) with outputs named
            :data:`TAGGER_OUTPUTS`.
    """
    audio = keras.Input((None,), name="audio")
    windows = AudioWindows(window_samples, name="windows")(audio)
    features = front_end_for(spec)(windows)
    if frame_model is None:
        clip = JoinWindows("max", name="clip")([model(features), audio])
        return keras.Model(audio, {"clip": clip}, name=f"{model.name}_deploy")
    outputs = frame_model(features)
    merged = {"clip": JoinWindows("max", name="clip")([outputs["clip"], audio])}
    for name in TAGGER_OUTPUTS[1:]:
        merged[name] = JoinWindows("concat", name=name)([outputs[name], audio])
    return keras.Model(audio, merged, name=f"{model.name}_deploy")


def build_classification_deploy_model(model: keras.Model, spec, *, length: int, hop: int,
                                      pad_value) -> keras.Model:
    """A paper-B network with its front end: ``audio (batch, samples)`` ->
    ``{"probabilities": (batch, classes)}``, the mean over the clip's windows.

    Args:
        model: a trained network taking one window in the networks' layout.
        spec: its :class:`~kerastag.features.specs.TimeFrequencyB` or ``Wave``.
        length, hop: window length and step in time steps (frames, or samples).
        pad_value: padding of clips shorter than ``length`` (as in training).
    """
    audio = keras.Input((None,), name="audio")
    features = front_end_for(spec)(audio)
    windows = FeatureWindows(length, hop, pad_value, name="windows")(features)
    per_window = model(windows)
    probabilities = WindowMean(length, hop, name=CLASSIFIER_OUTPUT)([per_window, features])
    return keras.Model(audio, {CLASSIFIER_OUTPUT: probabilities}, name=f"{model.name}_deploy")


def static_unrolled(model: keras.Model, n_frames: int) -> keras.Model:
    """A copy of ``model`` (same weights) for inputs of exactly ``n_frames`` frames, with
    every recurrent layer unrolled.

    LiteRT holds a GRU's loop only as TensorFlow "select" ops (``TensorList*``), which its
    interpreter lacks; an unrolled GRU over a fixed number of frames is plain builtins.
    """
    def unroll(layer):
        config = layer.get_config()
        if isinstance(layer, keras.layers.Bidirectional):
            for key in ("layer", "backward_layer"):
                if isinstance(config.get(key), dict):
                    config[key]["config"]["unroll"] = True
        elif isinstance(layer, keras.layers.RNN):
            config["unroll"] = True
        return layer.__class__.from_config(config)

    shape = (int(n_frames),) + tuple(model.input.shape[2:])
    inputs = keras.Input(shape, name=model.input.name if hasattr(model.input, "name") else None)
    copy = keras.models.clone_model(model, input_tensors=inputs, clone_function=unroll)
    copy.set_weights(model.get_weights())
    return copy
