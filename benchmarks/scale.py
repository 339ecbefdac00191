"""How fast the grid runs: local against Ray, plain Keras against kerastag's fast CRNN, and
(on a GPU) what the whole of Table 1 costs on one card.

In one run it measures (each part compares against its baseline in the same run):

(a) ``grid``: the wall time of ``kerastag run`` on a demo grid (``--grid-rows`` CRNN rows
    of ``experiments/demo.yaml`` on its folds) with ``--engine local`` and then with
    ``--engine ray`` (a private Ray, 1 CPU per unit, so two units share this 2-core
    machine), each into a fresh folder from a warm feature cache, and how far their
    tables differ;
(b) ``cpu``: CRNN training at paper size (124 x 128 log-mel, batch 44, the paper's
    widths): the plain Keras layering (``model.fused_blocks: false``) against kerastag's
    fused blocks, built in one process and timed epoch by epoch in alternation
    (``--rounds``), as wall-clock samples/s and as CPU-seconds per sample (which a busy or
    throttled machine does not distort); then the average EER of both on demo fold 0
    (``--eer-check``), which must agree within 0.01; with ``--resnext-steps N``, also
    paper-B ResNeXt-50 training at paper size (``benchmarks/networks.py``'s measurement,
    N timed steps of 32). ``--onednn-compare`` runs this part twice, each in a fresh
    interpreter: with ``TF_ENABLE_ONEDNN_OPTS=0`` (TensorFlow's default on CPUs without
    AVX-512 VNNI/AMX, e.g. an AMD EPYC) and with the variable unset (kerastag's default,
    which turns oneDNN on), and prints the speed-ups of kerastag's default over the former;
(c) ``gpu`` (skipped without a GPU): samples/s of the paper CRNN (its cuDNN BiGRU and the
    authors' gated BiGRU, which cannot use cuDNN) and of ResNeXt-50 at paper size in
    float32 and mixed_float16, the ``tf.data`` training pipeline's samples/s
    (shuffle, batch, mixup map) against the CRNN's consumption, and the projected wall
    time of the whole 14-row Table 1 (5 folds each, at the epoch counts given by
    ``--epochs-from RUN_DIR`` or the config's maxima) on one GPU with
    ``--units-per-gpu`` units packed by Ray.

Usage::

    python benchmarks/scale.py [--parts grid,cpu,gpu] [--grid-rows 4] [--rounds 8]
                               [--eer-check] [--resnext-steps N] [--onednn-compare]
                               [--epochs-from RUN_DIR] [--json PATH]

On a CUDA machine: ``pip install -e ".[cuda,ray]"`` first.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("kerastag") is None:  # run from a checkout, not installed
    sys.path.insert(0, str(REPO))

import kerastag  # noqa: E402,F401  (first: its oneDNN default applies before TensorFlow loads)
import numpy as np  # noqa: E402

from _machine import machine_line  # noqa: E402

DEMO = REPO / "experiments" / "demo.yaml"
PAPER = REPO / "experiments" / "dcase2016_mixup.yaml"
BATCH, FRAMES, MELS, TAGS = 44, 124, 128, 7
TRAIN_CHUNKS_PER_FOLD = 1401 + 156  # training + early-stopping chunks of one fold


def main(argv=None) -> int:
    args = _parse_args(argv)
    print(machine_line(), flush=True)
    figures = {}
    parts = args.parts.split(",")
    if "grid" in parts:
        figures["grid"] = time_grid(args)
    if "cpu" in parts:
        figures["cpu"] = compare_onednn(args) if args.onednn_compare else time_cpu(args)
    if "gpu" in parts:
        figures["gpu"] = time_gpu(args)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=float) + "\n")
    return 0


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="grid,cpu,gpu")
    parser.add_argument("--grid-rows", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--eer-check", action="store_true")
    parser.add_argument("--resnext-steps", type=int, default=0)
    parser.add_argument("--onednn-compare", action="store_true")
    parser.add_argument("--epochs-from", metavar="RUN_DIR")
    parser.add_argument("--units-per-gpu", type=int, default=4)
    parser.add_argument("--json", metavar="PATH")
    return parser.parse_args(argv)


# --- (a) the grid, local against Ray -------------------------------------------------

def time_grid(args) -> dict:
    """Wall time of one demo grid with each engine, from the same warm feature cache."""
    with tempfile.TemporaryDirectory(prefix="kerastag-scale-") as folder:
        folder = Path(folder)
        config = _grid_config(folder, args.grid_rows)
        _kerastag("features", config)  # the demo data and its features, before timing
        seconds = {}
        for engine in ("local", "ray"):
            started = time.perf_counter()
            _kerastag("run", config, "--out", folder / engine, "--engine", engine)
            seconds[engine] = time.perf_counter() - started
        local, ray = (_averages(folder / engine / "table.csv") for engine in ("local", "ray"))
        gap = max(abs(local[row] - ray[row]) for row in local)
    units = args.grid_rows * 2
    print(f"\n(a) demo grid, {args.grid_rows} CRNN rows x 2 folds = {units} units:\n"
          f"  --engine local {seconds['local']:6.1f} s\n"
          f"  --engine ray   {seconds['ray']:6.1f} s  ({seconds['local'] / seconds['ray']:.2f}x "
          f"local; largest avg-EER difference {gap:.4f})", flush=True)
    return {"units": units, "local_s": seconds["local"], "ray_s": seconds["ray"],
            "speedup": seconds["local"] / seconds["ray"], "max_avg_eer_gap": gap}


def _grid_config(folder: Path, n_rows: int) -> Path:
    """experiments/demo.yaml with its first ``n_rows`` CRNN rows, written into ``folder``."""
    import yaml

    data = _demo_config_data()
    data["rows"] = [row for row in data["rows"] if "network" not in row][:n_rows]
    data["training"]["verbose"] = 0
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _demo_config_data() -> dict:
    """experiments/demo.yaml as data, its dataset and cache in the checkout's data/."""
    import yaml

    data = yaml.safe_load(DEMO.read_text())
    data["dataset"]["path"] = str(REPO / "data" / "demo")
    data["features"]["cache_dir"] = str(REPO / "data" / "demo_cache")
    return data


