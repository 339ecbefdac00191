"""Writing a demo dataset safely: byte-stable wav and CSV writers, stage then rename.

A dataset is written into a temporary sibling folder of its root and renamed into place
at the end (:func:`staged_dataset`), so an interrupted run leaves nothing half-written
behind and a reader never sees metadata without its audio. The writers put no
timestamps in the files, so equal inputs give equal bytes.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import soundfile as sf

from kerastag.errors import DatasetError


# --------------------------------------------------------------------------- files


def write_csv(path: Path, rows: Iterable[Sequence[Any]], header: Sequence[str] | None = None,
              ) -> None:
    """Write rows as a comma-separated UTF-8 file with LF line endings.

    Args:
        path: the file to create.
        rows: the rows, each a sequence of cells (written with ``str``).
        header: a first row of column names, or ``None`` for no header.
    """
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)


def write_wav(path: Path, pcm: np.ndarray, sr: int) -> None:
    """Write a 16-bit PCM wav.

    Args:
        path: the file to create.
        pcm: ``int16`` samples ``[shape=(n,)]`` (mono) or ``[shape=(n, channels)]``.
        sr: sample rate in Hz.
    """
    sf.write(str(path), pcm, sr, subtype="PCM_16", format="WAV")


# --------------------------------------------------------------------------- staging


def check_target_free(root: Path, entries: Sequence[str], what: str) -> None:
    """Make sure none of a dataset's top-level ``entries`` exists in ``root``.

    Args:
        root: the folder the dataset goes into.
        entries: names of the dataset's top-level files and folders.
        what: the dataset, for the message (``"CHiME-Home demo"``).

    Raises:
        DatasetError: all of ``entries`` exist (the dataset is there), or some do.
    """
    present = [name for name in entries if (root / name).exists()]
    if len(present) == len(entries):
        raise DatasetError(f"{root}: {what} already exists (found {', '.join(present)}); "
                           "reuse it or remove it first")
    if present:
        raise DatasetError(f"{root}: {what} partly exists (found {', '.join(present)}); "
                           "remove it first")


@contextlib.contextmanager
def staged_dataset(root: Path, entries: Sequence[str]) -> Iterator[Path]:
    """Yield a temporary sibling of ``root``; on success move it (or its ``entries``) there.

    When ``root`` is missing or empty the whole folder is renamed onto it in one step;
    otherwise each entry is renamed into ``root`` in order (put metadata last, so a reader
    never sees metadata without its audio). The staging folder is removed on failure.

    Args:
        root: the folder the dataset goes into (created with its parents if missing).
        entries: names of the top-level files and folders the caller writes in the stage.

    Yields:
        The empty staging folder, with the permissions a new folder gets under the umask.

    Raises:
        DatasetError: some of ``entries`` appeared in ``root`` while staging.
    """
    root.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    try:
        os.chmod(stage, 0o777 & ~_current_umask())
        yield stage
        check_target_free(root, entries, "dataset")  # a concurrent writer may have won
        _publish(stage, root, entries)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _publish(stage: Path, root: Path, entries: Sequence[str]) -> None:
    """Move the staged dataset into ``root`` by renames only."""
    if root.is_dir() and not any(root.iterdir()):
        root.rmdir()
    if not root.exists():
        os.rename(stage, root)
        return
    for name in entries:
        os.rename(stage / name, root / name)


def _current_umask() -> int:
    """The process umask (read by setting it and restoring it at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
