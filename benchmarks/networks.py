"""Training throughput of paper B's networks against the excerpt pipeline (issue 4).

In one run, on this machine, it measures:

1. training samples per second of every paper-B level-1 network at the paper's input
   size, full widths (the builders' defaults), 41 classes, softmax + categorical
   cross-entropy + Adam, through ``model.fit`` on a small dataset of random tensors
   (``--batch`` 32, two batches, repeated):

   * time-frequency input ``(64, 150, 3)``: xception, resnet50, resnext50, se_resnext50,
     dpn68 (and dpn92 with ``--all``);
   * raw wave ``(66150,)``: wave_resnext and resnet50 (the paper's "ResNet wave");

   ``fit`` runs ``--warmup`` + ``--steps`` steps (``steps_per_execution`` left at 1); the
   first step (trace, compile and one step) and the other warm-up steps are excluded,
   and the figure is ``batch * steps / (time of the timed steps)``, each step ending
   when its loss has been read back;
2. the baseline: excerpts per second of the training input pipeline,
   :func:`kerastag.tasks.classification.excerpts.excerpt_dataset` with paper B's mixup (``Beta(3, 3)``), on
   random clips of log-uniform length 0.3-30 s in the cached layouts ``(3, 64, frames)``
   and ``(samples,)`` (timed as ``benchmarks/excerpts.py`` does: best of ``--passes``
   epochs after a warm-up epoch);
3. for each network, pipeline / training throughput: the pipeline is not the bottleneck
   when the ratio is >= 1 (target: >= 1 for every network, ideally >= 10x). The ratio of
   CPU times (training CPU-seconds per sample / pipeline CPU-seconds per excerpt) is
   printed as well: it is less sensitive to other load on a shared machine.

``--mixed-precision`` sets ``keras.mixed_precision.set_global_policy("mixed_float16")``
before the models are built. It is meant for a GPU; on a CPU the run is recorded as such
(float16 on a CPU is not a speed-up).

``--grouped-conv-without-xla`` is a diagnostic: Keras 3 runs every grouped convolution
(ResNeXt, SE-ResNeXt, DPN, Wave-ResNeXt) through an XLA-compiled function on TensorFlow,
whose gradient is very slow on a CPU; the flag patches Keras in this process to run them
as plain ``tf.nn.convolution`` (same values with TensorFlow 2.21), to show what that
path costs. It is not what kerastag does.

Usage::

    python benchmarks/networks.py [--batch 32] [--steps 3] [--warmup 1] [--all]
                                  [--networks NAME[:wave] ...] [--clips 500]
                                  [--wave-clips 200] [--passes 3] [--mixed-precision]
                                  [--grouped-conv-without-xla] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if importlib.util.find_spec("kerastag") is None:  # run from a checkout, not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import kerastag  # noqa: E402,F401  (first: its oneDNN default applies before TensorFlow loads)
import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerastag.mixing import MixingSpec  # noqa: E402
from kerastag.models.networks import build_network  # noqa: E402
from _machine import cpu_model, usable_cores  # noqa: E402

CLASSES = 41
TF_SHAPE, WAVE_SHAPE = (64, 150, 3), (66150,)
MIXUP = MixingSpec("mixup", 3.0)
#: (network, input) pairs of the default run; "tf" = time-frequency, "wave" = raw wave.
DEFAULT_RUNS = (("xception", "tf"), ("resnet50", "tf"), ("resnext50", "tf"),
                ("se_resnext50", "tf"), ("dpn68", "tf"),
                ("wave_resnext", "wave"), ("resnet50", "wave"))
EXTRA_RUNS = (("dpn92", "tf"),)
#: pipeline kind (benchmarks/excerpts.py) feeding each input.
PIPELINE_KIND = {"tf": "logmel", "wave": "wave"}


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    machine = machine_info()
    print(_machine_line(machine))
    policy = _set_precision(args.mixed_precision, machine)
    print(f"precision policy: {policy}")
    if args.grouped_conv_without_xla:
        _grouped_conv_without_xla()
        print("diagnostic: grouped convolutions run without XLA (not what kerastag does)")
    started = time.perf_counter()

    pipelines = {}
    print(f"\ninput pipeline (excerpt_dataset, mixup Beta(3, 3), batch {args.batch}; best "
          f"of {args.passes} epoch(s) after one warm-up epoch):")
    for kind, n_clips in (("logmel", args.clips), ("wave", args.wave_clips)):
        pipelines[kind] = time_excerpt_pipeline(kind, n_clips, args)
        figures = pipelines[kind]
        print(f"  {kind:<6} {figures['excerpts_per_s']:9.0f} excerpts/s "
              f"{figures['cpu_us_per_excerpt']:7.0f} CPU-us/excerpt  ({figures['clips']})")

    print(f"\ntraining (model.fit, batch {args.batch}, Adam, categorical cross-entropy; "
          f"{args.warmup} warm-up step(s) then {args.steps} timed step(s)):")
    rows = []
    for network, kind in selected_runs(args):
        row = time_training(network, kind, args)
        pipeline = pipelines[PIPELINE_KIND[kind]]
        row["pipeline_excerpts_per_s"] = pipeline["excerpts_per_s"]
        row["ratio"] = pipeline["excerpts_per_s"] / row["samples_per_s"]
        row["cpu_ratio"] = row["cpu_us_per_sample"] / pipeline["cpu_us_per_excerpt"]
        rows.append(row)
        print(f"  {row['network']:<14} {row['input']:<12} {row['params'] / 1e6:6.1f} M params "
              f"build {row['build_s']:5.1f} s, first step {row['first_step_s']:6.1f} s, "
              f"{row['samples_per_s']:7.2f} samples/s, pipeline/training {row['ratio']:7.0f}x",
              flush=True)
        gc.collect()

    total = time.perf_counter() - started
    print()
    print(format_table(rows, args))
    print(f"\nwhole run: {total:.0f} s; 1-min load average now {os.getloadavg()[0]:.2f}")
    if args.json:
        record = {"machine": machine, "precision_policy": policy, "args": vars(args),
                  "pipeline": pipelines, "training": rows, "run_s": total}
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="samples per training step")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed steps first (the first one traces and compiles)")
    parser.add_argument("--all", action="store_true", help="also dpn92 (time-frequency)")
    parser.add_argument("--networks", nargs="+", metavar="NAME[:wave]",
                        help="only these runs, e.g. resnext50 resnet50:wave wave_resnext")
    parser.add_argument("--clips", type=int, default=500, help="log-mel clips (pipeline)")
    parser.add_argument("--wave-clips", type=int, default=200, help="wave clips (pipeline)")
    parser.add_argument("--passes", type=int, default=3, help="timed pipeline epochs")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="mixed_float16 policy (for a GPU; recorded as such on a CPU)")
    parser.add_argument("--grouped-conv-without-xla", action="store_true",
                        help="diagnostic: run grouped convolutions as plain "
                             "tf.nn.convolution instead of Keras' XLA-compiled path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="PATH", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if min(args.batch, args.steps, args.warmup, args.clips, args.wave_clips, args.passes) < 1:
        parser.error("--batch, --steps, --warmup, --clips, --wave-clips and --passes "
                     "must be >= 1")
    return args


def selected_runs(args) -> list[tuple[str, str]]:
    """The ``(network, "tf" | "wave")`` pairs to time, in order."""
    if not args.networks:
        return list(DEFAULT_RUNS) + (list(EXTRA_RUNS) if args.all else [])
    runs = []
    for item in args.networks:
        network, _, kind = item.partition(":")
        kind = kind or ("wave" if network == "wave_resnext" else "tf")
        if kind not in PIPELINE_KIND:
            raise SystemExit(f"--networks: input must be ':wave' or nothing; received {item!r}")
        runs.append((network, kind))
    return runs


# ------------------------------------------------------------------ training


def time_training(network: str, kind: str, args) -> dict:
    """Build, compile and ``fit`` one network; figures of its timed steps.

    Returns:
        ``{"network", "input", "params", "build_s", "first_step_s", "step_s" (list),
        "samples_per_s", "best_samples_per_s", "cpu_us_per_sample"}``; samples/s is
        ``batch * steps / total time of the timed steps``, best from the fastest step.
    """
    import tensorflow as tf

    keras.backend.clear_session()
    keras.utils.set_random_seed(args.seed)
    shape = WAVE_SHAPE if kind == "wave" else TF_SHAPE
    start = time.perf_counter()
    model = build_network(network, shape, CLASSES)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    build_s = time.perf_counter() - start

    rng = np.random.default_rng(args.seed)
    n = 2 * args.batch
    x = rng.standard_normal((n,) + shape, dtype=np.float32)
    y = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, n)]
    dataset = (tf.data.Dataset.from_tensor_slices((x, y))
               .batch(args.batch, drop_remainder=True).repeat().prefetch(2))
    clock = _StepClock()
    model.fit(dataset, epochs=1, steps_per_epoch=args.warmup + args.steps, verbose=0,
              callbacks=[clock])
    ends, cpu_ends = clock.ends, clock.cpu_ends
    first_step_s = ends[0] - clock.begin
    step_s = np.diff(ends[args.warmup - 1:])
    timed = float(step_s.sum())
    cpu = cpu_ends[-1] - cpu_ends[args.warmup - 1]
    row = {"network": network, "input": "wave (66150,)" if kind == "wave" else "(64, 150, 3)",
           "params": int(model.count_params()), "build_s": build_s,
           "first_step_s": first_step_s, "step_s": [float(s) for s in step_s],
           "samples_per_s": args.batch * args.steps / timed,
           "best_samples_per_s": args.batch / float(step_s.min()),
           "cpu_us_per_sample": 1e6 * cpu / (args.batch * args.steps)}
    del model, dataset, x
    keras.backend.clear_session()
    return row


class _StepClock(keras.callbacks.Callback):
    """Wall and process CPU time at the start of fit and at the end of every step.

    Reading the loss back (``float``) makes sure the step's work has finished.
    """

    def on_train_begin(self, logs=None):
        self.begin, self.ends, self.cpu_ends = time.perf_counter(), [], []

    def on_train_batch_end(self, batch, logs=None):
        float((logs or {}).get("loss", 0.0))
        self.ends.append(time.perf_counter())
        self.cpu_ends.append(time.process_time())


# ------------------------------------------------------------------ pipeline


def _excerpt_bench():
    """``benchmarks/excerpts.py`` as a module (its clip maker and its pipeline timer)."""
    path = Path(__file__).resolve().with_name("excerpts.py")
    spec = importlib.util.spec_from_file_location("kerastag_bench_excerpts", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def time_excerpt_pipeline(kind: str, n_clips: int, args) -> dict:
    """Excerpts/s of :func:`excerpt_dataset` with mixup Beta(3, 3) on random clips."""
    bench = _excerpt_bench()
    rng = np.random.default_rng(args.seed)
    clips = bench.random_clips(kind, n_clips, rng)
    targets = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, n_clips)]
    figures = bench.time_pipeline(clips, targets, kind, MIXUP, args)
    figures["clips"] = bench._describe(clips)
    return figures


# ------------------------------------------------------------------ report


def format_table(rows: list[dict], args) -> str:
    """The markdown table of the run."""
    lines = ["| network | input | params | training samples/s (best step) | s/step "
             "| pipeline excerpts/s | pipeline / training | CPU-time ratio | bottleneck |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        verdict = ("training" if r["ratio"] >= 1 else "PIPELINE")
        steps = ", ".join(f"{s:.2f}" for s in r["step_s"])
        lines.append(
            f"| {r['network']} | {r['input']} | {r['params'] / 1e6:.1f} M "
            f"| {r['samples_per_s']:.2f} ({r['best_samples_per_s']:.2f}) | {steps} "
            f"| {r['pipeline_excerpts_per_s']:.0f} | {r['ratio']:.0f}x "
            f"| {r['cpu_ratio']:.0f}x | {verdict} |")
    if rows:
        worst = min(rows, key=lambda r: r["ratio"])
        lines.append("")
        lines.append(f"smallest pipeline / training ratio: {worst['ratio']:.0f}x "
                     f"({worst['network']}, {worst['input']}); target >= 1x: "
                     f"{'PASS' if worst['ratio'] >= 1 else 'FAIL'}, ideally >= 10x: "
                     f"{'PASS' if worst['ratio'] >= 10 else 'FAIL'}")
    return "\n".join(lines)


def machine_info() -> dict:
    """Cores, CPU model, versions, GPUs, load: the context of the figures."""
    import tensorflow as tf

    cores = usable_cores()
    model = cpu_model()
    return {"cores": cores, "cpu": model, "tensorflow": tf.__version__,
            "keras": keras.__version__, "python": platform.python_version(),
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
            "load_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def _machine_line(m: dict) -> str:
    gpus = ", ".join(m["gpus"]) or "none"
    return (f"machine: {m['cores']} usable core(s), {m['cpu']}, TensorFlow {m['tensorflow']}, "
            f"Keras {m['keras']}, GPU: {gpus}, 1-min load average {m['load_1min']:.2f}")


def _grouped_conv_without_xla() -> None:
    """Make Keras' TensorFlow ``conv`` run 2-D channels-last grouped convolutions eagerly.

    Keras 3 compiles every grouped convolution with XLA on TensorFlow ("broken on CPU
    without XLA"); on this CPU XLA's gradient of a grouped convolution is orders of
    magnitude slower than TensorFlow's own kernel, which gives the same values in
    TensorFlow 2.21. Diagnostic only: it patches a private Keras function in this process.
    """
    import tensorflow as tf
    from keras.src.backend.tensorflow import nn as tf_nn

    original = tf_nn.conv

    def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        data_format = data_format or keras.config.image_data_format()
        grouped = len(inputs.shape) == 4 and inputs.shape[-1] != kernel.shape[-2]
        if not grouped or data_format != "channels_last":
            return original(inputs, kernel, strides, padding, data_format, dilation_rate)
        return tf.nn.convolution(inputs, kernel, strides, padding.upper(), data_format="NHWC",
                                 dilations=dilation_rate)

    tf_nn.conv = conv


def _set_precision(mixed: bool, machine: dict) -> str:
    """Set the global Keras dtype policy; returns a line describing it."""
    if not mixed:
        return "float32"
    keras.mixed_precision.set_global_policy("mixed_float16")
    if machine["gpus"]:
        return "mixed_float16 (GPU)"
    print("note: mixed_float16 is meant for a GPU; there is none here, so these are CPU "
          "figures with float16 compute, not a GPU figure")
    return "mixed_float16 on CPU (for GPU; no GPU figure)"


if __name__ == "__main__":
    sys.exit(main())
