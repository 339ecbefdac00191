"""What a user writes to extend kerastag, following the recipes of docs/architecture.md:
a model family, a feature type, a mixing mode, a whole task, a dataset layout, an engine
and an export format. tests/test_recipes.py
registers each one (as the recipes say) and runs it through kerastag."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar, Optional

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from kerastag.audio import AudioFormat
from kerastag.checks import check_int
from kerastag.datasets.base import Clip, Dataset, Problems
from kerastag.datasets.layout import DatasetLayout
from kerastag.errors import ConfigError, DatasetError
from kerastag.export.signatures import signature_entry
from kerastag.features.specs import FeatureSpec
from kerastag.fileio import write_text_atomic
from kerastag.runner.engines import train_and_save
from kerastag.formats.model_file import ModelInfo
from kerastag.runner.task import Unit, UnitResult


# --- a model family: a builder (input_shape, n_classes, **args) -> keras.Model -------------
# and the frozen dataclass of the args a config may give it (the builder's keywords and
# defaults), checked when the config is loaded

@dataclasses.dataclass(frozen=True)
class MeanPoolArgs:
    """``model.args.mean_pool`` / a row's ``args``: :func:`build_mean_pool_tagger`'s."""

    units: int = 8


def build_mean_pool_tagger(input_shape, n_classes: int, *, units: int = 8) -> keras.Model:
    """Frames -> Dense(units) per frame -> mean over time -> sigmoid tags."""
    inputs = keras.Input(input_shape, name="features")          # (batch, frames, mels)
    x = keras.layers.Dense(units, activation="relu", name="frame_dense")(inputs)
    x = keras.layers.GlobalAveragePooling1D(name="time_mean")(x)  # (batch, units)
    outputs = keras.layers.Dense(n_classes, activation="sigmoid", name="tags")(x)
    return keras.Model(inputs, outputs, name="mean_pool_tagger")


# --- a feature type: a spec (what is computed) and its config section (what YAML says) ----

@dataclasses.dataclass(frozen=True)
class FrameEnergy(FeatureSpec):
    """Log energy of ``frame_length``-sample frames, ``(frames, 1)`` float32."""

    name: ClassVar[str] = "frame_energy"
    description: ClassVar[str] = "frame energy"

    sample_rate: int = 16000
    frame_length: int = 1000

    def compute(self, waveform: np.ndarray) -> np.ndarray:
        n = max(1, len(waveform) // self.frame_length)
        frames = np.resize(np.asarray(waveform, np.float64), n * self.frame_length).reshape(n, -1)
        return np.log(np.mean(frames ** 2, axis=1, keepdims=True) + 1e-8).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class FrameEnergyFeatures:
    """``type: frame_energy``."""

    type: str = "frame_energy"
    sample_rate: int = 16000
    frame_length: int = 1000
    cache_dir: Optional[str] = None
    workers: Optional[int] = None

    def __post_init__(self):
        check_int("features.frame_length", self.frame_length, minimum=1, error=ConfigError)

    def spec(self) -> FrameEnergy:
        return FrameEnergy(sample_rate=self.sample_rate, frame_length=self.frame_length)


# --- a mixing mode: (x_i, x_j, y_i, y_j, lam_x, lam_y) -> (x, y) on batch tensors -----------

def add_partner(x, x_j, y, y_j, lam_x, lam_y):
    """``x_i + lam * x_j`` with the first sample's labels (a label-preserving overlay)."""
    return x + lam_x * x_j, y


# --- a task: the Task protocol -----------------------------------------------------------

class ConstantTask:
    """Predicts each fold's clips with a one-weight model fitted to the training mean."""

    def __init__(self, config):
        self.config = config

    def load(self):
        rng = np.random.default_rng(self.config.seed)
        return {"x": rng.normal(size=(40, 3)).astype("float32"),
                "y": (rng.random(40) < 0.3).astype("float32"), "folds": np.arange(40) % 2}

    def units(self, data) -> list[Unit]:
        return [Unit(row, f"fold{k}") for row in self.config.rows for k in (0, 1)]

    def train_unit(self, data, unit: Unit) -> UnitResult:
        train = data["folds"] != unit.fold
        inputs = keras.Input((3,))
        outputs = keras.layers.Dense(1, activation="sigmoid", kernel_initializer="zeros")(inputs)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
        fitted = model.fit(data["x"][train], data["y"][train], epochs=2, verbose=0)
        history = pd.DataFrame(fitted.history).assign(epoch=[1, 2])
        return UnitResult(model, history, self.rescore(data, unit, model))

    def rescore(self, data, unit: Unit, model) -> dict:
        test = np.flatnonzero(data["folds"] == unit.fold)
        scores = np.asarray(model(tf.constant(data["x"][test])))[:, 0]
        return {"clip_ids": test.astype(str), "y_true": data["y"][test], "scores": scores}

    def model_info(self, data, unit: Unit) -> ModelInfo:
        return ModelInfo(task="constant", family=None, classes=("score",),
                         features={"type": "constant"}, row=unit.row.name, unit=unit.name)

    def write_results(self, out_dir: Path, units, predictions, *, log) -> Path:
        lines = ["unit,mean_score"] + [f"{u.name},{float(np.mean(p['scores'])):.4f}"
                                       for u, p in predictions.items()]
        return write_text_atomic(Path(out_dir) / "table.csv", "\n".join(lines) + "\n")

    def write_evaluation(self, out_dir: Path, units, predictions, *, log):
        return self.write_results(out_dir, units, predictions, log=log), []

    def follow_up(self):
        return None


