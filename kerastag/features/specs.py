"""The papers' feature specs and the numpy log-mel they share with the workers.

A spec is a frozen dataclass: :class:`LogMelA` (paper A's log-mel),
:class:`TimeFrequencyB` (paper B's log-mel or MFCC with deltas) and :class:`Wave`
(paper B's raw waveform). Each has a ``name`` (its feature type: ``"logmel_a"``,
``"logmel"``, ``"mfcc"`` or ``"wave"``, the keys of :data:`SPECS` and of
:data:`kerastag.names.FEATURE_TYPES`), a ``sample_rate`` in Hz, ``params()``
(everything that changes the output) and ``compute(waveform)``.

Paper A's log-mel is computed with numpy alone; librosa is imported only to build a
mel filterbank (:func:`mel_basis`, memoised) and for paper B's features. The parallel
extractor builds the filterbanks once in the parent and hands them to its workers
(:func:`pack_mel_bases`, :func:`install_mel_bases`), so a worker imports no librosa.
This module imports neither TensorFlow nor librosa at import time.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import threading
import zlib
from typing import Any, ClassVar, Mapping

import numpy as np

from kerastag.checks import check_int, check_number
from kerastag.errors import FeatureError

#: A filterbank packed for a worker task: (shape, dtype string, zlib-compressed bytes).
PackedBasis = tuple[tuple[int, ...], str, bytes]

# Mel filterbanks keyed by (sample_rate, n_fft, n_mels, fmin, fmax); filled lazily in the
# parent and sent to every worker with its tasks (see pack_mel_bases).
_MEL_BASES: dict[tuple[int, int, int, float, float], np.ndarray] = {}
# id(filterbank) -> (filterbank, its float64 transpose), for LogMelA.
_BASES_T64: dict[int, tuple[np.ndarray, np.ndarray]] = {}

# Per-thread LogMelA buffers (see _log_mel_workspace); kept for clips up to this many
# frames (16 s at paper A's 16 kHz / hop 512: 11 MB of buffers).
_WORKSPACES = threading.local()
_MAX_REUSED_FRAMES = 512

#: numpy >= 2.0 can write an FFT into a given array.
_RFFT_HAS_OUT = np.lib.NumpyVersion(np.__version__) >= "2.0.0"


class FeatureSpec(abc.ABC):
    """Behaviour shared by every feature spec (each is a frozen dataclass).

    Subclasses define ``name`` (feature type, registry key) and ``description``
    (progress-bar label), a field ``sample_rate`` (Hz) and :meth:`compute`. ``channels``
    is what :meth:`compute` takes (1: a mono mix ``(samples,)``; 2: ``(2, samples)``),
    ``stream`` which of a clip's files it is computed from (``"main"``, or another the
    dataset reader names, e.g. CHiME-Home's ``"48k"``).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    channels: ClassVar[int] = 1
    stream: ClassVar[str] = "main"
    sample_rate: int

    def params(self) -> dict[str, Any]:
        """Every parameter of the spec (JSON-serialisable); they define the cache folder."""
        return dataclasses.asdict(self)

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., **params()}``, the inverse of :func:`spec_from_dict`."""
        return {"name": self.name, **self.params()}

    @classmethod
    def from_params(cls, name: str, params: Mapping[str, Any]) -> FeatureSpec:
        """The spec registered as ``name`` with ``params`` (see :func:`spec_from_dict`)."""
        return cls(**params)

    @abc.abstractmethod
    def compute(self, waveform: np.ndarray) -> np.ndarray:
        """Features of a mono waveform sampled at :attr:`sample_rate` Hz."""

    def _set(self, key: str, value: Any) -> None:
        object.__setattr__(self, key, value)

    def _coerce_int(self, key: str, minimum: int = 1) -> None:
        """Check the field ``key`` is an integer >= ``minimum`` and store it as ``int``."""
        self._set(key, check_int(f"feature {self.name}: {key}", getattr(self, key),
                                 minimum=minimum, error=FeatureError))

    def _coerce_number(self, key: str, **bounds: float) -> None:
        """Check the field ``key`` is a finite number within ``bounds`` (the keywords of
        :func:`kerastag.checks.check_number`) and store it as ``float``."""
        self._set(key, check_number(f"feature {self.name}: {key}", getattr(self, key),
                                    error=FeatureError, **bounds))

    def _check_band(self) -> None:
        fmin, fmax = getattr(self, "fmin"), getattr(self, "fmax")
        if not 0 <= fmin < fmax <= self.sample_rate / 2:
            raise FeatureError(f"feature {self.name}: expected 0 <= fmin < fmax <= "
                               f"sample_rate/2, got fmin={fmin}, fmax={fmax}, "
                               f"sample_rate={self.sample_rate}")


class MillisecondFraming:
    """``win_length``/``hop_length`` in samples of a spec framed in milliseconds
    (fields ``sample_rate``, ``frame_ms``, ``hop_ms``)."""

    sample_rate: int
    frame_ms: float
    hop_ms: float

    @property
    def win_length(self) -> int:
        """Window (and FFT) length in samples."""
        return int(round(self.sample_rate * self.frame_ms / 1000))

    @property
    def hop_length(self) -> int:
        """Frame step in samples."""
        return int(round(self.sample_rate * self.hop_ms / 1000))


@dataclasses.dataclass(frozen=True)
class LogMelA(FeatureSpec):
    """Paper A's log-mel spectrogram (DCASE 2016 Task 4, CHiME-Home).

    Magnitude STFT (power 1, periodic Hamming window of ``n_fft`` samples, hop
    ``hop_length``, no centre padding) -> librosa's mel filterbank
    (``librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin,
    fmax=fmax)``, Slaney mel scale and area normalisation) -> ``log(mel + log_offset)``
    (natural log). A 4 s, 16 kHz chunk (64000 samples) gives 124 frames. A clip shorter
    than one window is zero-padded at the end to one window (1 frame).

    Attributes:
        sample_rate: sample rate in Hz.
        n_fft: window and FFT length in samples.
        hop_length: frame step in samples.
        n_mels: mel bands.
        fmin: lowest band edge in Hz.
        fmax: highest band edge in Hz.
        log_offset: added to the mel energies before the log.

    Examples:
        >>> import numpy as np
        >>> tone = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(64000) / 16000)  # 4 s, 1 kHz
        >>> features = LogMelA().compute(tone)
        >>> features.shape, features.dtype, int(features.mean(axis=0).argmax())  # 1 kHz band
        ((124, 128), dtype('float32'), 42)
    """

    name: ClassVar[str] = "logmel_a"
    description: ClassVar[str] = "log-mel"
    window: ClassVar[str] = "hamming"
    center: ClassVar[bool] = False

    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float = 8000.0
    log_offset: float = 1e-8

    def __post_init__(self) -> None:
        for key in ("sample_rate", "n_fft", "hop_length"):
            self._coerce_int(key)
        # more bands than FFT bins leaves empty (all-zero) mel filters
        self._set("n_mels", check_int(f"feature {self.name}: n_mels", self.n_mels, minimum=1,
                                      maximum=self.n_fft // 2 + 1, error=FeatureError))
        self._coerce_number("fmin", minimum=0.0)
        self._coerce_number("fmax", above=0.0)
        self._coerce_number("log_offset", above=0.0)
        self._check_band()

    def n_frames(self, n_samples: int) -> int:
        """Frames :meth:`compute` returns for a clip of ``n_samples`` samples."""
        return 1 + (max(n_samples, self.n_fft) - self.n_fft) // self.hop_length

    def compute(self, waveform: np.ndarray) -> np.ndarray:
        """Log-mel of one clip.

        Args:
            waveform: ``[shape=(samples,)]`` mono audio at ``sample_rate`` Hz.

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
        return _transposed_float64(mel_basis(self.sample_rate, self.n_fft, self.n_mels,
                                             self.fmin, self.fmax))


