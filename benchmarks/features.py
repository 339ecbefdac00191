"""Feature-extraction throughput: paper A's log-mel on the CHiME-Home demo chunks.

Generates ``--clips`` synthetic CHiME-Home chunks (4 s, 16 kHz; kerastag's demo
dataset) in a temporary folder, then times :func:`kerastag.features.extract` with one
worker, with all cores, and a second, fully cached pass. Each figure is the best of
``--repeat`` runs, every run into a fresh cache folder. The cached pass is timed twice,
side by side (alternating runs): with the cache's hand-written ``.npy`` reader (the
default, ``kerastag.features.cache.FAST_NPY_READER``) and with plain ``numpy.load``.

Targets: all cores >= 1.7x one worker (on a 2-core machine); the cached pass >= 20x the
first pass it reads back. ``--check`` makes a missed target exit with status 1.

The worker pool is created by every parallel ``extract`` call and its start-up is
included in the all-cores figure. The forkserver those workers fork from starts once per
Python process; that one-time cost is measured and printed separately.

Usage::

    python benchmarks/features.py [--clips 1000] [--workers N] [--repeat 5] [--check]
                                  [--data CHIME_HOME_ROOT]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

if importlib.util.find_spec("kerastag") is None:  # run from a checkout, not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _machine import machine_line, usable_cores  # noqa: E402

TARGET_PARALLEL_SPEEDUP = 1.7
TARGET_CACHE_SPEEDUP = 20.0


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    from kerastag.features import LogMelA

    spec = LogMelA()
    with tempfile.TemporaryDirectory(prefix="kerastag-bench-features-") as tmp:
        tmp = Path(tmp)
        if args.data:
            wavs = _existing_chunks(args.data, args.clips)
            source = f"CHiME-Home chunks from {args.data}"
        else:
            wavs = _demo_chunks(tmp, args.clips, args.seed)
            source = "CHiME-Home demo chunks (4 s, 16 kHz)"
        print(machine_line())
        print(f"clips: {len(wavs)} {source}, best of {args.repeat} run(s)")
        forkserver_s = _warm_up(spec, wavs, tmp, args.workers)
        serial_s = _best_first_pass(spec, wavs, tmp, "serial", 1, args.repeat)
        parallel_s = _best_first_pass(spec, wavs, tmp, "parallel", args.workers, args.repeat)
        cached_s, plain_s = _best_cached_passes(spec, wavs, tmp / "parallel-0", args.workers,
                                                args.repeat)
    return _report(len(wavs), args, serial_s, parallel_s, (cached_s, plain_s), forkserver_s)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1000,
                        help="demo chunks to time (>= 5; 1000 amortises the pool start-up)")
    parser.add_argument("--workers", type=int, default=usable_cores(),
                        help="processes for the all-cores run (default: usable cores)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; best is kept")
    parser.add_argument("--seed", type=int, default=0, help="demo dataset seed")
    parser.add_argument("--data", type=Path, default=None,
                        help="time an existing CHiME-Home root (its chunks/*.16kHz.wav) "
                             "instead of generating the demo")
    parser.add_argument("--check", action="store_true",
                        help="exit with status 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.clips < 5 or args.workers < 1 or args.repeat < 1:
        parser.error("--clips must be >= 5, --workers and --repeat >= 1")
    return args


def _demo_chunks(folder: Path, clips: int, seed: int) -> list[Path]:
    """The first ``clips`` 16 kHz development chunks of a fresh CHiME-Home demo."""
    from kerastag.datasets.demo import make_chime_home_demo

    root, _ = make_chime_home_demo(folder / "data", clips=clips, seed=seed)
    return sorted((root / "chunks").glob("*.16kHz.wav"))[:clips]


def _existing_chunks(root: Path, clips: int) -> list[Path]:
    """The first ``clips`` 16 kHz chunks of an existing CHiME-Home root."""
    wavs = sorted((root / "chunks").glob("*.16kHz.wav"))[:clips]
    if len(wavs) < 5:
        raise SystemExit(f"{root / 'chunks'}: fewer than 5 *.16kHz.wav chunks")
    return wavs


def _warm_up(spec, wavs: list[Path], tmp: Path, workers: int) -> float:
    """Warm this process (librosa filterbank, page cache) and start the forkserver.

    Returns:
        Seconds the first parallel call took on ``2 * workers`` clips: the one-time
        forkserver start plus one pool start-up.
    """
    from kerastag.features import extract

    extract(wavs, spec, cache_dir=tmp / "warm-serial", workers=1, progress=False)
    start = time.perf_counter()
    extract(wavs[: 2 * workers], spec, cache_dir=tmp / "warm-parallel", workers=workers,
            progress=False)
    return time.perf_counter() - start


def _best_first_pass(spec, wavs: list[Path], tmp: Path, label: str, workers: int,
                     repeat: int) -> float:
    """Best wall time of ``repeat`` uncached extractions, each into a fresh cache."""
    from kerastag.features import extract

    times = []
    for run in range(repeat):
        start = time.perf_counter()
        result = extract(wavs, spec, cache_dir=tmp / f"{label}-{run}", workers=workers,
                         progress=False)
        times.append(time.perf_counter() - start)
        assert result.computed == len(wavs), result.computed
    return min(times)


def _best_cached_passes(spec, wavs: list[Path], cache: Path, workers: int,
                        repeat: int) -> tuple[float, float]:
    """Best wall times of ``repeat`` extractions served entirely from ``cache``.

    Returns:
        Seconds with the hand-written ``.npy`` reader and with plain ``numpy.load``; the
        two alternate run by run, so a change of load on the machine hits both alike.
    """
    from kerastag.features import cache as feature_cache
    from kerastag.features import extract

    times: dict[bool, list[float]] = {True: [], False: []}
    try:
        for _ in range(repeat):
            for fast in (True, False):
                feature_cache.FAST_NPY_READER = fast
                start = time.perf_counter()
                result = extract(wavs, spec, cache_dir=cache, workers=workers, progress=False)
                times[fast].append(time.perf_counter() - start)
                assert result.cached == len(wavs), result.cached
    finally:
        feature_cache.FAST_NPY_READER = True
    return min(times[True]), min(times[False])


def _report(clips: int, args: argparse.Namespace, serial_s: float, parallel_s: float,
            cached: tuple[float, float], forkserver_s: float) -> int:
    cached_s, plain_s = cached
    parallel_speedup = serial_s / parallel_s
    cache_speedup = parallel_s / cached_s
    parallel_ok = parallel_speedup >= TARGET_PARALLEL_SPEEDUP
    cache_ok = cache_speedup >= TARGET_CACHE_SPEEDUP
    print(f"log-mel (paper A), workers=1:  {clips / serial_s:9.1f} clips/s  ({serial_s:.3f} s)")
    print(f"log-mel (paper A), workers={args.workers}:  {clips / parallel_s:9.1f} clips/s  "
          f"({parallel_s:.3f} s, pool start-up included)  "
          f"{parallel_speedup:.2f}x one worker (target >= {TARGET_PARALLEL_SPEEDUP}x): "
          f"{'ok' if parallel_ok else 'MISSED'}")
    print(f"log-mel (paper A), cached:     {clips / cached_s:9.1f} clips/s  ({cached_s:.3f} s)  "
          f"{cache_speedup:.1f}x the first pass (target >= {TARGET_CACHE_SPEEDUP:.0f}x): "
          f"{'ok' if cache_ok else 'MISSED'}  [hand-written .npy reader]")
    print(f"log-mel (paper A), cached:     {clips / plain_s:9.1f} clips/s  ({plain_s:.3f} s)  "
          f"[plain numpy.load; the hand-written reader is {plain_s / cached_s:.2f}x this]")
    print(f"one-time forkserver start + first pool on {2 * args.workers} clips: "
          f"{forkserver_s:.3f} s (not in the figures above)")
    return 1 if args.check and not (parallel_ok and cache_ok) else 0


if __name__ == "__main__":
    sys.exit(main())
