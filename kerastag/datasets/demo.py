"""Synthetic CHiME-Home and FSDKaggle2018 datasets in the real on-disk layouts.

The real archives cannot be downloaded here, so kerastag is exercised end to end on small
synthetic copies written byte for byte in the layouts of ``DATASETS.md``: the real readers
(:mod:`kerastag.datasets.chime_home`, :mod:`kerastag.datasets.fsdkaggle2018`) read them
unchanged. The sounds are synthesised so that the classes can be told apart only by
listening (pitch, formants, rhythm, stationarity, spectrum), over a noise floor, at random
times and levels: a model can learn the task, but not trivially.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same seed gives
byte-identical files (16-bit PCM wavs with no timestamps, CSVs with LF line endings and
deterministic row order). A dataset is written into a temporary sibling folder and renamed
into place at the end, so an interrupted run leaves nothing half-written behind.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import soundfile as sf
from scipy import signal
from tqdm import tqdm

from kerastag.errors import DatasetError

DEFAULT_CHIME_CLIPS = 200
DEFAULT_FSD_CLIPS = 240

CHIME_LABELS = "cmfvpbo"
CHIME_ANNOTATION_KEYS = (
    "segmentname", "chunknumber", "framestart",
    "annotation_a1", "annotation_a2", "annotation_a3",
    "session_a1", "session_a2", "session_a3",
    "majorityvote", "chunkname",
)
CHIME_SR_HIGH = 48_000
CHIME_SR_LOW = 16_000
CHIME_SECONDS = 4
CHIME_FOLDS = 5
CHIME_MIN_CLIPS = CHIME_FOLDS
CHIME_DEV_LIST = "development_chunks_refined.csv"
CHIME_CROSSVAL_LIST = "development_chunks_refined_crossval_dcase2016.csv"
CHIME_EVAL_LIST = "evaluation_chunks_refined.csv"

FSD_SR = 44_100
FSD_CLASSES = ("Applause", "Bark", "Bass_drum", "Cello", "Flute", "Hi-hat", "Meow", "Telephone")
FSD_MIN_CLIPS = len(FSD_CLASSES)
FSD_VARIANTS = ("zenodo", "kaggle")
FSD_TRAIN_HEADER = ("fname", "label", "manually_verified", "freesound_id", "license")
FSD_TEST_HEADER = ("fname", "label", "usage", "freesound_id", "license")
FSD_KAGGLE_TRAIN_HEADER = ("fname", "label", "manually_verified")
FSD_LICENSES = ("Attribution", "Creative Commons 0", "Attribution-NonCommercial")

_CHIME_TAG_COUNT_PROBS = (0.12, 0.38, 0.35, 0.15)  # P(0, 1, 2, 3 tags per chunk)
_CHIME_TAG_WEIGHTS = (1.2, 1.1, 1.0, 0.8, 1.1, 0.7, 0.9)  # relative frequency of c m f v p b o
# Vowel formants (F1, F2, F3) in Hz of an adult male speaker (Peterson & Barney).
_VOWELS = np.array([
    [730, 1090, 2440], [270, 2290, 3010], [300, 870, 2240],
    [530, 1840, 2480], [570, 840, 2410], [660, 1720, 2410],
], dtype=float)
_FORMANT_GAINS = (1.0, 0.6, 0.35)


@dataclasses.dataclass(frozen=True)
class DemoClip:
    """Ground truth of one synthetic clip, to compare a reader's :class:`Clip` against.

    Attributes:
        clip_id: CHiME-Home chunk name or FSDKaggle2018 ``fname``.
        tags: sorted tags (CHiME-Home letters, FSDKaggle2018 label names), possibly empty.
        fold: CHiME-Home development fold 0..4, else ``None``.
        subset: ``"development"``/``"evaluation"`` or ``"train"``/``"test"``.
        extra: facts the files carry (``manually_verified``, ``usage``, ``majorityvote``)
            plus demo-only facts (``condition``, ``duration_s``); not compared.
    """

    clip_id: str
    tags: tuple[str, ...]
    fold: int | None
    subset: str
    extra: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False, hash=False)


# --------------------------------------------------------------------------- public API


def make_chime_home_demo(out_dir: str | os.PathLike, *, clips: int = DEFAULT_CHIME_CLIPS,
                         seed: int = 0, progress: bool = False) -> tuple[Path, list[DemoClip]]:
    """Write a synthetic CHiME-Home dataset to ``out_dir/chime_home``.

    Args:
        out_dir: folder that receives ``chime_home/`` (created if missing).
        clips: number of development chunks (>= 5); the evaluation set gets
            ``max(8, clips // 4)`` more.
        seed: seed of ``numpy.random.default_rng``; equal seeds give identical bytes.
        progress: show a tqdm bar over the chunks.

    Returns:
        The dataset root ``out_dir/chime_home`` and the ground truth of every chunk,
        development chunks (in list order) first.

    Raises:
        DatasetError: ``clips`` is too small, or ``chime_home`` already exists in full or
            in part.
    """
    if clips < CHIME_MIN_CLIPS:
        raise DatasetError(f"chime_home demo: clips must be >= {CHIME_MIN_CLIPS}, got {clips}")
    root = Path(out_dir) / "chime_home"
    entries = ("chunks", CHIME_DEV_LIST, CHIME_CROSSVAL_LIST, CHIME_EVAL_LIST)
    _check_target_free(root, entries, "CHiME-Home demo")
    rng = np.random.default_rng(seed)
    used_segments: set[str] = set()
    dev = _plan_chime_subset(rng, clips, "development", used_segments)
    evaluation = _plan_chime_subset(rng, max(8, clips // 4), "evaluation", used_segments)
    with _staged_dataset(root, entries) as stage:
        (stage / "chunks").mkdir()
        for chunk in tqdm(dev + evaluation, desc="chime_home demo", unit="chunk",
                          disable=not progress):
            _write_chime_chunk(stage / "chunks", chunk)
        _write_chime_lists(stage, dev, evaluation)
    return root, [chunk.demo_clip() for chunk in dev + evaluation]


def make_fsdkaggle2018_demo(out_dir: str | os.PathLike, *, clips: int = DEFAULT_FSD_CLIPS,
                            seed: int = 0, variant: str = "zenodo",
                            progress: bool = False) -> tuple[Path, list[DemoClip]]:
    """Write a synthetic FSDKaggle2018 dataset into ``out_dir``.

    The ``"zenodo"`` variant writes ``FSDKaggle2018.audio_train/``,
    ``FSDKaggle2018.audio_test/`` and ``FSDKaggle2018.meta/`` (with
    ``train_post_competition.csv`` and ``test_post_competition_scoring_clips.csv``); the
    ``"kaggle"`` variant writes ``train.csv``, ``audio_train/``, ``audio_test/`` and
    ``sample_submission.csv``. Audio is 44.1 kHz mono 16-bit, 0.3 to 8 s long.

    Args:
        out_dir: the dataset root (created if missing; may hold unrelated files).
        clips: number of training clips (>= 8, the number of demo classes); the test set
            gets ``max(10, clips // 4)`` clips.
        seed: seed of ``numpy.random.default_rng``; equal seeds give identical bytes.
        variant: ``"zenodo"`` or ``"kaggle"``.
        progress: show a tqdm bar over the clips.

    Returns:
        ``out_dir`` and the ground truth of every clip: train clips then test clips, each
        sorted by ``fname``.

    Raises:
        DatasetError: bad ``clips`` or ``variant``, or the dataset's files already exist
            in ``out_dir`` in full or in part.
    """
    if variant not in FSD_VARIANTS:
        raise DatasetError(f"fsdkaggle2018 demo: variant must be one of {FSD_VARIANTS}, "
                           f"got {variant!r}")
    if clips < FSD_MIN_CLIPS:
        raise DatasetError(f"fsdkaggle2018 demo: clips must be >= {FSD_MIN_CLIPS}, got {clips}")
    root = Path(out_dir)
    layout = _FSD_LAYOUTS[variant]
    entries = (layout["train_dir"], layout["test_dir"]) + layout["meta_entries"]
    _check_target_free(root, entries, f"FSDKaggle2018 demo ({variant})")
    rng = np.random.default_rng(seed)
    train, test = _plan_fsd_clips(rng, clips)
    with _staged_dataset(root, entries) as stage:
        for folder in (layout["train_dir"], layout["test_dir"]):
            (stage / folder).mkdir()
        todo = [(layout["train_dir"], clip) for clip in train]
        todo += [(layout["test_dir"], clip) for clip in test]
        for folder, clip in tqdm(todo, desc="fsdkaggle2018 demo", unit="clip",
                                 disable=not progress):
            _write_fsd_clip(stage / folder, clip)
        layout["write_meta"](stage, train, test)
    return root, [clip.demo_clip(variant) for clip in train + test]


# --------------------------------------------------------------------------- staging


def _check_target_free(root: Path, entries: Sequence[str], what: str) -> None:
    """Raise :class:`DatasetError` unless none of the dataset's ``entries`` exist in ``root``."""
    present = [name for name in entries if (root / name).exists()]
    if len(present) == len(entries):
        raise DatasetError(f"{root}: {what} already exists (found {', '.join(present)}); "
                           "reuse it or remove it first")
    if present:
        raise DatasetError(f"{root}: {what} partly exists (found {', '.join(present)}); "
                           "remove it first")


@contextlib.contextmanager
def _staged_dataset(root: Path, entries: Sequence[str]) -> Iterator[Path]:
    """Yield a temporary sibling of ``root``; on success move it (or its ``entries``) there.

    When ``root`` is missing or empty the whole folder is renamed onto it in one step;
    otherwise each entry is renamed into ``root`` in order (put metadata last, so a reader
    never sees metadata without its audio). The staging folder is removed on failure.
    """
    root.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    try:
        os.chmod(stage, 0o777 & ~_current_umask())
        yield stage
        _check_target_free(root, entries, "dataset")  # a concurrent writer may have won
        _publish(stage, root, entries)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _publish(stage: Path, root: Path, entries: Sequence[str]) -> None:
    """Move the staged dataset into ``root`` by renames only."""
    if root.is_dir() and not any(root.iterdir()):
        root.rmdir()
    if not root.exists():
        os.rename(stage, root)
        return
    for name in entries:
        os.rename(stage / name, root / name)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --------------------------------------------------------------------------- signal helpers


def _to_int16(x: np.ndarray) -> np.ndarray:
    """Quantise float audio in [-1, 1] to 16-bit PCM values (any shape)."""
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def _db(level_db: float) -> float:
    return float(10.0 ** (level_db / 20.0))


def _set_rms(x: np.ndarray, level_db: float) -> np.ndarray:
    """Scale ``x`` to an RMS of ``level_db`` dBFS (a silent ``x`` stays silent)."""
    rms = float(np.sqrt(np.mean(x ** 2))) if x.size else 0.0
    return x * (_db(level_db) / rms) if rms > 0 else x


def _set_peak(x: np.ndarray, level_db: float) -> np.ndarray:
    """Scale ``x`` to a peak of ``level_db`` dBFS."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return x * (_db(level_db) / peak) if peak > 0 else x


def _fades(n: int, fade: int) -> np.ndarray:
    """Envelope of ``n`` samples with raised-cosine fade-in and fade-out of ``fade`` samples."""
    env = np.ones(n)
    fade = min(fade, n // 2)
    if fade > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
        env[:fade] = ramp
        env[n - fade:] = ramp[::-1]
    return env


def _decay(n: int, sr: int, tau_s: float) -> np.ndarray:
    """Exponential decay envelope ``exp(-t / tau)`` of ``n`` samples."""
    return np.exp(-np.arange(n) / (tau_s * sr))


def _place(event: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Put ``event`` at a random offset in ``n`` samples of silence (cropped if longer)."""
    out = np.zeros(n)
    event = event[:n]
    start = int(rng.integers(0, n - event.size + 1))
    out[start:start + event.size] = event
    return out


def _add_at(out: np.ndarray, event: np.ndarray, start: int) -> None:
    """Add ``event`` into ``out`` from sample ``start``, cropped at the end."""
    stop = min(out.size, start + event.size)
    if stop > start:
        out[start:stop] += event[:stop - start]


def _sawtooth(f0_track: np.ndarray, sr: int) -> np.ndarray:
    """Sawtooth in [-1, 1] following an instantaneous frequency track (Hz per sample)."""
    cycles = np.cumsum(f0_track) / sr
    return 2.0 * (cycles % 1.0) - 1.0


def _sines(freqs: np.ndarray, amps: np.ndarray, n: int, sr: int,
           rng: np.random.Generator) -> np.ndarray:
    """Sum of steady sinusoids: ``freqs``/``amps`` shape (partials,), random phases."""
    t = np.arange(n) / sr
    phases = rng.uniform(0, 2 * np.pi, freqs.size)
    return amps @ np.sin(2 * np.pi * freqs[:, None] * t[None, :] + phases[:, None])


def _resonate(x: np.ndarray, freqs: Iterable[float], bandwidths: Iterable[float],
              gains: Iterable[float], sr: int) -> np.ndarray:
    """Parallel unity-peak resonators (formants): ``sum(gain * peak_filter(x))``."""
    out = np.zeros_like(x)
    for freq, bw, gain in zip(freqs, bandwidths, gains):
        freq = min(freq, 0.45 * sr)
        b, a = signal.iirpeak(freq, freq / bw, fs=sr)
        out += gain * signal.lfilter(b, a, x)
    return out


def _bandpass(x: np.ndarray, low: float, high: float, sr: int, order: int = 2) -> np.ndarray:
    sos = signal.butter(order, [low, min(high, 0.45 * sr)], "bandpass", fs=sr, output="sos")
    return signal.sosfilt(sos, x)


def _highpass(x: np.ndarray, cutoff: float, sr: int, order: int = 4) -> np.ndarray:
    sos = signal.butter(order, cutoff, "highpass", fs=sr, output="sos")
    return signal.sosfilt(sos, x)


def _brown_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Leaky-integrated white noise (about -6 dB/octave above ~80 Hz at 48 kHz), unit RMS."""
    x = signal.lfilter([1.0], [1.0, -0.99], rng.standard_normal(n))
    x -= x.mean()
    return x / np.sqrt(np.dot(x, x) / n)


# --------------------------------------------------------------------------- CHiME-Home sounds


def _speech(rng: np.random.Generator, n: int, sr: int, *, f0_range: tuple[float, float],
            formant_scale: float, vibrato: float, seconds: tuple[float, float] = (0.9, 2.8),
            ) -> np.ndarray:
    """A speech-like utterance: voiced sawtooth source, syllable envelopes, vowel formants.

    Args:
        f0_range: range of the mean fundamental in Hz.
        formant_scale: factor on adult-male vowel formants (vocal tract length).
        vibrato: relative depth of the 4-7 Hz pitch modulation.

    Returns:
        ``np.ndarray [shape=(m,)]`` with ``m <= n`` samples, unit RMS.
    """
    m = min(n, int(rng.uniform(*seconds) * sr))
    t = np.arange(m) / sr
    intonation = np.linspace(rng.uniform(1.0, 1.15), rng.uniform(0.85, 1.0), m)
    wobble = 1 + vibrato * np.sin(2 * np.pi * rng.uniform(4, 7) * t + rng.uniform(0, 6.3))
    source = _sawtooth(rng.uniform(*f0_range) * intonation * wobble, sr)
    source += 0.08 * rng.standard_normal(m)  # aspiration
    out = np.zeros(m)
    start = 0
    while start < m:
        length = min(m - start, int(rng.uniform(0.12, 0.35) * sr))
        formants = _VOWELS[rng.integers(len(_VOWELS))] * formant_scale
        syllable = _resonate(source[start:start + length], formants,
                             (90 * formant_scale, 120 * formant_scale, 160 * formant_scale),
                             _FORMANT_GAINS, sr)
        out[start:start + length] = syllable * np.hanning(length) ** 0.7
        start += length + int(rng.uniform(0.03, 0.15) * sr)
    return _set_rms(out, 0.0)


def _child_speech(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    return _speech(rng, n, sr, f0_range=(250, 400), formant_scale=1.5, vibrato=0.05)


def _male_speech(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    return _speech(rng, n, sr, f0_range=(85, 150), formant_scale=1.0, vibrato=0.012)


def _female_speech(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    return _speech(rng, n, sr, f0_range=(170, 250), formant_scale=1.17, vibrato=0.025)


def _tv_music(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Video game / TV: chords of harmonic tones changing on a beat, a kick, maybe babble."""
    m = min(n, int(rng.uniform(2.0, 4.0) * sr))
    beat = int(rng.uniform(0.35, 0.6) * sr)
    chord_len = beat * int(rng.integers(1, 3))
    out = np.zeros(m)
    harmonics = np.arange(1, 5)
    for start in range(0, m, chord_len):
        length = min(chord_len, m - start)
        root = 110.0 * 2 ** (rng.integers(0, 24) / 12)
        third = 2 ** ((4 if rng.random() < 0.5 else 3) / 12)
        notes = root * np.array([1.0, third, 2 ** (7 / 12)])
        freqs = (notes[:, None] * harmonics[None, :]).ravel()
        amps = np.tile(harmonics ** -1.5, notes.size)
        out[start:start + length] = _sines(freqs, amps, length, sr, rng) * _fades(length, sr // 100)
    kick_len = int(0.12 * sr)
    kick = np.sin(2 * np.pi * 70 * np.arange(kick_len) / sr) * _decay(kick_len, sr, 0.03)
    for start in range(0, m, beat):
        _add_at(out, 2.0 * kick, start)
    if rng.random() < 0.3:
        babble = _bandpass(_speech(rng, m, sr, f0_range=(100, 220), formant_scale=1.1,
                                   vibrato=0.02), 300, 3400, sr)
        out[:babble.size] += 0.3 * _set_rms(babble, 0.0) * np.sqrt(np.mean(out ** 2))
    return _set_rms(out * _fades(m, sr // 50), 0.0)


def _knocks(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Percussive: 2-6 short decaying broadband hits with a resonance (knocks, bangs)."""
    out = np.zeros(n)
    hit_len = int(0.25 * sr)
    for _ in range(int(rng.integers(2, 7))):
        burst = rng.standard_normal(hit_len) * _decay(hit_len, sr, rng.uniform(0.005, 0.04))
        body = _resonate(burst, [rng.uniform(150, 2500)], [rng.uniform(80, 600)], [1.0], sr)
        hit = _set_peak(0.8 * _set_peak(body, 0.0) + 0.3 * burst, rng.uniform(-10, 0))
        _add_at(out, hit, int(rng.integers(0, n - hit_len // 4)))
    return _set_peak(out, 0.0)


def _broadband(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Broadband noise: long stationary band-limited noise (vacuum cleaner, running tap)."""
    m = min(n, int(rng.uniform(1.8, 4.0) * sr))
    noise = rng.standard_normal(m)
    if rng.random() < 0.5:  # pink-ish tilt
        noise = signal.lfilter([1.0], [1.0, -0.9], noise)
    noise = _bandpass(noise, rng.uniform(80, 600), rng.uniform(3000, 16000), sr)
    t = np.arange(m) / sr
    motor = 1 + 0.05 * np.sin(2 * np.pi * rng.uniform(0.5, 3) * t)
    return _set_rms(noise * motor * _fades(m, int(rng.uniform(0.05, 0.3) * sr)), 0.0)


def _beeps(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    tone_len = int(rng.uniform(0.08, 0.3) * sr)
    gap = int(rng.uniform(0.08, 0.3) * sr)
    tone = np.sin(2 * np.pi * rng.uniform(800, 3000) * np.arange(tone_len) / sr)
    tone *= _fades(tone_len, sr // 200)
    reps = int(rng.integers(1, 5))
    out = np.zeros(reps * (tone_len + gap))
    for k in range(reps):
        out[k * (tone_len + gap):k * (tone_len + gap) + tone_len] = tone
    return out


def _sweep(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    length = int(rng.uniform(0.2, 0.8) * sr)
    t = np.arange(length) / sr
    low, high = rng.uniform(300, 1000), rng.uniform(2000, 6000)
    f_start, f_end = (low, high) if rng.random() < 0.5 else (high, low)
    chirp = signal.chirp(t, f_start, t[-1], f_end, method="logarithmic")
    return chirp * _fades(length, sr // 100)


def _clinks(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    length = int(0.4 * sr)
    freqs = rng.uniform(1500, 7000, 5)
    t = np.arange(length) / sr
    taus = rng.uniform(0.04, 0.2, 5)
    clink = (np.sin(2 * np.pi * freqs[:, None] * t) * np.exp(-t / taus[:, None])).sum(axis=0)
    reps = int(rng.integers(1, 4))
    spacing = int(rng.uniform(0.15, 0.5) * sr)
    out = np.zeros((reps - 1) * spacing + length)
    for k in range(reps):
        out[k * spacing:k * spacing + length] += clink * rng.uniform(0.5, 1.0)
    return out


def _other(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Other identifiable sounds: beeps, frequency sweeps or glassy clinks."""
    kind = (_beeps, _sweep, _clinks)[int(rng.integers(3))]
    return _set_rms(kind(rng, n, sr), 0.0)


# Synthesiser and level range in dBFS: an RMS level, except for the hits of ``p`` (a peak level).
_CHIME_SOUNDS: dict[str, tuple[Callable[..., np.ndarray], tuple[float, float]]] = {
    "c": (_child_speech, (-30, -16)),
    "m": (_male_speech, (-30, -16)),
    "f": (_female_speech, (-30, -16)),
    "v": (_tv_music, (-30, -17)),
    "p": (_knocks, (-18, -4)),
    "b": (_broadband, (-30, -16)),
    "o": (_other, (-30, -16)),
}


def _room_background(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Quiet room: partly coherent brown-ish noise in two channels plus a faint mains hum.

    Returns:
        ``np.ndarray [shape=(2, n)]``.
    """
    left, other = _brown_noise(rng, n), _brown_noise(rng, n)
    channels = np.stack([left, 0.8 * left + 0.6 * other]) * _db(rng.uniform(-50, -42))
    period = sr // (50 if rng.random() < 0.7 else 60)  # mains hum, harmonics 1-3
    phase = 2 * np.pi * np.arange(period) / period + rng.uniform(0, 2 * np.pi)
    cycle = np.cos(phase) + 0.5 * np.cos(2 * phase) + 0.3 * np.cos(3 * phase)
    hum = np.resize(_set_rms(cycle, rng.uniform(-60, -52)), n)
    return channels + hum


def _spatialise(mono: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Give a source a position: channel gains and an inter-channel delay (<= 0.5 ms at 48 kHz).

    Returns:
        ``np.ndarray [shape=(2, n)]``; both channels always carry the source.
    """
    pan = rng.uniform(0.25, 0.75)
    gains = np.array([np.cos(pan * np.pi / 2), np.sin(pan * np.pi / 2)])
    delay = int(rng.integers(0, 25))
    late = np.concatenate([np.zeros(delay), mono[:mono.size - delay]])
    pair = np.stack([mono, late] if pan > 0.5 else [late, mono])
    return pair * gains[:, None] * np.sqrt(2)


def _chime_chunk_audio(tags: Iterable[str], rng: np.random.Generator) -> np.ndarray:
    """Render one 4 s CHiME-Home chunk at 48 kHz: background plus one sound per tag.

    Returns:
        ``np.ndarray [shape=(2, 192000)]`` float in [-1, 1] (left, right).
    """
    n = CHIME_SR_HIGH * CHIME_SECONDS
    mix = _room_background(rng, n, CHIME_SR_HIGH)
    for tag in tags:
        synth, (low_db, high_db) = _CHIME_SOUNDS[tag]
        sound = synth(rng, n, CHIME_SR_HIGH) * _db(rng.uniform(low_db, high_db))
        mix += _spatialise(_place(sound, n, rng), rng)
    peak = float(np.max(np.abs(mix)))
    return mix * (0.97 / peak) if peak > 0.97 else mix


def _resample_48k_to_16k(x: np.ndarray) -> np.ndarray:
    """Polyphase 1:3 resampling, ``[shape=(192000,)]`` -> ``[shape=(64000,)]``."""
    return signal.resample_poly(x, 1, 3)


# --------------------------------------------------------------------------- CHiME-Home plan


@dataclasses.dataclass
class _ChimeChunk:
    """Everything needed to write one CHiME-Home chunk (its audio comes from ``audio_seed``)."""

    segment: str
    number: int
    tags: tuple[str, ...]  # in CHiME_LABELS order
    majorityvote: str
    annotations: tuple[str, str, str]
    fold: int | None
    subset: str
    audio_seed: int

    @property
    def name(self) -> str:
        return f"{self.segment}_chunk{self.number}"

    def annotation_rows(self) -> list[tuple[str, str]]:
        values = (self.segment, str(self.number), str(self.number * CHIME_SECONDS * CHIME_SR_HIGH),
                  *self.annotations, "1", "1", "1", self.majorityvote, self.name)
        return list(zip(CHIME_ANNOTATION_KEYS, values))

    def demo_clip(self) -> DemoClip:
        return DemoClip(self.name, tuple(sorted(self.tags)), self.fold, self.subset,
                        {"segment": self.segment, "chunknumber": self.number,
                         "majorityvote": self.majorityvote})


def _new_segment_name(rng: np.random.Generator, used: set[str]) -> str:
    """A fresh segment name like ``CR_lounge_220110_0731.s0``."""
    while True:
        day, month, year = rng.integers(1, 29), rng.integers(1, 13), rng.integers(10, 12)
        hour, minute = rng.integers(7, 23), rng.integers(0, 60)
        name = (f"CR_lounge_{day:02d}{month:02d}{year:02d}_{hour:02d}{minute:02d}"
                f".s{rng.integers(0, 4)}")
        if name not in used:
            used.add(name)
            return name


def _segment_sizes(rng: np.random.Generator, total: int) -> list[int]:
    """Split ``total`` chunks into segments of 1..8 chunks, at least 5 segments."""
    largest = max(1, min(8, total // CHIME_FOLDS))
    sizes: list[int] = []
    while sum(sizes) < total:
        sizes.append(min(int(rng.integers(1, largest + 1)), total - sum(sizes)))
    return sizes


def _balanced_folds(sizes: Sequence[int]) -> list[int]:
    """Assign segments to 5 folds, largest first, each to the currently smallest fold."""
    load = [0] * CHIME_FOLDS
    folds = [0] * len(sizes)
    for index in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        fold = min(range(CHIME_FOLDS), key=lambda f: (load[f], f))
        folds[index] = fold
        load[fold] += sizes[index]
    return folds


def _draw_tags(rng: np.random.Generator) -> tuple[str, ...]:
    """0-3 distinct labels (about 12% none), returned in ``CHIME_LABELS`` order."""
    count = int(rng.choice(len(_CHIME_TAG_COUNT_PROBS), p=_CHIME_TAG_COUNT_PROBS))
    weights = np.array(_CHIME_TAG_WEIGHTS) / sum(_CHIME_TAG_WEIGHTS)
    picked = set(rng.choice(len(CHIME_LABELS), size=count, replace=False, p=weights).tolist())
    return tuple(label for i, label in enumerate(CHIME_LABELS) if i in picked)


def _annotator_votes(rng: np.random.Generator, tags: Sequence[str]) -> tuple[str, str, str]:
    """Three annotators' label strings whose 2-of-3 majority is exactly ``tags``."""
    votes: list[list[str]] = [[], [], []]
    for label in CHIME_LABELS:
        if label in tags:
            voters = range(3) if rng.random() < 0.75 else rng.choice(3, 2, replace=False)
        else:
            voters = [int(rng.integers(3))] if rng.random() < 0.1 else []
        for voter in sorted(int(v) for v in voters):
            votes[voter].append(label)
    return tuple("".join(v) or "S" for v in votes)  # type: ignore[return-value]


def _majority_string(rng: np.random.Generator, tags: Sequence[str]) -> str:
    """The ``majorityvote`` value: tag letters, ``S`` if none, sometimes ``S``/``U`` added."""
    if not tags:
        return "S"
    extra = "S" if rng.random() < 0.15 else ""
    extra += "U" if rng.random() < 0.03 else ""
    return "".join(tags) + extra


def _plan_chime_subset(rng: np.random.Generator, total: int, subset: str,
                       used_segments: set[str]) -> list[_ChimeChunk]:
    """Draw segments, chunk numbers, folds, tags and audio seeds for one subset."""
    sizes = _segment_sizes(rng, total)
    folds = _balanced_folds(sizes) if subset == "development" else [None] * len(sizes)
    chunks = []
    for size, fold in zip(sizes, folds):
        segment = _new_segment_name(rng, used_segments)
        numbers = np.sort(rng.choice(40, size=size, replace=False))
        for number in numbers.tolist():
            tags = _draw_tags(rng)
            chunks.append(_ChimeChunk(
                segment=segment, number=number, tags=tags,
                majorityvote=_majority_string(rng, tags),
                annotations=_annotator_votes(rng, tags), fold=fold, subset=subset,
                audio_seed=int(rng.integers(2 ** 63))))
    return chunks


# --------------------------------------------------------------------------- CHiME-Home writing


def _write_csv(path: Path, rows: Iterable[Sequence[Any]], header: Sequence[str] | None = None,
               ) -> None:
    """Write rows as a comma-separated file with LF line endings."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)


def _write_wav(path: Path, pcm: np.ndarray, sr: int) -> None:
    """Write int16 samples ``[shape=(n,)]`` or ``[shape=(n, channels)]`` as 16-bit PCM wav."""
    sf.write(str(path), pcm, sr, subtype="PCM_16", format="WAV")


def _write_chime_chunk(folder: Path, chunk: _ChimeChunk) -> None:
    """Write a chunk's 48 kHz stereo wav, its 16 kHz right-channel wav and annotation CSV."""
    stereo = _to_int16(_chime_chunk_audio(chunk.tags, np.random.default_rng(chunk.audio_seed)))
    _write_wav(folder / f"{chunk.name}.48kHz.wav", stereo.T, CHIME_SR_HIGH)
    right = stereo[1].astype(np.float64) / 32767.0
    _write_wav(folder / f"{chunk.name}.16kHz.wav", _to_int16(_resample_48k_to_16k(right)),
               CHIME_SR_LOW)
    _write_csv(folder / f"{chunk.name}.csv", chunk.annotation_rows())


def _write_chime_lists(root: Path, dev: Sequence[_ChimeChunk],
                       evaluation: Sequence[_ChimeChunk]) -> None:
    """Write the development, cross-validation and evaluation chunk lists (no headers)."""
    _write_csv(root / CHIME_DEV_LIST, [(i, c.name) for i, c in enumerate(dev)])
    _write_csv(root / CHIME_CROSSVAL_LIST, [(i, c.name, c.fold) for i, c in enumerate(dev)])
    _write_csv(root / CHIME_EVAL_LIST, [(i, c.name) for i, c in enumerate(evaluation)])


# --------------------------------------------------------------------------- FSDKaggle2018 sounds


def _applause(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Dense random hand claps: band-passed noise bursts, 20-80 per second."""
    impulses = np.zeros(n)
    count = max(1, int(rng.uniform(20, 80) * n / sr))
    np.add.at(impulses, rng.integers(0, n, count), rng.uniform(0.3, 1.0, count))
    clap_len = int(0.03 * sr)
    clap = rng.standard_normal(clap_len) * _decay(clap_len, sr, rng.uniform(0.004, 0.01))
    claps = signal.fftconvolve(impulses, clap)[:n]
    claps = _bandpass(claps, rng.uniform(500, 1000), rng.uniform(3500, 6000), sr)
    return claps * _fades(n, sr // 20)


def _bark(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """1-5 barks: short loud bursts of a falling 350-650 Hz voice through open formants."""
    out = np.zeros(n)
    start = int(rng.uniform(0, 0.1) * sr)
    for _ in range(int(rng.integers(1, 6))):
        length = int(rng.uniform(0.08, 0.25) * sr)
        f0 = rng.uniform(350, 650) * np.linspace(1.15, 0.8, length)
        voice = _sawtooth(f0, sr) + 0.4 * rng.standard_normal(length)
        bark = _resonate(voice, (rng.uniform(700, 1000), rng.uniform(1400, 1900), 2900),
                         (200, 250, 300), (1.0, 0.7, 0.4), sr)
        _add_at(out, bark * _fades(length, length // 10) * _decay(length, sr, 0.08), start)
        start += length + int(rng.uniform(0.1, 0.5) * sr)
    return out


def _bass_drum(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """1-6 kicks: a sine gliding from ~150 Hz to ~50 Hz with a 0.15-0.4 s decay and a click."""
    out = np.zeros(n)
    length = int(0.5 * sr)
    t = np.arange(length) / sr
    freq = 50 + rng.uniform(60, 120) * np.exp(-t / 0.04)
    kick = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / rng.uniform(0.15, 0.4))
    kick[:int(0.003 * sr)] += 0.3 * rng.standard_normal(int(0.003 * sr))
    step = int(rng.uniform(0.3, 0.8) * sr)
    for start in range(int(rng.uniform(0, 0.1) * sr), n, step)[:int(rng.integers(1, 7))]:
        _add_at(out, kick * rng.uniform(0.7, 1.0), start)
    return out


def _bowed_notes(rng: np.random.Generator, n: int, sr: int, *, f0_range: tuple[float, float],
                 bright: bool) -> np.ndarray:
    """1-4 sustained notes with vibrato; ``bright`` = rich sawtooth, else nearly pure."""
    out = np.zeros(n)
    count = int(rng.integers(1, 5))
    bounds = np.linspace(0, n, count + 1).astype(int)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        length = stop - start
        t = np.arange(length) / sr
        f0 = rng.uniform(*f0_range) * (1 + 0.006 * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t))
        if bright:
            tone = _resonate(_sawtooth(f0, sr), (300, 700, 1500), (150, 250, 400),
                             (1.0, 0.8, 0.4), sr)
        else:
            phase = 2 * np.pi * np.cumsum(f0) / sr
            tone = np.sin(phase) + 0.2 * np.sin(2 * phase) + 0.05 * np.sin(3 * phase)
            breath = _bandpass(rng.standard_normal(length), 1000, 8000, sr)
            tone += 0.04 * breath / (np.std(breath) + 1e-12)
        out[start:stop] = _set_rms(tone, 0.0) * _fades(length, int(0.06 * sr))
    return out


def _cello(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    return _bowed_notes(rng, n, sr, f0_range=(65, 260), bright=True)


def _flute(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    return _bowed_notes(rng, n, sr, f0_range=(260, 1050), bright=False)


def _hi_hat(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Hi-hat hits on a regular grid: high-passed (> 7 kHz) noise, closed or open decay."""
    out = np.zeros(n)
    length = int(0.3 * sr)
    tau = rng.uniform(0.015, 0.05) if rng.random() < 0.7 else rng.uniform(0.1, 0.2)
    step = int(rng.uniform(0.12, 0.3) * sr)
    for start in range(int(rng.uniform(0, 0.05) * sr), n, step):
        hit = rng.standard_normal(length) * _decay(length, sr, tau) * rng.uniform(0.6, 1.0)
        _add_at(out, hit, start)
    return _highpass(out, 7000, sr)


def _meow(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """1-2 meows: a 450-900 Hz rising-falling voiced glide through cat-sized formants."""
    out = np.zeros(n)
    start = int(rng.uniform(0, 0.1) * sr)
    for _ in range(int(rng.integers(1, 3))):
        length = int(rng.uniform(0.4, 1.0) * sr)
        shape = np.sin(np.pi * np.linspace(0, 1, length)) ** 2
        f0 = rng.uniform(420, 520) + rng.uniform(250, 400) * shape
        voice = _resonate(_sawtooth(f0, sr), (rng.uniform(800, 1100), 1800, 3200),
                          (150, 200, 300), (1.0, 0.6, 0.3), sr)
        _add_at(out, voice * _fades(length, length // 5), start)
        start += length + int(rng.uniform(0.1, 0.4) * sr)
    return out


def _telephone(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Ringing telephone: two close tones, 15-25 Hz tremolo, in on/off bursts."""
    t = np.arange(n) / sr
    low = rng.uniform(400, 1200)
    tones = np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * low * rng.uniform(1.1, 1.3) * t)
    tremolo = (np.sin(2 * np.pi * rng.uniform(15, 25) * t) > 0).astype(float)
    on, off = rng.uniform(0.6, 1.6), rng.uniform(0.3, 1.2)
    start = rng.uniform(0, 0.2)
    cadence = (((t - start) % (on + off)) < on) & (t >= start)
    gate = signal.lfilter([0.02], [1.0, -0.98], cadence * tremolo)  # soften the edges
    return tones * gate


_FSD_SOUNDS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "Applause": _applause, "Bark": _bark, "Bass_drum": _bass_drum, "Cello": _cello,
    "Flute": _flute, "Hi-hat": _hi_hat, "Meow": _meow, "Telephone": _telephone,
}


def _fsd_clip_audio(label: str, samples: int, condition: str,
                    rng: np.random.Generator) -> np.ndarray:
    """Render one FSDKaggle2018 clip at 44.1 kHz.

    Args:
        label: one of :data:`FSD_CLASSES`.
        samples: clip length in samples.
        condition: ``"normal"``, ``"quiet"`` (nearly silent, peak ~ -80 dBFS) or
            ``"silent"`` (all zeros).

    Returns:
        ``np.ndarray [shape=(samples,)]`` float in [-1, 1].
    """
    if condition == "silent":
        return np.zeros(samples)
    sound = _set_rms(_FSD_SOUNDS[label](rng, samples, FSD_SR), rng.uniform(-28, -14))
    floor = _set_rms(_bandpass(rng.standard_normal(samples), 50, 10000, FSD_SR),
                     rng.uniform(-70, -58))
    clip = sound + floor
    if condition == "quiet":
        return _set_peak(clip, rng.uniform(-84, -78))
    peak = float(np.max(np.abs(clip)))
    return clip * (0.97 / peak) if peak > 0.97 else clip


# --------------------------------------------------------------------------- FSDKaggle2018 plan


@dataclasses.dataclass
class _FsdClip:
    """Everything needed to write one FSDKaggle2018 clip and its metadata rows."""

    fname: str
    label: str
    subset: str
    samples: int
    condition: str
    manually_verified: bool
    usage: str
    freesound_id: int
    license: str
    audio_seed: int

    def demo_clip(self, variant: str) -> DemoClip:
        extra: dict[str, Any] = {"condition": self.condition,
                                 "duration_s": self.samples / FSD_SR}
        if self.subset == "train":
            extra["manually_verified"] = self.manually_verified
        elif variant == "zenodo":
            extra["usage"] = self.usage
        return DemoClip(self.fname, (self.label,), None, self.subset, extra)


def _unique_fnames(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` distinct names of 8 lowercase hex digits plus ``.wav``."""
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        name = f"{int(rng.integers(0, 2 ** 32)):08x}.wav"
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def _durations(rng: np.random.Generator, count: int) -> np.ndarray:
    """Clip lengths in samples: 15% (at least one) in 0.3-1.5 s, the rest in 1.5-8 s."""
    seconds = rng.uniform(1.5, 8.0, count)
    short = rng.choice(count, size=max(1, round(0.15 * count)), replace=False)
    seconds[short] = rng.uniform(0.3, 1.5, short.size)
    return np.round(seconds * FSD_SR).astype(int)


def _conditions(rng: np.random.Generator, count: int, *, quiet: int, silent: int) -> list[str]:
    """``normal`` for most clips; ``quiet`` and ``silent`` for a few distinct random ones."""
    conditions = ["normal"] * count
    special = rng.choice(count, size=quiet + silent, replace=False)
    for index in special[:quiet]:
        conditions[int(index)] = "quiet"
    for index in special[quiet:]:
        conditions[int(index)] = "silent"
    return conditions


def _plan_fsd_subset(rng: np.random.Generator, fnames: Sequence[str], subset: str,
                     freesound_ids: np.ndarray) -> list[_FsdClip]:
    count = len(fnames)
    labels = rng.permutation(np.resize(np.array(FSD_CLASSES), count))
    samples = _durations(rng, count)
    if subset == "train":
        conditions = _conditions(rng, count, quiet=2, silent=1)
    else:
        conditions = _conditions(rng, count, quiet=1, silent=0)
    verified = rng.random(count) < 0.6
    public = set(rng.choice(count, size=max(1, round(0.19 * count)), replace=False).tolist())
    licenses = rng.choice(len(FSD_LICENSES), size=count, p=(0.55, 0.3, 0.15))
    clips = [
        _FsdClip(fname=fnames[i], label=str(labels[i]), subset=subset, samples=int(samples[i]),
                 condition=conditions[i], manually_verified=bool(verified[i]),
                 usage="Public" if i in public else "Private",
                 freesound_id=int(freesound_ids[i]), license=FSD_LICENSES[int(licenses[i])],
                 audio_seed=int(rng.integers(2 ** 63)))
        for i in range(count)
    ]
    return sorted(clips, key=lambda clip: clip.fname)


def _plan_fsd_clips(rng: np.random.Generator, train_count: int,
                    ) -> tuple[list[_FsdClip], list[_FsdClip]]:
    test_count = max(10, train_count // 4)
    fnames = _unique_fnames(rng, train_count + test_count)
    ids = 10_000 + rng.choice(440_000, size=train_count + test_count, replace=False)
    train = _plan_fsd_subset(rng, fnames[:train_count], "train", ids[:train_count])
    test = _plan_fsd_subset(rng, fnames[train_count:], "test", ids[train_count:])
    return train, test


# --------------------------------------------------------------------------- FSDKaggle2018 writing


def _write_fsd_clip(folder: Path, clip: _FsdClip) -> None:
    audio = _fsd_clip_audio(clip.label, clip.samples, clip.condition,
                            np.random.default_rng(clip.audio_seed))
    _write_wav(folder / clip.fname, _to_int16(audio), FSD_SR)


def _write_zenodo_meta(root: Path, train: Sequence[_FsdClip], test: Sequence[_FsdClip]) -> None:
    meta = root / "FSDKaggle2018.meta"
    meta.mkdir()
    _write_csv(meta / "train_post_competition.csv",
               [(c.fname, c.label, int(c.manually_verified), c.freesound_id, c.license)
                for c in train], FSD_TRAIN_HEADER)
    _write_csv(meta / "test_post_competition_scoring_clips.csv",
               [(c.fname, c.label, c.usage, c.freesound_id, c.license) for c in test],
               FSD_TEST_HEADER)


def _write_kaggle_meta(root: Path, train: Sequence[_FsdClip], test: Sequence[_FsdClip]) -> None:
    guess = " ".join(FSD_CLASSES[:3])
    _write_csv(root / "sample_submission.csv", [(c.fname, guess) for c in test],
               ("fname", "label"))
    _write_csv(root / "train.csv",
               [(c.fname, c.label, int(c.manually_verified)) for c in train],
               FSD_KAGGLE_TRAIN_HEADER)


_FSD_LAYOUTS: dict[str, dict[str, Any]] = {
    "zenodo": {"train_dir": "FSDKaggle2018.audio_train", "test_dir": "FSDKaggle2018.audio_test",
               "meta_entries": ("FSDKaggle2018.meta",), "write_meta": _write_zenodo_meta},
    "kaggle": {"train_dir": "audio_train", "test_dir": "audio_test",
               "meta_entries": ("sample_submission.csv", "train.csv"),
               "write_meta": _write_kaggle_meta},
}
