"""The in-graph feature front ends (kerastag.models.frontends) and the deploy layers
(kerastag.models.deploy) against the numpy code they stand in for.

Each front end must give its spec's ``compute`` on the demo's audio within
``frontends.FEATURE_TOLERANCE[spec.name]``; the windowing layers must give the shapes and
values of ``kerastag predict``'s numpy windowing (paper A: 4 s windows; paper B:
``excerpts.predict_clips``). Everything here runs eagerly on a few clips: fast.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kerastag.audio import load_audio
from kerastag.errors import ModelError
from kerastag.features.dcase2016 import MfccFrames
from kerastag.features.specs import LogMelA, TimeFrequencyB, Wave
from kerastag.models import frontends
from kerastag.models.deploy import AudioWindows, FeatureWindows, JoinWindows, WindowMean
from kerastag.models.frontends import (LogMelFrontEnd, TimeFrequencyFrontEnd, WaveFrontEnd,
                                       front_end_for)
from kerastag.tasks.classification.excerpts import predict_clips, window_starts

# The specs of the papers (defaults) and some with other parameters.
DEFAULT_SPECS = {
    "logmel_a": LogMelA(),
    "logmel": TimeFrequencyB(kind="logmel"),
    "mfcc": TimeFrequencyB(kind="mfcc"),
    "wave": Wave(),
}
OTHER_SPECS = {
    "logmel_a_64_fmin50": LogMelA(n_mels=64, fmin=50.0, fmax=7000.0, log_offset=1e-6),
    "logmel_a_512_hop256": LogMelA(n_fft=512, hop_length=256, n_mels=40),
    "logmel_no_top_db": TimeFrequencyB(kind="logmel", n_mels=32, fmin=50.0, top_db=None,
                                       delta_width=5),
    "logmel_22k": TimeFrequencyB(kind="logmel", sample_rate=22050, top_db=60.0),
    "mfcc_small": TimeFrequencyB(kind="mfcc", n_mfcc=20, mfcc_bands=40, fmax=16000.0,
                                 top_db=None, delta_width=5),
    "wave_22k": Wave(sample_rate=22050),
}
SPECS = {**DEFAULT_SPECS, **OTHER_SPECS}


@functools.lru_cache(maxsize=None)
def _layer(case: str) -> keras.layers.Layer:
    """One built front end per spec case, shared by the tests (building costs the mel
    filterbank and the DFT kernels)."""
    layer = front_end_for(SPECS[case])
    layer.build((None, None))
    return layer


def _in_graph(case: str, waves) -> np.ndarray:
    """The front end's output for a batch of equal-length waves, in the numpy layout:
    ``(batch, frames, mels)``, ``(batch, 3, bands, frames)`` or ``(batch, samples)``."""
    out = keras.ops.convert_to_numpy(_layer(case)(np.stack(waves).astype("float32")))
    return np.moveaxis(out, -1, 1) if out.ndim == 4 else out


def _max_difference(case: str, wave: np.ndarray) -> float:
    spec = SPECS[case]
    expected = spec.compute(wave)
    got = _in_graph(case, [wave])[0]
    assert got.shape == expected.shape, (case, got.shape, expected.shape)
    assert np.all(np.isfinite(got))
    return float(np.max(np.abs(got.astype(np.float64) - expected)))


def _demo_files(chime_demo, fsd_demo, sample_rate: int) -> list:
    """Three demo recordings for a spec: CHiME-Home chunks (16 kHz) for paper A's rate,
    FSDKaggle2018 clips (44.1 kHz; a short, a middle and a long one) otherwise."""
    if sample_rate == 16000:
        return sorted((chime_demo[0] / "chunks").glob("*.16kHz.wav"))[:3]
    clips = sorted((fsd_demo[0] / "FSDKaggle2018.audio_train").glob("*.wav"))
    by_length = sorted(clips, key=lambda p: p.stat().st_size)
    return [by_length[0], by_length[len(by_length) // 2], by_length[-1]]


@pytest.fixture(scope="module")
def demo_audio(chime_demo, fsd_demo):
    """``{sample_rate: [waves]}`` of the demo files, read at each spec's rate."""
    rates = {spec.sample_rate for spec in SPECS.values()}
    return {rate: [load_audio(path, sample_rate=rate)
                   for path in _demo_files(chime_demo, fsd_demo, rate)] for rate in rates}


# ------------------------------------------------------------------ front ends vs numpy


@pytest.mark.parametrize("case", list(SPECS))
def test_front_end_equals_the_numpy_features_on_demo_audio(case, demo_audio):
    spec = SPECS[case]
    worst = max(_max_difference(case, wave) for wave in demo_audio[spec.sample_rate])
    print(f"{case}: max |front end - numpy| on demo audio = {worst:.3g}")
    assert worst <= frontends.FEATURE_TOLERANCE[spec.name], (case, worst)


