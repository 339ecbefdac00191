"""Sound event detection scores (kerastag.sed_scores): sed_eval's event-based and
segment-based F1 / error rate, the DCASE event-list reader, one-line errors, the CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from kerastag.cli import main
from kerastag.errors import DatasetError, KerastagError
from kerastag.sed_scores import read_event_list, score_events, write_scores

HEADER = "filename\tonset\toffset\tevent_label\n"
REFERENCE = [
    ("a.wav", 1.0, 2.5, "c"),
    ("a.wav", 4.0, 6.0, "m"),
    ("a.wav", 8.2, 9.0, "p"),
    ("b.wav", 0.5, 3.0, "v"),
    ("b.wav", 5.0, 5.6, "o"),
]


def _write(path, rows, header=HEADER, sep="\t"):
    body = "".join(sep.join(str(cell) for cell in row) + "\n" for row in rows)
    path.write_text(header.replace("\t", sep) + body, encoding="utf-8")
    return path


def _frame(rows):
    return pd.DataFrame(rows, columns=["filename", "onset", "offset", "event_label"])


@pytest.fixture
def reference(tmp_path):
    return _write(tmp_path / "reference.tsv", REFERENCE)


def test_read_event_list(reference, tmp_path):
    frame = read_event_list(reference)
    assert list(frame.columns) == ["filename", "onset", "offset", "event_label"]
    assert frame["onset"].dtype == float and frame["offset"].dtype == float
    assert frame.values.tolist() == [list(row) for row in REFERENCE]
    as_csv = read_event_list(_write(tmp_path / "reference.csv", REFERENCE, sep=","))
    pd.testing.assert_frame_equal(as_csv, frame)
    headerless = read_event_list(_write(tmp_path / "old.txt", REFERENCE, header=""))
    pd.testing.assert_frame_equal(headerless, frame)
    extra = _write(tmp_path / "extra.tsv", [(r[3], r[0], r[1], r[2], 0.9) for r in REFERENCE],
                   header="event_label\tfilename\tonset\toffset\tprobability\n")
    pd.testing.assert_frame_equal(read_event_list(extra), frame)
    assert read_event_list(_write(tmp_path / "empty.tsv", [])).empty


def test_perfect_estimate(reference):
    scores = score_events(reference, reference)
    assert scores["event_f1"] == 1.0 and scores["event_error_rate"] == 0.0
    assert scores["event_onset_f1"] == 1.0
    assert scores["segment_f1"] == 1.0 and scores["segment_error_rate"] == 0.0
    assert scores["class_event_f1"] == {label: 1.0 for label in "cmopv"}
    assert scores["n_reference_events"] == scores["n_estimated_events"] == 5
    assert scores["n_files"] == 2


def test_empty_estimate(reference, tmp_path):
    empty = _write(tmp_path / "empty.tsv", [])
    scores = score_events(reference, empty)
    assert scores["event_f1"] == 0.0 and scores["event_error_rate"] == 1.0
    assert scores["event_onset_f1"] == 0.0
    assert scores["segment_f1"] == 0.0 and scores["segment_error_rate"] == 1.0
    assert scores["n_estimated_events"] == 0


def test_a_file_without_estimates_counts_as_missed(reference):
    only_a = _frame([row for row in REFERENCE if row[0] == "a.wav"])
    scores = score_events(reference, only_a)
    assert scores["event_f1"] == pytest.approx(2 * 3 / (5 + 3))
    assert scores["event_error_rate"] == pytest.approx(2 / 5)
    assert scores["class_event_f1"]["v"] == 0.0 and scores["class_event_f1"]["c"] == 1.0


def test_onset_beyond_the_collar_is_a_miss_and_an_insertion():
    reference = _frame([("a.wav", 1.0, 3.0, "c")])
    within = _frame([("a.wav", 1.15, 3.1, "c")])
    beyond = _frame([("a.wav", 1.5, 3.0, "c")])
    assert score_events(reference, within)["event_f1"] == 1.0
    scores = score_events(reference, beyond, t_collar=0.2)
    assert scores["event_f1"] == 0.0
    assert scores["event_error_rate"] == pytest.approx(2.0)  # a deletion + an insertion
    assert scores["event_onset_f1"] == 0.0
    assert score_events(reference, beyond, t_collar=0.6)["event_f1"] == 1.0
    # the segments still overlap: segment-based F1 stays high
    assert scores["segment_f1"] > 0.5


def test_offset_tolerance_and_onset_only():
    reference = _frame([("a.wav", 1.0, 3.0, "c")])
    late_offset = _frame([("a.wav", 1.0, 5.0, "c")])  # 2 s off; tolerance max(0.2, 50% of 2 s)
    scores = score_events(reference, late_offset)
    assert scores["event_f1"] == 0.0 and scores["event_onset_f1"] == 1.0
    assert score_events(reference, late_offset, percentage_of_length=1.0)["event_f1"] == 1.0


def test_wrong_label_is_a_substitution():
    reference = _frame([("a.wav", 1.0, 3.0, "c")])
    scores = score_events(reference, _frame([("a.wav", 1.0, 3.0, "m")]))
    assert scores["event_f1"] == 0.0
    assert scores["event_error_rate"] == pytest.approx(1.0)  # S = 1, not D + I = 2
    assert scores["class_event_f1"] == {"c": 0.0, "m": 0.0}


def test_labels_and_file_names_are_checked(reference):
    with pytest.raises(DatasetError, match="'m'.*not among"):
        score_events(reference, reference, labels=["c", "p", "v", "o"])
    scores = score_events(reference, reference, labels=list("cmfvpbo"))
    assert scores["class_event_f1"]["f"] is None  # no reference, no estimate
    with pytest.raises(DatasetError, match="no file of the estimated events"):
        score_events(reference, _frame([("audio/a.wav", 1.0, 2.5, "c")]))


@pytest.mark.parametrize("content, fragment", [
    ("filename\tonset\tevent_label\na.wav\t1.0\tc\n", "missing column(s) offset"),
    (HEADER + "a.wav\t2.0\t1.0\tc\n", "line 2: onset 2 is not before offset 1"),
    (HEADER + "a.wav\t1.0\t1.0\tc\n", "is not before"),
    (HEADER + "a.wav\tsoon\t1.0\tc\n", "line 2: onset 'soon' is not a number"),
    (HEADER + "a.wav\t1.0\tinf\tc\n", "not a finite number"),
    (HEADER + "a.wav\t-1.0\t1.0\tc\n", "negative"),
    (HEADER + "a.wav\t1.0\t2.0\t\n", "empty event_label"),
    (HEADER + "a.wav\t1.0\n", "line 2: expected 4"),
    ("", "empty file"),
])
def test_malformed_event_lists_are_one_line_errors(tmp_path, content, fragment):
    path = tmp_path / "events.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        read_event_list(path)
    message = str(info.value)
    assert str(path) in message and fragment in message and "\n" not in message


def test_missing_file_and_bad_parameters(tmp_path, reference):
    with pytest.raises(DatasetError, match="nowhere.tsv: event list not found"):
        read_event_list(tmp_path / "nowhere.tsv")
    with pytest.raises(KerastagError, match="time_resolution"):
        score_events(reference, reference, time_resolution=0)
    with pytest.raises(KerastagError, match="t_collar"):
        score_events(reference, reference, t_collar=-0.1)
    with pytest.raises(DatasetError, match="estimated events: missing column"):
        score_events(reference, pd.DataFrame({"filename": ["a.wav"]}))


def test_write_scores_is_json_without_nan(tmp_path, reference):
    scores = score_events(reference, reference, labels=list("cmfvpbo"))
    path = write_scores(tmp_path / "out" / "scores.json", scores)
    loaded = json.loads(path.read_text())
    assert loaded["event_f1"] == 1.0 and loaded["class_event_f1"]["f"] is None
    assert not list(path.parent.glob(".*"))


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli(reference, tmp_path):
    estimated = _write(tmp_path / "estimated.csv",
                       [("a.wav", 1.0, 2.5, "c"), ("a.wav", 4.6, 6.0, "m")], sep=",")
    out = tmp_path / "scores.json"
    result = _invoke("score-events", reference, estimated, "--collar", "0.2",
                     "--resolution", "0.5", "--out", out)
    assert result.exit_code == 0, result.output
    # c is found; m starts 0.6 s late (an insertion); m, p, v, o are deleted: ER (4 + 1) / 5
    assert "event-based (collar 0.2 s, offset 50% of length): F1 0.286  ER 1.000" in result.output
    assert "segment-based (0.5 s)" in result.output
    assert "5 reference events, 2 estimated, 2 files" in result.output
    assert json.loads(out.read_text())["time_resolution"] == 0.5


def test_cli_errors_are_one_line(tmp_path, reference):
    bad = tmp_path / "bad.tsv"
    bad.write_text(HEADER + "a.wav\t3\t1\tc\n", encoding="utf-8")
    for args in ([reference, bad], [reference, tmp_path / "missing.tsv"],
                 [reference, reference, "--resolution", "0"]):
        result = _invoke("score-events", *args)
        assert result.exit_code == 2, result.output
        errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and "Traceback" not in result.output, result.output


# --------------------------------------------------------------------------- frame scores

HOP = 0.032
TAGS = ["c", "m", "o"]


def frame_scores_folder(folder, seconds=60.0, seed=0):
    """Frame scores of two recordings (a.wav, day1/b.wav) written as predict --scores
    writes them, and their reference: each tag's events score 0.6-0.9, the rest 0-0.4."""
    import numpy as np

    from kerastag.formats.frame_scores import write_frame_scores

    rng = np.random.default_rng(seed)
    rows = []
    for name, stem in (("a.wav", "a"), ("day1/b.wav", "day1__b")):
        frames = int(seconds / HOP)
        scores = rng.uniform(0, 0.4, (frames, len(TAGS))).astype(np.float32)
        for column, tag in enumerate(TAGS):
            for start in np.arange(2.0 + column, seconds - 6, 9.0):
                first, end = int(start / HOP), int((start + 2.5) / HOP)
                scores[first:end, column] = rng.uniform(0.6, 0.9, end - first)
                rows.append((name, round(first * HOP, 3), round(end * HOP, 3), tag))
        write_frame_scores(folder / f"{stem}.tsv", scores, TAGS, frame_hop_seconds=HOP,
                           duration=seconds)
    return _frame(rows)


