"""A synthetic "own data" folder in kerastag's ``csv`` layout, as a user would bring it.

Not a paper's dataset: word-named classes, clips of several lengths, sample rates and
file formats, names with spaces and a non-ASCII character, in sub-folders, and a
``labels.csv`` with no fold column (kerastag assigns seeded stratified folds). Two kinds:

- ``tagging`` (paper A's task, multi-label): classes ``beep``, ``chirp``, ``clink``,
  ``knock``, ``speech``; each clip holds none, one or two of them; clips of 2, 4 and 10 s;
  a class present in a clip sounds once in every 4 s of it (so each 4 s window of the clip
  holds each of its classes, as the clip's labels say).
- ``classification`` (paper B's task, single-label): classes ``bark``, ``drum``,
  ``flute``, ``phone``; one label per clip; clips of 1 to 5 s; every sixth clip is a
  test-set clip (``fold`` ``test``, its label given, so the test set is scored).

Audio is 22.05 or 44.1 kHz mono, WAV (16-bit) or FLAC, over a quiet noise floor. The
sounds come from the CHiME-Home and FSDKaggle2018 demo banks. The same seed gives the same
bytes; the folder is written into a temporary sibling and renamed into place.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
from tqdm import tqdm

from kerastag.checks import check_int
from kerastag.datasets.csv_layout import LABELS_FILE, TEST_FOLD
from kerastag.datasets.demo import chime_sounds, fsd_sounds
from kerastag.datasets.demo.dsp import brown_noise, db_to_gain, place, set_rms, to_int16
from kerastag.datasets.demo.staging import check_target_free, staged_dataset, write_csv
from kerastag.datasets.demo.truth import DemoClip
from kerastag.errors import DatasetError

OWN_DATA_KINDS = ("tagging", "classification")
DEFAULT_OWN_CLIPS = {"tagging": 60, "classification": 48}
OWN_RATES = (22_050, 44_100)
_FOLDERS = ("garden", "kitchen")
_TAGGING_SECONDS = (2.0, 4.0, 10.0)
_WINDOW_SECONDS = 4.0

Synth = Callable[[np.random.Generator, int, int], np.ndarray]
_TAGGING_SOUNDS: dict[str, Synth] = {
    "beep": chime_sounds._beeps,
    "chirp": chime_sounds._sweep,
    "clink": chime_sounds._clinks,
    "knock": chime_sounds._knocks,
    "speech": chime_sounds._male_speech,
}
_CLASSIFICATION_SOUNDS: dict[str, Synth] = {
    "bark": fsd_sounds._bark,
    "drum": fsd_sounds._bass_drum,
    "flute": fsd_sounds._flute,
    "phone": fsd_sounds._telephone,
}
OWN_CLASSES = {"tagging": tuple(sorted(_TAGGING_SOUNDS)),
               "classification": tuple(sorted(_CLASSIFICATION_SOUNDS))}


def make_own_data_demo(out_dir: str | os.PathLike, *, clips: int | None = None, seed: int = 0,
                       kind: str = "tagging", progress: bool = False,
                       ) -> tuple[Path, list[DemoClip]]:
    """Write a synthetic own-data folder (``labels.csv`` + audio) into ``out_dir``.

    Args:
        out_dir: the dataset folder (created if missing; may hold unrelated files).
        clips: number of clips (default 60 for tagging, 48 for classification; at least
            10, and for classification at least 5 per class).
        seed: seed (>= 0) of ``numpy.random.default_rng``.
        kind: ``"tagging"`` (multi-label) or ``"classification"`` (single-label).
        progress: show a progress bar.

    Returns:
        ``(root, clips)``: the folder and each clip's ground truth (``clip_id`` is the
        file name as ``labels.csv`` lists it).

    Raises:
        DatasetError: a bad argument, or ``labels.csv`` or a sub-folder already exists.
    """
    if kind not in OWN_DATA_KINDS:
        raise DatasetError(f"own-data demo: kind must be one of {', '.join(OWN_DATA_KINDS)}, "
                           f"got {kind!r}")
    clips = DEFAULT_OWN_CLIPS[kind] if clips is None else clips
    check_int("clips", clips, minimum=10, error=DatasetError)
    check_int("seed", seed, minimum=0, error=DatasetError)
    root = Path(out_dir)
    entries = [*_FOLDERS, LABELS_FILE]
    check_target_free(root, entries, "own-data demo")
    rng = np.random.default_rng(seed)
    plan = _plan(kind, clips, rng)
    with staged_dataset(root, entries) as stage:
        for folder in _FOLDERS:
            (stage / folder).mkdir()
        rows = []
        for clip, audio_seed in tqdm(plan, desc="own-data demo", unit="clip", disable=not progress):
            _write_clip(stage / clip.clip_id, clip, kind, np.random.default_rng(audio_seed))
            rows.append((clip.clip_id, " ".join(clip.tags)))
        if kind == "classification":
            rows = [(name, labels, TEST_FOLD if clip.subset == "test" else "")
                    for (name, labels), (clip, _) in zip(rows, plan)]
        write_csv(stage / LABELS_FILE, rows,
                  header=("filename", "labels") + (("fold",) if kind == "classification" else ()))
    return root, [clip for clip, _ in plan]


def _plan(kind: str, n_clips: int, rng: np.random.Generator) -> list[tuple[DemoClip, int]]:
    """Each clip's name, labels, length, rate and audio seed, drawn in one fixed order."""
    classes = OWN_CLASSES[kind]
    plan = []
    for k in range(n_clips):
        if kind == "tagging":
            n_tags = int(rng.choice([0, 1, 1, 2]))
            tags = tuple(sorted(rng.choice(classes, size=n_tags, replace=False).tolist()))
            seconds = float(_TAGGING_SECONDS[k % len(_TAGGING_SECONDS)])
        else:
            tags = (classes[k % len(classes)],)
            seconds = round(float(rng.uniform(1.0, 5.0)), 2)
        subset = "test" if kind == "classification" and k % 6 == 5 else "train"
        rate = OWN_RATES[int(rng.integers(len(OWN_RATES)))]
        suffix = ".flac" if k % 3 == 1 else ".wav"
        name = f"{_FOLDERS[k % 2]}/{'café' if k % 7 == 3 else 'clip'} {k:03d}{suffix}"
        extra = {"seconds": seconds, "sample_rate": rate}
        plan.append((DemoClip(name, tags, None, subset, extra), int(rng.integers(2**31))))
    return plan


