"""Where a unit's time goes, and what tracing once per architecture saves (issue 19).

In one run it trains a config twice from the same feature cache, each time in a fresh
interpreter with the local engine: with ``execution.reuse_models: false`` (every unit
builds and traces its own model: kerastag before trace reuse) and with ``true``. For
every unit it records, through timers wrapped around kerastag's own functions:

- **build**: building and compiling the unit's model (with reuse: plus copying its state
  into the kept model);
- **trace**: the first epoch's extra cost, ``epoch 1 - median(later epochs)`` (tracing
  the training and evaluation steps, plus first-call work);
- **epochs**: the training epochs without that extra;
- **scoring**: predicting the unit's held-out clips;
- **saving**: writing the ``.keras`` model, history and predictions;
- **other**: the rest of the unit (the baselines' own training loops: the DAE-DNN's
  pretraining and frame windows, the CGRNN's frame windows, the GMM's EM; seeding and
  clearing the session).

It prints the per-unit breakdown (mean over the units of each network), the trace share
of a unit's time, each run's wall time and their ratio, and checks that the two runs'
``table.csv`` are byte-identical.

Usage::

    python benchmarks/reuse.py [--config experiments/demo.yaml] [--work DIR] [--json PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("kerastag") is None:  # run from a checkout, not installed
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine_line  # noqa: E402

PARTS = ("build", "trace", "epochs", "scoring", "saving", "other")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(REPO / "experiments" / "demo.yaml"))
    parser.add_argument("--work", default=None, help="folder for the two runs (default: temp)")
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--child", nargs=3, metavar=("REUSE", "CONFIG", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0] == "true", Path(args.child[1]), Path(args.child[2]))
        return
    print(machine_line(), flush=True)
    work = Path(args.work or tempfile.mkdtemp(prefix="kerastag-reuse-"))
    work.mkdir(parents=True, exist_ok=True)
    warm_features(Path(args.config))
    runs = {}
    for reuse in (False, True):
        out = work / ("reuse" if reuse else "no_reuse")
        started, cpu_before = time.perf_counter(), children_cpu_s()
        subprocess.run([sys.executable, __file__, "--child", str(reuse).lower(),
                        args.config, str(out)], check=True)
        wall, cpu = time.perf_counter() - started, children_cpu_s() - cpu_before
        runs[reuse] = {"wall_s": wall, "cpu_s": cpu,
                       "units": json.loads((out / "unit_times.json").read_text()),
                       "table": (out / "table.csv").read_bytes()}
        print(f"reuse_models {str(reuse).lower()}: {wall:.1f} s wall, {cpu:.1f} s CPU",
              flush=True)
    report(runs)
    if args.json:
        Path(args.json).write_text(json.dumps(
            {str(k).lower(): {"wall_s": v["wall_s"], "cpu_s": v["cpu_s"], "units": v["units"]}
             for k, v in runs.items()},
            indent=1))


def children_cpu_s() -> float:
    """CPU seconds (user + system) of the finished child processes so far: the figure
    to compare when other work shares the cores."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def warm_features(config_path: Path) -> None:
    """Generate the demo data and fill the feature cache, so both runs start equal."""
    from kerastag.config import load_config
    from kerastag.runner.task import make_task

    started = time.perf_counter()
    make_task(load_config(config_path)).load()
    print(f"data and features ready in {time.perf_counter() - started:.1f} s "
          f"(cached for both runs)", flush=True)


def child(reuse: bool, config_path: Path, out: Path) -> None:
    """Run the config once with ``reuse`` and timers; write ``out/unit_times.json``."""
    import dataclasses

    import keras

    from kerastag.config import load_config
    from kerastag.runner import engines, run
    from kerastag.tasks.tagging import task as tagging_task
    from kerastag.tasks.tagging import training

    config = load_config(config_path)
    config = dataclasses.replace(config, execution=dataclasses.replace(
        config.execution, engine="local", reuse_models=reuse))
    current: dict = {}
    times: list[dict] = []

    def timed(module, name, part):
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                current[part] = current.get(part, 0.0) + time.perf_counter() - started
        setattr(module, name, wrapper)

    class EpochTimes(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            current.setdefault("epoch_s", []).append(time.perf_counter() - self.started)

    original_fit = training.fit

    def fit_with_epoch_times(model, config, train, val, extra_callbacks=()):
        return original_fit(model, config, train, val, [*extra_callbacks, EpochTimes()])
    training.fit = fit_with_epoch_times
    timed(training, "build_tagger", "build")
    if reuse:
        from kerastag import compiled_models
        timed(compiled_models, "reuse_compiled", "build")
    timed(tagging_task.TaggingTask, "_predictions", "scoring")
    timed(tagging_task.TaggingTask, "train_unit", "unit")
    original_save = engines.save_unit

    def save_and_record(out_dir, unit, result, info):
        started = time.perf_counter()
        original_save(out_dir, unit, result, info)
        current["saving"] = time.perf_counter() - started
        times.append(unit_times(unit, current))
        current.clear()
    engines.save_unit = save_and_record
    run.run_experiment(config, out, log=lambda line: None)
    (out / "unit_times.json").write_text(json.dumps(times, indent=1))


def unit_times(unit, measured: dict) -> dict:
    """One unit's parts in seconds: the first epoch's excess over a later one is its trace."""
    import numpy as np

    epochs = measured.get("epoch_s", [])
    later = float(np.median(epochs[1:])) if len(epochs) > 1 else 0.0
    trace = max(0.0, epochs[0] - later) if epochs else 0.0
    parts = {"build": measured.get("build", 0.0), "trace": trace, "epochs": sum(epochs) - trace,
             "scoring": measured.get("scoring", 0.0), "saving": measured.get("saving", 0.0)}
    parts["other"] = max(0.0, measured.get("unit", 0.0) + parts["saving"] - sum(parts.values()))
    return {"row": unit.row.name, "network": unit.row.network or "crnn", "unit": unit.name,
            "n_epochs": len(epochs), **parts}


def report(runs: dict) -> None:
    """The breakdown per network (mean s per unit) before and after, and the verdicts."""
    import pandas as pd

    for reuse, label in ((False, "without reuse (before)"), (True, "with reuse (after)")):
        frame = pd.DataFrame(runs[reuse]["units"])
        frame["total"] = frame[list(PARTS)].sum(axis=1)
        by_network = frame.groupby("network", sort=False)[[*PARTS, "total"]].mean()
        by_network.insert(0, "units", frame.groupby("network", sort=False).size())
        share = frame["trace"].sum() / frame["total"].sum()
        print(f"\nper unit, {label}: mean seconds per unit of each network")
        print(by_network.round(2).to_string())
        print(f"trace share of all units' time: {share:.1%}; units' time "
              f"{frame['total'].sum():.1f} s of {runs[reuse]['wall_s']:.1f} s wall")
    before, after = runs[False]["wall_s"], runs[True]["wall_s"]
    print(f"\nwall time: {before:.1f} s without reuse, {after:.1f} s with "
          f"({after / before:.2f} of it; target at most 0.50)")
    before, after = runs[False]["cpu_s"], runs[True]["cpu_s"]
    print(f"CPU time: {before:.1f} s without reuse, {after:.1f} s with ({after / before:.2f})")
    same = runs[False]["table"] == runs[True]["table"]
    print(f"table.csv with reuse byte-identical to without: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
