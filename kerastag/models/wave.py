"""Learned multi-scale front end on the raw wave, and the wave networks of paper B.

The front end (after WaveMsNet, Zhu et al. 2018, which paper B's Wave-ResNeXt cites)
is a bank of parallel 1-D convolutions acting as learned band-pass filters at several
time scales. Scale ``i`` is::

    Conv1D(bands, kernel_sizes[i], stride=strides[i]) -> BN -> ReLU
    -> Conv1D(bands, context_kernel) -> BN -> ReLU -> MaxPool1D(hop // strides[i])

so every scale gives ``frames = samples // hop`` frames of ``bands`` channels. The scales
are stacked as channels and transposed to the time-frequency layout of the spectrogram
networks: ``(batch, samples) -> (batch, bands, frames, scales)``. Defaults: kernel sizes
11/51/101 with strides 1/5/10 and 32 bands (WaveMsNet), and ``hop=450`` samples (10.2 ms
at 44.1 kHz), so the paper's 1.5 s excerpt of 66,150 samples gives 147 frames and a
``(32, 147, 3)`` map. Trailing samples that do not fill a whole hop are cropped.

Any paper-B backbone can follow the front end (:data:`WAVE_BACKBONES`):
:func:`build_wave_resnext` is the paper's Wave-ResNeXt and
``build_wave_model("resnet50", ...)`` its "ResNet wave" model. Backbones that need a
larger input (Xception, ResNet-50) resize the map inside the model.
"""

from __future__ import annotations

import keras

from kerastag.errors import ModelError
from kerastag.models.applications import application_features
from kerastag.models.backbone_utils import (
    assemble, batch_norm, check_head, check_input_shape, check_int, check_int_tuple)
from kerastag.models.dpn import dpn_features
from kerastag.models.resnext import resnext_features

FRONT_END_NAME = "front_end"
_RESNEXT_ARGS = ("blocks", "cardinality", "bottleneck_width", "stem_filters", "se_ratio")
_DPN_ARGS = ("init_features", "stem_kernel", "k_r", "groups", "k_sec", "inc_sec", "base_width")

# backbone name -> (features function, fixed keyword arguments, accepted keyword arguments)
WAVE_BACKBONES = {
    "resnext50": (resnext_features, {}, _RESNEXT_ARGS),
    "se_resnext50": (resnext_features, {"se": True}, _RESNEXT_ARGS),
    "dpn68": (dpn_features, {"variant": "dpn68"}, _DPN_ARGS),
    "dpn92": (dpn_features, {"variant": "dpn92"}, _DPN_ARGS),
    "xception": (application_features, {"architecture": "xception"}, ("min_size",)),
    "resnet50": (application_features, {"architecture": "resnet50"}, ("min_size",)),
}


def build_wave_front_end(input_shape, *, bands: int = 32, kernel_sizes=(11, 51, 101),
                         strides=(1, 5, 10), hop: int = 450, context_kernel: int = 11,
                         name: str = FRONT_END_NAME) -> keras.Model:
    """Build the multi-scale 1-D convolution front end (see the module doc).

    Args:
        input_shape: ``(samples,)``, e.g. ``(66150,)`` (1.5 s at 44.1 kHz).
        bands: filters per scale (rows of the output map).
        kernel_sizes: first-layer kernel size of each scale, in samples.
        strides: first-layer stride of each scale; each must divide ``hop``.
        hop: samples per output frame.
        context_kernel: kernel size of the second convolution of each scale.
        name: the model name.

    Returns:
        A model mapping ``(batch, samples)`` to ``(batch, bands, samples // hop, scales)``.

    Raises:
        ModelError: a bad argument, or fewer than ``hop`` samples.
    """
    (samples,) = check_input_shape(input_shape, 1, "(samples,)")
    bands, hop = check_int("bands", bands), check_int("hop", hop)
    check_int("context_kernel", context_kernel)
    kernel_sizes, strides = _check_scales(kernel_sizes, strides, hop)
    frames = samples // hop
    if frames < 1:
        raise ModelError(f"the wave must have at least hop={hop} samples, "
                         f"received input_shape={tuple(input_shape)!r}")
    inputs = keras.Input((samples,), name="wave_in")
    x = keras.layers.Reshape((samples, 1), name="add_channel")(inputs)  # (b, samples, 1)
    if samples > frames * hop:
        x = keras.layers.Cropping1D((0, samples - frames * hop), name="crop")(x)
    scales = [_scale(x, bands, kernel, stride, hop, context_kernel, frames, f"scale{i + 1}")
              for i, (kernel, stride) in enumerate(zip(kernel_sizes, strides))]
    x = scales[0] if len(scales) == 1 else keras.layers.Concatenate(name="stack_scales")(scales)
    outputs = keras.layers.Permute((2, 1, 3), name="to_bands_frames")(x)
    return keras.Model(inputs, outputs, name=name)  # (b, bands, frames, scales)


