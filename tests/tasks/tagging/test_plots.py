"""Paper A's figures (kerastag.tasks.tagging.plots): EER against the paper, one clip's
frame-level prediction."""

from __future__ import annotations

import numpy as np
import pytest

from kerastag.errors import KerastagError
from kerastag.reference_results import CHIME_HOME_TAGS
from kerastag.tasks.tagging import plots as tagging_plots

pytestmark = pytest.mark.usefixtures("no_open_figures")


def test_plot_eer_vs_paper(tmp_path, eer_rows, assert_png, assert_no_temp_files):
    path = tagging_plots.plot_eer_vs_paper(eer_rows, tmp_path / "eer_vs_paper.png")
    assert path == tmp_path / "eer_vs_paper.png"
    assert_png(path)
    assert_no_temp_files(tmp_path)


def test_plot_clip_prediction(tmp_path, assert_png, assert_no_temp_files):
    rng = np.random.default_rng(0)
    frames, classes = 124, len(CHIME_HOME_TAGS)
    localization = rng.uniform(size=(frames, classes))
    attention = rng.uniform(size=(frames, classes))
    clip = (localization * attention).sum(0) / attention.sum(0)
    path = tagging_plots.plot_clip_prediction(
        rng.normal(size=(frames, 128)), localization, attention, clip, CHIME_HOME_TAGS,
        tmp_path / "clip.png", title="CR_lounge_220110_0731.s0_chunk0")
    assert_png(path)
    assert_no_temp_files(tmp_path)


def test_plot_clip_prediction_many_classes_and_bad_shape(tmp_path, assert_png):
    rng = np.random.default_rng(1)
    names = [f"class_{i}" for i in range(41)]
    path = tagging_plots.plot_clip_prediction(
        rng.normal(size=(150, 64)), rng.uniform(size=(150, 41)),
        rng.uniform(size=(150, 41)), rng.uniform(size=41), names, tmp_path / "many.png")
    assert_png(path)
    with pytest.raises(KerastagError, match="attention shape"):
        tagging_plots.plot_clip_prediction(
            np.zeros((10, 8)), np.zeros((10, 3)), np.zeros((10, 2)), np.zeros(3),
            ["a", "b", "c"], tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_failed_drawing_closes_figure_and_leaves_no_file(tmp_path, eer_rows, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(tagging_plots, "_draw_eer_bars", broken)
    with pytest.raises(RuntimeError, match="drawing failed"):
        tagging_plots.plot_eer_vs_paper(eer_rows, tmp_path / "eer.png")
    assert list(tmp_path.iterdir()) == []


def test_plot_of_own_classes_has_no_paper_bars(tmp_path, assert_png, monkeypatch):
    """A dataset's own classes: our per-class EER only, a bar per class and the average;
    Table 1 is never looked up (rows named as the paper's stay without its bars)."""
    from kerastag.formats.eer_table import EerRow

    def no_paper(row):
        raise AssertionError(f"paper A looked up for {row.name}")

    monkeypatch.setattr(tagging_plots, "paper_row", no_paper)
    rows = [EerRow(name=f"r{k}", model="CRNN", mixing="mixup", alpha=1.5,
                   per_tag=tuple(np.linspace(.05, .4, 12)), average=.2, var_1e3=5.0)
            for k in range(3)]
    tags = [f"class {k}" for k in range(12)]
    path = tagging_plots.plot_eer(rows, tmp_path / "eer_per_class.png", tags=tags, paper=False)
    assert_png(path)
