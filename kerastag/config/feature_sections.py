"""The ``features:`` sections, one frozen dataclass per feature type.

Each subclasses its feature definition (:mod:`kerastag.features`), so every field of the
spec is a config key, and adds ``type``, ``cache_dir`` and ``workers``;
:data:`kerastag.names.FEATURE_TYPES` registers them (through
:mod:`kerastag.config.sections`, which re-exports them).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Optional, Union

from kerastag import names
from kerastag.checks import check_int, check_number
from kerastag.errors import ConfigError, FeatureError
from kerastag.features.dcase2016 import LogMelImd, MfccFrames
from kerastag.features.specs import LogMelA, TimeFrequencyB, Wave


def _spec_checked(section, spec_class: type) -> None:
    """Run ``spec_class``'s checks on the section's values; a FeatureError becomes a
    ConfigError naming the ``features.`` key."""
    try:
        spec_class.__post_init__(section)
    except FeatureError as exc:
        message = re.sub(r"^feature \w+: (\w+): ", r"features.\1: ", str(exc))
        raise ConfigError(re.sub(r"^feature \w+: ", "features: ", message)) from None


def _spec_of(section, spec_class: type):
    """The spec of ``spec_class`` with the section's values of its fields."""
    return spec_class(**{f.name: getattr(section, f.name) for f in dataclasses.fields(spec_class)
                         if f.init})


@dataclasses.dataclass(frozen=True)
class LogMelAFeatures(LogMelA):
    """``type: logmel_a``, paper A's log-mel of the whole 4 s chunk.

    Keys: every field of :class:`kerastag.features.LogMelA` (``sample_rate``, ``n_fft``,
    ``hop_length``, ``n_mels``, ``fmin``, ``fmax``, ``log_offset``, with its defaults),
    then ``type``, ``cache_dir`` (where features are cached) and ``workers`` (extraction
    processes; default: all cores).
    """

    type: str = "logmel_a"
    cache_dir: Optional[str] = None
    workers: Optional[int] = None

    def __post_init__(self):
        check_choice("features.type", self.type, ("logmel_a",))
        _spec_checked(self, LogMelA)
        _check_workers(self.workers)

    def spec(self) -> LogMelA:
        """The feature definition."""
        return _spec_of(self, LogMelA)


@dataclasses.dataclass(frozen=True)
class ExcerptFeatures(TimeFrequencyB):
    """``type: logmel``, ``mfcc`` or ``wave``: paper B's whole-clip features, trained on
    random excerpts.

    Keys: every field of :class:`kerastag.features.TimeFrequencyB` but ``kind``
    (``sample_rate`` 44100, ``frame_ms``, ``hop_ms``, ``n_mels`` 64, ``n_mfcc`` 64,
    ``mfcc_bands``, ``fmin``, ``fmax`` (default ``sample_rate / 2``), ``top_db``,
    ``delta_width``), then ``type``, ``excerpt_seconds`` (a random window of that length
    is a training example), ``predict_hop_seconds`` (whole clips are scored by averaging
    windows this far apart), ``cache_dir`` and ``workers``. ``wave`` uses only
    ``sample_rate``. A paper-B row picks its own type (``rows[].features``); the other
    settings are shared.
    """

    kind: str = dataclasses.field(default="logmel", init=False)  # follows ``type``
    type: str = "logmel"
    excerpt_seconds: float = 1.5
    predict_hop_seconds: float = 0.5
    cache_dir: Optional[str] = None
    workers: Optional[int] = None

    def __post_init__(self):
        check_choice("features.type", self.type, names.EXCERPT_FEATURE_TYPES)
        object.__setattr__(self, "kind", "mfcc" if self.type == "mfcc" else "logmel")
        _spec_checked(self, TimeFrequencyB)
        for key in ("excerpt_seconds", "predict_hop_seconds"):
            check_number(f"features.{key}", getattr(self, key), above=0, error=ConfigError)
        _check_workers(self.workers)

    def with_type(self, feature_type: str) -> "ExcerptFeatures":
        """The same settings for another of paper B's feature types."""
        return dataclasses.replace(self, type=feature_type)

    def spec(self) -> TimeFrequencyB | Wave:
        """The feature definition: :class:`~kerastag.features.TimeFrequencyB` or
        :class:`~kerastag.features.Wave`."""
        if self.type == "wave":
            return Wave(sample_rate=self.sample_rate)
        return _spec_of(self, TimeFrequencyB)


@dataclasses.dataclass(frozen=True)
class MfccFramesFeatures(MfccFrames):
    """``type: mfcc_frames``, per-frame MFCC of the whole chunk (the DAE-DNN's and the
    challenge GMM baseline's input).

    Keys: every field of :class:`kerastag.features.MfccFrames` (``sample_rate``,
    ``frame_ms``, ``hop_ms``, ``n_mels``, ``n_mfcc``, ``include_c0``, ``fmin``, ``fmax``,
    ``window``, ``center``, ``top_db``), then ``type``, ``cache_dir`` and ``workers``.
    """

    type: str = "mfcc_frames"
    cache_dir: Optional[str] = None
    workers: Optional[int] = None

    def __post_init__(self):
        check_choice("features.type", self.type, ("mfcc_frames",))
        _spec_checked(self, MfccFrames)
        _check_workers(self.workers)

    def spec(self) -> MfccFrames:
        """The feature definition."""
        return _spec_of(self, MfccFrames)


@dataclasses.dataclass(frozen=True)
class LogMelImdFeatures(LogMelImd):
    """``type: logmel_imd``, 40-band log-mel and the interaural magnitude difference of
    the chunk's 48 kHz stereo file resampled to 16 kHz (the CGRNN's and ATT-LOC's input).

    Keys: every field of :class:`kerastag.features.LogMelImd` (``sample_rate``,
    ``n_fft``, ``hop_length``, ``n_mels``, ``fmin``, ``fmax``, ``log_offset``), then
    ``type``, ``cache_dir`` and ``workers``.
    """

    type: str = "logmel_imd"
    cache_dir: Optional[str] = None
    workers: Optional[int] = None

    def __post_init__(self):
        check_choice("features.type", self.type, ("logmel_imd",))
        _spec_checked(self, LogMelImd)
        _check_workers(self.workers)

    def spec(self) -> LogMelImd:
        """The feature definition."""
        return _spec_of(self, LogMelImd)


#: A ``features:`` section: the dataclass :data:`kerastag.names.FEATURE_TYPES` registers
#: for its ``type`` key (these four, or one a user added).
FeaturesConfig = Union[LogMelAFeatures, ExcerptFeatures, MfccFramesFeatures, LogMelImdFeatures]

#: A row's ``features``: a feature type (its section's defaults) or a whole section.
RowFeatures = Optional[Union[str, FeaturesConfig]]


def feature_section(feature_type: str) -> type:
    """The config section dataclass of ``feature_type``."""
    check_choice("features.type", feature_type, names.FEATURE_TYPES)
    return names.resolve(names.FEATURE_TYPES[feature_type])


def check_choice(key: str, value: str, choices) -> None:
    """A ConfigError naming ``key``, the nearest valid value and all of them, unless
    ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(names.unknown_name(key, value, choices))


def _check_workers(workers) -> None:
    if workers is not None:
        check_int("features.workers", workers, minimum=1, error=ConfigError)
