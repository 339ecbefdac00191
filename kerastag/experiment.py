"""``kerastag run`` and ``kerastag evaluate``: every row of a config over its units.

Run folder::

    DIR/config.yaml                      the resolved config (absolute paths)
    DIR/models/<row>/<unit>.keras        best model of each (row, unit)
    DIR/histories/<row>/<unit>.csv       its training history
    DIR/predictions/<row>/<unit>.npz     its scores on the clips it did not see; written
                                         last, so its presence marks the unit finished
    DIR/table.csv, DIR/table.md          the result table (paper numbers beside it)
    DIR/plots/                           history curves per row and the task's plots

A unit is ``fold<k>`` (trained without fold k, scored on it), ``evaluation`` (paper A:
trained on the development set, scored on the evaluation set) or ``full`` (paper B:
trained on all training clips, scored on the test set). Every file is written to a
temporary name and renamed, so a run killed at any point and started again skips the
finished units, retrains the unfinished ones and loses nothing.

What differs between paper A (``task: tagging``) and paper B (``task: classification``)
lives in a task object (:class:`kerastag.tagging.TaggingTask`,
:class:`kerastag.classification.ClassificationTask`); this module is the shared runner.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import yaml

from kerastag.config import ExperimentConfig, RowConfig, config_to_dict, from_dict
from kerastag.errors import ConfigError, KerastagError
from kerastag.fileio import atomic_path, write_text_atomic

Log = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class Unit:
    """One model to train: a row on ``fold<k>``, ``evaluation`` or ``full``."""

    row: RowConfig
    name: str

    @property
    def fold(self) -> int | None:
        return int(self.name[4:]) if self.name.startswith("fold") else None


@dataclasses.dataclass
class UnitResult:
    """What training one unit produces."""

    model: object
    history: pd.DataFrame
    predictions: dict[str, np.ndarray]


def make_task(config: ExperimentConfig):
    """The task object of ``config.task``."""
    if config.task == "classification":
        from kerastag.classification import ClassificationTask

        return ClassificationTask(config)
    from kerastag.tagging import TaggingTask

    return TaggingTask(config)


def default_run_dir(config: ExperimentConfig) -> Path:
    return Path("runs") / config.name


def unit_paths(out_dir: Path, unit: Unit) -> dict[str, Path]:
    """The model, history and predictions files of a unit."""
    return {
        "model": out_dir / "models" / unit.row.name / f"{unit.name}.keras",
        "history": out_dir / "histories" / unit.row.name / f"{unit.name}.csv",
        "predictions": out_dir / "predictions" / unit.row.name / f"{unit.name}.npz",
    }


def is_finished(out_dir: Path, unit: Unit) -> bool:
    return all(path.is_file() for path in unit_paths(out_dir, unit).values())


def run_experiment(config: ExperimentConfig, out_dir: Path, *, log: Log = print) -> Path:
    """Train every unfinished unit, then write the table and the plots.

    Returns:
        The path of ``table.csv``.
    """
    out_dir = Path(out_dir)
    _claim_run_dir(config, out_dir)
    task = make_task(config)
    data = task.load()
    units = task.units(data)
    for index, unit in enumerate(units, start=1):
        if is_finished(out_dir, unit):
            log(f"[{index}/{len(units)}] {unit.row.name} {unit.name}: finished earlier, skipped")
            continue
        log(f"[{index}/{len(units)}] {unit.row.name} {unit.name}: training")
        save_unit(out_dir, unit, task.train_unit(data, unit), task.metadata(data, unit))
    table = task.write_results(out_dir, units, load_predictions(out_dir, units), log=log)
    if config.stack is not None:
        from kerastag.ensemble import stack_run

        log("level 2: stacking the level-1 models with XGBoost")
        stack_run(out_dir, log=log)
    return table


def save_unit(out_dir: Path, unit: Unit, result: UnitResult, metadata: dict) -> None:
    """Model, then history, then predictions (the 'finished' marker), each atomically."""
    from kerastag.modelio import save_model

    paths = unit_paths(out_dir, unit)
    save_model(result.model, paths["model"], metadata)
    with atomic_path(paths["history"]) as tmp:
        result.history.to_csv(tmp, index=False)
    with atomic_path(paths["predictions"]) as tmp:
        np.savez(tmp, **result.predictions)


def load_predictions(out_dir: Path, units: list[Unit]) -> dict[Unit, dict[str, np.ndarray]]:
    """The saved predictions of every unit."""
    loaded = {}
    for unit in units:
        with np.load(unit_paths(out_dir, unit)["predictions"]) as saved:
            loaded[unit] = {key: saved[key] for key in saved.files}
    return loaded


def load_histories(out_dir: Path, units: list[Unit]) -> dict[str, list[pd.DataFrame]]:
    """Training histories grouped by row, for the Fig. 2-style plots."""
    histories: dict[str, list[pd.DataFrame]] = {}
    for unit in units:
        histories.setdefault(unit.row.name, []).append(pd.read_csv(unit_paths(out_dir, unit)["history"]))
    return histories


def evaluate_run(out_dir: Path, *, log: Log = print):
    """Reload every saved model, rescore its clips and recompute the table.

    Returns:
        The task's evaluation result (the path of ``DIR/evaluate/table.csv`` and rows).
    """
    from kerastag.modelio import load_model

    out_dir = Path(out_dir)
    config = read_run_config(out_dir)
    task = make_task(config)
    data = task.load()
    units = task.units(data)
    predictions = {}
    for unit in units:
        model_path = unit_paths(out_dir, unit)["model"]
        if not model_path.is_file():
            raise KerastagError(f"{model_path}: model missing; finish the run with 'kerastag run'")
        predictions[unit] = task.rescore(data, unit, load_model(model_path))
        log(f"{unit.row.name} {unit.name}: rescored {len(predictions[unit]['clip_ids'])} clips")
    return task.write_evaluation(out_dir / "evaluate", units, predictions, log=log)


# --- the run folder ------------------------------------------------------------------


def resolved_config(config: ExperimentConfig) -> dict:
    """The config with absolute dataset and cache paths, as saved in the run folder."""
    data = config_to_dict(config)
    data["dataset"]["path"] = str(config.dataset_path())
    data["features"]["cache_dir"] = str(config.cache_dir())
    data.pop("source", None)
    return data


def _claim_run_dir(config: ExperimentConfig, out_dir: Path) -> None:
    """Write ``config.yaml``; refuse a folder that holds a run of a different config."""
    saved_path = out_dir / "config.yaml"
    current = resolved_config(config)
    if saved_path.is_file():
        saved = yaml.safe_load(saved_path.read_text(encoding="utf-8"))
        if _comparable(saved) != _comparable(current):
            raise ConfigError(f"{out_dir}: holds a run of a different config "
                              f"(see {saved_path}); choose another --out or delete the folder")
        if saved != current:  # e.g. a stack: section added to a finished level 1
            write_text_atomic(saved_path, yaml.safe_dump(current, sort_keys=False))
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(saved_path, yaml.safe_dump(current, sort_keys=False))


def _comparable(data: dict) -> dict:
    """What must match for a folder to be resumed: all but the name, verbosity and level 2."""
    data = {k: v for k, v in data.items() if k not in ("source", "stack", "name")}
    data["training"] = {k: v for k, v in data.get("training", {}).items() if k != "verbose"}
    return data


def read_run_config(out_dir: Path) -> ExperimentConfig:
    """The config a run folder was made with."""
    path = Path(out_dir) / "config.yaml"
    if not path.is_file():
        raise KerastagError(f"{out_dir}: not a kerastag run folder (no config.yaml)")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["source"] = str(path.resolve())
    return from_dict(ExperimentConfig, data)


def check_folds(config: ExperimentConfig, present: list[int]) -> list[int]:
    """The folds to run: ``training.folds`` (each must have clips) or all present."""
    wanted = list(config.training.folds) if config.training.folds is not None else present
    missing = sorted(set(wanted) - set(present))
    if missing:
        raise ConfigError(f"training.folds: fold {missing[0]} has no clips in this dataset")
    return wanted
