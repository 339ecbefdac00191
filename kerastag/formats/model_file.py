"""Saving and loading models together with what is needed to use them.

A kerastag ``.keras`` file is an ordinary Keras archive (``keras.saving.load_model``
opens it after ``import kerastag``) with one extra member, ``kerastag.json``: the class
names in output order, the feature definition and the task, so ``kerastag predict`` can
score new audio with nothing but the file. The challenge's GMM baseline is not a Keras
model; it is saved as ``.gmm.json`` (:mod:`kerastag.formats.gmm_model`) with the same
metadata. The functions here take either and tell them apart by the file name.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from kerastag.errors import ModelError
from kerastag.fileio import atomic_path
from kerastag.formats import gmm_model
from kerastag.models.gmm import FILE_SUFFIX as GMM_SUFFIX

METADATA_MEMBER = "kerastag.json"

#: The endings of the model files kerastag writes, Keras' first.
MODEL_SUFFIXES = (".keras", GMM_SUFFIX)


def model_path_for(path: str | Path, model) -> Path:
    """``path`` (any of :data:`MODEL_SUFFIXES`) with the ending ``model`` is saved under."""
    path = Path(path)
    stem = next((path.name[:-len(s)] for s in MODEL_SUFFIXES if path.name.endswith(s)), path.stem)
    return path.with_name(stem + getattr(model, "file_suffix", ".keras"))


def save_model(model, path: str | Path, metadata: dict[str, Any]) -> Path:
    """Save ``model`` to ``path`` (``.keras``, or ``.gmm.json`` for the GMM baseline) with
    ``metadata``, atomically."""
    path = Path(path)
    if path.name.endswith(GMM_SUFFIX):
        return gmm_model.write_gmm_model(path, model, metadata)
    if path.suffix != ".keras":
        raise ModelError(f"{path}: model files must end in .keras or {GMM_SUFFIX}")
    with atomic_path(path) as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(METADATA_MEMBER, json.dumps(metadata, indent=2, sort_keys=True))
    return path


def read_metadata(path: str | Path, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The ``kerastag.json`` of a saved model.

    Args:
        path: the ``.keras`` file.
        required: keys the caller needs.

    Raises:
        ModelError: missing file, not a Keras archive, saved without kerastag metadata,
            damaged metadata, or a ``required`` key missing.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    if path.name.endswith(GMM_SUFFIX):
        return require_keys(path, gmm_model.read_gmm_metadata(path), required)
    try:
        with zipfile.ZipFile(path) as archive:
            if METADATA_MEMBER not in archive.namelist():
                raise ModelError(f"{path}: not saved by kerastag (no {METADATA_MEMBER} inside)")
            metadata = json.loads(archive.read(METADATA_MEMBER).decode("utf-8"))
    except zipfile.BadZipFile:
        raise ModelError(f"{path}: not a .keras model archive") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: its {METADATA_MEMBER} is not valid JSON ({exc}); "
                         f"the file is damaged, save the model again") from None
    if not isinstance(metadata, dict):
        raise ModelError(f"{path}: its {METADATA_MEMBER} is not a JSON object")
    return require_keys(path, metadata, required)


def require_keys(path: Path, metadata: dict[str, Any], required: tuple[str, ...]) -> dict[str, Any]:
    """``metadata`` (of the model file ``path``); ModelError naming the keys it lacks."""
    missing = [key for key in required if key not in metadata]
    if missing:
        raise ModelError(f"{path}: its metadata lacks {', '.join(missing)}")
    return metadata


def load_model(path: str | Path):
    """Load a ``.keras`` model (kerastag's layers are registered on import) or a
    ``.gmm.json`` GMM baseline (a :class:`kerastag.models.gmm.TagGmms`)."""
    path = Path(path)
    if path.name.endswith(GMM_SUFFIX):
        return gmm_model.read_gmm_model(path)[0]
    import keras

    import kerastag.models  # noqa: F401  (registers the custom layers)

    read_metadata(path)
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as exc:
        raise ModelError(f"{path}: cannot load model ({str(exc).splitlines()[0]})") from None