def test_psds_and_best_f1_are_sed_scores_evals_own_on_the_same_files(tmp_path):
    """The wiring (recording names, ground truth, durations, scenario parameters, the
    score rounding) gives what sed_scores_eval computes from the files itself."""
    import numpy as np
    from sed_scores_eval import collar_based, intersection_based
    from sed_scores_eval.base_modules.io import read_ground_truth_events, read_sed_scores

    from kerastag.formats.frame_scores import read_scores_folder
    from kerastag.sed_scores import PSDS_SCENARIOS, SCORE_DECIMALS, threshold_free_scores

    folder = tmp_path / "scores"
    reference = frame_scores_folder(folder)
    ours = threshold_free_scores(reference, read_scores_folder(folder, ["a.wav", "day1/b.wav"]),
                                 classes=TAGS)
    # the library on its own reading of the same files (its ids: file stems)
    truth_file = tmp_path / "truth.tsv"
    reference.assign(filename=reference["filename"].str.replace("/", "__")).to_csv(
        truth_file, sep="\t", index=False)
    truth = read_ground_truth_events(truth_file)
    library_scores = {}
    for audio_id, frame in read_sed_scores(folder).items():
        frame = frame.copy()
        frame[TAGS] = np.round(frame[TAGS].to_numpy(), SCORE_DECIMALS)
        library_scores[audio_id] = frame
    durations = {audio_id: float(frame["offset"].iloc[-1])
                 for audio_id, frame in library_scores.items()}
    for scenario, parameters in PSDS_SCENARIOS.items():
        expected, per_class, *_ = intersection_based.psds(
            scores={k: _writable(v) for k, v in library_scores.items()}, ground_truth=truth,
            audio_durations=durations, **parameters)
        assert ours[scenario] == pytest.approx(expected, abs=1e-12)
        assert ours[f"class_{scenario}"] == pytest.approx(per_class, abs=1e-12)
    f1, _, _, threshold, _ = collar_based.best_fscore(
        scores={k: _writable(v) for k, v in library_scores.items()}, ground_truth=truth,
        onset_collar=0.2, offset_collar=0.2, offset_collar_rate=0.5)
    assert ours["best_f1_macro"] == pytest.approx(f1["macro_average"], abs=1e-12)
    assert ours["class_best_threshold"] == pytest.approx({t: threshold[t] for t in TAGS})
    assert ours["best_f1_macro"] == 1.0 and 0.5 < ours["psds2"] <= 1.0


