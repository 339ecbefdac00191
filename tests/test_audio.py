"""kerastag.audio: every file is read right or refused with its name, never a traceback."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kerastag.audio import AudioFormat, check_audio_file, load_audio
from kerastag.errors import AudioError, KerastagError

CHUNK = AudioFormat("CHiME-Home 16 kHz chunk", sample_rate=16000, channels=1, frames=64000)


def write(path, data, rate, subtype=None):
    sf.write(str(path), data, rate, subtype=subtype)
    return path


@pytest.mark.parametrize("samples, subtype, message", [
    (np.full(16000, np.nan, np.float32), "FLOAT", "16000 sample(s) are NaN or infinite (first at sample 0)"),
    (np.r_[np.zeros(10), np.inf, np.zeros(5)].astype(np.float32), "FLOAT", "1 sample(s) are NaN or infinite (first at sample 10)"),
    (np.r_[np.zeros(3), -np.inf].astype(np.float64), "DOUBLE", "1 sample(s) are NaN or infinite (first at sample 3)"),
    (np.zeros(0, np.float32), "FLOAT", "audio file has no samples"),
])
def test_non_finite_and_empty_audio_is_refused_naming_the_file(tmp_path, samples, subtype, message):
    path = write(tmp_path / "bad.wav", samples, 16000, subtype)
    for read in (lambda: load_audio(path, sample_rate=16000), lambda: check_audio_file(path)):
        with pytest.raises(AudioError) as info:
            read()
        assert str(info.value) == f"{path}: {message}" or str(info.value).startswith(f"{path}: {message}")


@pytest.mark.parametrize("seconds, rate, channels, message", [
    (2.0, 16000, 1, "expected 64000 samples for a CHiME-Home 16 kHz chunk, got 32000 samples"),
    (0.1, 16000, 1, "expected 64000 samples for a CHiME-Home 16 kHz chunk, got 1600 samples"),
    (600.0, 16000, 1, "expected 64000 samples for a CHiME-Home 16 kHz chunk, got 9600000 samples"),
    (4.0, 44100, 1, "expected 16000 Hz, 64000 samples for a CHiME-Home 16 kHz chunk, got 44100 Hz, 176400 samples"),
    (4.0, 16000, 2, "expected 1 channel(s) for a CHiME-Home 16 kHz chunk, got 2 channel(s)"),
])
def test_a_file_of_the_wrong_length_rate_or_channels_is_refused(tmp_path, seconds, rate, channels, message):
    frames = int(round(seconds * rate))
    path = write(tmp_path / "chunk.wav", np.zeros((frames, channels), np.int16), rate)
    with pytest.raises(AudioError, match="^" + str(path)) as info:
        load_audio(path, sample_rate=16000, expected=CHUNK)
    assert str(info.value) == f"{path}: {message}"
    with pytest.raises(AudioError):
        check_audio_file(path, CHUNK)


def test_a_good_chunk_reads_and_other_rates_are_resampled_without_an_expectation(tmp_path):
    rng = np.random.default_rng(0)
    path = write(tmp_path / "ok.wav", (rng.standard_normal(64000) * 3000).astype(np.int16), 16000)
    assert load_audio(path, sample_rate=16000, expected=CHUNK).shape == (64000,)
    assert check_audio_file(path, CHUNK).frames == 64000
    stereo = write(tmp_path / "st.wav", np.zeros((44100, 2), np.int16), 44100)
    assert load_audio(stereo, sample_rate=16000).shape == (16000,)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_arbitrary_samples_rates_lengths_and_channels_are_read_or_refused(tmp_path, data):
    rate = data.draw(st.sampled_from([8000, 16000, 22050, 44100, 48000]), label="rate")
    channels = data.draw(st.integers(1, 3), label="channels")
    frames = data.draw(st.integers(0, 300), label="frames")
    values = data.draw(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32),
                                min_size=frames * channels, max_size=frames * channels))
    samples = np.asarray(values, np.float32).reshape(frames, channels)
    path = write(tmp_path / "any.wav", samples, rate, "FLOAT")
    expected = data.draw(st.sampled_from([None, CHUNK]), label="expected")
    try:
        audio = load_audio(path, sample_rate=16000, expected=expected)
    except AudioError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
        return
    assert frames > 0 and np.isfinite(samples).all()
    assert audio.dtype == np.float32 and audio.ndim == 1 and np.isfinite(audio).all()


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=400))
def test_arbitrary_bytes_are_refused_with_the_file_named(tmp_path, content):
    path = tmp_path / "junk.wav"
    path.write_bytes(content)
    try:
        load_audio(path, sample_rate=16000)
    except KerastagError as exc:
        assert str(exc).startswith(f"{path}: ")
