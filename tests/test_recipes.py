"""The recipes of docs/architecture.md, done: each registers a plug-in of
tests/recipe_plugins.py the way the recipe says and runs it through kerastag unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from kerastag import families, names
from kerastag.families import ModelFamily
from kerastag.config import load_config
from kerastag.errors import ConfigError
from kerastag.runner.run import evaluate_run, run_experiment

HERE = Path(__file__).resolve().parent


@pytest.fixture
def plugins(monkeypatch):
    """Make tests/recipe_plugins.py importable as ``recipe_plugins``."""
    monkeypatch.syspath_prepend(str(HERE))
    return "recipe_plugins"


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def tagging_config(tmp_path: Path, dataset: Path, *, features: str, model: str, rows: str) -> Path:
    return write_config(tmp_path / "recipe.yaml", (
        f"name: recipe\ndataset: {{path: {dataset}}}\n"
        f"features: {{{features}, cache_dir: {tmp_path / 'cache'}, workers: 1}}\n"
        f"model: {{{model}}}\n"
        f"training: {{batch_size: 8, epochs: 1, patience: 1, folds: [0], verbose: 0}}\n"
        f"rows: [{rows}]\n"))


def declare_mean_pool(plugins: str, inputs=("logmel_a",), **supports) -> ModelFamily:
    """The recipe's declaration of the plug-in family (a tagger, by default on paper A's
    log-mel)."""
    return ModelFamily("mean_pool", f"{plugins}:build_mean_pool_tagger",
                       args=f"{plugins}:MeanPoolArgs", inputs=inputs, **supports)


@pytest.mark.slow
def test_recipe_add_a_model_family(plugins, monkeypatch, chime_demo, tmp_path):
    """Declared alone, the family trains in a tagging row, is scored by ``kerastag predict``
    as the run scored it, and exports; declaring no export refuses export in one line."""
    from click.testing import CliRunner

    from kerastag.cli import main
    from kerastag.errors import ModelError
    from kerastag.export import export_model, runtimes
    from kerastag.formats.model_file import load_model

    monkeypatch.setitem(families.FAMILIES, "mean_pool", declare_mean_pool(plugins, export=True))
    config = tagging_config(tmp_path, chime_demo[0], features="type: logmel_a, n_mels: 16",
                            model="type: mean_pool, args: {mean_pool: {units: 4}}",
                            rows="{mixing: none}")
    table = pd.read_csv(run_experiment(load_config(config), tmp_path / "run", log=lambda _: None))
    assert table["avg"].between(0, 1).all()
    bad_args = tagging_config(tmp_path, chime_demo[0], features="type: logmel_a, n_mels: 16",
                              model="type: mean_pool, args: {mean_pool: {unit: 4}}",
                              rows="{mixing: none}")
    with pytest.raises(ConfigError, match=r"model\.args\.mean_pool\.unit: unknown key; "
                                          r"did you mean 'units'\?$"):
        load_config(bad_args)  # its declared args dataclass is checked at load
    model_path = tmp_path / "run" / "models" / "none" / "fold0.keras"
    model = load_model(model_path)
    assert model.name == "mean_pool_tagger" and model.output_shape == (None, 7)

    saved = np.load(tmp_path / "run" / "predictions" / "none" / "fold0.npz")
    chunks = sorted(Path(chime_demo[0]).rglob("chunks"))[0]
    wavs = [chunks / f"{clip_id}.16kHz.wav" for clip_id in saved["clip_ids"][:3]]
    result = CliRunner().invoke(main, ["predict", str(model_path), *map(str, wavs),
                                       "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(tmp_path / "p.csv").iloc[:, 1:8].to_numpy()
    np.testing.assert_allclose(scores, saved["scores"][:3], atol=2e-4)

    out = export_model(model_path, "saved_model", tmp_path / "export", log=lambda _: None)
    from kerastag.audio import load_audio

    audio = load_audio(wavs[0], sample_rate=16000)[None, :].astype(np.float32)
    outputs = runtimes.load(out)(audio)
    assert set(outputs) == {"clip"}  # no frame outputs declared
    np.testing.assert_allclose(outputs["clip"][0], saved["scores"][0], atol=1e-4)

    monkeypatch.setitem(families.FAMILIES, "mean_pool", declare_mean_pool(
        plugins, export=False, no_export_reason="the recipe declares none"))
    with pytest.raises(ModelError) as refused:
        export_model(model_path, "saved_model", tmp_path / "refused", log=lambda _: None)
    assert str(refused.value) == (f"{model_path}: model.type mean_pool: this family declares "
                                  f"no export (the recipe declares none)")
    assert not (tmp_path / "refused").exists()


@pytest.mark.slow
def test_recipe_add_a_feature_type(plugins, monkeypatch, chime_demo, tmp_path):
    monkeypatch.setitem(names.FEATURE_TYPES, "frame_energy", f"{plugins}:FrameEnergyFeatures")
    monkeypatch.setitem(families.FAMILIES, "mean_pool", declare_mean_pool(plugins, inputs=("frame_energy",)))
    config = tagging_config(tmp_path, chime_demo[0], features="type: frame_energy, frame_length: 800",
                            model="type: mean_pool", rows="{mixing: none}")
    loaded = load_config(config)
    assert loaded.features.spec().frame_length == 800
    table = pd.read_csv(run_experiment(loaded, tmp_path / "run", log=lambda _: None))
    assert len(table) == 1
    cached = list((tmp_path / "cache").glob("frame_energy*-*/*.npy"))
    # a 4 s chunk is one 4 s window of 80 frames (800-sample frames at 16 kHz)
    assert cached and np.load(cached[0]).shape == (1, 80, 1)


def test_recipe_add_a_mixing_mode(plugins, monkeypatch, tmp_path):
    from kerastag.mixing import MixingSpec, apply_mixing

    monkeypatch.setitem(names.MIXING_MODES, "add_partner", names.MixingMode(
        uses_alpha=True, mixes_labels=False, mix=f"{plugins}:add_partner"))
    config = write_config(tmp_path / "m.yaml", "name: m\nrows: [{mixing: add_partner, alpha: 0.5}]\n")
    row = load_config(config).rows[0]
    assert row.name == "add_partner_a0.5"
    x = np.ones((4, 3, 2), np.float32)
    y = np.eye(4, dtype=np.float32)
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    mixed_x, mixed_y = next(iter(apply_mixing(batches, MixingSpec(row.mixing, row.alpha), seed=0)))
    lam = mixed_x.numpy()[:, 0, 0] - 1  # x_i + lam * x_j with all-ones inputs
    assert np.all((lam >= 0) & (lam <= 1)) and not np.allclose(lam, 0)
    np.testing.assert_array_equal(mixed_y.numpy(), y)  # labels preserved


@pytest.mark.slow
def test_recipe_add_a_task(plugins, monkeypatch, tmp_path):
    monkeypatch.setitem(names.TASKS, "constant", f"{plugins}:ConstantTask")
    config = load_config(write_config(tmp_path / "t.yaml", "name: t\ntask: constant\nrows: [{}]\n"))
    table = run_experiment(config, tmp_path / "run", log=lambda _: None)
    assert table.read_text().splitlines()[0] == "unit,mean_score"
    for fold in (0, 1):
        for kind, suffix in (("models", "keras"), ("histories", "csv"), ("predictions", "npz")):
            assert (tmp_path / "run" / kind / "none" / f"fold{fold}.{suffix}").is_file()
    assert evaluate_run(tmp_path / "run", log=lambda _: None)[0].read_text() == table.read_text()


def invoke(*args):
    from click.testing import CliRunner

    from kerastag.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def toy_layout_folder(chime_demo, folder: Path) -> Path:
    """The demo's development chunks as the recipe's ``tsv_folds`` layout (copies: a test
    may damage one), alternating folds 0 and 1."""
    import shutil

    from kerastag.datasets import read_dataset
    from recipe_plugins import TSV_COLUMNS, TSV_INDEX

    folder.mkdir()
    lines = [TSV_COLUMNS]
    for index, clip in enumerate(read_dataset(chime_demo[0]).subset("development")):
        shutil.copy(clip.path, folder / f"clip{index:02d}.wav")
        lines.append(f"clip{index:02d}.wav\t{' '.join(clip.tags)}\t{index % 2}")
    (folder / TSV_INDEX).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.mark.slow
def test_recipe_add_a_dataset_layout(plugins, monkeypatch, chime_demo, tmp_path, train_crnn_row):
    import soundfile as sf

    from kerastag.errors import ConfigError
    from kerastag.formats.model_file import read_model_info

    monkeypatch.setitem(names.LAYOUTS, "tsv_folds", f"{plugins}:TSV_FOLDS")
    folder = toy_layout_folder(chime_demo, tmp_path / "toy")
    n_clips = len((folder / "clips.tsv").read_text().splitlines()) - 1
    checked = invoke("data", "check", folder)  # the layout detected by its looks_like
    assert checked.exit_code == 0, checked.output
    assert checked.output.splitlines()[0] == "layout: tsv_folds"
    assert f"development {n_clips}" in checked.output
    assert f"folds:  0: {(n_clips + 1) // 2}, 1: {n_clips // 2}" in checked.output
    original = (folder / "clip01.wav").read_bytes()
    sf.write(folder / "clip01.wav", np.zeros(8000, np.float32), 8000)  # not its audio format
    damaged = invoke("data", "check", folder, "--layout", "tsv_folds")
    assert damaged.exit_code == 1 and "problems (1):" in damaged.output
    assert "clip01.wav" in damaged.output.split("problems (1):")[1]
    (folder / "clip01.wav").write_bytes(original)

    too_far = write_config(tmp_path / "folds.yaml", f"name: f\ndataset: {{layout: tsv_folds, "
                                                     f"path: {folder}}}\ntraining: {{folds: [2]}}\n")
    with pytest.raises(ConfigError, match=r"training.folds\[0\]: expected an integer >= 0 and "
                                          r"<= 1, got 2"):  # the layout declares 2 folds
        load_config(too_far)
    (tmp_path / "run").mkdir()
    model = train_crnn_row(tmp_path / "run", dataset=f"{{layout: tsv_folds, path: {folder}}}",
                           model="{filters: [4, 4, 4, 8, 8, 8, 8], rnn_units: 4}",
                           training="{batch_size: 8, epochs: 1, patience: 1, folds: [0], "
                                    "verbose: 0}")
    table = pd.read_csv(tmp_path / "run" / "out" / "table.csv")
    assert len(table) == 1 and table["avg"].between(0, 1).all()
    from kerastag.datasets import read_dataset

    assert read_model_info(model).classes == tuple(read_dataset(folder).classes)


@pytest.mark.slow
def test_recipe_add_an_engine(plugins, monkeypatch, tmp_path):
    from kerastag.errors import ConfigError

    monkeypatch.setitem(names.TASKS, "constant", f"{plugins}:ConstantTask")
    monkeypatch.setitem(names.ENGINES, "reverse", names.EngineEntry(
        engine=f"{plugins}:ReverseEngine", settings=f"{plugins}:ReverseSettings"))
    text = "name: t\ntask: constant\nrows: [{}]\n"
    local_config = write_config(tmp_path / "local.yaml", text)
    local = run_experiment(load_config(local_config), tmp_path / "local", log=lambda _: None)
    log: list[str] = []
    reverse = load_config(write_config(
        tmp_path / "reverse.yaml", text + "execution: {engine: reverse, reverse: {label: back}}\n"))
    table = run_experiment(reverse, tmp_path / "reverse", log=log.append)
    assert [line for line in log if line.startswith("back: ")] == ["back: none fold1",
                                                                   "back: none fold0"]
    assert table.read_bytes() == local.read_bytes()
    for fold in ("fold0", "fold1"):
        ours, theirs = (np.load(tmp_path / run / "predictions" / "none" / f"{fold}.npz")
                        for run in ("reverse", "local"))
        np.testing.assert_allclose(ours["scores"], theirs["scores"], atol=1e-6)
    # the CLI offers it, its section is optional, and a finished run resumes on it
    resumed = invoke("run", local_config, "--out", tmp_path / "local", "--engine", "reverse")
    assert resumed.exit_code == 0, resumed.output
    assert resumed.output.count("finished earlier, skipped") == 2
    for section, message in (("{engine: reverse, reverse: {lable: x}}",
                              "execution.reverse.lable: unknown key; did you mean 'label'?"),
                             ("{engine: reverse, reverse: {label: ' '}}",
                              "execution.reverse.label: expected a non-empty string"),
                             ("{engine: revers}", "execution.engine: unknown value 'revers' "
                                                  "(did you mean 'reverse'?)")):
        bad = write_config(tmp_path / "bad.yaml", text + f"execution: {section}\n")
        with pytest.raises(ConfigError) as info:
            load_config(bad)
        assert message in str(info.value)


@pytest.mark.slow
def test_recipe_add_an_export_format(plugins, monkeypatch, chime_demo, tmp_path, train_crnn_row):
    import json

    import soundfile as sf

    from kerastag.errors import ModelError
    from kerastag.export import export_model, load_export
    from kerastag.export.build import deploy_model_for

    monkeypatch.setitem(names.EXPORT_FORMATS, "keras_file", names.ExportFormat(
        artifact="model.keras", convert=f"{plugins}:write_keras_file",
        signature=f"{plugins}:keras_file_signature", runtime=f"{plugins}:load_keras_file"))
    (tmp_path / "run").mkdir()
    model = train_crnn_row(tmp_path / "run", dataset=f"{{path: {chime_demo[0]}}}",
                           model="{filters: [4, 4, 4, 8, 8, 8, 8], rnn_units: 4}",
                           training="{batch_size: 8, epochs: 1, patience: 1, folds: [0], "
                                    "verbose: 0}")
    out = tmp_path / "exported"
    result = invoke("export", model, "--format", "keras_file", "--out", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["metadata.json", "model.keras"]
    metadata = json.loads((out / "metadata.json").read_text())
    assert (metadata["export_format"], metadata["artifact"]) == ("keras_file", "model.keras")
    assert {o["name"] for o in metadata["signature"]["outputs"]} == {"clip", "localization",
                                                                       "attention"}
    assert metadata["signature"]["inputs"][0]["shape"] == [None, None]
    chunks = sorted((chime_demo[0] / "chunks").glob("*.16kHz.wav"))[:2]
    audio = np.concatenate([sf.read(path, dtype="float32")[0] for path in chunks])[None]
    exported = load_export(out)(audio)  # 8 s: two windows
    deployed, _ = deploy_model_for(model)
    expected = deployed(audio)
    for name in ("clip", "localization", "attention"):
        want = np.asarray(expected[name])
        assert exported[name].shape == want.shape and want.shape[0] == 1
        np.testing.assert_allclose(exported[name], want, atol=1e-6, err_msg=name)
    with pytest.raises(ModelError, match="unknown value 'keras_fil' \\(did you mean 'keras_file'"):
        export_model(model, "keras_fil", tmp_path / "nowhere")