def _writable(frame):
    """sed_scores_eval 0.0.4 needs writable arrays under pandas 3 (see sed_scores.py)."""
    from kerastag.sed_scores import _WritableScores

    return _WritableScores(frame)


def test_score_events_on_a_scores_folder_decides_and_adds_threshold_free_scores(tmp_path):
    folder = tmp_path / "scores"
    reference = _write(tmp_path / "ref.tsv", frame_scores_folder(folder).itertuples(index=False))
    out = tmp_path / "scores.json"
    result = CliRunner().invoke(main, ["score-events", str(reference), str(folder),
                                       "--thresholds", "0.5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "decisions: --thresholds 0.5" in result.output and "PSDS1" in result.output
    scores = json.loads(out.read_text())
    assert scores["n_files"] == 2 and scores["labels"] == TAGS
    assert scores["event_f1"] == 1.0  # 0.5 parts the events' scores from the rest
    assert set(scores["class_psds1"]) == set(TAGS) and scores["psds1"] is not None
    # the same scores as an event list decided elsewhere give the same sed_eval figures
    from kerastag.decisions import FrameDecision, frame_events
    from kerastag.formats.frame_scores import read_scores_folder

    frames = read_scores_folder(folder, ["a.wav", "day1/b.wav"])
    rows = [(name, *event) for name, f in frames.items() for event in frame_events(
        f.scores, [FrameDecision()] * 3, TAGS, frame_hop_seconds=f.frame_hop_seconds,
        duration=f.duration)]
    assert score_events(reference, _frame(rows))["event_f1"] == scores["event_f1"]


@pytest.mark.parametrize("change, fragment", [
    (("a.wav", 1.0, 2.0, "zz"), "event label(s) 'zz' are not the model's tags (c, m, o)"),
    (("a.wav", 3.0, 4.0, "c"), "two 'c' events overlap or touch (1.984-4.48 s and 3-4 s)"),
    (("a.wav", 58.0, 61.0, "m"), "a 'm' event ends at 61 s, past the end of the recording (60.000 s)"),
])
def test_bad_references_are_one_line_errors(tmp_path, change, fragment):
    folder = tmp_path / "scores"
    reference = frame_scores_folder(folder)
    path = _write(tmp_path / "ref.tsv", [*reference.itertuples(index=False), change])
    result = CliRunner().invoke(main, ["score-events", str(path), str(folder)])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and str(path) in errors[0] and fragment in errors[0], result.output


def test_a_scores_folder_missing_a_recording_is_named(tmp_path):
    folder = tmp_path / "scores"
    reference = frame_scores_folder(folder)
    (folder / "day1__b.tsv").unlink()
    path = _write(tmp_path / "ref.tsv", reference.itertuples(index=False))
    result = CliRunner().invoke(main, ["score-events", str(path), str(folder)])
    assert result.exit_code == 2
    assert "no frame scores for recording 'day1/b.wav' (expected day1__b.tsv" in result.output
    result = CliRunner().invoke(main, ["score-events", str(path), str(path), "--thresholds", "0.3"])
    assert "--thresholds only applies when ESTIMATED is a scores folder" in result.output