def _averages(table_csv: Path) -> dict[str, float]:
    """Each row's average EER in a run's table.csv (read by kerastag's own reader)."""
    from kerastag.formats.eer_table import read_eer_table

    return {row.name: row.average for row in read_eer_table(table_csv)}


def _kerastag(*argv) -> None:
    command = [sys.executable, "-m", "kerastag.cli", *[str(a) for a in argv]]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


# --- (b) the CRNN on this CPU, plain Keras against kerastag's fast path ---------------

def time_cpu(args) -> dict:
    """Alternating epochs of the plain and the fused CRNN in one process."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    n = BATCH * 6
    x = rng.standard_normal((n, FRAMES, MELS), dtype=np.float32)
    y = (rng.random((n, TAGS)) < 0.3).astype(np.float32)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).prefetch(tf.data.AUTOTUNE)
    models = {"plain": _paper_crnn(False), "fused": _paper_crnn(True)}
    for model in models.values():
        model.fit(data, epochs=1, verbose=0)  # traces
    wall = {name: [] for name in models}
    cpu = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            model.fit(data, epochs=1, verbose=0)
            wall[name].append(n / (time.perf_counter() - started))
            cpu[name].append((time.process_time() - cpu_started) / n)
    result = {name: {"samples_per_s": statistics.median(wall[name]),
                     "cpu_ms_per_sample": 1e3 * statistics.median(cpu[name]),
                     "samples_per_s_each": wall[name]} for name in models}
    result["speedup_wall"] = result["fused"]["samples_per_s"] / result["plain"]["samples_per_s"]
    result["speedup_cpu"] = result["plain"]["cpu_ms_per_sample"] / result["fused"]["cpu_ms_per_sample"]
    print(f"\n(b) paper CRNN training on this CPU, {args.rounds} alternating epochs of {n} "
          f"samples (medians):", flush=True)
    for name in models:
        print(f"  {name:5s} {result[name]['samples_per_s']:6.1f} samples/s, "
              f"{result[name]['cpu_ms_per_sample']:5.1f} CPU-ms/sample")
    print(f"  fused / plain: {result['speedup_wall']:.2f}x wall-clock, "
          f"{result['speedup_cpu']:.2f}x CPU time", flush=True)
    result["onednn"] = onednn_enabled()
    if args.resnext_steps:
        result["resnext50"] = time_resnext(args.resnext_steps)
    if args.eer_check:
        result["eer"] = eer_check()
    return result


def onednn_enabled() -> bool:
    """Whether TensorFlow runs its oneDNN CPU kernels in this process."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def time_resnext(steps: int) -> dict:
    """Paper-B ResNeXt-50 training, (64, 150, 3) log-mel, batch 32 (benchmarks/networks.py)."""
    from networks import time_training

    row = time_training("resnext50", "tf", argparse.Namespace(batch=32, steps=steps, warmup=1, seed=0))
    print(f"  ResNeXt-50 (paper B, batch 32, {steps} steps): {row['samples_per_s']:.1f} samples/s, "
          f"{row['cpu_us_per_sample'] / 1e3:.0f} CPU-ms/sample", flush=True)
    return row


