"""Tests for the paper-A CRNN (kerastag.models.crnn) and its layers (kerastag.models.layers).

Models are tiny (2 filters per block, 4 GRU units, a few frames) so the suite runs on CPU.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerastag.errors import ModelError
from kerastag.models.crnn import FRAME_OUTPUTS, build_crnn_attloc, count_blocks, frame_level_model
from kerastag.models.layers import NormalizeOverTime, WeightedSumOverTime

REPO_ROOT = Path(__file__).resolve().parents[1]


def _tiny(n_mels: int = 16, n_classes: int = 3, **kwargs) -> keras.Model:
    kwargs.setdefault("filters", (2,))
    return build_crnn_attloc(n_mels=n_mels, n_classes=n_classes, rnn_units=4, **kwargs)


def _logmel(batch: int, frames: int, n_mels: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, frames, n_mels)).astype("float32")


def _numpy(tensors):
    if isinstance(tensors, dict):
        return {key: keras.ops.convert_to_numpy(value) for key, value in tensors.items()}
    return keras.ops.convert_to_numpy(tensors)


def _conv_filters(model: keras.Model) -> list[int]:
    return [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


# --- count_blocks and the block layout -------------------------------------------------------

@pytest.mark.parametrize(("n_mels", "blocks"), [(128, 7), (64, 6), (40, 5), (3, 1), (2, 1)])
def test_count_blocks(n_mels, blocks):
    assert count_blocks(n_mels) == blocks


@pytest.mark.parametrize("n_mels", [128, 64, 40])
def test_clip_output_shape_and_range(n_mels):
    keras.utils.set_random_seed(0)
    model = _tiny(n_mels=n_mels, n_classes=7, filters=(2, 2, 2, 2, 2, 2, 2))
    assert len(_conv_filters(model)) == count_blocks(n_mels)
    assert model.get_layer("to_sequence").output.shape == (None, None, 2)  # frequency pooled to 1
    clip = _numpy(model(_logmel(3, 10, n_mels), training=False))
    assert clip.shape == (3, 7)
    assert np.all((clip >= 0) & (clip <= 1))


@pytest.mark.parametrize(("filters", "n_mels", "expected"), [
    ((2, 3), 16, [2, 3, 3, 3]),  # fewer than blocks: the last one is repeated
    ((2, 3, 4, 5, 6, 7), 8, [2, 3, 4]),  # more than blocks: the first ones are used
])
def test_filters_fit_the_block_count(filters, n_mels, expected):
    assert _conv_filters(_tiny(n_mels=n_mels, filters=filters)) == expected


def test_default_model_has_paper_layout():
    model = build_crnn_attloc(rnn_units=4)
    assert _conv_filters(model) == [8, 16, 32, 64, 64, 64, 64]
    assert model.input.shape == (None, None, 128)
    assert model.output.shape == (None, 7)
    assert model.get_layer("block1_pool").pool_size == (1, 2)


def test_fixed_frame_count_sets_input_shape():
    model = _tiny(n_mels=8, n_frames=124)
    assert model.input.shape == (None, 124, 8)
    assert model.get_layer("localization").output.shape == (None, 124, 3)


def test_variable_frame_count():
    model = _tiny(n_mels=128, filters=(2, 2, 2, 2, 2, 2, 2))
    for frames in (124, 200):
        frame = _numpy(frame_level_model(model)(_logmel(2, frames, 128), training=False))
        assert frame["clip"].shape == (2, 3)
        assert frame["localization"].shape == (2, frames, 3)
        assert frame["attention"].shape == (2, frames, 3)


# --- ATT-LOC heads ---------------------------------------------------------------------------

def test_attention_sums_to_one_and_clip_is_weighted_sum():
    keras.utils.set_random_seed(1)
    model = _tiny(n_mels=16)
    x = _logmel(4, 30, 16)
    frame = _numpy(frame_level_model(model)(x, training=False))
    assert list(frame) == list(FRAME_OUTPUTS)
    np.testing.assert_allclose(frame["attention"].sum(axis=1), 1.0, atol=1e-5)
    assert np.all(frame["attention"] >= 0)
    expected = (frame["localization"] * frame["attention"]).sum(axis=1)
    np.testing.assert_allclose(frame["clip"], expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(_numpy(model(x, training=False)), frame["clip"], atol=1e-6)


def test_gated_variant_builds_and_trains_one_step():
    keras.utils.set_random_seed(2)
    model = _tiny(n_mels=16, gated_rnn=True)
    names = {layer.name for layer in model.layers}
    assert {"bigru_linear", "bigru_gate", "bigru_gated"} <= names and "bigru" not in names
    assert model.get_layer("bigru_linear").forward_layer.activation is keras.activations.linear
    assert model.get_layer("bigru_gate").forward_layer.activation is keras.activations.sigmoid
    model.compile(optimizer="adam", loss="binary_crossentropy")
    before = [w.copy() for w in model.get_layer("bigru_gate").get_weights()]
    loss = model.train_on_batch(_logmel(4, 12, 16), np.ones((4, 3), "float32"))
    assert np.isfinite(loss)
    after = model.get_layer("bigru_gate").get_weights()
    assert any(not np.allclose(b, a) for b, a in zip(before, after))


def test_loss_decreases_on_separable_problem():
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, size=(64, 2)).astype("float32")
    x = rng.standard_normal((64, 12, 8)).astype("float32")
    x[:, 3:9, :4] += 2.0 * y[:, None, 0:1]  # class 0: energy in the low band
    x[:, 3:9, 4:] += 2.0 * y[:, None, 1:2]  # class 1: energy in the high band
    model = _tiny(n_mels=8, n_classes=2, filters=(4,), dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    initial = model.evaluate(x, y, batch_size=64, verbose=0)
    model.fit(x, y, batch_size=16, epochs=8, verbose=0)
    final = model.evaluate(x, y, batch_size=64, verbose=0)
    assert final < 0.8 * initial


# --- saving and sub-models -------------------------------------------------------------------

_RELOAD_SCRIPT = textwrap.dedent("""
    import sys
    import keras
    import numpy as np
    import kerastag.models.crnn as crnn
    model = keras.saving.load_model(sys.argv[1])
    x = np.load(sys.argv[2])
    frame = crnn.frame_level_model(model)(x, training=False)
    outputs = {key: keras.ops.convert_to_numpy(value) for key, value in frame.items()}
    outputs["model"] = keras.ops.convert_to_numpy(model(x, training=False))
    np.savez(sys.argv[3], **outputs)
