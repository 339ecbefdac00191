"""From a config to arrays: find (or make) the dataset, then compute cached features.

Shared by every task: each task's ``load()`` calls :func:`prepare_dataset` and
:func:`compute_features` with the feature sections it needs. Paper A's clips are cut
into windows (``window_seconds``, :mod:`kerastag.features.windows`) and laid end to
end by :func:`stack_windows` (:class:`ClipWindows`).
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import numpy as np

from kerastag.config import ExperimentConfig, FeaturesConfig
from kerastag.datasets import Dataset, audio_format, get_layout, looks_like, read_dataset
from kerastag.errors import DatasetError
from kerastag.formats.demo_stamp import read_demo_stamp, write_demo_stamp
from kerastag.names import DEMO_LAYOUTS, resolve

def prepare_dataset(config: ExperimentConfig) -> Dataset:
    """Read the config's dataset, writing the built-in demo first when asked and absent.

    Raises:
        DatasetError: the folder is missing (the message says where kerastag looked and
            how to get the data) or does not follow its layout.
    """
    path = config.dataset_path()
    layout = config.dataset.layout
    if config.dataset.demo and not (path.exists() and looks_like(path, layout)):
        root = make_demo(layout, path, clips=config.dataset.demo_clips,
                         seed=config.dataset.demo_seed, task=config.task)
        if root.resolve() != path.resolve():  # a csv demo is the folder itself: no stamp in it
            write_demo_stamp(path, **_demo_settings(config))
    elif config.dataset.demo:
        _check_demo_stamp(config, path)
    if not path.exists():
        hint = get_layout(layout).download_hint()
        how = f"; get it with '{hint}' and set dataset.path" if hint else ""
        raise DatasetError(f"dataset folder not found: looked for {path} "
                           f"(dataset.path {config.dataset.path!r} in {config.source}){how}")
    options = {}
    if config.dataset.development_list != "refined":
        options["development_list"] = config.dataset.development_list
    return read_dataset(path, layout, **options)


def _demo_settings(config: ExperimentConfig) -> dict:
    """The stamp fields of the demo ``config`` asks for (the generator's default clips
    filled in)."""
    from kerastag.datasets.demo import DEMO_SOUNDS_VERSION

    layout = config.dataset.layout
    clips = config.dataset.demo_clips
    if clips is None:
        clips = inspect.signature(resolve(DEMO_LAYOUTS[layout])).parameters["clips"].default
    return {"layout": layout, "clips": clips, "seed": config.dataset.demo_seed,
            "sounds": DEMO_SOUNDS_VERSION}


def _check_demo_stamp(config: ExperimentConfig, path: Path) -> None:
    """Refuse a demo folder whose stamp differs from what ``config`` asks for."""
    stamp = read_demo_stamp(path)
    if stamp is None or stamp["layout"] != config.dataset.layout:
        return
    wanted = _demo_settings(config)
    if stamp != wanted:
        def describe(fields):
            return (f"demo_clips {fields['clips']}, demo_seed {fields['seed']}, "
                    f"sounds v{fields['sounds']}")
        raise DatasetError(
            f"{path}: holds a {stamp['layout']} demo made with {describe(stamp)}, but "
            f"{config.source or 'the config'} asks for {describe(wanted)}; delete the folder "
            f"to write the demo again, or set dataset.path to another folder")


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
                     progress: bool = True, mmap: bool = False,
                     window_seconds: float | None = None):
    """Extract (or read from the cache) the features of ``clips``; a FeatureResult.

    Each clip's audio is checked as it is read: finite, non-empty, and of the format the
    dataset layout requires (CHiME-Home: 16 kHz mono 4 s), the file named otherwise.

    Args:
        window_seconds: cut each clip into windows of this length and compute the
            feature per window (:class:`kerastag.features.Windowed`): each array is then
            ``(windows, frames, bins)``. None: one feature of the whole file.
    """
    from kerastag.features import Windowed, extract

    features = features or config.features
    spec = features.spec()
    if window_seconds is not None:
        spec = Windowed(spec, window_seconds)
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


def stack_features(arrays: list[np.ndarray], where: str = "features",
                   paths: list | None = None) -> np.ndarray:
    """Stack equal-shaped per-clip features into ``(clips, ...)`` float32.

    Args:
        paths: the file of each array, to name one whose shape differs.

    Raises:
        DatasetError: clips of different lengths (CHiME-Home chunks are all 4 s).
    """
    shapes = [a.shape for a in arrays]
    if len(set(shapes)) > 1:
        first = next(i for i, shape in enumerate(shapes) if shape != shapes[0])
        which = f" ({paths[first]}: {shapes[first]}, {paths[0]}: {shapes[0]})" if paths else ""
        raise DatasetError(f"{where}: clips have different feature shapes "
                           f"{sorted(set(shapes))[:3]}{which}; every clip must have the same "
                           f"length")
    return np.stack(arrays).astype(np.float32, copy=False)


@dataclasses.dataclass
class ClipWindows:
    """Every clip's windows (:mod:`kerastag.features.windows`), laid end to end in clip
    order.

    Attributes:
        x: ``(windows, frames, bins)`` float32 features, a clip's windows consecutive.
        clip: ``(windows,)`` the position of each window's clip in the clip list.
    """

    x: np.ndarray
    clip: np.ndarray

    def of(self, clips: np.ndarray) -> np.ndarray:
        """Positions in :attr:`x` of the windows of ``clips`` (clip positions), in
        window order (so in clip order when ``clips`` is sorted)."""
        return np.flatnonzero(np.isin(self.clip, clips))

    def clip_maximum(self, window_scores: np.ndarray, windows: np.ndarray) -> np.ndarray:
        """``(clips, classes)``: the maximum of ``window_scores`` ``(windows, classes)``
        over each clip's windows, for the windows at positions ``windows`` (as
        :meth:`of` gives them), clips in order."""
        owner = self.clip[windows]
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]) if len(owner) else owner
        if not len(starts):
            return window_scores[:0]
        return np.maximum.reduceat(window_scores, starts, axis=0)


def stack_windows(arrays: list[np.ndarray], paths: list, where: str = "features") -> ClipWindows:
    """Lay each clip's window stack ``(windows, frames, bins)`` end to end.

    Raises:
        DatasetError: windows of different shapes, naming a file (every window has the
            same length, so only a file with other channels or a broken cache can).
    """
    x = stack_features([window for array in arrays for window in array], where,
                       [path for path, array in zip(paths, arrays) for _ in array])
    clip = np.repeat(np.arange(len(arrays)), [len(array) for array in arrays])
    return ClipWindows(x, clip)


def multi_hot(clips, classes: tuple[str, ...]) -> np.ndarray:
    """Tags as a ``(clips, classes)`` float32 0/1 matrix in ``classes`` order."""
    index = {name: i for i, name in enumerate(classes)}
    y = np.zeros((len(clips), len(classes)), dtype=np.float32)
    for row, clip in enumerate(clips):
        for tag in clip.tags:
            y[row, index[tag]] = 1.0
    return y
