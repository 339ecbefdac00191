"""GroupedConv2D: the same convolution as keras' Conv2D, without Keras' XLA detour."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerastag.models.layers import GroupedConv2D


@pytest.mark.parametrize("strides, padding", [(1, "same"), (2, "valid")])
def test_matches_keras_conv2d_outputs_and_gradients(strides, padding):
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


def test_round_trips_through_a_keras_file(tmp_path):
    inputs = keras.Input((6, 6, 4))
    model = keras.Model(inputs, GroupedConv2D(4, 3, groups=2, name="g")(inputs))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.get_layer("g")) is GroupedConv2D and loaded.get_layer("g").groups == 2
    x = np.ones((1, 6, 6, 4), "float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
