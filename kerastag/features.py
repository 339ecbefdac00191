"""The papers' input features, and a parallel extractor with an on-disk cache.

Feature specs are frozen dataclasses: :class:`LogMelA` (paper A's log-mel),
:class:`TimeFrequencyB` (paper B's log-mel or MFCC with deltas) and :class:`Wave`
(paper B's raw waveform). Each has a registry ``name``, a ``sample_rate`` in Hz,
``params()`` (everything that changes the output) and ``compute(waveform)``.

:func:`extract` turns audio files into feature arrays. Results are cached as
``cache_dir/<spec.name>-<8-hex hash of the spec>/<clip key>.npy`` where the clip key hashes
the file's absolute path, size and modification time (ns): an unchanged file is read from
the cache, a changed file or a changed parameter is recomputed. Every cache file is written
to a temporary name and renamed, so an interrupted or failed extraction leaves no partial
``.npy`` behind.

Parallel extraction (``workers=N``) computes in this process plus ``N - 1`` worker
processes started with the ``forkserver`` method (or ``spawn`` where that is missing),
never ``fork``: a parent that has imported TensorFlow is not safe to fork. Work is handed
out in chunks of clips; this process computes chunks too, so it is busy while the workers
start. Paper A's log-mel is computed with numpy alone (the mel filterbank, librosa's, is
made once in the parent and handed to the workers), so a worker needs no librosa import
(seconds). BLAS is held to one thread while computing: its threads only slow down the
small matrix products here, badly so on a busy machine. Workers are further tuned for
throughput (single-threaded math libraries from the start, glibc malloc keeping freed
memory); see :func:`_start_forkserver_single_threaded` and
:func:`_keep_freed_memory_mapped`.
"""

from __future__ import annotations

import abc
import ast
import collections
import ctypes
import dataclasses
import functools
import hashlib
import json
import math
import multiprocessing
import os
import stat
import sys
import threading
import zlib
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Mapping, Sequence

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from kerastag.audio import load_audio
from kerastag.errors import AudioError, FeatureError, KerastagError
from kerastag.fileio import atomic_path, write_text_atomic

#: Bumped whenever a feature's computation changes without a change of its parameters;
#: part of every cache folder's hash, so old caches are not reused.
CACHE_FORMAT_VERSION = 1

#: Modules the forkserver imports once, so that forked workers start warm (tens of ms
#: instead of hundreds). Only third-party modules that start no threads at import, so
#: safe to fork. Not kerastag itself: its package import may pull in TensorFlow, and
#: Python 3.11's forkserver imports its preloads with its own sys.path (working
#: directory first), which can find another copy of kerastag than the parent's.
_FORKSERVER_PRELOAD = ["numpy", "soundfile", "threadpoolctl", "tqdm"]

#: Environment variables that set the thread count of numpy's math libraries.
_THREAD_COUNT_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

_NPY_MAGIC = b"\x93NUMPY"

# glibc's mallopt() parameter numbers (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Most clips one worker task computes; small chunks keep the progress bar moving.
_MAX_CHUNK = 32

# Mel filterbanks keyed by (sr, n_fft, n_mels, fmin, fmax); filled lazily in the parent
# and sent to every worker with its tasks (see _prepare_worker).
_MEL_BASES: dict[tuple[int, int, int, float, float], np.ndarray] = {}
# id(filterbank) -> (filterbank, its float64 transpose), for LogMelA.
_BASES_T64: dict[int, tuple[np.ndarray, np.ndarray]] = {}

# Per-thread LogMelA buffers (see _log_mel_workspace); kept for clips up to this many
# frames (16 s at paper A's 16 kHz / hop 512: 11 MB of buffers).
_WORKSPACES = threading.local()
_MAX_REUSED_FRAMES = 512

#: numpy >= 2.0 can write an FFT into a given array.
_RFFT_HAS_OUT = np.lib.NumpyVersion(np.__version__) >= "2.0.0"


# --------------------------------------------------------------------------- specs


class FeatureSpec(abc.ABC):
    """Behaviour shared by every feature spec (each is a frozen dataclass).

    Subclasses define the class attributes ``name`` (registry key) and ``description``
    (progress-bar label), a field ``sr`` and :meth:`compute`.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    sr: int

    @property
    def sample_rate(self) -> int:
        """Sample rate in Hz the audio is resampled to before :meth:`compute`."""
        return self.sr

    def params(self) -> dict[str, Any]:
        """Every parameter of the spec (JSON-serialisable); they define the cache folder."""
        return dataclasses.asdict(self)

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., **params()}``, the inverse of :func:`spec_from_dict`."""
        return {"name": self.name, **self.params()}

    @abc.abstractmethod
    def compute(self, waveform: np.ndarray) -> np.ndarray:
        """Features of a mono waveform sampled at :attr:`sample_rate` Hz."""

    def _set(self, key: str, value: Any) -> None:
        object.__setattr__(self, key, value)

    def _check_int(self, key: str, minimum: int = 1) -> None:
        value = getattr(self, key)
        if not _is_integral(value) or int(value) < minimum:
            raise FeatureError(f"feature {self.name}: {key} must be an integer >= {minimum}, "
                               f"got {value!r}")
        self._set(key, int(value))

    def _check_float(self, key: str, *, minimum: float | None = None,
                     positive: bool = False) -> None:
        value = getattr(self, key)
        ok = _is_real(value) and math.isfinite(value)
        ok = ok and (minimum is None or value >= minimum) and (not positive or value > 0)
        if not ok:
            bound = "> 0" if positive else f">= {minimum}" if minimum is not None else "finite"
            raise FeatureError(f"feature {self.name}: {key} must be a number {bound}, "
                               f"got {value!r}")
        self._set(key, float(value))

    def _check_band(self) -> None:
        fmin, fmax = getattr(self, "fmin"), getattr(self, "fmax")
        if not 0 <= fmin < fmax <= self.sr / 2:
            raise FeatureError(f"feature {self.name}: expected 0 <= fmin < fmax <= sr/2, "
                               f"got fmin={fmin}, fmax={fmax}, sr={self.sr}")


