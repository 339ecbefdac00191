"""Paper A's task: multi-label tagging of CHiME-Home chunks, scored by per-tag EER.

Cross-validated over the official folds (or development -> evaluation set), one model
per (row, fold) unit; see :class:`kerastag.runner.task.Task` for the protocol. A row's
model is the config's CRNN or a Table 1 baseline it names (``network``), each on its own
input features (:meth:`TaggingTask.row_features`): every distinct input is extracted
once, for all rows that take it.

Clips of any length: every clip is cut into consecutive windows of
:data:`WINDOW_SECONDS` (4 s, a CHiME-Home chunk), zero-padded at its end to a whole
number of windows (a shorter clip is one padded window), and each input is computed
per window (:mod:`kerastag.features.windows`). In training each window is a sample
carrying its clip's tags; a clip's score (out-of-fold predictions, ``evaluate``,
``calibrate``) is the **maximum over its windows**, exactly as ``predict`` scores the
file. Folds and the early-stopping holdout split clips, never windows. A 4 s chunk is
one window, its feature the whole file's: CHiME-Home runs as before, sample for sample.
(The DAE-DNN and CGRNN go further by default and train on windows of frames inside a
window: :mod:`kerastag.tasks.tagging.frame_windows`.)

A row's targets are the dataset's tags, or with ``targets: tags_and_silence`` the tags
and CHiME-Home's ``S`` (silence / background) as one more output, last; its saved
predictions hold every output and the truth of each, its table row the tags only.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from kerastag.config import ExperimentConfig, config_to_dict, from_dict
from kerastag.config.sections import feature_section
from kerastag.errors import DatasetError, KerastagError
from kerastag.features.windows import TAGGING_WINDOW_SECONDS
from kerastag.fitting import holdout_indices, predict_scores, unit_seed
from kerastag.formats import run_folder
from kerastag.formats.eer_table import EerRow, format_eer_table, write_eer_table
from kerastag.formats.model_file import ModelInfo
from kerastag.loading import (ClipWindows, compute_features, multi_hot, prepare_dataset,
                              stack_windows, stream_paths)
from kerastag.metrics import eer_per_tag, summarize_eer
from kerastag.names import SILENCE_TARGET
from kerastag.plots import plot_histories
from kerastag.reference_results import compares_with_paper_a
from kerastag.runner.task import Unit, UnitResult, folds_to_run


#: Length of a window in seconds: the unit the models take, and how clips are cut.
WINDOW_SECONDS = TAGGING_WINDOW_SECONDS


@dataclasses.dataclass
class TaggingData:
    """Features and targets of the clips an experiment uses."""

    clip_ids: list[str]
    inputs: dict           # feature spec -> ClipWindows: every clip's windows
    y: np.ndarray          # (clips, classes) multi-hot
    folds: np.ndarray      # (clips,) fold, -1 for evaluation clips
    classes: tuple[str, ...]
    groups: np.ndarray     # (clips,) recording session (held out whole for early stopping)
    silence: np.ndarray | None = None  # (clips,) 1.0 where annotated silence; None: no annotation

    def targets(self, row) -> np.ndarray:
        """``(clips, outputs)``: the tags, and the silence column last for a row with
        ``targets: tags_and_silence``."""
        if row.targets == "tags":
            return self.y
        return np.concatenate([self.y, self.silence[:, None]], axis=1)


class TaggingTask:
    """Cross-validated (or development -> evaluation) training of each row's model."""

    def __init__(self, config: ExperimentConfig):
        self.config = config
        #: The dataset's classes (the models' outputs, the tables' columns), set by load.
        self.classes: tuple[str, ...] | None = None

    def family(self, row) -> str:
        """The row's model family: its ``network``, else ``model.type``."""
        return row.network or self.config.model.type

    def row_features(self, row):
        """The row's ``features:`` section: the row's own (a type takes its defaults),
        else its family's declared input (``default_input``, :mod:`kerastag.families`), else
        the config's."""
        where = f"rows[{self.config.rows.index(row)}].features"
        if isinstance(row.features, str):
            return from_dict(feature_section(row.features), {"type": row.features}, where)
        if row.features is not None:
            return row.features
        default = self.config.family_of(row).default_input
        if default is not None:
            return from_dict(feature_section(default["type"]), dict(default), where)
        return self.config.features

    def x_of(self, data: TaggingData, row) -> np.ndarray:
        """The features ``(windows, frames, bins)`` the row's model takes: every clip's
        windows, end to end in clip order (one per clip when all clips are 4 s)."""
        return self.windows_of(data, row).x

    def windows_of(self, data: TaggingData, row) -> ClipWindows:
        """The row's input, cut into windows (with each window's clip)."""
        return data.inputs[self.row_features(row).spec()]

    def load(self) -> TaggingData:
        """Features, targets and folds of every clip the protocol needs."""
        config = self.config
        self.check_init_from()
        dataset = prepare_dataset(config)
        self.classes = dataset.classes
        evaluation = config.training.protocol == "evaluation"
        clips = [clip for clip in dataset.clips
                 if clip.fold is not None or (evaluation and clip.subset == "evaluation")]
        if not clips:
            raise KerastagError(f"{dataset.root}: no clips with a fold for training")
        self._check_row_inputs(clips)
        silence = self._silence(clips, dataset)
        inputs = {}
        for section in self._distinct_features():
            if section.spec() not in inputs:
                result = compute_features(config, clips, features=section,
                                          window_seconds=WINDOW_SECONDS)
                inputs[section.spec()] = stack_windows(
                    result.arrays, [clip.path for clip in clips], where=str(dataset.root))
        folds = np.array([-1 if clip.fold is None else clip.fold for clip in clips])
        return TaggingData([clip.clip_id for clip in clips], inputs,
                           multi_hot(clips, dataset.classes), folds, dataset.classes,
                           np.array([clip.group for clip in clips]), silence)

    def _silence(self, clips, dataset) -> np.ndarray | None:
        """``(clips,)`` 1.0 for the chunks annotated silence (CHiME-Home's ``S``), None
        when the dataset has no such annotation.

        Raises:
            DatasetError: a row asks for ``targets: tags_and_silence`` on such a dataset.
        """
        if all("silence" in clip.extra for clip in clips):
            return np.array([float(clip.extra["silence"]) for clip in clips], np.float32)
        for row in self.config.rows:
            if row.targets == "tags_and_silence":
                raise DatasetError(
                    f"row {row.name!r}: targets: tags_and_silence needs each clip's silence "
                    f"annotation (CHiME-Home's {SILENCE_TARGET!r} in a chunk's majorityvote), "
                    f"which dataset.layout {self.config.dataset.layout!r} at {dataset.root} "
                    f"does not have; use targets: tags")
        return None

    def _check_row_inputs(self, clips) -> None:
        """Every row's input file exists for every clip (the IMD baselines read
        CHiME-Home's stereo 48 kHz files), checked before any feature is extracted.

        Raises:
            DatasetError: naming the first row whose input the dataset lacks.
        """
        for row in self.config.rows:
            section = self.row_features(row)
            try:
                stream_paths(clips, section.spec().stream, section.type,
                             self.config.dataset.layout)
            except DatasetError as exc:
                raise DatasetError(f"row {row.name!r} ({self.family(row)}): {exc}; remove "
                                   f"the row or train it on CHiME-Home") from None

    def check_init_from(self) -> None:
        """Every ``init_from`` is a tagging model of the row's family and features (read
        from its ``kerastag.json``), so a mismatch stops the run before any training."""
        from kerastag.models.transfer import check_source

        for index, row in enumerate(self.config.rows):
            source = self.config.init_from_of(row)
            if source is not None:
                check_source(source, where=f"rows[{index}] {row.name!r}", task="tagging",
                             family=self.family(row), features=self.row_features(row).spec())

    def _distinct_features(self) -> list:
        sections = []
        for row in self.config.rows:
            section = self.row_features(row)
            if section.spec() not in [s.spec() for s in sections]:
                sections.append(section)
        return sections

    def units(self, data: TaggingData) -> list[Unit]:
        """Every (row, fold) unit, rows in config order; a row's ``training.folds``
        override picks its own folds."""
        if self.config.training.protocol == "evaluation":
            return [Unit(row, "evaluation") for row in self.config.rows]
        present = sorted(set(data.folds[data.folds >= 0].tolist()))
        units = []
        for row in self.config.rows:
            config = dataclasses.replace(self.config, training=self.config.training_of(row))
            units += [Unit(row, f"fold{k}") for k in folds_to_run(config, present)]
        return units

    def notes(self, data: TaggingData, units: list[Unit]) -> list[str]:
        """One line per class too rare for the units' folds (its EER would be undefined
        on a tested fold, or it has no clip to train on); ``kerastag run`` logs them
        before training. The rule is :func:`kerastag.datasets.check.thin_class_notes`."""
        from kerastag.datasets.check import thin_class_notes

        splits = {}
        for unit in units:
            test = np.zeros(len(data.folds), bool)
            test[self._test_indices(data, unit)] = True
            train = (data.folds >= 0) & ~test
            splits.setdefault(unit.name, (unit.name, test, train))
        return thin_class_notes(data.classes, data.y, list(splits.values()))

    def train_unit(self, data: TaggingData, unit: Unit) -> UnitResult:
        from kerastag.tasks.tagging.training import train_tagger

        seed = unit_seed(self.config.seed, unit.row.name, unit.name)
        split, test = self._split(data, unit, seed)
        model, history = train_tagger(self.config, unit.row, split, seed=seed)
        return UnitResult(model, history, self._predictions(data, unit, test, model))

    def rescore(self, data: TaggingData, unit: Unit, model) -> dict[str, np.ndarray]:
        return self._predictions(data, unit, self._test_indices(data, unit), model)

    @staticmethod
    def outputs(data: TaggingData, row) -> list[str]:
        """The names of the row's model outputs: the dataset's classes, then ``S`` for a
        ``tags_and_silence`` row."""
        return list(data.classes) + ([SILENCE_TARGET] if row.targets == "tags_and_silence" else [])

    def model_info(self, data: TaggingData, unit: Unit) -> ModelInfo:
        """What ``predict`` needs beside the weights: classes, features, provenance."""
        from kerastag.models.transfer import init_from_provenance

        return ModelInfo(
            task="tagging", family=self.family(unit.row),
            classes=tuple(self.outputs(data, unit.row)),
            features=config_to_dict(self.row_features(unit.row)) | {"cache_dir": None},
            chunk_seconds=WINDOW_SECONDS, experiment=self.config.name, row=unit.row.name,
            unit=unit.name, init_from=init_from_provenance(self.config.init_from_of(unit.row)))

    def write_results(self, out_dir: Path, units: list[Unit], predictions: dict, *, log) -> Path:
        """Table (csv, md) and plots from the saved predictions and histories: columns
        are the dataset's classes; beside paper A's numbers (``plots/eer_vs_paper.png``)
        only on CHiME-Home, else ``plots/eer_per_class.png``."""
        from kerastag.tasks.tagging.plots import plot_eer

        rows = self.table_rows(predictions)
        tags, paper = self._table_columns()
        csv_path, _ = write_eer_table(rows, out_dir, tags=tags, paper=paper)
        plot_histories(run_folder.read_histories(out_dir, [(u.row.name, u.name) for u in units]),
                       run_folder.plots_dir(out_dir))
        plot_name = "eer_vs_paper.png" if paper else "eer_per_class.png"
        plot_eer(rows, run_folder.plots_dir(out_dir) / plot_name, tags=tags, paper=paper)
        log(format_eer_table(rows, tags=tags, paper=paper))
        return csv_path

    def write_evaluation(self, out_dir: Path, units: list[Unit], predictions: dict, *, log):
        rows = self.table_rows(predictions)
        tags, paper = self._table_columns()
        csv_path, _ = write_eer_table(rows, out_dir, tags=tags, paper=paper)
        log(format_eer_table(rows, tags=tags, paper=paper))
        return csv_path, rows

    def _table_columns(self) -> tuple[tuple[str, ...], bool]:
        """The dataset's classes (the tables' columns) and whether the tables set the
        rows beside paper A (CHiME-Home only)."""
        if self.classes is None:
            raise KerastagError("tagging task: the dataset's classes are unknown; load the "
                                "dataset (TaggingTask.load) before writing its tables")
        return self.classes, compares_with_paper_a(self.config.dataset.layout, self.classes)

    def follow_up(self) -> None:
        return None

    def table_rows(self, predictions: dict) -> list[EerRow]:
        """One EerRow per config row from each unit's (y_true, scores), over the
        dataset's classes (a ``tags_and_silence`` row's last column, ``S``, is left out)."""
        rows = []
        tags = len(self._table_columns()[0])  # a tags_and_silence row's S is not in the table
        for row in self.config.rows:
            per_fold = [eer_per_tag(p["y_true"][:, :tags], p["scores"][:, :tags])
                        for unit, p in predictions.items() if unit.row == row]
            summary = summarize_eer(np.stack(per_fold))
            rows.append(EerRow(name=row.name, model=row.display_model,
                               mixing=row.variant or row.mixing,
                               alpha=row.table_alpha,
                               per_tag=tuple(float(v) for v in summary.per_tag),
                               average=float(summary.average), var_1e3=float(summary.var_1e3)))
        return rows

    # --- helpers -----------------------------------------------------------------------

    def _predictions(self, data: TaggingData, unit: Unit, test: np.ndarray,
                     model) -> dict[str, np.ndarray]:
        windows = self.windows_of(data, unit.row)
        test_windows = windows.of(test)
        x = windows.x[test_windows]
        if not self.config.family_of(unit.row).keras_model:  # scores in numpy (the GMM's)
            scores = model.predict(x) if len(x) else np.zeros((0, data.y.shape[1]), np.float32)
        else:
            scores = predict_scores(model, x, self.config.training_of(unit.row).batch_size)
        return {"clip_ids": np.array([data.clip_ids[i] for i in test]),
                "y_true": data.targets(unit.row)[test],
                "scores": windows.clip_maximum(scores, test_windows)}

    @staticmethod
    def _test_indices(data: TaggingData, unit: Unit) -> np.ndarray:
        if unit.fold is None:
            return np.flatnonzero(data.folds < 0)
        return np.flatnonzero(data.folds == unit.fold)

    def _split(self, data: TaggingData, unit: Unit, seed: int):
        from kerastag.tasks.tagging.training import Split

        test = self._test_indices(data, unit)
        train = np.flatnonzero((data.folds >= 0) & (data.folds != (-2 if unit.fold is None else unit.fold)))
        training = self.config.training_of(unit.row)
        if training.validation == "test_fold" and unit.fold is not None:
            val = test  # the authors' choice: early stopping on the held-out fold (optimistic)
        else:
            keep, held = holdout_indices(len(train), training.validation_fraction, seed,
                                         groups=data.groups[train])
            train, val = train[keep], train[held]
        windows = self.windows_of(data, unit.row)
        train, val = windows.of(train), windows.of(val)  # a clip's windows stay together
        y = data.targets(unit.row)[windows.clip]
        return Split(windows.x[train], y[train], windows.x[val], y[val], train, val), test
