"""Feature specs, the feature cache and parallel extraction."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from kerastag.errors import AudioError, FeatureError
from kerastag.features import (
    SPECS,
    FeatureResult,
    LogMelA,
    TimeFrequencyB,
    Wave,
    cache_folder,
    cached_path,
    extract,
    load_cached,
    spec_from_dict,
)

RNG_SEED = 1234


def _tone_and_noise(seconds: float, sr: int, seed: int = RNG_SEED) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    y = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)
    return y.astype(np.float32)


def _write_wav(path, seconds=0.5, sr=16000, seed=RNG_SEED):
    sf.write(path, _tone_and_noise(seconds, sr, seed), sr, subtype="PCM_16")
    return path


@pytest.fixture()
def clips(tmp_path):
    """Three short 16 kHz wavs, different content."""
    folder = tmp_path / "audio"
    folder.mkdir()
    return [_write_wav(folder / f"clip{i}.wav", seed=i) for i in range(3)]


# --------------------------------------------------------------------------- specs


def test_logmel_a_of_a_4s_chunk_equals_direct_librosa():
    y = _tone_and_noise(4.0, 16000)
    features = LogMelA().compute(y)
    magnitude = np.abs(librosa.stft(y, n_fft=1024, hop_length=512, window="hamming",
                                    center=False))
    mel = librosa.filters.mel(sr=16000, n_fft=1024, n_mels=128, fmin=0, fmax=8000) @ magnitude
    expected = np.log(mel + 1e-8).T
    assert features.shape == (124, 128)
    assert features.dtype == np.float32
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("samples", [0, 1, 1023])
def test_logmel_a_pads_clips_shorter_than_a_window_to_one_frame(samples):
    features = LogMelA().compute(np.full(samples, 0.1, dtype=np.float32))
    assert features.shape == (1, 128)
    assert np.isfinite(features).all()


def test_logmel_a_rejects_multichannel_input():
    with pytest.raises(FeatureError, match=r"shape \(2, 100\)"):
        LogMelA().compute(np.zeros((2, 100), dtype=np.float32))


@pytest.mark.parametrize("kind", ["logmel", "mfcc"])
def test_timefrequency_b_stacks_static_delta_and_delta_delta(kind):
    features = TimeFrequencyB(kind=kind).compute(_tone_and_noise(1.5, 44100))
    assert features.shape == (3, 64, 151)  # 1 + 66150 // 441 centred frames
    assert features.dtype == np.float32
    np.testing.assert_allclose(features[1], librosa.feature.delta(features[0], width=9),
                               atol=1e-4)
    np.testing.assert_allclose(features[2],
                               librosa.feature.delta(features[0], width=9, order=2),
                               atol=1e-4)


def test_timefrequency_b_static_channels_match_librosa():
    y = _tone_and_noise(0.5, 44100)
    logmel = TimeFrequencyB(kind="logmel").compute(y)[0]
    mfcc = TimeFrequencyB(kind="mfcc").compute(y)[0]
    expected_logmel = librosa.power_to_db(librosa.feature.melspectrogram(
        y=y, sr=44100, n_fft=3528, hop_length=441, n_mels=64, pad_mode="constant"))
    expected_mfcc = librosa.feature.mfcc(y=y, sr=44100, n_mfcc=64, n_fft=3528,
                                         hop_length=441, pad_mode="constant")
    np.testing.assert_allclose(logmel, expected_logmel, atol=1e-3)
    np.testing.assert_allclose(mfcc, expected_mfcc, atol=1e-3)


@pytest.mark.parametrize("kind", ["logmel", "mfcc"])
@pytest.mark.parametrize("seconds", [0.0, 0.01, 0.1, 1.2])
@pytest.mark.parametrize("silent", [True, False])
def test_timefrequency_b_is_finite_for_empty_silent_and_short_clips(kind, seconds, silent):
    y = _tone_and_noise(seconds, 44100)
    if silent:
        y = np.zeros_like(y)
    spec = TimeFrequencyB(kind=kind)
    features = spec.compute(y)
    assert features.shape == (3, 64, spec.n_frames(y.size))
    assert features.shape[2] >= 9
    assert np.isfinite(features).all()


def test_wave_keeps_length_clips_overshoot_and_pads_empty_clips():
    y = np.array([0.5, 1.5, -2.0, 0.0], dtype=np.float32)
    assert Wave().compute(y).tolist() == [0.5, 1.0, -1.0, 0.0]
    assert Wave().compute(np.zeros(0, dtype=np.float32)).shape == (1,)
    assert Wave().compute(_tone_and_noise(1.0, 44100)).shape == (44100,)


def test_wave_extract_resamples_to_44k(tmp_path):
    wav = _write_wav(tmp_path / "a.wav", seconds=0.5, sr=16000)
    result = extract([wav], Wave(), cache_dir=tmp_path / "cache", workers=1, progress=False)
    assert result.arrays[0].shape == (22050,)
    assert np.abs(result.arrays[0]).max() <= 1.0


def test_spec_from_dict_round_trips_and_names_valid_specs():
    for spec in (LogMelA(n_mels=64), TimeFrequencyB(kind="mfcc"),
                 TimeFrequencyB(kind="logmel", sample_rate=22050), Wave(sample_rate=22050)):
        assert spec_from_dict(spec.to_dict()) == spec
        assert SPECS[spec.name] is type(spec)
    with pytest.raises(FeatureError, match="logmel_a, logmel, mfcc, wave"):
        spec_from_dict({"name": "spectrogram"})
    with pytest.raises(FeatureError, match="hop"):
        spec_from_dict({"name": "logmel_a", "hop": 256})
    with pytest.raises(FeatureError, match="kind.*'cqt'"):
        spec_from_dict({"name": "mfcc", "kind": "cqt"})
    with pytest.raises(FeatureError, match="kind.*'cqt'"):
        TimeFrequencyB(kind="cqt")
    with pytest.raises(FeatureError, match="fmax=9000"):
        LogMelA(fmax=9000)


def test_a_specs_name_is_its_feature_type():
    from kerastag.names import FEATURE_TYPES

    assert (LogMelA().name, Wave().name) == ("logmel_a", "wave")
    assert [TimeFrequencyB(kind=kind).name for kind in ("logmel", "mfcc")] == ["logmel", "mfcc"]
    assert spec_from_dict({"name": "mfcc", "n_mfcc": 32}) == TimeFrequencyB(kind="mfcc",
                                                                            n_mfcc=32)
    assert spec_from_dict({"name": "logmel"}) == TimeFrequencyB()
    assert set(SPECS) == set(FEATURE_TYPES)  # one name per feature type
    assert cache_folder(TimeFrequencyB(kind="mfcc"), "c").name.startswith("mfcc-")


@pytest.mark.parametrize("params", [{"n_fft": 1024.0}, {"sample_rate": True},
                                    {"n_mels": 0}, {"fmax": float("nan")},
                                    {"log_offset": 0}, {"fmin": "0"}])
def test_bad_spec_values_are_refused_with_the_shared_rule(params):
    key = next(iter(params))
    with pytest.raises(FeatureError, match=f"feature logmel_a: {key}: expected"):
        LogMelA(**params)


def test_spec_values_are_stored_as_int_and_float():
    spec = LogMelA(sample_rate=np.int64(22050), fmin=np.float32(20), fmax=8000)
    assert type(spec.sample_rate) is int and type(spec.fmin) is float
    assert type(spec.fmax) is float and spec_from_dict(spec.to_dict()) == spec


def test_sample_rates():
    assert LogMelA().sample_rate == 16000
    assert TimeFrequencyB().sample_rate == 44100
    assert (TimeFrequencyB().win_length, TimeFrequencyB().hop_length) == (3528, 441)
    assert (TimeFrequencyB(sample_rate=22050).win_length,
            TimeFrequencyB(sample_rate=22050).hop_length) == \
        (1764, 220)


# --------------------------------------------------------------------------- cache


def test_second_extract_reads_everything_from_the_cache(clips, tmp_path):
    cache = tmp_path / "cache"
    first = extract(clips, LogMelA(), cache_dir=cache, workers=1, progress=False)
    second = extract(clips, LogMelA(), cache_dir=cache, workers=1, progress=False)
    assert isinstance(first, FeatureResult)
    assert (first.computed, first.cached) == (3, 0)
    assert (second.computed, second.cached) == (0, 3)
    assert second.files == first.files
    assert all(f.parent == cache_folder(LogMelA(), cache) for f in first.files)
    assert (first.files[0].parent / "params.json").is_file()
    for a, b in zip(first.arrays, second.arrays):
        assert a.shape == (14, 128)  # 0.5 s at 16 kHz
        np.testing.assert_array_equal(a, b)


def test_changing_a_parameter_recomputes(clips, tmp_path):
    cache = tmp_path / "cache"
    extract(clips, LogMelA(), cache_dir=cache, workers=1, progress=False)
    other = extract(clips, LogMelA(n_mels=64, fmax=4000), cache_dir=cache, workers=1,
                    progress=False)
    assert (other.computed, other.cached) == (3, 0)
    assert other.arrays[0].shape == (14, 64)
    assert len(list(cache.iterdir())) == 2


def test_touched_or_modified_file_is_recomputed_alone(clips, tmp_path):
    cache = tmp_path / "cache"
    before = extract(clips, LogMelA(), cache_dir=cache, workers=1, progress=False)
    stat = clips[0].stat()
    os.utime(clips[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    touched = extract(clips, LogMelA(), cache_dir=cache, workers=1, progress=False)
    assert (touched.computed, touched.cached) == (1, 2)
    assert touched.files[0] != before.files[0] and touched.files[1:] == before.files[1:]

    _write_wav(clips[1], seconds=0.5, seed=99)
    modified = extract(clips, LogMelA(), cache_dir=cache, workers=1, progress=False)
    assert (modified.computed, modified.cached) == (1, 2)
    assert not np.array_equal(modified.arrays[1], before.arrays[1])


def test_cached_path_and_load_cached(clips, tmp_path):
    cache = tmp_path / "cache"
    assert load_cached(clips[0], LogMelA(), cache) is None
    result = extract(clips[:1], LogMelA(), cache_dir=cache, workers=1, progress=False)
    assert cached_path(clips[0], LogMelA(), cache) == result.files[0]
    np.testing.assert_array_equal(load_cached(clips[0], LogMelA(), cache), result.arrays[0])


def test_mmap_returns_read_only_memmaps(clips, tmp_path):
    cache = tmp_path / "cache"
    plain = extract(clips, LogMelA(), cache_dir=cache, workers=1, progress=False)
    for mapped in (extract(clips, LogMelA(), cache_dir=cache, workers=1, progress=False,
                           mmap=True),
                   extract(clips, LogMelA(), cache_dir=tmp_path / "fresh", workers=1,
                           progress=False, mmap=True)):
        assert all(isinstance(a, np.memmap) and not a.flags.writeable for a in mapped.arrays)
        for a, b in zip(mapped.arrays, plain.arrays):
            np.testing.assert_array_equal(a, b)


def test_duplicate_paths_are_computed_once(clips, tmp_path):
    result = extract([clips[0], clips[0]], LogMelA(), cache_dir=tmp_path / "c", workers=1,
                     progress=False)
    assert (result.computed, result.cached) == (2, 0)
    assert result.files[0] == result.files[1]
    assert len(list(result.files[0].parent.glob("*.npy"))) == 1


def test_unreadable_cache_file_is_recomputed(clips, tmp_path):
    cache = tmp_path / "cache"
    first = extract(clips, LogMelA(), cache_dir=cache, workers=1, progress=False)
    first.files[2].write_bytes(first.files[2].read_bytes()[:200])  # truncated
    again = extract(clips, LogMelA(), cache_dir=cache, workers=1, progress=False)
    assert (again.computed, again.cached) == (1, 2)
    np.testing.assert_array_equal(again.arrays[2], first.arrays[2])
    np.testing.assert_array_equal(np.load(first.files[2]), first.arrays[2])


def test_cache_serves_clips_of_different_lengths(tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    wavs = [_write_wav(folder / f"c{i}.wav", seconds=seconds, seed=i)
            for i, seconds in enumerate([0.5, 0.5, 1.0, 0.5, 0.25])]
    cache = tmp_path / "cache"
    first = extract(wavs, LogMelA(), cache_dir=cache, workers=1, progress=False)
    again = extract(wavs, LogMelA(), cache_dir=cache, workers=1, progress=False)
    assert again.cached == 5
    assert [a.shape[0] for a in again.arrays] == [14, 14, 30, 14, 6]
    for a, b in zip(first.arrays, again.arrays):
        np.testing.assert_array_equal(a, b)


def test_foreign_params_json_is_refused(clips, tmp_path):
    cache = tmp_path / "cache"
    folder = cache_folder(LogMelA(), cache)
    folder.mkdir(parents=True)
    (folder / "params.json").write_text('{"name": "wave"}')
    with pytest.raises(FeatureError, match="params.json"):
        extract(clips, LogMelA(), cache_dir=cache, workers=1, progress=False)


def test_bad_worker_count_is_refused(clips, tmp_path):
    with pytest.raises(FeatureError, match="workers.*0"):
        extract(clips, LogMelA(), cache_dir=tmp_path / "c", workers=0, progress=False)


# --------------------------------------------------------------------------- errors


def _assert_one_line_naming(exc_info, path):
    message = str(exc_info.value)
    assert str(path) in message
    assert "\n" not in message and "Traceback" not in message
    assert exc_info.value.__cause__ is None


def _npy_files(cache):
    return [p for p in cache.rglob("*") if ".npy" in p.name]


def test_corrupt_wav_names_the_file_and_leaves_no_cache_file(clips, tmp_path):
    corrupt = tmp_path / "audio" / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    cache = tmp_path / "cache"
    with pytest.raises(AudioError) as info:
        extract([corrupt], LogMelA(), cache_dir=cache, workers=1, progress=False)
    _assert_one_line_naming(info, corrupt)
    assert _npy_files(cache) == []


def test_empty_wav_file_is_an_error(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty") as info:
        extract([empty], LogMelA(), cache_dir=tmp_path / "cache", workers=1, progress=False)
    _assert_one_line_naming(info, empty)


def test_missing_file_is_an_error_before_any_work(clips, tmp_path):
    missing = tmp_path / "nope.wav"
    cache = tmp_path / "cache"
    with pytest.raises(AudioError, match="not found") as info:
        extract(clips + [missing], LogMelA(), cache_dir=cache, workers=1, progress=False)
    _assert_one_line_naming(info, missing)
    assert _npy_files(cache) == []


@pytest.mark.parametrize("samples, message", [
    (np.zeros(0, dtype=np.float32), "audio file has no samples"),
    (np.full(800, np.nan, dtype=np.float32), "800 sample(s) are NaN or infinite"),
])
def test_audio_without_samples_or_with_nan_is_refused_and_nothing_cached(tmp_path, samples, message):
    wav = tmp_path / "bad.wav"
    sf.write(wav, samples, 16000, subtype="FLOAT")
    with pytest.raises(AudioError) as info:
        extract([wav], LogMelA(), cache_dir=tmp_path / "cache", workers=1, progress=False)
    assert str(info.value).startswith(f"{wav}: {message}")
    assert not list((tmp_path / "cache").rglob("*.npy"))


# --------------------------------------------------------------------------- parallel


def test_two_workers_match_one_worker_and_report_errors_cleanly(tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    wavs = [_write_wav(folder / f"c{i}.wav", seconds=0.3, seed=i) for i in range(6)]
    serial = extract(wavs, LogMelA(), cache_dir=tmp_path / "serial", workers=1,
                     progress=False)
    parallel = extract(wavs, LogMelA(), cache_dir=tmp_path / "parallel", workers=2,
                       progress=False)
    assert (parallel.computed, parallel.cached) == (6, 0)
    for a, b in zip(serial.arrays, parallel.arrays):
        np.testing.assert_array_equal(a, b)
    assert [f.name for f in serial.files] == [f.name for f in parallel.files]

    corrupt = folder / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    # The pool takes chunks from the front, this process from the back: fail in both.
    for run, batch in enumerate(([corrupt] + wavs, wavs + [corrupt])):
        cache = tmp_path / f"broken{run}"
        with pytest.raises(AudioError) as info:
            extract(batch, LogMelA(), cache_dir=cache, workers=2, progress=False)
        _assert_one_line_naming(info, corrupt)
        assert cached_path(corrupt, LogMelA(), cache).exists() is False
        assert not [p for p in _npy_files(cache) if p.name.startswith(".")]


def test_pool_workers_do_not_import_tensorflow(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))  # see kerastag_process_probe.py
    probe = importlib.import_module("kerastag_process_probe").ProcessProbe()
    folder = tmp_path / "audio"
    folder.mkdir()
    wavs = [_write_wav(folder / f"c{i}.wav", seconds=0.1, seed=i) for i in range(6)]
    result = extract(wavs, probe, cache_dir=tmp_path / "cache", workers=2,
                     progress=False)
    from_workers = [a for a in result.arrays if a[0] != os.getpid()]
    assert from_workers  # the pool takes the first chunks
    assert [bool(a[1]) for a in from_workers] == [False] * len(from_workers)
