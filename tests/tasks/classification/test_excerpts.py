"""Tests for kerastag.excerpts: paper B's random excerpts, excerpt datasets and clip scoring."""

import numpy as np
import pytest

from kerastag.errors import ConfigError, FeatureError
from kerastag.tasks.classification.excerpts import (
    clip_windows,
    excerpt_dataset,
    excerpt_length,
    predict_clips,
    random_excerpt,
    to_model_layout,
    window_starts,
)
from kerastag.mixing import MixingSpec

BANDS = 4  # tiny stand-in for 64 bands


def _coded_clip(clip: int, frames: int, bands: int = BANDS) -> np.ndarray:
    """(3, bands, frames) float32 whose value tells the clip, channel, band and frame (< 10000)."""
    c, b, t = np.meshgrid(np.arange(3), np.arange(bands), np.arange(frames), indexing="ij")
    return (clip * 10000 + t + 0.1 * c + 0.01 * b).astype(np.float32)


def _coded_wave(clip: int, samples: int) -> np.ndarray:
    return (clip * 100000 + np.arange(samples)).astype(np.float32)


def _epoch(dataset):
    """One pass over ``dataset`` as lists of numpy arrays, concatenated over batches."""
    parts = list(zip(*[tuple(t.numpy() for t in element) for element in dataset]))
    return tuple(np.concatenate(p) for p in parts)


# ------------------------------------------------------------------ lengths and layout


def test_excerpt_lengths_of_paper_b():
    assert excerpt_length("logmel") == 150
    assert excerpt_length("mfcc") == 150
    assert excerpt_length("wave") == 66150
    assert excerpt_length("wave", seconds=1.0, sample_rate=16000) == 16000
    with pytest.raises(ConfigError, match="unknown value 'cqt'"):
        excerpt_length("cqt")
    with pytest.raises(ConfigError, match="hop_s"):
        excerpt_length("logmel", hop_s=0)


def test_logmel_and_wave_excerpt_shapes():
    rng = np.random.default_rng(0)
    logmel = rng.normal(size=(3, 64, 500)).astype(np.float32)
    x = to_model_layout(random_excerpt(logmel, excerpt_length("logmel"), rng, pad_value=0.0))
    assert x.shape == (64, 150, 3) and x.dtype == np.float32 and x.flags.c_contiguous
    wave = rng.uniform(-1, 1, 3 * 44100).astype(np.float32)
    w = to_model_layout(random_excerpt(wave, excerpt_length("wave"), rng, pad_value=0.0))
    assert w.shape == (66150,) and w.dtype == np.float32
    with pytest.raises(FeatureError, match=r"\(4, 150\)"):
        to_model_layout(np.zeros((4, 150), np.float32))


def test_to_model_layout_moves_channels_last():
    x = _coded_clip(0, 7)
    np.testing.assert_array_equal(to_model_layout(x), np.transpose(x, (1, 2, 0)))


def test_excerpt_dataset_shapes_logmel_and_wave():
    logmel = [np.zeros((3, 64, n), np.float32) for n in (200, 40, 151)]
    y = np.eye(3, dtype=np.float32)
    x_b, y_b = next(iter(excerpt_dataset(logmel, y, length=150, batch_size=2, seed=0)))
    assert x_b.shape == (2, 64, 150, 3) and y_b.shape == (2, 3)
    waves = [np.zeros(n, np.float32) for n in (70000, 13230)]
    ds = excerpt_dataset(waves, y[:2], length=66150, batch_size=2, seed=0)
    assert int(ds.cardinality()) == 1
    x_w, _ = next(iter(ds))
    assert x_w.shape == (2, 66150)


# ------------------------------------------------------------------ random excerpts


