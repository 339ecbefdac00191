"""Engines: what trains a run's unfinished units and hands each finished one to the run
folder. The runner asks :data:`kerastag.names.ENGINES` for the one ``execution.engine``
names (:func:`make_engine`); ``local`` is here, ``ray`` in :mod:`kerastag.runner.ray_engine`.

An engine is made from its validated ``execution.<name>`` section and the threads a unit
gets; its ``train`` must leave each finished unit's three files as
:func:`kerastag.runner.results.save_unit` writes them (model, history, then predictions,
the "finished" marker), so resuming and the tables do not depend on the engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from kerastag.config import ExecutionConfig
from kerastag.errors import KerastagError, exception_line
from kerastag.names import ENGINES, resolve
from kerastag.runner.results import save_unit
from kerastag.runner.task import Log, Unit


class Engine(Protocol):
    """Trains units; made as ``Engine(settings, threads=...)``.

    ``settings`` is its ``execution.<name>`` section (a dataclass it declares in
    :class:`kerastag.names.EngineEntry`); ``threads`` is TensorFlow's intra-op thread
    count for a unit (``execution.threads_per_unit`` or the section's default; None:
    TensorFlow's own).
    """

    def train(self, task: Any, data: Any, todo: list[Unit], *, out_dir: Path,
              units: list[Unit], log: Log) -> None:
        """Train every unit of ``todo`` (a sublist of ``units``, the whole run's) and
        write each into ``out_dir``; a failure is a one-line KerastagError naming the unit
        (units finished before it stay saved)."""


def make_engine(execution: ExecutionConfig) -> Engine:
    """The engine ``execution.engine`` names, made from its section."""
    return resolve(ENGINES[execution.engine].engine)(execution.settings(),
                                                     threads=execution.unit_threads())


class LocalEngine:
    """``engine: local``: the units one after another in this process."""

    def __init__(self, settings: Any, *, threads: int | None):
        self.settings = settings
        self.threads = threads

    def train(self, task: Any, data: Any, todo: list[Unit], *, out_dir: Path,
              units: list[Unit], log: Log) -> None:
        if todo and self.threads is not None:
            from kerastag.fitting import configure_process

            warning = configure_process(self.threads)
            if warning:
                log(warning)
        position = {unit: index for index, unit in enumerate(units, start=1)}
        for unit in todo:
            log(f"[{position[unit]}/{len(units)}] {unit.row.name} {unit.name}: training")
            train_and_save(task, data, unit, out_dir)


def train_and_save(task: Any, data: Any, unit: Unit, out_dir: Path) -> None:
    """Train ``unit`` here and save it; an unexpected error becomes one line naming it."""
    try:
        save_unit(out_dir, unit, task.train_unit(data, unit), task.model_info(data, unit))
    except KerastagError:
        raise
    except Exception as exc:  # TensorFlow's errors, a bug: one line naming the unit
        raise KerastagError(f"{unit.row.name} {unit.name}: {type(exc).__name__}: "
                            f"{exception_line(exc)}") from exc
