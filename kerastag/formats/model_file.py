"""Saving and loading models together with what is needed to use them.

A kerastag ``.keras`` file is an ordinary Keras archive (``keras.saving.load_model``
opens it after ``import kerastag``) with one extra member, ``kerastag.json``: the class
names in output order, the feature definition and the task, so ``kerastag predict`` can
score new audio with nothing but the file. The challenge's GMM baseline is not a Keras
model; it is saved as ``.gmm.json`` (:mod:`kerastag.formats.gmm_model`) with the same
metadata. The functions here take either and tell them apart by the file name.

``kerastag.json`` is one :class:`ModelInfo`, written and read only here. It names its
format and version (``{"format": "kerastag-model", "version": 2, ...}``); files written
before it had a version (kerastag 0.1 up to 2026-12-03: version 1) are upgraded on read
(:func:`upgrade`), so every reader takes fields from the dataclass and none patches a
missing key with its own default.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import zipfile
from pathlib import Path
from typing import Any

from kerastag.errors import ModelError
from kerastag.fileio import atomic_path
from kerastag.formats import gmm_model
from kerastag.models.gmm import FILE_SUFFIX as GMM_SUFFIX

METADATA_MEMBER = "kerastag.json"
FORMAT = "kerastag-model"
VERSION = 2
#: The window a tagging model scores when its file predates ``chunk_seconds`` (4 s: paper
#: A's chunks, the only window kerastag 0.1 trained).
VERSION_1_CHUNK_SECONDS = 4.0
#: The family a version-1 tagging file without one was (0.1 trained paper A's CRNN only).
VERSION_1_TAGGING_FAMILY = "crnn_attloc"


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What a saved model needs beside its weights: the ``kerastag.json`` member.

    ``family`` is None only for a paper-B file from before families were recorded (its
    network is known by its layers, :mod:`kerastag.models.transfer`). ``chunk_seconds``
    (seconds scored per window) belongs to tagging models; ``excerpt``/``hop`` (feature
    frames, or samples of a wave input) and ``pad_value`` (one number, or one per channel
    of a multi-channel feature) to classification models. ``init_from`` is ``{"path", "sha256"}`` of the model a
    fine-tuned one started from.
    """

    task: str
    family: str | None
    classes: tuple[str, ...]
    features: dict[str, Any]
    experiment: str | None = None
    row: str | None = None
    unit: str | None = None
    chunk_seconds: float | None = None
    excerpt: int | None = None
    hop: int | None = None
    pad_value: float | tuple[float, ...] | None = None
    init_from: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written as ``kerastag.json`` (fields that are None left out)."""
        data = {"format": FORMAT, "version": VERSION}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None:
                data[field.name] = list(value) if isinstance(value, tuple) else value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str | Path) -> "ModelInfo":
        """The info of the model file ``path`` from its JSON object, upgraded and checked.

        Raises:
            ModelError: one line naming the file and the key, or the format version.
        """
        data = upgrade(data, Path(path))
        fields = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ModelError(f"{path}: its {METADATA_MEMBER} has unknown key(s) "
                             f"{', '.join(unknown)} for {FORMAT} version {VERSION}; the file "
                             f"is damaged or edited, save the model again")
        _check_info(data, Path(path))
        values = {key: tuple(value) if isinstance(value, list) and key != "features" else value
                  for key, value in data.items()}
        return cls(**({"family": None} | values))  # to_dict leaves a None family out


def upgrade(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """``kerastag.json`` of any version -> the fields of the current one (no format keys).

    Version 1 (no ``format``/``version`` keys: 0.1 and every file until versions were
    written) may lack ``family`` (0.1: a tagging file is paper A's CRNN; a paper-B file
    stays None) and ``chunk_seconds`` (0.1 scored 4 s windows). Its feature sections may
    hold 0.1's every-type keys, which :func:`kerastag.config.features_from_data` reads.
    """
    data = dict(data)
    if "format" not in data and "version" not in data:
        return _upgrade_version_1(data)
    version = data.pop("version", None)
    if data.pop("format", None) != FORMAT:
        raise ModelError(f"{path}: its {METADATA_MEMBER} is not a {FORMAT} document")
    if not isinstance(version, int) or isinstance(version, bool) or version < 2:
        raise ModelError(f"{path}: its {METADATA_MEMBER} has version {version!r}; "
                         f"expected a whole number 2..{VERSION}")
    if version > VERSION:
        raise ModelError(f"{path}: written by a newer kerastag ({FORMAT} version {version}); "
                         f"this kerastag reads versions up to {VERSION}: upgrade kerastag")
    return data


def _upgrade_version_1(data: dict[str, Any]) -> dict[str, Any]:
    known = {field.name for field in dataclasses.fields(ModelInfo)}
    data = {key: value for key, value in data.items() if key in known}
    if data.get("task") == "tagging":
        data.setdefault("family", VERSION_1_TAGGING_FAMILY)
        data.setdefault("chunk_seconds", VERSION_1_CHUNK_SECONDS)
    else:
        data.setdefault("family", None)
    return data


def _check_info(data: dict[str, Any], path: Path) -> None:
    """One line naming the first key of ``data`` that a :class:`ModelInfo` cannot hold."""
    where = f"{path}: its {METADATA_MEMBER}"
    missing = [key for key in ("task", "classes", "features") if key not in data]
    if missing:
        raise ModelError(f"{where} lacks {', '.join(missing)}")
    if not isinstance(data["task"], str) or not data["task"]:
        raise ModelError(f"{where}: task {data['task']!r}; expected a task name")
    classes = data["classes"]
    if (not isinstance(classes, list) or not classes
            or not all(isinstance(name, str) and name for name in classes)):
        raise ModelError(f"{where}: classes must be a list of class names")
    if not isinstance(data["features"], dict) or "type" not in data["features"]:
        raise ModelError(f"{where}: features must be a feature section with a type")
    required = {"tagging": ("chunk_seconds",),
                "classification": ("excerpt", "hop", "pad_value")}.get(data["task"], ())
    missing = [key for key in required if data.get(key) is None]
    if missing:
        raise ModelError(f"{where} lacks {', '.join(missing)} (a {data['task']} model needs it)")
    for key, kind in (("chunk_seconds", "positive number"), ("excerpt", "positive whole number"),
                      ("hop", "positive whole number")):
        if data.get(key) is not None and not _is_positive(data[key], whole="whole" in kind):
            raise ModelError(f"{where}: {key} is {data[key]!r}; expected a {kind}")
    pad = data.get("pad_value")
    if pad is not None and not _is_number(pad) and (
            not isinstance(pad, list) or not pad or not all(_is_number(value) for value in pad)):
        raise ModelError(f"{where}: pad_value must be a number or a list of numbers "
                         f"(one per channel)")
    for key in ("family", "experiment", "row", "unit"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ModelError(f"{where}: {key} is {data[key]!r}; expected a name")


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_positive(value, *, whole: bool) -> bool:
    if not _is_number(value) or value <= 0:
        return False
    return not whole or isinstance(value, int)

#: The endings of the model files kerastag writes, Keras' first.
MODEL_SUFFIXES = (".keras", GMM_SUFFIX)


def model_path_for(path: str | Path, model) -> Path:
    """``path`` (any of :data:`MODEL_SUFFIXES`) with the ending ``model`` is saved under."""
    path = Path(path)
    stem = next((path.name[:-len(s)] for s in MODEL_SUFFIXES if path.name.endswith(s)), path.stem)
    return path.with_name(stem + getattr(model, "file_suffix", ".keras"))


def save_model(model, path: str | Path, info: ModelInfo) -> Path:
    """Save ``model`` to ``path`` (``.keras``, or ``.gmm.json`` for the GMM baseline) with
    ``info`` as its ``kerastag.json``, atomically."""
    path = Path(path)
    if path.name.endswith(GMM_SUFFIX):
        return gmm_model.write_gmm_model(path, model, info.to_dict())
    if path.suffix != ".keras":
        raise ModelError(f"{path}: model files must end in .keras or {GMM_SUFFIX}")
    with atomic_path(path) as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(METADATA_MEMBER, json.dumps(info.to_dict(), indent=2, sort_keys=True))
    return path


def read_model_info(path: str | Path) -> ModelInfo:
    """The :class:`ModelInfo` of a saved model (any version, upgraded).

    Raises:
        ModelError: missing file, not a Keras archive, saved without kerastag metadata,
            damaged metadata, a key missing or of the wrong kind, or a newer version.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    if path.name.endswith(GMM_SUFFIX):
        return ModelInfo.from_dict(gmm_model.read_gmm_metadata(path), path)
    try:
        with zipfile.ZipFile(path) as archive:
            if METADATA_MEMBER not in archive.namelist():
                raise ModelError(f"{path}: not saved by kerastag (no {METADATA_MEMBER} inside)")
            data = json.loads(archive.read(METADATA_MEMBER).decode("utf-8"))
    except zipfile.BadZipFile:
        raise ModelError(f"{path}: not a .keras model archive") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: its {METADATA_MEMBER} is not valid JSON ({exc}); "
                         f"the file is damaged, save the model again") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: its {METADATA_MEMBER} is not a JSON object")
    return ModelInfo.from_dict(data, path)


def load_model(path: str | Path):
    """Load a ``.keras`` model (kerastag's layers are registered on import) or a
    ``.gmm.json`` GMM baseline (a :class:`kerastag.models.gmm.TagGmms`)."""
    path = Path(path)
    if path.name.endswith(GMM_SUFFIX):
        return gmm_model.read_gmm_model(path)[0]
    import keras

    import kerastag.models  # noqa: F401  (registers the custom layers)

    read_model_info(path)
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as exc:
        raise ModelError(f"{path}: cannot load model ({str(exc).splitlines()[0]})") from None
