"""Sound event detection with paper A's CRNN on recordings of any length, streamed.

``kerastag predict MODEL PATH... --events OUT.csv``:

1. **Reading.** :func:`kerastag.audio.iter_audio_blocks` reads the file in blocks
   (``block_seconds``, 30 s by default) and resamples them as they come; the audio in
   memory is one block plus the window being cut, whatever the file's length.
2. **Windows.** 4 s windows (the training chunk) start every ``hop`` seconds, rounded to
   a whole number of feature frames (32 ms at 16 kHz / hop 512) so that frames of
   overlapping windows line up. The windows cover the whole recording; the last ones
   are zero-padded past its end. Windows are scored in batches of ``batch_windows``.
3. **Stitching.** A frame's score is the mean of the CRNN's localization output (the
   frame-level tag probabilities) over the windows that contain it. Frames are final
   once no later window can reach them and are kept as float32 ``(frames, classes)``:
   28 bytes per 32 ms for 7 tags, 3 MB per hour of audio — the one thing that grows with
   the file, 1/500 of the audio itself. The clip scores are the maximum of the windows'
   clip outputs.
4. **Decisions** (:mod:`kerastag.decisions`): per tag, frames at or over its threshold
   (0.5, clip thresholds: ``kerastag calibrate``, or frame thresholds tuned on strong
   labels: ``kerastag calibrate --events``, which also set each tag's hysteresis low
   threshold, median filter and minimum event and gap lengths), a median filter over
   ``median_seconds``, gaps shorter than ``min_gap_seconds`` closed, events shorter
   than ``min_event_seconds`` dropped. Options given on the command line
   (``--median``, ``--min-event``, ``--min-gap``) win over calibrated ones.
5. **Output**: the DCASE event list (:mod:`kerastag.formats.event_list`): tab-separated
   ``filename, onset, offset, event_label`` in seconds, a header line, what ``sed_eval``
   and ``kerastag score-events`` read. With ``--scores DIR``, each recording's frame
   scores too, written as soon as it is streamed (:mod:`kerastag.formats.frame_scores`,
   the TSV ``sed_scores_eval`` reads), so that events can be re-decided and scored
   without a threshold.

A frame ``i`` spans ``[i * hop, i * hop + n_fft)`` samples; an event of frames
``[i, j)`` runs from ``i * hop / sr`` to ``min(j * hop / sr, duration)`` seconds.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from kerastag.audio import iter_audio_blocks
from kerastag.checks import check_number
from kerastag.decisions import DURATION_FIELDS, FrameDecision
from kerastag.decisions import frame_events as decide
from kerastag.errors import ConfigError
from kerastag.formats.event_list import COLUMNS, write_event_list

#: Header of the event list (DCASE format; written by :mod:`kerastag.formats.event_list`).
EVENT_COLUMNS = COLUMNS


@dataclasses.dataclass(frozen=True)
class EventSettings:
    """How recordings are windowed and frame scores turned into events (seconds).

    ``explicit`` names the post-processing durations (:data:`DURATION_FIELDS`) the user
    set; they win over a calibration's per-tag values.
    """

    hop_seconds: float = 1.0
    block_seconds: float = 30.0
    median_seconds: float = 0.25
    min_event_seconds: float = 0.1
    min_gap_seconds: float = 0.1
    batch_windows: int = 8
    explicit: frozenset = frozenset()

    def durations(self) -> dict[str, float]:
        """The post-processing durations, by :class:`FrameDecision` field name."""
        return {name: getattr(self, name) for name in DURATION_FIELDS}

    def applied_to(self, decision: FrameDecision) -> FrameDecision:
        """``decision`` with the durations the user set explicitly."""
        return dataclasses.replace(decision, **{name: getattr(self, name)
                                               for name in self.explicit})

    def __post_init__(self):
        for name in ("hop_seconds", "block_seconds"):
            check_number(f"--{name.split('_')[0]}", getattr(self, name), above=0.0,
                         error=ConfigError)
        for name in ("median_seconds", "min_event_seconds", "min_gap_seconds"):
            check_number(f"--{name.replace('_seconds', '').replace('_', '-')}",
                         getattr(self, name), minimum=0.0, error=ConfigError)


@dataclasses.dataclass
class StreamedScores:
    """What streaming one recording gives.

    Attributes:
        path: the recording.
        duration: its length in seconds (at the model's rate).
        frame_hop_seconds: time between frames.
        frames: float32 ``(frames, classes)`` frame-level tag probabilities.
        clip: float32 ``(classes,)``, the maximum of the windows' clip scores.
        windows: windows scored.
    """

    path: Path
    duration: float
    frame_hop_seconds: float
    frames: np.ndarray
    clip: np.ndarray
    windows: int


def window_hop_frames(hop_seconds: float, frame_hop: int, sample_rate: int,
                      window_frames: int) -> int:
    """The window hop in whole frames: ``hop_seconds`` rounded, at most the window's
    frame count (a 4 s window holds 124 frames of 32 ms, 3.968 s: a hop of 4 s is cut to
    that, so that every frame is in some window).

    Raises:
        ConfigError: a hop under one frame or over the window.
    """
    frames = int(round(hop_seconds * sample_rate / frame_hop))
    window_seconds = (window_frames + 1) * frame_hop / sample_rate
    if frames < 1 or hop_seconds > window_seconds:
        raise ConfigError(f"--hop: expected between {frame_hop / sample_rate:.3f} s (one "
                          f"frame) and the {window_seconds:g} s window, got {hop_seconds} s")
    return min(frames, window_frames)


def stream_frame_scores(frame_model, spec, path: Path, *, window_seconds: float,
                        settings: EventSettings) -> StreamedScores:
    """Frame-level scores of one recording of any length; see the module docstring.

    Args:
        frame_model: the CRNN's frame-level model (outputs ``clip``, ``localization``).
        spec: its :class:`~kerastag.features.specs.LogMelA`.
        path: the recording (any rate and channel count).
        window_seconds: the model's window (the training chunk, 4 s).
        settings: hop, block size, batch size.
    """
    window = int(round(window_seconds * spec.sample_rate))
    window_frames = spec.n_frames(window)
    hop = spec.hop_length * window_hop_frames(settings.hop_seconds, spec.hop_length,
                                              spec.sample_rate, window_frames)
    cutter = WindowCutter(window, hop)
    stitcher = FrameStitcher()
    clip, n_windows = None, 0
    blocks = iter_audio_blocks(path, sample_rate=spec.sample_rate,
                               block_seconds=settings.block_seconds)
    windows = cutter.windows(blocks)
    while batch := list(itertools.islice(windows, settings.batch_windows)):
        features = np.stack([spec.compute(samples) for _, samples in batch])
        outputs = frame_model.predict_on_batch(features)
        batch_clip = np.asarray(outputs["clip"], np.float32).max(axis=0)
        clip = batch_clip if clip is None else np.maximum(clip, batch_clip)
        for (start, _), frames in zip(batch, np.asarray(outputs["localization"], np.float32)):
            stitcher.add(start // spec.hop_length, frames)
        n_windows += len(batch)
    n_frames = max(1, math.ceil(cutter.total / spec.hop_length))
    return StreamedScores(path=Path(path), duration=cutter.total / spec.sample_rate,
                          frame_hop_seconds=spec.hop_length / spec.sample_rate,
                          frames=stitcher.finish()[:n_frames], clip=clip, windows=n_windows)


class WindowCutter:
    """Windows of ``window`` samples every ``hop`` samples over a stream of blocks.

    Only the samples from the next window's start on are kept between blocks. After
    the stream, the last windows are zero-padded so that the windows cover every sample
    (at least one window); :attr:`total` is then the stream's length in samples.
    """

    def __init__(self, window: int, hop: int):
        self.window, self.hop = int(window), int(hop)
        self.total = 0

    def windows(self, blocks: Iterable[np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start sample, float32 (window,))`` in order of start."""
        buffer, buffer_start, start, covered = np.zeros(0, np.float32), 0, 0, 0
        for block in blocks:
            buffer = np.concatenate([buffer[max(0, start - buffer_start):], block])
            buffer_start = max(buffer_start, start)
            while start + self.window <= buffer_start + len(buffer):
                offset = start - buffer_start
                yield start, buffer[offset:offset + self.window]
                covered, start = start + self.window, start + self.hop
        self.total = buffer_start + len(buffer)
        while covered < self.total or covered == 0:
            piece = np.zeros(self.window, np.float32)
            tail = buffer[max(0, start - buffer_start):][:self.window]
            piece[:len(tail)] = tail
            yield start, piece
            covered, start = start + self.window, start + self.hop


class FrameStitcher:
    """The mean of overlapping windows' frame scores.

    Windows arrive in order of their first frame; the frames before a new window's first
    frame can get no more contributions, so they are averaged and set aside as float32,
    and only the open span (one window) is kept in float64 sums.
    """

    def __init__(self):
        self.done: list[np.ndarray] = []
        self.first = 0                      # frame index of sums[0]
        self.sums: np.ndarray | None = None  # (open frames, classes)
        self.counts = np.zeros(0, np.int64)

    def add(self, first_frame: int, frames: np.ndarray) -> None:
        """Add one window's ``frames (window frames, classes)`` from ``first_frame`` on."""
        if self.sums is None:
            self.sums = np.zeros((0, frames.shape[1]))
        self._close_before(first_frame)
        end = first_frame - self.first + len(frames)
        if end > len(self.sums):
            grow = end - len(self.sums)
            self.sums = np.concatenate([self.sums, np.zeros((grow, frames.shape[1]))])
            self.counts = np.concatenate([self.counts, np.zeros(grow, np.int64)])
        offset = first_frame - self.first
        self.sums[offset:offset + len(frames)] += frames
        self.counts[offset:offset + len(frames)] += 1

    def _close_before(self, frame: int) -> None:
        ready = min(frame - self.first, len(self.counts))
        if ready > 0:
            self.done.append((self.sums[:ready] / self.counts[:ready, None]).astype(np.float32))
            self.sums, self.counts = self.sums[ready:], self.counts[ready:]
        self.first = max(self.first, frame)

    def finish(self) -> np.ndarray:
        """Every frame's mean score, float32 ``(frames, classes)``."""
        self._close_before(self.first + len(self.counts))
        return np.concatenate(self.done)


def frame_events(frames: np.ndarray, thresholds: Sequence[float], classes: Sequence[str], *,
                 frame_hop_seconds: float, duration: float,
                 settings: EventSettings) -> list[tuple[float, float, str]]:
    """Events ``(onset s, offset s, label)`` of frame scores with one threshold per tag
    and ``settings``' post-processing for every tag (:func:`kerastag.decisions.frame_events`
    with :meth:`~kerastag.decisions.FrameDecision.single` decisions)."""
    return decide(frames, single_decisions(thresholds, settings), classes,
                  frame_hop_seconds=frame_hop_seconds, duration=duration)


def single_decisions(thresholds: Sequence[float], settings: EventSettings) -> list[FrameDecision]:
    """One :class:`FrameDecision` per tag: its threshold, ``settings``' durations."""
    return [FrameDecision.single(float(t), **settings.durations()) for t in thresholds]


def detect_events(model_path: Path, files: Sequence[Path], *, out_path: Path,
                  thresholds_path: Path | None = None, settings: EventSettings = EventSettings(),
                  plot_dir: Path | None = None, scores_dir: Path | None = None, log=print,
                  names: Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``predict --events``: stream every file, write the event list (and plots, and with
    ``scores_dir`` each file's frame scores as ``<stem>.tsv``, written once it is streamed).

    ``names`` name the files in the event list and the plots (``day1/rec.wav``; see
    :mod:`kerastag.predict`); default: their file names.

    Decisions (:func:`kerastag.formats.thresholds.decisions_for_model`):
    ``thresholds_path`` (a thresholds file, or one number for every tag), else the model's
    run's calibration (``kerastag calibrate``, ``--events``), else 0.5; a file's frame
    thresholds are preferred to its clip thresholds.

    Returns:
        ``(clip scores frame, events frame)``: the first as ``kerastag predict``'s
        (``file``, one column per tag, ``tags`` over the clip thresholds), the clip score
        being the maximum over the streamed windows.

    Raises:
        ModelError: not a tagger with frame outputs.
        ThresholdError: a thresholds file that does not fit the model's tags.
    """
    from kerastag.formats.thresholds import decisions_for_model
    from kerastag.formats.output_names import output_stems
    from kerastag.tasks.tagging.predict import load_event_tagger

    frame_model, info, spec = load_event_tagger(model_path)
    classes = list(info.classes)
    chosen = decisions_for_model(model_path, classes, thresholds_path,
                                 default=single_decisions([0.5] * len(classes), settings))
    decisions = [settings.applied_to(decision) for decision in chosen.decisions]
    clip_thresholds = np.array([d.high for d in decisions] if chosen.clip is None
                               else chosen.clip, np.float32)
    log(f"thresholds ({chosen.source}): " + " ".join(
        f"{c}={_decision_text(d)}" for c, d in zip(classes, decisions)))
    _check_writable(out_path, scores_dir)
    names = list(names) if names is not None else [Path(path).name for path in files]
    stems = output_stems(names)
    rows, records, streamed = [], [], []
    for path, name, stem in zip(files, names, stems):
        scores = stream_frame_scores(frame_model, spec, path,
                                     window_seconds=info.chunk_seconds,
                                     settings=settings)
        if scores_dir is not None:
            _write_frame_scores(Path(scores_dir) / f"{stem}.tsv", scores, classes)
        events = decide(scores.frames, decisions, classes,
                        frame_hop_seconds=scores.frame_hop_seconds, duration=scores.duration)
        rows += [(name, onset, offset, label) for onset, offset, label in events]
        records.append({"file": str(path), **dict(zip(classes, scores.clip.round(4))),
                        "tags": " ".join(c for c, s, t in zip(classes, scores.clip,
                                                              clip_thresholds) if s >= t)})
        log(f"{path}: {scores.duration:.1f} s, {scores.windows} windows, {len(events)} events")
        if plot_dir is not None:
            streamed.append((scores, events))
    write_event_list(out_path, rows)
    for (scores, events), name, stem in zip(streamed, names, stems):
        _plot_timeline(scores, events, classes, [d.high for d in decisions],
                       Path(plot_dir) / f"{stem}_events.png", name)
    return pd.DataFrame.from_records(records), pd.DataFrame(rows, columns=list(EVENT_COLUMNS))


def _decision_text(decision: FrameDecision) -> str:
    if decision.low == decision.high:
        return f"{decision.high:.3f}"
    return f"{decision.high:.3f}/{decision.low:.3f}"


def _write_frame_scores(path: Path, scores: StreamedScores, classes: list[str]) -> None:
    from kerastag.formats.frame_scores import write_frame_scores

    write_frame_scores(path, np.clip(scores.frames, 0.0, 1.0), classes,
                       frame_hop_seconds=scores.frame_hop_seconds, duration=scores.duration)


def _check_writable(out_path: Path, scores_dir: Path | None = None) -> None:
    out_path = Path(out_path)
    if out_path.is_dir():
        raise ConfigError(f"{out_path}: --events expects a file name, got a folder")
    if scores_dir is not None and Path(scores_dir).exists() and not Path(scores_dir).is_dir():
        raise ConfigError(f"{scores_dir}: --scores expects a folder, got a file")


def _plot_timeline(scores: StreamedScores, events, classes, thresholds, out: Path,
                   title: str) -> Path:
    from kerastag.tasks.tagging.plots import plot_event_timeline

    return plot_event_timeline(scores.frames, events, classes, thresholds, out,
                               frame_hop_seconds=scores.frame_hop_seconds, title=title)
