"""``kerastag data check``: validate a dataset folder and summarise it."""

from __future__ import annotations

import collections
import dataclasses
from pathlib import Path

import numpy as np

from kerastag.audio import AudioFormat, check_audio_file
from kerastag.datasets import audio_format, read_dataset
from kerastag.datasets.base import Dataset, Problems
from kerastag.errors import AudioError


@dataclasses.dataclass
class CheckReport:
    """What ``data check`` found: the dataset, audio statistics and every problem."""

    dataset: Dataset | None
    problems: list[str]
    durations: list[float]
    sample_rates: collections.Counter
    channels: collections.Counter

    @property
    def ok(self) -> bool:
        return not self.problems


def check_dataset(path: str | Path, layout: str | None = None, *,
                  progress: bool = False) -> CheckReport:
    """Read a dataset collecting every problem, then check every audio file as training
    would read it (:func:`kerastag.audio.check_audio_file`: decodable, non-empty, finite,
    and of the layout's sample rate, channels and length).

    Raises:
        DatasetError: only when the folder itself is missing or of no known layout.
    """
    problems = Problems(strict=False)
    dataset = read_dataset(path, layout, problems=problems)
    if not dataset.clips:
        problems.add(dataset.root, "no clips: the dataset's lists name no audio file")
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
    return CheckReport(dataset, problems.messages, durations, rates, channels)


def _audio_files(dataset: Dataset, progress: bool) -> list[tuple[Path, AudioFormat | None]]:
    """Every audio file of the dataset with the format its layout requires."""
    main, high_rate = audio_format(dataset.layout), audio_format(dataset.layout, "48k")
    files = []
    for clip in dataset.clips:
        files.append((clip.path, main))
        if "path_48k" in clip.extra:
            files.append((clip.extra["path_48k"], high_rate))
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
    if report.problems:
        lines.append(f"problems ({len(report.problems)}):")
        lines += [f"  - {message}" for message in report.problems]
    else:
        lines.append("problems: none")
    return "\n".join(lines)


#: Paper A's window (kerastag.tasks.tagging.task.WINDOW_SECONDS): clips of any length are
#: cut into windows of this many seconds, the last zero-padded (kerastag.features.windows).
_TAGGING_WINDOW_SECONDS = 4.0


def _length_lines(durations: np.ndarray) -> list[str]:
    """The length distribution (durations rounded to 0.1 s, the ten most common) and the
    4 s windows paper A cuts the files into."""
    lengths = collections.Counter(np.round(durations, 1).tolist())
    shown = sorted(lengths.most_common(10))
    more = f", {len(lengths) - len(shown)} more lengths" if len(lengths) > len(shown) else ""
    windows = sum(max(1, int(np.ceil(round(d / _TAGGING_WINDOW_SECONDS, 6)))) for d in durations)
    return ["lengths (s): " + ", ".join(f"{length:.1f} x{n}" for length, n in shown) + more,
            f"{_TAGGING_WINDOW_SECONDS:g} s windows: {windows} in {len(durations)} audio files "
            f"(paper A cuts each clip into windows, the last zero-padded; every length trains)"]
