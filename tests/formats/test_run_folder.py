"""The run folder (kerastag.formats.run_folder): where each unit's files go, when a unit
counts as finished, and which folder a run may resume."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from kerastag.errors import ConfigError, KerastagError
from kerastag.formats import run_folder

CONFIG = {
    "name": "tiny", "task": "tagging", "source": "/configs/tiny.yaml",
    "dataset": {"path": "/data/chime_home", "layout": "chime-home"},
    "training": {"epochs": 2, "batch_size": 8, "verbose": 0},
    "rows": [{"mixing": "mixup", "alpha": 1.5}],
}


def _changed(**changes):
    data = yaml.safe_load(yaml.safe_dump(CONFIG))  # a deep copy
    for key, value in changes.items():
        section, _, sub = key.partition(".")
        if sub:
            data[section][sub] = value
        else:
            data[section] = value
    return data


def test_unit_paths(tmp_path):
    paths = run_folder.unit_paths(tmp_path, "mixup_a1.5", "fold3")
    assert paths == {"model": tmp_path / "models" / "mixup_a1.5" / "fold3.keras",
                     "history": tmp_path / "histories" / "mixup_a1.5" / "fold3.csv",
                     "predictions": tmp_path / "predictions" / "mixup_a1.5" / "fold3.npz"}


def test_is_finished_only_when_all_three_files_exist(tmp_path):
    paths = run_folder.unit_paths(tmp_path, "none", "fold0")
    for path in paths.values():
        assert not run_folder.is_finished(tmp_path, "none", "fold0")
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x")
    assert run_folder.is_finished(tmp_path, "none", "fold0")
    assert not run_folder.is_finished(tmp_path, "none", "fold1")
    paths["model"].unlink()  # predictions alone do not make a unit finished
    assert not run_folder.is_finished(tmp_path, "none", "fold0")


def test_history_and_predictions_round_trip(tmp_path):
    paths = run_folder.unit_paths(tmp_path, "none", "fold0")
    history = pd.DataFrame({"epoch": [1, 2], "loss": [0.7, 0.5], "val_loss": [0.8, 0.6]})
    run_folder.write_history(paths["history"], history)
    pd.testing.assert_frame_equal(run_folder.read_history(paths["history"]), history)
    assert run_folder.read_histories(tmp_path, [("none", "fold0"), ("none", "fold0")])["none"][1] \
        .equals(history)
    predictions = {"clip_ids": np.array(["a", "b"]), "scores": np.eye(2, dtype=np.float32)}
    run_folder.write_predictions(paths["predictions"], predictions)
    back = run_folder.read_predictions(paths["predictions"])
    assert sorted(back) == ["clip_ids", "scores"]
    np.testing.assert_array_equal(back["clip_ids"], ["a", "b"])
    np.testing.assert_array_equal(back["scores"], predictions["scores"])
    assert not list(tmp_path.rglob(".*tmp*"))


def test_claim_writes_the_config_and_accepts_the_same_again(tmp_path):
    out = tmp_path / "run"
    run_folder.claim(out, CONFIG)
    assert yaml.safe_load((out / "config.yaml").read_text()) == CONFIG
    run_folder.claim(out, CONFIG)
    data = run_folder.read_config_data(out)
    assert data["source"] == str((out / "config.yaml").resolve())
    assert {k: v for k, v in data.items() if k != "source"} == \
        {k: v for k, v in CONFIG.items() if k != "source"}


@pytest.mark.parametrize("changes", [
    {"name": "renamed"},
    {"training.verbose": 2},
    {"stack": {"folds": 5}},
    {"source": "/elsewhere/tiny.yaml"},
], ids=["name", "verbose", "stack", "source"])
def test_claim_accepts_a_changed_name_verbosity_stack_or_source(tmp_path, changes):
    run_folder.claim(tmp_path, CONFIG)
    resumed = _changed(**changes)
    run_folder.claim(tmp_path, resumed)
    assert yaml.safe_load((tmp_path / "config.yaml").read_text()) == resumed  # updated


@pytest.mark.parametrize("changes", [
    {"training.epochs": 3},
    {"rows": [{"mixing": "none"}]},
    {"dataset.path": "/data/other"},
    {"task": "classification"},
], ids=["epochs", "rows", "dataset", "task"])
def test_claim_refuses_a_different_config_and_keeps_the_old_one(tmp_path, changes):
    run_folder.claim(tmp_path, CONFIG)
    before = (tmp_path / "config.yaml").read_text()
    with pytest.raises(ConfigError, match="holds a run of a different config") as info:
        run_folder.claim(tmp_path, _changed(**changes))
    assert str(tmp_path) in str(info.value) and "--out" in str(info.value)
    assert (tmp_path / "config.yaml").read_text() == before


def test_claim_compares_after_normalising_the_saved_config(tmp_path):
    old = _changed()
    old["rows"] = [{"augmentation": "mixup", "alpha": 1.5}]  # as an older kerastag wrote it
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))

    def normalise(data):
        data["rows"] = [{("mixing" if k == "augmentation" else k): v for k, v in row.items()}
                        for row in data["rows"]]
        return data

    with pytest.raises(ConfigError):
        run_folder.claim(tmp_path, CONFIG)  # compared as written: rows differ
    run_folder.claim(tmp_path, CONFIG, normalise=normalise)  # the same run, older spelling


def test_read_config_data_of_a_folder_without_config_yaml(tmp_path):
    with pytest.raises(KerastagError, match="not a kerastag run folder \\(no config.yaml\\)") as info:
        run_folder.read_config_data(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_every_folder_and_table_of_the_layout(tmp_path):
    """The paths other modules take from here, as users and older run folders know them."""
    run = tmp_path / "run"
    assert run_folder.models_dir(run, "r") == run / "models" / "r"
    assert run_folder.predictions_dir(run, "r") == run / "predictions" / "r"
    assert run_folder.table_paths(run) == (run / "table.csv", run / "table.md")
    assert run_folder.tables_of_test_set(run) == run / "test"
    assert run_folder.plots_dir(run) == run / "plots"
    assert run_folder.evaluate_dir(run) == run / "evaluate"
    assert run_folder.level1_dir(run) == run / "level1"
    assert run_folder.submission_path(run, "r") == run / "submissions" / "r.csv"
    assert run_folder.stack_dir(run) == run / "stack"
    assert run_folder.stack_dir(run, tmp_path / "elsewhere") == tmp_path / "elsewhere"
    assert run_folder.thresholds_path(run, "r") == run / "thresholds" / "r.json"
    assert run_folder.thresholds_table_path(run) == run / "thresholds" / "thresholds.csv"


def test_run_and_row_of_a_model_in_a_run_folder_and_elsewhere(tmp_path):
    model = run_folder.unit_paths(tmp_path / "run", "mixup", "fold0")["model"]
    assert run_folder.run_and_row_of_model(model) == (tmp_path / "run", "mixup")
    assert run_folder.run_and_row_of_model(tmp_path / "fold0.keras") is None
    assert run_folder.run_and_row_of_model(tmp_path / "other" / "r" / "fold0.keras") is None
