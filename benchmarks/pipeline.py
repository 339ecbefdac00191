"""Input-pipeline and sample-mixing throughput, against a per-sample generator and training.

On random paper-A-shaped data (``--clips`` x 124 frames x 128 mels, float32; multi-hot
labels over 7 tags) it measures, in one run:

1. the ``tf.data`` training pipeline (:func:`kerastag.pipeline.training_dataset`:
   shuffle -> batch 44 -> vectorised mixing map -> prefetch) without mixing and with
   mixup a=1.5, samplepairing, mixup_lp a=1.5 and extrapolation a=1.5;
2. the baseline: the same mixing done per sample in a plain Python generator
   (:func:`kerastag.mixing.mix_pairs_python`), as the authors' Keras 2 ``fit_generator``
   code consumed it;
3. training the paper's CRNN (:func:`kerastag.models.crnn.build_crnn_attloc` defaults,
   Adam lr 0.001, binary cross-entropy, batch 44) with
   ``model.fit`` on ``--train-clips`` clips, mixing ``none`` and mixup a=1.5 through the
   same pipeline, epochs of the two alternating after one warm-up epoch each.

Both pipelines are drained by a Python loop, one full epoch per pass after one warm-up
pass. Every figure is the best (shortest) of its passes/epochs, which is the one least
disturbed by other load on the machine.

Targets: vectorised mixup >= 10x the per-sample generator; mixup adds <= 5% to a
training epoch; pipeline throughput (mixup) >= 10x training throughput (mixup).
``--check`` makes a missed target exit with status 1.

Usage::

    python benchmarks/pipeline.py [--clips 1500] [--passes 3] [--train-clips 352]
                                  [--epochs 3] [--json PATH] [--check]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if importlib.util.find_spec("kerastag") is None:  # run from a checkout, not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from kerastag.mixing import MixingSpec, mix_pairs_python  # noqa: E402
from _machine import cpu_model, load_average, usable_cores  # noqa: E402

FRAMES, MELS, TAGS, BATCH = 124, 128, 7, 44
MODES = {
    "none": MixingSpec("none"),
    "mixup": MixingSpec("mixup", 1.5),
    "samplepairing": MixingSpec("samplepairing"),
    "mixup_lp": MixingSpec("mixup_lp", 1.5),
    "extrapolation": MixingSpec("extrapolation", 1.5),
}
TARGET_VS_GENERATOR = 10.0  # vectorised mixup / per-sample generator, at least
TARGET_MIXING_OVERHEAD = 0.05  # extra training-epoch time with mixup, at most
TARGET_VS_TRAINING = 10.0  # pipeline clips/s / training samples/s (mixup), at least


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    machine = _machine_line()
    print(machine)
    x, y = random_clips(args.clips, args.seed)
    print(f"data: {args.clips} clips x {FRAMES} x {MELS} float32, multi-hot y over {TAGS} tags, "
          f"batch {BATCH}; best of {args.passes} pass(es) after one warm-up pass")
    pipeline = {name: time_pipeline(x, y, spec, args.passes, args.seed)
                for name, spec in MODES.items()}
    generator = {name: time_generator(x, y, spec, args.passes, args.seed)
                 for name, spec in MODES.items()}
    _print_throughput(pipeline, generator)
    xt, yt = x[: args.train_clips], y[: args.train_clips]
    print(f"\nCRNN training: {len(xt)} clips, best of {args.epochs} epoch(s) per mixing "
          "after one warm-up epoch, epochs of the two alternating")
    epochs = time_training(xt, yt, ("none", "mixup"), args.epochs, args.seed)
    training = {name: min(times) for name, times in epochs.items()}
    for name, seconds in training.items():
        print(f"  {name:<14} {len(xt) / seconds:8.1f} samples/s  ({seconds:.3f} s/epoch; all "
              f"epochs: {', '.join(f'{t:.3f}' for t in epochs[name])} s)")
    figures = summarise(pipeline, generator, training, len(xt))
    passed = _print_summary(figures)
    if args.json:
        record = {"machine": machine, "args": vars(args), "pipeline": pipeline,
                  "generator": generator, "training_epochs_s": epochs, **figures}
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 1 if args.check and not passed else 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1500,
                        help="clips in the pipeline benchmarks (one CHiME-Home training split)")
    parser.add_argument("--passes", type=int, default=3, help="timed epochs per pipeline")
    parser.add_argument("--train-clips", type=int, default=352, help="clips for CRNN training")
    parser.add_argument("--epochs", type=int, default=3, help="timed training epochs per mixing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="PATH", help="also write the figures to this file")
    parser.add_argument("--check", action="store_true",
                        help="exit with status 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.clips < BATCH or args.passes < 1 or args.epochs < 1:
        parser.error(f"--clips must be >= {BATCH}, --passes and --epochs >= 1")
    if not BATCH <= args.train_clips <= args.clips:
        parser.error(f"--train-clips must be between {BATCH} and --clips")
    return args


def random_clips(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``x`` ``(n, 124, 128)`` float32 standard normal; ``y`` ``(n, 7)`` float32 multi-hot."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, FRAMES, MELS), dtype=np.float32)
    y = (rng.random((n, TAGS)) < 0.3).astype(np.float32)
    return x, y


# ------------------------------------------------------------------ measurements


def time_pipeline(x, y, spec: MixingSpec, passes: int, seed: int) -> dict:
    """Batches/s and clips/s of :func:`training_dataset`, drained by a Python loop.

    Returns:
        ``{"batches_per_s", "clips_per_s", "epoch_s"}`` of the fastest of ``passes`` epochs.
    """
    from kerastag.pipeline import training_dataset

    dataset = training_dataset(x, y, batch_size=BATCH, mixing=spec, seed=seed)

    def one_epoch() -> int:
        return sum(1 for _ in dataset)

    return _best_epoch(one_epoch, passes, len(x))


def per_sample_generator(x, y, spec: MixingSpec, seed: int):
    """Endless mixed batches the Keras 2 way: numpy gather, then a per-sample mixing loop."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(x))
        for start in range(0, len(x), BATCH):
            index = order[start:start + BATCH]
            yield mix_pairs_python(x[index], y[index], spec, rng)