@dataclasses.dataclass(frozen=True)
class TimeFrequencyB(MillisecondFraming, FeatureSpec):
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

    The spec's ``name`` (feature type) is its ``kind``: ``"logmel"`` or ``"mfcc"``.

    Empty, silent and very short clips: a clip shorter than ``(delta_width - 1)`` hops
    (80 ms by default, fewer than 9 frames) is zero-padded at the end to that length, so
    every output has at least ``delta_width`` frames (what ``delta`` needs) and is finite
    (silence is ``-100 dB`` from ``amin``, with zero deltas).

    The authors' code worked at 22,050 Hz; ``TimeFrequencyB(sample_rate=22050)``
    reproduces that (window 1764, hop 220). The default follows the paper's 44.1 kHz.

    Attributes:
        kind: ``"logmel"`` or ``"mfcc"``.
        sample_rate: sample rate in Hz.
        frame_ms: analysis window in milliseconds (80 -> 3528 samples at 44.1 kHz).
        hop_ms: frame step in milliseconds (10 -> 441 samples at 44.1 kHz).
        n_mels: mel bands of the log-mel (``kind="logmel"``).
        n_mfcc: cepstral coefficients kept (``kind="mfcc"``).
        mfcc_bands: mel bands the MFCC is computed from.
        fmin: lowest band edge in Hz.
        fmax: highest band edge in Hz; ``None`` means ``sample_rate / 2``.
        top_db: dynamic range kept below the clip's peak in dB, ``None`` for no limit.
        delta_width: odd window (frames) of the delta filters.

    Examples:
        >>> import numpy as np
        >>> spec = TimeFrequencyB(kind="logmel", sample_rate=22050)  # the authors' rate
        >>> spec.win_length, spec.hop_length
        (1764, 220)
        >>> spec.compute(np.sin(np.arange(33075) / 10)).shape  # 1.5 s: 3 x 64 bands x 151
        (3, 64, 151)
    """

    kinds: ClassVar[tuple[str, ...]] = ("logmel", "mfcc")

    kind: str = "logmel"
    sample_rate: int = 44100
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
            raise FeatureError(f"feature TimeFrequencyB: kind must be one of "
                               f"{', '.join(self.kinds)}, got {self.kind!r}")
        for key in ("sample_rate", "n_mels", "n_mfcc", "mfcc_bands"):
            self._coerce_int(key)
        self._coerce_int("delta_width", minimum=3)
        if self.delta_width % 2 == 0:
            raise FeatureError(f"feature {self.name}: delta_width must be odd, "
                               f"got {self.delta_width}")
        self._coerce_number("frame_ms", above=0.0)
        self._coerce_number("hop_ms", above=0.0)
        self._coerce_number("fmin", minimum=0.0)
        if self.fmax is None:
            self._set("fmax", self.sample_rate / 2)
        self._coerce_number("fmax", above=0.0)
        self._check_band()
        if self.top_db is not None:
            self._coerce_number("top_db", above=0.0)
        self._check_sizes()

    def _check_sizes(self) -> None:
        if self.n_mfcc > self.mfcc_bands:
            raise FeatureError(f"feature {self.name}: n_mfcc must be <= mfcc_bands, "
                               f"got n_mfcc={self.n_mfcc}, mfcc_bands={self.mfcc_bands}")
        if self.win_length < 2 or self.hop_length < 1:
            raise FeatureError(f"feature {self.name}: frame_ms={self.frame_ms}, "
                               f"hop_ms={self.hop_ms} give less than 2 / 1 samples at "
                               f"sample_rate={self.sample_rate}")
        bins = self.win_length // 2 + 1  # more bands than FFT bins leaves empty mel filters
        for key in ("n_mels", "mfcc_bands"):
            check_int(f"feature {self.name}: {key}", getattr(self, key), maximum=bins,
                      error=FeatureError)

    @classmethod
    def from_params(cls, name: str, params: Mapping[str, Any]) -> TimeFrequencyB:
        """The spec of feature type ``name`` (its ``kind``); a ``kind`` in ``params``
        must agree with it.

        Raises:
            FeatureError: ``params["kind"]`` is not ``name``.
        """
        kind = params.get("kind", name)
        if kind != name:
            raise FeatureError(f"feature {name}: kind {kind!r} contradicts the name {name!r}")
        return cls(**{**params, "kind": name})

    @property
    def name(self) -> str:  # type: ignore[override]
        """The feature type: ``kind``."""
        return self.kind

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"{self.kind}+deltas"

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
            waveform: ``[shape=(samples,)]`` mono audio at ``sample_rate`` Hz.

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
        """``[shape=(bands, frames)]`` dB of the ``bands``-band mel energies of ``power``
        ``[shape=(1 + win_length // 2, frames)]``."""
        import librosa

        basis = mel_basis(self.sample_rate, self.win_length, bands, self.fmin, self.fmax)
        return librosa.power_to_db(basis @ power, ref=1.0, amin=1e-10, top_db=self.top_db)


@dataclasses.dataclass(frozen=True)
class Wave(FeatureSpec):
    """Paper B's raw-waveform input: the clip itself at ``sample_rate`` Hz.

    Peak-safe: samples are clipped to [-1, 1] (resampling can overshoot full scale);
    the level is not normalised. An empty clip gives one zero sample, so every output
    can be cropped or padded to the training length.

    Attributes:
        sample_rate: sample rate in Hz.

    Examples:
        >>> import numpy as np
        >>> Wave().compute(np.array([0.5, 1.5, -2.0]))  # clipped to [-1, 1]
        array([ 0.5,  1. , -1. ], dtype=float32)
    """

    name: ClassVar[str] = "wave"
    description: ClassVar[str] = "wave"

    sample_rate: int = 44100

    def __post_init__(self) -> None:
        self._coerce_int("sample_rate")

    def compute(self, waveform: np.ndarray) -> np.ndarray:
        """The waveform as ``float32 [shape=(max(samples, 1),)]`` in [-1, 1]."""
        y = _pad_to(_mono(waveform, self.name), 1)
        return np.clip(y, -1.0, 1.0).astype(np.float32)


def mel_basis(sample_rate: int, n_fft: int, n_mels: int, fmin: float,
              fmax: float) -> np.ndarray:
    """librosa's mel filterbank (Slaney scale and norm), memoised; read-only.

    Args:
        sample_rate: sample rate in Hz.
        n_fft: FFT length in samples.
        n_mels: mel bands.
        fmin, fmax: lowest and highest band edge in Hz.

    Returns:
        ``float32 [shape=(n_mels, 1 + n_fft // 2)]``.
    """
    key = (int(sample_rate), int(n_fft), int(n_mels), float(fmin), float(fmax))
    if key not in _MEL_BASES:
        import librosa

        basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin,
                                    fmax=fmax)
        basis.setflags(write=False)
        _MEL_BASES[key] = basis
    return _MEL_BASES[key]


def pack_mel_bases() -> dict[tuple, PackedBasis]:
    """The memoised filterbanks, zlib-compressed (mostly zeros: 262 kB -> ~6 kB), cheap
    enough to send with every worker task; :func:`install_mel_bases` unpacks them."""
    return {key: (basis.shape, basis.dtype.str, zlib.compress(basis.tobytes(), 1))
            for key, basis in _MEL_BASES.items()}


def install_mel_bases(packed: Mapping[tuple, PackedBasis]) -> None:
    """Memoise the filterbanks of :func:`pack_mel_bases` here (those not yet known), so
    :func:`mel_basis` finds them without importing librosa."""
    for key, (shape, dtype, data) in packed.items():
        if key not in _MEL_BASES:
            _MEL_BASES[key] = np.frombuffer(zlib.decompress(data), dtype=dtype).reshape(shape)


def _transposed_float64(basis: np.ndarray) -> np.ndarray:
    """``basis.T`` as contiguous float64, memoised per filterbank object."""
    cached = _BASES_T64.get(id(basis))
    if cached is None or cached[0] is not basis:
        cached = (basis, np.ascontiguousarray(basis.T, dtype=np.float64))
        _BASES_T64[id(basis)] = cached
    return cached[1]


def _log_mel_workspace(n_frames: int, n_fft: int,
                       n_mels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reusable per-thread buffers for :meth:`LogMelA.compute`.

    Returns:
        float64 windowed frames ``(n_frames, n_fft)``, complex128 spectrum and float64
        magnitude ``(n_frames, 1 + n_fft // 2)``, float64 mel energies
        ``(n_frames, n_mels)``.

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
    """``scipy.signal.get_window("hamming", n)`` (the periodic, DFT-even Hamming),
    float64 ``[shape=(n,)]``, read-only."""
    window = np.hamming(n + 1)[:-1]
    window.setflags(write=False)
    return window


def _mono(waveform: np.ndarray, spec_name: str) -> np.ndarray:
    """``waveform`` as float32 ``[shape=(samples,)]``.

    Raises:
        FeatureError: not one-dimensional.
    """
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