def _window_of(excerpt_cached_layout: np.ndarray, source: np.ndarray) -> int:
    """Start of ``excerpt`` in ``source`` (asserting it is a contiguous window)."""
    start = int(round(excerpt_cached_layout[..., 0].ravel()[0] % 10000))
    length = excerpt_cached_layout.shape[-1]
    np.testing.assert_array_equal(excerpt_cached_layout, source[..., start:start + length])
    return start


def test_random_excerpts_are_contiguous_windows_covering_all_offsets():
    clip = _coded_clip(3, 20)
    rng = np.random.default_rng(1)
    starts = {_window_of(random_excerpt(clip, 15, rng, pad_value=0.0), clip) for _ in range(200)}
    assert starts == set(range(6))


@pytest.mark.parametrize("n_time", [40, 1, 0])
def test_short_clip_is_padded_and_whole_at_random_offsets(n_time):
    clip = _coded_clip(1, n_time)
    pad = (-100.0, 0.5, 0.25)
    rng = np.random.default_rng(2)
    offsets = set()
    for _ in range(60):
        x = random_excerpt(clip, 150, rng, pad_value=pad)
        assert x.shape == (3, BANDS, 150)
        inside = x >= 10000  # clip values are >= 10000, pad values are not
        frames = np.flatnonzero(inside[0, 0])
        assert len(frames) == n_time
        if n_time:
            offset = frames[0]
            offsets.add(offset)
            np.testing.assert_array_equal(x[..., offset:offset + n_time], clip)
        for channel, value in enumerate(pad):
            assert np.all(x[channel][~inside[channel]] == value)
    assert len(offsets) > 10 or n_time == 0


def test_short_wave_is_padded_with_scalar():
    wave = _coded_wave(1, 13230)  # 0.3 s
    x = random_excerpt(wave, 66150, np.random.default_rng(0), pad_value=0.0)
    inside = np.flatnonzero(x)
    assert len(inside) == 13230
    np.testing.assert_array_equal(x[inside[0]:inside[0] + 13230], wave)
    assert np.count_nonzero(x) == 13230


def test_memmap_clip_is_read_by_window(tmp_path):
    clip = _coded_clip(2, 300)
    np.save(tmp_path / "c.npy", clip)
    mapped = np.load(tmp_path / "c.npy", mmap_mode="r")
    x = random_excerpt(mapped, 150, np.random.default_rng(0), pad_value=0.0)
    assert type(x) is np.ndarray and x.flags.owndata
    _window_of(x, clip)


def test_bad_pad_values_raise_config_error():
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="pad_value"):
        random_excerpt(_coded_clip(0, 3), 10, rng, pad_value=(0.0, 1.0))
    with pytest.raises(ConfigError, match="pad_value"):
        random_excerpt(_coded_wave(0, 3), 10, rng, pad_value=(0.0,))
    with pytest.raises(ConfigError, match="length"):
        random_excerpt(_coded_wave(0, 3), 0, rng, pad_value=0.0)


# ------------------------------------------------------------------ excerpt datasets


def _long_clips():
    return [_coded_clip(i, n) for i, n in enumerate((400, 170, 90, 260, 1000))]


def _check_epoch(x, y, clips, length):
    """Every excerpt is its clip's contiguous window (or the padded short clip)."""
    assert sorted(np.argmax(y, axis=1)) == list(range(len(clips)))
    starts = []
    for excerpt, label in zip(x, y):
        clip = clips[int(np.argmax(label))]
        cached = np.moveaxis(excerpt, -1, 0)
        if clip.shape[-1] >= length:
            starts.append(_window_of(cached, clip))
        else:
            offset = np.flatnonzero(cached[0, 0] != 0)[0]
            np.testing.assert_array_equal(cached[..., offset:offset + clip.shape[-1]], clip)
    return starts


