"""``kerastag data check``: validate a dataset folder and summarise it.

Besides problems (what stops a run), the report has notes: what trains but gives a
surprise. One is a class too rare for the folds (:func:`thin_class_notes`): every class
needs at least one clip in each fold that is tested (else its EER on that fold is
undefined and the table averages it over the other folds, or shows ``nan``), at least one
clip that is not in that fold (to train on), and a clip without it in that fold.
``kerastag run`` names the same classes, for the folds its units test, before training.
"""

from __future__ import annotations

import collections
import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np

from kerastag.audio import AudioFormat, check_audio_file
from kerastag.datasets import get_layout, read_dataset
from kerastag.datasets.base import Dataset, Problems, single_label_problems
from kerastag.errors import AudioError
from kerastag.features.windows import TAGGING_WINDOW_SECONDS


@dataclasses.dataclass
class CheckReport:
    """What ``data check`` found: the dataset, audio statistics, every problem, and notes
    (what it accepts that may surprise: unlisted audio files, labels split at commas, a
    class too rare for the folds)."""

    dataset: Dataset | None
    problems: list[str]
    durations: list[float]
    sample_rates: collections.Counter
    channels: collections.Counter
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_dataset(path: str | Path, layout: str | None = None, *,
                  progress: bool = False, single_label: bool = False) -> CheckReport:
    """Read a dataset collecting every problem, then check every audio file as training
    would read it (:func:`kerastag.audio.check_audio_file`: decodable, non-empty, finite,
    and of the layout's sample rate, channels and length).

    Args:
        single_label: the dataset is used single-label (the classification task): every
            clip outside the test set must have exactly one label.

    Raises:
        DatasetError: only when the folder itself is missing or of no known layout.
    """
    problems = Problems(strict=False)
    dataset = read_dataset(path, layout, problems=problems)
    if not dataset.clips:
        problems.add(dataset.root, "no clips: the dataset's lists name no audio file")
    if single_label:
        single_label_problems([c for c in dataset.clips if c.subset != "test"], problems)
    durations, rates, channels = [], collections.Counter(), collections.Counter()
    for audio_path, expected in _audio_files(dataset, progress):
        if not audio_path.is_file():
            continue  # already reported by the reader
        try:
            info = check_audio_file(audio_path, expected)
        except AudioError as exc:
            problems.messages.append(str(exc))
            continue
        durations.append(info.frames / info.samplerate)
        rates[info.samplerate] += 1
        channels[info.channels] += 1
    return CheckReport(dataset, problems.messages, durations, rates, channels,
                       notes=problems.notes + dataset_fold_notes(dataset))


def dataset_fold_notes(dataset: Dataset) -> list[str]:
    """:func:`thin_class_notes` of a dataset's cross-validation folds (every fold tested)."""
    clips = [clip for clip in dataset.clips if clip.fold is not None]
    if not clips or not dataset.classes:
        return []
    index = {name: k for k, name in enumerate(dataset.classes)}
    y = np.zeros((len(clips), len(dataset.classes)), np.int8)
    for row, clip in enumerate(clips):
        y[row, [index[t] for t in clip.tags if t in index]] = 1
    folds = np.array([clip.fold for clip in clips])
    return thin_class_notes(dataset.classes, y, fold_splits(folds, sorted(set(folds.tolist()))))


