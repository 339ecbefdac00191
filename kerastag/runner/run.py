"""``kerastag run`` and ``kerastag evaluate``: every unit of a config, whatever its task.

The runner claims the run folder (:mod:`kerastag.formats.run_folder`), asks the task
(:mod:`kerastag.runner.task`) for its units, trains the unfinished ones and saves each
whole (model, then history, then predictions — the "finished" marker), then lets the task
write its tables and figures. A run killed at any point and started again skips the
finished units, retrains the unfinished ones and loses nothing. The engine
``execution.engine`` names trains them (:mod:`kerastag.runner.engines`: here one after
another, ``local``, or as Ray tasks, ``ray``); whichever it is, the same files are written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerastag.compiled_models import reuse_for_inference
from kerastag.config import ExperimentConfig, config_from_run_data, resolved_config
from kerastag.errors import KerastagError
from kerastag.formats import run_folder
from kerastag.formats.model_file import load_model
from kerastag.names import STAGES, resolve
from kerastag.runner.engines import make_engine
from kerastag.runner.results import is_finished, is_finite, unit_paths
from kerastag.runner.task import Log, Unit, make_task


def default_run_dir(config: ExperimentConfig) -> Path:
    return Path("runs") / config.name


def run_experiment(config: ExperimentConfig, out_dir: Path, *, log: Log = print) -> Path:
    """Train every unfinished unit, then write the table and the plots.

    Nothing is written into ``out_dir`` before the task has loaded (and so validated) its
    dataset and features; the folder is then locked for the whole run.

    Returns:
        The path of the task's main table (``table.csv``).
    """
    out_dir = Path(out_dir)
    resolved = resolved_config(config)
    run_folder.check_resumable(out_dir, resolved, normalise=_normalised_run_data)
    engine = make_engine(config.execution)
    task = make_task(config)
    data = task.load()
    units = task.units(data)
    for note in _notes(task, data, units):
        log(f"note: {note}")
    with run_folder.locked(out_dir):
        run_folder.claim(out_dir, resolved, normalise=_normalised_run_data)
        todo = _unfinished(out_dir, units, log)
        if todo:
            engine.train(task, data, todo, out_dir=out_dir, units=units, log=log)
        table = task.write_results(out_dir, units, load_predictions(out_dir, units), log=log)
        stage = task.follow_up()
        if stage is not None:
            resolve(STAGES[stage])(out_dir, log=log)
    return table


def _notes(task, data, units: list[Unit]) -> list[str]:
    """What a task says of its data before training (e.g. tagging: classes too rare for
    the folds), through its optional ``notes(data, units)``."""
    notes = getattr(task, "notes", None)
    return [] if notes is None else list(notes(data, units))


def _unfinished(out_dir: Path, units: list[Unit], log: Log) -> list[Unit]:
    """The units still to train, logging the ones a previous run finished."""
    todo = []
    for index, unit in enumerate(units, start=1):
        if is_finished(out_dir, unit):
            log(f"[{index}/{len(units)}] {unit.row.name} {unit.name}: finished earlier, skipped")
        else:
            todo.append(unit)
    return todo


def evaluate_run(out_dir: Path, *, log: Log = print):
    """Reload every saved model, rescore its clips and recompute the table.

    Returns:
        The task's evaluation result (the path of ``DIR/evaluate/table.csv`` and rows).
    """
    out_dir = Path(out_dir)
    config = read_run_config(out_dir)
    task = make_task(config)
    data = task.load()
    units = task.units(data)
    with run_folder.locked(out_dir):
        predictions = {}
        for unit in units:
            model_path = unit_paths(out_dir, unit)["model"]
            if not model_path.is_file():
                raise KerastagError(f"{model_path}: model missing; finish the run with 'kerastag run'")
            model = load_model(model_path)
            if config.execution.reuse_models:
                model = reuse_for_inference(model)
            predictions[unit] = task.rescore(data, unit, model)
            log(f"{unit.row.name} {unit.name}: rescored {len(predictions[unit]['clip_ids'])} clips")
        return task.write_evaluation(run_folder.evaluate_dir(out_dir), units, predictions, log=log)


def load_predictions(out_dir: Path, units: list[Unit]) -> dict[Unit, dict[str, np.ndarray]]:
    """The saved predictions of every unit.

    Raises:
        KerastagError: a unit saved by an older kerastag holds non-finite scores; the
            message names the three files to delete so that the unit is trained again.
    """
    loaded = {}
    for unit in units:
        paths = unit_paths(out_dir, unit)
        loaded[unit] = run_folder.read_predictions(paths["predictions"])
        bad = [key for key, values in loaded[unit].items() if not is_finite(values)]
        if bad:
            files = ", ".join(str(path) for path in paths.values())
            raise KerastagError(f"{paths['predictions']}: holds non-finite {bad[0]} (a unit "
                                f"poisoned before kerastag 0.2 checked); delete {files} and "
                                f"run again to retrain it")
    return loaded


def read_run_config(out_dir: Path) -> ExperimentConfig:
    """The config a run folder was made with (older folders' keys upgraded)."""
    return config_from_run_data(run_folder.read_config_data(out_dir))


def _normalised_run_data(data: dict) -> dict:
    """A saved config as today's kerastag writes it (so old folders still resume)."""
    return resolved_config(config_from_run_data(dict(data)))
