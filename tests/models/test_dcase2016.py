"""Table 1's baseline networks and the challenge's GMM: shapes, layer maths, files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from kerastag.errors import ModelError


@pytest.fixture(scope="module")
def dcase():
    from kerastag.models import dcase2016

    return dcase2016


def test_frame_context_stacks_valid_windows_and_appends_the_noise_estimate(dcase, model_harness):
    x = np.arange(2 * 10 * 3, dtype="float32").reshape(2, 10, 3)
    layer = dcase.FrameContext(4, hop=2, noise_frames=2)
    out = np.asarray(layer(x))
    assert out.shape == (2, 4, 4 * 3 + 3) == layer.compute_output_shape((2, 10, 3))
    np.testing.assert_array_equal(out[1, 2, :12], x[1, 4:8].reshape(-1))
    np.testing.assert_array_equal(out[:, 3, 12:], x[:, :2].mean(axis=1))
    model_harness.check_layer_config(layer)


def test_split_and_merge_windows_average_per_clip(dcase):
    x = np.random.default_rng(0).normal(size=(3, 20, 2)).astype("float32")
    windows = np.asarray(dcase.SplitWindows(5, hop=5)(x))
    assert windows.shape == (3 * 4, 5, 2)
    np.testing.assert_array_equal(windows[5], x[1, 5:10])
    merged = np.asarray(dcase.MergeWindows()([windows.mean(axis=1), x]))
    np.testing.assert_allclose(merged, x.mean(axis=1), atol=1e-6)


def test_attloc_pooling_formula(dcase):
    rng = np.random.default_rng(1)
    p, d = rng.uniform(size=(2, 6, 3)), rng.uniform(size=(2, 6, 3))
    a = rng.uniform(size=(2, 6, 1))
    out = np.asarray(dcase.AttLocPooling()([p.astype("float32"), d.astype("float32"),
                                            a.astype("float32")]))
    np.testing.assert_allclose(out, (p * d * a).sum(1) / d.sum(1), rtol=1e-5)


@pytest.mark.parametrize("builder, shape, first", [
    ("build_dae_dnn", (399, 24), "dnn_context"),
    ("build_cgrnn_imd", (249, 297), "windows"),
    ("build_attloc_imd", (249, 297), "localization"),
])
def test_paper_size_shapes(dcase, builder, shape, first):
    model = getattr(dcase, builder)(shape, 7)
    assert model.output.shape == (None, 7)
    x = np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")
    out = np.asarray(model.predict(x, verbose=0))
    assert out.shape == (2, 7) and np.all((out >= 0) & (out <= 1))
    layer = model.get_layer(first)
    if builder == "build_dae_dnn":
        assert layer.output.shape[-1] == 2208  # 24 * 91 + 24, the published DNN input
    if builder == "build_cgrnn_imd":
        assert layer.output.shape == (None, 33, 256)
    if builder == "build_attloc_imd":
        assert layer.output.shape == (None, 249, 7)


def test_dae_autoencoder_shares_the_encoder(dcase):
    model = dcase.build_dae_dnn((120, 24), 7, context=11)
    autoencoder = dcase.dae_autoencoder(model)
    assert autoencoder.output.shape == (None, 120 - 6, 24)
    assert autoencoder.get_layer("dae_bottleneck") is model.get_layer("dae_bottleneck")


@pytest.mark.parametrize("call, message", [
    (lambda d: d.build_dae_dnn((50, 24), 7), "input frames: expected an integer >= 97"),
    (lambda d: d.build_cgrnn_imd((249, 297), 7, n_mels=300), "n_mels"),
    (lambda d: d.build_cgrnn_imd((249, 297), 7, imd_kernel=400), "imd_kernel"),
    (lambda d: d.FrameContext(0), "context"),
    (lambda d: d.build_dae_dnn((399, 24), 7, hidden=(1000, 0)), r"hidden\[1\]"),
    (lambda d: d.build_attloc_imd((249, 297), 7, rnn_layers=0), "rnn_layers"),
])
def test_bad_arguments_are_model_errors(dcase, call, message):
    with pytest.raises(ModelError, match=message):
        call(dcase)


@pytest.mark.slow
def test_baselines_reload_in_a_fresh_process(dcase, model_harness, tmp_path):
    rng = np.random.default_rng(0)
    slim = {"filters": 8, "rnn_units": 8, "rnn_layers": 1, "dense_units": 16}
    cases = {
        "dae_dnn": (dcase.build_dae_dnn((120, 24), 7, context=11, hidden=(16, 8),
                                        input_mean=np.zeros(24), input_variance=np.ones(24)),
                    rng.normal(size=(2, 120, 24)).astype("float32")),
        "cgrnn_imd": (dcase.build_cgrnn_imd((60, 297), 7, **slim),
                      rng.normal(size=(2, 60, 297)).astype("float32")),
        "attloc_imd": (dcase.build_attloc_imd((None, 297), 7, **slim),
                       rng.normal(size=(2, 60, 297)).astype("float32")),
    }
    model_harness.round_trip(cases, tmp_path)


def _frames(seed=0, clips=12):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(clips, 40, 3))
    y = np.zeros((clips, 2))
    y[: clips // 2, 0] = 1
    y[::2, 1] = 1
    x[y[:, 0] > 0] += 2.0
    return x, y


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_gmm_log_likelihood_equals_scikit_learn(covariance):
    from sklearn.mixture import GaussianMixture

    from kerastag.models.gmm import Gmm

    x, _ = _frames()
    flat = x.reshape(-1, 3)
    mixture = GaussianMixture(3, covariance_type=covariance, random_state=0).fit(flat)
    ours = Gmm(mixture.weights_, mixture.means_, mixture.covariances_)
    np.testing.assert_allclose(ours.log_likelihood(flat), mixture.score_samples(flat), atol=1e-9)


def test_gmm_scores_separate_the_tags_and_the_file_round_trips(tmp_path):
    from kerastag.formats.model_file import ModelInfo, load_model, read_model_info, save_model
    from kerastag.metrics import eer_per_tag
    from kerastag.models.gmm import TagGmms

    x, y = _frames()
    model = TagGmms.fit(x, y, n_components=2, seed=0)
    scores = model.predict(x)
    assert scores.shape == (12, 2) and eer_per_tag(y, scores)[0] == 0.0
    info = ModelInfo(task="tagging", family="dcase2016_gmm", classes=("a", "b"),
                     features={"type": "mfcc_frames"}, chunk_seconds=4.0)
    path = save_model(model, tmp_path / "fold0.gmm.json", info)
    assert read_model_info(path) == info
    np.testing.assert_array_equal(load_model(path).predict(x), scores)
    document = json.loads(path.read_text())
    assert document["format"] == "kerastag-gmm" and len(document["tags"]) == 2
    assert np.asarray(document["tags"][0]["present"]["means"]).shape == (2, 3)


def test_gmm_refuses_a_tag_without_chunks_and_damaged_files(tmp_path):
    from kerastag.formats.model_file import load_model
    from kerastag.models.gmm import TagGmms

    x, y = _frames()
    y[:, 1] = 0
    with pytest.raises(ModelError, match="tag 1: 0 training frames with it"):
        TagGmms.fit(x, y, n_components=2)
    bad = tmp_path / "fold0.gmm.json"
    bad.write_text('{"format": "kerastag-gmm", "version": 1, "kerastag": {}, "tags": []}')
    with pytest.raises(ModelError, match="fold0.gmm.json: not a valid kerastag-gmm document"):
        load_model(bad)
    bad.write_text("{oops")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_model(bad)


def test_predict_scores_a_gmm_from_audio_window_by_window(tmp_path):
    """``kerastag predict`` on a ``.gmm.json``: MFCC frames of each 4 s window (the
    family's input), the windows' mean log-likelihood ratios, the maximum over windows;
    a tag is present at a ratio >= 0."""
    from kerastag.config import features_from_data
    from kerastag.formats.model_file import ModelInfo, save_model
    from kerastag.models.gmm import TagGmms
    from kerastag.families import FAMILIES
    from kerastag.predict import predict_files

    features = dict(FAMILIES["dcase2016_gmm"].default_input)
    spec = features_from_data(features).spec()
    rng = np.random.default_rng(0)
    quiet, loud = (rng.normal(scale=s, size=(6, 64000)).astype(np.float32) for s in (0.01, 0.3))
    x = np.stack([spec.compute(w) for w in np.concatenate([quiet, loud])])
    y = np.zeros((12, 2))
    y[6:, 0] = 1
    y[::2, 1] = 1
    gmm = TagGmms.fit(x, y, n_components=2)
    path = save_model(gmm, tmp_path / "fold0.gmm.json",
                      ModelInfo(task="tagging", family="dcase2016_gmm", classes=("a", "b"),
                                features=features, chunk_seconds=4.0))
    wav = tmp_path / "a.wav"  # 6 s: two windows, the second zero-padded
    audio = np.concatenate([quiet[0], loud[0][:32000]])
    sf.write(wav, audio, 16000, subtype="FLOAT")
    frame = predict_files(path, [wav])
    windows = [audio[:64000], np.concatenate([audio[64000:], np.zeros(32000, np.float32)])]
    expected = gmm.predict(np.stack([spec.compute(w) for w in windows])).max(axis=0)
    np.testing.assert_allclose(frame[["a", "b"]].to_numpy()[0], expected, atol=1e-4)
    assert frame["tags"][0].split() == [c for c, v in zip("ab", expected) if v >= 0]
