"""Experiment configs: validation errors name the key; paths resolve as documented."""

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
        "dae_dnn", "cgrnn_imd", "attloc_imd",
        "mixup_a0", "mixup_a0.1", "mixup_a0.5", "mixup_a1", "mixup_a1.5", "mixup_a2",
        "mixup_a5", "samplepairing", "mixup_lp_a1.5", "extrapolation_a1.5", "dcase2016_gmm"]
    assert [row.in_table_1 for row in config.rows] == [True] * 13 + [False]
    assert config.training.batch_size == 44 and config.training.patience == 20
    assert config.model.filters == (8, 16, 32, 64, 64, 64, 64)
    assert [config.training_of(row).epochs for row in config.rows[:3]] == [51, 21, 31]
    assert {config.training_of(row).batch_size for row in config.rows[:3]} == {100}
    assert [config.training_of(row).optimizer for row in config.rows[:3]] == ["sgd", "adam", "adam"]
    assert [config.samples_of(row) for row in config.rows[:3]] == ["frame_windows"] * 2 + ["chunks"]
    assert [row.targets for row in config.rows] == ["tags_and_silence"] * 3 + ["tags"] * 11
    demo = load_config(REPO / "experiments" / "demo.yaml")
    assert [row.name for row in demo.rows] == [row.name for row in config.rows]
    assert demo.dataset.demo


def test_name_defaults_to_file_stem(tmp_path):
    assert load_config(write(tmp_path, "rows: [{mixing: none}]\n")).name == "exp"


@pytest.mark.parametrize("text, expected", [
    ("trainig: {epochs: 3}\n", "trainig: unknown key; did you mean 'training'?"),
    ("training: {batch_sise: 3}\n", "training.batch_sise: unknown key; did you mean 'batch_size'?"),
    ("rows: [{mixing: mixup, alfa: 1}]\n", "rows[0].alfa: unknown key; did you mean 'alpha'?"),
    ("training: {epochs: ten}\n", "training.epochs: expected int, got str 'ten'"),
    ("model: {filters: 8}\n", "model.filters: expected a list, got int 8"),
    ("model: {gated_rnn: 1}\n", "model.gated_rnn: expected bool, got int 1"),
    ("rows: [{mixing: mixpu}]\n", "rows[0].mixing: unknown value 'mixpu' (did you mean 'mixup'?)"),
    ("rows: [{mixing: mixup, alpha: -0.5}]\n", "rows[0].alpha: expected a finite number >= 0, got -0.5"),
    ("rows: []\n", "rows: expected at least one row"),
    ("rows: [{mixing: none}, {mixing: none}]\n", "rows: duplicate row 'none'"),
    ("training: {validation: test}\n", "training.validation: unknown value 'test'"),
    ("training: {folds: [0, 7]}\n", "training.folds[1]: expected an integer >= 0 and <= 4, got 7"),
    ("dataset: [1]\n", "dataset: expected a mapping, got list"),
    ("rows: [{mixing: none}\n", "invalid YAML"),
    ("execution: {engin: ray}\n", "execution.engin: unknown key; did you mean 'engine'?"),
    ("execution: {engine: spark}\n", "execution.engine: unknown value 'spark'"),
    ("execution: {gpus_per_unit: 1.5}\n", "execution.ray.gpus_per_unit: above 1 it must be a whole number"),
    ("execution: {ray: {cpus_per_unit: 0}}\n", "execution.ray.cpus_per_unit: expected a finite number > 0"),
    ("execution: {ray: {cpus_per_uni: 2}}\n", "execution.ray.cpus_per_uni: unknown key; did you mean 'cpus_per_unit'?"),
    ("execution: {rya: {}}\n", "execution.rya: unknown key; did you mean 'ray'?"),
    ("execution: {threads_per_unit: 0}\n", "execution.threads_per_unit: expected an integer >= 1"),
    ("training: {precision: half}\n", "training.precision: unknown value 'half'"),
    ("training: {mixed_precision: true}\n", "training.mixed_precision: replaced; write precision: mixed_float16"),
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


@pytest.mark.parametrize("row, old, new", [
    ("{augmentation: mixup, alpha: 1}", "augmentation", "mixing"),
    ("{network: resnext50, input: wave}", "input", "features"),
])
def test_renamed_row_keys_name_the_new_key(tmp_path, row, old, new):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, f"rows: [{row}]\n"))
    assert str(info.value).endswith(f"rows[0].{old}: renamed to '{new}' in kerastag 0.2; "
                                    f"write {new}: instead")


