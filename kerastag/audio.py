"""Reading audio files into float32 arrays, with errors that name the file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from kerastag.errors import AudioError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")


def audio_info(path: str | os.PathLike) -> sf._SoundFileInfo:
    """Return soundfile's header info (sample rate, channels, frames) for ``path``.

    Raises:
        AudioError: the file is missing, empty or not decodable audio.
    """
    path = Path(path)
    _check_exists(path)
    try:
        return sf.info(str(path))
    except Exception as exc:  # soundfile raises several types for corrupt headers
        raise AudioError(f"{path}: cannot read audio ({_short(exc)})") from None


def load_audio(path: str | os.PathLike, *, sample_rate: int, mono: bool = True,
               channel: int | None = None) -> np.ndarray:
    """Load an audio file as float32 in [-1, 1], resampled to ``sample_rate`` Hz.

    Args:
        path: audio file.
        sample_rate: target sample rate in Hz.
        mono: average the channels (ignored when ``channel`` is given).
        channel: keep only this channel (0-based) instead of averaging.

    Returns:
        ``np.ndarray [shape=(samples,)]`` when mono or a channel is chosen, else
        ``[shape=(channels, samples)]``. A file with no samples gives an empty array.

    Raises:
        AudioError: missing, empty (0 bytes) or undecodable file.
    """
    path = Path(path)
    _check_exists(path)
    try:
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(f"{path}: cannot read audio ({_short(exc)})") from None
    data = data.T  # (channels, samples)
    if channel is not None:
        if channel >= data.shape[0]:
            raise AudioError(f"{path}: has {data.shape[0]} channel(s), channel {channel} requested")
        data = data[channel]
    elif mono:
        data = data.mean(axis=0)
    if file_rate != sample_rate and data.shape[-1] > 0:
        import librosa

        data = librosa.resample(data, orig_sr=file_rate, target_sr=sample_rate, res_type="soxr_hq")
    return np.ascontiguousarray(data, dtype=np.float32)


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise AudioError(f"{path}: audio file not found")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, expected an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: audio file is empty (0 bytes)")


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
