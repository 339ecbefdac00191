"""A generic layout for a user's own data: a folder of audio files plus a labels CSV.

::

    DIR/labels.csv      header ``filename,labels[,fold]``
    DIR/<filename>      audio, paths relative to DIR (sub-folders allowed)

How a ``labels.csv`` is read (``data check`` lists every problem, and as notes whatever it
accepts that may surprise; everything it accepts trains):

* **Labels** are separated by spaces, commas or semicolons, in any mix: ``dog``,
  ``bird dog``, ``"bird,dog"`` (FSD50K's quoted comma list) and ``bird; dog`` are one or
  two labels, so no class name can hold a separator (write ``Electric_guitar``, not
  ``Electric guitar``). A cell split at a comma or semicolon is a note. Labels are
  case-sensitive and Unicode NFC: two labels that differ only in case (``DOG``, ``dog``)
  are a problem naming both and their lines. A class may not be named after a column of
  the scores CSV that ``predict`` writes (``file``, ``tags``). A row may have no label
  (a clip of none of the classes); a single-label use (``data check --single-label``, the
  classification task) needs exactly one per row.
* **File names** are read as one spelling (:func:`~kerastag.datasets.base.normalise_name`):
  ``./b.wav``, ``sub//b.wav`` and ``sub\\b.wav`` are ``b.wav`` and ``sub/b.wav``, Unicode
  NFC; the same file listed twice is a problem naming both lines. A name matches the file
  on disk whatever Unicode form either is written in (NFC in the CSV, NFD on a Mac disk).
* **Audio files under DIR that the CSV does not list** are not used: a note gives their
  count and the first few names.

When the CSV has no ``fold`` column (or a row leaves it empty), folds 0..4 are assigned
stratified by each clip's first label, seeded. A ``fold`` of ``test`` puts the clip in a
held-out test set (subset ``test``: never trained on; the classification task scores it
with its ``full`` models, writes ``submission.csv`` and, where its labels are given, a
test-set table). Classes are the sorted distinct labels.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from typing import NamedTuple

from kerastag.audio import AUDIO_EXTENSIONS
from kerastag.datasets.base import (
    Clip, Dataset, Problems, is_file, name_problem, normalise_name, parse_fold, read_csv_rows)
from kerastag.datasets.folds import stratified_folds
from kerastag.datasets.layout import DatasetLayout
from kerastag.errors import DatasetError
from kerastag.names import SCORES_COLUMNS

LAYOUT = "csv"
#: Any rate, channel count and length: the audio is resampled and mixed down to mono.
AUDIO_FORMATS: dict = {}
LABELS_FILE = "labels.csv"
#: The ``fold`` cell of a test-set clip.
TEST_FOLD = "test"
N_FOLDS = 5
HEADER = "filename,labels[,fold]"
#: What separates the labels of one row: spaces, commas, semicolons, in any mix.
LABEL_SEPARATORS = re.compile(r"[\s,;]+")
#: How many names a note lists before it says "...".
NOTE_NAMES = 5


class _Row(NamedTuple):
    """One usable row of the labels CSV."""

    line: int
    filename: str  # normalised (normalise_name)
    labels: str
    fold: str  # "" when the CSV has no fold column
    written: str  # the file name as written


def labels_file(root: Path) -> Path | None:
    """``DIR/labels.csv``, else the only ``*.csv`` in DIR, else None."""
    if (root / LABELS_FILE).is_file():
        return root / LABELS_FILE
    found = sorted(root.glob("*.csv"))
    return found[0] if len(found) == 1 else None


def looks_like(path: Path) -> bool:
    """True when ``path`` is a folder with a labels CSV."""
    return path.is_dir() and labels_file(path) is not None


def read_csv_dataset(path: str | Path, *, problems: Problems | None = None,
                     seed: int = 0) -> Dataset:
    """Read ``DIR/labels.csv`` (``filename,labels[,fold]``) and check the audio exists.

    Args:
        path: the dataset folder.
        problems: where to report problems (and notes, see the module docstring);
            ``None`` raises on the first problem.
        seed: seed of the stratified folds of rows that name none.

    Returns:
        A :class:`Dataset` of subset ``train`` clips whose classes are the sorted labels.

    Raises:
        DatasetError: the folder is missing or holds no labels CSV (whatever ``problems``).
    """
    problems = problems if problems is not None else Problems(strict=True)
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found")
    csv_path = labels_file(root)
    if csv_path is None:
        raise DatasetError(f"{root}: no {LABELS_FILE} (header {HEADER})")
    rows = _read_labels(csv_path, problems)
    tags = [split_labels(row.labels) for row in rows]
    _check_classes(rows, tags, csv_path, problems)
    folds = _folds(rows, tags, csv_path, problems, seed)
    on_disk = _files_on_disk(root)
    clips = []
    for row, clip_tags, fold in zip(rows, tags, folds):
        clip_path = _find(root, row.filename, on_disk)
        if clip_path is None:
            clip_path = root / row.filename
            problems.add(f"{csv_path}:{row.line}", f"audio file not found: {clip_path}")
        subset = "test" if _is_test(row) else "train"
        clips.append(Clip(clip_id=row.filename, path=clip_path, tags=clip_tags, fold=fold,
                          subset=subset, extra={"where": f"{csv_path}:{row.line}"}))
    _note_surprises(rows, tags, csv_path, problems)
    _note_unlisted(root, csv_path, {row.filename for row in rows}, on_disk, problems)
    classes = tuple(sorted({t for clip_tags in tags for t in clip_tags}))
    return Dataset(layout=LAYOUT, root=root, classes=classes, clips=clips)


def split_labels(cell: str) -> tuple[str, ...]:
    """The sorted distinct labels of one ``labels`` cell (NFC; see the module docstring).

    >>> split_labels("dog bird,dog; cat")
    ('bird', 'cat', 'dog')
    """
    cell = unicodedata.normalize("NFC", cell)
    return tuple(sorted({label for label in LABEL_SEPARATORS.split(cell) if label}))


def _check_classes(rows: list[_Row], tags: list[tuple[str, ...]], csv_path: Path,
                   problems: Problems) -> None:
    """Report a class named like a scores-CSV column, and labels differing only in case."""
    first_line: dict[str, int] = {}
    for row, clip_tags in zip(rows, tags):
        for label in clip_tags:
            first_line.setdefault(label, row.line)
    spellings: dict[str, list[str]] = {}
    for label, line in first_line.items():
        spellings.setdefault(label.casefold(), []).append(label)
        if label in SCORES_COLUMNS:
            problems.add(f"{csv_path}:{line}",
                         f"class name {label!r} is a column of the scores CSV that predict "
                         f"writes ({SCORES_COLUMNS[0]}, one column per class, "
                         f"{SCORES_COLUMNS[1]}); rename the class")
    for labels in spellings.values():
        if len(labels) > 1:
            named = " and ".join(f"{label!r} (line {first_line[label]})" for label in labels)
            problems.add(f"{csv_path}:{first_line[labels[-1]]}",
                         f"labels {named} differ only in case; labels are case-sensitive, "
                         f"so write one spelling")


def _files_on_disk(root: Path) -> dict[str, Path]:
    """Every file under ``root`` (not following folder links) by its normalised name."""
    found: dict[str, Path] = {}
    for folder, subfolders, names in os.walk(root):
        subfolders.sort()
        for name in sorted(names):
            path = Path(folder, name)
            found.setdefault(normalise_name(path.relative_to(root).as_posix()), path)
    return found


def _find(root: Path, filename: str, on_disk: dict[str, Path]) -> Path | None:
    """The file a normalised CSV name means: as written, else its other Unicode form."""
    direct = root / filename
    if is_file(direct):
        return direct
    return on_disk.get(filename)


def _note_surprises(rows: list[_Row], tags: list[tuple[str, ...]], csv_path: Path,
                    problems: Problems) -> None:
    """Note rows without a label, labels split at commas/semicolons, and names read in
    another spelling than written."""
    unlabelled = [row for row, clip_tags in zip(rows, tags) if not clip_tags]
    if unlabelled:
        examples = ", ".join(f"line {row.line} {row.filename!r}" for row in unlabelled[:NOTE_NAMES])
        problems.note(csv_path, f"{len(unlabelled)} row(s) have no label (a clip of none of the "
                                f"classes; a single-label use refuses them): {examples}"
                                f"{', ...' if len(unlabelled) > NOTE_NAMES else ''}")
    split = [row for row in rows if re.search(r"[,;]", row.labels)]
    if split:
        examples = ", ".join(f"line {row.line} {row.labels.strip()!r} -> "
                             f"{' '.join(split_labels(row.labels))}" for row in split[:NOTE_NAMES])
        problems.note(csv_path, f"{len(split)} row(s) list labels separated by commas or "
                                f"semicolons, read as separate labels: {examples}"
                                f"{', ...' if len(split) > NOTE_NAMES else ''}")
    renamed = [row for row in rows if row.written != row.filename]
    if renamed:
        examples = ", ".join(f"line {row.line} {row.written!r} -> {row.filename!r}"
                             for row in renamed[:NOTE_NAMES])
        problems.note(csv_path, f"{len(renamed)} file name(s) read in their one spelling "
                                f"(./, //, backslashes, Unicode NFC): {examples}"
                                f"{', ...' if len(renamed) > NOTE_NAMES else ''}")


def _note_unlisted(root: Path, csv_path: Path, listed: set[str], on_disk: dict[str, Path],
                   problems: Problems) -> None:
    """Note the audio files under ``root`` that the labels CSV does not list."""
    unlisted = [name for name, path in on_disk.items()
                if path.suffix.lower() in AUDIO_EXTENSIONS and name not in listed]
    if unlisted:
        problems.note(root, f"{len(unlisted)} audio file(s) not listed in {csv_path.name}, "
                            f"so not used: {', '.join(unlisted[:NOTE_NAMES])}"
                            f"{', ...' if len(unlisted) > NOTE_NAMES else ''}")


def _read_labels(csv_path: Path, problems: Problems) -> list[_Row]:
    """The usable rows of the labels CSV; every other row is reported and left out."""
    rows = read_csv_rows(csv_path, problems, what="labels file",
                         expected=f"header {HEADER}, then one row per audio file")
    if not rows:
        return []
    (header_line, header), body = rows[0], rows[1:]
    columns = [cell.strip().lower() for cell in header]
    if columns not in (["filename", "labels"], ["filename", "labels", "fold"]):
        problems.add(f"{csv_path}:{header_line}",
                     f"expected header {HEADER}, got {','.join(header)!r}")
        return []
    if not body:
        problems.add(f"{csv_path}:{header_line}", f"only a header, no clips listed "
                                                  f"(expected one row {HEADER} per audio file)")
    good: list[_Row] = []
    first_line: dict[str, tuple[int, str]] = {}
    for line_no, row in body:
        cells = [cell.strip() for cell in row]
        where = f"{csv_path}:{line_no}"
        if len(cells) != len(columns):
            problems.add(where, f"expected {len(columns)} columns ({','.join(columns)}), "
                                f"got {len(cells)}")
        elif bad_name := name_problem(cells[0], subfolders=True):
            problems.add(where, bad_name)
        elif not normalise_name(cells[0]):
            problems.add(where, f"file name {cells[0]!r} names the dataset folder itself")
        elif (filename := normalise_name(cells[0])) in first_line:
            line, written = first_line[filename]
            same = "" if written == cells[0] else f" as {written!r}"
            problems.add(where, f"duplicate filename {cells[0]!r} (first on line {line}{same})")
        else:
            first_line[filename] = (line_no, cells[0])
            good.append(_Row(line_no, filename, row[1], cells[2] if len(cells) > 2 else "",
                             cells[0]))
    return good


def _folds(rows: list[_Row], tags: list[tuple[str, ...]], csv_path: Path,
           problems: Problems, seed: int) -> list[int]:
    """Each row's fold: its own when given, None for a test clip, else a seeded
    stratified one (drawn over the rows that are not test clips)."""
    training = [k for k, row in enumerate(rows) if not _is_test(row)]
    drawn = stratified_folds([tags[k][0] if tags[k] else "" for k in training],
                             n_folds=N_FOLDS, seed=seed)
    assigned = dict(zip(training, drawn))
    folds = []
    for k, row in enumerate(rows):
        if _is_test(row):
            folds.append(None)
            continue
        auto = assigned[k]
        fold = parse_fold(row.fold, N_FOLDS)
        if row.fold and fold is None:
            problems.add(f"{csv_path}:{row.line}", f"fold {row.fold!r} outside 0..{N_FOLDS - 1} "
                                                   f"(or {TEST_FOLD!r} for a test-set clip)")
        folds.append(auto if fold is None else fold)
    return folds


def _is_test(row: _Row) -> bool:
    """Whether the row's ``fold`` cell marks a test-set clip."""
    return row.fold.strip().lower() == TEST_FOLD


#: The layout's declaration (:data:`kerastag.names.LAYOUTS` points here).
DECLARATION = DatasetLayout(
    name=LAYOUT, read=read_csv_dataset, looks_like=looks_like, audio_formats=AUDIO_FORMATS,
    n_folds=N_FOLDS)
