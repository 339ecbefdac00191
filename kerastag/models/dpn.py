"""Dual Path Networks (Chen et al., NIPS 2017), a paper-B level-1 network.

A dual path block keeps two feature streams: a *residual* path of fixed width (features
re-used, added to) and a *densely connected* path that grows by ``inc`` channels per
block (new features, concatenated). Each block reads the concatenation of both paths and
runs pre-activation (BN -> ReLU -> conv) 1x1 -> grouped 3x3 -> 1x1 convolutions; the
last 1x1 gives ``width`` channels added to the residual path and ``inc`` channels
appended to the dense path. The first block of a stage projects the input (1x1 conv,
stride 2 from the second stage on) to a new residual path and a ``2 * inc`` dense path.

Variants follow the configurations of the Cadene ``pretrainedmodels`` DPNs
(:data:`DPN_VARIANTS`); DPN-68 is ``init_features=10`` (3x3 stem), ``k_r=128``,
``groups=32``, ``k_sec=(3, 4, 12, 3)``, ``inc_sec=(16, 32, 32, 64)``. Stage ``s`` has
residual width ``base_width * 2**s`` and grouped bottleneck width ``k_r * 2**s``. Each
variant value can be overridden (tiny networks for tests and demos). Both 1x1
convolutions whose outputs the reference splits into residual and dense parts are built
as two convolutions on the same pre-activation (same function, same parameter count,
no slicing layer). The head is BN -> ReLU on the concatenated paths, global average
pooling and a softmax Dense layer (the reference's test-time pooling is not used).

Layout: inputs are channels-last ``(mels, frames, channels)``, e.g. ``(64, 150, 3)``.
"""

from __future__ import annotations

import keras

from kerastag.errors import ModelError
from kerastag.models.backbone_utils import (
    BACKBONE_NAME, assemble, attach_backbone, batch_norm, check_head, check_input_shape,
    check_int, check_int_tuple, check_weights)
from kerastag.models.layers import GroupedConv2D

DPN_VARIANTS: dict[str, dict] = {
    "dpn68": dict(init_features=10, stem_kernel=3, k_r=128, groups=32, k_sec=(3, 4, 12, 3),
                  inc_sec=(16, 32, 32, 64), base_width=64),
    "dpn92": dict(init_features=64, stem_kernel=7, k_r=96, groups=32, k_sec=(3, 4, 20, 3),
                  inc_sec=(16, 32, 24, 128), base_width=256),
    "dpn98": dict(init_features=96, stem_kernel=7, k_r=160, groups=40, k_sec=(3, 6, 20, 3),
                  inc_sec=(16, 32, 32, 128), base_width=256),
    "dpn107": dict(init_features=128, stem_kernel=7, k_r=200, groups=50, k_sec=(4, 8, 20, 3),
                   inc_sec=(20, 64, 64, 128), base_width=256),
    "dpn131": dict(init_features=128, stem_kernel=7, k_r=160, groups=40, k_sec=(4, 8, 28, 3),
                   inc_sec=(16, 32, 32, 128), base_width=256),
}
_BN_EPSILON = 1e-3  # as the reference DPNs
_CONV_INIT = "he_normal"


def dpn_config(variant: str = "dpn68", **overrides) -> dict:
    """Return the checked configuration of ``variant`` with ``overrides`` (None = keep).

    Args:
        variant: a key of :data:`DPN_VARIANTS`.
        **overrides: ``init_features``, ``stem_kernel``, ``k_r``, ``groups``, ``k_sec``,
            ``inc_sec``, ``base_width``.

    Raises:
        ModelError: unknown variant or override, or a bad value.
    """
    if variant not in DPN_VARIANTS:
        raise ModelError(f"unknown DPN variant {variant!r}; valid: {', '.join(DPN_VARIANTS)}")
    config = dict(DPN_VARIANTS[variant])
    unknown = sorted(set(overrides) - set(config))
    if unknown:
        raise ModelError(f"unknown DPN argument(s) {unknown}; valid: {', '.join(config)}")
    config.update({key: value for key, value in overrides.items() if value is not None})
    for key in ("init_features", "stem_kernel", "k_r", "groups", "base_width"):
        check_int(key, config[key])
    config["k_sec"] = check_int_tuple("k_sec", config["k_sec"])
    config["inc_sec"] = check_int_tuple("inc_sec", config["inc_sec"], length=len(config["k_sec"]))
    if config["k_r"] % config["groups"]:
        raise ModelError(f"k_r must be a multiple of groups={config['groups']}, "
                         f"received k_r={config['k_r']}")
    return config


