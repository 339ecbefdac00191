"""The figures every task shares (kerastag.plots): training-history curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kerastag import plots
from kerastag.errors import KerastagError

pytestmark = pytest.mark.usefixtures("no_open_figures")


def _history(n_epochs, accuracy=True, offset=0.0):
    epochs = np.arange(n_epochs)
    frame = pd.DataFrame({"epoch": epochs, "loss": 0.7 / (1 + epochs) + offset,
                          "val_loss": 0.8 / (1 + epochs) + 0.1 + offset})
    if accuracy:
        frame["binary_accuracy"] = 1 - frame["loss"]
        frame["val_binary_accuracy"] = 1 - frame["val_loss"]
    return frame


def test_plot_histories(tmp_path, assert_png, assert_no_temp_files):
    histories = {
        "mixup_a1.5": [_history(12), _history(9, offset=0.02), _history(15, offset=-0.01)],
        "none": [_history(6, accuracy=False)],
    }
    paths = plots.plot_histories(histories, tmp_path)
    assert paths == [tmp_path / "history_mixup_a1.5.png", tmp_path / "history_none.png"]
    for path in paths:
        assert_png(path)
    assert_no_temp_files(tmp_path)


def test_plot_histories_missing_column(tmp_path):
    frame = pd.DataFrame({"epoch": [0, 1], "loss": [0.5, 0.4]})
    with pytest.raises(KerastagError, match="val_loss"):
        plots.plot_histories({"none": [frame]}, tmp_path)
    assert list(tmp_path.iterdir()) == []
