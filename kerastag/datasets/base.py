"""The in-memory form every dataset reader returns, and the one way readers read text.

Every text file of every layout (lists, annotation and metadata CSVs) goes through
:func:`read_csv_rows`: UTF-8 with an optional byte-order mark, RFC 4180 quoting, and a
one-line problem naming the file and line for anything else.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import re
import unicodedata
from pathlib import Path, PureWindowsPath
from typing import Any

from kerastag.errors import DatasetError


@dataclasses.dataclass(frozen=True)
class Clip:
    """One audio clip and its annotation.

    Attributes:
        clip_id: the dataset's own name for the clip (CHiME-Home chunk name,
            FSDKaggle2018 ``fname``, or the CSV ``filename``).
        path: the audio file the features are computed from (CHiME-Home: the 16 kHz file).
        tags: the clip's tags in the dataset's class order, possibly empty.
        fold: cross-validation fold 0..4, or ``None`` (evaluation/test clips).
        subset: ``"development"``/``"evaluation"`` (CHiME-Home), ``"train"``/``"test"``
            (FSDKaggle2018 and CSV).
        extra: layout-specific facts, e.g. ``path_48k`` and ``group`` (the recording
            session, CHiME-Home),
            ``manually_verified`` (FSDKaggle2018 train), ``usage`` (FSDKaggle2018 test),
            ``where`` (the CSV file and line listing it, CSV layout).
    """

    clip_id: str
    path: Path
    tags: tuple[str, ...]
    fold: int | None
    subset: str
    extra: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False, hash=False)

    @property
    def group(self) -> str:
        """What must stay on one side of a holdout split: the recording session where the
        reader knows it (``extra["group"]``, CHiME-Home), else the clip itself."""
        return self.extra.get("group", self.clip_id)


@dataclasses.dataclass
class Dataset:
    """Clips of one dataset plus its class list (in the dataset's canonical order)."""

    layout: str
    root: Path
    classes: tuple[str, ...]
    clips: list[Clip]

    def subset(self, name: str) -> list[Clip]:
        """Clips of one subset (``development``, ``evaluation``, ``train``, ``test``)."""
        return [clip for clip in self.clips if clip.subset == name]

    def folds(self) -> list[int]:
        """Sorted distinct fold numbers among the clips that have one."""
        return sorted({clip.fold for clip in self.clips if clip.fold is not None})


class Problems:
    """Collects dataset problems, or raises on the first one; collects notes.

    Readers report every problem through :meth:`add`. ``data check`` passes a collecting
    instance and lists them all; ordinary loading uses ``Problems(strict=True)``, which
    raises :class:`DatasetError` with the first message. A note (:meth:`note`) is
    something read as documented that may still surprise (audio files the labels do not
    list, labels split at commas): it never stops anything, ``data check`` prints it.
    """

    def __init__(self, *, strict: bool):
        self.strict = strict
        self.messages: list[str] = []
        self.notes: list[str] = []

    def add(self, where: str | Path, what: str) -> None:
        message = f"{where}: {what}"
        if self.strict:
            raise DatasetError(message)
        self.messages.append(message)

    def note(self, where: str | Path, what: str) -> None:
        self.notes.append(f"{where}: {what}")

    def __bool__(self) -> bool:
        return bool(self.messages)


CsvRows = list[tuple[int, list[str]]]
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_CSV_ERRORS = {
    "unexpected end of data": "a quote opened in this row is never closed",
    "',' expected after '\"'": "text after a closing quote; a quote inside a quoted "
                                 "field must be doubled",
}


def is_file(path: Path) -> bool:
    """``path.is_file()`` that answers False, not raises, for an impossible name (too long)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def read_text(path: Path, problems: Problems, *, what: str) -> str | None:
    """The text of ``path`` decoded as UTF-8; a leading byte-order mark is dropped.

    Args:
        path: the file.
        problems: where a missing, unreadable or undecodable file is reported.
        what: the file's role in the messages, e.g. ``"list file"``.

    Returns:
        The text, or None once a problem has been reported.
    """
    if not is_file(path):
        problems.add(path, f"{what} not found")
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        problems.add(path, f"cannot read the {what} ({exc.strerror or exc})")
        return None
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _position(data, exc.start)
        problems.add(f"{path}:{line}", f"not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                                       f"column {column}); save the {what} as UTF-8")
        return None


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and character column of byte ``offset`` (the bytes before it decode)."""
    before = _LINE_BREAK.split(data[:offset].decode("utf-8"))
    return len(before), len(before[-1]) + 1


def read_csv_rows(path: Path, problems: Problems, *, what: str, expected: str) -> CsvRows | None:
    """The rows of a CSV text file, each with the line it starts on; blank lines skipped.

    Args:
        path: the file.
        problems: where problems are reported (missing, not UTF-8, broken quoting, empty).
        what: the file's role in the messages, e.g. ``"list file"``.
        expected: what the file should hold, e.g. ``"rows id,chunkname"``.

    Returns:
        ``(line, cells)`` per row, cells as written; None once a problem that makes the
        whole file unusable has been reported (an empty file gives ``[]`` and a problem).
    """
    text = read_text(path, problems, what=what)
    if text is None:
        return None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: CsvRows = []
    start = 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        reason = _CSV_ERRORS.get(str(exc), str(exc))
        problems.add(f"{path}:{start}", f"not valid CSV: {reason} (expected {expected})")
        return None
    if not rows:
        problems.add(path, f"empty {what} (expected {expected})")
    return rows


def name_problem(name: str, *, subfolders: bool) -> str | None:
    """What is wrong with a file name read from a list, or None when it is usable.

    Args:
        name: the name as listed (already stripped).
        subfolders: whether ``sub/clip.wav`` is allowed; a name never climbs out of the
            dataset folder nor is absolute.
    """
    parts = name.replace("\\", "/").split("/")
    if not name:
        return "empty file name"
    if any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in name):
        return f"file name {name!r} has a control character"
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive:
        return f"file name {name!r} is absolute; expected a path relative to the dataset folder"
    if ".." in parts:
        return f"file name {name!r} climbs out of the dataset folder"
    if not subfolders and len(parts) > 1:
        return f"file name {name!r} has a folder part; expected a plain file name"
    return None


