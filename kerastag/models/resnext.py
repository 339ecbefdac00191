"""ResNeXt and SE-ResNeXt (paper B level-1 networks) for channels-last inputs.

ResNeXt (Xie et al., CVPR 2017) stacks bottleneck blocks whose 3x3 convolution is split
into ``cardinality`` groups (``Conv2D(groups=cardinality)``). ResNeXt-50 (32x4d) is
``blocks=(3, 4, 6, 3), cardinality=32, bottleneck_width=4, stem_filters=64``; with
``se=True`` every block gets a squeeze-and-excitation unit (Hu et al. 2018) before the
residual addition, giving SE-ResNeXt-50.

Widths of stage ``s`` (``s = 0, 1, ...``, one stage per entry of ``blocks``):

- grouped 3x3 width ``cardinality * bottleneck_width * 2**s`` (128, 256, 512, 1024 for
  32x4d), i.e. ``cardinality`` groups of ``bottleneck_width * 2**s`` channels;
- block output ``4 * stem_filters * 2**s`` (256, 512, 1024, 2048 for the default stem of
  64), the ResNet expansion of 4 scaled by ``stem_filters / 64``.

Small networks for tests and demos shrink ``stem_filters``, ``cardinality``,
``bottleneck_width`` and ``blocks``. The stem is a 7x7/2 convolution and a 3x3/2 max
pool; stages 2.. halve the resolution in the grouped 3x3 convolution of their first block
(as in the paper); padding is explicit (``ZeroPadding2D``) so the arithmetic matches
the PyTorch reference models. The network ends with global average pooling and a
softmax Dense layer.

Layout: inputs are channels-last ``(mels, frames, channels)``, e.g. ``(64, 150, 3)`` for
log-mel + delta + delta-delta; any spatial size >= 1 works.
"""

from __future__ import annotations

import keras

from kerastag.models.backbone_utils import (
    BACKBONE_NAME, assemble, attach_backbone, batch_norm, check_bool, check_head,
    check_input_shape, check_int, check_int_tuple, check_weights)
from kerastag.models.layers import GroupedConv2D

RESNEXT50_BLOCKS = (3, 4, 6, 3)
_CONV_INIT = "he_normal"


def resnext_widths(n_stages: int, cardinality: int, bottleneck_width: int,
                   stem_filters: int) -> list[tuple[int, int]]:
    """Return ``(grouped_width, output_filters)`` for each stage (see the module doc)."""
    return [(cardinality * bottleneck_width * 2 ** s, 4 * stem_filters * 2 ** s)
            for s in range(n_stages)]


def resnext_depth(blocks) -> int:
    """Weighted-layer depth: 3 per bottleneck block + stem conv + classifier (50 by default)."""
    return 3 * sum(blocks) + 2


def resnext_backbone(input_shape, *, blocks=RESNEXT50_BLOCKS, cardinality: int = 32,
                     bottleneck_width: int = 4, stem_filters: int = 64, se: bool = False,
                     se_ratio: int = 16, name: str = BACKBONE_NAME) -> keras.Model:
    """Build the (SE-)ResNeXt feature extractor without classifier.

    Args:
        input_shape: ``(height, width, channels)``, e.g. ``(64, 150, 3)``.
        blocks: bottleneck blocks per stage.
        cardinality: number of groups of the 3x3 convolutions.
        bottleneck_width: channels per group in the first stage.
        stem_filters: filters of the stem convolution (64 in the paper); sets block outputs.
        se: add a squeeze-and-excitation unit to every block.
        se_ratio: channel reduction of the squeeze-and-excitation units.
        name: the model name.

    Returns:
        A model mapping ``(batch, height, width, channels)`` to pooled features
        ``(batch, 4 * stem_filters * 2**(len(blocks) - 1))``.

    Raises:
        ModelError: an argument has the wrong type or value.
    """
    shape = check_input_shape(input_shape, 3, "(height, width, channels)")
    blocks = check_int_tuple("blocks", blocks)
    widths = resnext_widths(len(blocks), check_int("cardinality", cardinality),
                            check_int("bottleneck_width", bottleneck_width),
                            check_int("stem_filters", stem_filters))
    se_ratio = check_int("se_ratio", se_ratio) if check_bool("se", se) else 0
    inputs = keras.Input(shape, name="features_in")
    x = _stem(inputs, stem_filters)  # (batch, H/4, W/4, stem_filters)
    for s, (n_blocks, (width, filters)) in enumerate(zip(blocks, widths)):
        for b in range(n_blocks):
            stride = 2 if s > 0 and b == 0 else 1
            x = _bottleneck(x, width=width, filters=filters, cardinality=cardinality,
                            stride=stride, se_ratio=se_ratio, name=f"stage{s + 1}_block{b + 1}")
    features = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)  # (batch, filters)
    return keras.Model(inputs, features, name=name)


def resnext_features(x, *, weights=None, **kwargs):
    """Build a ResNeXt backbone for the shape of ``x``, load ``weights`` and apply it.

    Args:
        x: a channels-last tensor ``(batch, height, width, channels)``.
        weights: None, or the path of a weights file saved from a backbone of the same
            architecture (``model.get_layer("backbone").save_weights(path)``).
        **kwargs: arguments of :func:`resnext_backbone`.

    Returns:
        Pooled features ``(batch, features)``.
    """
    path = check_weights(weights)
    backbone = resnext_backbone(tuple(x.shape[1:]), **kwargs)
    return attach_backbone(x, backbone, path, _architecture(kwargs))


