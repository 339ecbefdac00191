"""The DCASE event list: one sound event a line, what ``sed_eval`` and ``dcase_util`` read.

Layout (tab-separated, UTF-8, LF line endings)::

    filename<TAB>onset<TAB>offset<TAB>event_label
    a.wav<TAB>1.235<TAB>2.500<TAB>c

``onset`` and ``offset`` are seconds from the start of the file, written with 3 decimals
(milliseconds); ``onset < offset``. kerastag writes it for ``kerastag predict --events``
and for the long CHiME-Home demo's ground truth (``events.tsv``), and reads it for
``kerastag score-events``. The reader also takes a comma-separated ``.csv``, extra
columns, and DCASE's older headerless form (the four columns in that order).

A field holding the separator or a quote is quoted as Python's ``csv`` module does
(``"a""b.wav"``); a tab, a line break or an empty name cannot be written.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from kerastag.errors import DatasetError
from kerastag.fileio import write_text_atomic

#: The header, in this order.
COLUMNS = ("filename", "onset", "offset", "event_label")
#: Characters a name or a label cannot hold (they would split the line or the field).
_UNWRITABLE = ("\t", "\n", "\r")


# ----------------------------------------------------------------------- writing


def write_event_list(path: str | os.PathLike,
                     rows: Iterable[tuple[str, float, float, str]]) -> Path:
    r"""Write the DCASE event list through a temporary name and a rename.

    Args:
        path: the file to write (its folder is created).
        rows: ``(filename, onset s, offset s, event_label)`` per event, in the order
            wanted in the file; times are rounded to 3 decimals.

    Returns:
        ``path``.

    Raises:
        DatasetError: naming the file and the event (1-based): an empty or unwritable
            name or label, a time that is not a finite non-negative number, or an onset
            not before its offset once rounded; nothing is written.

    Examples:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = pathlib.Path(folder) / "events.tsv"
        ...     _ = write_event_list(path, [("a.wav", 1.23456, 2.5, "c")])
        ...     print(path.read_text().splitlines())
        ...     print(read_event_list(path))
        ['filename\tonset\toffset\tevent_label', 'a.wav\t1.235\t2.500\tc']
          filename  onset  offset event_label
        0    a.wav  1.235     2.5           c
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(COLUMNS)
    for number, row in enumerate(rows, start=1):
        writer.writerow(_formatted(Path(path), number, row))
    return write_text_atomic(path, buffer.getvalue())


def _formatted(path: Path, number: int, row: Sequence) -> list[str]:
    """One event's four fields as written, checked so that the file reads back."""
    where = f"{path}: event {number}"
    if len(row) != len(COLUMNS):
        raise DatasetError(f"{where}: expected (filename, onset, offset, event_label), "
                           f"got {len(row)} values")
    name, onset, offset, label = row
    for column, value in (("filename", name), ("event_label", label)):
        if not isinstance(value, str) or not value.strip():
            raise DatasetError(f"{where}: empty {column}; nothing written")
        if any(char in value for char in _UNWRITABLE):
            raise DatasetError(f"{where}: {column} {value!r} holds a tab or a line break, "
                               f"which the event list cannot hold; nothing written")
    times = [_time_text(where, column, value)
             for column, value in (("onset", onset), ("offset", offset))]
    if float(times[0]) >= float(times[1]):
        raise DatasetError(f"{where}: onset {times[0]} is not before offset {times[1]} "
                           f"(in milliseconds); nothing written")
    return [name, *times, label]


def _time_text(where: str, column: str, value) -> str:
    try:
        time = float(value)
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: {column} {value!r} is not a number; nothing written") from None
    if not math.isfinite(time) or time < 0:
        raise DatasetError(f"{where}: {column} {value!r} is not a finite non-negative number "
                           f"of seconds; nothing written")
    return f"{time:.3f}"


# ----------------------------------------------------------------------- reading


