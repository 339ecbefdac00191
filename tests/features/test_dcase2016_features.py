"""The Table 1 baselines' inputs: MFCC frames and log-mel + IMD from the stereo file."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from kerastag.config import ExperimentConfig, RowConfig, load_config
from kerastag.config.sections import DatasetConfig, LogMelImdFeatures
from kerastag.errors import AudioError, ConfigError, DatasetError, FeatureError
from kerastag.features import LogMelA, LogMelImd, MfccFrames, extract, spec_from_dict


def _stereo(seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    t = np.arange(n) / 16000
    left = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(n)
    right = 0.1 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(n)
    return np.stack([left, right]).astype(np.float32)


def test_imd_is_the_magnitude_difference_of_the_two_channels():
    import librosa

    stereo = _stereo()
    out = LogMelImd().compute(stereo)
    assert out.shape == (249, 40 + 257) and out.dtype == np.float32
    magnitude = [np.abs(librosa.stft(channel.astype(np.float64), n_fft=512, hop_length=256,
                                     window="hamming", center=False)) for channel in stereo]
    np.testing.assert_allclose(out[:, 40:], (magnitude[0] - magnitude[1]).T, atol=1e-4)
    log_mel = LogMelA(n_fft=512, hop_length=256, n_mels=40).compute(stereo.mean(axis=0))
    np.testing.assert_array_equal(out[:, :40], log_mel)


def test_imd_is_exactly_zero_for_equal_channels():
    mono = _stereo()[0]
    out = LogMelImd().compute(np.stack([mono, mono]))
    assert np.all(out[:, 40:] == 0.0)
    assert np.any(out[:, :40] != 0.0)


def test_logmel_imd_refuses_a_mono_waveform():
    with pytest.raises(FeatureError, match=r"stereo waveform of shape \(2, samples\)"):
        LogMelImd().compute(np.zeros(16000, np.float32))


def test_mfcc_frames_equal_librosa_mfcc():
    import librosa

    y = _stereo()[0]
    gmm_input = MfccFrames(n_mfcc=14, include_c0=False, center=True)
    expected = librosa.feature.mfcc(y=y, sr=16000, n_mfcc=15, n_fft=320, hop_length=160,
                                    window="hamming", center=True, pad_mode="constant",
                                    n_mels=40)[1:].T
    out = gmm_input.compute(y)
    assert out.shape == (401, 14) == (gmm_input.n_frames(len(y)), 14)
    np.testing.assert_allclose(out, expected, atol=2e-3)
    dae_input = MfccFrames()
    assert dae_input.compute(y).shape == (dae_input.n_frames(len(y)), 24) == (399, 24)


@pytest.mark.parametrize("params, message", [
    ({"n_mfcc": 40, "include_c0": False}, "n_mfcc must be <= n_mels - 1 without c0"),
    ({"window": "blackman"}, "window: expected one of hamming, hann"),
    ({"include_c0": "yes"}, "include_c0: expected true or false"),
    ({"frame_ms": 0}, "frame_ms"),
])
def test_mfcc_frames_bad_parameters(params, message):
    with pytest.raises(FeatureError, match=message):
        MfccFrames(**params)


def test_new_specs_round_trip_by_name():
    for spec in (MfccFrames(n_mfcc=14, include_c0=False), LogMelImd(n_mels=64, n_fft=1024)):
        assert spec_from_dict(spec.to_dict()) == spec


def test_stereo_extraction_checks_the_channels(tmp_path):
    from kerastag.datasets.chime_home import AUDIO_FORMATS

    good, mono = tmp_path / "good.48kHz.wav", tmp_path / "mono.48kHz.wav"
    sf.write(good, np.repeat(_stereo(), 3, axis=1).T, 48000)
    sf.write(mono, np.zeros(4 * 48000, np.float32), 48000)
    result = extract([good], LogMelImd(), cache_dir=tmp_path / "cache", workers=1,
                     progress=False, expected=AUDIO_FORMATS["48k"])
    assert result.arrays[0].shape == (249, 297)
    with pytest.raises(AudioError) as caught:
        extract([mono], LogMelImd(), cache_dir=tmp_path / "cache", workers=1, progress=False,
                expected=AUDIO_FORMATS["48k"])
    message = str(caught.value)
    assert "\n" not in message and str(mono) in message and "expected 2 channel(s)" in message


def test_rows_take_their_family_input_or_their_own_section():
    from kerastag.tasks.tagging.task import TaggingTask

    config = ExperimentConfig(name="x", rows=(
        RowConfig(mixing="mixup", alpha=1.0),
        RowConfig(network="cgrnn_imd", id="cgrnn_imd"),
        RowConfig(network="dcase2016_gmm", id="gmm"),
        RowConfig(network="attloc_imd", id="attloc", features=LogMelImdFeatures(n_mels=64)),
        RowConfig(network="dae_dnn", id="dae", features="mfcc_frames")))
    task = TaggingTask(config)
    specs = [task.row_features(row).spec() for row in config.rows]
    assert specs[0] == LogMelA()
    assert specs[1] == LogMelImd()
    assert specs[2] == MfccFrames(n_mfcc=14, include_c0=False, center=True)
    assert specs[3] == LogMelImd(n_mels=64)
    assert specs[4] == MfccFrames()


def test_row_feature_sections_and_training_overrides_from_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: c\nrows:\n"
                    "  - {network: cgrnn_imd, id: a, features: {type: logmel_imd, n_mels: 64},"
                    " training: {epochs: 21, batch_size: 100}}\n")
    config = load_config(path)
    row = config.rows[0]
    assert row.features == LogMelImdFeatures(n_mels=64)
    assert config.training_of(row).epochs == 21 and config.training_of(row).batch_size == 100
    path.write_text("name: c\nrows:\n  - {network: cgrnn_imd, training: {epoch: 3}}\n")
    with pytest.raises(ConfigError, match=r"rows\[0\]\.training\.epoch: unknown key \(did you mean 'epochs'\?\)"):
        load_config(path)
    path.write_text("name: c\nrows:\n  - {network: cgrnn_imd, features: {type: logmel_imd, n_fft: 0}}\n")
    with pytest.raises(ConfigError, match=r"features.n_fft"):
        load_config(path)


def test_imd_needs_the_48k_files_of_chime_home(fsd_demo, tmp_path):
    from kerastag.tasks.tagging.task import TaggingTask

    config = ExperimentConfig(
        name="x", dataset=DatasetConfig(layout="fsdkaggle2018", path=str(fsd_demo[0])),
        rows=(RowConfig(network="cgrnn_imd", id="cgrnn"),))
    with pytest.raises(DatasetError, match="features logmel_imd: needs each clip's 48k file"):
        TaggingTask(config).load()