@dataclasses.dataclass(frozen=True)
class LogMelA(FeatureSpec):
    """Paper A's log-mel spectrogram (DCASE 2016 Task 4, CHiME-Home).

    Magnitude STFT (power 1, periodic Hamming window of ``n_fft`` samples, hop
    ``hop_length``, no centre padding) -> librosa's mel filterbank
    (``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)``,
    Slaney mel scale and area normalisation) -> ``log(mel + log_offset)`` (natural log).
    A 4 s, 16 kHz chunk (64000 samples) gives 124 frames. A clip shorter than one window
    is zero-padded at the end to one window (1 frame).

    Attributes:
        sr: sample rate in Hz.
        n_fft: window and FFT length in samples.
        hop_length: frame step in samples.
        n_mels: mel bands.
        fmin: lowest band edge in Hz.
        fmax: highest band edge in Hz.
        log_offset: added to the mel energies before the log.
    """

    name: ClassVar[str] = "logmel_a"
    description: ClassVar[str] = "log-mel"
    window: ClassVar[str] = "hamming"
    center: ClassVar[bool] = False

    sr: int = 16000
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float = 8000.0
    log_offset: float = 1e-8

    def __post_init__(self) -> None:
        for key in ("sr", "n_fft", "hop_length", "n_mels"):
            self._check_int(key)
        self._check_float("fmin", minimum=0.0)
        self._check_float("fmax", positive=True)
        self._check_float("log_offset", positive=True)
        self._check_band()

    def n_frames(self, n_samples: int) -> int:
        """Frames :meth:`compute` returns for a clip of ``n_samples`` samples."""
        return 1 + (max(n_samples, self.n_fft) - self.n_fft) // self.hop_length

    def compute(self, waveform: np.ndarray) -> np.ndarray:
        """Log-mel of one clip.

        Args:
            waveform: ``[shape=(samples,)]`` mono audio at ``sr`` Hz.

        Returns:
            ``float32 [shape=(frames, n_mels)]``, time first; natural-log mel magnitudes.
        """
        y = _pad_to(_mono(waveform, self.name), self.n_fft)
        frames = np.lib.stride_tricks.sliding_window_view(y, self.n_fft)[:: self.hop_length]
        windowed, spectrum, magnitude, mel = _log_mel_workspace(
            frames.shape[0], self.n_fft, self.n_mels)
        np.multiply(frames, _periodic_hamming(self.n_fft), out=windowed)  # in float64
        if _RFFT_HAS_OUT:
            np.fft.rfft(windowed, axis=1, out=spectrum)
        else:
            spectrum[...] = np.fft.rfft(windowed, axis=1)
        np.abs(spectrum, out=magnitude)
        np.matmul(magnitude, self._basis_transposed(), out=mel)
        mel += self.log_offset
        return np.log(mel, out=mel).astype(np.float32)

    def _basis_transposed(self) -> np.ndarray:
        """The mel filterbank as float64 ``[shape=(1 + n_fft // 2, n_mels)]``."""
        return _transposed_float64(mel_basis(self.sr, self.n_fft, self.n_mels, self.fmin,
                                             self.fmax))