def compare_onednn(args) -> dict:
    """Part (b) in two fresh interpreters: TF_ENABLE_ONEDNN_OPTS=0 against kerastag's default."""
    result = {}
    for name, setting in (("onednn_off", "0"), ("kerastag_default", None)):
        env = {key: value for key, value in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"}
        if setting is not None:
            env["TF_ENABLE_ONEDNN_OPTS"] = setting
        print(f"\n--- {name}: TF_ENABLE_ONEDNN_OPTS={setting or '(unset)'}", flush=True)
        with tempfile.TemporaryDirectory(prefix="kerastag-onednn-") as folder:
            path = Path(folder) / "cpu.json"
            command = [sys.executable, __file__, "--parts", "cpu", "--rounds", str(args.rounds),
                       "--resnext-steps", str(args.resnext_steps), "--json", str(path)]
            subprocess.run(command + (["--eer-check"] if args.eer_check else []), env=env, check=True)
            result[name] = json.loads(path.read_text())["cpu"]
    off, new = result["onednn_off"], result["kerastag_default"]
    result["speedup"] = {kind: new[kind]["samples_per_s"] / off[kind]["samples_per_s"]
                         for kind in ("plain", "fused")}
    result["speedup_cpu"] = {kind: off[kind]["cpu_ms_per_sample"] / new[kind]["cpu_ms_per_sample"]
                             for kind in ("plain", "fused")}
    if args.resnext_steps:
        result["speedup"]["resnext50"] = (new["resnext50"]["samples_per_s"]
                                          / off["resnext50"]["samples_per_s"])
        result["speedup_cpu"]["resnext50"] = (off["resnext50"]["cpu_us_per_sample"]
                                              / new["resnext50"]["cpu_us_per_sample"])
    print("\n(b) kerastag's default (oneDNN on: {}) over TF_ENABLE_ONEDNN_OPTS=0 (oneDNN on: {}): "
          .format(new["onednn"], off["onednn"])
          + ", ".join(f"{kind} {ratio:.2f}x" for kind, ratio in result["speedup"].items())
          + " wall-clock; " + ", ".join(f"{kind} {ratio:.2f}x" for kind, ratio
                                         in result["speedup_cpu"].items()) + " CPU time", flush=True)
    return result


def _paper_crnn(fused: bool, gated: bool = False):
    import keras

    from kerastag.models.crnn import build_crnn_attloc

    keras.utils.set_random_seed(0)
    model = build_crnn_attloc(n_mels=MELS, n_classes=TAGS, n_frames=FRAMES,
                              input_mean=np.zeros(MELS), input_variance=np.ones(MELS),
                              fused_blocks=fused, gated_rnn=gated)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    return model


def eer_check() -> dict:
    """Average EER of one demo row on fold 0, plain and fused (deterministic runs)."""
    import yaml

    averages = {}
    with tempfile.TemporaryDirectory(prefix="kerastag-eer-") as folder:
        data = _demo_config_data()
        data["rows"] = [{"mixing": "mixup", "alpha": 1.5}]
        data["training"].update({"folds": [0], "deterministic": True, "verbose": 0})
        for fused in (False, True):
            data["model"]["fused_blocks"] = fused
            path = Path(folder) / f"fused_{fused}.yaml"
            path.write_text(yaml.safe_dump(data, sort_keys=False))
            _kerastag("run", path, "--out", Path(folder) / f"out_{fused}")
            (average,) = _averages(Path(folder) / f"out_{fused}" / "table.csv").values()
            averages["fused" if fused else "plain"] = average
    gap = abs(averages["fused"] - averages["plain"])
    print(f"  demo fold 0, mixup a=1.5: average EER plain {averages['plain']:.4f}, fused "
          f"{averages['fused']:.4f} (difference {gap:.4f}; must be <= 0.01)", flush=True)
    return {**averages, "gap": gap}


# --- (c) one GPU ------------------------------------------------------------------------

def time_gpu(args) -> dict:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        print("\n(c) no GPU visible: skipped (run this script on a CUDA machine)", flush=True)
        return {"skipped": "no GPU"}
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    print(f"\n(c) {name}:", flush=True)
    result = {"device": name, "networks": {}}
    for network in ("crnn_attloc", "crnn_gated", "resnext50"):
        for precision in ("float32", "mixed_float16"):
            rate = _gpu_rate(network, precision)
            result["networks"][f"{network}/{precision}"] = rate
            print(f"  {network:11s} {precision:13s} {rate:8.0f} training samples/s", flush=True)
    result["pipeline_samples_per_s"] = _pipeline_rate()
    crnn = max(result["networks"]["crnn_attloc/float32"],
               result["networks"]["crnn_attloc/mixed_float16"])
    print(f"  tf.data pipeline (shuffle, batch 44, mixup map): "
          f"{result['pipeline_samples_per_s']:.0f} samples/s = "
          f"{result['pipeline_samples_per_s'] / crnn:.1f}x the CRNN's consumption", flush=True)
    result["projection"] = _project(args, result["networks"])
    return result


def _gpu_rate(network: str, precision: str, steps: int = 480) -> float:
    import keras
    import tensorflow as tf

    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(precision)
    rng = np.random.default_rng(0)
    if network.startswith("crnn"):
        shape, batch, classes = (FRAMES, MELS), BATCH, TAGS
        model = _paper_crnn(True, gated=network == "crnn_gated")  # gated: no cuDNN GRU
        loss = "binary_crossentropy"
    else:
        from kerastag.config import load_config
        from kerastag.models.networks import build_network
        from kerastag.tasks.classification.task import ClassificationTask

        paper_b = ClassificationTask(load_config(REPO / "experiments" / "dcase2018_models.yaml"))
        shape, batch, classes = paper_b.input_shape("logmel"), 32, 41
        model = build_network("resnext50", shape, classes)
        loss = "categorical_crossentropy"
    model.compile(optimizer="adam", loss=loss, steps_per_execution=16)
    x = rng.standard_normal((batch * 16, *shape), dtype=np.float32)
    y = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, batch * 16)]
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).repeat().prefetch(tf.data.AUTOTUNE)
    model.fit(data, steps_per_epoch=32, epochs=1, verbose=0)  # traces, cuDNN autotune
    started = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)  # a multiple of 16
    rate = batch * steps / (time.perf_counter() - started)
    keras.mixed_precision.set_global_policy("float32")
    return rate