def time_generator(x, y, spec: MixingSpec, passes: int, seed: int) -> dict:
    """Batches/s and clips/s of :func:`per_sample_generator`, as :func:`time_pipeline`."""
    generator = per_sample_generator(x, y, spec, seed)
    n_batches = math.ceil(len(x) / BATCH)

    def one_epoch() -> int:
        return sum(1 for _ in itertools.islice(generator, n_batches))

    return _best_epoch(one_epoch, passes, len(x))


def _best_epoch(one_epoch, passes: int, clips: int) -> dict:
    """Run ``one_epoch`` once to warm up, then ``passes`` times; figures of the fastest."""
    one_epoch()
    times, batches = [], 0
    for _ in range(passes):
        start = time.perf_counter()
        batches = one_epoch()
        times.append(time.perf_counter() - start)
    best = min(times)
    return {"batches_per_s": batches / best, "clips_per_s": clips / best, "epoch_s": best}


def time_training(x, y, modes, epochs: int, seed: int) -> dict[str, float]:
    """Seconds per ``model.fit`` epoch of the paper's CRNN for each mixing mode.

    One model per mode, built from the same seed; each gets a warm-up epoch (tracing),
    then their timed epochs alternate so that load on the machine hits them alike.

    Returns:
        ``{mode: [epoch seconds, ...]}``, the timed epochs in order.
    """
    import keras

    from kerastag.models.crnn import build_crnn_attloc
    from kerastag.pipeline import training_dataset

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.start

    runs = {}
    for mode in modes:
        keras.utils.set_random_seed(seed)
        model = build_crnn_attloc(n_mels=MELS, n_classes=TAGS, n_frames=FRAMES)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
        dataset = training_dataset(x, y, batch_size=BATCH, mixing=MODES[mode], seed=seed)
        model.fit(dataset, epochs=1, verbose=0, shuffle=False)  # the dataset shuffles
        runs[mode] = (model, dataset, [])
    for _ in range(epochs):
        for model, dataset, times in runs.values():
            timer = EpochTimer()
            model.fit(dataset, epochs=1, verbose=0, shuffle=False, callbacks=[timer])
            times.append(timer.seconds)
    return {mode: times for mode, (_, _, times) in runs.items()}


# ------------------------------------------------------------------ report


def summarise(pipeline: dict, generator: dict, training: dict, train_clips: int) -> dict:
    """The three ratios the targets are set on, each with its target and verdict."""
    training_rate = train_clips / training["mixup"]
    checks = {
        "vectorised_vs_generator_mixup": (
            pipeline["mixup"]["clips_per_s"] / generator["mixup"]["clips_per_s"],
            f">= {TARGET_VS_GENERATOR:g}x", lambda v: v >= TARGET_VS_GENERATOR),
        "mixing_overhead_per_epoch": (
            training["mixup"] / training["none"] - 1,
            f"<= {TARGET_MIXING_OVERHEAD:.0%}", lambda v: v <= TARGET_MIXING_OVERHEAD),
        "pipeline_vs_training_mixup": (
            pipeline["mixup"]["clips_per_s"] / training_rate,
            f">= {TARGET_VS_TRAINING:g}x", lambda v: v >= TARGET_VS_TRAINING),
    }
    return {"training_samples_per_s": {m: train_clips / s for m, s in training.items()},
            "targets": {name: {"value": value, "target": target, "pass": bool(ok(value))}
                        for name, (value, target, ok) in checks.items()}}


def _print_throughput(pipeline: dict, generator: dict) -> None:
    print(f"\n{'mixing':<14} {'tf.data batches/s':>18} {'clips/s':>9}   "
          f"{'per-sample gen batches/s':>25} {'clips/s':>9}   {'tf.data/gen':>11}")
    for name in MODES:
        p, g = pipeline[name], generator[name]
        print(f"{name:<14} {p['batches_per_s']:18.1f} {p['clips_per_s']:9.0f}   "
              f"{g['batches_per_s']:25.1f} {g['clips_per_s']:9.0f}   "
              f"{p['clips_per_s'] / g['clips_per_s']:10.2f}x")


def _print_summary(figures: dict) -> bool:
    print(f"\n{'target':<32} {'value':>8} {'target':>8}  result")
    for name, t in figures["targets"].items():
        value = f"{t['value']:+.1%}" if "overhead" in name else f"{t['value']:.1f}x"
        print(f"{name:<32} {value:>8} {t['target']:>8}  {'PASS' if t['pass'] else 'FAIL'}")
    return all(t["pass"] for t in figures["targets"].values())


def _machine_line() -> str:
    model = cpu_model()
    import tensorflow as tf

    cores = usable_cores()
    gpus = len(tf.config.list_physical_devices("GPU"))
    load = load_average()
    return (f"machine: {cores} usable core(s), {model}, {gpus} GPU(s), TensorFlow "
            f"{tf.__version__}, 1-min load average {load:.2f}")


if __name__ == "__main__":
    sys.exit(main())
