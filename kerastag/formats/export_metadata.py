"""``metadata.json`` of an exported model folder (``kerastag export``): the writer, and
the check that a folder holds an earlier export. Deployments read the file with
:mod:`kerastag.export.runtimes`, which must not import kerastag.

An export folder holds one artifact (``saved_model/``, ``model.onnx`` or
``model.tflite``) and ``metadata.json``::

    {"format": "kerastag-export", "version": 1, "kerastag_version": "0.2.0",
     "export_format": "onnx", "artifact": "model.onnx",
     "task": "tagging", "family": "crnn_attloc", "classes": ["c", "m", ...],
     "sample_rate": 16000, "window_seconds": 4.0, "frame_hop_seconds": 0.032,
     "features": {...}, "thresholds": {"c": 0.41, ...} or null,
     "signature": {"inputs": [{"name": "audio", "shape": [null, null], "dtype": "float32"}],
                   "outputs": [{"name": "clip", "shape": [null, 7], "dtype": "float32"}, ...]},
     "outputs": {"clip": "...meaning..."}, "source": "runs/x/models/mixup/fold0.keras"}

``shape`` entries are ``null`` where the size is free (batch, samples, frames).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from kerastag.errors import ModelError

METADATA_NAME = "metadata.json"
FORMAT = "kerastag-export"
VERSION = 1


def check_target(out_dir: Path) -> None:
    """One-line error unless ``out_dir`` is absent, empty, or an earlier export."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ModelError(f"{out_dir}: --out must be a folder; a file is in the way")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not _is_export(out_dir):
        raise ModelError(f"{out_dir}: not empty and not a kerastag export; choose another --out")


def _is_export(folder: Path) -> bool:
    """``folder`` holds a kerastag ``metadata.json`` (any other ``metadata.json`` is not
    ours: the folder is replaced on export)."""
    try:
        data = json.loads((folder / METADATA_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def write_metadata(path: Path, info: dict, *, fmt: str, artifact: str, signature: dict,
                   thresholds, source: Path) -> Path:
    """Write ``metadata.json`` (see the module docstring) at ``path``."""
    import kerastag

    classes = list(info["classes"])
    data = {
        "format": FORMAT, "version": VERSION, "kerastag_version": kerastag.__version__,
        "export_format": fmt, "artifact": artifact, **info,
        "thresholds": None if thresholds is None else dict(zip(classes, map(float, thresholds))),
        "signature": signature, "source": str(source),
    }
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return Path(path)


def replace_folder(stage: Path, out_dir: Path) -> None:
    """Move the finished ``stage`` folder onto ``out_dir`` (replacing an earlier export)."""
    out_dir = Path(out_dir)
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out_dir, old)
    os.replace(stage, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_signature(artifact: Path, fmt: str) -> dict:
    """``{"inputs": [...], "outputs": [...]}`` read back from the written artifact."""
    readers = {"saved_model": _saved_model_signature, "onnx": _onnx_signature,
               "litert": _litert_signature}
    return readers[fmt](Path(artifact))


def _entry(name, shape, dtype) -> dict:
    return {"name": str(name), "shape": [None if d is None or d < 0 else int(d) for d in shape],
            "dtype": str(dtype)}


def _saved_model_signature(path: Path) -> dict:
    import tensorflow as tf

    function = tf.saved_model.load(str(path)).signatures["serving_default"]
    _, inputs = function.structured_input_signature
    outputs = function.structured_outputs
    return {
        "inputs": [_entry(k, v.shape.as_list(), v.dtype.name) for k, v in sorted(inputs.items())],
        "outputs": [_entry(k, v.shape.as_list(), v.dtype.name) for k, v in sorted(outputs.items())],
    }


def _onnx_signature(path: Path) -> dict:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph

    def entries(values):
        found = []
        for value in values:
            tensor = value.type.tensor_type
            shape = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
            dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
            found.append(_entry(value.name, shape, dtype))
        return found

    return {"inputs": entries(graph.input), "outputs": entries(graph.output)}


def _litert_signature(path: Path) -> dict:
    runner = _litert_interpreter(path).get_signature_runner()
    details = runner.get_input_details(), runner.get_output_details()
    return {key: [_entry(name, d["shape_signature"], d["dtype"].__name__)
                  for name, d in sorted(part.items())]
            for key, part in zip(("inputs", "outputs"), details)}


def _litert_interpreter(path: Path):
    """The LiteRT interpreter (``ai-edge-litert``), else TensorFlow's deprecated copy."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tf.lite.Interpreter(model_path=str(path))
    return Interpreter(model_path=str(path))