def test_front_end_for_picks_the_layer_of_each_spec():
    assert isinstance(front_end_for(LogMelA()), LogMelFrontEnd)
    assert isinstance(front_end_for(TimeFrequencyB(kind="mfcc")), TimeFrequencyFrontEnd)
    assert isinstance(front_end_for(Wave(), name="wave_in"), WaveFrontEnd)
    assert front_end_for(Wave(), name="wave_in").name == "wave_in"
    layer = front_end_for(OTHER_SPECS["mfcc_small"])
    assert layer.spec == OTHER_SPECS["mfcc_small"]  # every parameter reaches the layer
    assert set(frontends.FEATURE_TOLERANCE) == {"logmel_a", "logmel", "mfcc", "wave"}


def test_front_end_for_refuses_a_table1_baseline_input():
    with pytest.raises(ModelError, match="'mfcc_frames' has no in-graph front end") as error:
        front_end_for(MfccFrames())
    assert "\n" not in str(error.value)
    assert "logmel_a" in str(error.value)  # names the features that have one


@pytest.mark.parametrize("case, samples", [
    ("logmel_a", 300),         # shorter than one 1024-sample window: one padded frame
    ("logmel_a", 1024),        # exactly one window
    ("logmel_a", 1),
    ("logmel", 1000),          # shorter than min_samples (8 hops): padded to 9 frames
    ("mfcc", 3527),
    ("logmel_no_top_db", 500),
    ("wave", 1),
    ("wave", 7),
])
def test_short_clips_are_padded_like_the_numpy_features(case, samples):
    wave = 0.3 * np.random.default_rng(samples).standard_normal(samples).astype("float32")
    assert _max_difference(case, wave) <= frontends.FEATURE_TOLERANCE[SPECS[case].name]


def test_short_clip_frame_counts():
    assert _in_graph("logmel_a", [np.zeros(300)]).shape == (1, 1, 128)
    assert _in_graph("logmel", [np.zeros(1000)]).shape == (1, 3, 64, 9)
    assert _in_graph("wave", [np.zeros(0)]).shape == (1, 1)  # an empty clip: one sample


def test_empty_clip_is_one_padded_window():
    """A recording with no samples gives what the numpy features give for it."""
    for case in ("logmel_a", "logmel", "wave"):
        assert _max_difference(case, np.zeros(0, np.float32)) <= 1e-4  # float32 ulp of -100 dB


def test_silence_gives_the_log_floor():
    silence = np.zeros(16000, np.float32)
    logmel = _in_graph("logmel_a", [silence])[0]
    np.testing.assert_allclose(logmel, np.log(np.float32(1e-8)), rtol=0, atol=1e-6)
    np.testing.assert_allclose(logmel, LogMelA().compute(silence), rtol=0, atol=1e-6)
    other = OTHER_SPECS["logmel_a_64_fmin50"]  # log_offset 1e-6
    np.testing.assert_allclose(_in_graph("logmel_a_64_fmin50", [silence])[0],
                               np.log(other.log_offset), rtol=0, atol=1e-6)

    silence = np.zeros(44100, np.float32)
    for case in ("logmel", "logmel_no_top_db"):
        features = _in_graph(case, [silence])[0]
        np.testing.assert_allclose(features[0], -100.0, rtol=0, atol=1e-4)  # amin 1e-10
        np.testing.assert_allclose(features[1:], 0.0, rtol=0, atol=1e-4)   # flat: no deltas
        np.testing.assert_allclose(features, SPECS[case].compute(silence), rtol=0, atol=1e-4)
    mfcc = _in_graph("mfcc", [silence])[0]
    np.testing.assert_allclose(mfcc, TimeFrequencyB(kind="mfcc").compute(silence),
                               rtol=0, atol=frontends.FEATURE_TOLERANCE["mfcc"])
    np.testing.assert_array_equal(_in_graph("wave", [silence])[0], silence)


def test_wave_front_end_clips_to_full_scale():
    wave = np.array([-3.0, -1.0, -0.25, 0.0, 0.5, 1.0, 2.0], np.float32)
    np.testing.assert_array_equal(_in_graph("wave", [wave])[0], Wave().compute(wave))
    np.testing.assert_array_equal(_in_graph("wave", [wave])[0], np.clip(wave, -1, 1))