def fold_splits(folds: np.ndarray, tested: Sequence[int]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, test mask, train mask)`` of each tested fold: fold k against the other
    folds (clips of fold ``-1`` or below, evaluation clips, are in neither)."""
    return [(f"fold {k}", folds == k, (folds >= 0) & (folds != k)) for k in tested]


def thin_class_notes(classes: Sequence[str], y: np.ndarray,
                     splits: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> list[str]:
    """One line per class too rare for the folds.

    A class needs, in every split: a clip of it among the tested clips and one without it
    (else its EER there is undefined), and a clip of it among the training clips.

    Args:
        classes: the class names, the columns of ``y``.
        y: ``(clips, classes)`` 0/1 targets.
        splits: ``(name, test mask (clips,), train mask (clips,))``, e.g. of
            :func:`fold_splits`.

    Returns:
        e.g. ``"class 'chirp' (3 clips) does not fit the folds: no clip of it in fold 3,
        fold 4 (its EER is undefined there); give each class ..."``.
    """
    y = np.asarray(y) > 0
    notes = []
    for k, name in enumerate(classes):
        untested = [split for split, test, _ in splits if not y[test, k].any()]
        untrained = [split for split, _, train in splits if not y[train, k].any()]
        everywhere = [split for split, test, _ in splits if test.any() and y[test, k].all()]
        lacks = []
        if untested:
            lacks.append(f"no clip of it in {', '.join(untested)} (its EER is undefined there)")
        if everywhere:
            lacks.append(f"every clip of {', '.join(everywhere)} has it (its EER is "
                         f"undefined there)")
        if untrained:
            lacks.append(f"no clip of it to train on when testing {', '.join(untrained)}")
        if lacks:
            notes.append(f"class {name!r} ({int(y[:, k].sum())} clips) does not fit the "
                         f"folds: {'; '.join(lacks)}; give each class a clip in every fold "
                         f"tested and in training")
    return notes


def _audio_files(dataset: Dataset, progress: bool) -> list[tuple[Path, AudioFormat | None]]:
    """Every audio file of the dataset with the format its layout requires."""
    formats = get_layout(dataset.layout).audio_formats
    others = [stream for stream in formats if stream != "main"]  # CHiME-Home's 48k files
    files = []
    for clip in dataset.clips:
        files.append((clip.path, formats.get("main")))
        files += [(clip.extra[f"path_{stream}"], formats[stream]) for stream in others
                  if f"path_{stream}" in clip.extra]
    if progress:
        from tqdm import tqdm

        return list(tqdm(files, desc="audio files", unit="file", leave=False))
    return files


def format_report(report: CheckReport) -> str:
    """Human-readable summary: clips, per-tag counts, folds, durations, problems."""
    dataset = report.dataset
    lines = [f"layout: {dataset.layout}", f"root:   {dataset.root}"]
    subsets = collections.Counter(clip.subset for clip in dataset.clips)
    lines.append("clips:  " + ", ".join(f"{name} {count}" for name, count in sorted(subsets.items())))
    lines.append(f"classes ({len(dataset.classes)}):")
    for subset in sorted(subsets):
        counts = collections.Counter(t for c in dataset.clips if c.subset == subset for t in c.tags)
        untagged = sum(1 for c in dataset.clips if c.subset == subset and not c.tags)
        row = "  ".join(f"{tag}={counts.get(tag, 0)}" for tag in dataset.classes)
        lines.append(f"  {subset}: {row}  (no tag: {untagged})")
    folds = collections.Counter(c.fold for c in dataset.clips if c.fold is not None)
    if folds:
        lines.append("folds:  " + ", ".join(f"{k}: {folds[k]}" for k in sorted(folds)))
    if report.durations:
        d = np.asarray(report.durations)
        lines.append(f"duration (s): min {d.min():.2f}  mean {d.mean():.2f}  max {d.max():.2f}  "
                     f"({len(d)} audio files)")
        lines += _length_lines(d)
        lines.append("sample rates: " + ", ".join(f"{sr} Hz x{n}" for sr, n in sorted(report.sample_rates.items())))
        lines.append("channels:     " + ", ".join(f"{ch} x{n}" for ch, n in sorted(report.channels.items())))
    lines += _format_notes(report.notes)
    if report.problems:
        lines.append(f"problems ({len(report.problems)}):")
        lines += [f"  - {message}" for message in report.problems]
    else:
        lines.append("problems: none")
    return "\n".join(lines)


def _format_notes(notes: list[str]) -> list[str]:
    """The ``notes:`` block of the report (nothing when there are none)."""
    if not notes:
        return []
    return [f"notes ({len(notes)}):"] + [f"  - {note}" for note in notes]




def _length_lines(durations: np.ndarray) -> list[str]:
    """The length distribution (durations rounded to 0.1 s, the ten most common) and the
    4 s windows paper A cuts the files into."""
    lengths = collections.Counter(np.round(durations, 1).tolist())
    shown = sorted(lengths.most_common(10))
    more = f", {len(lengths) - len(shown)} more lengths" if len(lengths) > len(shown) else ""
    windows = sum(max(1, int(np.ceil(round(d / TAGGING_WINDOW_SECONDS, 6)))) for d in durations)
    return ["lengths (s): " + ", ".join(f"{length:.1f} x{n}" for length, n in shown) + more,
            f"{TAGGING_WINDOW_SECONDS:g} s windows: {windows} in {len(durations)} audio files "
            f"(paper A cuts each clip into windows, the last zero-padded; every length trains)"]
