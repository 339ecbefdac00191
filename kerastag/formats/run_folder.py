"""The run folder: where ``kerastag run`` puts each unit's files, and how they are read.

Layout::

    DIR/config.yaml                      the resolved config (absolute paths)
    DIR/models/<row>/<unit>.keras        best model of each (row, unit) (the GMM
                                         baseline's: <unit>.gmm.json)
    DIR/histories/<row>/<unit>.csv       its training history (one line per epoch)
    DIR/predictions/<row>/<unit>.npz     its scores on the clips it did not see; written
                                         last, so its presence marks the unit finished
    DIR/table.csv, DIR/table.md          the task's result table
    DIR/test/table.csv, table.md         paper B: the table on the test set (when labelled)
    DIR/plots/                           history curves per row and the task's plots
    DIR/level1/<row>.oof.csv, .test.csv  paper B: level-1 probabilities (formats.level1_csv)
    DIR/level1/classes.json              ... and their class order
    DIR/submissions/<row>.csv            paper B: Kaggle submission per row (submission_csv)
    DIR/stack/                           paper B level 2 (``kerastag stack``): table.csv,
                                         table.md, test/, level2.json, level2_meta.json,
                                         stack.oof.csv, stack.test.csv, submission.csv
    DIR/thresholds/<row>.json            ``kerastag calibrate``: a row's thresholds
    DIR/thresholds/thresholds.csv        ... and all rows' in one table (formats.thresholds)
    DIR/thresholds/events.csv            ``calibrate --events``: each row's tags' frame decisions
    DIR/thresholds/<row>_events.png      ... and their event F1 before and after, per row
    DIR/evaluate/                        ``kerastag evaluate``: the tables recomputed

Every file is written to a temporary name and renamed, so a folder never holds half a
file. The writer and the reader of each file are both here; the name of every folder
and table of the layout is spelled here and nowhere else.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np
import yaml

from kerastag.errors import ConfigError, KerastagError
from kerastag.fileio import atomic_path, remove_temporaries, write_text_atomic

if TYPE_CHECKING:  # pandas is imported where a history is read: the paths need none of it
    import pandas as pd

CONFIG_FILE = "config.yaml"
LOCK_FILE = ".kerastag.lock"
HOLDER_FILE = ".kerastag.lock.holder"

MODELS_DIR = "models"
HISTORIES_DIR = "histories"
PREDICTIONS_DIR = "predictions"
PLOTS_DIR = "plots"
TEST_DIR = "test"
LEVEL1_DIR = "level1"
SUBMISSIONS_DIR = "submissions"
STACK_DIR = "stack"
STACK_SUBMISSION_FILE = "submission.csv"
THRESHOLDS_DIR = "thresholds"
THRESHOLDS_TABLE_FILE = "thresholds.csv"
EVENT_THRESHOLDS_TABLE_FILE = "events.csv"
EVALUATE_DIR = "evaluate"
TABLE_CSV = "table.csv"
TABLE_MD = "table.md"

#: Config keys that may differ between the run that made a folder and one resuming it.
_RESUMABLE_DIFFERENCES = ("source", "stack", "name", "execution")


# ----------------------------------------------------------------------- paths


def unit_paths(out_dir: Path, row: str, unit: str) -> dict[str, Path]:
    """The model, history and predictions files of unit ``unit`` of row ``row``; the
    model file is the one saved (any of ``MODEL_SUFFIXES``), else the ``.keras`` name."""
    from kerastag.formats.model_file import MODEL_SUFFIXES  # imports Keras: only when needed

    out_dir = Path(out_dir)
    models = models_dir(out_dir, row)
    saved = [models / f"{unit}{suffix}" for suffix in MODEL_SUFFIXES
             if (models / f"{unit}{suffix}").is_file()]
    return {
        "model": saved[0] if saved else models / f"{unit}.keras",
        "history": out_dir / HISTORIES_DIR / row / f"{unit}.csv",
        "predictions": predictions_dir(out_dir, row) / f"{unit}.npz",
    }


def models_dir(out_dir: Path, row: str) -> Path:
    """``DIR/models/<row>/``: the row's saved models, one per unit."""
    return Path(out_dir) / MODELS_DIR / row