def build_resnext(input_shape, n_classes: int, *, blocks=RESNEXT50_BLOCKS, cardinality: int = 32,
                  bottleneck_width: int = 4, stem_filters: int = 64, se: bool = False,
                  se_ratio: int = 16, dropout: float = 0.0, weights=None,
                  name: str | None = None) -> keras.Model:
    """Build a (SE-)ResNeXt classifier, ResNeXt-50 (32x4d) by default.

    Args:
        input_shape: ``(mels, frames, channels)``, e.g. ``(64, 150, 3)``.
        n_classes: number of classes of the softmax output.
        blocks: bottleneck blocks per stage (``(3, 4, 6, 3)``: 50 layers).
        cardinality: groups of the 3x3 convolutions (32).
        bottleneck_width: channels per group in the first stage (4).
        stem_filters: stem filters (64); block outputs are ``4 * stem_filters * 2**s``.
        se: squeeze-and-excitation on every block (SE-ResNeXt).
        se_ratio: squeeze-and-excitation channel reduction (16).
        dropout: dropout rate before the classifier.
        weights: None (from scratch) or a path to a ``.weights.h5`` file saved from the
            backbone of the same architecture and input channels, e.g. converted ImageNet
            weights (``model.get_layer("backbone").save_weights(path)``).
        name: model name; default ``"resnext50"`` / ``"se_resnext50"`` (depth from ``blocks``).

    Returns:
        A model mapping ``(batch, mels, frames, channels)`` to class probabilities
        ``(batch, n_classes)``.

    Raises:
        ModelError: a bad argument, ``weights="imagenet"``, or a weights file that does
            not match the architecture.
    """
    n_classes, dropout = check_head(n_classes, dropout)
    shape = check_input_shape(input_shape, 3, "(mels, frames, channels)")
    kwargs = dict(blocks=blocks, cardinality=cardinality, bottleneck_width=bottleneck_width,
                  stem_filters=stem_filters, se=se, se_ratio=se_ratio)
    inputs = keras.Input(shape, name="spectrogram")
    features = resnext_features(inputs, weights=weights, **kwargs)
    return assemble(inputs, features, n_classes, dropout, name or _architecture(kwargs))


def build_se_resnext(input_shape, n_classes: int, **kwargs) -> keras.Model:
    """Build an SE-ResNeXt classifier: :func:`build_resnext` with ``se=True``."""
    return build_resnext(input_shape, n_classes, se=True, **kwargs)


def _architecture(kwargs: dict) -> str:
    """Name of the architecture, e.g. ``"se_resnext50"``, from backbone keyword arguments."""
    prefix = "se_" if kwargs.get("se", False) else ""
    blocks = kwargs.get("blocks", RESNEXT50_BLOCKS)
    depth = resnext_depth(blocks) if isinstance(blocks, (list, tuple)) else ""
    return f"{prefix}resnext{depth}"


def _conv(filters: int, kernel: int, name: str, *, stride: int = 1, groups: int = 1,
          padding: str = "valid") -> GroupedConv2D:
    """A bias-free Conv2D (a BatchNormalization follows it)."""
    return GroupedConv2D(filters, kernel, strides=stride, padding=padding, groups=groups,
                         use_bias=False, kernel_initializer=_CONV_INIT, name=name)


def _stem(x, filters: int):
    """7x7/2 conv, BN, ReLU, 3x3/2 max pool: ``(b, H, W, C) -> (b, H/4, W/4, filters)``."""
    x = keras.layers.ZeroPadding2D(3, name="stem_pad")(x)
    x = _conv(filters, 7, "stem_conv", stride=2)(x)
    x = batch_norm("stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.ZeroPadding2D(1, name="stem_pool_pad")(x)  # zeros <= ReLU outputs
    return keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)


def _bottleneck(x, *, width: int, filters: int, cardinality: int, stride: int, se_ratio: int,
                name: str):
    """ResNeXt block: 1x1 -> grouped 3x3 (stride) -> 1x1 [-> SE] + shortcut -> ReLU.

    ``(b, H, W, C) -> (b, H/stride, W/stride, filters)``.
    """
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _conv(filters, 1, f"{name}_proj_conv", stride=stride)(x)
        shortcut = batch_norm(f"{name}_proj_bn")(shortcut)
    y = _conv(width, 1, f"{name}_conv1")(x)
    y = batch_norm(f"{name}_bn1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = keras.layers.ZeroPadding2D(1, name=f"{name}_pad2")(y)
    y = _conv(width, 3, f"{name}_conv2", stride=stride, groups=cardinality)(y)
    y = batch_norm(f"{name}_bn2")(y)
    y = keras.layers.ReLU(name=f"{name}_relu2")(y)
    y = _conv(filters, 1, f"{name}_conv3")(y)
    y = batch_norm(f"{name}_bn3")(y)
    if se_ratio:
        y = squeeze_excite(y, se_ratio, name=f"{name}_se")
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def squeeze_excite(x, ratio: int, *, name: str):
    """Squeeze-and-excitation: scale each channel of ``x`` by a learned gate in (0, 1).

    Global average pool -> 1x1 conv (``channels // ratio``, ReLU) -> 1x1 conv
    (``channels``, sigmoid) -> multiply. ``(b, H, W, C) -> (b, H, W, C)``.
    """
    channels = x.shape[-1]
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = keras.layers.Conv2D(max(1, channels // ratio), 1, activation="relu",
                            name=f"{name}_reduce")(s)
    s = keras.layers.Conv2D(channels, 1, activation="sigmoid", name=f"{name}_expand")(s)
    return keras.layers.Multiply(name=f"{name}_scale")([x, s])
