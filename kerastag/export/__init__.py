"""``kerastag export``: a saved model with its front end inside, as SavedModel, ONNX or
LiteRT (or a format a plug-in registers).

The artifact takes raw mono audio at the model's sample rate, ``(batch, samples)``
float32 in [-1, 1] with any number of samples, and returns what ``kerastag predict``
returns for it (:mod:`kerastag.models.deploy`). ``--out`` is a folder that receives the
artifact and ``metadata.json`` (:mod:`kerastag.formats.export_metadata`). It is written in
a temporary sibling folder and renamed into place, so a failed export leaves nothing
behind.

A format is one entry of :data:`kerastag.names.EXPORT_FORMATS`: its artifact's name, its
converter (:mod:`kerastag.export.converters`: Keras' own ``model.export``, ONNX through
``tf2onnx``, LiteRT through TensorFlow's converter), its signature reader
(:mod:`kerastag.export.signatures`) and its runtime loader. LiteRT's entry asks for the
CRNN with its GRUs unrolled over the 4 s window's frames: the GRU's loop otherwise needs
TensorFlow's "select" ops, which the LiteRT interpreter does not have.

:mod:`kerastag.export.runtimes` runs a built-in format's folder in its own runtime and
imports no kerastag; :func:`load_export` runs any registered format's folder.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from kerastag.errors import ModelError
from kerastag.names import EXPORT_FORMATS, ExportFormat, resolve, unknown_name


def export_format(fmt: str) -> ExportFormat:
    """The registered format ``fmt``, else a one-line ModelError naming the nearest."""
    if fmt not in EXPORT_FORMATS:
        raise ModelError(unknown_name("export format", fmt, EXPORT_FORMATS))
    return EXPORT_FORMATS[fmt]


def export_model(model_path: Path, fmt: str, out_dir: Path, *,
                 thresholds_path: Path | None = None, log=print) -> Path:
    """Export the saved model ``model_path`` to ``out_dir`` in format ``fmt``.

    Args:
        model_path: a paper-A CRNN or a paper-B network (``.keras`` written by
            ``kerastag run``).
        fmt: a key of :data:`kerastag.names.EXPORT_FORMATS` (``"saved_model"``,
            ``"onnx"``, ``"litert"``).
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
    from kerastag.formats.thresholds import kinds_for_model

    entry = export_format(fmt)
    model_path, out_dir = Path(model_path), Path(out_dir)
    export_metadata.check_target(out_dir)
    _check_converters(fmt, entry)
    deployed, info = deploy_model_for(model_path, unrolled_recurrence=entry.unrolled_recurrence)
    thresholds, frame = kinds_for_model(model_path, info["classes"], thresholds_path)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        artifact = stage / entry.artifact
        log(f"exporting {model_path.name} to {fmt} ...")
        _export(deployed, fmt, entry, artifact)
        signature = resolve(entry.signature)(artifact)
        export_metadata.write_metadata(stage / export_metadata.METADATA_NAME, info, fmt=fmt,
                                       artifact=artifact.name, signature=signature,
                                       thresholds=thresholds, source=model_path,
                                       frame_decisions=None if frame is None else frame.decisions)
        export_metadata.replace_folder(stage, out_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out_dir


def load_export(folder: Path, *, threads: int | None = None):
    """``run(audio (batch, samples) float32) -> {output name: array}`` of an export folder,
    by the runtime loader of the format its ``metadata.json`` names."""
    folder = Path(folder)
    metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    entry = export_format(metadata["export_format"])
    return resolve(entry.runtime)(folder / metadata["artifact"], metadata["signature"], threads)


def _export(deployed, fmt: str, entry: ExportFormat, artifact: Path) -> None:
    """The format's converter; a conversion failure becomes one line naming the layer."""
    try:
        resolve(entry.convert)(deployed, artifact)
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


def _check_converters(fmt: str, entry: ExportFormat) -> None:
    import importlib.util

    missing = [name for name in entry.requires if importlib.util.find_spec(name) is None]
    if missing:
        raise ModelError(f"export to {fmt} needs {', '.join(missing)}; install it with "
                         f"pip install 'kerastag[export]'")