def predictions_dir(out_dir: Path, row: str) -> Path:
    """``DIR/predictions/<row>/``: the row's scores, one ``<unit>.npz`` per unit."""
    return Path(out_dir) / PREDICTIONS_DIR / row


def table_paths(out_dir: Path) -> tuple[Path, Path]:
    """``(table.csv, table.md)`` of a result folder (a run, its ``test/``, ``stack/``...)."""
    return Path(out_dir) / TABLE_CSV, Path(out_dir) / TABLE_MD


def tables_of_test_set(out_dir: Path) -> Path:
    """``<folder>/test/``: a result folder's tables on the test set."""
    return Path(out_dir) / TEST_DIR


def plots_dir(out_dir: Path) -> Path:
    return Path(out_dir) / PLOTS_DIR


def evaluate_dir(out_dir: Path) -> Path:
    """``DIR/evaluate/``: where ``kerastag evaluate`` writes the recomputed tables."""
    return Path(out_dir) / EVALUATE_DIR


def level1_dir(out_dir: Path) -> Path:
    """``DIR/level1/``: paper B's level-1 probability tables (read by ``kerastag stack``)."""
    return Path(out_dir) / LEVEL1_DIR


def submission_path(out_dir: Path, row: str) -> Path:
    """``DIR/submissions/<row>.csv``: a paper-B row's Kaggle submission."""
    return Path(out_dir) / SUBMISSIONS_DIR / f"{row}.csv"


def stack_dir(run_dir: Path, out_dir: Path | None = None) -> Path:
    """Where ``kerastag stack`` writes: ``out_dir`` when given, else ``DIR/stack/``."""
    return Path(run_dir) / STACK_DIR if out_dir is None else Path(out_dir)


def thresholds_dir(out_dir: Path) -> Path:
    """``DIR/thresholds/``: ``kerastag calibrate``'s files."""
    return Path(out_dir) / THRESHOLDS_DIR


def thresholds_path(out_dir: Path, row: str) -> Path:
    """``DIR/thresholds/<row>.json``: the calibrated thresholds of row ``row``."""
    return thresholds_dir(out_dir) / f"{row}.json"


def thresholds_table_path(out_dir: Path) -> Path:
    """``DIR/thresholds/thresholds.csv``: every calibrated row's thresholds in one table."""
    return thresholds_dir(out_dir) / THRESHOLDS_TABLE_FILE


def event_thresholds_table_path(out_dir: Path) -> Path:
    """``DIR/thresholds/events.csv``: ``calibrate --events``' frame decisions, every row."""
    return thresholds_dir(out_dir) / EVENT_THRESHOLDS_TABLE_FILE


def event_thresholds_plot_path(out_dir: Path, row: str) -> Path:
    """``DIR/thresholds/<row>_events.png``: a row's event F1 before and after tuning."""
    return thresholds_dir(out_dir) / f"{row}_events.png"


def run_and_row_of_model(model_path: Path) -> tuple[Path, str] | None:
    """``(DIR, row)`` of a model saved at ``DIR/models/<row>/<unit>...``; None for a model
    anywhere else."""
    row_dir = Path(model_path).parent
    if row_dir.parent.name != MODELS_DIR or not row_dir.name:
        return None
    return row_dir.parent.parent, row_dir.name


# ----------------------------------------------------------------------- files


def is_finished(out_dir: Path, row: str, unit: str) -> bool:
    """True when all three files of the unit are there (predictions are written last)."""
    return all(path.is_file() for path in unit_paths(out_dir, row, unit).values())


