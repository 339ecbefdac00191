"""Tests for kerastag's custom layers (kerastag.models.layers): NormalizeOverTime and
WeightedSumOverTime (paper A's attention pooling) and GroupedConv2D (paper B's ResNeXt
and DPN), each through the shared model harness."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerastag.errors import ModelError
from kerastag.models.layers import GroupedConv2D, NormalizeOverTime, WeightedSumOverTime


def _numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


# --- NormalizeOverTime and WeightedSumOverTime -------------------------------------------------

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
                                   WeightedSumOverTime(axis=2, name="w"),
                                   GroupedConv2D(6, 3, groups=3, padding="same", name="g")])
def test_layer_config_round_trip(model_harness, layer):
    model_harness.check_layer_config(layer)
    clone = type(layer).from_config(layer.get_config())
    if isinstance(layer, GroupedConv2D):
        assert (clone.filters, clone.groups, clone.padding) == (6, 3, "same")
    else:
        assert clone.axis == 2
    if isinstance(layer, NormalizeOverTime):
        assert clone.epsilon == 1e-3  # a non-default epsilon survives


@pytest.mark.parametrize(("make", "quoted"), [
    (lambda: NormalizeOverTime(axis=0), "axis: expected a non-zero integer (not the batch axis), got 0"),
    (lambda: NormalizeOverTime(epsilon=0.0), "epsilon: expected a finite number > 0, got 0.0"),
    (lambda: WeightedSumOverTime(axis="1"), "axis: expected a non-zero integer (not the batch axis), got '1'"),
])
def test_layer_bad_arguments(make, quoted):
    with pytest.raises(ModelError, match="^" + re.escape(quoted) + "$"):
        make()


def test_layer_bad_input_shapes():
    with pytest.raises(ModelError, match="axis=3"):
        NormalizeOverTime(axis=3).build((None, 5, 2))
    with pytest.raises(ModelError, match="list"):
        WeightedSumOverTime().build((None, 5, 2))


# --- GroupedConv2D: the same convolution as keras' Conv2D, without Keras' XLA detour ----------

@pytest.mark.parametrize("strides, padding", [(1, "same"), (2, "valid")])
def test_grouped_conv_matches_keras_conv2d_outputs_and_gradients(strides, padding):
    x = tf.constant(np.random.default_rng(0).standard_normal((2, 9, 11, 8)).astype("float32"))
    reference = keras.layers.Conv2D(12, 3, strides=strides, padding=padding, groups=4, use_bias=True)
    grouped = GroupedConv2D(12, 3, strides=strides, padding=padding, groups=4, use_bias=True)
    reference.build(x.shape)
    grouped.build(x.shape)
    grouped.set_weights(reference.get_weights())

    def value_and_grads(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x) ** 2)
        return [loss, *tape.gradient(loss, [x, *layer.trainable_variables])]

    for ours, theirs in zip(value_and_grads(grouped), value_and_grads(reference)):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-4)


# --- every layer of this module through the shared model harness ------------------------------

@pytest.mark.slow
def test_layers_reload_in_fresh_process(model_harness, tmp_path):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    scores = keras.Input((None, 3))
    values = keras.Input((None, 3))
    weights = NormalizeOverTime(name="attention")(scores)
    pooling = keras.Model([scores, values], WeightedSumOverTime(name="clip")([values, weights]))
    pooling_x = [rng.uniform(size=(2, 5, 3)).astype("float32"),
                 rng.uniform(size=(2, 5, 3)).astype("float32")]
    image = keras.Input((6, 6, 4))
    conv = keras.Model(image, GroupedConv2D(4, 3, groups=2, name="g")(image))
    conv_x = rng.standard_normal((2, 6, 6, 4)).astype("float32")
    reloaded = model_harness.round_trip({"pooling": (pooling, pooling_x), "grouped": (conv, conv_x)},
                                        tmp_path)
    assert reloaded["grouped"]["classes"]["g"] == "kerastag.models.layers.GroupedConv2D"
    assert reloaded["pooling"]["classes"]["attention"] == "kerastag.models.layers.NormalizeOverTime"
    assert reloaded["pooling"]["outputs"]["output"].shape == (2, 3)


def test_every_registered_kerastag_class_has_its_own_name():
    """Keras registers ``kerastag>ClassName``: a second class of the same name silently
    takes the first one's place, and files saved with the first no longer load."""
    import ast
    from pathlib import Path

    import kerastag

    registered = {}
    for path in sorted(Path(kerastag.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                    "register_keras_serializable" in ast.unparse(d) for d in node.decorator_list):
                registered.setdefault(node.name, []).append(str(path.name))
    assert len(registered) > 10
    clashes = {name: files for name, files in registered.items() if len(files) > 1}
    assert not clashes
