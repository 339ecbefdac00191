"""The deployable Keras model of a saved model, and what ``metadata.json`` says of it."""

from __future__ import annotations

from pathlib import Path

from kerastag.errors import ModelError


def deploy_model_for(model_path: Path, *, unrolled_recurrence: bool = False):
    """``(deployed keras.Model, info)`` of a saved tagger or classifier whose family
    declares ``export`` (:mod:`kerastag.families`).

    ``info`` holds ``task``, ``family``, ``classes``, ``sample_rate``, ``features`` (the
    spec's ``to_dict()``), ``window_seconds``, ``frame_hop_seconds`` (taggers) and
    ``outputs`` (name -> meaning). ``unrolled_recurrence`` (the export format's): a
    tagger's recurrent layers unrolled over the window's frames (LiteRT).

    Raises:
        ModelError: not a kerastag Keras model, or of a family declaring no export (one
            line saying so).
    """
    from kerastag.formats.model_file import read_model_info

    model_info = read_model_info(model_path)
    task = model_info.task
    declared = _check_exportable(model_path, model_info)
    if task == "tagging":
        deployed, info = _tagger(model_path, model_info, declared, unrolled_recurrence)
    elif task == "classification":
        deployed, info = _classifier(model_path, model_info)
    else:
        raise ModelError(f"{model_path}: kerastag export takes paper-A taggers and paper-B "
                         f"networks; this model's task is {task!r}")
    _statistics_as_constants(deployed)
    return deployed, info


def _check_exportable(model_path: Path, model_info):
    """The model's family declaration; a one-line ModelError unless it declares ``export``.
    None for a paper-B file from before families were recorded (``family`` None), whose
    network, like every paper-B family, declares export."""
    from kerastag.errors import ConfigError
    from kerastag.families import family

    if model_info.family is None:
        return None
    try:
        declared = family(model_info.family, f"{model_path}: family")
    except ConfigError as exc:
        raise ModelError(str(exc)) from None
    if not declared.export:
        raise ModelError(f"{model_path}: {declared.export_refusal()}")
    return declared


def _statistics_as_constants(model) -> None:
    """Hold the statistics of every ``Normalization`` built from given values (the CRNN's
    ``input_norm``) as numpy arrays, which a trace embeds as constants.

    Keras builds them as eager tensors, which the traced function captures; tf2onnx (Keras'
    ONNX export) makes every captured non-variable tensor a graph input without a value,
    so the ONNX model asked for two more inputs beside ``audio``."""
    import keras
    import numpy as np

    for layer in all_layers(model):
        if isinstance(layer, keras.layers.Normalization) and layer.input_mean is not None:
            layer.mean = np.asarray(keras.ops.convert_to_numpy(layer.mean))
            layer.variance = np.asarray(keras.ops.convert_to_numpy(layer.variance))


def all_layers(model):
    """Every layer of ``model``, nested models' layers included (depth first)."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from all_layers(layer)


def _spec(model_info):
    from kerastag.config import features_from_data

    return features_from_data(model_info.features).spec()


def _tagger(model_path: Path, model_info, declared, unrolled_recurrence: bool):
    from kerastag.formats.model_file import load_model
    from kerastag.models.deploy import build_tagging_deploy_model, static_unrolled

    spec = _spec(model_info)
    model = load_model(model_path)
    window = int(round(model_info.chunk_seconds * spec.sample_rate))
    if unrolled_recurrence:
        model = static_unrolled(model, spec.n_frames(window))
    frames = declared.hook("frame_model")(model) if declared.events else None
    deployed = build_tagging_deploy_model(model, spec, window_samples=window, frame_model=frames)
    info = _info(model_info, spec, window_seconds=window / spec.sample_rate)
    info["frame_hop_seconds"] = spec.hop_length / spec.sample_rate
    info["outputs"] = {"clip": "(batch, classes) tag probabilities, the maximum over 4 s windows"}
    if frames is not None:
        info["outputs"] |= {
            "localization": "(batch, frames, classes) frame-level tag probabilities",
            "attention": "(batch, frames, classes) attention weights (sum to 1 per window)",
        }
    return deployed, info


def _classifier(model_path: Path, model_info):
    from kerastag.formats.model_file import load_model
    from kerastag.models.deploy import build_classification_deploy_model

    spec = _spec(model_info)
    deployed = build_classification_deploy_model(
        load_model(model_path), spec, length=model_info.excerpt, hop=model_info.hop,
        pad_value=model_info.pad_value)
    step = getattr(spec, "hop_length", 1) / spec.sample_rate
    info = _info(model_info, spec, window_seconds=model_info.excerpt * step)
    info["outputs"] = {"probabilities": "(batch, classes) class probabilities, the mean "
                                        "over the clip's windows"}
    return deployed, info


def _info(model_info, spec, *, window_seconds: float) -> dict:
    return {
        "task": model_info.task,
        "family": model_info.family,
        "classes": list(model_info.classes),
        "sample_rate": int(spec.sample_rate),
        "features": spec.to_dict(),
        "window_seconds": float(window_seconds),
        "row": model_info.row,
        "unit": model_info.unit,
    }
