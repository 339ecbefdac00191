"""Paper A's task: multi-label tagging of CHiME-Home chunks, scored by per-tag EER.

Cross-validated over the official folds (or development -> evaluation set), one CRNN
per (row, fold) unit; see :class:`kerastag.runner.task.Task` for the protocol.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from kerastag.config import ExperimentConfig, config_to_dict
from kerastag.errors import KerastagError
from kerastag.fitting import holdout_indices, predict_scores, unit_seed
from kerastag.formats import run_folder
from kerastag.formats.eer_table import EerRow, format_eer_table, write_eer_table
from kerastag.loading import compute_features, multi_hot, prepare_dataset, stack_features
from kerastag.metrics import eer_per_tag, summarize_eer
from kerastag.plots import plot_histories
from kerastag.runner.task import Unit, UnitResult, folds_to_run


@dataclasses.dataclass
class TaggingData:
    """Features and targets of the clips an experiment uses."""

    clip_ids: list[str]
    x: np.ndarray          # (clips, frames, mels)
    y: np.ndarray          # (clips, classes) multi-hot
    folds: np.ndarray      # (clips,) fold, -1 for evaluation clips
    classes: tuple[str, ...]
    groups: np.ndarray     # (clips,) recording session (held out whole for early stopping)


class TaggingTask:
    """Cross-validated (or development -> evaluation) training of the CRNN per row."""

    def __init__(self, config: ExperimentConfig):
        self.config = config

    def load(self) -> TaggingData:
        """Features, targets and folds of every clip the protocol needs."""
        config = self.config
        dataset = prepare_dataset(config)
        evaluation = config.training.protocol == "evaluation"
        clips = [clip for clip in dataset.clips
                 if clip.fold is not None or (evaluation and clip.subset == "evaluation")]
        if not clips:
            raise KerastagError(f"{dataset.root}: no clips with a fold for training")
        result = compute_features(config, clips)
        x = stack_features(result.arrays, where=str(dataset.root))
        folds = np.array([-1 if clip.fold is None else clip.fold for clip in clips])
        return TaggingData([clip.clip_id for clip in clips], x, multi_hot(clips, dataset.classes),
                           folds, dataset.classes, np.array([clip.group for clip in clips]))

    def units(self, data: TaggingData) -> list[Unit]:
        """Every (row, fold) unit, rows in config order."""
        if self.config.training.protocol == "evaluation":
            names = ["evaluation"]
        else:
            present = sorted(set(data.folds[data.folds >= 0].tolist()))
            names = [f"fold{k}" for k in folds_to_run(self.config, present)]
        return [Unit(row, name) for row in self.config.rows for name in names]

    def train_unit(self, data: TaggingData, unit: Unit) -> UnitResult:
        from kerastag.tasks.tagging.training import train_tagger

        seed = unit_seed(self.config.seed, unit.row.name, unit.name)
        split, test = self._split(data, unit, seed)
        model, history = train_tagger(self.config, unit.row, split, seed=seed)
        return UnitResult(model, history, self._predictions(data, test, model))

    def rescore(self, data: TaggingData, unit: Unit, model) -> dict[str, np.ndarray]:
        return self._predictions(data, self._test_indices(data, unit), model)

    def metadata(self, data: TaggingData, unit: Unit) -> dict:
        """What ``predict`` needs beside the weights: classes, features, provenance."""
        return {
            "task": "tagging",
            "classes": list(data.classes),
            "features": config_to_dict(self.config.features) | {"cache_dir": None},
            "chunk_seconds": 4.0,
            "experiment": self.config.name,
            "row": unit.row.name,
            "unit": unit.name,
        }

    def write_results(self, out_dir: Path, units: list[Unit], predictions: dict, *, log) -> Path:
        """Table (csv, md) and plots from the saved predictions and histories."""
        from kerastag.tasks.tagging.plots import plot_eer_vs_paper

        rows = self.table_rows(predictions)
        csv_path, _ = write_eer_table(rows, out_dir)
        plot_histories(run_folder.read_histories(out_dir, [(u.row.name, u.name) for u in units]),
                       out_dir / "plots")
        plot_eer_vs_paper(rows, out_dir / "plots" / "eer_vs_paper.png")
        log(format_eer_table(rows))
        return csv_path

    def write_evaluation(self, out_dir: Path, units: list[Unit], predictions: dict, *, log):
        rows = self.table_rows(predictions)
        csv_path, _ = write_eer_table(rows, out_dir)
        log(format_eer_table(rows))
        return csv_path, rows

    def follow_up(self) -> None:
        return None

    def table_rows(self, predictions: dict) -> list[EerRow]:
        """One EerRow per config row from each unit's (y_true, scores)."""
        rows = []
        for row in self.config.rows:
            per_fold = [eer_per_tag(p["y_true"], p["scores"]) for unit, p in predictions.items()
                        if unit.row == row]
            summary = summarize_eer(np.stack(per_fold))
            rows.append(EerRow(name=row.name, model=row.display_model, mixing=row.mixing,
                               alpha=row.table_alpha,
                               per_tag=tuple(float(v) for v in summary.per_tag),
                               average=float(summary.average), var_1e3=float(summary.var_1e3)))
        return rows

    # --- helpers -----------------------------------------------------------------------

    def _predictions(self, data: TaggingData, test: np.ndarray, model) -> dict[str, np.ndarray]:
        scores = predict_scores(model, data.x[test], self.config.training.batch_size)
        return {"clip_ids": np.array([data.clip_ids[i] for i in test]), "y_true": data.y[test],
                "scores": scores}

    @staticmethod
    def _test_indices(data: TaggingData, unit: Unit) -> np.ndarray:
        if unit.fold is None:
            return np.flatnonzero(data.folds < 0)
        return np.flatnonzero(data.folds == unit.fold)

    def _split(self, data: TaggingData, unit: Unit, seed: int):
        from kerastag.tasks.tagging.training import Split

        test = self._test_indices(data, unit)
        train = np.flatnonzero((data.folds >= 0) & (data.folds != (-2 if unit.fold is None else unit.fold)))
        if self.config.training.validation == "test_fold" and unit.fold is not None:
            val = test  # the authors' choice: early stopping on the held-out fold (optimistic)
        else:
            keep, held = holdout_indices(len(train), self.config.training.validation_fraction, seed,
                                         groups=data.groups[train])
            train, val = train[keep], train[held]
        return Split(data.x[train], data.y[train], data.x[val], data.y[val]), test