def test_a_batch_is_scored_recording_by_recording(demo_audio):
    """Two recordings of one length in one batch give each its own features (the top_db
    floor is per recording, not per batch)."""
    first, second = (w[:44100] for w in demo_audio[44100][1:3])
    quiet = 1e-3 * second
    batch = _in_graph("logmel", [first, quiet])
    for got, wave in zip(batch, (first, quiet)):
        expected = TimeFrequencyB(kind="logmel").compute(wave)
        assert np.max(np.abs(got - expected)) <= frontends.FEATURE_TOLERANCE["logmel"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(samples=st.integers(min_value=1, max_value=6000), seed=st.integers(0, 2**16),
       level=st.sampled_from([1e-4, 0.05, 0.9]),
       case=st.sampled_from(["logmel_a", "logmel_a_512_hop256", "logmel_no_top_db", "wave"]))
def test_any_length_matches_the_numpy_features(samples, seed, level, case):
    """Random lengths around the window sizes and levels down to -80 dBFS."""
    spec = SPECS[case]
    samples = samples * (spec.sample_rate // 16000 if spec.sample_rate > 16000 else 1)
    wave = (level * np.random.default_rng(seed).standard_normal(samples)).astype("float32")
    wave = np.clip(wave, -1, 1)
    assert _max_difference(case, wave) <= frontends.FEATURE_TOLERANCE[spec.name]


# ------------------------------------------------------------------ paper A's windowing


@pytest.mark.parametrize("samples, windows", [(1, 1), (64000, 1), (64001, 2), (150000, 3)])
def test_audio_windows_split_and_pad_like_predict(samples, windows):
    audio = np.random.default_rng(samples).uniform(-1, 1, (2, samples)).astype("float32")
    out = keras.ops.convert_to_numpy(AudioWindows(64000)(audio))
    assert out.shape == (2 * windows, 64000)
    padded = np.zeros((2, windows * 64000), np.float32)
    padded[:, :samples] = audio
    np.testing.assert_array_equal(out, padded.reshape(2 * windows, 64000))


@pytest.mark.parametrize("samples, windows", [(1, 1), (64000, 1), (64001, 2), (150000, 3)])
def test_merge_windows_max_and_concat(samples, windows):
    rng = np.random.default_rng(windows)
    audio = np.zeros((2, samples), np.float32)
    clip = rng.uniform(size=(2 * windows, 7)).astype("float32")
    frames = rng.uniform(size=(2 * windows, 124, 7)).astype("float32")
    merged = keras.ops.convert_to_numpy(JoinWindows("max")([clip, audio]))
    np.testing.assert_array_equal(merged, clip.reshape(2, windows, 7).max(axis=1))
    laid = keras.ops.convert_to_numpy(JoinWindows("concat")([frames, audio]))
    assert laid.shape == (2, windows * 124, 7)
    for k in range(2):  # recording k's windows, end to end
        np.testing.assert_array_equal(laid[k], np.concatenate(frames[k * windows:(k + 1) * windows]))


def test_merge_windows_refuses_an_unknown_mode():
    with pytest.raises(ModelError, match="mode must be 'max' or 'concat', got 'mean'"):
        JoinWindows("mean")


# ------------------------------------------------------------------ paper B's windowing


def _position_sensitive_model(input_shape, classes=3, seed=0) -> keras.Model:
    """A fixed linear map of the whole window: any change of a window's content, order or
    padding changes its output."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    dense = keras.layers.Dense(classes, name="dense")
    outputs = dense(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(seed)
    dense.set_weights([rng.standard_normal(w.shape).astype("float32") for w in dense.get_weights()])
    return model


def _deployed_windows(model, length, hop, pad_value, rank: int) -> keras.Model:
    """features -> FeatureWindows -> model -> WindowMean, as the classifier deploy model."""
    features = keras.Input((None,) if rank == 1 else (model.input.shape[1], None, model.input.shape[3]))
    windows = FeatureWindows(length, hop, pad_value)(features)
    return keras.Model(features, WindowMean(length, hop)([model(windows), features]))


@pytest.mark.parametrize("frames", [1, 5, 12, 13, 16, 17, 20, 31])
def test_feature_windows_and_window_mean_equal_predict_clips(frames):
    """length 12, hop 4: shorter clips padded with the per-channel pad_value, exact fits
    (no extra window: its weight is 0), and end-aligned extra windows."""
    length, hop, pad_value = 12, 4, [-100.0, 1.0, 2.0]
    model = _position_sensitive_model((6, length, 3))
    deployed = _deployed_windows(model, length, hop, pad_value, rank=3)
    rng = np.random.default_rng(frames)
    clips = rng.standard_normal((2, 3, 6, frames)).astype("float32")  # numpy layout
    expected = predict_clips(model, list(clips), length=length, hop=hop, pad_value=pad_value)
    got = keras.ops.convert_to_numpy(deployed(np.moveaxis(clips, 1, -1)))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("samples", [1, 99, 100, 101, 150, 175, 333])
def test_wave_windows_equal_predict_clips(samples):
    length, hop = 100, 50
    model = _position_sensitive_model((length,))
    deployed = _deployed_windows(model, length, hop, 0.0, rank=1)
    clip = np.random.default_rng(samples).uniform(-1, 1, samples).astype("float32")
    expected = predict_clips(model, [clip], length=length, hop=hop, pad_value=0.0)
    got = keras.ops.convert_to_numpy(deployed(clip[None]))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(n_time=st.integers(1, 60), length=st.integers(1, 20), hop=st.integers(1, 20))
def test_feature_windows_cover_the_clip_as_window_starts(n_time, length, hop):
    """The windows FeatureWindows cuts are those of excerpts.window_starts, and
    WindowMean counts each once (a window holding its start index averages to the mean
    of the starts)."""
    ramp = np.arange(n_time, dtype="float32")[None]                   # (1, n_time)
    windows = keras.ops.convert_to_numpy(FeatureWindows(length, hop, -1.0)(ramp))
    starts = window_starts(n_time, length, hop)
    # the regular windows and, always, the end-aligned one (weight 0 when it repeats one)
    regular = (max(n_time, length) - length) // hop + 1
    assert windows.shape == (regular + 1, length)
    np.testing.assert_array_equal(np.unique(windows[:, 0]), starts.astype("float32"))
    for window in windows:
        expected = np.arange(window[0], window[0] + length)
        expected[expected >= n_time] = -1.0                            # pad_value
        np.testing.assert_array_equal(window, expected)
    per_window = windows[:, :1]                                         # (windows, 1)
    mean = keras.ops.convert_to_numpy(WindowMean(length, hop)([per_window, ramp]))
    np.testing.assert_allclose(mean, [[starts.mean()]], rtol=1e-6)


# ------------------------------------------------------------------ .keras round trip


def _tagger_like(window: int) -> keras.Model:
    audio = keras.Input((None,), name="audio")
    windows = AudioWindows(window, name="windows")(audio)
    logmel = LogMelFrontEnd(n_mels=16, name="front_end")(windows)       # (bw, frames, 16)
    frames = keras.layers.Dense(3, activation="sigmoid", name="frames")(logmel)
    clip = keras.layers.GlobalMaxPooling1D(name="pool")(frames)
    return keras.Model(audio, {
        "clip": JoinWindows("max", name="clip")([clip, audio]),
        "localization": JoinWindows("concat", name="localization")([frames, audio]),
    })


def _classifier_like(kind: str) -> keras.Model:
    audio = keras.Input((None,), name="audio")
    features = TimeFrequencyFrontEnd(kind=kind, sample_rate=16000, n_mels=16, n_mfcc=8,
                                     mfcc_bands=16, delta_width=5, name="front_end")(audio)
    windows = FeatureWindows(20, 10, [-100.0, 0.0, 0.0], name="windows")(features)
    x = keras.layers.GlobalAveragePooling2D()(windows)
    per_window = keras.layers.Dense(4, activation="softmax")(x)
    return keras.Model(audio, WindowMean(20, 10, name="probabilities")([per_window, features]))


def _wave_classifier() -> keras.Model:
    audio = keras.Input((None,), name="audio")
    wave = WaveFrontEnd(sample_rate=16000, name="front_end")(audio)
    windows = FeatureWindows(800, 400, 0.0, name="windows")(wave)
    x = keras.layers.Reshape((800, 1))(windows)
    x = keras.layers.Conv1D(4, 16, strides=8, activation="relu")(x)
    per_window = keras.layers.Dense(4, activation="softmax")(keras.layers.GlobalAveragePooling1D()(x))
    return keras.Model(audio, WindowMean(800, 400, name="probabilities")([per_window, wave]))


@pytest.mark.parametrize("build", [lambda: _tagger_like(16000), lambda: _classifier_like("logmel"),
                                   lambda: _classifier_like("mfcc"), _wave_classifier],
                         ids=["tagger", "logmel", "mfcc", "wave"])
def test_keras_round_trip_without_custom_objects(build, tmp_path):
    keras.utils.set_random_seed(0)
    model = build()
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 37000)).astype("float32")
    before = model(audio)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    after = reloaded(audio)
    before = before if isinstance(before, dict) else {"out": before}
    after = after if isinstance(after, dict) else {"out": after}
    assert set(before) == set(after)
    for key in before:
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(after[key]),
                                      keras.ops.convert_to_numpy(before[key]), err_msg=key)
    for layer in model.layers:  # every kerastag layer's config round trip
        if type(layer).__module__.startswith("kerastag"):
            clone = type(layer).from_config(layer.get_config())
            assert clone.get_config() == layer.get_config()
            assert type(reloaded.get_layer(layer.name)) is type(layer)
