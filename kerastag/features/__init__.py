"""The papers' input features, and a parallel extractor with an on-disk cache.

One concern per module:

- :mod:`kerastag.features.specs`: the papers' feature specs (:class:`LogMelA`,
  :class:`TimeFrequencyB`, :class:`Wave`) and the numpy log-mel;
- :mod:`kerastag.features.dcase2016`: the Table 1 baselines' inputs (:class:`MfccFrames`,
  :class:`LogMelImd`, stereo);
- :mod:`kerastag.features.registry`: :data:`SPECS` by name and :func:`spec_from_dict`;
- :mod:`kerastag.features.cache`: the cache layout, its writer and its reader;
- :mod:`kerastag.features.extraction`: :func:`extract` and its worker pool;
- :mod:`kerastag.features.windows`: a clip cut into windows (:class:`Windowed`,
  :func:`cut_windows`), paper A's unit of training and scoring.

The package imports no TensorFlow (nor librosa): feature workers import it and must
start fast (see ``kerastag/__init__.py``).
"""

from kerastag.features.cache import (
    CACHE_FORMAT_VERSION,
    cache_folder,
    cached_path,
    clip_key,
    load_cached,
    spec_hash,
)
from kerastag.features.extraction import FeatureResult, extract
from kerastag.features.dcase2016 import LogMelImd, MfccFrames
from kerastag.features.registry import SPECS, spec_from_dict
from kerastag.features.specs import FeatureSpec, LogMelA, TimeFrequencyB, Wave, mel_basis
from kerastag.features.windows import Windowed, cut_windows

__all__ = [
    "CACHE_FORMAT_VERSION",
    "SPECS",
    "FeatureResult",
    "FeatureSpec",
    "LogMelA",
    "LogMelImd",
    "MfccFrames",
    "TimeFrequencyB",
    "Wave",
    "Windowed",
    "cache_folder",
    "cached_path",
    "clip_key",
    "cut_windows",
    "extract",
    "load_cached",
    "mel_basis",
    "spec_from_dict",
    "spec_hash",
]
