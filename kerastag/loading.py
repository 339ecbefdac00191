"""From a config to arrays: find (or make) the dataset, then compute cached features.

Shared by every task: each task's ``load()`` calls :func:`prepare_dataset` and
:func:`compute_features` with the feature sections it needs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerastag.config import ExperimentConfig, FeaturesConfig
from kerastag.datasets import Dataset, audio_format, looks_like, read_dataset
from kerastag.errors import DatasetError
from kerastag.names import DEMO_LAYOUTS, resolve

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
    layout = config.dataset.layout
    if config.dataset.demo and not (path.exists() and looks_like(path, layout)):
        make_demo(layout, path, clips=config.dataset.demo_clips, seed=config.dataset.demo_seed,
                  task=config.task)
    if not path.exists():
        hint = DOWNLOAD_HINT.get(layout)
        how = f"; get it with '{hint}' and set dataset.path" if hint else ""
        raise DatasetError(f"dataset folder not found: looked for {path} "
                           f"(dataset.path {config.dataset.path!r} in {config.source}){how}")
    return read_dataset(path, layout)


def make_demo(layout: str, path: Path, *, clips: int | None, seed: int,
              task: str = "tagging") -> Path:
    """Write the demo dataset of ``layout`` into ``path``; returns the dataset root.

    The ``csv`` layout's demo (an own-data folder) is multi-label for the ``tagging``
    task and single-label for ``classification``.
    """
    if layout not in DEMO_LAYOUTS:
        raise DatasetError(f"dataset.demo: there is no built-in demo for layout {layout!r}")
    kwargs = {"seed": seed, "progress": True}
    if layout == "csv":
        kwargs["kind"] = "classification" if task == "classification" else "tagging"
    if clips is not None:
        kwargs["clips"] = clips
    root, _ = resolve(DEMO_LAYOUTS[layout])(path, **kwargs)
    return root


def compute_features(config: ExperimentConfig, clips, *, features: FeaturesConfig | None = None,
                     progress: bool = True, mmap: bool = False):
    """Extract (or read from the cache) the features of ``clips``; a FeatureResult.

    Each clip's audio is checked as it is read: finite, non-empty, and of the format the
    dataset layout requires (CHiME-Home: 16 kHz mono 4 s), the file named otherwise.
    """
    from kerastag.features import extract

    features = features or config.features
    spec = features.spec()
    return extract(stream_paths(clips, spec.stream, features.type, config.dataset.layout),
                   spec, cache_dir=config.cache_dir(), workers=features.workers,
                   progress=progress, mmap=mmap,
                   expected=audio_format(config.dataset.layout, spec.stream))


def stream_paths(clips, stream: str, feature_type: str, layout: str) -> list[Path]:
    """The file of each clip that a feature is computed from: ``clip.path`` for the
    ``main`` stream, else ``clip.extra["path_<stream>"]`` (CHiME-Home's ``48k``).

    Raises:
        DatasetError: the layout's clips have no such file.
    """
    if stream == "main":
        return [clip.path for clip in clips]
    key = f"path_{stream}"
    lacking = [clip for clip in clips if key not in clip.extra]
    if lacking:
        raise DatasetError(f"features {feature_type}: needs each clip's {stream} file "
                           f"(CHiME-Home's <chunk>.48kHz.wav), which dataset.layout "
                           f"{layout!r} does not have (e.g. clip {lacking[0].clip_id!r})")
    return [Path(clip.extra[key]) for clip in clips]


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
