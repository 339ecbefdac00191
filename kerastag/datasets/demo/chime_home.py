"""The synthetic CHiME-Home dataset: plan the chunks, then write them in the real layout.

The plan draws, from one ``numpy.random.Generator``, recording segments (each a run of
1-8 chunks, all in one cross-validation fold), the tags of every chunk, three annotators'
votes whose 2-of-3 majority is exactly those tags, and a seed for the chunk's audio. The
writer renders the audio from that seed (:mod:`kerastag.datasets.demo.chime_sounds`) and
writes the files the reader :mod:`kerastag.datasets.chime_home` expects; every file and
list name, annotation key, tag letter and the fold count come from that reader.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from kerastag.checks import check_int
from kerastag.datasets.chime_home import (
    ANNOTATION_KEYS, CHUNKS_DIR, CROSSVAL_LIST, DEV_LIST, EVAL_LIST, N_FOLDS, RAW_CROSSVAL_LIST,
    RAW_DEV_LIST,
)
from kerastag.datasets.demo.chime_sounds import (
    CHIME_SECONDS, CHIME_SR_HIGH, CHIME_SR_LOW, chime_chunk_audio,
)
from kerastag.datasets.demo.dsp import resample_48k_to_16k, to_int16
from kerastag.datasets.demo.staging import (
    check_target_free, staged_dataset, write_csv, write_wav,
)
from kerastag.datasets.demo.truth import DemoClip
from kerastag.errors import DatasetError
from kerastag.reference_results import CHIME_HOME_TAGS

DEFAULT_CHIME_CLIPS = 200

# Top-level entries of ``chime_home/``, audio first: the order they are renamed into place.
_ENTRIES = (CHUNKS_DIR, DEV_LIST, CROSSVAL_LIST, EVAL_LIST, RAW_DEV_LIST, RAW_CROSSVAL_LIST)
_TAG_COUNT_PROBS = (0.12, 0.38, 0.35, 0.15)  # P(0, 1, 2, 3 tags per chunk)
_TAG_WEIGHTS = {"c": 1.2, "m": 1.1, "f": 1.0, "v": 0.8, "p": 1.1, "b": 0.7, "o": 0.9}  # relative


def make_chime_home_demo(out_dir: str | os.PathLike, *, clips: int = DEFAULT_CHIME_CLIPS,
                         seed: int = 0, progress: bool = False) -> tuple[Path, list[DemoClip]]:
    """Write a synthetic CHiME-Home dataset to ``out_dir/chime_home``.

    Args:
        out_dir: folder that receives ``chime_home/`` (created if missing).
        clips: number of development chunks (>= 5, one per fold); the evaluation set
            gets ``max(8, clips // 4)`` more, and the raw development list
            ``max(5, clips // 4)`` chunks beyond the refined ones (CHiME-Home's raw list
            holds every refined chunk and more: 4,378 against 1,946).
        seed: seed (>= 0) of ``numpy.random.default_rng``; equal seeds give identical
            bytes.
        progress: show a tqdm bar over the chunks.

    Returns:
        The dataset root ``out_dir/chime_home`` and the ground truth of every chunk:
        the refined development chunks (in list order), the evaluation chunks, then the
        chunks only in the raw development list (``extra["raw_only"]``).

    Raises:
        DatasetError: ``clips`` or ``seed`` is not an integer or too small, or
            ``chime_home`` already exists in full or in part.
    """
    clips = check_int("chime_home demo clips", clips, minimum=N_FOLDS, error=DatasetError)
    seed = check_int("chime_home demo seed", seed, minimum=0, error=DatasetError)
    root = Path(out_dir) / "chime_home"
    check_target_free(root, _ENTRIES, "CHiME-Home demo")
    rng = np.random.default_rng(seed)
    used_segments: set[str] = set()
    dev = _plan_chime_subset(rng, clips, "development", used_segments)
    evaluation = _plan_chime_subset(rng, max(8, clips // 4), "evaluation", used_segments)
    raw_only = [dataclasses.replace(chunk, raw_only=True) for chunk in _plan_chime_subset(
        rng, max(N_FOLDS, clips // 4), "development", used_segments)]
    with staged_dataset(root, _ENTRIES) as stage:
        _write_chime_dataset(stage, dev, evaluation, raw_only, progress)
    return root, [chunk.demo_clip() for chunk in dev + evaluation + raw_only]


# --------------------------------------------------------------------------- plan


@dataclasses.dataclass
class _ChimeChunk:
    """Everything needed to write one CHiME-Home chunk (its audio comes from ``audio_seed``)."""

    segment: str
    number: int  # chunk number within the segment, 0..39
    tags: tuple[str, ...]  # in CHIME_HOME_TAGS order
    majorityvote: str
    annotations: tuple[str, str, str]
    fold: int | None
    subset: str
    audio_seed: int
    raw_only: bool = False  # listed in the raw development list only

    @property
    def name(self) -> str:
        """The chunk name, ``<segment>_chunk<number>``."""
        return f"{self.segment}_chunk{self.number}"

    def annotation_rows(self) -> list[tuple[str, str]]:
        """The ``key,value`` rows of the chunk's annotation CSV, in ``ANNOTATION_KEYS`` order."""
        values = (self.segment, str(self.number), str(self.number * CHIME_SECONDS * CHIME_SR_HIGH),
                  *self.annotations, "1", "1", "1", self.majorityvote, self.name)
        return list(zip(ANNOTATION_KEYS, values))

    def demo_clip(self) -> DemoClip:
        """The chunk's ground truth."""
        return DemoClip(self.name, tuple(sorted(self.tags)), self.fold, self.subset,
                        {"segment": self.segment, "chunknumber": self.number,
                         "majorityvote": self.majorityvote, "raw_only": self.raw_only})


def _plan_chime_subset(rng: np.random.Generator, total: int, subset: str,
                       used_segments: set[str]) -> list[_ChimeChunk]:
    """Draw segments, chunk numbers, folds, tags and audio seeds for one subset.

    Args:
        rng: source of every random choice.
        total: number of chunks.
        subset: ``"development"`` (chunks get folds) or ``"evaluation"`` (``fold=None``).
        used_segments: segment names taken so far; the new ones are added.

    Returns:
        ``total`` chunks, segment by segment, chunk numbers ascending within a segment.
    """
    sizes = _segment_sizes(rng, total)
    folds = _balanced_folds(sizes) if subset == "development" else [None] * len(sizes)
    chunks = []
    for size, fold in zip(sizes, folds):
        segment = _new_segment_name(rng, used_segments)
        numbers = np.sort(rng.choice(40, size=size, replace=False))
        for number in numbers.tolist():
            tags = _draw_tags(rng)
            chunks.append(_ChimeChunk(
                segment=segment, number=number, tags=tags,
                majorityvote=_majority_string(rng, tags),
                annotations=_annotator_votes(rng, tags), fold=fold, subset=subset,
                audio_seed=int(rng.integers(2 ** 63))))
    return chunks


def _new_segment_name(rng: np.random.Generator, used: set[str]) -> str:
    """A fresh segment name like ``CR_lounge_220110_0731.s0``, added to ``used``."""
    while True:
        day, month, year = rng.integers(1, 29), rng.integers(1, 13), rng.integers(10, 12)
        hour, minute = rng.integers(7, 23), rng.integers(0, 60)
        name = (f"CR_lounge_{day:02d}{month:02d}{year:02d}_{hour:02d}{minute:02d}"
                f".s{rng.integers(0, 4)}")
        if name not in used:
            used.add(name)
            return name


def _segment_sizes(rng: np.random.Generator, total: int) -> list[int]:
    """Split ``total`` chunks into segments of 1..8 chunks, at least ``N_FOLDS`` segments."""
    largest = max(1, min(8, total // N_FOLDS))
    sizes: list[int] = []
    while sum(sizes) < total:
        sizes.append(min(int(rng.integers(1, largest + 1)), total - sum(sizes)))
    return sizes


def _balanced_folds(sizes: Sequence[int]) -> list[int]:
    """Assign segments to ``N_FOLDS`` folds, largest first, each to the smallest fold so far."""
    load = [0] * N_FOLDS
    folds = [0] * len(sizes)
    for index in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        fold = min(range(N_FOLDS), key=lambda f: (load[f], f))
        folds[index] = fold
        load[fold] += sizes[index]
    return folds


def _draw_tags(rng: np.random.Generator) -> tuple[str, ...]:
    """0-3 distinct tags (about 12% none), returned in ``CHIME_HOME_TAGS`` order."""
    count = int(rng.choice(len(_TAG_COUNT_PROBS), p=_TAG_COUNT_PROBS))
    relative = tuple(_TAG_WEIGHTS[tag] for tag in CHIME_HOME_TAGS)
    weights = np.array(relative) / sum(relative)
    picked = set(rng.choice(len(CHIME_HOME_TAGS), size=count, replace=False, p=weights).tolist())
    return tuple(tag for i, tag in enumerate(CHIME_HOME_TAGS) if i in picked)


def _annotator_votes(rng: np.random.Generator, tags: Sequence[str]) -> tuple[str, str, str]:
    """Three annotators' tag strings (``S`` when empty) whose 2-of-3 majority is ``tags``."""
    votes: list[list[str]] = [[], [], []]
    for tag in CHIME_HOME_TAGS:
        if tag in tags:
            voters = range(3) if rng.random() < 0.75 else rng.choice(3, 2, replace=False)
        else:
            voters = [int(rng.integers(3))] if rng.random() < 0.1 else []
        for voter in sorted(int(v) for v in voters):
            votes[voter].append(tag)
    return tuple("".join(v) or "S" for v in votes)  # type: ignore[return-value]


def _majority_string(rng: np.random.Generator, tags: Sequence[str]) -> str:
    """The ``majorityvote`` value: tag letters, ``S`` if none, sometimes ``S``/``U`` added."""
    if not tags:
        return "S"
    extra = "S" if rng.random() < 0.15 else ""
    extra += "U" if rng.random() < 0.03 else ""
    return "".join(tags) + extra


# --------------------------------------------------------------------------- writing


def _write_chime_dataset(stage: Path, dev: Sequence[_ChimeChunk],
                         evaluation: Sequence[_ChimeChunk], raw_only: Sequence[_ChimeChunk],
                         progress: bool) -> None:
    """Write every chunk into ``stage/chunks``, then the five lists into ``stage``."""
    (stage / CHUNKS_DIR).mkdir()
    for chunk in tqdm([*dev, *evaluation, *raw_only], desc="chime_home demo", unit="chunk",
                      disable=not progress):
        _write_chime_chunk(stage / CHUNKS_DIR, chunk)
    _write_chime_lists(stage, dev, evaluation, raw_only)


def _write_chime_chunk(folder: Path, chunk: _ChimeChunk) -> None:
    """Write a chunk's 48 kHz stereo wav, its 16 kHz right-channel wav and annotation CSV."""
    stereo = to_int16(chime_chunk_audio(chunk.tags, np.random.default_rng(chunk.audio_seed)))
    write_wav(folder / f"{chunk.name}.48kHz.wav", stereo.T, CHIME_SR_HIGH)
    right = stereo[1].astype(np.float64) / 32767.0
    write_wav(folder / f"{chunk.name}.16kHz.wav", to_int16(resample_48k_to_16k(right)),
              CHIME_SR_LOW)
    write_csv(folder / f"{chunk.name}.csv", chunk.annotation_rows())


def _write_chime_lists(root: Path, dev: Sequence[_ChimeChunk],
                       evaluation: Sequence[_ChimeChunk], raw_only: Sequence[_ChimeChunk]) -> None:
    """Write the refined and raw development lists, their cross-validation lists (the
    raw list: the refined chunks in their folds, then the raw-only ones) and the
    evaluation list (no headers)."""
    raw = [*dev, *raw_only]
    write_csv(root / DEV_LIST, [(i, c.name) for i, c in enumerate(dev)])
    write_csv(root / CROSSVAL_LIST, [(i, c.name, c.fold) for i, c in enumerate(dev)])
    write_csv(root / EVAL_LIST, [(i, c.name) for i, c in enumerate(evaluation)])
    write_csv(root / RAW_DEV_LIST, [(i, c.name) for i, c in enumerate(raw)])
    write_csv(root / RAW_CROSSVAL_LIST, [(i, c.name, c.fold) for i, c in enumerate(raw)])
