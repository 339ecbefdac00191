"""``--engine ray`` when things go wrong: a worker killed mid-unit is retried, a unit that
raises stops the run with its one line and keeps the finished units, and a run stopped on
one engine resumes on the other without training a finished unit again."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from kerastag.config import load_config
from kerastag.errors import KerastagError
from kerastag.runner import run as runner
from kerastag.tasks.tagging.task import TaggingTask

pytestmark = pytest.mark.slow


def one_row_two_folds(tmp_path: Path, dataset: Path, engine: str, cpus_per_unit: int = 1,
                      max_retries: int = 1) -> Path:
    path = tmp_path / f"{engine}.yaml"
    path.write_text(
        f"name: flaky\ndataset: {{path: {dataset}}}\n"
        f"features: {{n_mels: 16, cache_dir: {tmp_path / 'cache'}, workers: 1}}\n"
        f"model: {{filters: [4, 4, 4, 4], rnn_units: 4}}\n"
        f"training: {{batch_size: 8, epochs: 1, patience: 1, folds: [0, 1], verbose: 0}}\n"
        f"execution: {{engine: {engine}, cpus_per_unit: {cpus_per_unit}, max_retries: {max_retries}}}\n"
        f"rows: [{{mixing: mixup, alpha: 1.5}}]\n")
    return path


def flaky_task(marker_dir: Path, *, fail_unit: str, how: str):
    """A tagging task whose ``fail_unit`` fails on its first attempt only: ``kill`` kills
    the process training it (a dead Ray worker); ``raise`` raises a KerastagError. The
    class is made here so that Ray ships it to the workers by value."""

    class FlakyTagging(TaggingTask):
        def train_unit(self, data, unit):
            marker = Path(marker_dir) / f"{unit.name}.attempted"
            if unit.name == fail_unit and not marker.exists():
                marker.write_text(str(os.getpid()))
                if how == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                raise KerastagError(f"{unit.row.name} {unit.name}: refused on purpose")
            return super().train_unit(data, unit)

    return FlakyTagging


def run_with(monkeypatch, task_class, config_path: Path, out: Path) -> list[str]:
    monkeypatch.setattr(runner, "make_task", lambda config: task_class(config))
    log: list[str] = []
    runner.run_experiment(load_config(config_path), out, log=log.append)
    return log


def unit_files(out: Path, fold: str) -> list[Path]:
    return [out / "models" / "mixup_a1.5" / f"{fold}.keras",
            out / "histories" / "mixup_a1.5" / f"{fold}.csv",
            out / "predictions" / "mixup_a1.5" / f"{fold}.npz"]


def test_a_worker_killed_mid_unit_is_retried_and_the_run_completes(chime_demo, local_ray, tmp_path,
                                                                   monkeypatch):
    task = flaky_task(tmp_path, fail_unit="fold1", how="kill")
    log = run_with(monkeypatch, task, one_row_two_folds(tmp_path, chime_demo[0], "ray"), tmp_path / "out")
    killed_pid = (tmp_path / "fold1.attempted").read_text()
    finished = [line for line in log if ": finished on " in line]
    assert len(finished) == 2
    retried = next(line for line in finished if line.startswith("mixup_a1.5 fold1"))
    assert f"(pid {killed_pid})" not in retried  # trained again, by another worker
    assert all(path.is_file() for fold in ("fold0", "fold1") for path in unit_files(tmp_path / "out", fold))
    assert (tmp_path / "out" / "table.csv").is_file()


def test_a_unit_whose_worker_dies_past_the_retries_is_a_one_line_error(chime_demo, local_ray,
                                                                       tmp_path, monkeypatch):
    task = flaky_task(tmp_path, fail_unit="fold0", how="kill")
    config = one_row_two_folds(tmp_path, chime_demo[0], "ray", cpus_per_unit=2, max_retries=0)
    with pytest.raises(KerastagError) as info:
        run_with(monkeypatch, task, config, tmp_path / "out")
    message = str(info.value)
    assert message.startswith("mixup_a1.5 fold0: lost on Ray after up to 1 attempts (WorkerCrashedError")
    assert "run again to resume" in message and "\n" not in message
    assert not (tmp_path / "out" / "table.csv").exists()


def test_a_failing_unit_stops_the_ray_run_with_its_line_and_local_resumes(chime_demo, local_ray,
                                                                           tmp_path, monkeypatch):
    """One unit at a time (2 CPUs per unit): fold0 finishes, fold1 raises. The error is the
    unit's own line; fold0 stays saved; the local engine then trains fold1 only."""
    out = tmp_path / "out"
    task = flaky_task(tmp_path, fail_unit="fold1", how="raise")
    ray_config = one_row_two_folds(tmp_path, chime_demo[0], "ray", cpus_per_unit=2)
    with pytest.raises(KerastagError) as info:
        run_with(monkeypatch, task, ray_config, out)
    assert str(info.value) == "mixup_a1.5 fold1: refused on purpose"
    assert all(path.is_file() for path in unit_files(out, "fold0"))
    assert not any(path.exists() for path in unit_files(out, "fold1"))
    stamp = unit_files(out, "fold0")[0].stat().st_mtime_ns
    log = run_with(monkeypatch, task, one_row_two_folds(tmp_path, chime_demo[0], "local"), out)
    assert "[1/2] mixup_a1.5 fold0: finished earlier, skipped" in log
    assert "[2/2] mixup_a1.5 fold1: training" in log
    assert unit_files(out, "fold0")[0].stat().st_mtime_ns == stamp
    assert (out / "table.csv").is_file() and not list(out.rglob(".*tmp*"))


def test_a_run_stopped_on_the_local_engine_resumes_on_ray(chime_demo, local_ray, tmp_path, monkeypatch):
    out = tmp_path / "out"
    task = flaky_task(tmp_path, fail_unit="fold1", how="raise")
    with pytest.raises(KerastagError, match="refused on purpose"):
        run_with(monkeypatch, task, one_row_two_folds(tmp_path, chime_demo[0], "local"), out)
    stamp = unit_files(out, "fold0")[0].stat().st_mtime_ns
    log = run_with(monkeypatch, task, one_row_two_folds(tmp_path, chime_demo[0], "ray"), out)
    assert "[1/2] mixup_a1.5 fold0: finished earlier, skipped" in log
    assert [line for line in log if ": finished on " in line][0].startswith("mixup_a1.5 fold1")
    assert unit_files(out, "fold0")[0].stat().st_mtime_ns == stamp
    assert (out / "table.csv").is_file()


def test_without_ray_installed_the_engine_is_a_one_line_error(monkeypatch):
    import builtins

    from kerastag.runner import ray_engine

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(KerastagError, match=r'pip install -e "\.\[ray\]"'):
        ray_engine._import_ray()
