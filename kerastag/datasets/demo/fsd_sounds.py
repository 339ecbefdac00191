"""The FSDKaggle2018 demo's sound bank: eight of the real 41 labels, one synthesiser each.

The classes differ by what a listener would use: dense claps (Applause), short voiced
bursts (Bark), pitch glides with a long decay (Bass_drum), bright or pure sustained notes
(Cello, Flute), high-passed noise hits on a grid (Hi-hat), rising-falling glides (Meow)
and gated two-tone rings (Telephone). :func:`fsd_clip_audio` renders a whole clip: the
sound at a random level over a faint noise floor, or a quiet or silent clip.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import signal

from kerastag.datasets.demo.dsp import (
    add_at, bandpass, decay, fades, highpass, resonate, sawtooth, set_peak, set_rms,
)

FSD_SR = 44_100  # Hz, every clip


# --------------------------------------------------------------------------- percussion


def _applause(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Dense random hand claps: band-passed noise bursts, 20-80 per second."""
    impulses = np.zeros(n)
    count = max(1, int(rng.uniform(20, 80) * n / sr))
    np.add.at(impulses, rng.integers(0, n, count), rng.uniform(0.3, 1.0, count))
    clap_len = int(0.03 * sr)
    clap = rng.standard_normal(clap_len) * decay(clap_len, sr, rng.uniform(0.004, 0.01))
    claps = signal.fftconvolve(impulses, clap)[:n]
    claps = bandpass(claps, rng.uniform(500, 1000), rng.uniform(3500, 6000), sr)
    return claps * fades(n, sr // 20)


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
        add_at(out, kick * rng.uniform(0.7, 1.0), start)
    return out


def _hi_hat(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Hi-hat hits on a regular grid: high-passed (> 7 kHz) noise, closed or open decay."""
    out = np.zeros(n)
    length = int(0.3 * sr)
    tau = rng.uniform(0.015, 0.05) if rng.random() < 0.7 else rng.uniform(0.1, 0.2)
    step = int(rng.uniform(0.12, 0.3) * sr)
    for start in range(int(rng.uniform(0, 0.05) * sr), n, step):
        hit = rng.standard_normal(length) * decay(length, sr, tau) * rng.uniform(0.6, 1.0)
        add_at(out, hit, start)
    return highpass(out, 7000, sr)


# --------------------------------------------------------------------------- animals


def _bark(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """1-5 barks: short loud bursts of a falling 350-650 Hz voice through open formants."""
    out = np.zeros(n)
    start = int(rng.uniform(0, 0.1) * sr)
    for _ in range(int(rng.integers(1, 6))):
        length = int(rng.uniform(0.08, 0.25) * sr)
        f0 = rng.uniform(350, 650) * np.linspace(1.15, 0.8, length)
        voice = sawtooth(f0, sr) + 0.4 * rng.standard_normal(length)
        bark = resonate(voice, (rng.uniform(700, 1000), rng.uniform(1400, 1900), 2900),
                        (200, 250, 300), (1.0, 0.7, 0.4), sr)
        add_at(out, bark * fades(length, length // 10) * decay(length, sr, 0.08), start)
        start += length + int(rng.uniform(0.1, 0.5) * sr)
    return out


def _meow(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """1-2 meows: a 450-900 Hz rising-falling voiced glide through cat-sized formants."""
    out = np.zeros(n)
    start = int(rng.uniform(0, 0.1) * sr)
    for _ in range(int(rng.integers(1, 3))):
        length = int(rng.uniform(0.4, 1.0) * sr)
        shape = np.sin(np.pi * np.linspace(0, 1, length)) ** 2
        f0 = rng.uniform(420, 520) + rng.uniform(250, 400) * shape
        voice = resonate(sawtooth(f0, sr), (rng.uniform(800, 1100), 1800, 3200),
                         (150, 200, 300), (1.0, 0.6, 0.3), sr)
        add_at(out, voice * fades(length, length // 5), start)
        start += length + int(rng.uniform(0.1, 0.4) * sr)
    return out


# --------------------------------------------------------------------------- tones


def _bowed_notes(rng: np.random.Generator, n: int, sr: int, *, f0_range: tuple[float, float],
                 bright: bool) -> np.ndarray:
    """1-4 sustained notes with vibrato filling ``n`` samples.

    Args:
        rng: source of every random choice.
        n: length in samples.
        sr: sample rate in Hz.
        f0_range: range of each note's fundamental in Hz.
        bright: a rich sawtooth through body resonances (Cello), else a nearly pure tone
            with breath noise (Flute).

    Returns:
        ``np.ndarray [shape=(n,)]``, each note at unit RMS with 60 ms fades.
    """
    out = np.zeros(n)
    count = int(rng.integers(1, 5))
    bounds = np.linspace(0, n, count + 1).astype(int)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        length = stop - start
        t = np.arange(length) / sr
        f0 = rng.uniform(*f0_range) * (1 + 0.006 * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t))
        if bright:
            tone = resonate(sawtooth(f0, sr), (300, 700, 1500), (150, 250, 400),
                            (1.0, 0.8, 0.4), sr)
        else:
            phase = 2 * np.pi * np.cumsum(f0) / sr
            tone = np.sin(phase) + 0.2 * np.sin(2 * phase) + 0.05 * np.sin(3 * phase)
            breath = bandpass(rng.standard_normal(length), 1000, 8000, sr)
            tone += 0.04 * breath / (np.std(breath) + 1e-12)
        out[start:stop] = set_rms(tone, 0.0) * fades(length, int(0.06 * sr))
    return out


def _cello(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Bright bowed notes at 65-260 Hz."""
    return _bowed_notes(rng, n, sr, f0_range=(65, 260), bright=True)


def _flute(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Nearly pure breathy notes at 260-1050 Hz."""
    return _bowed_notes(rng, n, sr, f0_range=(260, 1050), bright=False)


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


# --------------------------------------------------------------------------- the bank and a clip


# Label -> synthesiser ``(rng, n_samples, sr) -> np.ndarray [shape=(n_samples,)]``.
_FSD_SOUNDS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "Applause": _applause, "Bark": _bark, "Bass_drum": _bass_drum, "Cello": _cello,
    "Flute": _flute, "Hi-hat": _hi_hat, "Meow": _meow, "Telephone": _telephone,
}
#: The demo's labels, in the order the planner deals them out.
FSD_CLASSES = tuple(_FSD_SOUNDS)


def fsd_clip_audio(label: str, samples: int, condition: str,
                   rng: np.random.Generator) -> np.ndarray:
    """Render one FSDKaggle2018 clip at :data:`FSD_SR` (44.1 kHz).

    Args:
        label: one of :data:`FSD_CLASSES`.
        samples: clip length in samples.
        condition: ``"normal"`` (sound at -28 to -14 dBFS RMS over a -70 to -58 dBFS
            floor, peak <= 0.97), ``"quiet"`` (nearly silent, peak ~ -80 dBFS) or
            ``"silent"`` (all zeros).
        rng: source of every random choice; the same state gives the same samples.

    Returns:
        ``np.ndarray [shape=(samples,)]`` float in [-1, 1].
    """
    if condition == "silent":
        return np.zeros(samples)
    sound = set_rms(_FSD_SOUNDS[label](rng, samples, FSD_SR), rng.uniform(-28, -14))
    floor = set_rms(bandpass(rng.standard_normal(samples), 50, 10000, FSD_SR),
                    rng.uniform(-70, -58))
    clip = sound + floor
    if condition == "quiet":
        return set_peak(clip, rng.uniform(-84, -78))
    peak = float(np.max(np.abs(clip)))
    return clip * (0.97 / peak) if peak > 0.97 else clip
