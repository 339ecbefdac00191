"""The long CHiME-Home-like recordings (kerastag.datasets.demo.long_recordings): the layout,
honest event times, block rendering without seams, determinism, bounded memory, the CLI."""

from __future__ import annotations

import csv
import hashlib
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from scipy import signal

from kerastag.cli import main
from kerastag.datasets.demo import make_chime_long_demo
from kerastag.datasets.demo import long_recordings as long_demo
from kerastag.errors import DatasetError
from kerastag.reference_results import CHIME_HOME_TAGS

MINUTES = 0.5
SR = 16_000


def _hashes(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _events(path):
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    return rows[0], rows[1:]


@pytest.fixture(scope="module")
def long_demo_dir(tmp_path_factory):
    return make_chime_long_demo(tmp_path_factory.mktemp("long"), recordings=1, minutes=MINUTES,
                                seed=3)


def test_layout_and_wav_format(long_demo_dir):
    root, events = long_demo_dir
    assert root.name == "chime_home_long" and events == root / "events.tsv"
    assert sorted(p.name for p in root.iterdir()) == ["audio", "events.tsv"]
    wavs = sorted((root / "audio").iterdir())
    assert len(wavs) == 1 and wavs[0].name.endswith(".16kHz.wav")
    info = sf.info(str(wavs[0]))
    assert (info.samplerate, info.channels, info.subtype, info.format) == (SR, 1, "PCM_16", "WAV")
    assert info.frames == round(MINUTES * 60 * SR)
    assert not [p for p in root.parent.iterdir() if p.name.startswith(".")]  # no stage left


def test_events_file_is_the_dcase_format_and_lies_within_the_file(long_demo_dir):
    root, events = long_demo_dir
    header, rows = _events(events)
    assert header == ["filename", "onset", "offset", "event_label"]
    assert len(rows) >= 4
    wav_name = next((root / "audio").iterdir()).name
    duration = MINUTES * 60
    onsets = []
    for name, onset, offset, label in rows:
        assert name == wav_name and label in CHIME_HOME_TAGS
        assert len(onset.split(".")[1]) == 3 and len(offset.split(".")[1]) == 3
        assert 0 <= float(onset) < float(offset) <= duration
        onsets.append(float(onset))
    assert onsets == sorted(onsets)
    text = events.read_bytes()
    assert b"\r" not in text and text.endswith(b"\n")


def test_each_event_is_louder_than_the_room_around_it(long_demo_dir):
    root, events = long_demo_dir
    audio, sr = sf.read(str(next((root / "audio").iterdir())))
    _, rows = _events(events)
    spans = [(int(float(on) * sr), int(float(off) * sr)) for _, on, off, _ in rows]
    busy = np.zeros(audio.size, dtype=bool)
    for start, stop in spans:
        busy[max(0, start - sr // 10):stop + sr // 10] = True
    room = audio[~busy]
    assert room.size > 5 * sr  # there is room between the events
    room_energy = np.mean(room ** 2)
    for start, stop in spans:
        event_energy = np.mean(audio[start:stop] ** 2)
        assert 10 * np.log10(event_energy / room_energy) > 6, (start / sr, stop / sr)
    # the events start where the truth says: just before an onset it is quieter
    for start, _ in spans:
        before = audio[max(0, start - sr // 5):max(0, start - sr // 50)]
        after = audio[start:start + sr // 5]
        if before.size and not busy[max(0, start - sr // 5 - sr // 10):start - sr // 10].all():
            assert np.mean(after ** 2) > np.mean(before ** 2)


def test_block_rendering_leaves_no_seam(long_demo_dir):
    """Around every 10 s block boundary the room is as smooth as anywhere else."""
    root, events = long_demo_dir
    audio, sr = sf.read(str(next((root / "audio").iterdir())))
    _, rows = _events(events)
    high = signal.sosfilt(signal.butter(4, 6000, "highpass", fs=sr, output="sos"), audio)
    room = np.ones(audio.size, dtype=bool)
    for _, on, off, _ in rows:
        room[int(float(on) * sr) - sr // 10:int(float(off) * sr) + sr // 10] = False
    typical = np.percentile(np.abs(high[room]), 99.9)
    for boundary in range(long_demo._BLOCK_SECONDS * sr, audio.size, long_demo._BLOCK_SECONDS * sr):
        window = slice(boundary - 32, boundary + 32)
        if room[window].all():
            assert np.abs(high[window]).max() <= 2 * typical


def test_the_room_rendered_in_blocks_is_the_room_rendered_at_once():
    whole = long_demo._Room(np.random.default_rng(1)).render(0, 300_000)
    room = long_demo._Room(np.random.default_rng(1))
    blocks = np.concatenate([room.render(0, 100_002), room.render(100_002, 199_998)])
    np.testing.assert_allclose(blocks, whole, atol=1e-15)


def test_the_streaming_resampler_equals_resample_poly():
    x = np.random.default_rng(0).standard_normal(3 * 5003)
    decimator = long_demo._Decimator()
    parts = [decimator.process(x[i:i + 3 * 701]) for i in range(0, x.size, 3 * 701)]
    streamed = np.concatenate(parts + [decimator.flush()])
    np.testing.assert_allclose(streamed, signal.resample_poly(x, 1, 3), atol=1e-12)


def test_trimmed_events_start_and_end_at_their_sound():
    sound = np.concatenate([np.zeros(100), 1e-4 * np.ones(10), np.ones(50), np.zeros(70)])
    trimmed = long_demo._trim(sound)
    assert trimmed.size == 50 and trimmed[0] == 1 and trimmed[-1] == 1


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a, _ = make_chime_long_demo(tmp_path / "a", recordings=2, minutes=0.2, seed=5)
    b, _ = make_chime_long_demo(tmp_path / "b", recordings=2, minutes=0.2, seed=5)
    c, _ = make_chime_long_demo(tmp_path / "c", recordings=2, minutes=0.2, seed=6)
    assert _hashes(a) == _hashes(b)
    assert len(list((a / "audio").iterdir())) == 2
    assert _hashes(a) != _hashes(c)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"recordings": 0}, "recordings"),
    ({"recordings": 1.5}, "recordings"),
    ({"minutes": 0}, "minutes"),
    ({"minutes": -1.0}, "minutes"),
    ({"minutes": float("nan")}, "minutes"),
    ({"seed": -1}, "seed"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, kwargs, fragment):
    with pytest.raises(DatasetError, match=fragment) as info:
        make_chime_long_demo(tmp_path, **kwargs)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "chime_home_long").exists()


def test_an_existing_target_is_refused(tmp_path):
    make_chime_long_demo(tmp_path, recordings=1, minutes=0.1)
    with pytest.raises(DatasetError, match="already exists"):
        make_chime_long_demo(tmp_path, recordings=1, minutes=0.1)
    other = tmp_path / "other" / "chime_home_long"
    other.mkdir(parents=True)
    (other / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not an empty folder"):
        make_chime_long_demo(tmp_path / "other", recordings=1, minutes=0.1)
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(DatasetError, match="not a folder"):
        make_chime_long_demo(a_file, recordings=1, minutes=0.1)


def test_an_empty_target_folder_is_filled(tmp_path):
    (tmp_path / "chime_home_long").mkdir()
    root, events = make_chime_long_demo(tmp_path, recordings=1, minutes=0.1)
    assert events.is_file() and (root / "audio").is_dir()


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def test_cli_long_option(tmp_path):
    result = _invoke("data", "demo", "--layout", "chime-home", "--long", "--minutes", "0.2",
                     "--recordings", "1", "--seed", "2", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    root = tmp_path / "chime_home_long"
    _, rows = _events(root / "events.tsv")
    assert f"with {len(rows)} events" in result.output and str(root) in result.output
    assert sf.info(str(next((root / "audio").iterdir()))).frames == round(0.2 * 60 * SR)


@pytest.mark.parametrize("args, fragments", [
    (["--layout", "fsdkaggle2018", "--long"], ("--long", "chime-home", "fsdkaggle2018")),
    (["--layout", "chime-home", "--minutes", "1"], ("--minutes", "--long")),
    (["--layout", "chime-home", "--long", "--clips", "20"], ("--clips",)),
    (["--layout", "chime-home", "--long", "--minutes", "0"], ("minutes",)),
    (["--layout", "chime-home", "--long", "--recordings", "0"], ("recordings",)),
])
def test_cli_bad_long_options_are_one_line_errors(tmp_path, args, fragments):
    _assert_one_line_error(_invoke("data", "demo", *args, "--out", tmp_path / "d"), *fragments)
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())


def _peak_bytes(folder, minutes):
    tracemalloc.start()
    try:
        make_chime_long_demo(folder, recordings=1, minutes=minutes, seed=0)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_memory_stays_bounded_for_a_long_recording(tmp_path):
    """Peak memory does not grow with the length, and stays far below the whole signal."""
    short = _peak_bytes(tmp_path / "short", 1.0)
    long = _peak_bytes(tmp_path / "long", 5.0)
    whole_signal = 5 * 60 * 48_000 * 8  # the 48 kHz float64 mix of 5 min: 115 MB
    assert long < whole_signal / 3, long
    assert long < short + 8e6, (short, long)  # 4 more minutes would be 92 MB at 48 kHz
