"""``--engine ray``: every unfinished unit of a run as a Ray task.

The driver (the ``kerastag run`` process) puts the task and its loaded data into Ray's
object store once, so each node fetches the features once per run, not once per unit.
A worker is stateless: it trains the unit it is given and sends back a
:class:`~kerastag.runner.results.ShippedUnit` (the model file's bytes, the history, the
predictions), which the driver writes into the run folder as a local run would. Workers
need no shared file system and never touch the run folder.

Failures: a worker that dies (killed, out of memory, node lost) is restarted by Ray up to
``execution.ray.max_retries`` times; a unit that raises (a :class:`KerastagError` such as a
NaN loss, or a bug) stops the run with its one-line message. Units already finished stay
saved either way, so the next run, on either engine, resumes after them.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

from pathlib import Path

from kerastag.config.execution import RaySettings
from kerastag.errors import KerastagError, exception_line
from kerastag.runner.results import ShippedUnit
from kerastag.runner.task import Log, Unit


class RayEngine:
    """``engine: ray`` (:class:`kerastag.runner.engines.Engine`): its section is
    :class:`~kerastag.config.execution.RaySettings`; the driver writes each shipped unit
    into the run folder (:func:`kerastag.runner.results.write_shipped`)."""

    def __init__(self, settings: RaySettings, *, threads: int | None):
        self.settings = settings
        self.threads = threads

    def train(self, task: Any, data: Any, todo: list[Unit], *, out_dir: Path,
              units: list[Unit], log: Log) -> None:
        from kerastag.runner.results import write_shipped

        train_units_on_ray(task, data, todo, self.settings, self.threads, log=log,
                           on_finished=lambda unit, shipped: write_shipped(out_dir, unit, shipped))


def train_units_on_ray(task: Any, data: Any, units: list[Unit], settings: RaySettings,
                       threads: int | None, *,
                       on_finished: Callable[[Unit, ShippedUnit], None], log: Log) -> None:
    """Train ``units`` as Ray tasks; call ``on_finished`` for each, in finishing order.

    Args:
        task: the run's task (shipped to the workers with its config).
        data: what ``task.load()`` returned (shipped once, through the object store).
        units: the unfinished units.
        settings: the engine's section (address, resources per unit, retries).
        threads: TensorFlow's intra-op threads in a worker (None: its default).
        on_finished: writes a finished unit into the run folder (called in the driver).
        log: one line per finished unit.

    Raises:
        KerastagError: Ray is not installed or the cluster cannot be reached; a unit
            failed (its own one-line message) or its worker died more often than
            ``max_retries`` allows. Units finished before that have been written.
    """
    ray = _import_ray()
    _connect(ray, settings, log)
    _warn_idle_gpus(ray, settings, log)
    task_ref, data_ref = ray.put(task), ray.put(data)
    remote = ray.remote(_train_remote).options(
        num_cpus=settings.cpus_per_unit, num_gpus=settings.gpus_per_unit,
        max_retries=settings.max_retries, retry_exceptions=False)
    pending = {remote.remote(task_ref, data_ref, unit, threads): unit for unit in units}
    progress = _progress_bar(len(units))
    try:
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            unit = pending.pop(ref)
            shipped = _result(ray, ref, unit, settings)
            on_finished(unit, shipped)
            progress.update(1)
            log(f"{unit.row.name} {unit.name}: finished on {shipped.where()} "
                f"in {_duration(shipped.seconds)}")
    finally:
        for ref in pending:  # a failed unit stops the run: stop the others too
            ray.cancel(ref, force=True)
        progress.close()


def _train_remote(task, data, unit: Unit, threads: int | None) -> ShippedUnit:
    """What a Ray worker runs for one unit (module-level, so Ray pickles it by name)."""
    import ray

    from kerastag.fitting import configure_process
    from kerastag.runner.results import ship

    start = time.perf_counter()
    configure_process(threads)
    result = task.train_unit(data, unit)
    gpus = tuple(ray.get_gpu_ids()) if ray.is_initialized() else ()
    return ship(unit, result, task.model_info(data, unit), seconds=time.perf_counter() - start,
                gpus=gpus)


def _result(ray, ref, unit: Unit, settings: RaySettings) -> ShippedUnit:
    """The unit's result, or its failure as one KerastagError line."""
    from ray import exceptions

    try:
        return ray.get(ref)
    except exceptions.RayTaskError as exc:
        cause = exc.cause
        if isinstance(cause, KerastagError):
            raise type(cause)(str(cause)) from None
        raise KerastagError(f"{unit.row.name} {unit.name}: failed on a Ray worker with "
                            f"{type(cause).__name__}: {_first_line(cause)}") from None
    except exceptions.RayError as exc:  # the worker or its node died, past the retries
        raise KerastagError(
            f"{unit.row.name} {unit.name}: lost on Ray after up to {settings.max_retries + 1} "
            f"attempts ({type(exc).__name__}: {_first_line(exc)}); finished units are saved, "
            f"run again to resume (execution.ray.max_retries sets how often a unit whose worker "
            f"died is restarted)") from None


def _connect(ray, settings: RaySettings, log: Log) -> None:
    """Join ``execution.ray.address`` (or start a private Ray) unless this process already has."""
    if ray.is_initialized():
        return
    try:
        ray.init(address=settings.address, log_to_driver=False, include_dashboard=False,
                 configure_logging=False, runtime_env={"env_vars": _worker_env()})
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = settings.address or "a private Ray on this machine"
        raise KerastagError(f"execution.ray.address: cannot reach Ray at {where} "
                            f"({_first_line(exc)}); start it with 'ray start --head'") from None
    resources = ray.cluster_resources()
    log(f"ray: {len(ray.nodes())} node(s), {resources.get('CPU', 0):g} CPUs, "
        f"{resources.get('GPU', 0):g} GPUs; {settings.cpus_per_unit:g} CPU and "
        f"{settings.gpus_per_unit:g} GPU per unit")


def _worker_env() -> dict[str, str]:
    """Quiet TensorFlow in the workers, as in this process, with this process's oneDNN
    choice (kerastag's default, or the user's ``TF_ENABLE_ONEDNN_OPTS``), also on the
    machines of a cluster."""
    return {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
            "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1")}


def _warn_idle_gpus(ray, settings: RaySettings, log: Log) -> None:
    gpus = ray.cluster_resources().get("GPU", 0)
    if gpus and not settings.gpus_per_unit:
        log(f"ray: the cluster has {gpus:g} GPUs but execution.ray.gpus_per_unit is 0, so the "
            f"units train on CPUs; set it (e.g. 0.25 to pack 4 units per GPU)")


def _import_ray():
    try:
        import ray
    except ImportError:
        raise KerastagError("execution.engine: 'ray' needs Ray; install it with "
                            "pip install -e \".[ray]\" (or pip install 'ray>=2.9')") from None
    return ray


def _progress_bar(total: int):
    from tqdm import tqdm

    return tqdm(total=total, desc="units", unit="unit", dynamic_ncols=True)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _first_line(exc: BaseException) -> str:
    """What ``exc`` says in one line (TensorFlow's own message for its errors)."""
    return exception_line(exc) if str(exc).strip() else type(exc).__name__
