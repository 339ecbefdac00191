"""``kerastag calibrate``: per-tag decision thresholds from a paper-A run's out-of-fold
predictions.

For each row, the ``predictions/<row>/fold<k>.npz`` of its cross-validation units (never
``evaluation`` / ``full``: their clips are the test set) are pooled and each tag's
threshold is chosen by a criterion of :data:`kerastag.formats.thresholds.CRITERIA`:
``eer`` (:func:`kerastag.metrics.eer_threshold`) or ``f1``
(:func:`kerastag.metrics.max_f1_threshold`). A tag without positive or without negative
clips keeps :data:`~kerastag.formats.thresholds.DEFAULT_THRESHOLD` (a note is logged). A
row whose scores are not probabilities (the GMM baseline's log-likelihood ratios) gets no
thresholds (a note is logged).

Files (:mod:`kerastag.formats.thresholds`)::

    <run>/thresholds/<row>.json      one per row; thresholds_path_for_model finds it
                                     for a model of <run>/models/<row>/
    <run>/thresholds/thresholds.csv  row,criterion,<tag>... (one line per row)

The tags are those the row's saved model outputs (its ``kerastag.json`` ``classes``);
without a saved model, the dataset's. Everything is read and checked before anything is
written.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

from kerastag.config import ExperimentConfig, RowConfig, config_from_run_data
from kerastag.errors import ConfigError, KerastagError, ModelError, ThresholdError
from kerastag.formats import run_folder
from kerastag.formats.thresholds import (CRITERIA, DEFAULT_THRESHOLD, write_thresholds,
                                         write_thresholds_table)
from kerastag.metrics import eer_threshold, max_f1_threshold

#: Criterion -> the per-tag function ``(y_true (n,), scores (n,)) -> threshold or NaN``.
CRITERION_FUNCTIONS: dict[str, Callable] = {"eer": eer_threshold, "f1": max_f1_threshold}
_FOLD_FILE = re.compile(r"fold(\d+)\.npz")


@dataclasses.dataclass(frozen=True)
class RowThresholds:
    """One row's calibration.

    Attributes:
        row: the row name.
        classes: the tags, in the model's output order.
        values: shape ``(tags,)``, the thresholds (fallbacks included); None for a row
            whose family declares scores other than probabilities (the GMM baseline's
            log-likelihood ratios, :mod:`kerastag.families`) or whose scores leave
            ``[0, 1]``, which gets no thresholds.
        fallback: the tags that kept the default threshold (no positives or negatives).
        folds: the units pooled, e.g. ``("fold0", "fold1")``.
        clips: how many out-of-fold clips were pooled.
    """

    row: str
    classes: tuple[str, ...]
    values: np.ndarray | None
    fallback: tuple[str, ...]
    folds: tuple[str, ...]
    clips: int


def calibrate_run(run_dir, *, criterion: str = "eer", log=print) -> list[Path]:
    """Write per-tag thresholds for every row of a finished paper-A run.

    Args:
        run_dir: the run folder (``kerastag run``'s ``--out``).
        criterion: ``"eer"`` or ``"f1"``.
        log: receives one line per row (and a note per tag that kept the default).

    Returns:
        The files written: ``thresholds/<row>.json`` of each row in config order, then
        ``thresholds/thresholds.csv``.

    Raises:
        KerastagError: (one line) an unknown criterion; not a run folder; a paper-B
            (classification) run; an evaluation-protocol or unfinished run (no
            out-of-fold predictions); an unreadable predictions file; tags that cannot be
            named or do not match the scores; another process holds the folder.
    """
    run_dir = Path(run_dir)
    if criterion not in CRITERIA:
        raise ThresholdError(f"unknown criterion {criterion!r}; expected one of "
                             f"{', '.join(CRITERIA)}")
    config = read_run_config(run_dir)
    _check_task(run_dir, config)
    with run_folder.locked(run_dir):
        results, skipped = [], []
        for row in config.rows:
            result = _calibrate_row(run_dir, config, row, criterion)
            (skipped if result.values is None else results).append(result)
        if not results:
            raise ThresholdError(f"{run_dir}: no row scores clips with probabilities in "
                                 f"[0, 1] (e.g. only the GMM baseline's log-likelihood "
                                 f"ratios); nothing to calibrate")
        classes = results[0].classes
        for result in results[1:]:
            if result.classes != classes:
                raise ThresholdError(f"{run_dir}: row {result.row!r} has tags "
                                     f"{', '.join(result.classes)} but row {results[0].row!r} "
                                     f"has {', '.join(classes)}")
        source = run_dir.resolve()
        written = []
        for result in skipped:
            log(f"note: {result.row}: scores are not probabilities in [0, 1] (e.g. the GMM "
                f"baseline's log-likelihood ratios); no thresholds for this row")
        for result in results:
            for tag in result.fallback:
                log(f"note: {result.row}: tag {tag!r} has no positive or no negative "
                    f"out-of-fold clip; its threshold stays {DEFAULT_THRESHOLD}")
            written.append(write_thresholds(run_folder.thresholds_path(run_dir, result.row),
                                            result.classes,
                                            result.values, criterion=criterion,
                                            row=result.row, source=source))
            values = " ".join(f"{tag}={value:.3f}" for tag, value in
                              zip(result.classes, result.values))
            log(f"{result.row}: {criterion} thresholds from {len(result.folds)} folds "
                f"({result.clips} clips): {values}")
        written.append(write_thresholds_table(
            run_folder.thresholds_table_path(run_dir), classes,
            {r.row: r.values for r in results}, criterion=criterion))
    return written


def read_run_config(run_dir: Path) -> ExperimentConfig:
    """The run's config; a damaged ``config.yaml`` is a one-line error."""
    path = run_dir / run_folder.CONFIG_FILE
    try:
        return config_from_run_data(run_folder.read_config_data(run_dir))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{path}: not valid YAML ({reason}{where})") from None
    except (TypeError, AttributeError):
        raise ConfigError(f"{path}: not a kerastag run config (expected a mapping of "
                          f"config keys)") from None


def _check_task(run_dir: Path, config: ExperimentConfig) -> None:
    check_tagging_run(run_dir, config)
    evaluation = [row.name for row in config.rows
                  if config.training_of(row).protocol == "evaluation"]
    if evaluation:
        raise ThresholdError(
            f"{run_dir}: row {evaluation[0]!r} uses training.protocol 'evaluation' and so has "
            f"no out-of-fold predictions (its scores are on the evaluation set, which must not "
            f"tune thresholds); run the config with protocol 'crossval' using 'kerastag run' first")
    if not run_folder.table_paths(run_dir)[0].is_file():
        raise ThresholdError(f"{run_dir}: unfinished run (no {run_folder.TABLE_CSV}, written "
                             f"once every unit is finished); finish it with 'kerastag run' "
                             f"first")


def check_tagging_run(run_dir: Path, config: ExperimentConfig) -> None:
    """A one-line error for a run that is not paper-A tagging."""
    if config.task == "classification":
        raise ThresholdError(f"{run_dir}: a paper-B classification run (task: classification) "
                             f"is single-label, its prediction is the most probable class; "
                             f"per-tag thresholds are meaningless there, calibrate a tagging run")
    if config.task != "tagging":
        raise ThresholdError(f"{run_dir}: task {config.task!r}; kerastag calibrate works on "
                             f"tagging runs only")


def _fold_units(run_dir: Path, config: ExperimentConfig, row: RowConfig) -> list[str]:
    """The row's ``fold<k>`` units with predictions, checked complete."""
    folder = run_folder.predictions_dir(run_dir, row.name)
    found = sorted((int(m.group(1)) for p in folder.glob("fold*.npz")
                    if (m := _FOLD_FILE.fullmatch(p.name))))
    wanted = config.training_of(row).folds
    missing = sorted(set(wanted) - set(found)) if wanted is not None else []
    models = run_folder.models_dir(run_dir, row.name)
    modelled = {int(m.group(1)) for p in models.glob("fold*")
                if (m := re.fullmatch(r"fold(\d+)\..+", p.name))}
    unfinished = sorted(modelled - set(found))
    if not found:
        raise ThresholdError(f"{folder}: no out-of-fold predictions (fold<k>.npz) of row "
                             f"{row.name!r}; finish the run with 'kerastag run' first")
    if missing or unfinished:
        k = (missing or unfinished)[0]
        raise ThresholdError(f"{folder / f'fold{k}.npz'}: not found, fold {k} of row "
                             f"{row.name!r} is unfinished; finish the run with 'kerastag run' "
                             f"first")
    return [f"fold{k}" for k in found]


def _load_row(run_dir: Path, row: RowConfig, units: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Pooled ``(y_true, scores)``, each ``(clips, tags)``, of the row's fold units."""
    ys, scores = [], []
    for unit in units:
        path = run_folder.unit_paths(run_dir, row.name, unit)["predictions"]
        try:
            saved = run_folder.read_predictions(path)
        except (OSError, ValueError, EOFError) as exc:
            reason = (exc.strerror if isinstance(exc, OSError) and exc.strerror
                      else "not a numpy .npz archive")
            raise ThresholdError(f"{path}: unreadable predictions file ({reason}); delete it "
                                 f"and run 'kerastag run' again to redo the unit") from None
        for key in ("y_true", "scores"):
            if key not in saved:
                raise ThresholdError(f"{path}: no {key!r} array (has {', '.join(saved)})")
        y, s = saved["y_true"], saved["scores"]
        if y.ndim != 2 or y.shape != s.shape:
            raise ThresholdError(f"{path}: y_true {y.shape} and scores {s.shape} must be "
                                 f"(clips, tags) of the same shape")
        if ys and s.shape[1] != scores[0].shape[1]:
            raise ThresholdError(f"{path}: {s.shape[1]} tags, but {units[0]} of the row has "
                                 f"{scores[0].shape[1]}")
        if not np.all(np.isfinite(s)) or not np.all((y == 0) | (y == 1)):
            raise ThresholdError(f"{path}: scores must be finite and y_true 0/1; delete it and "
                                 f"run 'kerastag run' again to redo the unit")
        ys.append(y)
        scores.append(s)
    return np.concatenate(ys), np.concatenate(scores)


def _row_classes(run_dir: Path, config: ExperimentConfig, row: RowConfig,
                 units: list[str]) -> tuple[str, ...]:
    """The tags of the row: a saved model's ``classes``, else the dataset's."""
    from kerastag.formats.model_file import read_model_info

    for unit in units:
        model = run_folder.unit_paths(run_dir, row.name, unit)["model"]
        if model.is_file():
            try:
                return read_model_info(model).classes
            except ModelError:
                continue
    return _dataset_classes(config)


def _dataset_classes(config: ExperimentConfig) -> tuple[str, ...]:
    from kerastag.datasets import Problems, get_layout, read_dataset

    fixed = get_layout(config.dataset.layout).classes
    if fixed is not None:
        return tuple(fixed)
    try:
        return tuple(read_dataset(config.dataset_path(), config.dataset.layout,
                                  problems=Problems(strict=False)).classes)
    except KerastagError as exc:
        raise ThresholdError(f"no saved model to name the tags, and the dataset cannot "
                             f"either: {exc}") from None


def _calibrate_row(run_dir: Path, config: ExperimentConfig, row: RowConfig,
                   criterion: str) -> RowThresholds:
    units = _fold_units(run_dir, config, row)
    y, s = _load_row(run_dir, row, units)
    classes = _row_classes(run_dir, config, row, units)
    if len(classes) != s.shape[1]:
        raise ThresholdError(f"{run_folder.predictions_dir(run_dir, row.name)}: scores have "
                             f"{s.shape[1]} tags but the row's model has {len(classes)} "
                             f"({', '.join(classes)})")
    declares_probabilities = config.family_of(row).scores == "probabilities"
    if not declares_probabilities or (s.size and (s.min() < 0.0 or s.max() > 1.0)):
        return RowThresholds(row.name, classes, None, (), tuple(units), int(y.shape[0]))
    function = CRITERION_FUNCTIONS[criterion]
    raw = [function(y[:, k], s[:, k]) for k in range(len(classes))]
    fallback = tuple(tag for tag, value in zip(classes, raw) if math.isnan(value))
    values = np.array([DEFAULT_THRESHOLD if math.isnan(v) else v for v in raw])
    return RowThresholds(row.name, classes, values, fallback, tuple(units), int(y.shape[0]))
