"""A finished unit on its way to the run folder, from this process or from a Ray worker.

A unit trained here is saved straight into the run folder (:func:`save_unit`). A unit
trained by a Ray worker, maybe on another machine with no shared file system, is packed
there into a :class:`ShippedUnit` (the model file's bytes, the history, the predictions)
and written by the driver (:func:`write_shipped`) into the same files, in the same order
and as atomically, so resuming, ``kerastag evaluate``, tables and plots cannot tell the
two apart.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from kerastag.errors import KerastagError
from kerastag.fileio import atomic_path
from kerastag.formats import run_folder
from kerastag.formats.model_file import ModelInfo, model_path_for, save_model
from kerastag.runner.task import Unit, UnitResult


@dataclasses.dataclass
class ShippedUnit:
    """A trained unit as plain bytes and arrays, picklable across machines.

    Attributes:
        model_suffix: the model file's ending (``.keras`` or ``.gmm.json``).
        model_bytes: the whole model file, metadata inside, as written by ``save_model``.
        history: one line per epoch.
        predictions: the unit's ``.npz`` arrays.
        host, pid, gpus: where it trained (``gpus``: the CUDA devices it was given).
        seconds: wall-clock time of training and packing.
    """

    model_suffix: str
    model_bytes: bytes
    history: pd.DataFrame
    predictions: dict[str, np.ndarray]
    host: str = ""
    pid: int = 0
    gpus: tuple = ()
    seconds: float = 0.0

    def where(self) -> str:
        """``host pid N`` and the GPUs, for the progress line."""
        gpus = f", GPU {','.join(str(g) for g in self.gpus)}" if self.gpus else ""
        return f"{self.host} (pid {self.pid}{gpus})"


def check_finite(unit: Unit, predictions: dict[str, np.ndarray]) -> None:
    """Refuse a unit whose scores are NaN or inf, so that it is never saved.

    Raises:
        KerastagError: one line naming the unit and the settings to change.
    """
    for key, values in predictions.items():
        if not is_finite(values):
            raise KerastagError(
                f"{unit.row.name} {unit.name}: training gave non-finite {key} (NaN or inf), "
                f"so the unit was not saved. Every clip passed the finite-audio check, so "
                f"a setting is the likely cause (training.learning_rate, this row's "
                f"mixing and alpha, model.args); change it and run again")


def is_finite(values: np.ndarray) -> bool:
    values = np.asarray(values)
    return values.dtype.kind not in "fc" or bool(np.isfinite(values).all())


def save_unit(out_dir: Path, unit: Unit, result: UnitResult, info: ModelInfo) -> None:
    """Model, then history, then predictions (the 'finished' marker), each atomically.

    Raises:
        KerastagError: the unit's scores are not finite; nothing of it is saved, so the
            next run trains it again.
    """
    check_finite(unit, result.predictions)
    paths = unit_paths(out_dir, unit)
    save_model(result.model, model_path_for(paths["model"], result.model), info)
    run_folder.write_history(paths["history"], result.history)
    run_folder.write_predictions(paths["predictions"], result.predictions)


def ship(unit: Unit, result: UnitResult, info: ModelInfo, *, seconds: float,
         gpus: tuple = ()) -> ShippedUnit:
    """Pack a trained unit for the driver (checked finite first, as :func:`save_unit`)."""
    check_finite(unit, result.predictions)
    with tempfile.TemporaryDirectory(prefix="kerastag-unit-") as folder:
        path = save_model(result.model, model_path_for(Path(folder) / "unit.keras", result.model),
                          info)
        suffix = path.name[len("unit"):]
        model_bytes = path.read_bytes()
    return ShippedUnit(model_suffix=suffix, model_bytes=model_bytes, history=result.history,
                       predictions=result.predictions, host=socket.gethostname(),
                       pid=os.getpid(), gpus=tuple(gpus), seconds=seconds)


def write_shipped(out_dir: Path, unit: Unit, shipped: ShippedUnit) -> None:
    """Write a shipped unit into the run folder exactly as :func:`save_unit` would."""
    paths = unit_paths(out_dir, unit)
    model_path = paths["model"].with_name(unit.name + shipped.model_suffix)
    with atomic_path(model_path) as tmp:
        tmp.write_bytes(shipped.model_bytes)
    run_folder.write_history(paths["history"], shipped.history)
    run_folder.write_predictions(paths["predictions"], shipped.predictions)


def unit_paths(out_dir: Path, unit: Unit) -> dict[str, Path]:
    return run_folder.unit_paths(out_dir, unit.row.name, unit.name)


def is_finished(out_dir: Path, unit: Unit) -> bool:
    return run_folder.is_finished(out_dir, unit.row.name, unit.name)
