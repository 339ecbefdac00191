"""Frame decisions tuned on strong labels (kerastag.tasks.tagging.event_calibration): on
synthetic frame scores with known events the search recovers them where the defaults
do not; the CLI's one-line errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from kerastag.cli import main
from kerastag.tasks.tagging import event_calibration as ec

HOP = 0.032


def synthetic(seed: int, seconds: float = 120.0):
    """Frame scores of one tag with known events, as a clip-trained CRNN gives them:
    inside an event 0.3-0.7 with two dips to 0.1, outside 0.02-0.2 with one-frame spikes
    to 0.6. Returns ``(scores (frames,), reference events [(onset, offset)])``."""
    rng = np.random.default_rng(seed)
    frames = int(seconds / HOP)
    scores = rng.uniform(0.02, 0.2, frames).astype(np.float32)
    spikes = rng.choice(frames, size=frames // 100, replace=False)
    scores[spikes] = 0.6
    events, start = [], 2.0
    while start < seconds - 8:
        length = rng.uniform(1.5, 4.0)
        first, end = int(round(start / HOP)), int(round((start + length) / HOP))
        scores[first:end] = rng.uniform(0.3, 0.7, end - first)
        for dip in rng.choice(np.arange(first + 5, end - 5), size=2, replace=False):
            scores[dip:dip + 4] = 0.1
        events.append((round(first * HOP, 3), round(end * HOP, 3)))
        start += length + rng.uniform(3, 8)
    return scores, events


def recordings_and_reference(seeds, tag="knock"):
    recordings, rows = [], []
    for seed in seeds:
        scores, events = synthetic(seed)
        key = f"rec{seed}.wav"
        recordings.append(ec.Recording(key=key, scores=scores, frame_hop_seconds=HOP,
                                       duration=len(scores) * HOP))
        rows += [(key, onset, offset, tag) for onset, offset in events]
    return recordings, pd.DataFrame(rows, columns=["filename", "onset", "offset", "event_label"])


def test_the_search_recovers_known_events_the_defaults_miss():
    recordings, reference = recordings_and_reference([0, 1])
    result = ec.tune_tag("knock", recordings, reference)
    assert result.reference_events == len(reference) > 20
    assert result.f1_default < 0.5
    assert result.f1 >= 0.95
    decision = result.decision
    # one-frame spikes to 0.6 are no events: over the threshold, or filtered, or too short
    assert decision.high > 0.6 or decision.median_seconds > HOP or \
        decision.min_event_seconds > HOP
    # the decision holds on recordings it was not tuned on
    held_out, held_reference = recordings_and_reference([2, 3])
    from kerastag.decisions import tag_events
    from kerastag.sed_scores import event_f1

    rows = [(r.key, onset, offset, "knock") for r in held_out
            for onset, offset in tag_events(r.scores, decision, frame_hop_seconds=HOP,
                                            duration=r.duration)]
    estimated = pd.DataFrame(rows, columns=list(held_reference.columns))
    f1 = event_f1(held_reference, estimated, files=[r.key for r in held_out], label="knock")
    assert f1 >= 0.9


def test_a_tag_without_reference_events_keeps_the_defaults():
    recordings, reference = recordings_and_reference([0])
    result = ec.tune_tag("knock", recordings, reference.iloc[:0])
    assert result.reference_events == 0 and result.scorings == 1
    assert result.decision == ec.decision_of(ec.START)
    assert result.f1 == result.f1_default == 0.0  # its spikes are false alarms


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error(result) -> str:
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    return errors[0]


@pytest.mark.parametrize("args, fragment", [
    (["--events", "ref.tsv"], "--events needs --audio DIR"),
    (["--audio", "."], "--audio only apply with --events"),
    (["--row", "x"], "--row only apply with --events"),
    (["--events", "ref.tsv", "--audio", ".", "--criterion", "f1"], "--criterion is for clip"),
])
def test_calibrate_options_are_one_line_errors(tmp_path, args, fragment):
    assert fragment in one_error(invoke("calibrate", tmp_path, *args))