@dataclasses.dataclass(frozen=True)
class TimeFrequencyB(FeatureSpec):
    """Paper B's time-frequency input (DCASE 2018 Task 2): log-mel or MFCC + deltas.

    Power STFT (Hann window of ``frame_ms``, FFT length = window length, hop ``hop_ms``,
    centred frames with zero padding, so a clip of n samples gives ``1 + n // hop``
    frames: 151 for 1.5 s, of which the training crop keeps 150) ->
    ``librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=top_db)`` of an
    ``n_mels``-band mel spectrogram (``kind="logmel"``), or
    ``librosa.feature.mfcc(S=<that log-mel with mfcc_bands bands>, n_mfcc=n_mfcc)``
    (``kind="mfcc"``; DCT-II, orthonormal). ``mfcc_bands`` defaults to 128, librosa's
    default for ``librosa.feature.mfcc(y=...)``: keeping 64 of 128 cepstral coefficients
    is a true (smoothing) MFCC, where 64 of 64 would only rotate the log-mel.
    Then ``librosa.feature.delta`` of order 1 and 2 with window ``delta_width`` (its
    default ``interp`` edge mode) are stacked as 3 channels.

    Empty, silent and very short clips: a clip shorter than ``(delta_width - 1)`` hops
    (80 ms by default, fewer than 9 frames) is zero-padded at the end to that length, so
    every output has at least ``delta_width`` frames (what ``delta`` needs) and is finite
    (silence is ``-100 dB`` from ``amin``, with zero deltas).

    The authors' code worked at 22,050 Hz; ``TimeFrequencyB(sr=22050)`` reproduces
    that (window 1764, hop 220). The default follows the paper's 44.1 kHz.

    Attributes:
        kind: ``"logmel"`` or ``"mfcc"``.
        sr: sample rate in Hz.
        frame_ms: analysis window in milliseconds (80 -> 3528 samples at 44.1 kHz).
        hop_ms: frame step in milliseconds (10 -> 441 samples at 44.1 kHz).
        n_mels: mel bands of the log-mel (``kind="logmel"``).
        n_mfcc: cepstral coefficients kept (``kind="mfcc"``).
        mfcc_bands: mel bands the MFCC is computed from.
        fmin: lowest band edge in Hz.
        fmax: highest band edge in Hz; ``None`` means ``sr / 2``.
        top_db: dynamic range kept below the clip's peak in dB, ``None`` for no limit.
        delta_width: odd window (frames) of the delta filters.
    """

    name: ClassVar[str] = "timefreq_b"
    kinds: ClassVar[tuple[str, ...]] = ("logmel", "mfcc")

    kind: str = "logmel"
    sr: int = 44100
    frame_ms: float = 80.0
    hop_ms: float = 10.0
    n_mels: int = 64
    n_mfcc: int = 64
    mfcc_bands: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    top_db: float | None = 80.0
    delta_width: int = 9

    def __post_init__(self) -> None:
        if self.kind not in self.kinds:
            raise FeatureError(f"feature {self.name}: kind must be one of "
                               f"{', '.join(self.kinds)}, got {self.kind!r}")
        for key in ("sr", "n_mels", "n_mfcc", "mfcc_bands"):
            self._check_int(key)
        self._check_int("delta_width", minimum=3)
        if self.delta_width % 2 == 0:
            raise FeatureError(f"feature {self.name}: delta_width must be odd, "
                               f"got {self.delta_width}")
        self._check_float("frame_ms", positive=True)
        self._check_float("hop_ms", positive=True)
        self._check_float("fmin", minimum=0.0)
        if self.fmax is None:
            self._set("fmax", self.sr / 2)
        self._check_float("fmax", positive=True)
        self._check_band()
        if self.top_db is not None:
            self._check_float("top_db", positive=True)
        if self.n_mfcc > self.mfcc_bands:
            raise FeatureError(f"feature {self.name}: n_mfcc must be <= mfcc_bands, "
                               f"got n_mfcc={self.n_mfcc}, mfcc_bands={self.mfcc_bands}")
        if self.win_length < 2 or self.hop_length < 1:
            raise FeatureError(f"feature {self.name}: frame_ms={self.frame_ms}, "
                               f"hop_ms={self.hop_ms} give less than 2 / 1 samples at "
                               f"sr={self.sr}")

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"{self.kind}+deltas"

    @property
    def win_length(self) -> int:
        """Window (and FFT) length in samples."""
        return int(round(self.sr * self.frame_ms / 1000))

    @property
    def hop_length(self) -> int:
        """Frame step in samples."""
        return int(round(self.sr * self.hop_ms / 1000))

    @property
    def bands(self) -> int:
        """Height of the output: ``n_mels`` (log-mel) or ``n_mfcc`` (MFCC)."""
        return self.n_mels if self.kind == "logmel" else self.n_mfcc

    @property
    def min_samples(self) -> int:
        """Shorter clips are zero-padded to this length (``delta_width`` frames)."""
        return (self.delta_width - 1) * self.hop_length

    def n_frames(self, n_samples: int) -> int:
        """Frames :meth:`compute` returns for a clip of ``n_samples`` samples."""
        return 1 + max(n_samples, self.min_samples) // self.hop_length

    def compute(self, waveform: np.ndarray) -> np.ndarray:
        """Static, delta and delta-delta features of a whole clip.

        Args:
            waveform: ``[shape=(samples,)]`` mono audio at ``sr`` Hz.

        Returns:
            ``float32 [shape=(3, bands, frames)]``: channel 0 the log-mel (dB) or MFCC,
            channels 1 and 2 its first and second time derivatives.
        """
        import librosa

        y = _pad_to(_mono(waveform, self.name), self.min_samples)
        spectrum = librosa.stft(y, n_fft=self.win_length, hop_length=self.hop_length,
                                window="hann", center=True, pad_mode="constant")
        power = np.abs(spectrum) ** 2
        if self.kind == "logmel":
            static = self._log_mel_db(power, self.n_mels)
        else:
            static = librosa.feature.mfcc(S=self._log_mel_db(power, self.mfcc_bands),
                                          n_mfcc=self.n_mfcc)
        delta = librosa.feature.delta(static, width=self.delta_width, order=1)
        delta2 = librosa.feature.delta(static, width=self.delta_width, order=2)
        return np.stack([static, delta, delta2]).astype(np.float32)

    def _log_mel_db(self, power: np.ndarray, bands: int) -> np.ndarray:
        import librosa

        basis = mel_basis(self.sr, self.win_length, bands, self.fmin, self.fmax)
        return librosa.power_to_db(basis @ power, ref=1.0, amin=1e-10, top_db=self.top_db)