def _write_clip(path: Path, clip: DemoClip, kind: str, rng: np.random.Generator) -> None:
    """Render one clip (its sounds over a noise floor) and write it as WAV or FLAC."""
    sr, n = clip.extra["sample_rate"], int(round(clip.extra["seconds"] * clip.extra["sample_rate"]))
    mix = set_rms(brown_noise(rng, n), rng.uniform(-60, -50))
    for tag in clip.tags:
        if kind == "tagging":
            mix += _recurring(_TAGGING_SOUNDS[tag], n, sr, rng)
        else:
            sound = _CLASSIFICATION_SOUNDS[tag](rng, n, sr)
            mix += set_rms(sound, rng.uniform(-28, -16))
    peak = float(np.max(np.abs(mix)))
    mix = mix * (0.97 / peak) if peak > 0.97 else mix
    sf.write(str(path), to_int16(mix), sr, subtype="PCM_16",
             format="FLAC" if path.suffix == ".flac" else "WAV")


def _recurring(synth: Synth, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """One occurrence of a sound at a random time in every 4 s of an ``n``-sample clip."""
    out = np.zeros(n)
    window = int(_WINDOW_SECONDS * sr)
    for start in range(0, n, window):
        span = min(window, n - start)
        sound = set_rms(synth(rng, span, sr)[:span], 0.0) * db_to_gain(rng.uniform(-26, -14))
        out[start:start + span] += place(sound, span, rng)
    return out