def write_history(path: Path, history: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        history.to_csv(tmp, index=False)


def read_history(path: Path) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(path)


def read_histories(out_dir: Path, units: list[tuple[str, str]]) -> dict[str, list[pd.DataFrame]]:
    """Histories of ``(row, unit)`` pairs grouped by row, in the given order."""
    histories: dict[str, list[pd.DataFrame]] = {}
    for row, unit in units:
        histories.setdefault(row, []).append(read_history(unit_paths(out_dir, row, unit)["history"]))
    return histories


def write_predictions(path: Path, predictions: dict[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp:
        np.savez(tmp, **predictions)


def read_predictions(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as saved:
        return {key: saved[key] for key in saved.files}


@contextlib.contextmanager
def locked(out_dir: Path) -> Iterator[None]:
    """Hold the run folder's lock (created with the folder if needed) for the block.

    A second kerastag process on the same folder is refused at once, with the holder's
    pid and host, instead of interleaving its files with this one's. The lock is an OS
    file lock (``filelock``), released when the holder exits, even when killed; the
    temporary files a killed holder left are removed once the lock is taken.

    Raises:
        KerastagError: another process holds the lock.
    """
    import filelock

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(out_dir / LOCK_FILE, blocking=False, is_singleton=True)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise KerastagError(f"{out_dir}: in use by another kerastag process "
                            f"({_holder(out_dir)}); wait for it to finish or use another "
                            f"--out") from None
    try:
        if lock.lock_counter == 1:
            write_text_atomic(out_dir / HOLDER_FILE, f"pid {os.getpid()} on {socket.gethostname()}\n")
            remove_temporaries(out_dir)
        yield
    finally:
        lock.release()


def _holder(out_dir: Path) -> str:
    try:
        return (out_dir / HOLDER_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return "pid unknown"


def check_resumable(out_dir: Path, resolved: dict, *, normalise=lambda data: data) -> None:
    """Refuse, before any work, a folder whose ``config.yaml`` is of a different config."""
    saved_path = Path(out_dir) / CONFIG_FILE
    if saved_path.is_file():
        saved = normalise(yaml.safe_load(saved_path.read_text(encoding="utf-8")))
        if _comparable(saved) != _comparable(resolved):
            raise ConfigError(f"{out_dir}: holds a run of a different config "
                              f"(see {saved_path}); choose another --out or delete the folder")


def claim(out_dir: Path, resolved: dict, *, normalise=lambda data: data) -> None:
    """Write ``config.yaml``; refuse a folder that holds a run of a different config.

    Args:
        out_dir: the run folder (created if needed).
        resolved: the config as plain data with absolute paths.
        normalise: maps the saved data to today's form before comparing (older
            kerastag versions named some keys differently).

    Raises:
        ConfigError: the folder's ``config.yaml`` differs in more than the name, the
            verbosity and the ``stack:`` section.
    """
    saved_path = Path(out_dir) / CONFIG_FILE
    check_resumable(out_dir, resolved, normalise=normalise)
    if saved_path.is_file():
        if saved_path.read_text(encoding="utf-8") != yaml.safe_dump(resolved, sort_keys=False):
            write_text_atomic(saved_path, yaml.safe_dump(resolved, sort_keys=False))
        return
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    write_text_atomic(saved_path, yaml.safe_dump(resolved, sort_keys=False))


def read_config_data(out_dir: Path) -> dict:
    """The plain data of a run folder's ``config.yaml``, with ``source`` set to it."""
    path = Path(out_dir) / CONFIG_FILE
    if not path.is_file():
        raise KerastagError(f"{out_dir}: not a kerastag run folder (no {CONFIG_FILE})")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["source"] = str(path.resolve())
    return data


def _comparable(data: dict) -> dict:
    """What must match for a folder to be resumed: all but the name, verbosity and level 2."""
    data = {k: v for k, v in data.items() if k not in _RESUMABLE_DIFFERENCES}
    data["training"] = {k: v for k, v in data.get("training", {}).items() if k != "verbose"}
    return data