@dataclasses.dataclass(frozen=True)
class Wave(FeatureSpec):
    """Paper B's raw-waveform input: the clip itself at ``sr`` Hz.

    Peak-safe: samples are clipped to [-1, 1] (resampling can overshoot full scale);
    the level is not normalised. An empty clip gives one zero sample, so every output
    can be cropped or padded to the training length.

    Attributes:
        sr: sample rate in Hz.
    """

    name: ClassVar[str] = "wave"
    description: ClassVar[str] = "wave"

    sr: int = 44100

    def __post_init__(self) -> None:
        self._check_int("sr")

    def compute(self, waveform: np.ndarray) -> np.ndarray:
        """The waveform as ``float32 [shape=(max(samples, 1),)]`` in [-1, 1]."""
        y = _pad_to(_mono(waveform, self.name), 1)
        return np.clip(y, -1.0, 1.0).astype(np.float32)


SPECS: dict[str, type[FeatureSpec]] = {
    LogMelA.name: LogMelA,
    TimeFrequencyB.name: TimeFrequencyB,
    Wave.name: Wave,
}


def spec_from_dict(d: Mapping[str, Any]) -> FeatureSpec:
    """Build a spec from ``{"name": <registry key>, **params}`` (see :meth:`to_dict`).

    Raises:
        FeatureError: missing or unknown name, unknown parameter, or a bad value.
    """
    if "name" not in d:
        raise FeatureError(f"feature spec {dict(d)!r}: missing key 'name' "
                           f"(one of {', '.join(SPECS)})")
    name = d["name"]
    if name not in SPECS:
        raise FeatureError(f"unknown feature {name!r}; valid names: {', '.join(SPECS)}")
    cls = SPECS[name]
    valid = [field.name for field in dataclasses.fields(cls)]
    params = {key: value for key, value in d.items() if key != "name"}
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise FeatureError(f"feature {name}: unknown parameter(s) {', '.join(unknown)}; "
                           f"valid: {', '.join(valid)}")
    return cls(**params)


def mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """librosa's mel filterbank (Slaney scale and norm), memoised; read-only.

    Returns:
        ``float32 [shape=(n_mels, 1 + n_fft // 2)]``.
    """
    key = (int(sr), int(n_fft), int(n_mels), float(fmin), float(fmax))
    if key not in _MEL_BASES:
        import librosa

        basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        basis.setflags(write=False)
        _MEL_BASES[key] = basis
    return _MEL_BASES[key]


def _transposed_float64(basis: np.ndarray) -> np.ndarray:
    """``basis.T`` as contiguous float64, memoised per filterbank object."""
    cached = _BASES_T64.get(id(basis))
    if cached is None or cached[0] is not basis:
        cached = (basis, np.ascontiguousarray(basis.T, dtype=np.float64))
        _BASES_T64[id(basis)] = cached
    return cached[1]


def _log_mel_workspace(n_frames: int, n_fft: int,
                       n_mels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reusable per-thread buffers for :meth:`LogMelA.compute`: windowed frames, complex
    spectrum, magnitude and mel energies, all float64.

    A 4 s chunk needs 2.7 MB of them. Allocated afresh for every clip, glibc maps and
    unmaps that memory each time, and the page faults took as long as the FFT itself.
    Clips longer than ``_MAX_REUSED_FRAMES`` frames get fresh buffers (not kept).
    """
    bins = n_fft // 2 + 1
    key = (n_frames, n_fft, n_mels)
    cache = getattr(_WORKSPACES, "log_mel", None)
    if cache is None or (key not in cache and len(cache) >= 2):
        cache = _WORKSPACES.log_mel = {}
    if key in cache:
        return cache[key]
    buffers = (np.empty((n_frames, n_fft)), np.empty((n_frames, bins), np.complex128),
               np.empty((n_frames, bins)), np.empty((n_frames, n_mels)))
    if n_frames <= _MAX_REUSED_FRAMES:
        cache[key] = buffers
    return buffers


@functools.lru_cache(maxsize=8)
def _periodic_hamming(n: int) -> np.ndarray:
    """``scipy.signal.get_window("hamming", n)`` (the periodic, DFT-even Hamming)."""
    window = np.hamming(n + 1)[:-1]
    window.setflags(write=False)
    return window


def _mono(waveform: np.ndarray, spec_name: str) -> np.ndarray:
    y = np.asarray(waveform, dtype=np.float32)
    if y.ndim != 1:
        raise FeatureError(f"feature {spec_name}: expected a mono waveform of shape "
                           f"(samples,), got shape {y.shape}")
    return y


def _pad_to(y: np.ndarray, length: int) -> np.ndarray:
    """``y`` zero-padded at the end to at least ``length`` samples."""
    if len(y) >= length:
        return y
    return np.concatenate([y, np.zeros(length - len(y), dtype=y.dtype)])


def _is_integral(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    return isinstance(value, (float, np.floating)) and float(value).is_integer()


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_))


# --------------------------------------------------------------------------- cache


@dataclasses.dataclass
class FeatureResult:
    """What :func:`extract` returns.

    Attributes:
        arrays: one feature array per input path, in input order (``np.memmap`` when
            extracted with ``mmap=True``).
        computed: inputs whose features were computed by this call.
        cached: inputs read from the cache (``computed + cached == len(arrays)``).
        files: the cache file of each input, in input order.
    """

    arrays: list[np.ndarray]
    computed: int
    cached: int
    files: list[Path]


def spec_hash(spec: FeatureSpec) -> str:
    """8 hex digits identifying a spec's name, parameters and the cache format."""
    text = json.dumps({"name": spec.name, "version": CACHE_FORMAT_VERSION,
                       "params": spec.params()}, sort_keys=True)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]