def dpn_backbone(input_shape, *, variant: str = "dpn68", name: str = BACKBONE_NAME,
                 **overrides) -> keras.Model:
    """Build the DPN feature extractor without classifier.

    Args:
        input_shape: ``(height, width, channels)``, e.g. ``(64, 150, 3)``.
        variant: a key of :data:`DPN_VARIANTS`.
        name: the model name.
        **overrides: values replacing the variant's (see :func:`dpn_config`).

    Returns:
        A model mapping ``(batch, height, width, channels)`` to pooled features
        ``(batch, base_width * 2**(S-1) + inc_sec[-1] * (k_sec[-1] + 2))`` (S stages).
    """
    shape = check_input_shape(input_shape, 3, "(height, width, channels)")
    cfg = dpn_config(variant, **overrides)
    inputs = keras.Input(shape, name="features_in")
    x = _stem(inputs, cfg["init_features"], cfg["stem_kernel"])  # (b, H/4, W/4, init)
    residual, dense = x, None
    for s, (n_blocks, inc) in enumerate(zip(cfg["k_sec"], cfg["inc_sec"])):
        for b in range(n_blocks):
            kind = "normal" if b else ("proj" if s == 0 else "down")
            residual, dense = _dual_path_block(
                residual, dense, kind=kind, bottleneck=cfg["k_r"] * 2 ** s,
                width=cfg["base_width"] * 2 ** s, inc=inc, groups=cfg["groups"],
                name=f"stage{s + 1}_block{b + 1}")
    x = keras.layers.Concatenate(name="final_concat")([residual, dense])
    x = batch_norm("final_bn", epsilon=_BN_EPSILON)(x)
    x = keras.layers.ReLU(name="final_relu")(x)
    features = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, features, name=name)


def dpn_features(x, *, weights=None, variant: str = "dpn68", **overrides):
    """Build a DPN backbone for the shape of ``x``, load ``weights`` and apply it.

    Args:
        x: a channels-last tensor ``(batch, height, width, channels)``.
        weights: None, or the path of a weights file saved from a backbone of the same
            architecture (``model.get_layer("backbone").save_weights(path)``).
        variant: a key of :data:`DPN_VARIANTS`.
        **overrides: values replacing the variant's (see :func:`dpn_config`).

    Returns:
        Pooled features ``(batch, features)``.
    """
    path = check_weights(weights)
    backbone = dpn_backbone(tuple(x.shape[1:]), variant=variant, **overrides)
    return attach_backbone(x, backbone, path, variant)


def build_dpn(input_shape, n_classes: int, *, variant: str = "dpn68",
              init_features: int | None = None, stem_kernel: int | None = None,
              k_r: int | None = None, groups: int | None = None, k_sec=None, inc_sec=None,
              base_width: int | None = None, dropout: float = 0.0, weights=None,
              name: str | None = None) -> keras.Model:
    """Build a Dual Path Network classifier, DPN-68 by default.

    Args:
        input_shape: ``(mels, frames, channels)``, e.g. ``(64, 150, 3)``.
        n_classes: number of classes of the softmax output.
        variant: ``"dpn68"`` (default), ``"dpn92"``, ``"dpn98"``, ``"dpn107"``, ``"dpn131"``.
        init_features: stem filters (None: the variant's; 10 for DPN-68).
        stem_kernel: stem kernel size (3 for DPN-68, 7 for the others).
        k_r: grouped bottleneck width of the first stage (doubles per stage).
        groups: groups of the 3x3 convolutions.
        k_sec: blocks per stage.
        inc_sec: dense-path growth per block, per stage.
        base_width: residual-path width of the first stage (doubles per stage).
        dropout: dropout rate before the classifier.
        weights: None (from scratch) or a path to a ``.weights.h5`` file saved from the
            backbone of the same architecture and input channels, e.g. converted ImageNet
            weights (``model.get_layer("backbone").save_weights(path)``).
        name: model name (default: the variant).

    Returns:
        A model mapping ``(batch, mels, frames, channels)`` to class probabilities
        ``(batch, n_classes)``.

    Raises:
        ModelError: a bad argument, ``weights="imagenet"``, or a weights file that does
            not match the architecture.
    """
    n_classes, dropout = check_head(n_classes, dropout)
    shape = check_input_shape(input_shape, 3, "(mels, frames, channels)")
    overrides = dict(init_features=init_features, stem_kernel=stem_kernel, k_r=k_r,
                     groups=groups, k_sec=k_sec, inc_sec=inc_sec, base_width=base_width)
    inputs = keras.Input(shape, name="spectrogram")
    features = dpn_features(inputs, weights=weights, variant=variant, **overrides)
    return assemble(inputs, features, n_classes, dropout, name or variant)


