"""Tests for the paper-B level-1 networks (kerastag.models.networks and its builders).

ResNeXt and DPN are built at tiny widths; Xception and ResNet-50 (keras.applications) have
no width knob and are built at full size on small inputs. Every network of ``NETWORKS``
trains one step and goes through the shared model harness (``.keras`` save, reload of all
of them in ONE fresh interpreter after ``import kerastag``, no ``custom_objects``).
"""

from __future__ import annotations

import re
from pathlib import Path

import keras
import numpy as np
import pytest

from kerastag.errors import ModelError
from kerastag.models.applications import build_resnet50, build_xception
from kerastag.models.dpn import build_dpn
from kerastag.models.networks import NETWORKS, build_network, input_kind_of
from kerastag.models.resnext import build_resnext, resnext_widths
from kerastag.models.wave import build_wave_front_end, build_wave_model

N_CLASSES = 5
TF_SHAPE = (32, 48, 3)  # (mels, frames, channels), reduced from the paper's (64, 150, 3)
WAVE_SHAPE = (8820,)  # 0.2 s at 44.1 kHz -> 19 frames of 450 samples
TINY_RESNEXT = dict(blocks=(1, 1, 1, 1), cardinality=2, bottleneck_width=2, stem_filters=8)
TINY_DPN = dict(init_features=8, k_r=8, groups=2, k_sec=(1, 1, 1, 1), inc_sec=(2, 2, 2, 2),
                base_width=8)
TINY_FRONT = dict(bands=8, context_kernel=3)

# case id -> (network name, input shape, builder kwargs). ResNet-50 gets min_size=64: at
# 32 x 32 its last stage is 1 x 1, and BatchNormalization over a batch of 2 single values
# makes the one-step gradient explode (NaN predictions), a test artefact.
CASES = {
    "xception": ("xception", TF_SHAPE, {}),
    "resnet50": ("resnet50", TF_SHAPE, {"min_size": 64}),
    "resnext50": ("resnext50", TF_SHAPE, TINY_RESNEXT),
    "se_resnext50": ("se_resnext50", TF_SHAPE, dict(TINY_RESNEXT, se_ratio=4)),
    "dpn68": ("dpn68", TF_SHAPE, TINY_DPN),
    "dpn92": ("dpn92", TF_SHAPE, TINY_DPN),
    "wave_resnext": ("wave_resnext", WAVE_SHAPE, dict(TINY_RESNEXT, **TINY_FRONT)),
    "resnet50_wave": ("resnet50", WAVE_SHAPE, dict(TINY_FRONT, min_size=64)),
    "dpn68_wave": ("dpn68", WAVE_SHAPE, dict(TINY_DPN, **TINY_FRONT)),
}


