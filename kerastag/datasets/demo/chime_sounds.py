"""The CHiME-Home demo's sound bank: one synthesiser per tag, a room and a stereo mix.

Each tag letter of :data:`kerastag.reference_results.CHIME_HOME_TAGS` has a synthesiser
that is told apart from the others only by listening: voices by pitch and formants
(child > female > male), video game/TV by chords on a beat, percussive sounds by
trains of knocks at a steady rhythm, broadband noise switched on or off, other sounds by
a motif of beeps, a sweep or clinks repeated over the chunk. :func:`chime_chunk_audio`
places one sound per tag at a random time, level and stereo position over a room that
changes from chunk to chunk (noise colour and level, hum, maybe a whine or lone knocks),
so that a tag's single frames resemble the room's and its timing is what tells it apart.
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
from scipy import signal

from kerastag.datasets.demo.dsp import (
    add_at, bandpass, brown_noise, db_to_gain, decay, fades, place, resonate, sawtooth,
    set_peak, set_rms, sines,
)

CHIME_SR_HIGH = 48_000  # Hz, the stereo ``.48kHz.wav``
CHIME_SR_LOW = 16_000  # Hz, the mono ``.16kHz.wav`` (the right channel, resampled)
CHIME_SECONDS = 4  # length of a chunk

# Vowel formants (F1, F2, F3) in Hz of an adult male speaker (Peterson & Barney).
_VOWELS = np.array([
    [730, 1090, 2440], [270, 2290, 3010], [300, 870, 2240],
    [530, 1840, 2480], [570, 840, 2410], [660, 1720, 2410],
], dtype=float)
_FORMANT_GAINS = (1.0, 0.6, 0.35)


# --------------------------------------------------------------------------- voices (c, m, f)


def _speech(rng: np.random.Generator, n: int, sr: int, *, f0_range: tuple[float, float],
            formant_scale: float, vibrato: float, seconds: tuple[float, float] = (0.9, 2.8),
            ) -> np.ndarray:
    """A speech-like utterance: voiced sawtooth source, syllable envelopes, vowel formants.

    Args:
        rng: source of every random choice.
        n: the most samples the utterance may take.
        sr: sample rate in Hz.
        f0_range: range of the mean fundamental in Hz.
        formant_scale: factor on adult-male vowel formants (vocal tract length).
        vibrato: relative depth of the 4-7 Hz pitch modulation.
        seconds: range of the utterance length in seconds.

    Returns:
        ``np.ndarray [shape=(m,)]`` with ``m <= n`` samples, unit RMS.
    """
    m = min(n, int(rng.uniform(*seconds) * sr))
    t = np.arange(m) / sr
    intonation = np.linspace(rng.uniform(1.0, 1.15), rng.uniform(0.85, 1.0), m)
    wobble = 1 + vibrato * np.sin(2 * np.pi * rng.uniform(4, 7) * t + rng.uniform(0, 6.3))
    source = sawtooth(rng.uniform(*f0_range) * intonation * wobble, sr)
    source += 0.08 * rng.standard_normal(m)  # aspiration
    out = np.zeros(m)
    start = 0
    while start < m:
        length = min(m - start, int(rng.uniform(0.12, 0.35) * sr))
        formants = _VOWELS[rng.integers(len(_VOWELS))] * formant_scale
        syllable = resonate(source[start:start + length], formants,
                            (90 * formant_scale, 120 * formant_scale, 160 * formant_scale),
                            _FORMANT_GAINS, sr)
        out[start:start + length] = syllable * np.hanning(length) ** 0.7
        start += length + int(rng.uniform(0.03, 0.15) * sr)
    return set_rms(out, 0.0)


def _child_speech(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Tag ``c``: high pitch (250-400 Hz), short vocal tract, strong vibrato."""
    return _speech(rng, n, sr, f0_range=(250, 400), formant_scale=1.5, vibrato=0.05)