def _conv(filters: int, kernel: int, name: str, *, stride: int = 1,
          groups: int = 1) -> GroupedConv2D:
    """A bias-free, unpadded Conv2D."""
    return GroupedConv2D(filters, kernel, strides=stride, groups=groups, use_bias=False,
                         kernel_initializer=_CONV_INIT, name=name)


def _bn_relu(x, name: str):
    """Pre-activation: BatchNormalization then ReLU."""
    x = batch_norm(f"{name}_bn", epsilon=_BN_EPSILON)(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _stem(x, filters: int, kernel: int):
    """k x k/2 conv, BN, ReLU, 3x3/2 max pool: ``(b, H, W, C) -> (b, H/4, W/4, filters)``."""
    x = keras.layers.ZeroPadding2D(kernel // 2, name="stem_pad")(x)
    x = _conv(filters, kernel, "stem_conv", stride=2)(x)
    x = _bn_relu(x, "stem")
    x = keras.layers.ZeroPadding2D(1, name="stem_pool_pad")(x)  # zeros <= ReLU outputs
    return keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)


def _dual_path_block(residual, dense, *, kind: str, bottleneck: int, width: int, inc: int,
                     groups: int, name: str):
    """One dual path block.

    Args:
        residual: residual path ``(b, H, W, width)`` (any width for a projection block).
        dense: dense path ``(b, H, W, d)``, or None before the first block.
        kind: ``"proj"`` (new paths, stride 1), ``"down"`` (new paths, stride 2) or
            ``"normal"``.
        bottleneck: width of the grouped 3x3 convolution.
        width: residual path width.
        inc: dense path growth.
        groups: groups of the 3x3 convolution.
        name: layer name prefix.

    Returns:
        ``(residual (b, H', W', width), dense (b, H', W', d'))`` where ``d' = d + inc``,
        or ``3 * inc`` after a projection block.
    """
    x = residual if dense is None else keras.layers.Concatenate(name=f"{name}_concat")(
        [residual, dense])
    stride = 2 if kind == "down" else 1
    if kind != "normal":
        p = _bn_relu(x, f"{name}_proj")
        residual = _conv(width, 1, f"{name}_proj_res", stride=stride)(p)
        dense = _conv(2 * inc, 1, f"{name}_proj_dense", stride=stride)(p)
    y = _conv(bottleneck, 1, f"{name}_conv1")(_bn_relu(x, f"{name}_pre1"))
    y = keras.layers.ZeroPadding2D(1, name=f"{name}_pad2")(_bn_relu(y, f"{name}_pre2"))
    y = _conv(bottleneck, 3, f"{name}_conv2", stride=stride, groups=groups)(y)
    y = _bn_relu(y, f"{name}_pre3")
    out_res = _conv(width, 1, f"{name}_conv3_res")(y)
    out_dense = _conv(inc, 1, f"{name}_conv3_dense")(y)
    residual = keras.layers.Add(name=f"{name}_add")([residual, out_res])
    dense = keras.layers.Concatenate(name=f"{name}_dense")([dense, out_dense])
    return residual, dense
