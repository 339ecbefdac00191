"""What paper A's whole Table 1 costs: training throughput of each network at paper size
next to the CRNN's (the baseline, measured in the same run), and a projection of the
14-row ``experiments/dcase2016_mixup.yaml`` on this machine.

In one run it measures:

1. training samples per second through ``model.fit`` (binary cross-entropy, Adam, random
   inputs of the paper's shapes, each row's batch size from the config) of:
   ``crnn_attloc`` (124 x 128 log-mel, the paper's widths), ``dae_dnn`` (399 x 24 MFCC
   frames; its DAE pretraining measured separately), ``cgrnn_imd`` and ``attloc_imd``
   (249 x 297 log-mel + IMD); ``--warmup`` untimed steps (the first traces), then
   ``--steps`` timed ones; and inference samples per second (``predict``), which the
   early-stopping validation and the scoring of each fold cost;
2. the GMM baseline's EM fit on random frames of one fold's size (1,401 chunks x 401
   frames x 14) and its scoring;
3. feature extraction per chunk for each input (computed on demo-like audio, one worker);
4. the projection: per unit ``epochs x (train chunks / train rate + validation chunks /
   inference rate) + test chunks / inference rate`` (+ the DAE's pretraining), summed over the 5 official folds and every row of the
   config, plus feature extraction of the 1,946 development chunks. Epochs are the
   config's maxima (early stopping usually ends sooner, so this is an upper bound).

Usage::

    python benchmarks/table1.py [--steps 3] [--warmup 1] [--config experiments/dcase2016_mixup.yaml]
                                [--json PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("kerastag") is None:  # run from a checkout, not installed
    sys.path.insert(0, str(REPO))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from _machine import cpu_model, load_average, usable_cores  # noqa: E402

N_TAGS = 7
DEV_CHUNKS = 1946            # CHiME-Home's development set, the 5 official folds
TRAIN, VAL, TEST = 1401, 156, 389   # one fold: 4/5 of the chunks, 10% of them held out


def main(argv=None) -> int:
    args = _parse_args(argv)
    from kerastag.config import load_config
    from kerastag.tasks.tagging.task import TaggingTask

    config = load_config(args.config)
    task = TaggingTask(config)
    print(f"machine: {cpu_model()}, {usable_cores()} usable core(s), "
          f"1-min load {load_average():.2f}; keras {keras.__version__}")
    networks = {}
    for family in ("crnn_attloc", "dae_dnn", "cgrnn_imd", "attloc_imd"):
        row = next(r for r in config.rows if task.family(r) == family)
        networks[family] = time_network(config, task, row, args)
        _print_network(family, networks[family], networks["crnn_attloc"])
    gmm = time_gmm()
    print(f"  dcase2016_gmm  EM fit of one fold {gmm['fit_s']:.1f} s, scoring "
          f"{gmm['score_clips_per_s']:.0f} chunks/s")
    features = time_features(task, config)
    print("\nfeature extraction (one worker): " + ", ".join(
        f"{name} {1e3 * seconds:.1f} ms/chunk" for name, seconds in features.items()))
    projection = project(config, task, networks, gmm, features)
    print(format_projection(projection))
    if args.json:
        Path(args.json).write_text(json.dumps({"networks": networks, "gmm": gmm,
                                               "features": features,
                                               "projection": projection}, indent=2) + "\n")
    return 0


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--config", default=str(REPO / "experiments" / "dcase2016_mixup.yaml"))
    parser.add_argument("--json", metavar="PATH")
    return parser.parse_args(argv)


def time_network(config, task, row, args) -> dict:
    """Train and inference samples/s of the row's network at paper size."""
    import tensorflow as tf

    from kerastag.tasks.tagging.training import build_tagger

    family = task.family(row)
    batch = config.training_of(row).batch_size
    shape = _input_shape(task, row)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2 * batch, *shape), dtype=np.float32)
    y = (rng.random((2 * batch, N_TAGS)) < 0.3).astype(np.float32)
    keras.backend.clear_session()
    started = time.perf_counter()
    model = build_tagger(config, row, x, N_TAGS)
    build_s = time.perf_counter() - started
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).repeat().prefetch(2)
    train = _timed_fit(model, data, args)
    result = {"batch": batch, "input": list(shape), "params": int(model.count_params()),
              "build_s": build_s, "train_samples_per_s": batch * args.steps / train,
              "infer_samples_per_s": _infer_rate(model, x, batch)}
    if family == "dae_dnn":
        from kerastag.models.dcase2016 import dae_autoencoder

        autoencoder = dae_autoencoder(model)
        autoencoder.compile(optimizer="adam", loss="mse")
        target = np.zeros((2 * batch, *autoencoder.output.shape[1:]), np.float32)
        pretrain = tf.data.Dataset.from_tensor_slices((x, target)).batch(batch).repeat()
        result["dae_samples_per_s"] = batch * args.steps / _timed_fit(autoencoder, pretrain, args)
    return result


def _input_shape(task, row) -> tuple[int, ...]:
    spec = task.row_features(row).spec()
    frames = spec.n_frames(4 * spec.sample_rate)
    width = getattr(spec, "n_bins", None) or getattr(spec, "n_mfcc", None) or spec.n_mels
    return frames, width


