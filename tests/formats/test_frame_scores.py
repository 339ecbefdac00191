"""Frame-score files (kerastag.formats.frame_scores): exact round trip, the layout
sed_scores_eval reads, finding a recording's file, one-line errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

from kerastag.errors import DatasetError
from kerastag.formats import frame_scores as fs

TAGS = ["c", "m", "o"]


def random_scores(frames=50, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random((frames, len(TAGS)), dtype=np.float32)


def test_round_trip_is_exact_and_the_layout_is_sed_scores_evals(tmp_path, assert_no_temp_files):
    scores = random_scores()
    path = fs.write_frame_scores(tmp_path / "rec.tsv", scores, TAGS, frame_hop_seconds=0.032,
                                 duration=1.59)
    lines = path.read_text().splitlines()
    assert lines[0] == "onset\toffset\tc\tm\to" and len(lines) == 51
    assert lines[1].startswith("0.000000\t0.032000\t") and lines[-1].startswith("1.568000\t1.590000\t")
    read = fs.read_frame_scores(path)
    np.testing.assert_array_equal(read.scores, scores)  # float32 exactly
    assert read.classes == tuple(TAGS) and read.duration == 1.59
    assert read.frame_hop_seconds == pytest.approx(0.032)
    from sed_scores_eval.base_modules.io import read_sed_scores
    from sed_scores_eval.base_modules.scores import validate_score_dataframe

    timestamps, classes = validate_score_dataframe(read_sed_scores(path))
    assert classes == TAGS
    np.testing.assert_allclose(timestamps, read.timestamps)
    assert_no_temp_files(tmp_path)


def test_a_folder_finds_recordings_by_their_names_in_any_tag_order(tmp_path):
    scores = random_scores()
    fs.write_frame_scores(tmp_path / "day1__rec.tsv", scores, TAGS, frame_hop_seconds=0.032,
                          duration=1.6)
    fs.write_frame_scores(tmp_path / "a.wav.tsv", scores[:, ::-1], TAGS[::-1],
                          frame_hop_seconds=0.032, duration=1.6)
    found = fs.read_scores_folder(tmp_path, ["day1/rec.wav", "a.wav"])
    np.testing.assert_array_equal(found["day1/rec.wav"].scores, scores)
    np.testing.assert_array_equal(found["a.wav"].scores, scores)  # reordered to c, m, o
    assert found["a.wav"].classes == tuple(TAGS)


def test_a_recording_without_its_file_is_named(tmp_path):
    fs.write_frame_scores(tmp_path / "a.tsv", random_scores(), TAGS, frame_hop_seconds=0.032,
                          duration=1.6)
    with pytest.raises(DatasetError) as exc_info:
        fs.read_scores_folder(tmp_path, ["a.wav", "b.wav"])
    message = str(exc_info.value)
    assert "\n" not in message and "no frame scores for recording 'b.wav'" in message
    assert "expected b.tsv" in message
    with pytest.raises(DatasetError, match="scores folder not found"):
        fs.read_scores_folder(tmp_path / "absent", ["a.wav"])


@pytest.mark.parametrize("text, fragment", [
    ("", "is not 'onset offset <tag>...'"),
    ("start\tend\tc\n0\t1\t0.5\n", "is not 'onset offset <tag>...'"),
    ("onset\toffset\tc\n", "no frames after the header"),
    ("onset\toffset\tc\n0\t0.1\t0.5\t0.2\n", "line 2: 4 tab-separated values, expected 3"),
    ("onset\toffset\tc\n0\t0.1\tx\n", "line 2: a value that is not a number"),
    ("onset\toffset\tc\n0\t0.1\tnan\n", "line 2: a value that is not a finite number"),
    ("onset\toffset\tc\n0\t0.1\t1.5\n", "line 2: scores must be probabilities in [0, 1]"),
    ("onset\toffset\tc\n0\t0.1\t0.5\n0.2\t0.3\t0.5\n", "line 3: onset 0.2 is not the previous"),
    ("onset\toffset\tc\n0.1\t0.1\t0.5\n", "line 2: offset not after onset"),
    ("onset\toffset\tc\tc\n0\t0.1\t0.5\t0.5\n", "duplicate tags"),
])
def test_bad_files_are_one_line_errors_naming_the_file(tmp_path, text, fragment):
    path = tmp_path / "bad.tsv"
    path.write_text(text)
    with pytest.raises(DatasetError) as exc_info:
        fs.read_frame_scores(path)
    message = str(exc_info.value)
    assert "\n" not in message and message.startswith(str(path)) and fragment in message


@pytest.mark.parametrize("scores, classes, fragment", [
    (random_scores(), ["c", "m"], "shape (50, 3) for 2 tags"),
    (random_scores() * 2, TAGS, "probabilities in [0, 1]"),
    (random_scores(), ["c", "m", "a\tb"], "cannot be a frame-score column"),
    (random_scores(), ["c", "m", "onset"], "cannot be a frame-score column"),
])
def test_the_writer_refuses_what_would_not_read_back(tmp_path, scores, classes, fragment):
    with pytest.raises(DatasetError, match=re.escape(fragment)):
        fs.write_frame_scores(tmp_path / "x.tsv", scores, classes, frame_hop_seconds=0.032,
                              duration=1.6)
    assert not (tmp_path / "x.tsv").exists()
