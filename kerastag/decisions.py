"""Frame scores to sound events: per-tag thresholds (with hysteresis), a median filter,
gaps closed and short events dropped.

One tag's decision (:class:`FrameDecision`), applied to its frame scores ``s`` (one value
every ``frame_hop_seconds``):

1. ``s`` is median-filtered over ``median_seconds`` (rounded to an odd frame count;
   edges repeat the first and last frame). Filtering the scores and then thresholding
   gives the same decisions as thresholding and then filtering the 0/1 decisions.
2. A run of frames with ``s >= low`` is active when at least one of its frames has
   ``s >= high`` (hysteresis: an event starts on a confident frame and lasts while the
   score stays over the lower threshold; ``low == high`` is a single threshold).
3. Active runs of one tag separated by fewer than ``min_gap_seconds`` are joined.
4. Runs shorter than ``min_event_seconds`` (and at least one frame) are dropped.

An event of frames ``[i, j)`` runs from ``i * hop`` to ``min(j * hop, duration)``
seconds, rounded to milliseconds. Written by hand: a few lines of run-length logic on
scipy's median filter (dcase_util's ``DecisionEncoder`` does the single-threshold part
but has no hysteresis and would bring its dependency tree into the default install).
TensorFlow-free; used by ``predict --events``, ``score-events`` on a scores folder and
``calibrate --events``.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from kerastag.checks import check_number
from kerastag.errors import ThresholdError

#: The post-processing settings of a :class:`FrameDecision`, in seconds.
DURATION_FIELDS = ("median_seconds", "min_event_seconds", "min_gap_seconds")


@dataclasses.dataclass(frozen=True)
class FrameDecision:
    """How one tag's frame scores become events.

    Attributes:
        high: a run is active when a frame reaches this score, in ``[0, 1]``.
        low: ... and lasts while frames stay at or over this one, ``<= high``.
        median_seconds: median filter length (seconds, ``>= 0``).
        min_event_seconds: shorter events are dropped.
        min_gap_seconds: shorter gaps between events of the tag are closed.
    """

    high: float = 0.5
    low: float = 0.5
    median_seconds: float = 0.25
    min_event_seconds: float = 0.1
    min_gap_seconds: float = 0.1

    def __post_init__(self):
        for name in ("high", "low"):
            check_number(name, getattr(self, name), minimum=0.0, maximum=1.0,
                         error=ThresholdError)
        if self.low > self.high:
            raise ThresholdError(f"low threshold {self.low} is over the high one {self.high}")
        for name in DURATION_FIELDS:
            check_number(name, getattr(self, name), minimum=0.0, error=ThresholdError)

    @classmethod
    def single(cls, threshold: float, **durations) -> "FrameDecision":
        """One threshold (no hysteresis) and the given post-processing durations."""
        return cls(high=float(threshold), low=float(threshold), **durations)

    def as_dict(self) -> dict[str, float]:
        return {field.name: float(getattr(self, field.name))
                for field in dataclasses.fields(self)}


def tag_events(scores: np.ndarray, decision: FrameDecision, *, frame_hop_seconds: float,
               duration: float) -> list[tuple[float, float]]:
    """Events ``(onset s, offset s)`` of one tag's frame scores ``(frames,)``, by onset."""
    scores = np.asarray(scores, dtype=np.float32)
    width = odd_frames(decision.median_seconds, frame_hop_seconds)
    if width > 1 and len(scores) > 1:
        from scipy.ndimage import median_filter

        scores = median_filter(scores, size=width, mode="nearest")
    runs = _runs(scores >= np.float32(decision.low))
    if decision.high > decision.low:
        runs = [(first, end) for first, end in runs
                if scores[first:end].max() >= np.float32(decision.high)]
    min_gap = int(round(decision.min_gap_seconds / frame_hop_seconds))
    min_event = max(int(round(decision.min_event_seconds / frame_hop_seconds)), 1)
    return [(round(first * frame_hop_seconds, 3), round(min(end * frame_hop_seconds, duration), 3))
            for first, end in _merged(runs, min_gap) if end - first >= min_event]


def frame_events(frames: np.ndarray, decisions: Sequence[FrameDecision], classes: Sequence[str],
                 *, frame_hop_seconds: float, duration: float) -> list[tuple[float, float, str]]:
    """Events ``(onset s, offset s, label)`` of frame scores, sorted by onset then label.

    Args:
        frames: ``(frames, classes)`` tag probabilities, one row every
            ``frame_hop_seconds``.
        decisions: one :class:`FrameDecision` per tag, in column order.
        classes: the tag names, in column order.
        duration: the recording's length in seconds (offsets are clipped to it).
    """
    frames = np.asarray(frames)
    events = [(onset, offset, label)
              for column, (label, decision) in enumerate(zip(classes, decisions))
              for onset, offset in tag_events(frames[:, column], decision,
                                              frame_hop_seconds=frame_hop_seconds,
                                              duration=duration)]
    return sorted(events, key=lambda event: (event[0], event[2]))


def odd_frames(seconds: float, frame_hop_seconds: float) -> int:
    """The median filter's width in frames: ``seconds`` rounded to an odd count >= 1."""
    frames = int(round(seconds / frame_hop_seconds))
    return frames + 1 if frames % 2 == 0 else frames


def _runs(active: np.ndarray) -> list[tuple[int, int]]:
    """``[first, end)`` frame runs of ``active``."""
    edges = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _merged(runs: list[tuple[int, int]], min_gap: int) -> list[tuple[int, int]]:
    """``runs`` with those separated by fewer than ``min_gap`` frames joined."""
    merged: list[tuple[int, int]] = []
    for first, end in runs:
        if merged and first - merged[-1][1] < min_gap:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((first, end))
    return merged