def normalise_name(name: str) -> str:
    """The one spelling of a listed file name: Unicode NFC, ``/`` between folders.

    ``./b.wav``, ``sub//b.wav``, ``sub\\b.wav`` (a backslash is a folder separator, as
    Windows writes it) become ``b.wav`` and ``sub/b.wav``; a name typed in NFD (``e`` +
    combining accent, as macOS stores names) equals its NFC twin.
    """
    name = unicodedata.normalize("NFC", name).replace("\\", "/")
    return "/".join(part for part in name.split("/") if part not in ("", "."))


def single_label_problems(clips: list[Clip], problems: Problems) -> None:
    """Report every clip that has no label or several (a single-label task's data).

    Each problem names where the clip is listed (``extra["where"]``, e.g.
    ``labels.csv:7``; else its audio file) and the labels found.
    """
    for clip in clips:
        if len(clip.tags) == 1:
            continue
        got = "none" if not clip.tags else f"{len(clip.tags)} ({' '.join(clip.tags)})"
        problems.add(clip.extra.get("where", clip.path),
                     f"{clip.clip_id}: expected exactly one label (the dataset is used "
                     f"single-label, e.g. by the classification task), got {got}")


def parse_fold(text: str, n_folds: int) -> int | None:
    """The fold number written as ``text`` (ASCII digits), or None when not in 0..n_folds-1."""
    text = text.strip()
    if text.isascii() and text.isdigit() and int(text) < n_folds:
        return int(text)
    return None
