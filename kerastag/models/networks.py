"""Registry of the paper-B level-1 networks (DCASE 2018 Task 2 meta-learning ensemble).

Every entry of :data:`NETWORKS` is a builder ``(input_shape, n_classes, **kwargs) ->
keras.Model`` ending in a softmax over ``n_classes``. The kind of input is taken from
``input_shape``:

- ``(mels, frames, channels)``, e.g. ``(64, 150, 3)`` (log-mel or MFCC + delta +
  delta-delta): the time-frequency network (:func:`~kerastag.models.resnext.build_resnext`,
  :func:`~kerastag.models.dpn.build_dpn`, :func:`~kerastag.models.applications.build_xception`,
  :func:`~kerastag.models.applications.build_resnet50`);
- ``(samples,)``, e.g. ``(66150,)`` (raw wave): the learned multi-scale front end then the
  same backbone (:func:`~kerastag.models.wave.build_wave_model`); ``"wave_resnext"`` takes
  only waves.

``input_kind="time_frequency"`` or ``"wave"`` may be passed to state the kind; it must
agree with the shape. The paper's five stacked models are ``resnext50`` on log-mel,
``resnext50`` on the wave (``wave_resnext``), ``resnet50`` on log-mel, ``resnet50`` on
the wave, and ``dpn68`` (paper: "DPN") on log-mel.

Saved ``.keras`` models of these networks contain built-in Keras layers and kerastag's
registered ones (``Resize2D``, ``GroupedConv2D``), so they load with
:func:`keras.saving.load_model` (``safe_mode=True``) after ``import kerastag`` and no
``custom_objects``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import keras

from kerastag.errors import ModelError
from kerastag.models.applications import build_resnet50, build_xception
from kerastag.models.dpn import build_dpn
from kerastag.models.resnext import build_resnext
from kerastag.models.wave import build_wave_model, build_wave_resnext

INPUT_KINDS = ("time_frequency", "wave")


def input_kind_of(input_shape, input_kind: str | None = None) -> str:
    """Return ``"wave"`` for ``(samples,)`` shapes, ``"time_frequency"`` for 3-axis shapes.

    Args:
        input_shape: the network input shape without the batch axis.
        input_kind: None, or the expected kind (checked against the shape).

    Raises:
        ModelError: the shape has another rank, or does not match ``input_kind``.
    """
    if input_kind is not None and input_kind not in INPUT_KINDS:
        raise ModelError(f"input_kind must be one of {', '.join(INPUT_KINDS)}, "
                         f"received input_kind={input_kind!r}")
    rank = len(input_shape) if isinstance(input_shape, (list, tuple)) else None
    kind = {1: "wave", 3: "time_frequency"}.get(rank)
    if kind is None or (input_kind is not None and input_kind != kind):
        expected = {"wave": "(samples,)", "time_frequency": "(mels, frames, channels)"}
        wanted = expected[input_kind] if input_kind else "(samples,) or (mels, frames, channels)"
        raise ModelError(f"input_shape must be {wanted}, received input_shape={input_shape!r}")
    return kind


def _either_input(backbone: str, build_time_frequency: Callable[..., keras.Model],
                  **fixed) -> Callable[..., keras.Model]:
    """Make the NETWORKS builder of ``backbone``: time-frequency or wave by input shape."""
    parameters = inspect.signature(build_time_frequency).parameters.values()
    accepted = [p.name for p in parameters if p.kind is p.KEYWORD_ONLY and p.name not in fixed]

    def build(input_shape, n_classes: int, *, input_kind: str | None = None,
              **kwargs) -> keras.Model:
        if input_kind_of(input_shape, input_kind) == "wave":
            return build_wave_model(backbone, input_shape, n_classes, **kwargs)
        _check_kwargs(backbone, kwargs, accepted)
        return build_time_frequency(input_shape, n_classes, **fixed, **kwargs)

    build.__name__ = build.__qualname__ = f"build_{backbone}_network"
    build.__doc__ = (f"Build the paper-B {backbone} network for a time-frequency "
                     f"(mels, frames, channels) or wave (samples,) input_shape; keyword "
                     f"arguments go to {build_time_frequency.__name__} or build_wave_model.")
    return build


def _check_kwargs(backbone: str, kwargs: dict, accepted: list[str]) -> None:
    """Raise ModelError naming any keyword argument not in ``accepted``."""
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ModelError(f"unknown argument(s) {unknown} for the time-frequency {backbone} "
                         f"network; valid: {', '.join(accepted)}")


def _wave_only(input_shape, n_classes: int, *, input_kind: str | None = None,
               **kwargs) -> keras.Model:
    """Build Wave-ResNeXt; ``input_shape`` must be ``(samples,)``."""
    input_kind_of(input_shape, input_kind or "wave")
    return build_wave_resnext(input_shape, n_classes, **kwargs)


NETWORKS: dict[str, Callable[..., keras.Model]] = {
    "xception": _either_input("xception", build_xception),
    "resnet50": _either_input("resnet50", build_resnet50),
    "resnext50": _either_input("resnext50", build_resnext),
    "se_resnext50": _either_input("se_resnext50", build_resnext, se=True),
    "dpn68": _either_input("dpn68", build_dpn, variant="dpn68"),
    "dpn92": _either_input("dpn92", build_dpn, variant="dpn92"),
    "wave_resnext": _wave_only,
}


def build_network(name: str, input_shape, n_classes: int, **kwargs) -> keras.Model:
    """Build the paper-B network ``name`` (a key of :data:`NETWORKS`).

    Args:
        name: network name, e.g. ``"resnext50"``.
        input_shape: ``(mels, frames, channels)`` or ``(samples,)``.
        n_classes: number of classes (41 for FSDKaggle2018).
        **kwargs: builder arguments (widths, ``dropout``, ``weights``, ``input_kind``...).

    Returns:
        The network, mapping inputs to class probabilities ``(batch, n_classes)``.

    Raises:
        ModelError: unknown ``name`` (the message lists the valid names) or bad arguments.

    Examples:
        A small ResNeXt (one block per stage, cardinality 4) on log-mel + deltas, and the
        same backbone behind the learned wave front end on 0.5 s at 44.1 kHz:

        >>> build_network("resnext50", (64, 150, 3), 41, blocks=(1, 1, 1, 1),
        ...               cardinality=4, stem_filters=16).output_shape
        (None, 41)
        >>> build_network("wave_resnext", (22050,), 41, blocks=(1, 1, 1, 1),
        ...               cardinality=4, stem_filters=16).output_shape
        (None, 41)
        >>> build_network("vgg", (64, 150, 3), 41)
        Traceback (most recent call last):
        ...
        kerastag.errors.ModelError: unknown network 'vgg'; valid: xception, resnet50, ...
    """
    if name not in NETWORKS:
        raise ModelError(f"unknown network {name!r}; valid: {', '.join(NETWORKS)}")
    return NETWORKS[name](input_shape, n_classes, **kwargs)