def test_execution_is_not_part_of_what_a_run_is_and_old_precision_keys_upgrade(tmp_path):
    from kerastag.config import config_from_run_data, config_to_dict, resolved_config
    from kerastag.formats import run_folder

    local = load_config(write(tmp_path, "rows: [{mixing: none}]\n"))
    assert (local.execution.engine, local.execution.unit_threads()) == ("local", None)
    ray = load_config(write(tmp_path, "rows: [{mixing: none}]\nexecution: {engine: ray, "
                                      "cpus_per_unit: 1.5, gpus_per_unit: 0.25}\n"))
    assert ray.execution.unit_threads() == 2 and ray.execution.settings().gpus_per_unit == 0.25
    nested = load_config(write(tmp_path, "rows: [{mixing: none}]\nexecution: {engine: ray, "
                                         "ray: {cpus_per_unit: 1.5, gpus_per_unit: 0.25}}\n"))
    assert nested.execution == ray.execution  # kerastag 0.2's keys read into execution.ray
    saved = config_to_dict(nested)["execution"]
    assert saved == {"engine": "ray", "threads_per_unit": None, "reuse_models": True,
                     "ray": {"address": None, "cpus_per_unit": 1.5, "gpus_per_unit": 0.25,
                             "max_retries": 2}}
    assert config_from_run_data(resolved_config(nested)).execution == nested.execution
    run_folder.claim(tmp_path / "run", resolved_config(local))
    run_folder.check_resumable(tmp_path / "run", resolved_config(ray))  # no error
    saved = resolved_config(local)
    saved["training"]["mixed_precision"] = True
    del saved["training"]["precision"]
    assert config_from_run_data(saved).training.precision == "mixed_float16"


def test_a_run_folder_config_saved_by_kerastag_0_1_still_loads():
    from kerastag.config import config_from_run_data, features_from_data

    features_01 = {"type": "logmel", "sample_rate": 44100, "n_fft": 1024, "hop_length": 512,
                   "n_mels": 64, "fmin": 0.0, "fmax": 22050.0, "frame_ms": 80.0, "hop_ms": 10.0,
                   "delta_width": 9, "excerpt_seconds": 1.5, "predict_hop_seconds": 0.75,
                   "cache_dir": None, "workers": None}
    config = config_from_run_data({
        "name": "old", "task": "classification", "features": features_01,
        "rows": [{"augmentation": "mixup", "alpha": 3.0, "model": None, "network": "resnext50",
                  "input": "logmel", "id": None, "args": {}}]})
    row = config.rows[0]
    assert (row.mixing, row.features, row.name) == ("mixup", "logmel", "resnext50_logmel_mixup_a3")
    assert config.features.n_mfcc == 64 and config.features.predict_hop_seconds == 0.75
    tagging = features_from_data({"type": "logmel_a", "sample_rate": 16000, "n_fft": 1024,
                                  "hop_length": 512, "n_mels": 128, "fmin": 0.0, "fmax": 8000.0,
                                  "frame_ms": 80.0, "excerpt_seconds": 1.5})
    assert tagging == ExperimentConfig(name="x").features


@pytest.mark.parametrize("text, expected", [
    ("features: {type: logmel_a, frame_ms: 80}\n", "features.frame_ms: unknown key"),
    ("features: {type: mel}\n", "features.type: unknown value 'mel'"),
    ("features: {type: mfcc, n_mfcc: 0}\n", "features.n_mfcc: expected an integer >= 1, got 0"),
    ("training: {learning_rate: .nan}\n", "training.learning_rate: expected a finite number > 0, got nan"),
    ("name: ../../x\n", "name: expected letters, digits"),
])
def test_each_feature_type_has_its_own_keys_and_numbers_are_finite(tmp_path, text, expected):
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.").replace("(", r"\(")):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize("mixing, alpha, expected", [
    ("none", 0.0, "none"),
    ("mixup", 1.5, "mixup_a1.5"),
    ("mixup", 0.0, "mixup_a0"),
    ("samplepairing", 0.0, "samplepairing"),
    ("samplepairing", 1.0, "samplepairing"),
    ("mixup_lp", 1.5, "mixup_lp_a1.5"),
    ("extrapolation", 1.5, "extrapolation_a1.5"),
    ("mixup", 2.0, "mixup_a2"),
])
def test_row_name(mixing, alpha, expected):
    """A row's name (its folder in a run, its line in the table) carries alpha only for
    the modes parametrised by it, written without a trailing .0."""
    from kerastag.config import RowConfig

    assert RowConfig(mixing=mixing, alpha=alpha).name == expected


