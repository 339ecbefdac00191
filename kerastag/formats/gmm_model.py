"""The challenge baseline's model file, ``<unit>.gmm.json``: writer and reader.

A portable, self-describing JSON document (any language can score with it)::

    {"format": "kerastag-gmm", "version": 1,
     "kerastag": {...},                    # the same metadata a .keras file carries
     "covariance_type": "diag" | "full",
     "frame_mean": [D floats], "frame_std": [D floats],
     "tags": [{"absent":  {"weights": [K], "means": [K][D], "covariances": [K][D] or [K][D][D]},
               "present": {...}}, ...]}  # in the metadata's "classes" order

Score of a chunk for tag k: standardise each MFCC frame with ``frame_mean``/``frame_std``,
then take the mean over frames of ``log p(frame | present) - log p(frame | absent)``
(diagonal or full Gaussian mixtures). Floats are written with Python's shortest
round-trip repr, so a reloaded model scores bit for bit like the saved one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from kerastag.errors import ModelError
from kerastag.fileio import write_text_atomic
from kerastag.models.gmm import FILE_SUFFIX, Gmm, TagGmms

FORMAT = "kerastag-gmm"
VERSION = 1


def write_gmm_model(path: str | Path, model: TagGmms, metadata: dict[str, Any]) -> Path:
    """Write ``model`` and ``metadata`` to ``path`` (ending ``.gmm.json``), atomically."""
    path = Path(path)
    if not path.name.endswith(FILE_SUFFIX):
        raise ModelError(f"{path}: GMM model files must end in {FILE_SUFFIX}")
    document = {
        "format": FORMAT, "version": VERSION, "kerastag": metadata,
        "covariance_type": model.covariance_type,
        "frame_mean": model.frame_mean.tolist(), "frame_std": model.frame_std.tolist(),
        "tags": [{"absent": _gmm_dict(absent), "present": _gmm_dict(present)}
                 for absent, present in model.pairs],
    }
    return write_text_atomic(path, json.dumps(document))


def read_gmm_model(path: str | Path) -> tuple[TagGmms, dict[str, Any]]:
    """The model and metadata of a ``.gmm.json`` file.

    Raises:
        ModelError: missing, not JSON, not this format, or arrays of the wrong shapes.
    """
    document = _read_document(Path(path))
    try:
        mean = np.asarray(document["frame_mean"], dtype=np.float64)
        std = np.asarray(document["frame_std"], dtype=np.float64)
        pairs = [(_gmm(tag["absent"]), _gmm(tag["present"])) for tag in document["tags"]]
        model = TagGmms(mean, std, pairs, document["covariance_type"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: not a valid {FORMAT} document ({type(exc).__name__}: "
                         f"{exc}); save the model again") from None
    _check_shapes(Path(path), model)
    return model, document["kerastag"]


def read_gmm_metadata(path: str | Path) -> dict[str, Any]:
    """Only the ``kerastag`` metadata of a ``.gmm.json`` file."""
    return _read_document(Path(path))["kerastag"]


def _read_document(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: not valid JSON ({exc}); the file is damaged") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ModelError(f"{path}: not a {FORMAT} model file")
    if document.get("version") != VERSION or not isinstance(document.get("kerastag"), dict):
        raise ModelError(f"{path}: {FORMAT} version {document.get('version')!r} with "
                         f"metadata is not readable here (expected version {VERSION})")
    return document


def _gmm_dict(gmm: Gmm) -> dict[str, list]:
    return {"weights": gmm.weights.tolist(), "means": gmm.means.tolist(),
            "covariances": gmm.covariances.tolist()}


def _gmm(data: dict) -> Gmm:
    return Gmm(np.asarray(data["weights"], dtype=np.float64),
               np.asarray(data["means"], dtype=np.float64),
               np.asarray(data["covariances"], dtype=np.float64))


def _check_shapes(path: Path, model: TagGmms) -> None:
    dims = model.frame_mean.shape
    for index, pair in enumerate(model.pairs):
        for gmm in pair:
            k = gmm.weights.shape[0] if gmm.weights.ndim == 1 else -1
            full = (k, *dims, *dims) if model.covariance_type == "full" else (k, *dims)
            if (model.frame_std.shape != dims or gmm.means.shape != (k, *dims)
                    or gmm.covariances.shape != full or k < 1):
                raise ModelError(f"{path}: tag {index}: GMM arrays of inconsistent shapes")