# --- a dataset layout: one declaration (reader, detection rule, audio formats, folds) ----

#: The toy layout's index: one line per clip, ``file<TAB>tags<TAB>fold`` (tags space-separated).
TSV_INDEX = "clips.tsv"
TSV_COLUMNS = "file\ttags\tfold"


def read_tsv_folds(path, *, problems: Problems | None = None) -> Dataset:
    """A folder of 16 kHz mono 4 s wav files and ``clips.tsv`` assigning each to fold 0 or 1."""
    problems = problems if problems is not None else Problems(strict=True)
    root = Path(path)
    index = root / TSV_INDEX
    if not index.is_file():
        raise DatasetError(f"{root}: no {TSV_INDEX} (columns {TSV_COLUMNS!r})")
    lines = index.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0] != TSV_COLUMNS:
        raise DatasetError(f"{index}:1: expected the header {TSV_COLUMNS!r}")
    clips = []
    for number, line in enumerate(lines[1:], start=2):
        file, tags, fold = line.split("\t")
        if not (root / file).is_file():
            problems.add(f"{index}:{number}", f"audio file not found: {root / file}")
        if fold not in ("0", "1"):
            problems.add(f"{index}:{number}", f"fold {fold!r} outside 0..1")
            continue
        clips.append(Clip(clip_id=file, path=root / file, tags=tuple(sorted(tags.split())),
                          fold=int(fold), subset="development"))
    classes = tuple(sorted({tag for clip in clips for tag in clip.tags}))
    return Dataset(layout="tsv_folds", root=root, classes=classes, clips=clips)


def looks_like_tsv_folds(path: Path) -> bool:
    return (path / TSV_INDEX).is_file()


TSV_FOLDS = DatasetLayout(
    name="tsv_folds", read=read_tsv_folds, looks_like=looks_like_tsv_folds,
    audio_formats={"main": AudioFormat("toy clip", sample_rate=16000, channels=1,
                                       frames=4 * 16000)},
    n_folds=2)


# --- an engine: its settings section and an Engine that trains the units -----------------

@dataclasses.dataclass(frozen=True)
class ReverseSettings:
    """``execution.reverse``: ``label`` starts each line the engine logs."""

    label: str = "reverse"

    def __post_init__(self):
        if not self.label.strip():
            raise ConfigError("execution.reverse.label: expected a non-empty string")


class ReverseEngine:
    """Trains the unfinished units in this process, last one first."""

    def __init__(self, settings: ReverseSettings, *, threads: Optional[int]):
        self.settings = settings

    def train(self, task, data, todo, *, out_dir, units, log) -> None:
        for unit in reversed(todo):
            log(f"{self.settings.label}: {unit.row.name} {unit.name}")
            train_and_save(task, data, unit, out_dir)


# --- an export format: converter, signature reader, runtime loader -----------------------

def write_keras_file(deployed: keras.Model, artifact: Path) -> None:
    """The deployed model (front end inside) as a Keras 3 ``.keras`` file."""
    deployed.save(artifact)


def keras_file_signature(artifact: Path) -> dict:
    model = keras.saving.load_model(artifact, safe_mode=True)

    def entries(tensors, names):
        return [signature_entry(name, tensor.shape, tensor.dtype)
                for name, tensor in zip(names, tensors)]

    return {"inputs": entries(model.inputs, [t.name for t in model.inputs]),
            "outputs": entries(model.outputs, model.output_names)}


def load_keras_file(artifact: Path, signature: dict, threads: Optional[int]):
    """``run(audio) -> {output name: array}`` with Keras (any backend)."""
    model = keras.saving.load_model(artifact, safe_mode=True)
    names = [entry["name"] for entry in signature["outputs"]]

    def run(audio):
        outputs = model(np.asarray(audio, np.float32))
        if isinstance(outputs, dict):
            return {name: keras.ops.convert_to_numpy(outputs[name]) for name in names}
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return {name: keras.ops.convert_to_numpy(value) for name, value in zip(names, outputs)}

    return run
