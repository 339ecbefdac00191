"""Per-tag thresholds files (kerastag.formats.thresholds): JSON round trip, the hand-written
``tag,threshold`` form, the summary table, one-line errors and where a model's file is."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kerastag.decisions import FrameDecision
from kerastag.errors import KerastagError, ThresholdError
from kerastag.formats import thresholds as th

TAGS = ["c", "m", "f", "v", "p", "b", "o"]
VALUES = [0.41, 0.3, 0.25, 0.6, 0.05, 0.5, 1.0]


def one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message
    return message


def write_json(path, **changes):
    document = {"format": "kerastag-thresholds", "version": 1, "criterion": "eer",
                "row": "mixup_a1.5", "classes": TAGS,
                "thresholds": dict(zip(TAGS, VALUES)), "source": "/runs/x"}
    document.update(changes)
    for key in [k for k, v in changes.items() if v is ...]:
        del document[key]
    path.write_text(json.dumps(document))
    return path


def test_json_round_trip_and_layout(tmp_path, assert_no_temp_files):
    path = th.write_thresholds(tmp_path / "thresholds" / "row.json", TAGS, VALUES,
                               criterion="f1", row="row", source=tmp_path)
    document = json.loads(path.read_text())
    assert document == {"format": "kerastag-thresholds", "version": 2, "row": "row",
                        "classes": TAGS, "source": str(tmp_path),
                        "clip": {"criterion": "f1", "thresholds": dict(zip(TAGS, VALUES))}}
    np.testing.assert_array_equal(th.read_thresholds(path, TAGS), VALUES)
    # another class order: the values follow the caller's order
    order = ["o", "c", "m", "f", "v", "p", "b"]
    np.testing.assert_array_equal(th.read_thresholds(path, order),
                                  [dict(zip(TAGS, VALUES))[t] for t in order])
    assert_no_temp_files(tmp_path)


def test_version_1_files_still_read(tmp_path):
    path = write_json(tmp_path / "v1.json")  # criterion and thresholds at the top level
    found = th.read_threshold_file(path, TAGS)
    np.testing.assert_array_equal(found.clip, VALUES)
    assert found.clip_criterion == "eer" and found.frame is None


DECISIONS = tuple(FrameDecision(high=0.2 + 0.1 * i, low=0.1 + 0.05 * i, median_seconds=0.5,
                                min_event_seconds=0.1 * i, min_gap_seconds=1.0)
                  for i in range(len(TAGS)))


def frame_thresholds():
    return th.FrameThresholds(decisions=DECISIONS, collar_seconds=0.2,
                              details={"model": "m.keras", "event_f1": {"c": 0.9}})


def test_frame_thresholds_round_trip_in_any_class_order(tmp_path):
    path = th.write_thresholds(tmp_path / "row.json", TAGS, None, criterion=None, row="r",
                               source=None, frame=frame_thresholds())
    document = json.loads(path.read_text())
    assert "clip" not in document and document["frame"]["criterion"] == "event_f1"
    assert document["frame"]["decisions"]["m"] == DECISIONS[1].as_dict()
    found = th.read_threshold_file(path, TAGS)
    assert found.clip is None and found.frame.decisions == DECISIONS
    assert found.frame.details == {"model": "m.keras", "event_f1": {"c": 0.9}}
    order = TAGS[::-1]
    assert th.read_threshold_file(path, order).frame.decisions == DECISIONS[::-1]


def test_one_kind_rewritten_keeps_the_other(tmp_path):
    path = tmp_path / "row.json"
    th.write_thresholds(path, TAGS, VALUES, criterion="eer", row="r", source=None)
    th.write_thresholds(path, TAGS, None, criterion=None, row="r", source=None,
                        frame=frame_thresholds())
    found = th.read_threshold_file(path, TAGS)
    np.testing.assert_array_equal(found.clip, VALUES)
    assert found.clip_criterion == "eer" and found.frame.decisions == DECISIONS
    th.write_thresholds(path, TAGS, [0.5] * 7, criterion="f1", row="r", source=None)
    found = th.read_threshold_file(path, TAGS)
    assert found.clip_criterion == "f1" and found.frame.decisions == DECISIONS


def test_frame_only_files_are_refused_for_clip_tags_but_not_found_silently(tmp_path):
    run = tmp_path / "run"
    model = run / "models" / "row" / "fold0.keras"
    path = th.write_thresholds(run / "thresholds" / "row.json", TAGS, None, criterion=None,
                               row="row", source=run, frame=frame_thresholds())
    with pytest.raises(ThresholdError) as exc_info:
        th.read_thresholds(path, TAGS)
    assert "frame thresholds only" in one_line(exc_info)
    assert th.thresholds_for_model(model, TAGS) == (None, None)  # predict falls back to 0.5


def test_events_prefer_frame_thresholds_then_clip_then_the_default(tmp_path):
    run = tmp_path / "run"
    model = run / "models" / "row" / "fold0.keras"
    default = [FrameDecision.single(0.5, median_seconds=0.25, min_event_seconds=0.1,
                                    min_gap_seconds=0.1)] * len(TAGS)
    chosen = th.decisions_for_model(model, TAGS, default=default)
    assert chosen.source == "default" and chosen.decisions == tuple(default)
    chosen = th.decisions_for_model(model, TAGS, "0.3", default=default)
    assert all(d.high == d.low == 0.3 and d.median_seconds == 0.25 for d in chosen.decisions)
    path = th.write_thresholds(run / "thresholds" / "row.json", TAGS, VALUES, criterion="eer",
                               row="row", source=run)
    chosen = th.decisions_for_model(model, TAGS, default=default)
    assert chosen.source == f"clip thresholds of {path}"
    assert [d.high for d in chosen.decisions] == VALUES == [d.low for d in chosen.decisions]
    th.write_thresholds(path, TAGS, None, criterion=None, row="row", source=run,
                        frame=frame_thresholds())
    chosen = th.decisions_for_model(model, TAGS, default=default)
    assert chosen.source == f"frame thresholds of {path}" and chosen.decisions == DECISIONS
    np.testing.assert_array_equal(chosen.clip, VALUES)


@pytest.mark.parametrize("decision, fragment", [
    ({"high": 0.5, "low": 0.6, "median_seconds": 0, "min_event_seconds": 0,
      "min_gap_seconds": 0}, "low threshold 0.6 is over the high one 0.5"),
    ({"high": 0.5, "low": 0.4}, "must have the keys high, low, median_seconds"),
    ({"high": "x", "low": 0.4, "median_seconds": 0, "min_event_seconds": 0,
      "min_gap_seconds": 0}, "high is 'x', expected a number"),
    ({"high": 0.5, "low": 0.4, "median_seconds": -1, "min_event_seconds": 0,
      "min_gap_seconds": 0}, "median_seconds"),
])
def test_bad_frame_decisions_are_one_line_errors(tmp_path, decision, fragment):
    decisions = {tag: DECISIONS[0].as_dict() for tag in TAGS} | {"v": decision}
    path = write_json(tmp_path / "t.json", version=2, criterion=..., thresholds=...,
                      frame={"criterion": "event_f1", "decisions": decisions})
    with pytest.raises(ThresholdError) as exc_info:
        th.read_threshold_file(path, TAGS)
    message = one_line(exc_info)
    assert message.startswith(f"{path}: frame decision of tag 'v'") and fragment in message


def test_version_2_without_either_kind_is_refused(tmp_path):
    path = write_json(tmp_path / "t.json", version=2, criterion=..., thresholds=...)
    with pytest.raises(ThresholdError, match="neither 'clip' nor 'frame'"):
        th.read_threshold_file(path, TAGS)


def test_a_list_of_thresholds_in_classes_order_is_read(tmp_path):
    path = write_json(tmp_path / "t.json", thresholds=VALUES)
    np.testing.assert_array_equal(th.read_thresholds(path, TAGS), VALUES)


@pytest.mark.parametrize("text", [
    "tag,threshold\nc,0.41\nm,0.3\nf,0.25\nv,0.6\np,0.05\nb,0.5\no,1\n",
    "c,0.41\nm, 0.3\n\n# a comment\nf,0.25\nv,0.6\np,0.05\nb,.5\no,1.0",
    "tag threshold\nc 0.41\nm\t0.3\nf 0.25\nv 0.6\np 0.05\nb 0.5\no 1\n",
])
def test_hand_written_text_form(tmp_path, text):
    path = tmp_path / "mine.csv"
    path.write_text(text)
    np.testing.assert_array_equal(th.read_thresholds(path, TAGS), VALUES)


@pytest.mark.parametrize("change, fragments", [
    ({"thresholds": ...}, ["missing key 'thresholds'"]),
    ({"classes": ...}, ["missing key 'classes'"]),
    ({"format": "other"}, ["format 'other'", "kerastag-thresholds"]),
    ({"version": 3}, ["version 3", "reads versions 1 and 2"]),
    ({"thresholds": VALUES[:5]}, ["5 values, expected 7"]),
    ({"thresholds": dict(zip(TAGS, VALUES)) | {"c": "high"}}, ["tag 'c' is 'high'", "[0, 1]"]),
    ({"thresholds": dict(zip(TAGS, VALUES)) | {"m": 1.5}}, ["tag 'm' is 1.5", "[0, 1]"]),
    ({"thresholds": dict(zip(TAGS, VALUES)) | {"m": -0.1}}, ["tag 'm' is -0.1"]),
    ({"thresholds": dict(zip(TAGS, VALUES)) | {"m": True}}, ["tag 'm' is True"]),
    ({"thresholds": dict(zip(TAGS, VALUES)) | {"m": None}}, ["tag 'm' is None"]),
    ({"classes": TAGS + ["x"], "thresholds": dict(zip(TAGS + ["x"], VALUES + [0.5]))},
     ["unknown tags x", "the model's tags are c, m, f, v, p, b, o"]),
    ({"classes": TAGS[:5], "thresholds": dict(zip(TAGS[:5], VALUES))},
     ["no threshold for tags b, o", "each of c, m, f, v, p, b, o"]),
    ({"classes": ["c"]}, ["'thresholds' names tags", "'classes' lists c"]),
])
def test_json_errors_are_one_line_and_name_the_file(tmp_path, change, fragments):
    path = write_json(tmp_path / "t.json", **change)
    with pytest.raises(ThresholdError) as exc_info:
        th.read_thresholds(path, TAGS)
    message = one_line(exc_info)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize("name, text, fragments", [
    ("t.json", '{"format": "kerastag-thresholds",\n "version": 1', ["not valid JSON", "line 2"]),
    ("t.json", "[1, 2]", ["expected a JSON object"]),
    ("t.txt", '{"a": NaN', ["not valid JSON"]),
    ("t.csv", "c,0.4\nm,0.3\nzz,0.2\n", ["unknown tags zz", "the model's tags are c, m"]),
    ("t.csv", "c,0.4\n", ["no threshold for tags m, f, v, p, b, o"]),
    ("t.csv", "tag,threshold\nc,0.4\nm,abc\n", [":3: threshold of tag 'm' is 'abc'"]),
    ("t.csv", "c,0.4\nm,2\n", [":2: threshold of tag 'm' is '2'", "[0, 1]"]),
    ("t.csv", "c,0.4\nm,nan\n", [":2: threshold of tag 'm' is 'nan'"]),
    ("t.csv", "c,0.4\nc,0.3\n", [":2: tag 'c' given twice"]),
    ("t.csv", "c,0.4,0.2\n", [":1: 3 cells, expected 2"]),
    ("thresholds.csv", "row,criterion,c,m\nr,eer,0.1,0.2\n",
     [":1: 4 cells", "pass the row's thresholds/<row>.json"]),
    ("t.csv", "# only a comment\n\n", ["no 'tag,threshold' lines"]),
])
def test_text_and_json_syntax_errors(tmp_path, name, text, fragments):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ThresholdError) as exc_info:
        th.read_thresholds(path, TAGS)
    message = one_line(exc_info)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message, message


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ThresholdError, match="thresholds file not found"):
        th.read_thresholds(tmp_path / "absent.json", TAGS)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ThresholdError, match="cannot read thresholds file"):
        th.read_thresholds(binary, TAGS)
    assert issubclass(ThresholdError, KerastagError)


@pytest.mark.parametrize("values, criterion, fragment", [
    (VALUES[:3], "eer", "3 thresholds for 7 tags"),
    ([float("nan")] * 7, "eer", "tag 'c' is nan"),
    ([1.2] * 7, "eer", "tag 'c' is 1.2"),
    (VALUES, "auc", "unknown criterion 'auc'"),
])
def test_writer_refuses_bad_values(tmp_path, values, criterion, fragment):
    with pytest.raises(ThresholdError, match=fragment.replace("(", r"\(")):
        th.write_thresholds(tmp_path / "t.json", TAGS, values, criterion=criterion, row=None,
                            source=None)
    assert not (tmp_path / "t.json").exists()


def test_summary_table_round_trip(tmp_path):
    rows = {"mixup_a1.5": VALUES, "samplepairing": [0.5] * 7}
    path = th.write_thresholds_table(tmp_path / "thresholds.csv", TAGS, rows, criterion="eer")
    assert path.read_text().splitlines()[0] == "row,criterion,c,m,f,v,p,b,o"
    classes, table = th.read_thresholds_table(path)
    assert classes == TAGS and list(table) == list(rows)
    assert table["mixup_a1.5"][0] == "eer"
    np.testing.assert_allclose(table["mixup_a1.5"][1], VALUES, atol=1e-6)


def test_thresholds_path_for_model(tmp_path):
    run = tmp_path / "run"
    model = run / "models" / "mixup_a1.5" / "fold0.keras"
    assert th.thresholds_path_for_model(model) is None  # not calibrated
    target = th.write_thresholds(run / "thresholds" / "mixup_a1.5.json", TAGS, VALUES,
                                 criterion="eer", row="mixup_a1.5", source=run)
    assert th.thresholds_path_for_model(model) == target
    assert th.thresholds_path_for_model(run / "models" / "mixup_a1.5" / "full.gmm.json") == target
    assert th.thresholds_path_for_model(run / "models" / "other" / "fold0.keras") is None
    assert th.thresholds_path_for_model(tmp_path / "loose.keras") is None
    assert th.thresholds_path_for_model("model.keras") is None


def test_thresholds_for_model_takes_a_number_a_file_or_the_calibration(tmp_path):
    run = tmp_path / "run"
    model = run / "models" / "mixup_a1.5" / "fold0.keras"
    assert th.thresholds_for_model(model, TAGS) == (None, None)
    values, source = th.thresholds_for_model(model, TAGS, "0.3")
    assert source == "--thresholds 0.3"
    np.testing.assert_array_equal(values, np.full(7, 0.3))
    with pytest.raises(ThresholdError, match="--thresholds"):
        th.thresholds_for_model(model, TAGS, "1.5")
    calibrated = th.write_thresholds(run / "thresholds" / "mixup_a1.5.json", TAGS, VALUES,
                                     criterion="eer", row="mixup_a1.5", source=run)
    values, source = th.thresholds_for_model(model, TAGS)
    assert source == str(calibrated)
    np.testing.assert_allclose(values, VALUES, rtol=1e-6)
    given = tmp_path / "mine.txt"
    given.write_text("".join(f"{tag},0.25\n" for tag in TAGS))
    values, source = th.thresholds_for_model(model, TAGS, given)  # a file wins
    assert source == str(given) and (values == 0.25).all()
