"""The inputs of paper A's baselines (Table 1's DAE-DNN, CGRNN and ATT-LOC rows) and of
the DCASE 2016 Task 4 challenge baseline.

- :class:`MfccFrames` (``mfcc_frames``): per-frame MFCC of the 16 kHz chunk, time first.
  The DAE-DNN takes 24 coefficients (c0 included) of 20 ms frames every 10 ms, with
  context windows built inside the model; the challenge's GMM baseline 14 coefficients
  without c0 of 20 ms frames every 10 ms, centred.
- :class:`LogMelImd` (``logmel_imd``): the CGRNN and ATT-LOC input, computed from the
  chunk's **48 kHz stereo** file resampled to 16 kHz: a 40-band log-mel of the channel
  mean and the interaural magnitude difference ``|STFT(left)| - |STFT(right)|``
  (257 bins), concatenated per frame.

Both are numpy (and librosa for the MFCC's DCT and filterbank), like the other specs;
this module imports neither TensorFlow nor librosa at import time.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from kerastag.errors import FeatureError
from kerastag.features.specs import (
    FeatureSpec, LogMelA, MillisecondFraming, _pad_to, _periodic_hamming, mel_basis,
)

WINDOWS = ("hamming", "hann")


@dataclasses.dataclass(frozen=True)
class MfccFrames(MillisecondFraming, FeatureSpec):
    """Per-frame MFCC of a mono clip.

    Power STFT (periodic ``window`` of ``frame_ms``, FFT length = window length, hop
    ``hop_ms``; ``center`` pads ``n_fft // 2`` zeros at both ends) -> ``n_mels``-band
    Slaney mel filterbank (librosa's) -> ``librosa.power_to_db(ref=1.0, amin=1e-10,
    top_db=top_db)`` -> orthonormal DCT-II (``librosa.feature.mfcc(S=...)``): exactly
    ``librosa.feature.mfcc(y=...)`` with these settings, and the challenge baseline's
    computation. With
    ``include_c0`` the output is coefficients ``0 .. n_mfcc-1``; without it ``1 .. n_mfcc``
    (the energy-like c0 dropped, as the challenge baseline did).

    Attributes:
        sample_rate: sample rate in Hz.
        frame_ms: analysis window in milliseconds.
        hop_ms: frame step in milliseconds.
        n_mels: mel bands the cepstrum is computed from.
        n_mfcc: coefficients returned.
        include_c0: whether the first returned coefficient is c0.
        fmin, fmax: band edges in Hz (``fmax`` None: ``sample_rate / 2``).
        window: ``"hamming"`` or ``"hann"``.
        center: pad the clip so frame t is centred on sample ``t * hop``.
        top_db: dynamic range kept below the clip's peak in dB, None for no limit.
    """

    name: ClassVar[str] = "mfcc_frames"
    description: ClassVar[str] = "mfcc frames"

    sample_rate: int = 16000
    frame_ms: float = 20.0
    hop_ms: float = 10.0
    n_mels: int = 40
    n_mfcc: int = 24
    include_c0: bool = True
    fmin: float = 0.0
    fmax: float | None = None
    window: str = "hamming"
    center: bool = False
    top_db: float | None = 80.0

    def __post_init__(self) -> None:
        for key in ("sample_rate", "n_mels", "n_mfcc"):
            self._coerce_int(key)
        self._coerce_number("frame_ms", above=0.0)
        self._coerce_number("hop_ms", above=0.0)
        self._coerce_number("fmin", minimum=0.0)
        if self.fmax is None:
            self._set("fmax", self.sample_rate / 2)
        self._coerce_number("fmax", above=0.0)
        self._check_band()
        _check_flag(self.name, "include_c0", self.include_c0)
        _check_flag(self.name, "center", self.center)
        _check_window(self.name, self.window)
        if self.top_db is not None:
            self._coerce_number("top_db", above=0.0)
        if self.win_length < 2 or self.hop_length < 1:
            raise FeatureError(f"feature {self.name}: frame_ms={self.frame_ms}, "
                               f"hop_ms={self.hop_ms} give less than 2 / 1 samples")
        if self.n_mels > self.win_length // 2 + 1:
            raise FeatureError(f"feature {self.name}: n_mels must be <= "
                               f"{self.win_length // 2 + 1} (FFT bins), got {self.n_mels}")
        if self.n_mfcc + (0 if self.include_c0 else 1) > self.n_mels:
            raise FeatureError(f"feature {self.name}: n_mfcc must be <= n_mels"
                               f"{'' if self.include_c0 else ' - 1 without c0'}, "
                               f"got n_mfcc={self.n_mfcc}, n_mels={self.n_mels}")

    def n_frames(self, n_samples: int) -> int:
        """Frames :meth:`compute` returns for a clip of ``n_samples`` samples."""
        if self.center:
            return 1 + n_samples // self.hop_length
        return 1 + (max(n_samples, self.win_length) - self.win_length) // self.hop_length

    def compute(self, waveform: np.ndarray) -> np.ndarray:
        """MFCC of one clip.

        Args:
            waveform: ``[shape=(samples,)]`` mono audio at ``sample_rate`` Hz.

        Returns:
            ``float32 [shape=(frames, n_mfcc)]``, time first.
        """
        import librosa

        y = np.asarray(waveform, dtype=np.float32)
        if y.ndim != 1:
            raise FeatureError(f"feature {self.name}: expected a mono waveform of shape "
                               f"(samples,), got shape {y.shape}")
        if self.center:
            y = np.pad(y, self.win_length // 2)
        power = _magnitude_frames(_pad_to(y, self.win_length), self.win_length,
                                  self.hop_length, self.window) ** 2    # (frames, bins)
        basis = mel_basis(self.sample_rate, self.win_length, self.n_mels, self.fmin, self.fmax)
        log_mel = librosa.power_to_db(basis @ power.T, ref=1.0, amin=1e-10, top_db=self.top_db)
        first = 0 if self.include_c0 else 1
        mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=self.n_mfcc + first)[first:]
        return np.ascontiguousarray(mfcc.T, dtype=np.float32)


@dataclasses.dataclass(frozen=True)
class LogMelImd(FeatureSpec):
    """Log-mel and interaural magnitude difference (IMD) of a stereo clip.

    Both streams share one framing: periodic Hamming window of ``n_fft`` samples, hop
    ``hop_length``, no centre padding (a 4 s chunk at 16 kHz: 249 frames).

    - log-mel: :class:`~kerastag.features.LogMelA` with ``n_fft``, ``hop_length``,
      ``n_mels``, ``fmin``, ``fmax`` and ``log_offset`` of the channel mean.
    - IMD: ``|STFT(left)| - |STFT(right)|``, linear magnitudes, ``n_fft // 2 + 1`` bins;
      exactly zero when the two channels are equal.

    The file is read stereo (:attr:`channels` 2) from the dataset's ``48k`` stream
    (CHiME-Home's ``<chunk>.48kHz.wav``) and resampled to ``sample_rate``.

    Attributes:
        sample_rate, n_fft, hop_length, n_mels, fmin, fmax, log_offset: as
            :class:`~kerastag.features.LogMelA`.
    """

    name: ClassVar[str] = "logmel_imd"
    description: ClassVar[str] = "log-mel + IMD"
    channels: ClassVar[int] = 2
    stream: ClassVar[str] = "48k"

    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 40
    fmin: float = 0.0
    fmax: float = 8000.0
    log_offset: float = 1e-8

    def __post_init__(self) -> None:
        self.log_mel_spec()  # its checks, reported under this spec's name
        for key in ("sample_rate", "n_fft", "hop_length", "n_mels"):
            self._coerce_int(key)
        for key in ("fmin", "fmax", "log_offset"):
            self._coerce_number(key)

    @property
    def n_imd(self) -> int:
        """IMD bins: ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    @property
    def n_bins(self) -> int:
        """Width of the output: ``n_mels + n_imd``."""
        return self.n_mels + self.n_imd

    def log_mel_spec(self) -> LogMelA:
        """The log-mel stream's definition."""
        try:
            return LogMelA(sample_rate=self.sample_rate, n_fft=self.n_fft,
                           hop_length=self.hop_length, n_mels=self.n_mels, fmin=self.fmin,
                           fmax=self.fmax, log_offset=self.log_offset)
        except FeatureError as exc:
            raise FeatureError(str(exc).replace("feature logmel_a", f"feature {self.name}")) from None

    def n_frames(self, n_samples: int) -> int:
        """Frames :meth:`compute` returns for a clip of ``n_samples`` samples."""
        return self.log_mel_spec().n_frames(n_samples)

    def compute(self, waveform: np.ndarray) -> np.ndarray:
        """Log-mel of the channel mean, then IMD, per frame.

        Args:
            waveform: ``[shape=(2, samples)]`` stereo audio at ``sample_rate`` Hz
                (left, right).

        Returns:
            ``float32 [shape=(frames, n_mels + n_fft // 2 + 1)]``: columns ``:n_mels`` the
            natural-log mel magnitudes, the rest the IMD.
        """
        y = np.asarray(waveform, dtype=np.float32)
        if y.ndim != 2 or y.shape[0] != 2:
            raise FeatureError(f"feature {self.name}: expected a stereo waveform of shape "
                               f"(2, samples), got shape {y.shape}")
        y = np.stack([_pad_to(channel, self.n_fft) for channel in y])
        log_mel = self.log_mel_spec().compute(y.mean(axis=0))
        left, right = (_magnitude_frames(channel, self.n_fft, self.hop_length, "hamming")
                       for channel in y)
        return np.concatenate([log_mel, (left - right).astype(np.float32)], axis=1)


def _magnitude_frames(y: np.ndarray, n_fft: int, hop_length: int, window: str) -> np.ndarray:
    """``|rfft|`` of the windowed frames of ``y`` (no padding): float64
    ``[shape=(1 + (len(y) - n_fft) // hop_length, n_fft // 2 + 1)]``."""
    frames = np.lib.stride_tricks.sliding_window_view(y.astype(np.float64), n_fft)[::hop_length]
    taper = _periodic_hamming(n_fft) if window == "hamming" else np.hanning(n_fft + 1)[:-1]
    return np.abs(np.fft.rfft(frames * taper, axis=1))


def _check_flag(spec_name: str, key: str, value) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise FeatureError(f"feature {spec_name}: {key}: expected true or false, got {value!r}")


def _check_window(spec_name: str, window) -> None:
    if window not in WINDOWS:
        raise FeatureError(f"feature {spec_name}: window: expected one of "
                           f"{', '.join(WINDOWS)}, got {window!r}")
