"""How fast a saved paper-A CRNN tags audio on this CPU: streaming sound event detection
(``kerastag predict --events``) against whole-file tagging, and one 4 s window through each
export format's runtime against the Keras model, all in one run.

The model is paper A's CRNN at paper size (``build_crnn_attloc`` defaults: 128 mel bins,
7 tags, filters 8-16-32-64-64-64-64, a 64-unit BiGRU, fused conv blocks as ``kerastag
run`` trains it, 124-frame input), or the demo's slim one (``--slim``: filters
8-8-16-16-16-16-16, 16 GRU units), with random weights (speed does not depend on
training; its input standardisation is fitted to the benchmark recording's log-mel so that
its outputs are not saturated). It is saved with ``model_file.save_model`` and the metadata
the tagging task writes, and everything below loads it from that file, as ``kerastag``
does.

1. **Streaming** (``stream``): one long recording of ``make_chime_long_demo`` (16 kHz
   mono, ``--minutes``), tagged by
   :func:`kerastag.tasks.tagging.events.stream_frame_scores` (4 s windows every 1 s, the
   default ``--hop``, and every 4 s = no overlap), then its decisions
   (:func:`frame_events`); the baseline is the non-streaming path of ``kerastag predict``,
   :func:`kerastag.tasks.tagging.predict.predict_clip` (the whole file decoded, then
   non-overlapping 4 s windows) on the same file; and ``--events --scores`` as it runs
   after ``calibrate --events`` (hop 1 s, the frame scores written as a TSV,
   :mod:`kerastag.formats.frame_scores`, and decided with hysteresis and a 1 s median
   filter), against plain streaming: within 10% of its real-time factor and memory
   growth is the target. Each figure: real-time factor
   (seconds of audio per wall-clock second), windows per second, and the peak growth of
   the process's resident memory during the call (sampled every 2 ms by a thread, from
   the RSS just before it) next to the decoded file's float32 size. A 30 s recording is
   streamed and tagged first, untimed (tracing, imports, allocator); then ``--rounds``
   rounds run the three paths in turn (median wall time, largest memory growth).
2. **Latency per 4 s window** (``latency``): the model exported with
   :func:`kerastag.export.export_model` to ``saved_model``, ``onnx`` and ``litert``, each
   loaded with :func:`kerastag.export.runtimes.load` (its own runtime: TensorFlow,
   onnxruntime, LiteRT), called on one 4 s window of the recording (64000 samples, batch
   1); side by side with the Keras deploy model of the same file
   (:func:`kerastag.export.build.deploy_model_for`: ``predict_on_batch`` and an eager
   ``model(x, training=False)``) and with the frame-level Keras model on log-mel
   precomputed in numpy (the network alone; the numpy front end timed on its own).
   ``--warmup`` calls each, then ``--repeats`` rounds in which every runtime is called once
   in turn (so a busy spell of this shared machine hits them all); median and 90th
   percentile. Also each format's largest absolute difference from the Keras deploy
   model's outputs on that window, the artifact's size on disk and the export time.

Threads: ``--threads`` (default 2) intra-op threads for TensorFlow (inter-op 1; Keras and
the SavedModel share it), onnxruntime (``intra_op_num_threads``, sequential execution) and
LiteRT (``num_threads``, XNNPACK), through ``runtimes.load(..., threads=)``;
``--threads 0`` keeps each runtime's default.

The default run (10 minutes of audio, 3 rounds, 30 repeats) takes about 2 minutes on 2
CPU cores (the eager Keras calls ~20 s, the LiteRT export ~40 s of it).

``--input-norm``: the paper config's ``input_norm: dataset`` (a ``Normalization`` layer
with the training statistics) is the default; ``batchnorm`` (the authors' input
BatchNorm) is the other choice of ``model.input_norm``.

Usage::

    python benchmarks/inference.py [--parts stream,latency] [--minutes 10] [--rounds 3]
                                   [--repeats 30] [--warmup 3] [--threads 2] [--slim]
                                   [--input-norm dataset|batchnorm] [--json PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("kerastag") is None:  # run from a checkout, not installed
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from _machine import machine_line  # noqa: E402

PAPER = {"filters": (8, 16, 32, 64, 64, 64, 64), "rnn_units": 64}
SLIM = {"filters": (8, 8, 16, 16, 16, 16, 16), "rnn_units": 16}
CLASSES = list("cmfvpbo")
CHUNK_SECONDS = 4.0
FORMATS = ("saved_model", "onnx", "litert")
MB = 1e6


def main(argv=None) -> int:
    args = _parse_args(argv)
    threads = _set_tf_threads(args.threads)
    import keras
    import tensorflow as tf

    print(machine_line(), flush=True)
    print(f"tensorflow {tf.__version__}, keras {keras.__version__}, "
          f"{_runtime_versions()}; threads: {threads}", flush=True)
    parts = args.parts.split(",")
    figures = {"args": vars(args), "threads": threads}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kerastag-inference-") as folder:
        folder = Path(folder)
        recording, seconds = _recording(folder / "long", args.minutes, seed=0)
        warm_recording, _ = _recording(folder / "warm", 0.5, seed=1)
        print(f"recording: {recording.name}, {args.minutes:g} min at 16 kHz, written in "
              f"{seconds:.1f} s", flush=True)
        model_path, params = _save_model(folder / "crnn.keras", recording, args.slim,
                                         args.input_norm)
        figures["model"] = {"size": "slim" if args.slim else "paper", "params": params,
                            "input_norm": args.input_norm,
                            "file_mb": model_path.stat().st_size / MB}
        print(f"model: {_model_name(args)}, {params / 1e6:.2f} M parameters, "
              f"{model_path.stat().st_size / MB:.2f} MB .keras", flush=True)
        if "stream" in parts:
            figures["stream"] = time_stream(model_path, recording, warm_recording, args)
        if "latency" in parts:
            figures["latency"] = time_latency(model_path, recording, folder / "exports",
                                              args, threads)
    figures["wall_s"] = time.perf_counter() - started
    print(f"\nwhole run {figures['wall_s']:.0f} s", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=_plain) + "\n")
    return 0


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="stream,latency")
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="length of the streamed recording (default 10)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="timed runs of each streaming / whole-file path (default 3)")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per runtime")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls per runtime first")
    parser.add_argument("--threads", type=int, default=2,
                        help="intra-op threads of every runtime (0: each one's default)")
    parser.add_argument("--slim", action="store_true", help="the demo's slim CRNN")
    parser.add_argument("--input-norm", choices=("dataset", "batchnorm"), default="dataset",
                        help="the CRNN's input standardisation, as model.input_norm "
                             "(default dataset, the config's default)")
    parser.add_argument("--json", metavar="PATH")
    return parser.parse_args(argv)


def _model_name(args) -> str:
    return (f"{'slim (demo)' if args.slim else 'paper'} CRNN, random weights, "
            f"input_norm {args.input_norm}")


def _plain(value):
    return value.item() if isinstance(value, np.generic) else str(value)


# --- set-up ---------------------------------------------------------------------------

def _set_tf_threads(threads: int) -> dict:
    """TensorFlow's thread pools (before its runtime starts); what each runtime will get."""
    import tensorflow as tf

    if threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        return {"tensorflow": f"intra {threads}, inter 1",
                "onnxruntime": f"intra {threads}, sequential",
                "litert": f"num_threads {threads} (XNNPACK)"}
    return {"tensorflow": "default (intra/inter = cores)",
            "onnxruntime": "default (intra = physical cores)",
            "litert": "default (num_threads unset)"}


