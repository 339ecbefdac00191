"""Dataset layouts: CHiME-Home, FSDKaggle2018 and a generic CSV layout."""

from __future__ import annotations

from pathlib import Path

from kerastag.audio import AudioFormat
from kerastag.datasets.base import Clip, Dataset, Problems
from kerastag.errors import DatasetError
from kerastag.names import LAYOUTS, resolve, unknown_name

__all__ = ["Clip", "Dataset", "Problems", "audio_format", "detect_layout", "looks_like",
           "read_dataset"]


def audio_format(layout: str, stream: str = "main") -> AudioFormat | None:
    """What ``layout`` requires of its audio files: ``stream`` ``"main"`` (the files the
    features are computed from) or another the reader names (CHiME-Home: ``"48k"``).

    The reader module's ``AUDIO_FORMATS`` holds them; None where the layout fixes nothing.
    """
    reader_module = LAYOUTS[layout].partition(":")[0]
    return resolve(f"{reader_module}:AUDIO_FORMATS").get(stream)


def looks_like(path: str | Path, layout: str) -> bool:
    """True when ``path`` holds a dataset of ``layout`` (its reader module's ``looks_like``)."""
    reader_module = LAYOUTS[layout].partition(":")[0]
    return Path(path).is_dir() and resolve(f"{reader_module}:looks_like")(Path(path))


def detect_layout(path: str | Path) -> str:
    """Name the layout of a dataset folder.

    Raises:
        DatasetError: the folder is missing or matches no known layout.
    """
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{path}: dataset folder not found")
    for name in LAYOUTS:
        if looks_like(path, name):
            return name
    raise DatasetError(f"{path}: cannot tell the layout (expected one of {', '.join(LAYOUTS)}); "
                       f"pass --layout")


def read_dataset(path: str | Path, layout: str | None = None, *,
                 problems: Problems | None = None, **options) -> Dataset:
    """Read a dataset folder with the reader of ``layout`` (detected when None);
    ``options`` are the reader's own (CHiME-Home's ``development_list``)."""
    layout = layout or detect_layout(path)
    if layout not in LAYOUTS:
        raise DatasetError(unknown_name("layout", layout, LAYOUTS))
    return resolve(LAYOUTS[layout])(path, problems=problems, **options)
