"""Tests for the paper-A CRNN (kerastag.models.crnn); its layers are in test_layers.py.

Models are tiny (2 filters per block, 4 GRU units, a few frames) so the suite runs on CPU.
"""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerastag.errors import ModelError
from kerastag.models.crnn import FRAME_OUTPUTS, build_crnn_attloc, count_blocks, frame_level_model


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


def test_gated_variant_has_linear_and_sigmoid_grus():
    model = _tiny(n_mels=16, gated_rnn=True)
    names = {layer.name for layer in model.layers}
    assert {"bigru_linear", "bigru_gate", "bigru_gated"} <= names and "bigru" not in names
    assert model.get_layer("bigru_linear").forward_layer.activation is keras.activations.linear
    assert model.get_layer("bigru_gate").forward_layer.activation is keras.activations.sigmoid


@pytest.mark.slow
def test_gated_variant_trains_one_step():
    keras.utils.set_random_seed(2)
    model = _tiny(n_mels=16, gated_rnn=True)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    before = [w.copy() for w in model.get_layer("bigru_gate").get_weights()]
    loss = model.train_on_batch(_logmel(4, 12, 16), np.ones((4, 3), "float32"))
    assert np.isfinite(loss)
    after = model.get_layer("bigru_gate").get_weights()
    assert any(not np.allclose(b, a) for b, a in zip(before, after))


@pytest.mark.slow
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

def _move_batchnorm_statistics(model: keras.Model, seed: int) -> None:
    """Set every BatchNormalization's moving statistics off their init, as training would,
    so a reload that dropped them would change the outputs."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([gamma, beta, rng.normal(0, 0.5, mean.shape).astype("float32"),
                               rng.uniform(0.5, 2.0, variance.shape).astype("float32")])


@pytest.mark.slow
def test_reloads_in_fresh_process_without_custom_objects(model_harness, tmp_path):
    """Both variants and the frame-level sub-model go through the shared model harness
    in one fresh interpreter."""
    keras.utils.set_random_seed(4)
    x = _logmel(3, 20, 16, seed=4)
    models = {}
    for name, gated in (("crnn", False), ("crnn_gated", True)):
        model = _tiny(n_mels=16, gated_rnn=gated)
        _move_batchnorm_statistics(model, seed=4)
        models[name] = (model, x)
    models["crnn_gated_frames"] = (frame_level_model(models["crnn_gated"][0]), x)
    reloaded = model_harness.round_trip(models, tmp_path)
    assert reloaded["crnn"]["classes"]["attention"] == "kerastag.models.layers.NormalizeOverTime"
    assert reloaded["crnn"]["classes"]["clip"] == "kerastag.models.layers.WeightedSumOverTime"
    frames = reloaded["crnn_gated_frames"]["outputs"]
    assert sorted(frames) == sorted(FRAME_OUTPUTS)
    assert frames["attention"].shape == (3, 20, 3)
    np.testing.assert_allclose(frames["attention"].sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(frames["clip"], reloaded["crnn_gated"]["outputs"]["output"], atol=1e-6)


def test_frame_level_model_rejects_other_models():
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="clip")])
    with pytest.raises(ModelError, match="localization, attention"):
        frame_level_model(other)
    with pytest.raises(ModelError, match="received str"):
        frame_level_model("crnn.keras")


@pytest.mark.slow
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
    name, _, value = quoted.partition("=")
    with pytest.raises(ModelError, match=re.escape(f"{name}: expected")) as info:
        build_crnn_attloc(**kwargs)
    assert str(info.value).endswith(f"got {value}")
    assert "\n" not in str(info.value)


def test_count_blocks_rejects_too_few_mels():
    with pytest.raises(ModelError, match="n_mels: expected an integer >= 2, got 1"):
        count_blocks(1)
