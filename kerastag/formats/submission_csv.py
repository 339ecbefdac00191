"""The Kaggle submission of FSDKaggle2018 (DCASE 2018 Task 2): writer and reader.

``fname,label`` with one line per test clip, sorted by ``fname``, LF line ends; ``label``
holds the clip's three most probable class names, best first, separated by spaces::

    fname,label
    00063640.wav,Shatter Fireworks Tearing

Level 1 writes one per model (``RUN/submissions/<row>.csv``), the stack one for itself
(``RUN/stack/submission.csv``).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kerastag.errors import KerastagError
from kerastag.fileio import write_text_atomic
from kerastag.metrics import top_k_labels

COLUMNS = ("fname", "label")
#: Labels per clip, as mAP@3 scores them.
N_LABELS = 3


def write_submission(path: str | os.PathLike, fnames: Sequence[str], probs: np.ndarray,
                     classes: Sequence[str]) -> Path:
    """Write the submission of the clips ``fnames`` (atomically).

    Args:
        path: the CSV file.
        fnames: ``(clips,)`` clip names.
        probs: ``(clips, classes)`` class probabilities; ties go to the lower class index.
        classes: the class names, in the column order of ``probs``.

    Returns:
        ``path`` as a Path.
    """
    labels = top_k_labels(probs, [str(c) for c in classes], k=N_LABELS)
    order = np.argsort(np.asarray(fnames, dtype=str), kind="stable")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows([fnames[i], " ".join(labels[i])] for i in order)
    return write_text_atomic(path, buffer.getvalue())


def read_submission(path: str | os.PathLike,
                    classes: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """Read and check a submission.

    Args:
        path: the CSV file.
        classes: the known class names.

    Returns:
        ``(fname, (best, second, third))`` per line, in file order.

    Raises:
        KerastagError: an unreadable file, a wrong header, a line without two fields, a
            repeated clip, or a label field that is not three distinct known classes.
    """
    header, records = _records(Path(path))
    if tuple(header) != COLUMNS:
        raise KerastagError(f"{path}: the header must be {','.join(COLUMNS)}; "
                            f"received {','.join(header)}")
    known, seen, rows = set(classes), set(), []
    for line, record in enumerate(records, start=2):
        if len(record) != len(COLUMNS):
            raise KerastagError(f"{path} line {line}: {len(record)} fields, expected 2")
        fname, labels = record[0], tuple(record[1].split(" "))
        if fname in seen:
            raise KerastagError(f"{path} line {line}: clip {fname!r} listed twice")
        if len(set(labels)) != N_LABELS or not known.issuperset(labels):
            raise KerastagError(f"{path} line {line}: label {record[1]!r} is not "
                                f"{N_LABELS} distinct known classes")
        seen.add(fname)
        rows.append((fname, labels))
    return rows


def _records(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            table = [r for r in csv.reader(handle) if r]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise KerastagError(f"cannot read submission {path}: {err}") from None
    if not table:
        raise KerastagError(f"{path}: empty submission")
    return table[0], table[1:]
