"""From a config to arrays: find (or make) the dataset, then compute cached features."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerastag.config import ExperimentConfig, FeatureConfig
from kerastag.datasets import Dataset, read_dataset
from kerastag.errors import DatasetError

DOWNLOAD_HINT = {
    "chime-home": "kerastag data download chime-home --to DIR",
    "fsdkaggle2018": "kerastag data download fsdkaggle2018 --to DIR",
}


def prepare_dataset(config: ExperimentConfig) -> Dataset:
    """Read the config's dataset, writing the built-in demo first when asked and absent.

    Raises:
        DatasetError: the folder is missing (the message says where kerastag looked and
            how to get the data) or does not follow its layout.
    """
    path = config.dataset_path()
    if config.dataset.demo and not _has_dataset(path, config.dataset.layout):
        make_demo(config.dataset.layout, path, clips=config.dataset.demo_clips,
                  seed=config.dataset.demo_seed)
    if not path.exists():
        hint = DOWNLOAD_HINT.get(config.dataset.layout)
        how = f"; get it with '{hint}' and set dataset.path" if hint else ""
        raise DatasetError(f"dataset folder not found: looked for {path} "
                           f"(dataset.path {config.dataset.path!r} in {config.source}){how}")
    return read_dataset(path, config.dataset.layout)


def _has_dataset(path: Path, layout: str) -> bool:
    from kerastag.datasets import chime_home, fsdkaggle2018

    looks_like = {"chime-home": chime_home.looks_like, "fsdkaggle2018": fsdkaggle2018.looks_like}
    return path.exists() and looks_like.get(layout, lambda p: True)(path)


def make_demo(layout: str, path: Path, *, clips: int | None, seed: int) -> Path:
    """Write the demo dataset of ``layout`` into ``path``; returns the dataset root."""
    from kerastag.datasets import demo

    kwargs = {"seed": seed, "progress": True}
    if clips is not None:
        kwargs["clips"] = clips
    if layout == "chime-home":
        root, _ = demo.make_chime_home_demo(path, **kwargs)
    elif layout == "fsdkaggle2018":
        root, _ = demo.make_fsdkaggle2018_demo(path, **kwargs)
    else:
        raise DatasetError(f"dataset.demo: there is no built-in demo for layout {layout!r}")
    return root


def feature_spec(features: FeatureConfig):
    """The feature definition (kerastag.features spec) of a features config."""
    from kerastag.features import LogMelA, TimeFrequencyB, Wave

    f = features
    if f.type == "logmel_a":
        return LogMelA(sr=f.sample_rate, n_fft=f.n_fft, hop_length=f.hop_length, n_mels=f.n_mels,
                       fmin=f.fmin, fmax=f.fmax)
    if f.type == "wave":
        return Wave(sr=f.sample_rate)
    return TimeFrequencyB(kind=f.type, sr=f.sample_rate, frame_ms=f.frame_ms, hop_ms=f.hop_ms,
                          n_mels=f.n_mels, n_mfcc=f.n_mels, fmin=f.fmin, fmax=f.fmax,
                          delta_width=f.delta_width)


def compute_features(config: ExperimentConfig, clips, *, features: FeatureConfig | None = None,
                     progress: bool = True, mmap: bool = False):
    """Extract (or read from the cache) the features of ``clips``; a FeatureResult."""
    from kerastag.features import extract

    features = features or config.features
    return extract([clip.path for clip in clips], feature_spec(features), cache_dir=config.cache_dir(),
                   workers=features.workers, progress=progress, mmap=mmap)


def stack_features(arrays: list[np.ndarray], where: str = "features") -> np.ndarray:
    """Stack equal-shaped per-clip features into ``(clips, ...)`` float32.

    Raises:
        DatasetError: clips of different lengths (CHiME-Home chunks are all 4 s).
    """
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise DatasetError(f"{where}: clips have different feature shapes {sorted(shapes)[:3]}; "
                           f"every clip must have the same length")
    return np.stack(arrays).astype(np.float32, copy=False)


def multi_hot(clips, classes: tuple[str, ...]) -> np.ndarray:
    """Tags as a ``(clips, classes)`` float32 0/1 matrix in ``classes`` order."""
    index = {name: i for i, name in enumerate(classes)}
    y = np.zeros((len(clips), len(classes)), dtype=np.float32)
    for row, clip in enumerate(clips):
        for tag in clip.tags:
            y[row, index[tag]] = 1.0
    return y
