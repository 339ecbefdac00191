"""``kerastag run`` and ``kerastag evaluate``: every row of a config over its folds.

Run folder::

    DIR/config.yaml                      the resolved config (absolute paths)
    DIR/models/<row>/fold<k>.keras       best model of each (row, fold) unit
    DIR/histories/<row>/fold<k>.csv      its training history
    DIR/predictions/<row>/fold<k>.npz    its test-fold scores; written last, so its
                                         presence marks the unit finished
    DIR/table.csv, DIR/table.md          the result table (paper numbers beside it)
    DIR/plots/                           history curves per row, per-tag EER vs paper

With ``training.protocol: evaluation`` the unit is ``evaluation`` instead of ``fold<k>``:
trained on the whole development set, scored on the evaluation set.
Every file is written to a temporary name and renamed, so a run killed at any point and
started again skips the finished units, retrains the unfinished ones and loses nothing.
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
from kerastag.prepare import compute_features, multi_hot, prepare_dataset, stack_features

Log = Callable[[str], None]


@dataclasses.dataclass
class Arrays:
    """Features and targets of the clips an experiment uses."""

    clip_ids: list[str]
    x: np.ndarray          # (clips, frames, mels)
    y: np.ndarray          # (clips, classes)
    folds: np.ndarray      # (clips,) fold, -1 for evaluation clips
    classes: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Unit:
    """One model to train: a row on a fold (``fold0``..``fold4``) or ``evaluation``."""

    row: RowConfig
    name: str

    @property
    def fold(self) -> int | None:
        return int(self.name[4:]) if self.name.startswith("fold") else None


def default_run_dir(config: ExperimentConfig) -> Path:
    return Path("runs") / config.name


def run_experiment(config: ExperimentConfig, out_dir: Path, *, log: Log = print) -> Path:
    """Train every unfinished unit, then write the table and the plots.

    Returns:
        The path of ``table.csv``.
    """
    out_dir = Path(out_dir)
    _claim_run_dir(config, out_dir)
    arrays = load_arrays(config)
    units = plan_units(config, arrays)
    for index, unit in enumerate(units, start=1):
        if _is_finished(out_dir, unit):
            log(f"[{index}/{len(units)}] {unit.row.name} {unit.name}: finished earlier, skipped")
            continue
        log(f"[{index}/{len(units)}] {unit.row.name} {unit.name}: training")
        _train_and_save(config, arrays, unit, out_dir)
    return write_results(config, out_dir, log=log)


def evaluate_run(out_dir: Path, *, log: Log = print) -> tuple[Path, list]:
    """Reload every saved model, rescore its test clips and recompute the table.

    Returns:
        ``(path of table_evaluate.csv, rows)``.
    """
    from kerastag.modelio import load_model
    from kerastag.training import predict_scores

    out_dir = Path(out_dir)
    config = read_run_config(out_dir)
    arrays = load_arrays(config)
    scores_by_unit = {}
    for unit in plan_units(config, arrays):
        model_path = out_dir / "models" / unit.row.name / f"{unit.name}.keras"
        if not model_path.is_file():
            raise KerastagError(f"{model_path}: model missing; finish the run with 'kerastag run'")
        test = _test_indices(arrays, unit)
        scores = predict_scores(load_model(model_path), arrays.x[test], config.training.batch_size)
        scores_by_unit[unit] = (arrays.y[test], scores)
        log(f"{unit.row.name} {unit.name}: rescored {len(test)} clips")
    rows = table_rows(config, scores_by_unit)
    from kerastag.reporting import format_eer_table, write_eer_table

    csv_path, _ = write_eer_table(rows, out_dir / "evaluate")
    log(format_eer_table(rows))
    return csv_path, rows


# --- data ----------------------------------------------------------------------------


def load_arrays(config: ExperimentConfig) -> Arrays:
    """Features, targets and folds of every clip the protocol needs."""
    dataset = prepare_dataset(config)
    subsets = ("development", "evaluation") if config.training.protocol == "evaluation" else ("development",)
    clips = [clip for clip in dataset.clips if clip.subset in subsets or
             (dataset.layout != "chime-home" and clip.fold is not None)]
    if not clips:
        raise KerastagError(f"{dataset.root}: no clips for subsets {', '.join(subsets)}")
    result = compute_features(config, clips)
    x = stack_features(result.arrays, where=str(dataset.root))
    folds = np.array([-1 if clip.fold is None else clip.fold for clip in clips])
    return Arrays([clip.clip_id for clip in clips], x, multi_hot(clips, dataset.classes), folds,
                  dataset.classes)


def plan_units(config: ExperimentConfig, arrays: Arrays) -> list[Unit]:
    """Every (row, fold) unit, rows in config order."""
    if config.training.protocol == "evaluation":
        names = ["evaluation"]
    else:
        present = sorted(set(arrays.folds[arrays.folds >= 0].tolist()))
        wanted = config.training.folds if config.training.folds is not None else present
        missing = sorted(set(wanted) - set(present))
        if missing:
            raise ConfigError(f"training.folds: fold {missing[0]} has no clips in this dataset")
        names = [f"fold{k}" for k in wanted]
    return [Unit(row, name) for row in config.rows for name in names]


def _test_indices(arrays: Arrays, unit: Unit) -> np.ndarray:
    if unit.fold is None:
        return np.flatnonzero(arrays.folds < 0)
    return np.flatnonzero(arrays.folds == unit.fold)


def _split(config: ExperimentConfig, arrays: Arrays, unit: Unit, seed: int):
    from kerastag.training import Split, holdout_indices

    test = _test_indices(arrays, unit)
    train = np.flatnonzero((arrays.folds >= 0) & (arrays.folds != (unit.fold if unit.fold is not None else -2)))
    if config.training.validation == "test_fold" and unit.fold is not None:
        val = test  # the authors' choice: early stopping on the held-out fold (optimistic)
    else:
        keep, held = holdout_indices(len(train), config.training.validation_fraction, seed)
        train, val = train[keep], train[held]
    return Split(arrays.x[train], arrays.y[train], arrays.x[val], arrays.y[val]), test


# --- units ---------------------------------------------------------------------------


def _paths(out_dir: Path, unit: Unit) -> dict[str, Path]:
    return {
        "model": out_dir / "models" / unit.row.name / f"{unit.name}.keras",
        "history": out_dir / "histories" / unit.row.name / f"{unit.name}.csv",
        "predictions": out_dir / "predictions" / unit.row.name / f"{unit.name}.npz",
    }


def _is_finished(out_dir: Path, unit: Unit) -> bool:
    return all(path.is_file() for path in _paths(out_dir, unit).values())


def _train_and_save(config: ExperimentConfig, arrays: Arrays, unit: Unit, out_dir: Path) -> None:
    from kerastag.modelio import save_model
    from kerastag.training import predict_scores, train_unit, unit_seed

    seed = unit_seed(config.seed, unit.row.name, unit.name)
    split, test = _split(config, arrays, unit, seed)
    model, history = train_unit(config, unit.row, split, seed=seed)
    scores = predict_scores(model, arrays.x[test], config.training.batch_size)
    paths = _paths(out_dir, unit)
    save_model(model, paths["model"], model_metadata(config, arrays.classes, unit))
    with atomic_path(paths["history"]) as tmp:
        history.to_csv(tmp, index=False)
    with atomic_path(paths["predictions"]) as tmp:
        np.savez(tmp, clip_ids=np.array([arrays.clip_ids[i] for i in test]),
                 y_true=arrays.y[test], scores=scores)


def model_metadata(config: ExperimentConfig, classes, unit: Unit) -> dict:
    """What ``predict`` needs beside the weights: classes, features, provenance."""
    return {
        "task": "tagging",
        "classes": list(classes),
        "features": config_to_dict(config.features) | {"cache_dir": None},
        "chunk_seconds": 4.0,
        "experiment": config.name,
        "row": unit.row.name,
        "unit": unit.name,
    }


# --- results -------------------------------------------------------------------------


def table_rows(config: ExperimentConfig, scores_by_unit: dict) -> list:
    """One EerRow per config row from each unit's (y_true, scores)."""
    from kerastag.metrics import eer_per_tag, summarize_eer
    from kerastag.reporting import EerRow

    rows = []
    for row in config.rows:
        per_fold = [eer_per_tag(y, s) for unit, (y, s) in scores_by_unit.items() if unit.row == row]
        summary = summarize_eer(np.stack(per_fold))
        rows.append(EerRow(name=row.name, model=row.model, augmentation=row.augmentation,
                           alpha=None if row.augmentation in ("none", "samplepairing") else row.alpha,
                           per_tag=tuple(float(v) for v in summary.per_tag),
                           average=float(summary.average), var_1e3=float(summary.var_1e3)))
    return rows