def _timed_fit(model, data, args) -> float:
    """Seconds of ``args.steps`` training steps after ``args.warmup`` untimed ones."""
    ends = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            float((logs or {}).get("loss", 0.0))
            ends.append(time.perf_counter())

    model.fit(data, epochs=1, steps_per_epoch=args.warmup + args.steps, verbose=0,
              callbacks=[Clock()])
    return ends[-1] - ends[args.warmup - 1]


def _infer_rate(model, x, batch) -> float:
    model.predict(x[:batch], batch_size=batch, verbose=0)
    started = time.perf_counter()
    model.predict(x, batch_size=batch, verbose=0)
    return len(x) / (time.perf_counter() - started)


def time_gmm() -> dict:
    from kerastag.models.gmm import TagGmms

    rng = np.random.default_rng(0)
    x = rng.standard_normal((TRAIN + VAL, 401, 14)).astype(np.float32)
    y = (rng.random((TRAIN + VAL, N_TAGS)) < 0.3).astype(np.float32)
    started = time.perf_counter()
    model = TagGmms.fit(x, y)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    model.predict(x[:200])
    return {"fit_s": fit_s, "score_clips_per_s": 200 / (time.perf_counter() - started)}


def time_features(task, config) -> dict[str, float]:
    """Seconds per 4 s chunk of each distinct input of the config's rows."""
    from kerastag.datasets.demo.chime_sounds import chime_chunk_audio
    from kerastag.datasets.demo.dsp import resample_48k_to_16k

    stereo48 = chime_chunk_audio(("c", "v"), np.random.default_rng(0))
    import librosa

    stereo = librosa.resample(stereo48, orig_sr=48000, target_sr=16000).astype(np.float32)
    mono = resample_48k_to_16k(stereo48[1]).astype(np.float32)
    seconds = {}
    for section in task._distinct_features():
        spec = section.spec()
        wave = stereo if spec.channels == 2 else mono
        spec.compute(wave)
        started = time.perf_counter()
        for _ in range(20):
            spec.compute(wave)
        per_chunk = (time.perf_counter() - started) / 20
        if spec.channels == 2:  # reading and resampling the 48 kHz stereo file
            started = time.perf_counter()
            librosa.resample(stereo48, orig_sr=48000, target_sr=16000, res_type="soxr_hq")
            per_chunk += time.perf_counter() - started
        seconds[f"{spec.name}({getattr(spec, 'n_mfcc', getattr(spec, 'n_mels', ''))})"] = per_chunk
    return seconds


def project(config, task, networks, gmm, features) -> dict:
    """Hours of the whole config on this machine: per row, 5 folds x the max epochs."""
    rows = []
    for row in config.rows:
        family = task.family(row)
        if family == "dcase2016_gmm":
            hours = 5 * (gmm["fit_s"] + TEST / gmm["score_clips_per_s"]) / 3600
            rows.append({"row": row.name, "epochs": 1, "hours": hours})
            continue
        rate = networks[family]
        epochs = config.training_of(row).epochs
        epoch_s = TRAIN / rate["train_samples_per_s"] + VAL / rate["infer_samples_per_s"]
        unit_s = epochs * epoch_s + TEST / rate["infer_samples_per_s"] + rate["build_s"]
        if family == "dae_dnn":
            from kerastag.tasks.tagging.baselines import DAE_PRETRAINING

            unit_s += DAE_PRETRAINING["dae_epochs"] * (TRAIN + VAL) / rate["dae_samples_per_s"]
        rows.append({"row": row.name, "epochs": epochs, "hours": 5 * unit_s / 3600})
    extraction_h = DEV_CHUNKS * sum(features.values()) / 3600
    total = sum(r["hours"] for r in rows) + extraction_h
    return {"rows": rows, "extraction_hours": extraction_h, "total_hours": total}


def _print_network(family, figures, crnn):
    ratio = figures["train_samples_per_s"] / crnn["train_samples_per_s"]
    extra = (f", DAE pretraining {figures['dae_samples_per_s']:.0f} samples/s"
             if "dae_samples_per_s" in figures else "")
    print(f"  {family:<13} input {tuple(figures['input'])}, batch {figures['batch']}, "
          f"{figures['params'] / 1e6:.2f} M params: train {figures['train_samples_per_s']:7.1f} "
          f"samples/s ({ratio:.2f}x the CRNN), inference "
          f"{figures['infer_samples_per_s']:7.1f} samples/s{extra}", flush=True)


def format_projection(projection) -> str:
    lines = ["", "projection of the whole config on this machine (5 folds, max epochs; "
                 "early stopping ends most units sooner):"]
    for row in projection["rows"]:
        lines.append(f"  {row['row']:<20} {row['epochs']:4d} epochs  {row['hours']:7.2f} h")
    lines.append(f"  feature extraction (1,946 chunks, all inputs)  "
                 f"{projection['extraction_hours']:.2f} h")
    lines.append(f"  total: {projection['total_hours']:.1f} h")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
