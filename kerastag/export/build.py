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
    from kerastag.formats.model_file import read_metadata

    metadata = read_metadata(model_path, required=("task", "classes", "features"))
    task = metadata["task"]
    declared = _check_exportable(model_path, metadata)
    if task == "tagging":
        deployed, info = _tagger(model_path, metadata, declared, unrolled_recurrence)
    elif task == "classification":
        deployed, info = _classifier(model_path, metadata)
    else:
        raise ModelError(f"{model_path}: kerastag export takes paper-A taggers and paper-B "
                         f"networks; this model's task is {task!r}")
    _statistics_as_constants(deployed)
    return deployed, info


def _check_exportable(model_path: Path, metadata: dict):
    """The model's family declaration; a one-line ModelError unless it declares ``export``."""
    from kerastag.errors import ConfigError
    from kerastag.families import family

    try:
        declared = family(metadata.get("family", "crnn_attloc"), f"{model_path}: family")
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


def _spec(metadata):
    from kerastag.config import features_from_data

    return features_from_data(metadata["features"]).spec()


def _tagger(model_path: Path, metadata: dict, declared, unrolled_recurrence: bool):
    from kerastag.formats.model_file import load_model
    from kerastag.models.deploy import build_tagging_deploy_model, static_unrolled

    spec = _spec(metadata)
    model = load_model(model_path)
    window = int(round(metadata.get("chunk_seconds", 4.0) * spec.sample_rate))
    if unrolled_recurrence:
        model = static_unrolled(model, spec.n_frames(window))
    frames = declared.hook("frame_model")(model) if declared.events else None
    deployed = build_tagging_deploy_model(model, spec, window_samples=window, frame_model=frames)
    info = _info(metadata, spec, window_seconds=window / spec.sample_rate)
    info["frame_hop_seconds"] = spec.hop_length / spec.sample_rate
    info["outputs"] = {"clip": "(batch, classes) tag probabilities, the maximum over 4 s windows"}
    if frames is not None:
        info["outputs"] |= {
            "localization": "(batch, frames, classes) frame-level tag probabilities",
            "attention": "(batch, frames, classes) attention weights (sum to 1 per window)",
        }
    return deployed, info


def _classifier(model_path: Path, metadata: dict):
    from kerastag.formats.model_file import load_model, require_keys
    from kerastag.models.deploy import build_classification_deploy_model

    require_keys(model_path, metadata, ("excerpt", "hop", "pad_value"))
    spec = _spec(metadata)
    deployed = build_classification_deploy_model(
        load_model(model_path), spec, length=metadata["excerpt"], hop=metadata["hop"],
        pad_value=metadata["pad_value"])
    step = getattr(spec, "hop_length", 1) / spec.sample_rate
    info = _info(metadata, spec, window_seconds=metadata["excerpt"] * step)
    info["outputs"] = {"probabilities": "(batch, classes) class probabilities, the mean "
                                        "over the clip's windows"}
    return deployed, info


def _info(metadata: dict, spec, *, window_seconds: float) -> dict:
    return {
        "task": metadata["task"],
        "family": metadata.get("family"),
        "classes": list(metadata["classes"]),
        "sample_rate": int(spec.sample_rate),
        "features": spec.to_dict(),
        "window_seconds": float(window_seconds),
        "row": metadata.get("row"),
        "unit": metadata.get("unit"),
    }