def test_excerpts_change_every_epoch_and_reproduce_with_the_seed():
    clips, y = _long_clips(), np.eye(5, dtype=np.float32)
    dataset = excerpt_dataset(clips, y, length=50, batch_size=2, seed=7)
    first, second = _epoch(dataset), _epoch(dataset)
    starts1 = _check_epoch(*first, clips, 50)
    starts2 = _check_epoch(*second, clips, 50)
    assert starts1 != starts2
    assert not np.array_equal(first[1], second[1])  # new order too
    fresh = excerpt_dataset(clips, y, length=50, batch_size=2, seed=7)
    for want, got in zip((first, second), (_epoch(fresh), _epoch(fresh))):
        np.testing.assert_array_equal(want[0], got[0])
        np.testing.assert_array_equal(want[1], got[1])
    other = _epoch(excerpt_dataset(clips, y, length=50, batch_size=2, seed=8))
    assert not np.array_equal(first[0], other[0])


def test_memmapped_clips_and_short_clips_in_a_dataset(tmp_path):
    clips = _long_clips() + [_coded_clip(5, 30)]
    mapped = []
    for i, clip in enumerate(clips):
        np.save(tmp_path / f"{i}.npy", clip)
        mapped.append(np.load(tmp_path / f"{i}.npy", mmap_mode="r"))
    x, y = _epoch(excerpt_dataset(mapped, np.eye(6), length=150, batch_size=4, seed=1))
    assert x.shape == (6, BANDS, 150, 3)
    _check_epoch(x, y, clips, 150)


def test_mixup_mixes_excerpts_and_labels_convexly():
    clips, y = _long_clips(), np.eye(5, dtype=np.float32)
    plain = excerpt_dataset(clips, y, length=50, batch_size=5, seed=3)
    mixed = excerpt_dataset(clips, y, length=50, batch_size=5, seed=3,
                            mixing=MixingSpec("mixup", 3.0))
    x0, y0 = _epoch(plain)
    x1, y1 = _epoch(mixed)
    assert not np.allclose(x0, x1)
    np.testing.assert_allclose(y1.sum(axis=1), 1.0, rtol=1e-6)
    assert y1.min() >= 0 and y1.max() <= 1
    row_of_clip = {int(np.argmax(label)): row for row, label in enumerate(y0)}
    for row in range(5):  # x = lam*x_i + (1-lam)*x_j with the labels' lam and partner
        i = int(np.argmax(y0[row]))
        lam = y1[row, i]
        others = [c for c in np.flatnonzero(y1[row]) if c != i]
        x_j = x0[row_of_clip[others[0]]] if others else x0[row]
        np.testing.assert_allclose(x1[row], lam * x0[row] + (1 - lam) * x_j, rtol=1e-5)


def test_sample_weights_pass_through_and_mix_for_mixup():
    clips, y = _long_clips(), np.eye(5, dtype=np.float32)
    weights = np.array([1.0, 0.6, 0.6, 1.0, 0.6], np.float32)
    plain = excerpt_dataset(clips, y, length=50, batch_size=2, seed=0, sample_weights=weights)
    assert len(plain.element_spec) == 3
    _, y0, w0 = _epoch(plain)
    np.testing.assert_array_equal(w0, weights[np.argmax(y0, axis=1)])
    mixed = excerpt_dataset(clips, y, length=50, batch_size=5, seed=0, sample_weights=weights,
                            mixing=MixingSpec("mixup", 3.0))
    _, y1, w1 = _epoch(mixed)
    np.testing.assert_allclose(w1, y1 @ weights, rtol=1e-6)  # lam*w_i + (1-lam)*w_j
    assert not np.allclose(w1, weights[np.argmax(y1, axis=1)])
    kept = excerpt_dataset(clips, y, length=50, batch_size=5, seed=0, sample_weights=weights,
                           mixing=MixingSpec("mixup_lp", 3.0))
    _, y2, w2 = _epoch(kept)
    np.testing.assert_array_equal(w2, weights[np.argmax(y2, axis=1)])


