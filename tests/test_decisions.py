"""Frame scores to events (kerastag.decisions): hysteresis, the median filter on scores
deciding as the earlier median filter on 0/1 decisions did, gaps and short events."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.ndimage import median_filter

from kerastag.decisions import FrameDecision, frame_events, odd_frames, tag_events
from kerastag.errors import ThresholdError

HOP = 0.032


def events_of(scores, **decision):
    return tag_events(np.asarray(scores, np.float32), FrameDecision(**decision),
                      frame_hop_seconds=HOP, duration=len(scores) * HOP)


def test_hysteresis_starts_on_a_confident_frame_and_lasts_while_over_low():
    scores = [0.1, 0.3, 0.35, 0.8, 0.4, 0.3, 0.1, 0.35, 0.38, 0.1]
    plain = dict(median_seconds=0, min_event_seconds=0, min_gap_seconds=0)
    assert events_of(scores, high=0.5, low=0.5, **plain) == [(0.096, 0.128)]
    # the run 0.3 ... 0.3 around the 0.8 frame is one event; 0.35, 0.38 never reach 0.5
    assert events_of(scores, high=0.5, low=0.25, **plain) == [(0.032, 0.192)]


def test_gaps_shorter_than_min_gap_are_closed_and_short_events_dropped():
    scores = np.zeros(100)
    scores[10:20] = scores[25:35] = 0.9  # a 5-frame (0.16 s) gap
    scores[60:62] = 0.9                  # a 2-frame (0.064 s) event
    plain = dict(high=0.5, low=0.5, median_seconds=0)
    assert events_of(scores, min_gap_seconds=0.1, min_event_seconds=0, **plain) == [
        (0.32, 0.64), (0.8, 1.12), (1.92, 1.984)]
    assert events_of(scores, min_gap_seconds=0.2, min_event_seconds=0.1, **plain) == [
        (0.32, 1.12)]


@settings(max_examples=60, deadline=None)
@given(scores=st.lists(st.floats(0, 1, width=32), min_size=1, max_size=200),
       threshold=st.floats(0, 1), median=st.sampled_from([0.0, 0.1, 0.25, 0.5]))
def test_filtering_scores_decides_as_filtering_decisions_did(scores, threshold, median):
    """Before hysteresis, kerastag thresholded first and median-filtered the 0/1 decisions;
    filtering the scores first must give the same events (the median commutes with a
    threshold)."""
    scores = np.asarray(scores, np.float32)
    active = scores >= np.float32(threshold)
    width = odd_frames(median, HOP)
    if width > 1:
        active = median_filter(active.astype(np.uint8), size=width, mode="nearest") > 0
    edges = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
    expected = [(round(a * HOP, 3), round(min(b * HOP, len(scores) * HOP), 3))
                for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]
    assert events_of(scores, high=threshold, low=threshold, median_seconds=median,
                     min_event_seconds=0, min_gap_seconds=0) == expected


def test_events_of_every_tag_sorted_by_onset_then_label():
    frames = np.zeros((50, 2), np.float32)
    frames[5:10, 1] = frames[5:10, 0] = frames[30:40, 0] = 0.9
    decisions = [FrameDecision(median_seconds=0)] * 2
    assert frame_events(frames, decisions, ["b", "a"], frame_hop_seconds=HOP, duration=1.6) == [
        (0.16, 0.32, "a"), (0.16, 0.32, "b"), (0.96, 1.28, "b")]


@pytest.mark.parametrize("fields, fragment", [
    ({"high": 0.4, "low": 0.5}, "low threshold 0.5 is over the high one 0.4"),
    ({"high": 1.5, "low": 0.5}, "high: expected a finite number >= 0.0 and <= 1.0"),
    ({"median_seconds": -0.1}, "median_seconds: expected a finite number >= 0.0"),
])
def test_bad_decisions_are_refused(fields, fragment):
    with pytest.raises(ThresholdError, match=fragment):
        FrameDecision(**fields)
