"""Frame scores of recordings: one TSV per recording, the layout ``sed_scores_eval`` reads.

``kerastag predict --events OUT --scores DIR`` writes ``DIR/<stem>.tsv`` for every
recording (``<stem>``: the recording's name without its extension, a sub-folder joined
with ``__``; :func:`kerastag.formats.output_names.output_stems`). Layout
(tab-separated, UTF-8, LF line endings)::

    onset<TAB>offset<TAB><tag 1><TAB>...<TAB><tag K>
    0.000000<TAB>0.032000<TAB>0.0131<TAB>...

One line per frame: its start and end in seconds (6 decimals; a frame ends where the next
begins, the last one at the end of the recording), then each tag's probability in
``[0, 1]`` (9 significant digits: float32 values read back exactly). These are the
frame scores ``predict --events`` decides on, before any threshold or filter, so events
can be re-decided (``kerastag score-events`` with ``--thresholds``) and scored free of
any threshold (PSDS, :mod:`kerastag.sed_scores`). ``sed_scores_eval.io.read_sed_scores``
reads such a folder as it is (DCASE's own file name convention: the reference's
``filename`` without its extension).
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from kerastag.errors import DatasetError
from kerastag.fileio import write_text_atomic
from kerastag.formats.output_names import stem_candidates

#: The first two columns, in this order.
TIME_COLUMNS = ("onset", "offset")
SUFFIX = ".tsv"
TIME_DECIMALS = 6


@dataclasses.dataclass(frozen=True)
class FrameScores:
    """One recording's frame scores.

    Attributes:
        timestamps: float64 ``(frames + 1,)`` seconds: frame ``i`` spans
            ``[timestamps[i], timestamps[i + 1])``; the last value is the recording's end.
        scores: float32 ``(frames, tags)`` probabilities.
        classes: the tags, in column order.
    """

    timestamps: np.ndarray
    scores: np.ndarray
    classes: tuple[str, ...]

    @property
    def duration(self) -> float:
        """The recording's length in seconds (the last frame's end)."""
        return float(self.timestamps[-1])

    @property
    def frame_hop_seconds(self) -> float:
        """The time between frame starts (the first frame's length)."""
        return float(self.timestamps[1] - self.timestamps[0])


def frame_timestamps(frames: int, frame_hop_seconds: float, duration: float) -> np.ndarray:
    """``(frames + 1,)`` frame boundaries: ``i * hop`` seconds, the last one ``duration``.

    Raises:
        DatasetError: no frames, or a duration that ends before the last frame starts.
    """
    if frames < 1:
        raise DatasetError("frame scores: no frames to write")
    starts = np.round(np.arange(frames) * frame_hop_seconds, TIME_DECIMALS)
    end = round(float(duration), TIME_DECIMALS)
    if end <= starts[-1]:
        raise DatasetError(f"frame scores: the recording ends at {duration} s, before its "
                           f"last frame starts ({starts[-1]} s)")
    return np.concatenate([starts, [end]])


# ----------------------------------------------------------------------- writing


def write_frame_scores(path: str | os.PathLike, scores: np.ndarray, classes: Sequence[str], *,
                       frame_hop_seconds: float, duration: float) -> Path:
    """Write one recording's frame scores through a temporary name and a rename.

    Args:
        path: the ``.tsv`` file (its folder is created).
        scores: ``(frames, tags)`` probabilities, one row every ``frame_hop_seconds``.
        classes: the tag names, in column order.
        frame_hop_seconds: seconds between frame starts.
        duration: the recording's length in seconds (the last frame's end).

    Returns:
        ``path``.

    Raises:
        DatasetError: a tag name that would break the header, a shape that does not
            fit ``classes``, or a score outside ``[0, 1]``; nothing is written.
    """
    path = Path(path)
    scores = np.asarray(scores, dtype=np.float32)
    classes = [str(c) for c in classes]
    _check_classes(path, classes)
    if scores.ndim != 2 or scores.shape[1] != len(classes):
        raise DatasetError(f"{path}: frame scores of shape {scores.shape} for "
                           f"{len(classes)} tags")
    if not np.all((scores >= 0) & (scores <= 1)):
        raise DatasetError(f"{path}: frame scores must be probabilities in [0, 1]")
    timestamps = frame_timestamps(len(scores), frame_hop_seconds, duration)
    table = np.column_stack([timestamps[:-1], timestamps[1:], scores.astype(np.float64)])
    buffer = io.StringIO()
    buffer.write("\t".join([*TIME_COLUMNS, *classes]) + "\n")
    time_format = f"%.{TIME_DECIMALS}f"
    np.savetxt(buffer, table, delimiter="\t",
               fmt=[time_format, time_format] + ["%.9g"] * len(classes))
    return write_text_atomic(path, buffer.getvalue())


def _check_classes(path: Path, classes: list[str]) -> None:
    for tag in classes:
        if not tag or any(char in tag for char in "\t\n\r\\") or tag in TIME_COLUMNS:
            raise DatasetError(f"{path}: tag {tag!r} cannot be a frame-score column")
    if len(set(classes)) != len(classes):
        raise DatasetError(f"{path}: duplicate tags in {', '.join(classes)}")


# ----------------------------------------------------------------------- reading


def read_frame_scores(path: str | os.PathLike) -> FrameScores:
    """Read one recording's frame scores (as :func:`write_frame_scores` writes them, or
    any file ``sed_scores_eval`` reads).

    Raises:
        DatasetError: naming the file (and line): missing or unreadable, a header that
            is not ``onset offset <tag>...``, a line of the wrong length, a value that is
            not a number, a score outside ``[0, 1]``, or frames that do not follow each
            other (each frame starts where the one before ends).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: frame scores file not found")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise DatasetError(f"{path}: cannot read frame scores ({reason})") from None
    header = lines[0].split("\t") if lines else []
    if tuple(header[:2]) != TIME_COLUMNS or len(header) < 3:
        raise DatasetError(f"{path}: header {' '.join(header)!r} is not 'onset offset <tag>...' "
                           f"(tab-separated)")
    classes = header[2:]
    _check_classes(path, classes)
    body = [(number, line) for number, line in enumerate(lines[1:], start=2) if line.strip()]
    if not body:
        raise DatasetError(f"{path}: no frames after the header")
    table = np.empty((len(body), len(header)), dtype=np.float64)
    for row, (number, line) in enumerate(body):
        table[row] = _numbers(path, number, line, len(header))
    scores = table[:, 2:]
    if not np.all((scores >= 0) & (scores <= 1)):
        row = int(np.flatnonzero(~np.all((scores >= 0) & (scores <= 1), axis=1))[0])
        raise DatasetError(f"{path}: line {body[row][0]}: scores must be probabilities in [0, 1]")
    _check_contiguous(path, table, [number for number, _ in body])
    timestamps = np.concatenate([table[:, 0], table[-1:, 1]])
    return FrameScores(timestamps=timestamps, scores=scores.astype(np.float32),
                       classes=tuple(classes))


def _numbers(path: Path, number: int, line: str, width: int) -> list[float]:
    cells = line.split("\t")
    if len(cells) != width:
        raise DatasetError(f"{path}: line {number}: {len(cells)} tab-separated values, "
                           f"expected {width}")
    try:
        values = [float(cell) for cell in cells]
    except ValueError:
        raise DatasetError(f"{path}: line {number}: a value that is not a number") from None
    if not all(math.isfinite(value) for value in values):
        raise DatasetError(f"{path}: line {number}: a value that is not a finite number")
    return values


def _check_contiguous(path: Path, table: np.ndarray, numbers: list[int]) -> None:
    onsets, offsets = table[:, 0], table[:, 1]
    bad = np.flatnonzero(offsets <= onsets)
    if len(bad):
        raise DatasetError(f"{path}: line {numbers[bad[0]]}: offset not after onset")
    gaps = np.flatnonzero(onsets[1:] != offsets[:-1])
    if len(gaps):
        raise DatasetError(f"{path}: line {numbers[gaps[0] + 1]}: onset {onsets[gaps[0] + 1]} "
                           f"is not the previous frame's offset {offsets[gaps[0]]}")


def read_scores_folder(folder: str | os.PathLike, names: Sequence[str],
                       classes: Sequence[str] | None = None) -> dict[str, FrameScores]:
    """The frame scores of the recordings ``names`` (as an event list names them).

    A recording ``day1/rec.wav`` is ``<folder>/day1__rec.tsv`` (or ``day1__rec.wav.tsv``,
    :func:`~kerastag.formats.output_names.stem_candidates`).

    Args:
        folder: the scores folder (``predict --events ... --scores``).
        names: the recordings wanted.
        classes: the tags every file must have (in any order; returned in this order);
            default: the first file's.

    Raises:
        DatasetError: the folder missing, a recording without its file (naming it), or a
            file whose tags differ from the others'.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: scores folder not found")
    found = {}
    for name in names:
        paths = [folder / f"{stem}{SUFFIX}" for stem in stem_candidates(name)]
        path = next((p for p in paths if p.is_file()), None)
        if path is None:
            raise DatasetError(f"{folder}: no frame scores for recording {name!r} (expected "
                               f"{paths[0].name}; write them with predict --events ... "
                               f"--scores {folder})")
        scores = read_frame_scores(path)
        classes = list(classes) if classes is not None else list(scores.classes)
        found[name] = _in_order(path, scores, classes)
    return found


def _in_order(path: Path, scores: FrameScores, classes: list[str]) -> FrameScores:
    if sorted(scores.classes) != sorted(classes):
        raise DatasetError(f"{path}: tags {', '.join(scores.classes)}, expected "
                           f"{', '.join(classes)}")
    order = [scores.classes.index(tag) for tag in classes]
    return dataclasses.replace(scores, scores=scores.scores[:, order], classes=tuple(classes))