def _runtime_versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("onnxruntime", "tf2onnx", "ai-edge-litert"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} missing")
    return ", ".join(found)


def _recording(out: Path, minutes: float, seed: int) -> tuple[Path, float]:
    """One long demo recording (16 kHz mono wav) and the seconds it took to write."""
    from kerastag.datasets.demo.long_recordings import AUDIO_DIR, make_chime_long_demo

    started = time.perf_counter()
    root, _ = make_chime_long_demo(out, recordings=1, minutes=minutes, seed=seed)
    (path,) = sorted((root / AUDIO_DIR).glob("*.wav"))
    return path, time.perf_counter() - started


def _save_model(path: Path, recording: Path, slim: bool, input_norm: str) -> tuple[Path, int]:
    """The CRNN with random weights, saved as ``kerastag run`` saves a tagging unit."""
    import keras
    import soundfile as sf

    from kerastag.config.parse import config_to_dict
    from kerastag.config.sections import LogMelAFeatures
    from kerastag.formats.model_file import ModelInfo, save_model
    from kerastag.models.crnn import build_crnn_attloc

    features = LogMelAFeatures(n_mels=128)
    spec = features.spec()
    window = int(CHUNK_SECONDS * spec.sample_rate)
    audio, _ = sf.read(str(recording), dtype="float32", frames=16 * window)
    logmel = np.stack([spec.compute(audio[k * window:(k + 1) * window])
                       for k in range(max(1, len(audio) // window))])
    keras.utils.set_random_seed(0)
    stats = {}
    if input_norm == "dataset":  # as kerastag/tasks/tagging/training.py builds it
        stats = {"input_mean": logmel.mean(axis=(0, 1)), "input_variance": logmel.var(axis=(0, 1))}
    model = build_crnn_attloc(n_mels=128, n_classes=len(CLASSES), n_frames=logmel.shape[1],
                              input_batchnorm=input_norm == "batchnorm", fused_blocks=True,
                              **stats, **(SLIM if slim else PAPER))
    info = ModelInfo(task="tagging", family="crnn_attloc", classes=tuple(CLASSES),
                     features=config_to_dict(features) | {"cache_dir": None},
                     chunk_seconds=CHUNK_SECONDS, experiment="benchmark_inference",
                     row="random_weights", unit="benchmark")
    save_model(model, path, info)
    return path, model.count_params()


class PeakRss:
    """Peak growth of this process's resident memory while the block runs (a thread
    samples it every ``interval`` seconds; the GIL is free while numpy and TensorFlow
    compute)."""

    def __init__(self, interval: float = 0.002):
        import psutil

        self._process, self._interval = psutil.Process(), interval
        self.growth = 0

    def __enter__(self):
        self._stop = threading.Event()
        self._start = self._peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self._peak = max(self._peak, self._process.memory_info().rss)
            time.sleep(self._interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._process.memory_info().rss)
        self.growth = self._peak - self._start
        return False


# --- 1. streaming against the whole file ---------------------------------------------------

#: ``predict --events --scores`` with calibrated decisions, against plain streaming.
KEPT = "stream, 1 s, --scores, calibrated"

def time_stream(model_path: Path, recording: Path, warm_recording: Path, args) -> dict:
    import soundfile as sf

    from kerastag.decisions import FrameDecision
    from kerastag.decisions import frame_events as decide
    from kerastag.formats.frame_scores import write_frame_scores
    from kerastag.tasks.tagging.events import EventSettings, frame_events, stream_frame_scores
    from kerastag.tasks.tagging.predict import load_tagger, predict_clip

    _, frame_model, model_info, spec = load_tagger(model_path)
    chunk = model_info.chunk_seconds
    info = sf.info(str(recording))
    audio_seconds = info.frames / info.samplerate
    decoded_mb = info.frames * 4 / MB  # float32 at 16 kHz, mono
    thresholds = np.full(len(CLASSES), 0.5, np.float32)

    def stream(path, hop):
        settings = EventSettings(hop_seconds=hop)
        scores = stream_frame_scores(frame_model, spec, path, window_seconds=chunk,
                                     settings=settings)
        events = frame_events(scores.frames, thresholds, CLASSES,
                              frame_hop_seconds=scores.frame_hop_seconds,
                              duration=scores.duration, settings=settings)
        return scores.windows, len(events), scores.frames.nbytes

    scores_dir = Path(tempfile.mkdtemp(prefix="kerastag_scores_"))
    calibrated = [FrameDecision(high=0.5, low=0.125, median_seconds=1.0, min_event_seconds=0.5,
                                min_gap_seconds=1.0)] * len(CLASSES)

    def stream_kept(path):
        """``--events --scores DIR`` with calibrated frame decisions (hysteresis, 1 s
        median filter): the frame scores written as a TSV once the file is streamed."""
        settings = EventSettings(hop_seconds=1.0)
        scores = stream_frame_scores(frame_model, spec, path, window_seconds=chunk,
                                     settings=settings)
        write_frame_scores(scores_dir / f"{Path(path).stem}.tsv", scores.frames, CLASSES,
                           frame_hop_seconds=scores.frame_hop_seconds, duration=scores.duration)
        events = decide(scores.frames, calibrated, CLASSES,
                        frame_hop_seconds=scores.frame_hop_seconds, duration=scores.duration)
        return scores.windows, len(events), scores.frames.nbytes

    def whole(path):
        result = predict_clip(frame_model, spec, path, chunk)
        return len(result.localization) // spec.n_frames(int(chunk * spec.sample_rate)), 0, 0

    # No overlap: a hop of the window's 124 frames (3.968 s), what ``--hop 4`` becomes
    # (125 frames would leave every 125th frame without a score).
    no_overlap = spec.n_frames(int(chunk * spec.sample_rate)) * spec.hop_length / spec.sample_rate
    paths = {"stream, hop 1 s": lambda p: stream(p, 1.0),
             f"stream, hop {no_overlap:.3f} s": lambda p: stream(p, no_overlap),
             "predict_clip (whole file)": whole,
             KEPT: stream_kept}
    for run in paths.values():  # untimed: tracing (both batch shapes), imports, allocator
        run(warm_recording)
    result = {"audio_seconds": audio_seconds, "decoded_float32_mb": decoded_mb, "paths": {}}
    walls = {name: [] for name in paths}
    growths = {name: [] for name in paths}
    for _ in range(args.rounds):  # the paths in turn, so a busy spell hits them all
        for name, run in paths.items():
            with PeakRss() as rss:
                started = time.perf_counter()
                windows, n_events, frames_bytes = run(recording)
                walls[name].append(time.perf_counter() - started)
            growths[name].append(rss.growth / MB)
            result["paths"][name] = {"windows": windows, "events": n_events,
                                     "frame_scores_mb": frames_bytes / MB}
    print(f"\n1. {audio_seconds / 60:.1f} min recording ({decoded_mb:.1f} MB as float32), "
          f"{_model_name(args)}; {args.rounds} run(s) of each in turn, median wall, "
          f"largest memory growth:", flush=True)
    print(f"  {'path':34s} {'windows':>7s} {'wall s':>7s} {'RTF':>7s} {'windows/s':>9s} "
          f"{'peak RSS growth':>15s}")
    for name in paths:
        figures = result["paths"][name]
        wall = statistics.median(walls[name])
        figures |= {"wall_s": wall, "wall_s_each": walls[name], "rtf": audio_seconds / wall,
                    "windows_per_s": figures["windows"] / wall,
                    "peak_rss_growth_mb": max(growths[name]),
                    "peak_rss_growth_mb_each": growths[name]}
        print(f"  {name:34s} {figures['windows']:7d} {wall:7.1f} {figures['rtf']:6.1f}x "
              f"{figures['windows_per_s']:9.1f} {figures['peak_rss_growth_mb']:12.1f} MB",
              flush=True)
    base = result["paths"]["predict_clip (whole file)"]
    for name in list(paths)[:2]:
        figures = result["paths"][name]
        print(f"  {name}: RTF {figures['rtf'] / base['rtf']:.2f}x the whole-file path's "
              f"({figures['windows'] / base['windows']:.1f}x its windows), memory growth "
              f"{figures['peak_rss_growth_mb']:.1f} MB vs {base['peak_rss_growth_mb']:.1f} MB; "
              f"frame scores kept {figures['frame_scores_mb']:.2f} MB, "
              f"{figures['events']} events")
    kept, plain = result["paths"][KEPT], result["paths"]["stream, hop 1 s"]
    rtf_ratio = kept["rtf"] / plain["rtf"]
    memory_ratio = kept["peak_rss_growth_mb"] / max(plain["peak_rss_growth_mb"], 1e-9)
    result["kept_vs_plain"] = {"rtf_ratio": rtf_ratio, "memory_ratio": memory_ratio}
    print(f"  {KEPT} vs stream, hop 1 s: RTF {rtf_ratio:.2f}x, memory growth "
          f"{kept['peak_rss_growth_mb']:.1f} MB vs {plain['peak_rss_growth_mb']:.1f} MB "
          f"({memory_ratio:.2f}x); target within 10%: "
          f"{'met' if rtf_ratio >= 0.9 and memory_ratio <= 1.1 else 'MISSED'}")
    shutil.rmtree(scores_dir, ignore_errors=True)
    result["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB
    return result


# --- 2. latency per 4 s window ------------------------------------------------------------

def time_latency(model_path: Path, recording: Path, export_dir: Path, args,
                 threads: dict) -> dict:
    import soundfile as sf

    from kerastag.export import export_model, runtimes
    from kerastag.export.build import deploy_model_for
    from kerastag.tasks.tagging.predict import load_tagger

    _, frame_model, model_info, spec = load_tagger(model_path)
    window = int(round(model_info.chunk_seconds * spec.sample_rate))
    start = min(60 * spec.sample_rate, max(0, sf.info(str(recording)).frames - window))
    audio, _ = sf.read(str(recording), dtype="float32", start=start, frames=window)
    x = audio[None, :]
    logmel = spec.compute(audio)[None]
    deployed, _ = deploy_model_for(model_path)
    reference = {k: np.asarray(v) for k, v in deployed.predict_on_batch(x).items()}

    runners = {
        "keras deploy, predict_on_batch": lambda: deployed.predict_on_batch(x),
        "keras deploy, eager model(x)": lambda: deployed(x, training=False),
        "keras frame model on log-mel": lambda: frame_model.predict_on_batch(logmel),
        "numpy log-mel front end": lambda: spec.compute(audio),
    }
    formats = {}
    for fmt in FORMATS:
        out, figures, step = export_dir / fmt, {}, "export"
        formats[fmt] = figures
        try:  # a missing converter or runtime, or an artifact that does not run: report
            started = time.perf_counter()
            export_model(model_path, fmt, out, log=lambda *_: None)
            figures |= {"export_s": time.perf_counter() - started, "size_mb": _size(out) / MB}
            step, started = "load", time.perf_counter()
            run = runtimes.load(out, threads=args.threads or None)
            figures["load_s"] = time.perf_counter() - started
            step = "first call"
            figures["max_abs_diff"] = _differences(run(x), reference)
        except Exception as exc:
            figures["error"] = f"{step}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            continue
        runners[f"{fmt} ({_RUNTIME[fmt]})"] = (lambda run=run: run(x))

    samples = {name: [] for name in runners}
    for name, call in runners.items():
        for _ in range(args.warmup):
            call()
    for _ in range(args.repeats):
        for name, call in runners.items():
            started = time.perf_counter()
            call()
            samples[name].append(time.perf_counter() - started)
    result = {"window_samples": window, "repeats": args.repeats, "threads": threads,
              "formats": formats, "runtimes": {}}
    keras_ms = 1e3 * statistics.median(samples["keras deploy, predict_on_batch"])
    print(f"\n2. one 4 s window ({window} samples, batch 1), {args.warmup} warm-up calls, then "
          f"{args.repeats} rounds in turn; threads: {threads}", flush=True)
    print(f"  {'runtime':32s} {'median ms':>9s} {'p90 ms':>7s} {'min ms':>7s} {'vs keras':>8s} "
          f"{'max |diff| clip / loc / att':>28s} {'size MB':>7s} {'export s':>8s}")
    for name, values in samples.items():
        median, p90 = 1e3 * statistics.median(values), 1e3 * float(np.percentile(values, 90))
        figures = {"median_ms": median, "p90_ms": p90, "min_ms": 1e3 * min(values),
                   "keras_over_this": keras_ms / median}
        result["runtimes"][name] = figures
        fmt = name.split(" ")[0]
        extra = f"{'':28s} {'':7s} {'':8s}"
        if fmt in formats:
            d = formats[fmt]["max_abs_diff"]
            extra = (f"{d.get('clip', np.nan):8.1e} / {d.get('localization', np.nan):7.1e} / "
                     f"{d.get('attention', np.nan):7.1e} {formats[fmt]['size_mb']:7.2f} "
                     f"{formats[fmt]['export_s']:8.1f}")
        elif name.startswith("keras deploy, predict"):
            extra = f"{'(reference)':>28s} {model_path.stat().st_size / MB:7.2f} {'':8s}"
        print(f"  {name:32s} {median:9.2f} {p90:7.2f} {figures['min_ms']:7.2f} "
              f"{keras_ms / median:7.2f}x {extra}",
              flush=True)
    for fmt, figures in formats.items():
        if "error" in figures:
            size = f"{figures['size_mb']:.2f} MB, " if "size_mb" in figures else ""
            export_s = f"exported in {figures['export_s']:.1f} s, " if "export_s" in figures else ""
            print(f"  {fmt + ' (' + _RUNTIME[fmt] + ')':32s} no figure: {size}{export_s}failed at "
                  f"{figures['error'][:150]}", flush=True)
    result["keras_file_mb"] = model_path.stat().st_size / MB
    return result


_RUNTIME = {"saved_model": "TensorFlow", "onnx": "onnxruntime", "litert": "LiteRT"}


def _differences(outputs: dict, reference: dict) -> dict:
    """Largest absolute difference of each output from the Keras deploy model's."""
    found = {}
    for name, expected in reference.items():
        if name in outputs:
            got = np.asarray(outputs[name], np.float32).reshape(expected.shape)
            found[name] = float(np.max(np.abs(got - expected)))
    if set(found) != set(reference):
        found["missing"] = sorted(set(reference) - set(outputs))
        found["names"] = sorted(outputs)
    return found


def _size(path: Path) -> int:
    """Bytes of the artifact in an export folder (not ``metadata.json``)."""
    return sum(p.stat().st_size for p in path.rglob("*")
               if p.is_file() and p.name != "metadata.json")


if __name__ == "__main__":
    sys.exit(main())
