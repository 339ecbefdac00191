"""One error hierarchy for kerastag.

Every error a user can cause (a bad config, a missing dataset file, an unreadable wav)
is a :class:`KerastagError`. The CLI prints its message on one line and exits non-zero,
so each message names the file or key involved and the value that was received.
"""

import re


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


def exception_line(exc: BaseException) -> str:
    """The first line of what ``exc`` says, TensorFlow's own message for its errors.

    A TensorFlow error raised by ``model.fit`` reads "Graph execution error:", then
    "Detected at node ... defined at (most recent call last):" and indented frames, then
    the kernel's message (which may start with ``{{function_node ...}}``); the headers,
    the frames and that prefix are skipped.
    """
    lines = [line for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if not (line.startswith((" ", "\t")) or line.rstrip().endswith("(most recent call last):")
                or line.strip() == "Graph execution error:"):
            return re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", line.strip())
    return lines[0].strip() if lines else "(no message)"
