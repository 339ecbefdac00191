"""One error hierarchy for kerastag.

Every error a user can cause (a bad config, a missing dataset file, an unreadable wav)
is a :class:`KerastagError`. The CLI prints its message on one line and exits non-zero,
so each message names the file or key involved and the value that was received.
"""


class KerastagError(Exception):
    """Root of every error kerastag raises on purpose."""


class ConfigError(KerastagError):
    """An experiment config is malformed: unknown key, wrong type, bad value."""


class DatasetError(KerastagError):
    """A dataset folder does not follow its layout (missing file, bad CSV row, ...)."""


class AudioError(KerastagError):
    """An audio file is missing, empty or cannot be decoded."""


class FeatureError(KerastagError):
    """A feature cannot be computed or a cached feature is unusable."""


class DownloadError(KerastagError):
    """A download failed or its checksum does not match."""


class ModelError(KerastagError):
    """A model name, weights file or saved model is not what was expected."""


class StackingError(KerastagError):
    """Level-1 files or level-2 inputs that cannot be stacked."""


class ThresholdError(KerastagError):
    """A thresholds file, or a run folder to calibrate thresholds from, is not usable."""
