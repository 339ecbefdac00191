"""A clip cut into windows of fixed length: paper A's unit of training and scoring.

A clip of any length is cut into consecutive, non-overlapping windows of ``seconds``
(paper A: 4 s, the length of a CHiME-Home chunk). The waveform is zero-padded at its end
to a whole number of windows: a clip shorter than one window is one zero-padded window,
a clip of exactly ``k`` windows is cut without padding (so a 4 s CHiME-Home chunk is one
window whose feature is exactly the feature of the whole file). A feature is computed on
each window alone; a clip's features are the stack ``(windows, frames, bins)``.

:class:`Windowed` wraps a spec so that the extractor and its cache
(:mod:`kerastag.features.extraction`, :mod:`kerastag.features.cache`) hold these
stacks; the window length is one of its parameters, so it is part of the cache key.
Training, out-of-fold scoring, ``evaluate`` and ``predict`` all cut clips with
:func:`cut_windows`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from kerastag.checks import check_number
from kerastag.errors import FeatureError
from kerastag.features.specs import FeatureSpec

#: Paper A's window in seconds (a CHiME-Home chunk): the tagging task's cut and data check's count.
TAGGING_WINDOW_SECONDS = 4.0


def window_samples(seconds: float, sample_rate: int) -> int:
    """Samples in a window of ``seconds`` at ``sample_rate`` Hz (rounded)."""
    return int(round(seconds * sample_rate))


def window_count(samples: int, window: int) -> int:
    """Windows of ``window`` samples that cover ``samples`` (at least one)."""
    return max(1, math.ceil(samples / window))


def cut_windows(waveform: np.ndarray, window: int) -> list[np.ndarray]:
    """Consecutive windows of ``window`` samples along the last axis of ``waveform``.

    Args:
        waveform: ``(samples,)`` mono or ``(channels, samples)``.
        window: window length in samples.

    Returns:
        :func:`window_count` arrays ``(window,)`` (or ``(channels, window)``), the last
        zero-padded at its end; views of ``waveform`` when no padding is needed.
    """
    samples = waveform.shape[-1]
    n_windows = window_count(samples, window)
    padded = waveform
    if samples != n_windows * window:
        padded = np.zeros(waveform.shape[:-1] + (n_windows * window,), waveform.dtype)
        padded[..., :samples] = waveform
    return [padded[..., k * window:(k + 1) * window] for k in range(n_windows)]


@dataclasses.dataclass(frozen=True)
class Windowed(FeatureSpec):
    """``spec`` computed on each window of ``seconds`` of a clip (see the module
    docstring); :meth:`compute` returns ``(windows, *spec's output shape)``.

    Reads the same file as ``spec`` (its ``sample_rate``, ``channels`` and ``stream``).
    """

    spec: FeatureSpec
    seconds: float

    def __post_init__(self) -> None:
        self._set("seconds", check_number(f"feature {self.spec.name}: window seconds",
                                          self.seconds, error=FeatureError, above=0))

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.spec.name}_windows"

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"{self.spec.description} ({self.seconds:g} s windows)"

    @property
    def sample_rate(self) -> int:  # type: ignore[override]
        return self.spec.sample_rate

    @property
    def channels(self) -> int:  # type: ignore[override]
        return self.spec.channels

    @property
    def stream(self) -> str:  # type: ignore[override]
        return self.spec.stream

    @property
    def window(self) -> int:
        """The window length in samples."""
        return window_samples(self.seconds, self.spec.sample_rate)

    def params(self) -> dict[str, Any]:
        return {"window_seconds": self.seconds, "feature": self.spec.to_dict()}

    def compute(self, waveform: np.ndarray) -> np.ndarray:
        """``(windows, ...)``: the wrapped spec's features of each window, stacked."""
        return np.stack([self.spec.compute(piece) for piece in cut_windows(waveform, self.window)])