def write_results(config: ExperimentConfig, out_dir: Path, *, log: Log = print) -> Path:
    """Table (csv, md) and plots from the saved predictions and histories."""
    from kerastag.reporting import (format_eer_table, plot_eer_vs_paper, plot_histories,
                                    write_eer_table)

    arrays_units = plan_units(config, _fold_view(config, out_dir))
    scores_by_unit, histories = {}, {}
    for unit in arrays_units:
        paths = _paths(out_dir, unit)
        with np.load(paths["predictions"]) as saved:
            scores_by_unit[unit] = (saved["y_true"], saved["scores"])
        histories.setdefault(unit.row.name, []).append(pd.read_csv(paths["history"]))
    rows = table_rows(config, scores_by_unit)
    csv_path, _ = write_eer_table(rows, out_dir)
    plot_histories(histories, out_dir / "plots")
    plot_eer_vs_paper(rows, out_dir / "plots" / "eer_vs_paper.png")
    log(format_eer_table(rows))
    return csv_path


def _fold_view(config: ExperimentConfig, out_dir: Path) -> Arrays:
    """The fold numbers of the finished units, read from the prediction files' names."""
    found = set()
    for path in (out_dir / "predictions").glob("*/fold*.npz"):
        found.add(int(path.stem[4:]))
    folds = np.array(sorted(found) or [-1])
    return Arrays([], np.empty(0), np.empty(0), folds, ())


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
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(saved_path, yaml.safe_dump(current, sort_keys=False))


def _comparable(data: dict) -> dict:
    data = {k: v for k, v in data.items() if k != "source"}
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
