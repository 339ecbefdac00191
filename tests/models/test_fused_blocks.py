"""The CRNN's fast conv blocks compute what the plain Keras blocks compute."""

import keras
import numpy as np
import pytest

from kerastag.models.crnn import build_crnn_attloc
from kerastag.models.layers import FusedBatchNormalization


def test_fused_batch_norm_trains_and_infers_like_keras_batch_norm():
    x = np.random.default_rng(0).normal(2.0, 3.0, (6, 5, 4, 3)).astype("float32")
    plain, fused = keras.layers.BatchNormalization(momentum=0.9), FusedBatchNormalization(momentum=0.9)
    plain.build(x.shape)
    fused.build(x.shape)
    fused.set_weights([np.array([1.5, -0.5, 2.0], "float32"), np.array([0.1, 0.2, -0.3], "float32"),
                       *plain.get_weights()[2:]])
    plain.set_weights(fused.get_weights())
    np.testing.assert_allclose(fused(x, training=True), plain(x, training=True), atol=2e-5)
    for ours, theirs in zip(fused.get_weights(), plain.get_weights()):  # moving statistics too
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    plain.set_weights(fused.get_weights())  # inference is Keras' own code: exactly equal
    np.testing.assert_array_equal(fused(x, training=False), plain(x, training=False))


def test_fused_batch_norm_falls_back_on_other_ranks():
    x = np.random.default_rng(1).normal(size=(8, 6)).astype("float32")
    plain, fused = keras.layers.BatchNormalization(), FusedBatchNormalization()
    np.testing.assert_array_equal(fused(x, training=True), plain(x, training=True))


@pytest.mark.parametrize("training", [False, True])
def test_fused_blocks_are_the_same_function_as_the_plain_blocks(training):
    """Plain weights copied into the fused model (the conv biases folded into the
    BatchNorm's moving mean for inference; training mode removes them anyway)."""
    arguments = dict(n_mels=16, n_frames=10, filters=[4, 8], rnn_units=4, dropout=0.0,
                     input_batchnorm=False)
    keras.utils.set_random_seed(3)
    plain = build_crnn_attloc(**arguments)
    fused = build_crnn_attloc(**arguments, fused_blocks=True)
    rng = np.random.default_rng(3)
    for layer in plain.layers:
        target = fused.get_layer(layer.name)
        weights = layer.get_weights()
        if layer.name.endswith("_conv"):
            kernel, bias = weights
            layer.set_weights([kernel, rng.normal(size=bias.shape).astype("float32")])
            target.set_weights([kernel])
        elif layer.name.endswith("_bn"):
            gamma, beta, mean, variance = weights
            gamma = rng.uniform(-2, 2, gamma.shape).astype("float32")  # negative scales too
            layer.set_weights([gamma, beta, mean, variance])
            bias = plain.get_layer(layer.name.replace("_bn", "_conv")).get_weights()[1]
            target.set_weights([gamma, beta, mean - bias, variance])
        elif weights:
            target.set_weights(weights)
    x = rng.normal(size=(3, 10, 16)).astype("float32")
    np.testing.assert_allclose(fused(x, training=training), plain(x, training=training), atol=1e-5)
    assert fused.count_params() == plain.count_params() - (4 + 8 + 8 + 8)  # no conv biases


def test_a_fused_crnn_reloads_safely(tmp_path):
    model = build_crnn_attloc(n_mels=16, n_frames=10, filters=[4], rnn_units=4, fused_blocks=True)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert type(reloaded.get_layer("block1_bn")).__name__ == "FusedBatchNormalization"
    x = np.random.default_rng(0).normal(size=(2, 10, 16)).astype("float32")
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))