def cache_folder(spec: FeatureSpec, cache_dir: str | os.PathLike) -> Path:
    """``cache_dir/<spec.name>-<spec_hash(spec)>``: where one spec's features live."""
    return Path(cache_dir) / f"{spec.name}-{spec_hash(spec)}"


def clip_key(path: str | os.PathLike) -> str:
    """20 hex digits hashing a file's absolute path, size in bytes and mtime in ns.

    The path is made absolute but symlinks are not resolved (that costs a system call
    per path component): a file reached through two different paths is cached twice.

    Raises:
        AudioError: the file does not exist or is a folder.
    """
    absolute = os.path.abspath(path)
    try:
        info = os.stat(absolute)
    except OSError:
        raise AudioError(f"{path}: audio file not found") from None
    if stat.S_ISDIR(info.st_mode):
        raise AudioError(f"{path}: is a folder, expected an audio file")
    text = f"{absolute}\n{info.st_size}\n{info.st_mtime_ns}"
    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:20]


def cached_path(path: str | os.PathLike, spec: FeatureSpec,
                cache_dir: str | os.PathLike) -> Path:
    """The cache file that holds (or will hold) ``spec``'s features of ``path``.

    Raises:
        AudioError: ``path`` does not exist.
    """
    return cache_folder(spec, cache_dir) / f"{clip_key(path)}.npy"


def load_cached(path: str | os.PathLike, spec: FeatureSpec, cache_dir: str | os.PathLike,
                *, mmap: bool = False) -> np.ndarray | None:
    """``spec``'s cached features of ``path``, or ``None`` when they are not cached.

    A cache file that cannot be read counts as not cached.

    Raises:
        AudioError: ``path`` does not exist.
    """
    return _read_npy(cached_path(path, spec, cache_dir), mmap=mmap)


def _read_npy(file: Path, *, mmap: bool) -> np.ndarray | None:
    """An array cached by :func:`_store`, or ``None`` if missing or unreadable."""
    try:
        if mmap:
            return np.load(file, mmap_mode="r", allow_pickle=False)
        return _read_npy_fast(file)
    except (OSError, ValueError, EOFError):  # missing, truncated or not an .npy
        return None


def _read_npy_fast(file: Path) -> np.ndarray:
    """``np.load(file)`` for plain arrays at a third of the cost: the header of a cache
    folder's files is nearly always the same, so its parse is memoised.

    Raises:
        OSError: the file cannot be read.
        ValueError: not a version 1-3 ``.npy`` file of a plain (non-object) array, or
            truncated.
    """
    with open(file, "rb") as handle:
        prefix = handle.read(8)
        if len(prefix) != 8 or prefix[:6] != _NPY_MAGIC or prefix[6] not in (1, 2, 3):
            raise ValueError(f"{file}: not an .npy file")
        length_bytes = 2 if prefix[6] == 1 else 4
        header_length = int.from_bytes(handle.read(length_bytes), "little")
        dtype, shape, fortran_order = _parse_npy_header(handle.read(header_length))
        count = math.prod(shape)
        data = np.fromfile(handle, dtype=dtype, count=count)
    if data.size != count:
        raise ValueError(f"{file}: truncated")
    return data.reshape(shape, order="F" if fortran_order else "C")


@functools.lru_cache(maxsize=256)
def _parse_npy_header(header: bytes) -> tuple[np.dtype, tuple[int, ...], bool]:
    """(dtype, shape, fortran_order) of an ``.npy`` header dictionary.

    Raises:
        ValueError: not a plain-array ``.npy`` header.
    """
    try:
        fields = ast.literal_eval(header.decode("latin1"))
        dtype = np.dtype(fields["descr"])
        shape = tuple(int(n) for n in fields["shape"])
        fortran_order = bool(fields["fortran_order"])
    except (SyntaxError, TypeError, ValueError, KeyError, MemoryError, RecursionError):
        raise ValueError(f"bad .npy header {header[:80]!r}") from None
    if dtype.hasobject:
        raise ValueError("object arrays are never cached")
    return dtype, shape, fortran_order