# --- bad input never gives a traceback (issue: no bad input poisons a run) ---------------

@pytest.mark.parametrize("content, expected", [
    (b"name: x\xff\n", "exp.yaml:1: not UTF-8 text (byte 0xff)"),
    (b"rows:\n  - {mixing: none}\n\xe9\n", "exp.yaml:3: not UTF-8 text (byte 0xe9)"),
    (b"rows: [{mixing: mixup, mixing: none}]\n", "invalid YAML (line 1): duplicate key 'mixing'"),
    (b"training: {epochs: 3}\ntraining: {epochs: 4}\n", "invalid YAML (line 2): duplicate key 'training'"),
    (b"rows: [{mixing: mixup, alpha: .nan}]\n", "rows[0].alpha: expected a finite number >= 0, got nan"),
    (b"rows: [{mixing: mixup, alpha: .inf}]\n", "rows[0].alpha: expected a finite number >= 0, got inf"),
    (b"features: {n_mels: 100000}\n", "features.n_mels: expected an integer >= 1 and <= 513, got 100000"),
    (b"name: ../../x\n", "name: expected letters, digits, '.', '_' or '-'"),
    (b"name: /tmp/x\n", "name: expected letters, digits"),
])
def test_bad_config_files_are_one_line_errors(tmp_path, content, expected):
    path = tmp_path / "exp.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_a_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_bytes(b"\xef\xbb\xbfname: bom\nrows: [{mixing: samplepairing}]\n")
    assert load_config(path).rows[0].name == "samplepairing"


VALID_CONFIGS = sorted((Path(__file__).resolve().parents[1] / "experiments").glob("*.yaml"))


def _mutations():
    source = st.sampled_from(VALID_CONFIGS).map(lambda p: p.read_bytes())

    def mutate(args):
        text, where, what, payload = args
        where = where % (len(text) + 1)
        if what == "truncate":
            return text[:where]
        if what == "insert":
            return text[:where] + payload + text[where:]
        if what == "delete":
            return text[:where] + text[where + len(payload):]
        lines = text.split(b"\n")
        return b"\n".join(lines[:where % len(lines)] * 2 + lines[where % len(lines):])

    return st.tuples(source, st.integers(0, 10_000),
                     st.sampled_from(["truncate", "insert", "delete", "duplicate"]),
                     st.binary(min_size=1, max_size=8)).map(mutate)


def _yaml_values():
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
    keys = st.sampled_from(["name", "task", "dataset", "features", "model", "training", "rows",
                            "seed", "stack", "type", "path", "mixing", "alpha", "n_mels",
                            "epochs", "folds", "layout", "args", "network", "features"])
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)), max_leaves=12)


def _load_only_config_errors(path, content: bytes) -> None:
    path.write_bytes(content)
    try:
        load_config(path)
    except ConfigError as exc:
        assert "\n" not in str(exc)


FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(content=st.binary(max_size=300))
def test_arbitrary_bytes_only_raise_config_errors(tmp_path, content):
    _load_only_config_errors(tmp_path / "fuzz.yaml", content)


@FUZZ
@given(content=_mutations())
def test_mutated_valid_configs_only_raise_config_errors(tmp_path, content):
    _load_only_config_errors(tmp_path / "fuzz.yaml", content)


@FUZZ
@given(value=_yaml_values())
def test_arbitrary_yaml_values_only_raise_config_errors(tmp_path, value):
    _load_only_config_errors(tmp_path / "fuzz.yaml", yaml.safe_dump(value).encode())
