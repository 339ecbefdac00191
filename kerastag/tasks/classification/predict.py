"""Scoring audio files with a saved paper-B level-1 model: each clip's class
probabilities, averaged over its excerpts (as whole clips are scored in training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kerastag.audio import load_audio
from kerastag.compiled_models import reuse_for_inference
from kerastag.config import features_from_data
from kerastag.errors import AudioError
from kerastag.formats.model_file import load_model, read_model_info
from kerastag.metrics import top_k_labels


def predict_files(model_path: Path, files: list[Path], *, threshold: float = 0.5,
                  plot_dir: Path | None = None, names: list[str] | None = None) -> pd.DataFrame:
    """``file``, the class probabilities and the top-3 ``tags`` of every file.

    ``threshold``, ``plot_dir`` and ``names`` (of plots) are accepted for a uniform predictor signature; a
    single-label model reports its three best labels and draws no plots.
    """
    probs, classes = classification_probs(model_path, files)
    return probability_frame(files, probs, classes)


def classification_probs(model_path: Path, files: list[Path]) -> tuple[np.ndarray, list[str]]:
    """``(clips, classes)`` probabilities of a saved paper-B model, and its class names."""
    from kerastag.tasks.classification.excerpts import predict_clips

    info = read_model_info(model_path)
    if info.task != "classification":
        raise ModelError(f"{model_path}: not a classification model (task {info.task!r})")
    model = reuse_for_inference(load_model(model_path))  # one trace for all folds' models
    spec = features_from_data(info.features).spec()
    features = [clip_features(spec, path) for path in files]
    probs = predict_clips(model, features, length=info.excerpt, hop=info.hop,
                          pad_value=info.pad_value)
    return probs, list(info.classes)


def probability_frame(files: list[Path], probs: np.ndarray, classes) -> pd.DataFrame:
    """``file``, one column per class (4 decimals) and ``tags`` = the top three labels."""
    frame = pd.DataFrame(np.asarray(probs).round(4), columns=list(classes))
    frame.insert(0, "file", [str(p) for p in files])
    frame["tags"] = [" ".join(labels) for labels in top_k_labels(probs, classes, k=3)]
    return frame


def clip_features(spec, path: Path) -> np.ndarray:
    """Whole-clip features of one file; a file with no samples is an error naming it."""
    wave = load_audio(path, sample_rate=spec.sample_rate)
    if wave.size == 0:
        raise AudioError(f"{path}: audio file has no samples")
    return spec.compute(wave)
