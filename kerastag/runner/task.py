"""The ``Task`` protocol: what the runner asks of paper A's tagging, paper B's
classification, or any task added later.

The runner (:mod:`kerastag.runner.run`) owns the run folder, resuming, saving and the
loop over units; it knows nothing of either paper. A task owns everything else: what it
loads, which units it has, how one unit trains, how a saved model is rescored, and the
tables and figures it writes. A task is registered by name in
:data:`kerastag.names.TASKS` and chosen by a config's ``task:`` key.

One unit is one model to train: a config row on ``fold<k>`` (trained without fold k,
scored on it), ``evaluation`` (trained on the development set, scored on the
evaluation set) or ``full`` (trained on all training clips, scored on the test set).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

import numpy as np
import pandas as pd

from kerastag.config import ExperimentConfig, RowConfig
from kerastag.errors import ConfigError
from kerastag.names import TASKS, resolve

if TYPE_CHECKING:
    from kerastag.formats.model_file import ModelInfo

Log = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class Unit:
    """One model to train: a row on ``fold<k>``, ``evaluation`` or ``full``."""

    row: RowConfig
    name: str

    @property
    def fold(self) -> int | None:
        """``k`` for ``fold<k>``, else None."""
        return int(self.name[4:]) if self.name.startswith("fold") else None


@dataclasses.dataclass
class UnitResult:
    """What training one unit produces.

    Attributes:
        model: the trained ``keras.Model``.
        history: one line per epoch: ``epoch`` and Keras' logs.
        predictions: arrays saved as the unit's ``.npz`` (at least ``clip_ids``).
    """

    model: Any
    history: pd.DataFrame
    predictions: dict[str, np.ndarray]


class Task(Protocol):
    """What a task implements. ``Data`` is whatever :meth:`load` returns."""

    def __init__(self, config: ExperimentConfig) -> None: ...

    def load(self) -> Any:
        """Read the dataset and the features every unit needs (validated, cached)."""

    def units(self, data: Any) -> list[Unit]:
        """Every unit of the experiment, in the order they are trained."""

    def train_unit(self, data: Any, unit: Unit) -> UnitResult:
        """Train one unit and score the clips it did not train on."""

    def rescore(self, data: Any, unit: Unit, model: Any) -> dict[str, np.ndarray]:
        """Score a reloaded model of ``unit`` the way :meth:`train_unit` did."""

    def model_info(self, data: Any, unit: Unit) -> ModelInfo:
        """What a saved model needs beside its weights (``task``, classes, features),
        written as its ``kerastag.json`` (:mod:`kerastag.formats.model_file`)."""

    def write_results(self, out_dir: Path, units: list[Unit],
                      predictions: dict[Unit, dict[str, np.ndarray]], *, log: Log) -> Path:
        """Tables and figures of a finished run; returns the main table's path."""

    def write_evaluation(self, out_dir: Path, units: list[Unit],
                         predictions: dict[Unit, dict[str, np.ndarray]], *,
                         log: Log) -> tuple[Path, list]:
        """The table recomputed from reloaded models (``kerastag evaluate``)."""

    def follow_up(self) -> str | None:
        """A stage of :data:`kerastag.names.STAGES` to run on the finished folder, or None."""


def make_task(config: ExperimentConfig) -> Task:
    """The registered task of ``config.task``."""
    return resolve(TASKS[config.task])(config)


def folds_to_run(config: ExperimentConfig, present: list[int]) -> list[int]:
    """The folds to run: ``training.folds`` (each must have clips) or all ``present``."""
    wanted = list(config.training.folds) if config.training.folds is not None else present
    missing = sorted(set(wanted) - set(present))
    if missing:
        raise ConfigError(f"training.folds: fold {missing[0]} has no clips in this dataset")
    return wanted