def _prepare_cache_folder(spec: FeatureSpec, cache_dir: Path) -> Path:
    """Create the spec's cache folder with its ``params.json``, or check the existing one.

    Raises:
        FeatureError: the folder cannot be created, or its ``params.json`` describes a
            different spec.
    """
    folder = cache_folder(spec, cache_dir)
    expected = {"name": spec.name, "version": CACHE_FORMAT_VERSION, "params": spec.params()}
    params_file = folder / "params.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not params_file.exists():
            write_text_atomic(params_file, json.dumps(expected, indent=2, sort_keys=True) + "\n")
            return folder
        found = json.loads(params_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FeatureError(f"{folder}: cannot use the feature cache ({exc.strerror or exc})") \
            from None
    except ValueError:
        found = None
    if found != json.loads(json.dumps(expected)):
        raise FeatureError(f"{params_file}: unreadable or written for other features than "
                           f"{spec.to_dict()}; delete the folder {folder}")
    return folder


def _store(file: Path, features: np.ndarray) -> None:
    try:
        with atomic_path(file) as tmp:
            np.save(tmp, features, allow_pickle=False)
    except OSError as exc:
        raise FeatureError(f"{file}: cannot write cached features ({exc.strerror or exc})") \
            from None


def _compute_and_store(path: Path, file: Path, spec: FeatureSpec) -> np.ndarray:
    """Load ``path``, compute ``spec`` on it and write the result to ``file``.

    Raises:
        AudioError: unreadable audio.
        FeatureError: the features cannot be computed or written.
    """
    waveform = load_audio(path, sr=spec.sample_rate)
    try:
        features = spec.compute(waveform)
    except KerastagError:
        raise
    except Exception as exc:  # librosa/numpy failures on odd input
        raise FeatureError(f"{path}: cannot compute {spec.name} features "
                           f"({type(exc).__name__}: {_first_line(exc)})") from None
    _store(file, features)
    return features


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# --------------------------------------------------------------------------- extraction


def extract(paths: Sequence[str | os.PathLike], spec: FeatureSpec, *,
            cache_dir: str | os.PathLike, workers: int | None = None,
            progress: bool = True, mmap: bool = False) -> FeatureResult:
    """Features of every file in ``paths``, read from the cache or computed and cached.

    Args:
        paths: audio files; each is loaded mono at ``spec.sample_rate``.
        spec: the feature definition.
        cache_dir: root of the feature cache (one sub-folder per spec).
        workers: processes computing features, this one included (it works alongside
            ``workers - 1`` pool processes); ``None`` means the usable CPU cores, ``1``
            computes in this process only. A script that calls this with more than one
            worker needs the usual ``if __name__ == "__main__":`` guard, as the workers
            re-import the script's top level.
        progress: show a tqdm bar over the files.
        mmap: return the arrays memory-mapped from their cache files (read-only).

    Returns:
        A :class:`FeatureResult`; ``arrays[i]`` and ``files[i]`` belong to ``paths[i]``.

    Raises:
        AudioError: a file is missing, empty or not decodable (the message names it).
        FeatureError: bad ``workers``, an unusable cache folder, or a feature that
            cannot be computed; no partial cache file is left behind.
    """
    paths = [Path(p) for p in paths]
    n_workers = _worker_count(workers)
    folder = _prepare_cache_folder(spec, Path(cache_dir))
    files = [folder / f"{clip_key(path)}.npy" for path in paths]
    arrays: list[np.ndarray | None] = [None] * len(paths)
    with tqdm(total=len(paths), desc=spec.description, unit="clip",
              disable=not progress) as bar:
        missing = _read_hits(files, arrays, mmap=mmap, bar=bar)
        jobs = _unique_jobs(paths, files, missing)
        fresh = _compute(jobs, spec, n_workers, keep=not mmap,
                         on_done=lambda file: bar.update(len(jobs[file][1])))
    for file, (_, indexes) in jobs.items():
        array = _read_npy(file, mmap=True) if mmap else fresh[file]
        for index in indexes:
            arrays[index] = array
    return FeatureResult(arrays=arrays, computed=len(missing),  # type: ignore[arg-type]
                         cached=len(paths) - len(missing), files=files)


def _worker_count(workers: int | None) -> int:
    if workers is None:
        return _usable_cores()
    if not _is_integral(workers) or workers < 1:
        raise FeatureError(f"features: workers must be an integer >= 1, got {workers!r}")
    return int(workers)


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _read_hits(files: list[Path], arrays: list[np.ndarray | None], *, mmap: bool,
               bar: tqdm) -> list[int]:
    """Fill ``arrays`` from the cache; return the indexes that are not cached."""
    if mmap or not hasattr(os, "readv"):
        arrays[:] = [_read_npy(file, mmap=mmap) for file in files]
    else:
        arrays[:] = _read_npy_batch(files)
    missing = [index for index, array in enumerate(arrays) if array is None]
    bar.update(len(files) - len(missing))
    return missing


def _read_npy_batch(files: list[Path]) -> list[np.ndarray | None]:
    """Cached arrays of ``files`` (``None`` where not cached), read into one block.

    A cache folder's files nearly all share one header (same shape and dtype). Their data
    is read straight into consecutive slots of one large array, which the kernel backs
    with a few huge pages instead of thousands of small ones: reading 200 log-mels took
    7 ms instead of 12. Files with another header take the one-file path.
    """
    arrays: list[np.ndarray | None] = [None] * len(files)
    block = header = None
    expected_header = b""
    for index, file in enumerate(files):
        if block is None:
            arrays[index] = _read_npy(file, mmap=False)
            if arrays[index] is not None and not np.isfortran(arrays[index]):
                block = np.empty((len(files), *arrays[index].shape), arrays[index].dtype)
                header = bytearray(_npy_header_length(file, arrays[index].nbytes))
                expected_header = _npy_header(file, len(header))
            continue
        slot = block[index]
        if _readv_whole(file, [header, memoryview(slot).cast("B")]) and \
                header == expected_header:
            arrays[index] = slot
        else:
            arrays[index] = _read_npy(file, mmap=False)
    return arrays


def _npy_header_length(file: Path, data_bytes: int) -> int:
    return file.stat().st_size - data_bytes


def _npy_header(file: Path, length: int) -> bytes:
    with open(file, "rb") as handle:
        return handle.read(length)


def _readv_whole(file: Path, buffers: list) -> bool:
    """Fill ``buffers`` from the start of ``file`` with one ``readv``; False if the file
    is missing, unreadable or shorter than the buffers."""
    try:
        descriptor = os.open(file, os.O_RDONLY)
    except OSError:
        return False
    try:
        wanted = sum(memoryview(buffer).nbytes for buffer in buffers)
        return os.readv(descriptor, buffers) == wanted
    except OSError:
        return False
    finally:
        os.close(descriptor)


def _unique_jobs(paths: list[Path], files: list[Path],
                 missing: list[int]) -> dict[Path, tuple[Path, list[int]]]:
    """Cache file -> (audio file, input indexes): each distinct file computed once."""
    jobs: dict[Path, tuple[Path, list[int]]] = {}
    for index in missing:
        jobs.setdefault(files[index], (paths[index], []))[1].append(index)
    return jobs


def _compute(jobs: Mapping[Path, tuple[Path, list[int]]], spec: FeatureSpec, workers: int,
             *, keep: bool, on_done: Callable[[Path], object]) -> dict[Path, np.ndarray]:
    """Compute and cache every job, here alone or together with ``workers - 1`` processes.

    Returns:
        Cache file -> features, for every job when ``keep``, else empty.
    """
    pairs = [(path, file) for file, (path, _) in jobs.items()]
    results: dict[Path, np.ndarray] = {}

    def collect(chunk: Sequence[tuple[Path, Path]], arrays: Sequence[np.ndarray] | None):
        for index, (_, file) in enumerate(chunk):
            if keep:
                results[file] = arrays[index]  # type: ignore[index]
            on_done(file)

    with threadpool_limits(limits=1, user_api="blas"):  # tiny matrices: threads only hurt
        if workers == 1 or len(pairs) <= 1:
            for pair in pairs:
                collect([pair], [_compute_and_store(*pair, spec)])
        else:
            _compute_with_pool(pairs, spec, workers, keep=keep, collect=collect)
    return results


def _compute_with_pool(pairs: list[tuple[Path, Path]], spec: FeatureSpec, workers: int, *,
                       keep: bool, collect: Callable) -> None:
    """Compute ``(audio, cache file)`` pairs in chunks: ``workers - 1`` pool processes
    take chunks from the front of the queue, this process takes them from the back.

    This process so computes while the pool starts up, and no core sits idle.
    """
    _prime(spec)
    queue = collections.deque(_chunks(pairs, _chunk_size(len(pairs), workers)))
    pending: dict[Future, list[tuple[Path, Path]]] = {}
    processes = min(workers - 1, len(queue) - 1)  # >= 1: there are >= 2 pairs
    executor = ProcessPoolExecutor(max_workers=processes, mp_context=_pool_context())
    packed_bases = _packed_mel_bases()
    try:
        while queue or pending:
            while queue and len(pending) < 2 * processes:  # one running, one queued per process
                chunk = queue.popleft()
                future = executor.submit(_compute_chunk, spec, chunk, keep, packed_bases)
                pending[future] = chunk
            if queue:
                chunk = queue.pop()
                collect(chunk, _compute_chunk(spec, chunk, True))
                finished = [future for future in pending if future.done()]
            else:
                finished = wait(pending, return_when=FIRST_COMPLETED).done
            for future in finished:
                chunk = pending.pop(future)
                collect(chunk, _chunk_result(future, chunk))
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _prime(spec: FeatureSpec) -> None:
    """Compute ``spec`` once on silence in the parent: this fills the shared mel
    filterbanks (handed to every worker) and surfaces a broken spec before any pool
    starts."""
    spec.compute(np.zeros(spec.sample_rate // 10, dtype=np.float32))


def _chunk_size(n_jobs: int, workers: int) -> int:
    """About 32 chunks per worker, and at most _MAX_CHUNK clips: small chunks balance the
    load (this process waits for at most two pool chunks at the end), and a chunk of a
    few clips still takes much longer to compute than to hand over."""
    return max(1, min(_MAX_CHUNK, math.ceil(n_jobs / (32 * workers))))


def _chunks(items: list, size: int) -> list[list]:
    return [items[start:start + size] for start in range(0, len(items), size)]


def _pool_context() -> multiprocessing.context.BaseContext:
    """``forkserver`` (workers fork from a clean, pre-warmed server) or ``spawn``.

    Never ``fork``: the parent may have imported TensorFlow, whose threads do not
    survive a fork.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_FORKSERVER_PRELOAD)
        _start_forkserver_single_threaded()
        return context
    return multiprocessing.get_context("spawn")


def _start_forkserver_single_threaded() -> None:
    """Start the forkserver (once per process) with the math libraries at one thread.

    numpy is preloaded there, so OpenBLAS sizes its thread pool when the server starts
    and every worker forked from it inherits that. A worker is one process per core and
    wants one thread: with a threaded OpenBLAS, even limited to one thread afterwards,
    the log-mel took 40% longer. Does nothing when the server already runs.
    """
    from multiprocessing import forkserver

    saved = {name: os.environ.get(name) for name in _THREAD_COUNT_VARIABLES}
    os.environ.update({name: "1" for name in _THREAD_COUNT_VARIABLES})
    try:
        forkserver.ensure_running()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _packed_mel_bases() -> dict[tuple, tuple[tuple[int, ...], str, bytes]]:
    """The memoised filterbanks, zlib-compressed (mostly zeros: 262 kB -> ~6 kB), cheap
    enough to send with every worker task."""
    return {key: (basis.shape, basis.dtype.str, zlib.compress(basis.tobytes(), 1))
            for key, basis in _MEL_BASES.items()}


def _compute_chunk(spec: FeatureSpec, pairs: Iterable[tuple[Path, Path]], keep: bool,
                   packed_mel_bases: Mapping | None = None) -> list[np.ndarray] | None:
    """Compute and cache each pair; return the arrays when ``keep``.

    Args:
        spec: the feature definition.
        pairs: ``(audio file, cache file)`` pairs.
        keep: return the arrays (else ``None``: the caller reads the cache files).
        packed_mel_bases: set in worker tasks only, see :func:`_prepare_worker`.
    """
    if packed_mel_bases is not None:
        _prepare_worker(packed_mel_bases)
    arrays = [_compute_and_store(path, file, spec) for path, file in pairs]
    return arrays if keep else None


_worker_blas_limit: threadpool_limits | None = None


def _prepare_worker(packed_mel_bases: Mapping[tuple, tuple[tuple[int, ...], str, bytes]]) -> None:
    """In a worker process: install the parent's filterbanks and hold BLAS to one thread.

    Done by the first task rather than a pool initializer on purpose: an initializer is
    unpickled while the worker is still being set up, before
    ``multiprocessing.parent_process()`` is known, so the ``kerastag`` package could not
    tell it is in a worker and skip its TensorFlow import.
    """
    global _worker_blas_limit
    for key, (shape, dtype, data) in packed_mel_bases.items():
        if key not in _MEL_BASES:
            _MEL_BASES[key] = np.frombuffer(zlib.decompress(data), dtype=dtype).reshape(shape)
    if _worker_blas_limit is None:
        _worker_blas_limit = threadpool_limits(limits=1, user_api="blas")
        _keep_freed_memory_mapped()


def _keep_freed_memory_mapped() -> None:
    """glibc only, in worker processes: stop malloc handing freed memory back to the OS.

    Every clip allocates and frees a few arrays of about 1 MB. With glibc's defaults
    these are unmapped or trimmed on free and mapped again, page by page, for the next
    clip; the page faults cost as much as the FFT itself (a 4 s log-mel took 3.6 ms per
    clip instead of 2.0 ms here). Raising the mmap and trim thresholds keeps a worker's
    heap at its working size instead.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(_M_TRIM_THRESHOLD, 64 << 20)
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)


def _chunk_result(future: Future, chunk: list[tuple[Path, Path]]) -> list[np.ndarray] | None:
    """A finished chunk's arrays; a worker's error re-raised without its remote traceback.

    Raises:
        AudioError, FeatureError: as raised in the worker, naming the file.
        FeatureError: the worker process died or failed outside the feature code.
    """
    try:
        return future.result()
    except KerastagError as exc:
        raise exc from None
    except BrokenProcessPool:
        raise FeatureError(f"{chunk[0][0]}: a feature worker process died while computing "
                           f"this and {len(chunk) - 1} more clip(s) (out of memory, or a "
                           f"script without an `if __name__ == '__main__':` guard?)") from None
    except Exception as exc:
        raise FeatureError(f"{chunk[0][0]}: feature worker failed "
                           f"({type(exc).__name__}: {_first_line(exc)})") from None
