"""Reading audio files into float32 arrays, validated once where they are read.

Every read (``data check``, feature extraction, ``predict``) goes through this module, so
the same file is accepted or refused the same way everywhere: it must exist, decode, hold
at least one sample, hold only finite samples (a float WAV can carry NaN or Inf), and,
where the dataset layout fixes them (:class:`AudioFormat`), have the expected sample rate,
channel count and length. Every refusal is an :class:`AudioError` naming the file.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf

from kerastag.errors import AudioError

#: libsndfile's container formats -> the file extensions they are written with.
_FORMAT_EXTENSIONS = {
    "WAV": (".wav",), "FLAC": (".flac",), "OGG": (".ogg", ".oga", ".opus"), "MP3": (".mp3",),
    "AIFF": (".aiff", ".aif", ".aifc"), "AU": (".au", ".snd"), "CAF": (".caf",),
    "W64": (".w64",), "RF64": (".rf64",),
}
#: Extensions of the audio files the installed libsndfile reads (lower case): what a
#: folder given to ``predict`` is searched for. OGG holds Vorbis or Opus (``.opus``,
#: ``.oga``); MP3 needs libsndfile 1.1 or later; AAC/M4A is not read by libsndfile.
AUDIO_EXTENSIONS = tuple(extension for name, extensions in _FORMAT_EXTENSIONS.items()
                         if name in sf.available_formats() for extension in extensions)

#: soundfile subtypes that can hold non-finite samples (PCM cannot).
_FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")


@dataclasses.dataclass(frozen=True)
class AudioFormat:
    """What a dataset layout requires of one of its audio files (None: anything).

    Attributes:
        what: the file's role, for messages (``"CHiME-Home 16 kHz chunk"``).
        sample_rate: sample rate in Hz.
        channels: channel count.
        frames: exact length in samples per channel.
    """

    what: str
    sample_rate: int | None = None
    channels: int | None = None
    frames: int | None = None

    def problem(self, sample_rate: int, channels: int, frames: int) -> str | None:
        """What differs from this format, in words, or None when the file fits."""
        wanted, got = [], []
        for name, expected, actual, unit in (("rate", self.sample_rate, sample_rate, " Hz"),
                                             ("channels", self.channels, channels, " channel(s)"),
                                             ("frames", self.frames, frames, " samples")):
            if expected is not None and expected != actual:
                wanted.append(f"{expected}{unit}")
                got.append(f"{actual}{unit}")
        if not wanted:
            return None
        return f"expected {', '.join(wanted)} for a {self.what}, got {', '.join(got)}"


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


def check_audio_file(path: str | os.PathLike, expected: AudioFormat | None = None) -> sf._SoundFileInfo:
    """Validate a file without keeping its samples (``kerastag data check``).

    Reads the header; reads the samples only where they could be non-finite (float WAVs).

    Returns:
        soundfile's header info.

    Raises:
        AudioError: as :func:`load_audio` would for this file.
    """
    path = Path(path)
    info = audio_info(path)
    _check_header(path, info.samplerate, info.channels, info.frames, expected)
    if info.subtype in _FLOAT_SUBTYPES:
        _check_finite(path, _read(path))
    return info


def load_audio(path: str | os.PathLike, *, sample_rate: int, mono: bool = True,
               channel: int | None = None, expected: AudioFormat | None = None) -> np.ndarray:
    """Load an audio file as float32 in [-1, 1], resampled to ``sample_rate`` Hz.

    Args:
        path: audio file.
        sample_rate: target sample rate in Hz.
        mono: average the channels (ignored when ``channel`` is given).
        channel: keep only this channel (0-based) instead of averaging.
        expected: the format the dataset layout requires of the file, if any.

    Returns:
        ``np.ndarray [shape=(samples,)]`` when mono or a channel is chosen, else
        ``[shape=(channels, samples)]``.

    Raises:
        AudioError: missing, empty (0 bytes), undecodable, without samples, with
            non-finite samples, or not of the ``expected`` format; the message names the
            file and what was wrong.

    Examples:
        A 1 s stereo file at 44.1 kHz, read mono (the channels averaged), one channel,
        or both, at 16 kHz:

        >>> import pathlib, tempfile
        >>> import numpy as np, soundfile as sf
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = pathlib.Path(folder) / "clip.wav"
        ...     left_right = np.stack([np.full(44100, 0.5), np.full(44100, -0.25)], axis=1)
        ...     sf.write(path, left_right, 44100)
        ...     mono = load_audio(path, sample_rate=16000)
        ...     right = load_audio(path, sample_rate=16000, channel=1)
        ...     both = load_audio(path, sample_rate=16000, mono=False)
        >>> mono.shape, mono.dtype, both.shape
        ((16000,), dtype('float32'), (2, 16000))
        >>> round(float(mono[8000]), 3), round(float(right[8000]), 3)
        (0.125, -0.25)
    """
    path = Path(path)
    _check_exists(path)
    data, file_rate = _read(path)
    _check_header(path, file_rate, data.shape[1], data.shape[0], expected)
    _check_finite(path, (data, file_rate))
    data = data.T  # (channels, samples)
    if channel is not None:
        if channel >= data.shape[0]:
            raise AudioError(f"{path}: has {data.shape[0]} channel(s), channel {channel} requested")
        data = data[channel]
    elif mono:
        data = data.mean(axis=0)
    if file_rate != sample_rate:
        import librosa

        data = librosa.resample(data, orig_sr=file_rate, target_sr=sample_rate, res_type="soxr_hq")
    return np.ascontiguousarray(data, dtype=np.float32)


def iter_audio_blocks(path: str | os.PathLike, *, sample_rate: int,
                      block_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """Read a file of any length in blocks: mono float32 at ``sample_rate`` Hz.

    Only one block of the file (``block_seconds`` at the file's rate, all channels) and
    the resampler's state are in memory at a time. Channels are averaged, as
    :func:`load_audio` does; another rate is converted with soxr's streaming resampler at
    the quality :func:`load_audio` uses (``soxr_hq``): the blocks laid end to end equal
    the file resampled in one go, sample for sample (librosa may add one zero sample at
    the end, rounding the length up).

    Yields:
        ``np.ndarray [shape=(samples,)]`` float32 blocks (the last may be shorter).

    Raises:
        AudioError: missing, empty, undecodable, no samples, or a non-finite sample
            (named with its time).
    """
    path = Path(path)
    _check_exists(path)
    try:
        handle = sf.SoundFile(str(path))
    except Exception as exc:
        raise AudioError(f"{path}: cannot read audio ({_short(exc)})") from None
    with handle:
        _check_header(path, handle.samplerate, handle.channels, handle.frames, None)
        resampler = _stream_resampler(handle.samplerate, sample_rate)
        block = max(1, int(round(block_seconds * handle.samplerate)))
        position = 0
        while True:
            try:
                data = handle.read(block, dtype="float32", always_2d=True)
            except Exception as exc:
                raise AudioError(f"{path}: cannot read audio at "
                                 f"{position / handle.samplerate:.1f} s ({_short(exc)})") from None
            last = len(data) < block
            if not np.isfinite(data).all():
                first = position + int(np.argmin(np.isfinite(data).all(axis=1)))
                raise AudioError(f"{path}: NaN or infinite sample at "
                                 f"{first / handle.samplerate:.3f} s; replace or remove the file")
            position += len(data)
            mono = data.mean(axis=1)
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=last)
            if len(mono):
                yield np.ascontiguousarray(mono, dtype=np.float32)
            if last:
                return


def _stream_resampler(file_rate: int, sample_rate: int):
    """soxr's streaming resampler from ``file_rate`` to ``sample_rate``, or None."""
    if file_rate == sample_rate:
        return None
    import soxr

    return soxr.ResampleStream(file_rate, sample_rate, 1, dtype="float32", quality="HQ")


def _read(path: Path) -> tuple[np.ndarray, int]:
    """``(samples, channels)`` float32 and the file's sample rate."""
    try:
        return sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(f"{path}: cannot read audio ({_short(exc)})") from None


def _check_header(path: Path, sample_rate: int, channels: int, frames: int,
                  expected: AudioFormat | None) -> None:
    if frames == 0:
        raise AudioError(f"{path}: audio file has no samples")
    problem = expected.problem(sample_rate, channels, frames) if expected else None
    if problem:
        raise AudioError(f"{path}: {problem}")


def _check_finite(path: Path, read: tuple[np.ndarray, int]) -> None:
    data, _ = read
    finite = np.isfinite(data)
    if not finite.all():
        bad = int(data.size - np.count_nonzero(finite))
        first = int(np.argmin(finite.all(axis=1)))
        raise AudioError(f"{path}: {bad} sample(s) are NaN or infinite (first at sample "
                         f"{first}); replace or remove the file")


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
