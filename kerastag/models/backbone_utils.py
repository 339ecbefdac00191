"""Helpers shared by the paper-B level-1 networks (ResNeXt, DPN, applications, wave).

Argument checks that raise :class:`~kerastag.errors.ModelError` with one-line messages,
the classifier head every network ends with, and loading of backbone weights files.

A paper-B network is ``Input -> [front end / adapters] -> backbone -> head`` where the
backbone is a nested functional :class:`keras.Model` named ``"backbone"`` that maps the
network input (after adapters) to pooled features ``(batch, features)``. Weights files
(``weights=path``) are loaded into that nested backbone only, so the classifier head
(whose size depends on the class count) never has to match the file. A file for
``weights=`` is therefore made with::

    model.get_layer("backbone").save_weights("resnext50.weights.h5")
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras

from kerastag import checks
from kerastag.errors import ModelError

BACKBONE_NAME = "backbone"
WEIGHTS_SUFFIXES = (".weights.h5", ".h5", ".hdf5", ".keras")


def check_int(name: str, value: object, *, minimum: int = 1) -> int:
    """Return ``value`` if it is an integer (not a bool) >= ``minimum``, else raise ModelError."""
    return checks.check_int(name, value, minimum=minimum, error=ModelError)


def check_int_tuple(name: str, value: object, *, length: int | None = None,
                    minimum: int = 1) -> tuple[int, ...]:
    """Return ``value`` as a tuple of ints >= ``minimum`` (of ``length`` items if given)."""
    ok = isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0
    ok = ok and all(checks.is_int(v) and v >= minimum for v in value)
    if not ok or (length is not None and len(value) != length):
        size = f"{length} " if length is not None else "a non-empty sequence of "
        raise ModelError(f"{name}: expected {size}integers >= {minimum}, got {value!r}")
    return tuple(int(v) for v in value)


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a bool, else raise ModelError."""
    if not isinstance(value, bool):
        raise ModelError(f"{name} must be True or False, received {name}={value!r}")
    return value


def check_rate(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a number in [0, 1), else raise ModelError."""
    return checks.check_number(name, value, minimum=0, below=1, error=ModelError)


def check_input_shape(input_shape: object, rank: int, layout: str) -> tuple[int, ...]:
    """Return ``input_shape`` (without the batch axis) as a tuple of ``rank`` positive ints.

    Args:
        input_shape: the shape to check, e.g. ``(64, 150, 3)``.
        rank: the required number of axes.
        layout: the axes in words for the message, e.g. ``"(mels, frames, channels)"``.
    """
    ok = isinstance(input_shape, Sequence) and not isinstance(input_shape, str)
    ok = ok and len(input_shape) == rank
    ok = ok and all(checks.is_int(v) and v > 0 for v in input_shape)
    if not ok:
        raise ModelError(f"input_shape must be {rank} positive ints {layout}, "
                         f"received input_shape={input_shape!r}")
    return tuple(int(v) for v in input_shape)


def check_weights(weights: object) -> str | None:
    """Return ``weights`` as a path string, or None for training from scratch.

    Raises:
        ModelError: ``weights`` is ``"imagenet"`` (nothing is downloaded at run time),
            is not a path, has an unknown suffix, or names a missing file.
    """
    if weights is None:
        return None
    if weights == "imagenet":
        raise ModelError("weights='imagenet' is not downloaded at run time; give the path "
                         "to a local ImageNet weights file instead (e.g. the *_notop.h5 file)")
    if not isinstance(weights, (str, os.PathLike)):
        raise ModelError(f"weights must be None or a file path, received weights={weights!r}")
    path = os.fspath(weights)
    if not path.endswith(WEIGHTS_SUFFIXES):
        raise ModelError(f"weights file must end with one of {', '.join(WEIGHTS_SUFFIXES)}, "
                         f"received weights={path!r}")
    if not os.path.isfile(path):
        raise ModelError(f"weights file not found: {path!r}")
    return path


def load_backbone_weights(backbone: keras.Model, path: str, architecture: str) -> None:
    """Load a weights file into ``backbone``; a file of another architecture is a ModelError.

    ``.weights.h5`` / ``.keras`` files are matched by layer order (Keras 3 format);
    legacy ``.h5`` files (keras-applications ImageNet files) by topological order.

    Args:
        backbone: the built backbone model.
        path: a file accepted by :func:`check_weights`.
        architecture: the architecture in words for the message, e.g. ``"resnext50"``.

    Raises:
        ModelError: the file's layers or shapes do not match ``backbone``.
    """
    try:
        backbone.load_weights(path)
    except (ValueError, KeyError, OSError, TypeError, IndexError) as error:
        reason = " ".join(str(error).split())[:200]
        raise ModelError(f"weights file {path!r} does not match the {architecture} "
                         f"backbone: {reason}") from error


def attach_backbone(x, backbone: keras.Model, path: str | None, architecture: str):
    """Load the weights file ``path`` (if not None) into ``backbone`` and call it on ``x``.

    Args:
        x: the backbone input tensor.
        backbone: the backbone model.
        path: a path returned by :func:`check_weights`, or None.
        architecture: the architecture in words for error messages.

    Returns:
        The pooled features tensor ``(batch, features)``.
    """
    if path is not None:
        load_backbone_weights(backbone, path, architecture)
    return backbone(x)


def batch_norm(name: str, *, epsilon: float = 1e-5) -> keras.layers.BatchNormalization:
    """A channels-last BatchNormalization with PyTorch-like statistics (momentum 0.9)."""
    return keras.layers.BatchNormalization(axis=-1, momentum=0.9, epsilon=epsilon, name=name)


def classifier_head(features, n_classes: int, dropout: float):
    """Dropout (when ``dropout > 0``) then a softmax Dense layer named ``"predictions"``.

    Args:
        features: pooled features ``(batch, features)``.
        n_classes: number of classes.
        dropout: dropout rate before the Dense layer, in [0, 1).

    Returns:
        Class probabilities ``(batch, n_classes)`` in float32.
    """
    x = features
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.layers.Dense(n_classes, activation="softmax", dtype="float32",
                              name="predictions")(x)


def check_head(n_classes: object, dropout: object) -> tuple[int, float]:
    """Check the classifier arguments; return ``(n_classes, dropout)``."""
    return check_int("n_classes", n_classes), check_rate("dropout", dropout)


def assemble(inputs, features, n_classes: int, dropout: float, name: str) -> keras.Model:
    """Put the classifier head on ``features`` and return the whole network.

    Args:
        inputs: the ``keras.Input`` tensor of the network.
        features: pooled features ``(batch, features)`` computed from ``inputs``.
        n_classes: number of classes, checked by :func:`check_head`.
        dropout: dropout rate before the classifier, checked by :func:`check_head`.
        name: the model name.
    """
    return keras.Model(inputs, classifier_head(features, n_classes, dropout), name=name)
