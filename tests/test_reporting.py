"""Tests for kerastag.reporting: tables round-trip, paper comparison, PNG figures."""

from __future__ import annotations

import csv
import math

import numpy as np
import pandas as pd
import pytest

from kerastag import reporting
from kerastag.errors import KerastagError
from kerastag.paper import CHIME_HOME_TAGS
from kerastag.reporting import EerRow, MapRow

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _row(augmentation, alpha, per_tag, average, var_1e3, model="CRNN"):
    return EerRow(name=reporting.row_name(augmentation, alpha), model=model,
                  augmentation=augmentation, alpha=alpha, per_tag=tuple(per_tag),
                  average=average, var_1e3=var_1e3)


@pytest.fixture
def rows():
    return [
        _row("none", None, [.09, .12, .13, .04, .15, .05, .25], .1186, 5.9),
        _row("mixup", 1.5, [.11, .13, .12, .03, .11, .02, .21], .1043, 4.3),
        _row("samplepairing", None, [.1, .2, .15, .01, .16, .03, .24], .1271, 7.1),
        _row("mixup_lp", 1.5, [.12, .13, .12, .02, .12, float("nan"), .25], .1267, 6.6),
        _row("extrapolation", 0.7, [.1, .16, .13, .03, .14, .02, .23], .1157, 5.0),
    ]


@pytest.fixture(autouse=True)
def no_open_figures():
    yield
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []


def _no_temp_files(folder):
    assert [p.name for p in folder.iterdir() if ".tmp" in p.name] == []


def _assert_png(path):
    data = path.read_bytes()
    assert len(data) > 1000
    assert data[:8] == PNG_SIGNATURE


@pytest.mark.parametrize("augmentation, alpha, expected", [
    ("none", None, "none"),
    ("mixup", 1.5, "mixup_a1.5"),
    ("mixup", 0.0, "mixup_a0"),
    ("samplepairing", None, "samplepairing"),
    ("samplepairing", 1.0, "samplepairing"),
    ("mixup_lp", 1.5, "mixup_lp_a1.5"),
    ("extrapolation", 1.5, "extrapolation_a1.5"),
    ("mixup", 2.0, "mixup_a2"),
])
def test_row_name(augmentation, alpha, expected):
    assert reporting.row_name(augmentation, alpha) == expected