def test_bad_dataset_arguments():
    clips, y = _long_clips(), np.eye(5, dtype=np.float32)
    with pytest.raises(ConfigError, match=r"\(clips=5, classes\)"):
        excerpt_dataset(clips, y[:4], length=50, batch_size=2, seed=0)
    with pytest.raises(ConfigError, match=r"sample_weights must have shape \(5,\)"):
        excerpt_dataset(clips, y, length=50, batch_size=2, seed=0, sample_weights=np.ones(4))
    with pytest.raises(ConfigError, match="seed"):
        excerpt_dataset(clips, y, length=50, batch_size=2, seed=-1)
    with pytest.raises(FeatureError, match="clip 1"):
        excerpt_dataset([clips[0], _coded_clip(1, 50, bands=5)], y[:2], length=50,
                        batch_size=2, seed=0)
    with pytest.raises(ConfigError, match="pad_value"):
        excerpt_dataset(clips, y, length=50, batch_size=2, seed=0, pad_value=(1.0, 2.0))


# ------------------------------------------------------------------ scoring windows


def test_window_starts_cover_the_clip_end():
    np.testing.assert_array_equal(window_starts(100, 30, 25), [0, 25, 50, 70])
    np.testing.assert_array_equal(window_starts(105, 30, 25), [0, 25, 50, 75])
    np.testing.assert_array_equal(window_starts(30, 30, 25), [0])
    np.testing.assert_array_equal(window_starts(0, 30, 25), [0])


def test_clip_windows_cover_the_whole_clip():
    clip = _coded_clip(1, 100)
    windows = clip_windows(clip, 30, 25, pad_value=0.0)
    assert windows.shape == (4, BANDS, 30, 3)
    covered = set()
    for window in windows:
        covered |= set(_window_of(np.moveaxis(window, -1, 0), clip) + np.arange(30))
    assert covered == set(range(100))
    np.testing.assert_array_equal(np.moveaxis(windows[-1], -1, 0), clip[..., 70:])


def test_short_clip_gives_one_padded_window():
    clip = _coded_clip(1, 12)
    windows = clip_windows(clip, 30, 10, pad_value=(-100.0, 0.0, 0.0))
    assert windows.shape == (1, BANDS, 30, 3)
    cached = np.moveaxis(windows[0], -1, 0)
    np.testing.assert_array_equal(cached[..., :12], clip)
    assert np.all(cached[0, :, 12:] == -100) and np.all(cached[1:, :, 12:] == 0)
    waves = clip_windows(_coded_wave(1, 5), 8, 4, pad_value=0.0)
    np.testing.assert_array_equal(waves, [[100000, 100001, 100002, 100003, 100004, 0, 0, 0]])


def _tiny_model(input_shape, classes=3):
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input(input_shape)
    if len(input_shape) == 3:
        hidden = keras.layers.GlobalAveragePooling2D()(inputs)
    else:
        hidden = inputs
    outputs = keras.layers.Dense(classes, activation="softmax")(hidden)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("kind", ["logmel", "wave"])
def test_predict_clips_is_the_mean_over_windows(kind):
    rng = np.random.default_rng(0)
    lengths = (100, 12, 57, 31, 200)
    if kind == "logmel":
        clips = [rng.normal(size=(3, BANDS, n)).astype(np.float32) for n in lengths]
        model = _tiny_model((BANDS, 30, 3))
    else:
        clips = [rng.normal(size=n).astype(np.float32) for n in lengths]
        model = _tiny_model((30,))
    got = predict_clips(model, clips, length=30, hop=20, batch_size=3, pad_value=0.5)
    assert got.shape == (5, 3) and got.dtype == np.float32
    for clip, row in zip(clips, got):
        windows = clip_windows(clip, 30, 20, pad_value=0.5)
        want = np.asarray(model(windows, training=False)).mean(axis=0)
        np.testing.assert_allclose(row, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got, got[0])  # clips get their own scores
    assert predict_clips(model, [], length=30, hop=20).shape == (0, 3)
