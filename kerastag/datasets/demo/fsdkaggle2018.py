"""The synthetic FSDKaggle2018 dataset: plan the clips, then write them in a real layout.

The plan draws, from one ``numpy.random.Generator``, unique hex file names, labels dealt
out evenly over :data:`~kerastag.datasets.demo.fsd_sounds.FSD_CLASSES`, lengths (15% of
the clips short), a few quiet and silent clips, verification flags, Public/Private usage,
Freesound ids, licenses and a seed for every clip's audio. The writer renders the audio
from that seed (:mod:`kerastag.datasets.demo.fsd_sounds`) and writes the Zenodo or the
Kaggle layout; every folder, file name and CSV header comes from the reader
:mod:`kerastag.datasets.fsdkaggle2018`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from tqdm import tqdm

from kerastag.checks import check_int
from kerastag.datasets.demo.dsp import to_int16
from kerastag.datasets.demo.fsd_sounds import FSD_CLASSES, FSD_SR, fsd_clip_audio
from kerastag.datasets.demo.staging import (
    check_target_free, staged_dataset, write_csv, write_wav,
)
from kerastag.datasets.demo.truth import DemoClip
from kerastag.datasets.fsdkaggle2018 import (
    KAGGLE_AUDIO, KAGGLE_SUBMISSION, KAGGLE_TEST_COLUMNS, KAGGLE_TRAIN, TRAIN_COLUMNS,
    ZENODO_AUDIO, ZENODO_META, ZENODO_TEST, ZENODO_TEST_COLUMNS, ZENODO_TRAIN,
    ZENODO_TRAIN_COLUMNS,
)
from kerastag.errors import DatasetError

DEFAULT_FSD_CLIPS = 240
FSD_MIN_CLIPS = len(FSD_CLASSES)
FSD_VARIANTS = ("zenodo", "kaggle")
FSD_LICENSES = ("Attribution", "Creative Commons 0", "Attribution-NonCommercial")
_LICENSE_PROBS = (0.55, 0.3, 0.15)  # of FSD_LICENSES


def make_fsdkaggle2018_demo(out_dir: str | os.PathLike, *, clips: int = DEFAULT_FSD_CLIPS,
                            seed: int = 0, variant: str = "zenodo",
                            progress: bool = False) -> tuple[Path, list[DemoClip]]:
    """Write a synthetic FSDKaggle2018 dataset into ``out_dir``.

    The ``"zenodo"`` variant writes ``FSDKaggle2018.audio_train/``,
    ``FSDKaggle2018.audio_test/`` and ``FSDKaggle2018.meta/`` (with
    ``train_post_competition.csv`` and ``test_post_competition_scoring_clips.csv``); the
    ``"kaggle"`` variant writes ``train.csv``, ``audio_train/``, ``audio_test/`` and
    ``sample_submission.csv``. Audio is 44.1 kHz mono 16-bit, 0.3 to 8 s long.

    Args:
        out_dir: the dataset root (created if missing; may hold unrelated files).
        clips: number of training clips (>= 8, the number of demo classes); the test set
            gets ``max(10, clips // 4)`` clips.
        seed: seed (>= 0) of ``numpy.random.default_rng``; equal seeds give identical
            bytes.
        variant: ``"zenodo"`` or ``"kaggle"``.
        progress: show a tqdm bar over the clips.

    Returns:
        ``out_dir`` and the ground truth of every clip: train clips then test clips, each
        sorted by ``fname``.

    Raises:
        DatasetError: bad ``variant``, ``clips`` or ``seed``, or the dataset's files
            already exist in ``out_dir`` in full or in part.
    """
    if variant not in FSD_VARIANTS:
        raise DatasetError(f"fsdkaggle2018 demo: variant must be one of {FSD_VARIANTS}, "
                           f"got {variant!r}")
    clips = check_int("fsdkaggle2018 demo clips", clips, minimum=FSD_MIN_CLIPS,
                      error=DatasetError)
    seed = check_int("fsdkaggle2018 demo seed", seed, minimum=0, error=DatasetError)
    root = Path(out_dir)
    layout = _FSD_LAYOUTS[variant]
    check_target_free(root, layout.entries, f"FSDKaggle2018 demo ({variant})")
    rng = np.random.default_rng(seed)
    train, test = _plan_fsd_clips(rng, clips)
    with staged_dataset(root, layout.entries) as stage:
        _write_fsd_dataset(stage, layout, train, test, progress)
    return root, [clip.demo_clip(variant) for clip in train + test]


# --------------------------------------------------------------------------- plan


@dataclasses.dataclass
class _FsdClip:
    """Everything needed to write one FSDKaggle2018 clip and its metadata rows."""

    fname: str
    label: str
    subset: str  # "train" or "test"
    samples: int  # length at FSD_SR
    condition: str  # "normal", "quiet" or "silent"
    manually_verified: bool
    usage: str  # "Public" or "Private"
    freesound_id: int
    license: str
    audio_seed: int

    def demo_clip(self, variant: str) -> DemoClip:
        """The clip's ground truth, with the facts the ``variant``'s files carry."""
        extra: dict[str, Any] = {"condition": self.condition,
                                 "duration_s": self.samples / FSD_SR}
        if self.subset == "train":
            extra["manually_verified"] = self.manually_verified
        elif variant == "zenodo":
            extra["usage"] = self.usage
        return DemoClip(self.fname, (self.label,), None, self.subset, extra)


def _plan_fsd_clips(rng: np.random.Generator, train_count: int,
                    ) -> tuple[list[_FsdClip], list[_FsdClip]]:
    """Plan ``train_count`` training and ``max(10, train_count // 4)`` test clips.

    Returns:
        The training and the test clips, each sorted by ``fname``; names and Freesound
        ids are unique across both.
    """
    test_count = max(10, train_count // 4)
    fnames = _unique_fnames(rng, train_count + test_count)
    ids = 10_000 + rng.choice(440_000, size=train_count + test_count, replace=False)
    train = _plan_fsd_subset(rng, fnames[:train_count], "train", ids[:train_count])
    test = _plan_fsd_subset(rng, fnames[train_count:], "test", ids[train_count:])
    return train, test


def _plan_fsd_subset(rng: np.random.Generator, fnames: Sequence[str], subset: str,
                     freesound_ids: np.ndarray) -> list[_FsdClip]:
    """Draw labels, lengths, conditions and metadata of one subset's clips.

    Args:
        rng: source of every random choice.
        fnames: the clips' file names.
        subset: ``"train"`` (two quiet clips and one silent) or ``"test"`` (one quiet).
        freesound_ids: ``[shape=(len(fnames),)]`` the clips' Freesound ids.

    Returns:
        The clips sorted by ``fname``, labels balanced to within one.
    """
    count = len(fnames)
    labels = rng.permutation(np.resize(np.array(FSD_CLASSES), count))
    samples = _durations(rng, count)
    if subset == "train":
        conditions = _conditions(rng, count, quiet=2, silent=1)
    else:
        conditions = _conditions(rng, count, quiet=1, silent=0)
    verified = rng.random(count) < 0.6
    public = set(rng.choice(count, size=max(1, round(0.19 * count)), replace=False).tolist())
    licenses = rng.choice(len(FSD_LICENSES), size=count, p=_LICENSE_PROBS)
    clips = [
        _FsdClip(fname=fnames[i], label=str(labels[i]), subset=subset, samples=int(samples[i]),
                 condition=conditions[i], manually_verified=bool(verified[i]),
                 usage="Public" if i in public else "Private",
                 freesound_id=int(freesound_ids[i]), license=FSD_LICENSES[int(licenses[i])],
                 audio_seed=int(rng.integers(2 ** 63)))
        for i in range(count)
    ]
    return sorted(clips, key=lambda clip: clip.fname)


def _unique_fnames(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` distinct names of 8 lowercase hex digits plus ``.wav``."""
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        name = f"{int(rng.integers(0, 2 ** 32)):08x}.wav"
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def _durations(rng: np.random.Generator, count: int) -> np.ndarray:
    """Clip lengths in samples at ``FSD_SR``, ``[shape=(count,)]``.

    15% of the clips (at least one) are 0.3-1.5 s long, the rest 1.5-8 s.
    """
    seconds = rng.uniform(1.5, 8.0, count)
    short = rng.choice(count, size=max(1, round(0.15 * count)), replace=False)
    seconds[short] = rng.uniform(0.3, 1.5, short.size)
    return np.round(seconds * FSD_SR).astype(int)


def _conditions(rng: np.random.Generator, count: int, *, quiet: int, silent: int) -> list[str]:
    """``normal`` for most clips; ``quiet`` and ``silent`` for a few distinct random ones."""
    conditions = ["normal"] * count
    special = rng.choice(count, size=quiet + silent, replace=False)
    for index in special[:quiet]:
        conditions[int(index)] = "quiet"
    for index in special[quiet:]:
        conditions[int(index)] = "silent"
    return conditions


# --------------------------------------------------------------------------- writing


def _write_fsd_dataset(stage: Path, layout: _Layout, train: Sequence[_FsdClip],
                       test: Sequence[_FsdClip], progress: bool) -> None:
    """Write the audio folders of ``layout`` into ``stage``, then its metadata."""
    train_dir, test_dir = layout.audio
    for folder in layout.audio:
        (stage / folder).mkdir()
    todo = [(train_dir, clip) for clip in train] + [(test_dir, clip) for clip in test]
    for folder, clip in tqdm(todo, desc="fsdkaggle2018 demo", unit="clip",
                             disable=not progress):
        _write_fsd_clip(stage / folder, clip)
    layout.write_meta(stage, train, test)


def _write_fsd_clip(folder: Path, clip: _FsdClip) -> None:
    """Render a clip from its seed and write it as ``folder/<fname>``, 44.1 kHz mono 16-bit."""
    audio = fsd_clip_audio(clip.label, clip.samples, clip.condition,
                           np.random.default_rng(clip.audio_seed))
    write_wav(folder / clip.fname, to_int16(audio), FSD_SR)


def _write_zenodo_meta(root: Path, train: Sequence[_FsdClip], test: Sequence[_FsdClip]) -> None:
    """Write the Zenodo metadata folder with its training and test CSVs."""
    (root / ZENODO_META).mkdir()
    write_csv(root / ZENODO_TRAIN,
              [(c.fname, c.label, int(c.manually_verified), c.freesound_id, c.license)
               for c in train], ZENODO_TRAIN_COLUMNS)
    write_csv(root / ZENODO_TEST,
              [(c.fname, c.label, c.usage, c.freesound_id, c.license) for c in test],
              ZENODO_TEST_COLUMNS)


def _write_kaggle_meta(root: Path, train: Sequence[_FsdClip], test: Sequence[_FsdClip]) -> None:
    """Write the Kaggle ``sample_submission.csv`` (a fixed guess) and ``train.csv``."""
    guess = " ".join(FSD_CLASSES[:3])
    write_csv(root / KAGGLE_SUBMISSION, [(c.fname, guess) for c in test], KAGGLE_TEST_COLUMNS)
    write_csv(root / KAGGLE_TRAIN,
              [(c.fname, c.label, int(c.manually_verified)) for c in train], TRAIN_COLUMNS)


@dataclasses.dataclass(frozen=True)
class _Layout:
    """Where one variant keeps its files.

    Attributes:
        audio: the training and the test audio folders.
        meta: the metadata entries, in the order they are renamed into place.
        write_meta: ``(stage, train, test) -> None``, writes exactly the ``meta`` entries.
    """

    audio: tuple[str, str]
    meta: tuple[str, ...]
    write_meta: Callable[[Path, Sequence[_FsdClip], Sequence[_FsdClip]], None]

    @property
    def entries(self) -> tuple[str, ...]:
        """Every top-level entry, audio first, so metadata never lands without its audio."""
        return self.audio + self.meta


_FSD_LAYOUTS = {
    "zenodo": _Layout(ZENODO_AUDIO, (ZENODO_META,), _write_zenodo_meta),
    "kaggle": _Layout(KAGGLE_AUDIO, (KAGGLE_SUBMISSION, KAGGLE_TRAIN), _write_kaggle_meta),
}
