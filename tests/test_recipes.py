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
    return ModelFamily("mean_pool", f"{plugins}:build_mean_pool_tagger", inputs=inputs,
                       **supports)


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
