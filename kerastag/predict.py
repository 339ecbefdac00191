"""``kerastag predict``: tag audio files with a saved ``.keras`` model.

A clip of any sample rate is resampled to the model's feature rate. Clips are scored in
consecutive 4 s windows (the training chunk length): a clip shorter than 4 s is
zero-padded to one window; a longer one is zero-padded to a whole number of windows.
A tag's clip score is its **maximum over the windows** (a tag is present when it occurs
anywhere in the clip). Frame-level outputs of the windows, laid end to end, give the
localization and attention curves of the plots.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd

from kerastag.audio import AUDIO_EXTENSIONS, load_audio
from kerastag.errors import AudioError, ModelError
from kerastag.fileio import atomic_path


@dataclasses.dataclass
class ClipPrediction:
    """Scores of one file, and the frame-level outputs for plotting."""

    path: Path
    scores: np.ndarray          # (classes,)
    logmel: np.ndarray          # (frames, mels)
    localization: np.ndarray    # (frames, classes)
    attention: np.ndarray       # (frames, classes)


def expand_paths(paths) -> list[Path]:
    """Files as given, folders replaced by their audio files (sorted, recursive)."""
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
        elif path.exists():
            files.append(path)
        else:
            raise AudioError(f"{path}: audio file not found")
    if not files:
        raise AudioError(f"no audio files in {', '.join(map(str, paths))}")
    return files


def saved_feature_spec(metadata: dict):
    """The feature definition a saved model was trained on."""
    from kerastag.config import FeatureConfig, from_dict
    from kerastag.prepare import feature_spec

    return feature_spec(from_dict(FeatureConfig, metadata["features"], "features"))


def load_tagger(model_path: Path):
    """(model, frame-level model, metadata, feature spec) of a saved tagging model."""
    from kerastag.modelio import load_model, read_metadata
    from kerastag.models.crnn import frame_level_model

    metadata = read_metadata(model_path)
    if metadata.get("task") != "tagging":
        raise ModelError(f"{model_path}: not a tagging model (task {metadata.get('task')!r})")
    model = load_model(model_path)
    return model, frame_level_model(model), metadata, saved_feature_spec(metadata)


def predict_clip(frame_model, spec, path: Path, chunk_seconds: float) -> ClipPrediction:
    """Score one file in 4 s windows; see the module docstring."""
    wave = load_audio(path, sr=spec.sr)
    window = int(round(chunk_seconds * spec.sr))
    n_windows = max(1, math.ceil(len(wave) / window))
    padded = np.zeros(n_windows * window, dtype=np.float32)
    padded[: len(wave)] = wave
    logmels = np.stack([spec.compute(padded[k * window:(k + 1) * window]) for k in range(n_windows)])
    outputs = frame_model.predict(logmels, verbose=0)
    return ClipPrediction(
        path=path,
        scores=np.asarray(outputs["clip"]).max(axis=0),
        logmel=np.concatenate(logmels),
        localization=np.concatenate(np.asarray(outputs["localization"])),
        attention=np.concatenate(np.asarray(outputs["attention"])),
    )


def predict_files(model_path: Path, paths, *, threshold: float = 0.5,
                  out_csv: Path | None = None, plot_dir: Path | None = None) -> pd.DataFrame:
    """Score every file with a saved model or a stack folder.

    ``model_path`` is a paper-A tagging model, a paper-B classification model, or a
    paper-B stack folder (holding ``level2.json``: every level-1 model, then level 2).

    Returns:
        A frame with ``file``, one column per class, and ``tags`` (tagging: the classes
        over ``threshold``; classification: the three most probable, best first).
    """
    from kerastag.modelio import read_metadata

    model_path = Path(model_path)
    if model_path.is_dir():
        from kerastag.ensemble import predict_stacked

        frame = predict_stacked(model_path, paths)
    elif read_metadata(model_path).get("task") == "classification":
        frame = classify_files(model_path, paths)
    else:
        frame = tag_files(model_path, paths, threshold=threshold, plot_dir=plot_dir)
    if out_csv is not None:
        with atomic_path(out_csv) as tmp:
            frame.to_csv(tmp, index=False)
    return frame


def tag_files(model_path: Path, paths, *, threshold: float, plot_dir: Path | None) -> pd.DataFrame:
    """Paper-A tagging: the tags over ``threshold``; optional plots per clip."""
    _, frame_model, metadata, spec = load_tagger(model_path)
    classes = metadata["classes"]
    records = []
    for path in expand_paths(paths):
        result = predict_clip(frame_model, spec, path, metadata.get("chunk_seconds", 4.0))
        tags = [c for c, s in zip(classes, result.scores) if s >= threshold]
        records.append({"file": str(path), **dict(zip(classes, result.scores.round(4))),
                        "tags": " ".join(tags)})
        if plot_dir is not None:
            _plot(result, classes, spec, Path(plot_dir))
    return pd.DataFrame.from_records(records)


def _plot(result: ClipPrediction, classes, spec, plot_dir: Path) -> Path:
    from kerastag.reporting import plot_clip_prediction

    return plot_clip_prediction(result.logmel, result.localization, result.attention,
                                result.scores, classes, plot_dir / f"{result.path.stem}.png",
                                title=result.path.name, frame_hop_s=spec.hop_length / spec.sr)


def classify_files(model_path: Path, paths) -> pd.DataFrame:
    """Paper-B scoring: each clip's class probabilities, averaged over its excerpts."""
    files = expand_paths(paths)
    probs, classes = classification_probs(model_path, files)
    return probability_frame(files, probs, classes)


def classification_probs(model_path: Path, files: list[Path]) -> tuple[np.ndarray, list[str]]:
    """``(clips, classes)`` probabilities of a saved paper-B model, and its class names."""
    from kerastag.excerpts import predict_clips
    from kerastag.modelio import load_model, read_metadata

    metadata = read_metadata(model_path)
    model, spec = load_model(model_path), saved_feature_spec(metadata)
    features = [classification_features(spec, path) for path in files]
    probs = predict_clips(model, features, length=metadata["excerpt"], hop=metadata["hop"],
                          pad_value=metadata["pad_value"])
    return probs, metadata["classes"]


def probability_frame(files: list[Path], probs: np.ndarray, classes) -> pd.DataFrame:
    """``file``, one column per class (4 decimals) and ``tags`` = the top three labels."""
    from kerastag.metrics import top_k_labels

    frame = pd.DataFrame(np.asarray(probs).round(4), columns=list(classes))
    frame.insert(0, "file", [str(p) for p in files])
    frame["tags"] = [" ".join(labels) for labels in top_k_labels(probs, classes, k=3)]
    return frame


def classification_features(spec, path: Path) -> np.ndarray:
    """Whole-clip features of one file; a file with no samples is an error naming it."""
    wave = load_audio(path, sr=spec.sr)
    if wave.size == 0:
        raise AudioError(f"{path}: audio file has no samples")
    return spec.compute(wave)
