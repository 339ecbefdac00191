"""Experiment configs: validation errors name the key; paths resolve as documented."""

from pathlib import Path

import pytest

from kerastag.config import ExperimentConfig, load_config
from kerastag.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path, text, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_configs_load():
    config = load_config(REPO / "experiments" / "dcase2016_mixup.yaml")
    assert [row.name for row in config.rows] == [
        "mixup_a0", "mixup_a0.1", "mixup_a0.5", "mixup_a1", "mixup_a1.5", "mixup_a2",
        "mixup_a5", "samplepairing", "mixup_lp_a1.5", "extrapolation_a1.5"]
    assert config.training.batch_size == 44 and config.training.patience == 20
    assert config.model.filters == (8, 16, 32, 64, 64, 64, 64)
    demo = load_config(REPO / "experiments" / "demo.yaml")
    assert {row.name for row in demo.rows} == {row.name for row in config.rows}
    assert demo.dataset.demo


def test_name_defaults_to_file_stem(tmp_path):
    assert load_config(write(tmp_path, "rows: [{augmentation: none}]\n")).name == "exp"


@pytest.mark.parametrize("text, expected", [
    ("trainig: {epochs: 3}\n", "trainig: unknown key; did you mean 'training'?"),
    ("training: {batch_sise: 3}\n", "training.batch_sise: unknown key; did you mean 'batch_size'?"),
    ("rows: [{augmentation: mixup, alfa: 1}]\n", "rows[0].alfa: unknown key; did you mean 'alpha'?"),
    ("training: {epochs: ten}\n", "training.epochs: expected int, got str 'ten'"),
    ("model: {filters: 8}\n", "model.filters: expected a list, got int 8"),
    ("model: {gated_rnn: 1}\n", "model.gated_rnn: expected bool, got int 1"),
    ("rows: [{augmentation: mixpu}]\n", "rows[0].augmentation: unknown value 'mixpu' (did you mean 'mixup'?)"),
    ("rows: [{augmentation: mixup, alpha: -0.5}]\n", "rows[0].alpha: expected alpha >= 0, got -0.5"),
    ("rows: []\n", "rows: expected at least one row"),
    ("rows: [{augmentation: none}, {augmentation: none}]\n", "rows: duplicate row 'none'"),
    ("training: {validation: test}\n", "training.validation: unknown value 'test'"),
    ("training: {folds: [0, 7]}\n", "training.folds: expected folds in 0..4, got [0, 7]"),
    ("dataset: [1]\n", "dataset: expected a mapping, got list"),
    ("rows: [{augmentation: none}\n", "invalid YAML"),
])
def test_bad_configs_name_the_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert expected in message
    assert message.startswith(str(path))
    assert "\n" not in message


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_relative_paths_resolve_against_the_config_file(tmp_path, monkeypatch):
    monkeypatch.delenv("KERASTAG_DATA", raising=False)
    (tmp_path / "sub").mkdir()
    config = load_config(write(tmp_path / "sub", "dataset: {path: ../data/x}\nfeatures: {cache_dir: c}\n"))
    assert config.dataset_path() == (tmp_path / "data" / "x").resolve()
    assert config.cache_dir() == (tmp_path / "sub" / "c").resolve()


def test_kerastag_data_is_the_fallback_for_relative_paths(tmp_path, monkeypatch):
    (tmp_path / "store" / "chime_home").mkdir(parents=True)
    monkeypatch.setenv("KERASTAG_DATA", str(tmp_path / "store"))
    config = load_config(write(tmp_path, "dataset: {path: chime_home}\n"))
    assert config.dataset_path() == (tmp_path / "store" / "chime_home").resolve()
    (tmp_path / "chime_home").mkdir()  # a folder beside the config wins
    assert config.dataset_path() == (tmp_path / "chime_home").resolve()


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASTAG_CACHE", str(tmp_path / "cache"))
    assert ExperimentConfig(name="x").cache_dir() == tmp_path / "cache"
