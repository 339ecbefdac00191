"""Tagging audio files with a saved paper-A model: the CRNN, a Table 1 baseline or any
family whose declaration (:mod:`kerastag.families`) says it predicts window by window.

A clip of any sample rate is resampled to the model's feature rate. Clips are scored in
consecutive 4 s windows (the model's window, ``chunk_seconds``), cut exactly as in
training (:func:`kerastag.features.windows.cut_windows`): a clip shorter than 4 s is
zero-padded to one window; a longer one is zero-padded to a whole number of windows.
A tag's clip score is its **maximum over the windows** (a tag is present when it occurs
anywhere in the clip), the score the run's out-of-fold predictions give the same file.
Frame-level outputs of the CRNN's windows, laid end to end, give the localization and
attention curves of the plots.

A family without frame outputs (Table 1's baselines, a new family) is scored the same way
on its own input (MFCC frames of the mono file for the DAE-DNN and the MFCC-GMM; the
log-mel + IMD of the stereo 48 kHz file, the file CHiME-Home calls ``<chunk>.48kHz.wav``,
for the CGRNN and ATT-LOC); it has no frame outputs to plot. A family declaring
log-likelihood-ratio scores (the MFCC-GMM) has a tag present when its ratio is at least 0
(equal likelihoods).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from kerastag.audio import load_audio
from kerastag.compiled_models import reuse_for_inference
from kerastag.config import features_from_data
from kerastag.errors import AudioError, ConfigError, ModelError
from kerastag.families import ModelFamily, family
from kerastag.features.windows import Windowed
from kerastag.formats.model_file import ModelInfo, load_model, read_model_info

#: What a family declaring no frame outputs is refused for --plot and --events.
NO_FRAME_OUTPUTS = {"--plot": "frame-level outputs (--plot draws them)",
                    "--events": "frame-level outputs (--events needs frame scores)"}


@dataclasses.dataclass
class ClipPrediction:
    """Scores of one file, and the frame-level outputs for plotting."""

    path: Path
    scores: np.ndarray          # (classes,)
    logmel: np.ndarray          # (frames, mels)
    localization: np.ndarray    # (frames, classes)
    attention: np.ndarray       # (frames, classes)


def declared_family(model_path: Path, info: ModelInfo) -> ModelFamily:
    """The declaration of the saved model's family; one that is not registered, or that
    declares no tagging or no window-wise predict, is a one-line ModelError."""
    try:
        declared = family(info.family, f"{model_path}: family")
    except ConfigError as exc:
        raise ModelError(str(exc)) from None
    if "tagging" not in declared.tasks:
        raise ModelError(f"{model_path}: {declared.task_refusal('tagging')}")
    if not declared.window_predict:
        raise ModelError(f"{model_path}: {declared.refusal('window-wise predict')}")
    return declared


def load_tagger(model_path: Path, *, purpose: str = "--plot"):
    """(model, frame-level model, model info, feature spec) of a saved tagger whose family
    declares frame outputs; another is a one-line ModelError naming ``purpose``."""
    info = read_tagging_info(model_path)
    declared = declared_family(model_path, info)
    if not declared.events:
        raise ModelError(f"{model_path}: {declared.refusal(NO_FRAME_OUTPUTS[purpose])}")
    model = load_model(model_path)
    return (model, declared.hook("frame_model")(model), info,
            features_from_data(info.features).spec())


def read_tagging_info(model_path: Path) -> ModelInfo:
    """The :class:`ModelInfo` of a saved tagging model; ModelError for another task."""
    info = read_model_info(model_path)
    if info.task != "tagging":
        raise ModelError(f"{model_path}: not a tagging model (task {info.task!r})")
    return info


def load_event_tagger(model_path: Path):
    """(frame-level model, model info, feature spec) of a tagger with frame outputs, or a
    one-line ModelError saying why the model cannot detect events."""
    task = read_model_info(model_path).task
    if task != "tagging":
        raise ModelError(f"{model_path}: --events needs a tagger with frame outputs (paper "
                         f"A's CRNN); this {task} model has clip outputs only")
    _, frame_model, info, spec = load_tagger(model_path, purpose="--events")
    return frame_model, info, spec


def predict_clip(frame_model, spec, path: Path, chunk_seconds: float) -> ClipPrediction:
    """Score one file in 4 s windows; see the module docstring."""
    wave = load_audio(path, sample_rate=spec.sample_rate)
    logmels = Windowed(spec, chunk_seconds).compute(wave)
    outputs = frame_model.predict(logmels, verbose=0)
    return ClipPrediction(
        path=path,
        scores=np.asarray(outputs["clip"]).max(axis=0),
        logmel=np.concatenate(logmels),
        localization=np.concatenate(np.asarray(outputs["localization"])),
        attention=np.concatenate(np.asarray(outputs["attention"])),
    )


def predict_files(model_path: Path, files: list[Path], *, threshold: float = 0.5,
                  plot_dir: Path | None = None, names: list[str] | None = None) -> pd.DataFrame:
    """Paper-A tagging: the tags over ``threshold``; optional plots per clip (a family
    with frame outputs).

    Every file is scored before the first plot is written, so a bad file stops the
    command without leaving some plots behind. ``names`` name the plots
    (:func:`kerastag.predict.output_stems`; default: the files' names).
    """
    info = read_tagging_info(model_path)
    declared = declared_family(model_path, info)
    if not declared.events:
        return _predict_clip_files(model_path, info, declared, files, threshold=threshold,
                                   plot_dir=plot_dir)
    _, frame_model, info, spec = load_tagger(model_path)
    classes = list(info.classes)
    results = [predict_clip(frame_model, spec, path, info.chunk_seconds) for path in files]
    records = []
    for result in results:
        tags = [c for c, s in zip(classes, result.scores) if s >= threshold]
        records.append({"file": str(result.path), **dict(zip(classes, result.scores.round(4))),
                        "tags": " ".join(tags)})
    if plot_dir is not None:
        from kerastag.formats.output_names import output_stems

        names = names or [path.name for path in files]
        for result, name, stem in zip(results, names, output_stems(names)):
            _plot(result, classes, spec, Path(plot_dir) / f"{stem}.png", name)
    return pd.DataFrame.from_records(records)


def _predict_clip_files(model_path: Path, info: ModelInfo, declared: ModelFamily,
                        files: list[Path], *, threshold: float,
                        plot_dir: Path | None) -> pd.DataFrame:
    """Clip scores of a family without frame outputs (see the module docstring)."""
    if plot_dir is not None:
        raise ModelError(f"{model_path}: {declared.refusal(NO_FRAME_OUTPUTS['--plot'])}")
    model = reuse_for_inference(load_model(model_path))
    spec = features_from_data(info.features).spec()
    scores = np.stack([baseline_clip_scores(model, spec, path, info.chunk_seconds, declared.name)
                       for path in files])
    if declared.scores != "probabilities":
        threshold = declared.decision_threshold  # e.g. log-likelihood ratios: 0
    classes = list(info.classes)
    frame = pd.DataFrame(scores.round(4), columns=list(classes))
    frame.insert(0, "file", [str(path) for path in files])
    frame["tags"] = [" ".join(c for c, v in zip(classes, row) if v >= threshold) for row in scores]
    return frame


def baseline_clip_scores(model, spec, path: Path, chunk_seconds: float, family: str) -> np.ndarray:
    """``(classes,)`` clip scores of a model without frame outputs: its input computed on
    each 4 s window of the file (zero-padded), the maximum over windows."""
    stereo = spec.channels == 2
    wave = load_audio(path, sample_rate=spec.sample_rate, mono=not stereo)
    if stereo and wave.shape[0] != 2:
        raise AudioError(f"{path}: model.type {family} reads a stereo file (its input is "
                         f"the log-mel + inter-channel magnitude difference, from CHiME-Home's "
                         f"<chunk>.48kHz.wav); this file has {wave.shape[0]} channel(s)")
    features = Windowed(spec, chunk_seconds).compute(wave)
    return np.asarray(model.predict(features, verbose=0), np.float32).max(axis=0)


def _plot(result: ClipPrediction, classes, spec, out: Path, title: str) -> Path:
    from kerastag.tasks.tagging.plots import plot_clip_prediction

    return plot_clip_prediction(result.logmel, result.localization, result.attention,
                                result.scores, classes, out, title=title,
                                frame_hop_s=spec.hop_length / spec.sample_rate)
