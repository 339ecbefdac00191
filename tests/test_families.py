"""kerastag.families: one declaration per model family, looked up by name, and the one-line
refusal of every capability a family does not declare (window-wise predict, --events,
export, init_from, a task it does not serve)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from kerastag import families
from kerastag.config import from_dict
from kerastag.config.sections import ExperimentConfig
from kerastag.errors import ConfigError, ModelError
from kerastag.families import FAMILIES, ModelFamily, family

LOGMEL_A = {"type": "logmel_a", "n_mels": 8}
CLASSES = ["c", "m", "f"]


def invoke(*args):
    from kerastag.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, expected: str):
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    assert errors[0].endswith(expected), errors[0]


def tiny_tagger_file(tmp_path, family_name: str, features=LOGMEL_A):
    """A saved ``(frames, bins) -> sigmoid tags`` Keras model whose kerastag.json names
    ``family_name`` (the declaration decides what it may do, not its layers)."""
    import keras

    from kerastag.formats.model_file import ModelInfo, save_model

    bins = features.get("n_mels", 8)
    model = keras.Sequential([keras.Input((None, bins)), keras.layers.GlobalAveragePooling1D(),
                              keras.layers.Dense(len(CLASSES), activation="sigmoid")])
    path = tmp_path / f"{family_name}.keras"
    save_model(model, path, ModelInfo(task="tagging", family=family_name, classes=tuple(CLASSES),
                                      features=dict(features), chunk_seconds=4.0))
    return path


def pool_family(**declared) -> ModelFamily:
    """A test family "pool" (never built: its builder and args are not resolved)."""
    return ModelFamily("pool", "m:b", args="m:Args", **declared)


def noise_wav(path, seconds=1.0, rate=16000):
    audio = 0.1 * np.random.default_rng(0).standard_normal(int(seconds * rate))
    sf.write(path, audio.astype(np.float32), rate, subtype="FLOAT")
    return path


# --------------------------------------------------------------------------- lookup


def test_lookup_returns_the_declaration_of_each_paper_family():
    crnn = family("crnn_attloc")
    assert crnn.tasks == ("tagging",) and crnn.args_in_model_section
    assert crnn.outputs == ("clip", "frame_scores", "attention") and crnn.events
    assert crnn.export and crnn.head_layers == ("localization", "attention_scores")
    gmm = family("dcase2016_gmm")
    assert not gmm.keras_model and not gmm.init_from and not gmm.export
    assert gmm.scores == "log_likelihood_ratios" and gmm.decision_threshold == 0.0
    assert gmm.default_input["n_mfcc"] == 14
    assert family("cgrnn_imd").stereo and family("cgrnn_imd").frame_windows
    assert not family("attloc_imd").frame_windows
    assert family("resnext50").tasks == ("classification",)
    assert family("wave_resnext").inputs == ("wave",)
    assert families.names_where(lambda f: f.frame_windows) == ["dae_dnn", "cgrnn_imd"]


def test_an_unknown_family_is_one_line_naming_the_key_and_the_nearest():
    with pytest.raises(ConfigError) as error:
        family("resnext", "rows[2].network")
    message = str(error.value)
    assert message.startswith("rows[2].network: unknown value 'resnext' (did you mean 'resnext50'?)")
    assert all(name in message for name in FAMILIES) and "\n" not in message


def test_a_declaration_is_frozen_and_checked():
    with pytest.raises(dataclasses.FrozenInstanceError):
        FAMILIES["crnn_attloc"].export = False  # type: ignore[misc]
    with pytest.raises(ConfigError, match="outputs must hold 'clip'"):
        ModelFamily("x", "m:b", outputs=("frame_scores",))
    with pytest.raises(ConfigError, match="a frame_model needs 'frame_scores'"):
        ModelFamily("x", "m:b", frame_model="m:f")
    with pytest.raises(ConfigError, match="did you mean 'probabilities'"):
        ModelFamily("x", "m:b", scores="probability")


def test_a_refusal_is_one_line_in_the_declarations_words():
    assert family("dae_dnn").export_refusal() == (
        "model.type dae_dnn: this family declares no export (its input mfcc_frames has no "
        "in-graph front end)")
    assert family("crnn_attloc").task_refusal("classification") == (
        "model.type crnn_attloc: this family declares no classification task (it serves tagging)")


# --------------------------------------------------------------------------- config


def config_with(task: str, rows: list[dict], **extra) -> ExperimentConfig:
    return from_dict(ExperimentConfig, {"name": "x", "task": task, "rows": rows, **extra})


def test_a_classification_row_of_a_tagging_family_is_refused_at_validation():
    with pytest.raises(ConfigError) as error:
        config_with("classification", [{"network": "crnn_attloc", "features": "logmel"}])
    assert str(error.value) == ("rows[0]: model.type crnn_attloc: this family declares no "
                                "classification task (it serves tagging)")


def test_a_tagging_row_of_a_classification_family_is_refused_at_validation():
    with pytest.raises(ConfigError) as error:
        config_with("tagging", [{"mixing": "none"}, {"network": "dpn68"}])
    assert str(error.value) == ("rows[1]: model.type dpn68: this family declares no tagging "
                                "task (it serves classification)")


def test_a_new_classification_family_is_accepted_by_paper_b_rows(monkeypatch):
    monkeypatch.setitem(FAMILIES, "tiny_net", ModelFamily(
        "tiny_net", "kerastag.models.networks:NETWORKS.resnext50", tasks=("classification",),
        args="kerastag.config.family_args:ResNeXtArgs"))
    config = config_with("classification", [{"network": "tiny_net", "features": "logmel"}])
    assert config.family_of(config.rows[0]).name == "tiny_net"


def test_frame_window_training_follows_the_declaration():
    config = config_with("tagging", [{"network": "dae_dnn"}, {"network": "attloc_imd"}])
    assert [config.samples_of(row) for row in config.rows] == ["frame_windows", "chunks"]
    with pytest.raises(ConfigError, match="'frame_windows' needs a family scored over windows "
                                          r"of frames \(dae_dnn, cgrnn_imd\); attloc_imd"):
        config_with("tagging", [{"network": "attloc_imd",
                                 "training": {"samples": "frame_windows"}}])


def test_init_from_is_refused_for_a_family_declaring_none(tmp_path):
    from kerastag.models.transfer import check_source

    with pytest.raises(ConfigError) as error:
        check_source(tmp_path / "any.keras", where="rows[0] 'gmm'", task="tagging",
                     family="dcase2016_gmm", features=None)
    assert str(error.value) == ("rows[0] 'gmm': model.type dcase2016_gmm: this family "
                                "declares no init_from (it has no layers to transfer)")


# --------------------------------------------------------------------------- predict, export


@pytest.mark.slow
def test_predict_follows_the_declaration(tmp_path, monkeypatch):
    """A new family scores files window by window; declaring no window-wise predict, no
    frame outputs (--events, --plot) or no tagging task is refused in one line."""
    monkeypatch.setitem(FAMILIES, "pool", pool_family(inputs=("logmel_a",)))
    model = tiny_tagger_file(tmp_path, "pool")
    wav = noise_wav(tmp_path / "a.wav", seconds=5.0)
    scored = invoke("predict", model, wav, "--out", tmp_path / "p.csv")
    assert scored.exit_code == 0, scored.output
    assert (tmp_path / "p.csv").read_text().splitlines()[0] == "file,c,m,f,tags"

    assert_one_line_error(invoke("predict", model, wav, "--events", tmp_path / "e.tsv"),
                          "model.type pool: this family declares no frame-level outputs "
                          "(--events needs frame scores)")
    assert not (tmp_path / "e.tsv").exists()
    assert_one_line_error(invoke("predict", model, wav, "--plot", tmp_path / "plots"),
                          "model.type pool: this family declares no frame-level outputs "
                          "(--plot draws them)")
    monkeypatch.setitem(FAMILIES, "pool", pool_family(window_predict=False))
    assert_one_line_error(invoke("predict", model, wav),
                          "model.type pool: this family declares no window-wise predict")
    monkeypatch.setitem(FAMILIES, "pool", pool_family(tasks=("classification",)))
    assert_one_line_error(invoke("predict", model, wav),
                          "model.type pool: this family declares no tagging task (it serves "
                          "classification)")
    with pytest.raises(ModelError, match="family: unknown value 'gone'"):
        from kerastag.tasks.tagging.predict import predict_files

        predict_files(tiny_tagger_file(tmp_path, "gone"), [wav])


@pytest.mark.slow
def test_export_follows_the_declaration(tmp_path, monkeypatch):
    from kerastag.export import export_model

    monkeypatch.setitem(FAMILIES, "pool", pool_family(inputs=("logmel_a",)))
    model = tiny_tagger_file(tmp_path, "pool")
    assert_one_line_error(invoke("export", model, "--format", "onnx", "--out", tmp_path / "x"),
                          "model.type pool: this family declares no export")
    assert not (tmp_path / "x").exists()
    monkeypatch.setitem(FAMILIES, "pool", pool_family(inputs=("logmel_a",),
                                                      export=True))
    out = export_model(model, "saved_model", tmp_path / "y", log=lambda _: None)
    from kerastag.export import runtimes

    outputs = runtimes.load(out)(np.zeros((1, 16000), np.float32))
    assert set(outputs) == {"clip"} and outputs["clip"].shape == (1, len(CLASSES))
