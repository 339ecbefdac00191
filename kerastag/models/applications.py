"""Xception and ResNet-50 from :mod:`keras.applications` (paper-B level-1 networks).

The backbone is the Keras application with ``include_top=False, pooling="avg"``, nested
in the network under the name ``"backbone"``; a softmax Dense layer is the classifier.

Adapters put in front of the backbone (outside it, so ImageNet files still match it):

- **Resizing**: each application has a smallest input side (Xception 71, ResNet-50 32)
  and paper-B time-frequency inputs are ``(64, 150, 3)``, so an axis shorter than
  ``min_size`` is resized (bilinear, :class:`Resize2D` named ``"resize"``) to
  ``min_size``; longer axes are kept. ``(64, 150, 3)`` becomes ``(71, 150, 3)`` for
  Xception and is left as is for ResNet-50. (``keras.layers.Resizing`` is not used: its
  ``call(training=True)`` default leaks into the call context, so ``model(x)`` would run
  the backbone's BatchNormalization in training mode.)
- **Channel mapping**: ImageNet weights expect 3 input channels. When ``weights`` is
  given and the input has another number of channels, a trainable 1x1 ``Conv2D``
  (``"channel_map"``) maps them to 3 channels. Without weights the backbone takes the
  channels as they are.

ImageNet weights are never downloaded: ``weights`` is None (train from scratch) or the
path of a local file, e.g. keras-applications'
``xception_weights_tf_dim_ordering_tf_kernels_notop.h5`` or
``resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5``. No ImageNet input
preprocessing is applied (inputs are log-mel/MFCC features, normalised by the pipeline).
"""

from __future__ import annotations

import keras

from kerastag.errors import ModelError
from kerastag.models.backbone_utils import (
    BACKBONE_NAME, assemble, attach_backbone, check_head, check_input_shape, check_int,
    check_weights)

# name -> (constructor, smallest input side accepted by keras.applications)
APPLICATIONS = {
    "xception": (keras.applications.Xception, 71),
    "resnet50": (keras.applications.ResNet50, 32),
}


@keras.saving.register_keras_serializable(package="kerastag")
class Resize2D(keras.layers.Layer):
    """Resize the two spatial axes of channels-last images to a fixed size.

    Args:
        height: output height, in pixels.
        width: output width, in pixels.
        interpolation: ``"bilinear"`` (default), ``"nearest"``, ``"bicubic"``...
            (as :func:`keras.ops.image.resize`).
        **kwargs: standard :class:`keras.layers.Layer` arguments (``name``, ``dtype``).

    Input shape:
        ``(batch, H, W, channels)``.

    Output shape:
        ``(batch, height, width, channels)``.

    Raises:
        ModelError: ``height`` or ``width`` is not a positive int, or ``interpolation``
            is not a string.
    """

    def __init__(self, height: int, width: int, interpolation: str = "bilinear", **kwargs):
        super().__init__(**kwargs)
        self.height = check_int("height", height)
        self.width = check_int("width", width)
        if not isinstance(interpolation, str):
            raise ModelError(f"interpolation must be a string, "
                             f"received interpolation={interpolation!r}")
        self.interpolation = interpolation

    def call(self, inputs):
        return keras.ops.image.resize(inputs, (self.height, self.width),
                                      interpolation=self.interpolation,
                                      data_format="channels_last")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[-1])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(height=self.height, width=self.width, interpolation=self.interpolation)
        return config


def application_backbone(architecture: str, input_shape) -> keras.Model:
    """Build a headless, average-pooled Keras application without weights.

    Args:
        architecture: a key of :data:`APPLICATIONS`.
        input_shape: ``(height, width, channels)``, each side >= the application minimum.

    Returns:
        A model named ``"backbone"`` mapping ``(batch, height, width, channels)`` to
        ``(batch, 2048)`` features.
    """
    constructor, _ = _lookup(architecture)
    return constructor(include_top=False, weights=None, input_shape=tuple(input_shape),
                       pooling="avg", name=BACKBONE_NAME)


