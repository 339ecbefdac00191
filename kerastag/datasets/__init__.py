"""Dataset layouts: CHiME-Home, FSDKaggle2018 and a generic CSV layout, each declared by
its module (:class:`~kerastag.datasets.layout.DatasetLayout`) and found by name through
:data:`kerastag.names.LAYOUTS`."""

from __future__ import annotations

from pathlib import Path

from kerastag.audio import AudioFormat
from kerastag.datasets.base import Clip, Dataset, Problems
from kerastag.datasets.layout import DatasetLayout, get_layout
from kerastag.errors import DatasetError
from kerastag.names import LAYOUTS

__all__ = ["Clip", "Dataset", "DatasetLayout", "Problems", "audio_format", "get_layout", "detect_layout", "looks_like",
           "read_dataset"]


def audio_format(layout: str, stream: str = "main") -> AudioFormat | None:
    """What ``layout`` requires of its audio files: ``stream`` ``"main"`` (the files the
    features are computed from) or another the layout names (CHiME-Home: ``"48k"``);
    None where the layout fixes nothing."""
    return get_layout(layout).audio_formats.get(stream)


def looks_like(path: str | Path, layout: str) -> bool:
    """True when ``path`` holds a dataset of ``layout`` (its declared detection rule)."""
    return Path(path).is_dir() and get_layout(layout).looks_like(Path(path))


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
    return get_layout(layout).read(path, problems=problems, **options)