def build_wave_model(backbone: str, input_shape, n_classes: int, *, bands: int = 32,
                     kernel_sizes=(11, 51, 101), strides=(1, 5, 10), hop: int = 450,
                     context_kernel: int = 11, dropout: float = 0.0, weights=None,
                     name: str | None = None, **backbone_kwargs) -> keras.Model:
    """Build ``wave -> multi-scale front end -> backbone -> softmax`` (paper B wave models).

    Args:
        backbone: a key of :data:`WAVE_BACKBONES` (``"resnext50"``, ``"se_resnext50"``,
            ``"dpn68"``, ``"dpn92"``, ``"xception"``, ``"resnet50"``).
        input_shape: ``(samples,)``, e.g. ``(66150,)``.
        n_classes: number of classes of the softmax output.
        bands, kernel_sizes, strides, hop, context_kernel: front end arguments
            (:func:`build_wave_front_end`).
        dropout: dropout rate before the classifier.
        weights: None or a weights file for the backbone (as for the time-frequency
            builders); the front end always starts from scratch.
        name: model name (default ``"wave_" + backbone``).
        **backbone_kwargs: width/depth arguments of the backbone, the same as its
            time-frequency builder takes (e.g. ``cardinality=`` for ResNeXt, ``k_r=`` for
            DPN, ``min_size=`` for Xception/ResNet-50).

    Returns:
        A model mapping ``(batch, samples)`` to class probabilities ``(batch, n_classes)``.

    Raises:
        ModelError: unknown backbone or backbone argument, or a bad value.
    """
    features_fn, fixed, accepted = _lookup(backbone)
    unknown = sorted(set(backbone_kwargs) - set(accepted))
    if unknown:
        raise ModelError(f"unknown argument(s) {unknown} for the {backbone} backbone; "
                         f"valid: {', '.join(accepted)}")
    n_classes, dropout = check_head(n_classes, dropout)
    front_end = build_wave_front_end(input_shape, bands=bands, kernel_sizes=kernel_sizes,
                                     strides=strides, hop=hop, context_kernel=context_kernel)
    inputs = keras.Input(tuple(input_shape), name="wave")
    maps = front_end(inputs)  # (b, bands, frames, scales)
    features = features_fn(maps, weights=weights, **fixed, **backbone_kwargs)
    return assemble(inputs, features, n_classes, dropout, name or f"wave_{backbone}")


def build_wave_resnext(input_shape, n_classes: int, **kwargs) -> keras.Model:
    """Build Wave-ResNeXt: :func:`build_wave_model` with a ResNeXt-50 (32x4d) backbone.

    Args:
        input_shape: ``(samples,)``; the paper uses ``(66150,)``.
        n_classes: number of classes.
        **kwargs: front end, ResNeXt and head arguments of :func:`build_wave_model`.
    """
    return build_wave_model("resnext50", input_shape, n_classes, **kwargs)


def _lookup(backbone: str):
    """Return the :data:`WAVE_BACKBONES` entry of ``backbone`` or raise ModelError."""
    if backbone not in WAVE_BACKBONES:
        raise ModelError(f"unknown wave backbone {backbone!r}; "
                         f"valid: {', '.join(WAVE_BACKBONES)}")
    return WAVE_BACKBONES[backbone]


def _check_scales(kernel_sizes, strides, hop: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Check the per-scale kernel sizes and strides (same count, strides dividing hop)."""
    kernel_sizes = check_int_tuple("kernel_sizes", kernel_sizes)
    strides = check_int_tuple("strides", strides, length=len(kernel_sizes))
    bad = [s for s in strides if hop % s]
    if bad:
        raise ModelError(f"every stride must divide hop={hop}, received strides={strides!r}")
    return kernel_sizes, strides


def _scale(x, bands: int, kernel: int, stride: int, hop: int, context_kernel: int,
           frames: int, name: str):
    """One scale of the front end: ``(b, frames * hop, 1) -> (b, frames, bands, 1)``."""
    x = keras.layers.Conv1D(bands, kernel, strides=stride, padding="same", use_bias=False,
                            kernel_initializer="he_normal", name=f"{name}_conv1")(x)
    x = batch_norm(f"{name}_bn1")(x)
    x = keras.layers.ReLU(name=f"{name}_relu1")(x)  # (b, frames * hop / stride, bands)
    x = keras.layers.Conv1D(bands, context_kernel, padding="same", use_bias=False,
                            kernel_initializer="he_normal", name=f"{name}_conv2")(x)
    x = batch_norm(f"{name}_bn2")(x)
    x = keras.layers.ReLU(name=f"{name}_relu2")(x)
    x = keras.layers.MaxPooling1D(hop // stride, name=f"{name}_pool")(x)  # (b, frames, bands)
    return keras.layers.Reshape((frames, bands, 1), name=f"{name}_to_map")(x)
