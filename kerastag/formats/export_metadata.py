"""``metadata.json`` of an exported model folder (``kerastag export``): the writer, and
the check that a folder holds an earlier export. Deployments read the file with
:mod:`kerastag.export.runtimes`, which must not import kerastag. The ``signature`` is
read back from the artifact by the format's own reader
(:data:`kerastag.names.EXPORT_FORMATS`; no runtime is imported here).

An export folder holds one artifact (``saved_model/``, ``model.onnx`` or
``model.tflite``) and ``metadata.json``::

    {"format": "kerastag-export", "version": 1, "kerastag_version": "0.2.0",
     "export_format": "onnx", "artifact": "model.onnx",
     "task": "tagging", "family": "crnn_attloc", "classes": ["c", "m", ...],
     "sample_rate": 16000, "window_seconds": 4.0, "frame_hop_seconds": 0.032,
     "features": {...}, "thresholds": {"c": 0.41, ...} or null,
     "frame_decisions": {"c": {"high": 0.5, "low": 0.12, "median_seconds": 1.0,
                               "min_event_seconds": 0.1, "min_gap_seconds": 0.1}, ...} or null,
     "signature": {"inputs": [{"name": "audio", "shape": [null, null], "dtype": "float32"}],
                   "outputs": [{"name": "clip", "shape": [null, 7], "dtype": "float32"}, ...]},
     "outputs": {"clip": "...meaning..."}, "source": "runs/x/models/mixup/fold0.keras"}

``shape`` entries are ``null`` where the size is free (batch, samples, frames).
``thresholds`` are the clip thresholds (``kerastag calibrate``); ``frame_decisions`` how
the ``localization`` output's frame scores become events (``calibrate --events``;
:mod:`kerastag.decisions` spells the rule).
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
                   thresholds, source: Path, frame_decisions=None) -> Path:
    """Write ``metadata.json`` (see the module docstring) at ``path``."""
    import kerastag

    classes = list(info["classes"])
    data = {
        "format": FORMAT, "version": VERSION, "kerastag_version": kerastag.__version__,
        "export_format": fmt, "artifact": artifact, **info,
        "thresholds": None if thresholds is None else dict(zip(classes, map(float, thresholds))),
        "frame_decisions": None if frame_decisions is None else {
            tag: decision.as_dict() for tag, decision in zip(classes, frame_decisions)},
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
