"""The feature front ends as Keras layers: raw mono audio in, kerastag's features out.

An exported model (``kerastag export``) carries its front end inside the graph, so it
takes raw audio. Each layer here computes, in ``keras.ops``, what a spec of
:mod:`kerastag.features.specs` computes in numpy/librosa:

* :class:`LogMelFrontEnd` = :class:`~kerastag.features.specs.LogMelA` (paper A);
* :class:`TimeFrequencyFrontEnd` = :class:`~kerastag.features.specs.TimeFrequencyB`
  (paper B's log-mel or MFCC with deltas), in the networks' channels-last layout;
* :class:`WaveFrontEnd` = :class:`~kerastag.features.specs.Wave`.

The STFT is Keras' own :class:`keras.layers.STFTSpectrogram`: a strided convolution
with fixed DFT kernels, which every export format holds (no FFT op, which ONNX and
LiteRT do not all have for non-power-of-two lengths). The mel filterbank is librosa's,
stored as a non-trainable weight. The graph computes in float32 where the numpy
features use float64 for the FFT; ``benchmarks/inference.py`` and the export tests
measure the difference (see :data:`FEATURE_TOLERANCE`).

Every layer is registered under the ``kerastag`` package.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
from keras import ops

from kerastag.errors import ModelError
from kerastag.features.specs import LogMelA, TimeFrequencyB, Wave, mel_basis

#: Largest absolute difference between a front end's output and its spec's numpy
#: features on the demo's audio, per feature type (natural-log units for ``logmel_a``,
#: dB for ``logmel``, MFCC units for ``mfcc``); asserted by the tests.
FEATURE_TOLERANCE = {"logmel_a": 2e-3, "logmel": 2e-2, "mfcc": 2e-2, "wave": 0.0}


def _stft(frame_length: int, hop_length: int, window: str,
          name: str) -> keras.layers.STFTSpectrogram:
    """Keras' DFT-kernel STFT over ``(batch, samples, 1)``: ``(batch, frames, 2 * bins)``,
    real parts then imaginary parts (its ``"stft"`` mode: its ``"magnitude"`` floors the
    power at 1e-7 and its ``"psd"`` doubles the inner bins, neither what librosa does)."""
    with warnings.catch_warnings():  # paper B's 3528-sample window is not a power of two
        warnings.simplefilter("ignore", UserWarning)
        return keras.layers.STFTSpectrogram(
            mode="stft", frame_length=frame_length, frame_step=hop_length,
            fft_length=frame_length, window=window, periodic=True, scaling=None,
            padding="valid", trainable=False, name=name)


def _build_stft(stft: keras.layers.STFTSpectrogram) -> None:
    """Build ``stft`` and set its DFT kernels computed in float64.

    Keras' STFT initializer computes the angles ``2 pi t k / n`` in float32: up to
    ~1e4 rad, where a float32 step is ~1e-3 rad, so the kernels leak ~-60 dB and
    quiet bins were off by tenths of a dB (log-mel) up to 13 dB (``top_db=None``).
    The angle is reduced modulo ``n`` in integers here."""
    import scipy.signal

    stft.build((None, None, 1))
    n = stft.frame_length
    window = scipy.signal.get_window(stft.window, n, fftbins=stft.periodic)
    t, k = np.arange(n)[:, None], np.arange(stft.real_kernel.shape[-1])[None, :]
    angle = -2.0 * np.pi * ((t * k) % n) / n
    for variable, part in ((stft.real_kernel, np.cos(angle)), (stft.imag_kernel, np.sin(angle))):
        variable.assign((part * window[:, None])[:, None, :].astype(variable.dtype))


def _power(stft: keras.layers.STFTSpectrogram, audio):
    """``|STFT|**2`` of ``audio (batch, samples)``: ``(batch, frames, bins)``."""
    parts = stft(ops.expand_dims(audio, -1))
    bins = parts.shape[-1] // 2
    return ops.square(parts[..., :bins]) + ops.square(parts[..., bins:])


def _pad_end_to(audio, length: int, value: float = 0.0):
    """``audio (batch, samples)`` padded at the end to at least ``length`` samples."""
    missing = ops.maximum(length - ops.shape(audio)[1], 0)
    return ops.pad(audio, [[0, 0], [0, missing]], constant_values=value)


@keras.saving.register_keras_serializable(package="kerastag")
class LogMelFrontEnd(keras.layers.Layer):
    """Paper A's log-mel (:class:`~kerastag.features.specs.LogMelA`) in the graph.

    Input ``(batch, samples)`` float audio at ``sample_rate`` Hz; output
    ``(batch, frames, n_mels)`` with ``frames = 1 + (max(samples, n_fft) - n_fft) //
    hop_length``: magnitude STFT (periodic Hamming, no centring), librosa's Slaney mel
    filterbank, ``log(mel + log_offset)``.
    """

    def __init__(self, sample_rate=16000, n_fft=1024, hop_length=512, n_mels=128,
                 fmin=0.0, fmax=8000.0, log_offset=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.spec = LogMelA(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length,
                            n_mels=n_mels, fmin=fmin, fmax=fmax, log_offset=log_offset)
        self.stft = _stft(self.spec.n_fft, self.spec.hop_length, "hamming", name="stft")

    def build(self, input_shape):
        basis = mel_basis(self.spec.sample_rate, self.spec.n_fft, self.spec.n_mels,
                          self.spec.fmin, self.spec.fmax)
        self.mel = self.add_weight(name="mel", shape=basis.T.shape, trainable=False,
                                   initializer=keras.initializers.Constant(basis.T))
        _build_stft(self.stft)

    def call(self, audio):
        audio = _pad_end_to(ops.cast(audio, "float32"), self.spec.n_fft)
        magnitude = ops.sqrt(_power(self.stft, audio))
        return ops.log(ops.matmul(magnitude, self.mel) + self.spec.log_offset)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None, self.spec.n_mels)

    def get_config(self):
        return {**super().get_config(), **self.spec.params()}


@keras.saving.register_keras_serializable(package="kerastag")
class TimeFrequencyFrontEnd(keras.layers.Layer):
    """Paper B's log-mel or MFCC with deltas (:class:`~kerastag.features.specs.
    TimeFrequencyB`) in the graph, channels last.

    Input ``(batch, samples)`` at ``sample_rate`` Hz; output ``(batch, bands, frames, 3)``
    (static, delta, delta-delta), ``frames = 1 + max(samples, min_samples) // hop``:
    centred power STFT (periodic Hann, zero padding), mel, ``power_to_db`` (amin 1e-10,
    ``top_db`` below each clip's peak), the orthonormal DCT-II for MFCC, and librosa's
    deltas. librosa's ``delta`` is a Savitzky-Golay filter in ``interp`` mode; with the
    polynomial order equal to the derivative order the edge frames take the value of the
    first (last) full window, so it is a valid convolution with edge replication here.
    """

    def __init__(self, kind="logmel", sample_rate=44100, frame_ms=80.0, hop_ms=10.0,
                 n_mels=64, n_mfcc=64, mfcc_bands=128, fmin=0.0, fmax=None, top_db=80.0,
                 delta_width=9, **kwargs):
        super().__init__(**kwargs)
        self.spec = TimeFrequencyB(kind=kind, sample_rate=sample_rate, frame_ms=frame_ms,
                                   hop_ms=hop_ms, n_mels=n_mels, n_mfcc=n_mfcc,
                                   mfcc_bands=mfcc_bands, fmin=fmin, fmax=fmax,
                                   top_db=top_db, delta_width=delta_width)
        self.stft = _stft(self.spec.win_length, self.spec.hop_length, "hann", name="stft")

    def build(self, input_shape):
        spec = self.spec
        bands = spec.n_mels if spec.kind == "logmel" else spec.mfcc_bands
        basis = mel_basis(spec.sample_rate, spec.win_length, bands, spec.fmin, spec.fmax)
        self.mel = self.add_weight(name="mel", shape=basis.T.shape, trainable=False,
                                   initializer=keras.initializers.Constant(basis.T))
        if spec.kind == "mfcc":
            from scipy.fft import dct

            matrix = dct(np.eye(bands), type=2, norm="ortho", axis=0)[: spec.n_mfcc].T
            self.dct = self.add_weight(name="dct", shape=matrix.shape, trainable=False,
                                       initializer=keras.initializers.Constant(matrix))
        _build_stft(self.stft)

    def call(self, audio):
        spec = self.spec
        audio = _pad_end_to(ops.cast(audio, "float32"), spec.min_samples)
        half = spec.win_length // 2
        audio = ops.pad(audio, [[0, 0], [half, half]])
        power = _power(self.stft, audio)                            # (batch, frames, bins)
        static = self._power_to_db(ops.matmul(power, self.mel))     # (batch, frames, bands)
        if spec.kind == "mfcc":
            static = ops.matmul(static, self.dct)
        delta = self._delta(static, order=1)
        delta2 = self._delta(static, order=2)
        stacked = ops.stack([static, delta, delta2], axis=-1)       # (batch, frames, bands, 3)
        return ops.transpose(stacked, (0, 2, 1, 3))

    def _power_to_db(self, mel):
        db = 10.0 * ops.log(ops.maximum(mel, 1e-10)) / np.log(10.0)
        if self.spec.top_db is None:
            return db
        peak = ops.max(db, axis=(1, 2), keepdims=True)
        return ops.maximum(db, peak - self.spec.top_db)

    def _delta(self, x, *, order: int):
        """librosa.feature.delta along frames of ``x (batch, frames, bands)``."""
        from scipy.signal import savgol_coeffs

        width = self.spec.delta_width
        coeffs = savgol_coeffs(width, order, deriv=order, use="dot").astype("float32")
        frames = ops.shape(x)[1]
        valid = sum(coeffs[k] * x[:, k:frames - width + 1 + k] for k in range(width))
        half = width // 2
        first = ops.repeat(valid[:, :1], half, axis=1)
        last = ops.repeat(valid[:, -1:], half, axis=1)
        return ops.concatenate([first, valid, last], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.spec.bands, None, 3)

    def get_config(self):
        return {**super().get_config(), **self.spec.params()}


@keras.saving.register_keras_serializable(package="kerastag")
class WaveFrontEnd(keras.layers.Layer):
    """Paper B's raw wave (:class:`~kerastag.features.specs.Wave`): the audio clipped to
    [-1, 1], at least one sample. ``(batch, samples)`` -> ``(batch, max(samples, 1))``."""

    def __init__(self, sample_rate=44100, **kwargs):
        super().__init__(**kwargs)
        self.spec = Wave(sample_rate=sample_rate)

    def call(self, audio):
        return ops.clip(_pad_end_to(ops.cast(audio, "float32"), 1), -1.0, 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), **self.spec.params()}


_FRONT_ENDS = {LogMelA: LogMelFrontEnd, TimeFrequencyB: TimeFrequencyFrontEnd,
               Wave: WaveFrontEnd}


def front_end_for(spec, *, name: str = "front_end") -> keras.layers.Layer:
    """The front-end layer computing ``spec``'s features from raw audio.

    Raises:
        ModelError: a spec with no in-graph front end (paper A's baseline inputs: MFCC
            frames, or the log-mel + IMD of a stereo file).
    """
    layer = _FRONT_ENDS.get(type(spec))
    if layer is None:
        raise ModelError(f"feature {spec.name!r} has no in-graph front end (raw mono audio "
                         f"in); front ends exist for {', '.join(sorted(FEATURE_TOLERANCE))}")
    return layer(**spec.params(), name=name)