def _male_speech(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Tag ``m``: low pitch (85-150 Hz), adult-male formants."""
    return _speech(rng, n, sr, f0_range=(85, 150), formant_scale=1.0, vibrato=0.012)


def _female_speech(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Tag ``f``: middle pitch (170-250 Hz), formants 17% above adult-male ones."""
    return _speech(rng, n, sr, f0_range=(170, 250), formant_scale=1.17, vibrato=0.025)


# ----------------------------------------------------------------------- other tags (v, p, b, o)


def _tv_music(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Tag ``v``: chords of harmonic tones changing on a beat, a kick, maybe babble.

    Returns:
        ``np.ndarray [shape=(m,)]``, 2-4 s (at most ``n`` samples), unit RMS.
    """
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
        out[start:start + length] = sines(freqs, amps, length, sr, rng) * fades(length, sr // 100)
    kick_len = int(0.12 * sr)
    kick = np.sin(2 * np.pi * 70 * np.arange(kick_len) / sr) * decay(kick_len, sr, 0.03)
    for start in range(0, m, beat):
        add_at(out, 2.0 * kick, start)
    if rng.random() < 0.3:
        babble = bandpass(_speech(rng, m, sr, f0_range=(100, 220), formant_scale=1.1,
                                  vibrato=0.02), 300, 3400, sr)
        out[:babble.size] += 0.3 * set_rms(babble, 0.0) * np.sqrt(np.mean(out ** 2))
    return set_rms(out * fades(m, sr // 50), 0.0)


def _knock(rng: np.random.Generator, sr: int, resonance: tuple[float, float],
           tau_s: float) -> np.ndarray:
    """One 0.25 s decaying broadband hit through one resonance (Hz, bandwidth Hz), peak 0 dBFS."""
    hit_len = int(0.25 * sr)
    burst = rng.standard_normal(hit_len) * decay(hit_len, sr, tau_s)
    body = resonate(burst, [resonance[0]], [resonance[1]], [1.0], sr)
    return set_peak(0.8 * set_peak(body, 0.0) + 0.3 * burst, 0.0)


def _knock_object(rng: np.random.Generator) -> tuple[tuple[float, float], float]:
    """What is knocked on: its resonance (Hz, bandwidth Hz) and the hit's decay time (s)."""
    resonance = (rng.uniform(150, 2500), rng.uniform(80, 600))
    return resonance, rng.uniform(0.005, 0.04)


def _knocks(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Tag ``p``: a train of 4-8 knocks on one object at a steady 0.12-0.3 s interval.

    The rhythm is the evidence: the room may hold a lone knock of the same kind
    (see :func:`_room_background`), so a single knock's spectrum does not tell ``p`` apart.

    Returns:
        ``np.ndarray [shape=(m,)]`` with ``m <= n`` samples and a peak of 0 dBFS.
    """
    interval = int(rng.uniform(0.12, 0.3) * sr)
    count = int(rng.integers(4, 9))
    resonance, tau_s = _knock_object(rng)
    out = np.zeros(min(n, (count - 1) * interval + int(0.25 * sr)))
    for k in range(count):
        jitter = int(rng.uniform(-0.04, 0.04) * interval)
        hit = _knock(rng, sr, resonance, tau_s) * db_to_gain(rng.uniform(-4, 0))
        add_at(out, hit, max(0, k * interval + jitter))
    return set_peak(out, 0.0)


def _broadband(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Tag ``b``: stationary band-limited noise (vacuum cleaner, running tap) switched on and off.

    The room's own noise (:func:`_room_background`) can be as loud as a quiet ``b``, so the
    switching on or off within the chunk is part of the evidence.

    Returns:
        ``np.ndarray [shape=(m,)]``, 1.2-3.2 s (at most ``n`` samples), unit RMS.
    """
    m = min(n, int(rng.uniform(1.2, 3.2) * sr))
    noise = rng.standard_normal(m)
    if rng.random() < 0.5:  # pink-ish tilt
        noise = signal.lfilter([1.0], [1.0, -0.9], noise)
    noise = bandpass(noise, rng.uniform(80, 600), rng.uniform(3000, 16000), sr)
    t = np.arange(m) / sr
    motor = 1 + 0.05 * np.sin(2 * np.pi * rng.uniform(0.5, 3) * t)
    return set_rms(noise * motor * fades(m, int(rng.uniform(0.05, 0.3) * sr)), 0.0)


def _beeps(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """1-4 identical 800-3000 Hz beeps of 0.08-0.3 s with equal gaps; ``n`` is unused."""
    tone_len = int(rng.uniform(0.08, 0.3) * sr)
    gap = int(rng.uniform(0.08, 0.3) * sr)
    tone = np.sin(2 * np.pi * rng.uniform(800, 3000) * np.arange(tone_len) / sr)
    tone *= fades(tone_len, sr // 200)
    reps = int(rng.integers(1, 5))
    out = np.zeros(reps * (tone_len + gap))
    for k in range(reps):
        out[k * (tone_len + gap):k * (tone_len + gap) + tone_len] = tone
    return out


def _sweep(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """One 0.2-0.8 s logarithmic chirp up or down between ~0.3-1 and 2-6 kHz; ``n`` unused."""
    length = int(rng.uniform(0.2, 0.8) * sr)
    t = np.arange(length) / sr
    low, high = rng.uniform(300, 1000), rng.uniform(2000, 6000)
    f_start, f_end = (low, high) if rng.random() < 0.5 else (high, low)
    chirp = signal.chirp(t, f_start, t[-1], f_end, method="logarithmic")
    return chirp * fades(length, sr // 100)


def _clinks(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """1-3 glassy clinks: five decaying 1.5-7 kHz partials, 0.4 s each; ``n`` unused."""
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
    """Tag ``o``: one motif (beeps, a frequency sweep or glassy clinks) repeated 2-4 times.

    The repeats are 0.25-1.0 s apart, spread over the chunk (an appliance signalling, a
    phone ringing); the room may hold a steady whine at the beeps' pitches, which only the
    motif's onsets and offsets tell apart.

    Returns:
        ``np.ndarray [shape=(m,)]`` with ``m <= n`` samples, unit RMS.
    """
    kind = (_beeps, _sweep, _clinks)[int(rng.integers(3))]
    motif = kind(rng, n, sr)
    starts = [0]
    for _ in range(int(rng.integers(1, 4))):
        starts.append(starts[-1] + motif.size + int(rng.uniform(0.25, 1.0) * sr))
    out = np.zeros(min(n, starts[-1] + motif.size))
    for start in starts:
        add_at(out, motif * db_to_gain(rng.uniform(-3, 0)), start)
    return set_rms(out, 0.0)


# Tag letter -> synthesiser and level range in dBFS: an RMS level, except for the hits of
# ``p`` (a peak level). Keys are the letters of CHIME_HOME_TAGS.
_CHIME_SOUNDS: dict[str, tuple[Callable[..., np.ndarray], tuple[float, float]]] = {
    "c": (_child_speech, (-30, -16)),
    "m": (_male_speech, (-30, -16)),
    "f": (_female_speech, (-30, -16)),
    "v": (_tv_music, (-30, -17)),
    "p": (_knocks, (-14, -2)),
    "b": (_broadband, (-30, -16)),
    "o": (_other, (-30, -16)),
}


# --------------------------------------------------------------------------- the stereo chunk


def _room_background(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """The recording's room, different for every chunk: coloured noise, hum, a whine, ticks.

    Partly coherent noise between white and brown (a random mix) at -50 to -32 dBFS RMS;
    mains hum (harmonics 1-3) at -60 to -40; in half the rooms a steady 800-3000 Hz whine
    (a charger, a TV's line whistle) at -50 to -34; in one room of ten, a lone knock at
    the knocks' peak levels. Frame by frame these look like the tags' sounds (a whine like
    a beep, a tick like a knock, loud noise like ``b``); what they lack is the tags' timing.

    Returns:
        ``np.ndarray [shape=(2, n)]``.
    """
    brown = np.stack([brown_noise(rng, n), brown_noise(rng, n)])
    white = rng.standard_normal((2, n))
    weight = rng.uniform(0.0, 1.0)
    noise = np.sqrt(1 - weight) * brown + np.sqrt(weight) * white  # unit RMS per channel
    channels = np.stack([noise[0], 0.8 * noise[0] + 0.6 * noise[1]]) * db_to_gain(
        rng.uniform(-50, -32))
    period = sr // (50 if rng.random() < 0.7 else 60)  # mains hum, harmonics 1-3
    phase = 2 * np.pi * np.arange(period) / period + rng.uniform(0, 2 * np.pi)
    cycle = np.cos(phase) + 0.5 * np.cos(2 * phase) + 0.3 * np.cos(3 * phase)
    room = channels + np.resize(set_rms(cycle, rng.uniform(-60, -40)), n)
    if rng.random() < 0.5:
        whine = sines(np.array([rng.uniform(800, 3000)]), np.ones(1), n, sr, rng)
        room += set_rms(whine, rng.uniform(-50, -34))
    if rng.random() < 0.1:
        knock_low, knock_high = _CHIME_SOUNDS["p"][1]
        knock = _knock(rng, sr, *_knock_object(rng))
        room += _spatialise(place(knock * db_to_gain(rng.uniform(knock_low, knock_high)),
                                  n, rng), rng)
    return room


def _spatialise(mono: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Give a source a position: channel gains and an inter-channel delay (<= 0.5 ms at 48 kHz).

    Args:
        mono: ``[shape=(n,)]`` the source.
        rng: draws the pan position and the delay.

    Returns:
        ``np.ndarray [shape=(2, n)]``; both channels always carry the source.
    """
    pan = rng.uniform(0.25, 0.75)
    gains = np.array([np.cos(pan * np.pi / 2), np.sin(pan * np.pi / 2)])
    delay = int(rng.integers(0, 25))
    late = np.concatenate([np.zeros(delay), mono[:mono.size - delay]])
    pair = np.stack([mono, late] if pan > 0.5 else [late, mono])
    return pair * gains[:, None] * np.sqrt(2)


def chime_chunk_audio(tags: Iterable[str], rng: np.random.Generator) -> np.ndarray:
    """Render one 4 s CHiME-Home chunk at 48 kHz: background plus one sound per tag.

    Args:
        tags: tag letters of the chunk (each a key of the sound bank), possibly none.
        rng: source of every random choice; the same state gives the same samples.

    Returns:
        ``np.ndarray [shape=(2, 192000)]`` float in [-1, 1] (left, right).
    """
    n = CHIME_SR_HIGH * CHIME_SECONDS
    mix = _room_background(rng, n, CHIME_SR_HIGH)
    for tag in tags:
        synth, (low_db, high_db) = _CHIME_SOUNDS[tag]
        sound = synth(rng, n, CHIME_SR_HIGH) * db_to_gain(rng.uniform(low_db, high_db))
        mix += _spatialise(place(sound, n, rng), rng)
    peak = float(np.max(np.abs(mix)))
    return mix * (0.97 / peak) if peak > 0.97 else mix
