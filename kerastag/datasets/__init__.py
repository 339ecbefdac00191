"""Dataset layouts: CHiME-Home, FSDKaggle2018 and a generic CSV layout."""

from __future__ import annotations

from pathlib import Path

from kerastag.datasets import chime_home, csv_layout, fsdkaggle2018
from kerastag.datasets.base import Clip, Dataset, Problems
from kerastag.errors import DatasetError

READERS = {
    "chime-home": chime_home.read_chime_home,
    "fsdkaggle2018": fsdkaggle2018.read_fsdkaggle2018,
    "csv": csv_layout.read_csv_dataset,
}
_DETECTORS = (
    ("chime-home", chime_home.looks_like),
    ("fsdkaggle2018", fsdkaggle2018.looks_like),
    ("csv", csv_layout.looks_like),
)

__all__ = ["Clip", "Dataset", "Problems", "READERS", "detect_layout", "read_dataset"]


def detect_layout(path: str | Path) -> str:
    """Name the layout of a dataset folder.

    Raises:
        DatasetError: the folder is missing or matches no known layout.
    """
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{path}: dataset folder not found")
    for name, looks_like in _DETECTORS:
        if looks_like(path):
            return name
    raise DatasetError(f"{path}: cannot tell the layout (expected one of {', '.join(READERS)}); "
                       f"pass --layout")


def read_dataset(path: str | Path, layout: str | None = None, *,
                 problems: Problems | None = None) -> Dataset:
    """Read a dataset folder with the reader of ``layout`` (detected when None)."""
    layout = layout or detect_layout(path)
    if layout not in READERS:
        raise DatasetError(f"unknown layout {layout!r}; expected one of {', '.join(READERS)}")
    return READERS[layout](path, problems=problems)