def application_features(x, architecture: str, *, weights=None, min_size: int | None = None):
    """Adapt ``x`` (resize, channel map), build the application and apply it.

    Args:
        x: a channels-last tensor ``(batch, height, width, channels)``.
        architecture: a key of :data:`APPLICATIONS`.
        weights: None or the path of a weights file of the headless application.
        min_size: smallest side fed to the backbone (default and minimum: the
            application's, 71 for Xception, 32 for ResNet-50).

    Returns:
        Pooled features ``(batch, 2048)``.

    Raises:
        ModelError: bad ``min_size`` or weights (see :func:`build_xception`).
    """
    _, smallest = _lookup(architecture)
    path = check_weights(weights)
    min_size = smallest if min_size is None else check_int("min_size", min_size, minimum=smallest)
    height, width, channels = x.shape[1:]
    if height < min_size or width < min_size:
        size = (max(height, min_size), max(width, min_size))
        x = Resize2D(*size, name="resize")(x)  # (b, max(H, min), max(W, min), C)
    if path is not None and channels != 3:
        x = keras.layers.Conv2D(3, 1, name="channel_map")(x)  # (b, H, W, 3)
    backbone = application_backbone(architecture, x.shape[1:])
    return attach_backbone(x, backbone, path, architecture)


def build_application(architecture: str, input_shape, n_classes: int, *, weights=None,
                      min_size: int | None = None, dropout: float = 0.0,
                      name: str | None = None) -> keras.Model:
    """Build a classifier on a Keras application backbone (see :func:`build_xception`)."""
    _lookup(architecture)
    n_classes, dropout = check_head(n_classes, dropout)
    shape = check_input_shape(input_shape, 3, "(mels, frames, channels)")
    inputs = keras.Input(shape, name="spectrogram")
    features = application_features(inputs, architecture, weights=weights, min_size=min_size)
    return assemble(inputs, features, n_classes, dropout, name or architecture)


def build_xception(input_shape, n_classes: int, *, weights=None, min_size: int = 71,
                   dropout: float = 0.0, name: str = "xception") -> keras.Model:
    """Build an Xception classifier (Chollet 2017) for time-frequency inputs.

    Args:
        input_shape: ``(mels, frames, channels)``, e.g. ``(64, 150, 3)``; axes shorter
            than ``min_size`` are resized to ``min_size`` inside the model.
        n_classes: number of classes of the softmax output.
        weights: None (from scratch) or the path of a local ImageNet weights file of the
            headless Xception (``..._notop.h5``). ``"imagenet"`` is refused.
        min_size: smallest side fed to the backbone, >= 71.
        dropout: dropout rate before the classifier.
        name: model name.

    Returns:
        A model mapping ``(batch, mels, frames, channels)`` to class probabilities
        ``(batch, n_classes)``.

    Raises:
        ModelError: a bad argument, ``weights="imagenet"``, a missing weights file, or a
            weights file that does not match Xception (the message names the file).
    """
    return build_application("xception", input_shape, n_classes, weights=weights,
                             min_size=min_size, dropout=dropout, name=name)


def build_resnet50(input_shape, n_classes: int, *, weights=None, min_size: int = 32,
                   dropout: float = 0.0, name: str = "resnet50") -> keras.Model:
    """Build a ResNet-50 classifier (He et al. 2016) for time-frequency inputs.

    Args:
        input_shape: ``(mels, frames, channels)``, e.g. ``(64, 150, 3)``; axes shorter
            than ``min_size`` are resized to ``min_size`` inside the model.
        n_classes: number of classes of the softmax output.
        weights: None (from scratch) or the path of a local ImageNet weights file of the
            headless ResNet-50 (``..._notop.h5``). ``"imagenet"`` is refused.
        min_size: smallest side fed to the backbone, >= 32.
        dropout: dropout rate before the classifier.
        name: model name.

    Returns:
        A model mapping ``(batch, mels, frames, channels)`` to class probabilities
        ``(batch, n_classes)``.

    Raises:
        ModelError: a bad argument, ``weights="imagenet"``, a missing weights file, or a
            weights file that does not match ResNet-50 (the message names the file).
    """
    return build_application("resnet50", input_shape, n_classes, weights=weights,
                             min_size=min_size, dropout=dropout, name=name)


def _lookup(architecture: str):
    """Return ``(constructor, smallest side)`` of ``architecture`` or raise ModelError."""
    if architecture not in APPLICATIONS:
        raise ModelError(f"unknown application {architecture!r}; "
                         f"valid: {', '.join(APPLICATIONS)}")
    return APPLICATIONS[architecture]
