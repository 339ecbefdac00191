"""``kerastag export``: a saved model with its front end inside, as SavedModel, ONNX or
LiteRT.

The artifact takes raw mono audio at the model's sample rate, ``(batch, samples)``
float32 in [-1, 1] with any number of samples, and returns what ``kerastag predict``
returns for it (:mod:`kerastag.models.deploy`). ``--out`` is a folder that receives the
artifact (:data:`ARTIFACTS`) and ``metadata.json``
(:mod:`kerastag.formats.export_metadata`). It is written in a temporary sibling folder
and renamed into place, so a failed export leaves nothing behind.

Keras' own ``model.export`` writes all three formats (ONNX through ``tf2onnx``, LiteRT
through TensorFlow's converter). LiteRT gets the CRNN with its GRUs unrolled over the
4 s window's frames: the GRU's loop otherwise needs TensorFlow's "select" ops, which the
LiteRT interpreter does not have.

:mod:`kerastag.export.runtimes` runs an exported folder in its own runtime and imports
no kerastag; the tests and ``benchmarks/inference.py`` use it.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

from kerastag.errors import ModelError
from kerastag.names import EXPORT_FORMATS

#: ``--format`` -> (Keras' export format, the artifact's name in the folder).
ARTIFACTS = {
    "saved_model": ("tf_saved_model", "saved_model"),
    "onnx": ("onnx", "model.onnx"),
    "litert": ("litert", "model.tflite"),
}

#: What the converters of each format need (the ``export`` extra).
CONVERTERS = {"saved_model": (), "onnx": ("tf2onnx", "onnx"), "litert": ()}


def check_format(fmt: str) -> str:
    """``fmt`` if it is one of :data:`ARTIFACTS`, else a one-line ModelError."""
    if fmt not in EXPORT_FORMATS:
        raise ModelError(f"unsupported export format {fmt!r}; choose one of "
                         f"{', '.join(ARTIFACTS)}")
    return fmt


def export_model(model_path: Path, fmt: str, out_dir: Path, *,
                 thresholds_path: Path | None = None, log=print) -> Path:
    """Export the saved model ``model_path`` to ``out_dir`` in format ``fmt``.

    Args:
        model_path: a paper-A CRNN or a paper-B network (``.keras`` written by
            ``kerastag run``).
        fmt: ``"saved_model"``, ``"onnx"`` or ``"litert"``.
        out_dir: the folder to create (an earlier kerastag export there is replaced).
        thresholds_path: per-tag thresholds for ``metadata.json`` (a thresholds file, or
            one number for every tag); by default the calibrated ones of the model's run
            (``kerastag calibrate``), if any.

    Returns:
        ``out_dir``.

    Raises:
        ModelError: unsupported format, a model without an in-graph front end (paper
            A's baselines), a missing converter, or a layer the format cannot hold.
    """
    from kerastag.export.build import deploy_model_for
    from kerastag.formats import export_metadata
    from kerastag.formats.thresholds import thresholds_for_model

    check_format(fmt)
    model_path, out_dir = Path(model_path), Path(out_dir)
    export_metadata.check_target(out_dir)
    _check_converters(fmt)
    deployed, info = deploy_model_for(model_path, for_litert=fmt == "litert")
    thresholds, _ = thresholds_for_model(model_path, info["classes"], thresholds_path)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        artifact = stage / ARTIFACTS[fmt][1]
        log(f"exporting {model_path.name} to {fmt} ...")
        _export(deployed, fmt, artifact)
        signature = export_metadata.read_signature(artifact, fmt)
        export_metadata.write_metadata(stage / export_metadata.METADATA_NAME, info, fmt=fmt,
                                       artifact=artifact.name, signature=signature,
                                       thresholds=thresholds, source=model_path)
        export_metadata.replace_folder(stage, out_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out_dir


def _export(deployed, fmt: str, artifact: Path) -> None:
    """Keras' ``model.export``; a conversion failure becomes one line naming the layer."""
    import keras

    signature = [keras.InputSpec(shape=(None, None), dtype="float32", name="audio")]
    try:
        with warnings.catch_warnings():  # tf2onnx's numpy 2 FutureWarnings, nothing to act on
            warnings.simplefilter("ignore", FutureWarning)
            deployed.export(str(artifact), format=ARTIFACTS[fmt][0], verbose=False,
                            input_signature=signature)
    except Exception as exc:  # converters raise anything; name what failed
        raise ModelError(f"{deployed.name}: the {fmt} converter cannot hold this model"
                         f"{_failing_layer(deployed, exc)} ({_first_line(exc)})") from None


def _failing_layer(deployed, exc: Exception) -> str:
    """`` (layer NAME)`` when the converter's message names one of the model's layers."""
    from kerastag.export.build import all_layers

    text = str(exc)
    for layer in all_layers(deployed):
        if f"/{layer.name}/" in text or f"'{layer.name}'" in text:
            return f" (layer {layer.name!r})"
    return ""


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__


def _check_converters(fmt: str) -> None:
    import importlib.util

    missing = [name for name in CONVERTERS[fmt] if importlib.util.find_spec(name) is None]
    if missing:
        raise ModelError(f"export to {fmt} needs {', '.join(missing)}; install it with "
                         f"pip install 'kerastag[export]'")
