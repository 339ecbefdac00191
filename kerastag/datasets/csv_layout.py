"""A generic layout for a user's own data: a folder of audio files plus a labels CSV.

::

    DIR/labels.csv      header ``filename,labels[,fold]``; labels separated by spaces
    DIR/<filename>      audio, paths relative to DIR (sub-folders allowed)

When the CSV has no ``fold`` column (or a row leaves it empty), folds 0..4 are assigned
stratified by each clip's first label, seeded. Classes are the sorted distinct labels.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from kerastag.datasets.base import (
    Clip, Dataset, Problems, is_file, name_problem, parse_fold, read_csv_rows)
from kerastag.datasets.folds import stratified_folds
from kerastag.errors import DatasetError

LAYOUT = "csv"
#: Any rate, channel count and length: the audio is resampled and mixed down to mono.
AUDIO_FORMATS: dict = {}
LABELS_FILE = "labels.csv"
N_FOLDS = 5
HEADER = "filename,labels[,fold]"


class _Row(NamedTuple):
    """One usable row of the labels CSV."""

    line: int
    filename: str
    labels: str
    fold: str  # "" when the CSV has no fold column


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
        problems: where to report problems; ``None`` raises on the first one.
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
    tags = [tuple(sorted(set(row.labels.split()))) for row in rows]
    folds = _folds(rows, tags, csv_path, problems, seed)
    clips = []
    for row, clip_tags, fold in zip(rows, tags, folds):
        clip_path = root / row.filename
        if not is_file(clip_path):
            problems.add(f"{csv_path}:{row.line}", f"audio file not found: {clip_path}")
        clips.append(Clip(clip_id=row.filename, path=clip_path, tags=clip_tags, fold=fold,
                          subset="train"))
    classes = tuple(sorted({t for clip_tags in tags for t in clip_tags}))
    return Dataset(layout=LAYOUT, root=root, classes=classes, clips=clips)


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
    first_line: dict[str, int] = {}
    for line_no, row in body:
        cells = [cell.strip() for cell in row]
        where = f"{csv_path}:{line_no}"
        if len(cells) != len(columns):
            problems.add(where, f"expected {len(columns)} columns ({','.join(columns)}), "
                                f"got {len(cells)}")
        elif bad_name := name_problem(cells[0], subfolders=True):
            problems.add(where, bad_name)
        elif cells[0] in first_line:
            problems.add(where, f"duplicate filename {cells[0]!r} "
                                f"(first on line {first_line[cells[0]]})")
        else:
            first_line[cells[0]] = line_no
            good.append(_Row(line_no, cells[0], row[1], cells[2] if len(cells) > 2 else ""))
    return good


def _folds(rows: list[_Row], tags: list[tuple[str, ...]], csv_path: Path,
           problems: Problems, seed: int) -> list[int]:
    """Each row's fold: its own when given, else a seeded stratified one."""
    assigned = stratified_folds([t[0] if t else "" for t in tags], n_folds=N_FOLDS, seed=seed)
    folds = []
    for row, auto in zip(rows, assigned):
        fold = parse_fold(row.fold, N_FOLDS)
        if row.fold and fold is None:
            problems.add(f"{csv_path}:{row.line}", f"fold {row.fold!r} outside 0..{N_FOLDS - 1}")
        folds.append(auto if fold is None else fold)
    return folds