def _inputs(shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((2,) + tuple(shape)).astype("float32")


def _train_one_step(model: keras.Model, x: np.ndarray) -> float:
    model.compile(optimizer="sgd", loss="categorical_crossentropy", run_eagerly=True)
    y = keras.utils.to_categorical([0, 1], N_CLASSES)
    return float(model.fit(x, y, batch_size=len(x), epochs=1, verbose=0).history["loss"][0])


@pytest.fixture(scope="module")
def built() -> dict:
    """Every case built (not trained): ``{case: (model, x)}``."""
    keras.utils.set_random_seed(0)
    return {case: (build_network(name, shape, N_CLASSES, **kwargs), _inputs(shape))
            for case, (name, shape, kwargs) in CASES.items()}


@pytest.fixture(scope="module")
def trained(built, model_harness, tmp_path_factory) -> dict:
    """Every case trained one step and predicted, then through the model harness."""
    results = {}
    for case, (model, x) in built.items():
        loss = _train_one_step(model, x)
        # model(x) without training=: inference must be the default (Keras' Resizing layer
        # would leak training=True into the backbone; Resize2D does not).
        results[case] = dict(loss=loss, prediction=keras.ops.convert_to_numpy(model(x)))
    reloaded = model_harness.round_trip(built, tmp_path_factory.mktemp("networks"))
    for case, result in results.items():
        result.update(reloaded=reloaded[case]["outputs"]["output"], classes=reloaded[case]["classes"])
    return results


def test_the_cases_cover_every_registered_network():
    assert {name for name, _, _ in CASES.values()} == set(NETWORKS)


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_network_trains_saves_and_reloads_in_fresh_process(trained, case):
    result = trained[case]
    assert np.isfinite(result["loss"])
    assert result["prediction"].shape == (2, N_CLASSES)
    np.testing.assert_allclose(result["prediction"].sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(result["reloaded"], result["prediction"], atol=1e-5)


@pytest.mark.slow
def test_reloaded_networks_keep_kerastag_layers(trained):
    def names_of(case, cls):
        return [name for name, c in trained[case]["classes"].items() if c == cls]

    assert [name.rpartition("/")[2] for name in
            names_of("xception", "kerastag.models.applications.Resize2D")] == ["resize"]
    assert names_of("resnext50", "kerastag.models.layers.GroupedConv2D"), \
        "ResNeXt's grouped convolutions came back as another class"
    assert names_of("dpn92", "kerastag.models.layers.GroupedConv2D")


def test_inputs_are_adapted_to_the_backbones(built):
    def backbone_input(case):
        return tuple(built[case][0].get_layer("backbone").input.shape[1:])

    assert backbone_input("xception") == (71, 71, 3)  # resized to >= 71
    assert backbone_input("resnet50") == (64, 64, 3)  # min_size=64
    assert backbone_input("resnext50") == TF_SHAPE
    assert backbone_input("resnet50_wave") == (64, 64, 3)  # (8, 19, 3) resized
    assert backbone_input("wave_resnext") == (8, 19, 3)  # (bands, frames, scales)
    assert "front_end" in [layer.name for layer in built["wave_resnext"][0].layers]
    assert "channel_map" not in [layer.name for layer in built["resnet50"][0].layers]


@pytest.mark.parametrize("builder, kwargs, expected", [
    (build_resnext, {}, 25.0e6),  # ResNeXt-50 (32x4d), Xie et al. 2017, Table 1
    (build_resnext, {"se": True}, 27.56e6),  # SE-ResNeXt-50, Hu et al. 2018
    (build_dpn, {}, 12.61e6),  # DPN-68, Chen et al. 2017
])
def test_full_size_parameter_counts_match_the_papers(builder, kwargs, expected):
    model = builder((224, 224, 3), 1000, **kwargs)
    count = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert abs(count - expected) / expected < 0.01


def test_resnext_widths_follow_the_paper():
    assert resnext_widths(4, 32, 4, 64) == [(128, 256), (256, 512), (512, 1024), (1024, 2048)]
    assert resnext_widths(2, 2, 2, 8) == [(4, 32), (8, 64)]


def test_wave_front_end_gives_a_time_frequency_map():
    paper = build_wave_front_end((66150,))  # 1.5 s at 44.1 kHz, hop 450 -> 147 frames
    assert tuple(paper.output.shape) == (None, 32, 147, 3)
    cropped = build_wave_front_end(WAVE_SHAPE, bands=4, kernel_sizes=(5,), strides=(3,), hop=90)
    assert tuple(cropped.output.shape) == (None, 4, 98, 1)
    x = _inputs(WAVE_SHAPE)
    assert keras.ops.convert_to_numpy(cropped(x)).shape == (2, 4, 98, 1)


def test_unknown_network_lists_the_valid_names():
    with pytest.raises(ModelError, match="unknown network 'vgg16'") as error:
        build_network("vgg16", TF_SHAPE, N_CLASSES)
    assert all(name in str(error.value) for name in NETWORKS)


@pytest.mark.parametrize("name, shape, kwargs", [
    ("xception", TF_SHAPE, {}),
    ("resnet50", TF_SHAPE, {}),
    ("resnext50", TF_SHAPE, TINY_RESNEXT),
    ("dpn68", TF_SHAPE, TINY_DPN),
    ("wave_resnext", WAVE_SHAPE, dict(TINY_RESNEXT, **TINY_FRONT)),
])
def test_imagenet_string_is_refused(name, shape, kwargs):
    with pytest.raises(ModelError, match="weights='imagenet' is not downloaded"):
        build_network(name, shape, N_CLASSES, weights="imagenet", **kwargs)


@pytest.fixture(scope="module")
def resnext_weights(tmp_path_factory) -> tuple[Path, keras.Model]:
    """A tiny ResNeXt and the weights file of its backbone."""
    model = build_resnext(TF_SHAPE, N_CLASSES, **TINY_RESNEXT)
    path = tmp_path_factory.mktemp("weights") / "tiny_resnext.weights.h5"
    model.get_layer("backbone").save_weights(path)
    return path, model


def test_matching_weights_file_is_loaded(resnext_weights):
    path, source = resnext_weights
    model = build_resnext(TF_SHAPE, 3, weights=path, **TINY_RESNEXT)
    x = _inputs(TF_SHAPE)
    expected = source.get_layer("backbone")(x, training=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.get_layer("backbone")(x)),
                               keras.ops.convert_to_numpy(expected), atol=1e-6)


@pytest.mark.parametrize("build", [
    lambda path: build_dpn(TF_SHAPE, N_CLASSES, weights=path, **TINY_DPN),
    lambda path: build_resnext(TF_SHAPE, N_CLASSES, weights=path, **dict(TINY_RESNEXT, se=True)),
    lambda path: build_resnet50(TF_SHAPE, N_CLASSES, weights=path),
], ids=["dpn68", "se_resnext", "resnet50"])
def test_mismatching_weights_file_names_the_file(resnext_weights, build):
    path, _ = resnext_weights
    with pytest.raises(ModelError, match="does not match") as error:
        build(path)
    assert str(path) in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_weights_file(tmp_path):
    missing = tmp_path / "nothing.weights.h5"
    with pytest.raises(ModelError, match="weights file not found"):
        build_resnext(TF_SHAPE, N_CLASSES, weights=missing, **TINY_RESNEXT)


@pytest.mark.parametrize("build, message", [
    (lambda: build_resnext(TF_SHAPE, N_CLASSES, cardinality=0), "cardinality: expected an integer >= 1, got 0"),
    (lambda: build_resnext(TF_SHAPE, N_CLASSES, blocks=()), "blocks: expected a non-empty sequence of integers >= 1, got ()"),
    (lambda: build_resnext(TF_SHAPE, N_CLASSES, se="yes"), "se='yes'"),
    (lambda: build_resnext((32, 48), N_CLASSES), "input_shape=(32, 48)"),
    (lambda: build_resnext(TF_SHAPE, 0), "n_classes: expected an integer >= 1, got 0"),
    (lambda: build_resnext(TF_SHAPE, N_CLASSES, dropout=1.5), "dropout: expected a finite number >= 0 and < 1, got 1.5"),
    (lambda: build_dpn(TF_SHAPE, N_CLASSES, variant="dpn1"), "unknown DPN variant 'dpn1'"),
    (lambda: build_dpn(TF_SHAPE, N_CLASSES, k_r=10, groups=4), "k_r=10"),
    (lambda: build_xception(TF_SHAPE, N_CLASSES, min_size=32), "min_size: expected an integer >= 71, got 32"),
    (lambda: build_resnet50(TF_SHAPE, N_CLASSES, weights=42), "weights=42"),
    (lambda: build_wave_model("vgg", WAVE_SHAPE, N_CLASSES), "unknown wave backbone 'vgg'"),
    (lambda: build_wave_model("resnet50", WAVE_SHAPE, N_CLASSES, k_r=8), "['k_r']"),
    (lambda: build_wave_front_end(WAVE_SHAPE, strides=(1, 7, 10)), "strides=(1, 7, 10)"),
    (lambda: build_wave_front_end((100,)), "input_shape=(100,)"),
    (lambda: build_network("resnext50", TF_SHAPE, N_CLASSES, k_r=8), "['k_r']"),
    (lambda: build_network("wave_resnext", TF_SHAPE, N_CLASSES), "input_shape=(32, 48, 3)"),
    (lambda: input_kind_of(WAVE_SHAPE, "time_frequency"), "input_shape=(8820,)"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_bad_arguments_raise_model_error_quoting_the_value(build, message):
    with pytest.raises(ModelError, match=re.escape(message)):
        build()