""")


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A tiny trained model saved to .keras, its input batch and its outputs."""
    keras.utils.set_random_seed(4)
    model = _tiny(n_mels=16, gated_rnn=True)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x = _logmel(3, 20, 16, seed=4)
    model.train_on_batch(x, np.ones((3, 3), "float32"))  # moves BN statistics off their init
    path = tmp_path_factory.mktemp("crnn") / "crnn.keras"
    model.save(path)
    return path, x, _numpy(model(x, training=False))


def test_reload_in_fresh_process_without_custom_objects(saved_model, tmp_path):
    path, x, expected = saved_model
    np.save(tmp_path / "x.npy", x)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-c", _RELOAD_SCRIPT, str(path), str(tmp_path / "x.npy"), str(tmp_path / "out.npz")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"rc={result.returncode}\n{result.stdout[-1000:]}\n{result.stderr[-3000:]}"
    outputs = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(outputs["model"], expected, atol=1e-6)
    np.testing.assert_allclose(outputs["clip"], expected, atol=1e-6)
    assert outputs["attention"].shape == (3, 20, 3)


def test_frame_level_model_on_reloaded_model(saved_model):
    path, x, expected = saved_model
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded.get_layer("attention"), NormalizeOverTime)
    assert isinstance(reloaded.get_layer("clip"), WeightedSumOverTime)
    frame = _numpy(frame_level_model(reloaded)(x, training=False))
    np.testing.assert_allclose(frame["clip"], expected, atol=1e-6)
    np.testing.assert_allclose(frame["attention"].sum(axis=1), 1.0, atol=1e-5)


def test_frame_level_model_rejects_other_models():
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="clip")])
    with pytest.raises(ModelError, match="localization, attention"):
        frame_level_model(other)
    with pytest.raises(ModelError, match="received str"):
        frame_level_model("crnn.keras")


def test_builds_and_trains_under_mirrored_strategy():
    strategy = tf.distribute.MirroredStrategy(devices=["/cpu:0"])
    with strategy.scope():
        model = _tiny(n_mels=8)
        model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(_logmel(4, 10, 8), np.ones((4, 3), "float32"), batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


# --- argument checks -------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "quoted"), [
    ({"n_mels": 1}, "n_mels=1"),
    ({"n_mels": 64.0}, "n_mels=64.0"),
    ({"n_classes": 0}, "n_classes=0"),
    ({"n_frames": 0}, "n_frames=0"),
    ({"filters": ()}, "filters=()"),
    ({"filters": (8, 0)}, "filters=(8, 0)"),
    ({"filters": "8"}, "filters='8'"),
    ({"rnn_units": 0}, "rnn_units=0"),
    ({"dropout": 1.0}, "dropout=1.0"),
    ({"dropout": -0.1}, "dropout=-0.1"),
])
def test_bad_arguments_raise_model_error(kwargs, quoted):
    with pytest.raises(ModelError, match=re.escape(f"received {quoted}")) as info:
        build_crnn_attloc(**kwargs)
    assert "\n" not in str(info.value)


def test_count_blocks_rejects_too_few_mels():
    with pytest.raises(ModelError, match="n_mels=1"):
        count_blocks(1)


# --- layers ----------------------------------------------------------------------------------

def test_normalize_over_time():
    layer = NormalizeOverTime(name="attention")
    scores = np.array([[[1.0, 0.0], [3.0, 0.0]]], "float32")  # (batch 1, frames 2, classes 2)
    weights = _numpy(layer(scores))
    np.testing.assert_allclose(weights[0, :, 0], [0.25, 0.75], rtol=1e-6)
    np.testing.assert_array_equal(weights[0, :, 1], [0.0, 0.0])  # all-zero scores: no NaN


def test_weighted_sum_over_time():
    values = np.array([[[0.2, 1.0], [0.6, 0.0]]], "float32")
    weights = np.array([[[0.5, 0.25], [0.5, 0.75]]], "float32")
    np.testing.assert_allclose(_numpy(WeightedSumOverTime()([values, weights])), [[0.4, 0.25]], rtol=1e-6)


@pytest.mark.parametrize("layer", [NormalizeOverTime(axis=2, epsilon=1e-3, name="n"),
                                   WeightedSumOverTime(axis=2, name="w")])
def test_layer_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer)).axis == 2


@pytest.mark.parametrize(("make", "quoted"), [
    (lambda: NormalizeOverTime(axis=0), "axis=0"),
    (lambda: NormalizeOverTime(epsilon=0.0), "epsilon=0.0"),
    (lambda: WeightedSumOverTime(axis="1"), "axis='1'"),
])
def test_layer_bad_arguments(make, quoted):
    with pytest.raises(ModelError, match=re.escape(quoted)):
        make()


def test_layer_bad_input_shapes():
    with pytest.raises(ModelError, match="axis=3"):
        NormalizeOverTime(axis=3).build((None, 5, 2))
    with pytest.raises(ModelError, match="list"):
        WeightedSumOverTime().build((None, 5, 2))