def _pipeline_rate(batches: int = 400) -> float:
    from kerastag.mixing import MixingSpec
    from kerastag.pipeline import training_dataset

    rng = np.random.default_rng(0)
    x = rng.standard_normal((1401, FRAMES, MELS), dtype=np.float32)
    y = (rng.random((1401, TAGS)) < 0.3).astype(np.float32)
    data = training_dataset(x, y, batch_size=BATCH, mixing=MixingSpec("mixup", 1.5), seed=0).repeat()
    iterator = iter(data)
    next(iterator)
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return BATCH * batches / (time.perf_counter() - started)


def _project(args, networks: dict) -> dict:
    """Table 1 on one GPU: every row x 5 folds, packed ``--units-per-gpu`` at a time."""
    from kerastag.config import load_config
    from kerastag.tasks.tagging.task import TaggingTask

    config = load_config(PAPER)
    task = TaggingTask(config)
    epochs = _epochs(args.epochs_from)
    crnn = max(networks["crnn_attloc/float32"], networks["crnn_attloc/mixed_float16"])
    unit_seconds = []
    for row in config.rows:
        training = config.training_of(row)
        row_epochs = epochs.get(row.name, training.epochs)
        relative = BASELINE_COST.get(task.family(row), 1.0)  # vs the CRNN, benchmarks/table1.py
        unit_seconds.append(row_epochs * TRAIN_CHUNKS_PER_FOLD * relative / crnn + UNIT_OVERHEAD_S)
    total = 5 * sum(unit_seconds) / args.units_per_gpu
    print(f"  projected Table 1 (14 rows x 5 folds, {args.units_per_gpu} units per GPU, "
          f"epochs {'measured in ' + args.epochs_from if args.epochs_from else 'at the maxima'}): "
          f"{total / 3600:.2f} h", flush=True)
    return {"hours": total / 3600, "units_per_gpu": args.units_per_gpu}


#: Per-sample training cost of each Table 1 network relative to the CRNN (the inverse of
#: the throughput ratios measured by benchmarks/table1.py on a CPU; the GMM is EM on CPU).
BASELINE_COST = {"dae_dnn": 1 / 0.44, "cgrnn_imd": 1 / 0.23, "attloc_imd": 1 / 0.35,
                 "dcase2016_gmm": 0.0}
UNIT_OVERHEAD_S = 30.0  # worker start, graph tracing, scoring


def _epochs(run_dir: str | None) -> dict[str, float]:
    """Mean epochs trained per row in a finished run folder (early stopping's real cost)."""
    if not run_dir:
        return {}
    import pandas as pd

    means = {}
    for row_dir in sorted((Path(run_dir) / "histories").iterdir()):
        counts = [len(pd.read_csv(path)) for path in row_dir.glob("*.csv")]
        if counts:
            means[row_dir.name] = float(np.mean(counts))
    return means


if __name__ == "__main__":
    sys.exit(main())
