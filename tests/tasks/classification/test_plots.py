"""Paper B's figure (kerastag.tasks.classification.plots): MAP@3 per class."""

from __future__ import annotations

import numpy as np
import pytest

from kerastag.errors import KerastagError
from kerastag.tasks.classification import plots as classification_plots

pytestmark = pytest.mark.usefixtures("no_open_figures")


def test_plot_map_per_class(tmp_path, assert_png, assert_no_temp_files):
    rng = np.random.default_rng(2)
    names = [f"class_{i}" for i in range(41)]
    per_class = {"best single": rng.uniform(0.7, 1, 41), "stack": rng.uniform(0.8, 1, 41)}
    path = classification_plots.plot_map_per_class(per_class, names, tmp_path / "map.png")
    assert_png(path)
    with pytest.raises(KerastagError, match="expected \\(41,\\)"):
        classification_plots.plot_map_per_class({"x": np.zeros(3)}, names, tmp_path / "bad.png")
    assert_no_temp_files(tmp_path)
