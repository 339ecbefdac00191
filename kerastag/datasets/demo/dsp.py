"""Signal primitives of the demo sound banks: levels, envelopes, oscillators, filters, noise.

Audio is float64 ``np.ndarray`` samples, nominally in [-1, 1], mono ``[shape=(n,)]``
unless said otherwise, at a sample rate ``sr`` in Hz. Levels are in dBFS (0 dB = full
scale). Randomness comes only from the ``numpy.random.Generator`` passed in, so a seed
fixes every sample.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
from scipy import signal


# --------------------------------------------------------------------------- levels


def to_int16(x: np.ndarray) -> np.ndarray:
    """Quantise float audio to 16-bit PCM values.

    Args:
        x: samples in [-1, 1], any shape; values outside are clipped.

    Returns:
        ``np.ndarray`` of ``int16``, the shape of ``x``.
    """
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def db_to_gain(level_db: float) -> float:
    """The linear amplitude factor of ``level_db`` dB (``0`` dB -> ``1.0``)."""
    return float(10.0 ** (level_db / 20.0))


def set_rms(x: np.ndarray, level_db: float) -> np.ndarray:
    """Scale ``x`` (any shape) to an RMS of ``level_db`` dBFS; a silent ``x`` stays silent."""
    rms = float(np.sqrt(np.mean(x ** 2))) if x.size else 0.0
    return x * (db_to_gain(level_db) / rms) if rms > 0 else x


def set_peak(x: np.ndarray, level_db: float) -> np.ndarray:
    """Scale ``x`` (any shape) to a peak of ``level_db`` dBFS; a silent ``x`` stays silent."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return x * (db_to_gain(level_db) / peak) if peak > 0 else x


# --------------------------------------------------------------------------- envelopes and timing


def fades(n: int, fade: int) -> np.ndarray:
    """Envelope with raised-cosine fade-in and fade-out.

    Args:
        n: envelope length in samples.
        fade: length of each fade in samples (at most ``n // 2`` is used).

    Returns:
        ``np.ndarray [shape=(n,)]`` in [0, 1], 1 between the fades.
    """
    env = np.ones(n)
    fade = min(fade, n // 2)
    if fade > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
        env[:fade] = ramp
        env[n - fade:] = ramp[::-1]
    return env


def decay(n: int, sr: int, tau_s: float) -> np.ndarray:
    """Exponential decay envelope ``exp(-t / tau_s)``, ``[shape=(n,)]``, ``tau_s`` in seconds."""
    return np.exp(-np.arange(n) / (tau_s * sr))


def place(event: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Put ``event [shape=(m,)]`` at a random offset in ``n`` samples of silence.

    Returns:
        ``np.ndarray [shape=(n,)]``; an event longer than ``n`` is cropped to its start.
    """
    out = np.zeros(n)
    event = event[:n]
    start = int(rng.integers(0, n - event.size + 1))
    out[start:start + event.size] = event
    return out


def add_at(out: np.ndarray, event: np.ndarray, start: int) -> None:
    """Add ``event [shape=(m,)]`` into ``out [shape=(n,)]`` in place from sample ``start``.

    The part of ``event`` that would run past the end of ``out`` is dropped.
    """
    stop = min(out.size, start + event.size)
    if stop > start:
        out[start:stop] += event[:stop - start]


# --------------------------------------------------------------------------- oscillators


def sawtooth(f0_track: np.ndarray, sr: int) -> np.ndarray:
    """Sawtooth in [-1, 1] following an instantaneous frequency track.

    Args:
        f0_track: ``[shape=(n,)]`` frequency in Hz of every sample.
        sr: sample rate in Hz.

    Returns:
        ``np.ndarray [shape=(n,)]``, starting at phase 0.
    """
    cycles = np.cumsum(f0_track) / sr
    return 2.0 * (cycles % 1.0) - 1.0


def sines(freqs: np.ndarray, amps: np.ndarray, n: int, sr: int,
          rng: np.random.Generator) -> np.ndarray:
    """Sum of steady sinusoids with random phases.

    Args:
        freqs: ``[shape=(partials,)]`` frequencies in Hz.
        amps: ``[shape=(partials,)]`` linear amplitudes.
        n: length in samples.
        sr: sample rate in Hz.
        rng: draws one phase per partial.

    Returns:
        ``np.ndarray [shape=(n,)]``.
    """
    t = np.arange(n) / sr
    phases = rng.uniform(0, 2 * np.pi, freqs.size)
    return amps @ np.sin(2 * np.pi * freqs[:, None] * t[None, :] + phases[:, None])


# --------------------------------------------------------------------------- filters


def resonate(x: np.ndarray, freqs: Iterable[float], bandwidths: Iterable[float],
             gains: Iterable[float], sr: int) -> np.ndarray:
    """Parallel unity-peak resonators (formants): ``sum(gain * peak_filter(x))``.

    Args:
        x: ``[shape=(n,)]`` source signal.
        freqs: centre frequencies in Hz (capped at ``0.45 * sr``).
        bandwidths: -3 dB bandwidths in Hz, one per resonator.
        gains: linear gains, one per resonator.
        sr: sample rate in Hz.

    Returns:
        ``np.ndarray [shape=(n,)]``.
    """
    out = np.zeros_like(x)
    for freq, bw, gain in zip(freqs, bandwidths, gains):
        freq = min(freq, 0.45 * sr)
        b, a = signal.iirpeak(freq, freq / bw, fs=sr)
        out += gain * signal.lfilter(b, a, x)
    return out


def bandpass(x: np.ndarray, low: float, high: float, sr: int, order: int = 2) -> np.ndarray:
    """Butterworth band-pass of ``x [shape=(n,)]`` between ``low`` and ``high`` Hz.

    ``high`` is capped at ``0.45 * sr``; the result has the shape of ``x``.
    """
    sos = signal.butter(order, [low, min(high, 0.45 * sr)], "bandpass", fs=sr, output="sos")
    return signal.sosfilt(sos, x)


def highpass(x: np.ndarray, cutoff: float, sr: int, order: int = 4) -> np.ndarray:
    """Butterworth high-pass of ``x [shape=(n,)]`` above ``cutoff`` Hz, same shape."""
    sos = signal.butter(order, cutoff, "highpass", fs=sr, output="sos")
    return signal.sosfilt(sos, x)


def resample_48k_to_16k(x: np.ndarray) -> np.ndarray:
    """Polyphase 1:3 resampling, 48 kHz ``[shape=(n,)]`` -> 16 kHz ``[shape=(ceil(n / 3),)]``."""
    return signal.resample_poly(x, 1, 3)


# --------------------------------------------------------------------------- noise


def brown_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Leaky-integrated white noise, about -6 dB/octave above ~80 Hz at 48 kHz.

    Returns:
        ``np.ndarray [shape=(n,)]`` with zero mean and unit RMS.
    """
    x = signal.lfilter([1.0], [1.0, -0.99], rng.standard_normal(n))
    x -= x.mean()
    return x / np.sqrt(np.dot(x, x) / n)
