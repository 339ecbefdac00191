"""The DCASE event list (kerastag.formats.event_list): the bytes the long demo and
``predict --events`` write, read back and rewritten unchanged; bad rows refused whole."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from kerastag.datasets.demo import make_chime_long_demo
from kerastag.errors import DatasetError
from kerastag.formats.event_list import COLUMNS, read_event_list, write_event_list
from kerastag.tasks.tagging import events as tagging_events

HEADER = "filename\tonset\toffset\tevent_label\n"


@pytest.fixture(scope="module")
def long_demo_events(tmp_path_factory):
    _, events = make_chime_long_demo(tmp_path_factory.mktemp("long"), recordings=2,
                                     minutes=0.2, seed=3)
    return events


def test_the_long_demo_list_reads_back_and_rewrites_to_the_same_bytes(long_demo_events,
                                                                       tmp_path):
    frame = read_event_list(long_demo_events)
    assert list(frame.columns) == list(COLUMNS) and len(frame) > 2
    assert frame["filename"].nunique() == 2
    assert (frame["onset"] < frame["offset"]).all()
    rewritten = write_event_list(tmp_path / "again.tsv", frame.itertuples(index=False))
    assert rewritten.read_bytes() == long_demo_events.read_bytes()
    # the format itself, spelled out: header, tab-separated, milliseconds, LF
    lines = [f"{name}\t{onset:.3f}\t{offset:.3f}\t{label}\n"
             for name, onset, offset, label in frame.itertuples(index=False)]
    assert long_demo_events.read_text(encoding="utf-8") == HEADER + "".join(lines)


def test_predict_events_writes_through_the_same_writer(tmp_path):
    assert tagging_events.write_event_list is write_event_list
    assert tagging_events.EVENT_COLUMNS == COLUMNS
    path = write_event_list(tmp_path / "e.tsv", [("a.wav", 1.23456, 2.5, "c"),
                                                 ("b.wav", 0, 1, "m")])
    assert path.read_text() == HEADER + "a.wav\t1.235\t2.500\tc\nb.wav\t0.000\t1.000\tm\n"


def test_an_empty_list_is_the_header_alone(tmp_path):
    path = write_event_list(tmp_path / "empty.tsv", [])
    assert path.read_text() == HEADER
    assert read_event_list(path).empty


def test_names_with_quotes_or_commas_are_quoted_and_read_back(tmp_path):
    rows = [('a"b.wav', 0.0, 1.0, "x y"), ('"q.wav', 0.0004, 1.0, "c"),
            ("a,b.wav", 1.2345, 2.0, "z")]
    path = write_event_list(tmp_path / "odd.tsv", rows)
    # the bytes pandas' to_csv wrote before the writer moved here
    assert path.read_text() == (HEADER + '"a""b.wav"\t0.000\t1.000\tx y\n'
                                '"""q.wav"\t0.000\t1.000\tc\na,b.wav\t1.234\t2.000\tz\n')
    back = read_event_list(path)
    assert list(back["filename"]) == ['a"b.wav', '"q.wav', "a,b.wav"]
    pd.testing.assert_series_equal(back["onset"], pd.Series([0.0, 0.0, 1.234], name="onset"))


@pytest.mark.parametrize("bad, message", [
    (("b.wav", 1.0, 2.0, " "), "event 2: empty event_label"),
    (("b\tc.wav", 1.0, 2.0, "c"), "event 2: filename 'b\\\\tc.wav' holds a tab or a line break"),
    (("b.wav", 1.0, 2.0, "c\n"), "event 2: event_label 'c\\\\n' holds a tab or a line break"),
    (("b.wav", math.nan, 2.0, "c"), "event 2: onset nan is not a finite non-negative number"),
    (("b.wav", -1.0, 2.0, "c"), "event 2: onset -1.0 is not a finite non-negative number"),
    (("b.wav", "soon", 2.0, "c"), "event 2: onset 'soon' is not a number"),
    (("b.wav", 1.0001, 1.0004, "c"), "event 2: onset 1.000 is not before offset 1.000"),
    (("b.wav", 1.0, 2.0), "event 2: expected \\(filename, onset, offset, event_label\\)"),
])
def test_bad_rows_are_one_line_errors_and_nothing_is_written(tmp_path, bad, message):
    path = tmp_path / "out" / "events.tsv"
    with pytest.raises(DatasetError, match=f"events.tsv: {message}") as caught:
        write_event_list(path, [("a.wav", 0.0, 1.0, "c"), bad])
    assert "\n" not in str(caught.value)
    assert not path.parent.exists() or not list(path.parent.iterdir())


def test_reader_errors_name_the_file_and_the_line(tmp_path):
    path = tmp_path / "ref.tsv"
    path.write_text(HEADER + "a.wav\t1.0\t2.0\tc\na.wav\t2\t1\tc\n")
    with pytest.raises(DatasetError, match=r"ref.tsv: line 3: onset 2 is not before offset 1$"):
        read_event_list(path)
