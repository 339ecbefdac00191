"""Throughput of paper B's excerpt pipeline (:func:`kerastag.tasks.classification.excerpts.excerpt_dataset`).

On random FSDKaggle2018-like data it measures excerpts per second of the full training
input pipeline (generator of random 1.5 s excerpts -> batch -> vectorised mixing map ->
prefetch), drained by a Python loop, for:

* log-mel: ``--clips`` clips of cached features ``(3, 64, frames)`` float32 (10 ms
  hop), excerpts ``(64, 150, 3)``;
* wave: ``--wave-clips`` clips of 44.1 kHz samples, excerpts of 66,150 samples;

each without mixing and with paper B's mixup (``Beta(3, 3)``). Clip durations are
log-uniform on 0.3-30 s (mean about 6.4 s; FSDKaggle2018 is skewed to short clips in
the same way). ``--mmap`` stores the clips as ``.npy`` files in a temporary folder and
memory-maps them, as ``features.extract(..., mmap=True)`` returns them (read from the
page cache after the warm-up epoch).

Every figure is the best (shortest) of ``--passes`` epochs after one warm-up epoch; the
lead compares them with the networks' training throughput (samples/s). The process CPU
time per excerpt (all threads, TensorFlow's included) is less sensitive to other load
on the machine than the wall-clock rates.

Usage::

    python benchmarks/excerpts.py [--clips 500] [--wave-clips 200] [--batch 32]
                                  [--passes 3] [--mmap] [--json PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if importlib.util.find_spec("kerastag") is None:  # run from a checkout, not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from kerastag.tasks.classification.excerpts import excerpt_dataset, excerpt_length  # noqa: E402
from kerastag.mixing import MixingSpec  # noqa: E402
from _machine import machine_line  # noqa: E402

CLASSES, BANDS, SR, FRAMES_PER_S = 41, 64, 44100, 100
MIN_S, MAX_S = 0.3, 30.0
MIXINGS = {"none": MixingSpec(), "mixup": MixingSpec("mixup", 3.0)}


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    print(_machine_line())
    rng = np.random.default_rng(args.seed)
    results = {}
    with tempfile.TemporaryDirectory(prefix="kerastag-excerpts-") as folder:
        for kind, n_clips in (("logmel", args.clips), ("wave", args.wave_clips)):
            clips = random_clips(kind, n_clips, rng)
            if args.mmap:
                clips = memory_map(clips, Path(folder) / kind)
            print(f"\n{kind}: {_describe(clips)}; batch {args.batch}; best of "
                  f"{args.passes} epoch(s) after one warm-up epoch")
            targets = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, n_clips)]
            for name, spec in MIXINGS.items():
                figures = time_pipeline(clips, targets, kind, spec, args)
                results[f"{kind}/{name}"] = figures
                print(f"  {name:<6} {figures['excerpts_per_s']:9.0f} excerpts/s "
                      f"{figures['batches_per_s']:8.1f} batches/s "
                      f"{figures['mb_per_s']:8.0f} MB/s "
                      f"{figures['cpu_us_per_excerpt']:6.0f} CPU-us/excerpt  "
                      f"({figures['epoch_s']:.3f} s/epoch)")
            del clips
    if args.json:
        record = {"machine": _machine_line(), "args": vars(args), "results": results}
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=500, help="log-mel clips")
    parser.add_argument("--wave-clips", type=int, default=200, help="wave clips")
    parser.add_argument("--batch", type=int, default=32, help="excerpts per batch")
    parser.add_argument("--passes", type=int, default=3, help="timed epochs per pipeline")
    parser.add_argument("--mmap", action="store_true",
                        help="memory-map the clips from .npy files, as the feature cache does")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="PATH", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if min(args.clips, args.wave_clips, args.batch, args.passes) < 1:
        parser.error("--clips, --wave-clips, --batch and --passes must be >= 1")
    return args


def random_clips(kind: str, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``n`` random clips of log-uniform durations: ``(3, 64, frames)`` or ``(samples,)``."""
    seconds = np.exp(rng.uniform(np.log(MIN_S), np.log(MAX_S), n))
    if kind == "wave":
        return [rng.uniform(-1, 1, int(s * SR)).astype(np.float32) for s in seconds]
    return [rng.standard_normal((3, BANDS, 1 + int(s * FRAMES_PER_S)), dtype=np.float32)
            for s in seconds]


def memory_map(clips: list[np.ndarray], folder: Path) -> list[np.ndarray]:
    """Save every clip as ``.npy`` under ``folder`` and return read-only memory maps."""
    folder.mkdir(parents=True)
    mapped = []
    for index, clip in enumerate(clips):
        path = folder / f"{index}.npy"
        np.save(path, clip)
        mapped.append(np.load(path, mmap_mode="r"))
    return mapped


def time_pipeline(clips, targets, kind: str, spec: MixingSpec, args) -> dict:
    """Figures of the fastest of ``args.passes`` epochs of :func:`excerpt_dataset`.

    Returns:
        ``{"excerpts_per_s", "batches_per_s", "mb_per_s", "epoch_s",
        "cpu_us_per_excerpt"}``; MB/s counts the float32 excerpts delivered; the CPU
        time is the least of the epochs' process CPU times.
    """
    length = excerpt_length(kind)
    dataset = excerpt_dataset(clips, targets, length=length, batch_size=args.batch,
                              seed=args.seed, mixing=spec)
    excerpt_bytes = 4 * length * (1 if kind == "wave" else 3 * BANDS)

    def one_epoch() -> int:
        return sum(1 for _ in dataset)

    one_epoch()
    times, cpu_times, batches = [], [], 0
    for _ in range(args.passes):
        start, cpu_start = time.perf_counter(), time.process_time()
        batches = one_epoch()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    best = min(times)
    return {"excerpts_per_s": len(clips) / best, "batches_per_s": batches / best,
            "mb_per_s": len(clips) * excerpt_bytes / best / 1e6, "epoch_s": best,
            "cpu_us_per_excerpt": 1e6 * min(cpu_times) / len(clips)}


def _describe(clips: list[np.ndarray]) -> str:
    steps = np.array([c.shape[-1] for c in clips])
    unit = "samples" if clips[0].ndim == 1 else "frames"
    total = sum(c.nbytes for c in clips) / 1e6
    mapped = " (memory-mapped)" if isinstance(clips[0], np.memmap) else ""
    return (f"{len(clips)} clips of {steps.min()}-{steps.max()} {unit} (mean "
            f"{steps.mean():.0f}), {total:.0f} MB float32{mapped}")


def _machine_line() -> str:
    """The shared machine line plus the TensorFlow version the pipeline ran on."""
    import tensorflow as tf

    return f"{machine_line()}, TensorFlow {tf.__version__}"


if __name__ == "__main__":
    sys.exit(main())