def read_event_list(path: str | os.PathLike) -> pd.DataFrame:
    """Read a DCASE event list.

    Tab-separated (``.tsv``, ``.txt``, any other suffix) or comma-separated (``.csv``),
    with the header ``filename onset offset event_label`` (more columns are allowed and
    dropped) or, DCASE's older form, without a header and those four columns in order.
    A file with only the header is an empty list.

    Returns:
        A DataFrame with the columns ``filename`` (str), ``onset``, ``offset`` (float
        seconds) and ``event_label`` (str), one row per event, in file order.

    Raises:
        DatasetError: naming the file (and line): missing or unreadable file, missing
            columns, an empty field, a time that is not a finite number, a negative time
            or an onset not before its offset.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: event list not found")
    delimiter = "," if path.suffix.lower() == ".csv" else "\t"
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle, delimiter=delimiter)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: cannot read the event list ({exc})") from None
    numbered = [(number, row) for number, row in enumerate(rows, start=1)
                if any(cell.strip() for cell in row)]
    if not numbered:
        raise DatasetError(f"{path}: empty file; expected the header "
                           f"{_sep(delimiter).join(COLUMNS)}")
    header = [cell.strip() for cell in numbered[0][1]]
    if "onset" in header or "event_label" in header or "filename" in header:
        missing = [name for name in COLUMNS if name not in header]
        if missing:
            raise DatasetError(f"{path}: missing column(s) {', '.join(missing)} in the header "
                               f"({_sep(delimiter).join(header)})")
        positions = [header.index(name) for name in COLUMNS]
        body = numbered[1:]
    else:  # no header: the four columns in order
        positions = [0, 1, 2, 3]
        body = numbered
    records = []
    for number, row in body:
        if len(row) <= max(positions):
            raise DatasetError(f"{path}: line {number}: expected {max(positions) + 1} "
                               f"{'comma' if delimiter == ',' else 'tab'}-separated fields, "
                               f"got {len(row)}")
        records.append(tuple(row[i].strip() for i in positions))
    frame = pd.DataFrame(records, columns=list(COLUMNS), dtype=object)
    return validated_events(frame, str(path), [number for number, _ in body])


def validated_events(frame: pd.DataFrame, source: str, numbers: Sequence[int],
                     what: str = "line") -> pd.DataFrame:
    """An event list's fields checked: times as floats, names and labels as stripped strings.

    Args:
        frame: the four ``COLUMNS`` (any values), one row per event.
        source: what the errors name first (the file, or e.g. ``"estimated events"``).
        numbers: the line (or row) number of each event, for the errors.
        what: ``"line"`` or ``"row"``, the errors' word for ``numbers``.

    Raises:
        DatasetError: ``<source>: <what> <number>: ...`` for the first bad field.
    """
    onsets, offsets = [], []
    for index, number in enumerate(numbers):
        where = f"{source}: {what} {number}"
        for column in ("filename", "event_label"):
            value = frame[column].iloc[index]
            if not isinstance(value, str) or not value.strip():
                raise DatasetError(f"{where}: empty {column}")
        times = []
        for column in ("onset", "offset"):
            value = frame[column].iloc[index]
            try:
                time = float(value)
            except (TypeError, ValueError):
                raise DatasetError(f"{where}: {column} {value!r} is not a number") from None
            if not math.isfinite(time):
                raise DatasetError(f"{where}: {column} {value!r} is not a finite number")
            if time < 0:
                raise DatasetError(f"{where}: {column} {value!r} is negative")
            times.append(time)
        if times[0] >= times[1]:
            raise DatasetError(f"{where}: onset {times[0]:g} is not before offset {times[1]:g}")
        onsets.append(times[0])
        offsets.append(times[1])
    return pd.DataFrame({
        "filename": [str(v).strip() for v in frame["filename"]],
        "onset": np.array(onsets, dtype=float),
        "offset": np.array(offsets, dtype=float),
        "event_label": [str(v).strip() for v in frame["event_label"]],
    }, columns=list(COLUMNS))


def _sep(delimiter: str) -> str:
    return "," if delimiter == "," else "\\t"