def test_eer_csv_columns_and_round_trip(tmp_path, rows):
    csv_path, md_path = reporting.write_eer_table(rows, tmp_path)
    assert csv_path == tmp_path / "table.csv" and md_path == tmp_path / "table.md"
    with csv_path.open(newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == ["model", "augmentation", "alpha", *CHIME_HOME_TAGS, "avg", "var_1e3"]
    assert lines[1][2] == "" and lines[2][2] == "1.5"
    assert lines[2][3] == "0.1100" and lines[4][8] == "nan"
    back = reporting.read_eer_table(csv_path)
    assert [r.name for r in back] == [r.name for r in rows]
    for ours, read in zip(rows, back):
        assert (read.model, read.augmentation, read.alpha) == (
            ours.model, ours.augmentation, ours.alpha)
        np.testing.assert_allclose(read.per_tag, ours.per_tag, atol=5e-5)
        assert read.average == pytest.approx(ours.average, abs=5e-5)
        assert read.var_1e3 == pytest.approx(ours.var_1e3, abs=5e-5)
    assert math.isnan(back[3].per_tag[5])
    _no_temp_files(tmp_path)


def test_markdown_has_paper_numbers_and_difference(tmp_path, rows):
    _, md_path = reporting.write_eer_table(rows, tmp_path)
    text = md_path.read_text(encoding="utf-8")
    mixup_line = next(line for line in text.splitlines() if line.startswith("| mixup_a1.5 "))
    cells = [cell.strip() for cell in mixup_line.strip("|").split("|")]
    # avg 0.1043 vs paper .10 -> +0.0043; var 4.3 vs paper 4.11 -> +0.1900
    assert cells[-6:] == ["0.1043", "0.10", "+0.0043", "4.3000", "4.11", "+0.1900"]
    paper_line = text.splitlines()[text.splitlines().index(mixup_line) + 1]
    assert paper_line.startswith("| ↳ paper")
    assert "| 0.10 | 0.14 | 0.11 | 0.03 | 0.10 | 0.01 | 0.20 |" in paper_line
    extrapolation_line = next(line for line in text.splitlines()
                              if line.startswith("| extrapolation_a0.7 "))
    assert extrapolation_line.count("—") == 4
    assert "| nan |" in text
    assert "Legend" in text


def test_read_eer_table_errors(tmp_path):
    with pytest.raises(KerastagError, match="not found"):
        reporting.read_eer_table(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("model,alpha,avg\nCRNN,1,0.1\n")
    with pytest.raises(KerastagError, match="header"):
        reporting.read_eer_table(bad)
    bad.write_text("model,augmentation,alpha,c,avg,var_1e3\nCRNN,mixup,1,x,0.1,2\n")
    with pytest.raises(KerastagError, match="bad.csv:2"):
        reporting.read_eer_table(bad)


def test_write_eer_table_rejects_wrong_tag_count(tmp_path):
    row = _row("mixup", 1.0, [.1, .2], .15, 1.0)
    with pytest.raises(KerastagError, match="2 per-tag values for 7 tags"):
        reporting.write_eer_table([row], tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_format_eer_table(rows):
    text = reporting.format_eer_table(rows)
    lines = text.splitlines()
    assert len(lines) == 2 + len(rows)
    assert lines[0].split()[:2] == ["row", "c"]
    assert "mixup_a1.5" in lines[3] and "+0.0043" in lines[3]
    assert "—" in lines[-1]


def _history(n_epochs, accuracy=True, offset=0.0):
    epochs = np.arange(n_epochs)
    frame = pd.DataFrame({"epoch": epochs, "loss": 0.7 / (1 + epochs) + offset,
                          "val_loss": 0.8 / (1 + epochs) + 0.1 + offset})
    if accuracy:
        frame["binary_accuracy"] = 1 - frame["loss"]
        frame["val_binary_accuracy"] = 1 - frame["val_loss"]
    return frame


def test_plot_histories(tmp_path):
    histories = {
        "mixup_a1.5": [_history(12), _history(9, offset=0.02), _history(15, offset=-0.01)],
        "none": [_history(6, accuracy=False)],
    }
    paths = reporting.plot_histories(histories, tmp_path)
    assert paths == [tmp_path / "history_mixup_a1.5.png", tmp_path / "history_none.png"]
    for path in paths:
        _assert_png(path)
    _no_temp_files(tmp_path)


def test_plot_histories_missing_column(tmp_path):
    frame = pd.DataFrame({"epoch": [0, 1], "loss": [0.5, 0.4]})
    with pytest.raises(KerastagError, match="val_loss"):
        reporting.plot_histories({"none": [frame]}, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_plot_eer_vs_paper(tmp_path, rows):
    path = reporting.plot_eer_vs_paper(rows, tmp_path / "eer_vs_paper.png")
    _assert_png(path)
    _no_temp_files(tmp_path)


def test_plot_clip_prediction(tmp_path):
    rng = np.random.default_rng(0)
    frames, classes = 124, len(CHIME_HOME_TAGS)
    localization = rng.uniform(size=(frames, classes))
    attention = rng.uniform(size=(frames, classes))
    clip = (localization * attention).sum(0) / attention.sum(0)
    path = reporting.plot_clip_prediction(
        rng.normal(size=(frames, 128)), localization, attention, clip, CHIME_HOME_TAGS,
        tmp_path / "clip.png", title="CR_lounge_220110_0731.s0_chunk0")
    _assert_png(path)
    _no_temp_files(tmp_path)


def test_plot_clip_prediction_many_classes_and_bad_shape(tmp_path):
    rng = np.random.default_rng(1)
    names = [f"class_{i}" for i in range(41)]
    path = reporting.plot_clip_prediction(
        rng.normal(size=(150, 64)), rng.uniform(size=(150, 41)),
        rng.uniform(size=(150, 41)), rng.uniform(size=41), names, tmp_path / "many.png")
    _assert_png(path)
    with pytest.raises(KerastagError, match="attention shape"):
        reporting.plot_clip_prediction(
            np.zeros((10, 8)), np.zeros((10, 3)), np.zeros((10, 2)), np.zeros(3),
            ["a", "b", "c"], tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_write_map_table(tmp_path):
    rows = [MapRow("stack", 0.9712, 0.9501), MapRow("resnext_logmel_mixup", 0.9601, 0.94),
            MapRow("wave_resnext", 0.9, 0.87)]
    paper = {"stack": 0.977, "resnext_logmel_mixup": 0.967}
    csv_path, md_path = reporting.write_map_table(rows, tmp_path, paper=paper)
    with csv_path.open(newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == ["model", "map3", "accuracy"]
    assert lines[1] == ["stack", "0.9712", "0.9501"]
    text = md_path.read_text(encoding="utf-8")
    assert "| stack | 0.9712 | 0.9501 | 0.977 | -0.0058 |" in text
    assert "| wave_resnext | 0.9000 | 0.8700 | — | — |" in text
    _, md_plain = reporting.write_map_table(rows, tmp_path / "plain")
    assert "paper" not in md_plain.read_text(encoding="utf-8")
    _no_temp_files(tmp_path)


def test_plot_map_per_class(tmp_path):
    rng = np.random.default_rng(2)
    names = [f"class_{i}" for i in range(41)]
    per_class = {"best single": rng.uniform(0.7, 1, 41), "stack": rng.uniform(0.8, 1, 41)}
    path = reporting.plot_map_per_class(per_class, names, tmp_path / "map.png")
    _assert_png(path)
    with pytest.raises(KerastagError, match="expected \\(41,\\)"):
        reporting.plot_map_per_class({"x": np.zeros(3)}, names, tmp_path / "bad.png")
    _no_temp_files(tmp_path)


def test_failed_drawing_closes_figure_and_leaves_no_file(tmp_path, rows, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(reporting, "_draw_eer_bars", broken)
    with pytest.raises(RuntimeError, match="drawing failed"):
        reporting.plot_eer_vs_paper(rows, tmp_path / "eer.png")
    assert list(tmp_path.iterdir()) == []
