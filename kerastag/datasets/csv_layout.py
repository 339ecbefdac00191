"""A generic layout for a user's own data: a folder of audio files plus a labels CSV.

::

    DIR/labels.csv      header ``filename,labels[,fold]``; labels separated by spaces
    DIR/<filename>      audio, paths relative to DIR (sub-folders allowed)

When the CSV has no ``fold`` column (or a row leaves it empty), folds 0..4 are assigned
stratified by each clip's first label, seeded. Classes are the sorted distinct labels.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kerastag.datasets.base import Clip, Dataset, Problems
from kerastag.datasets.folds import stratified_folds
from kerastag.errors import DatasetError

LAYOUT = "csv"
LABELS_FILE = "labels.csv"
N_FOLDS = 5


def labels_file(root: Path) -> Path | None:
    """``DIR/labels.csv``, else the only ``*.csv`` in DIR, else None."""
    if (root / LABELS_FILE).is_file():
        return root / LABELS_FILE
    found = sorted(root.glob("*.csv"))
    return found[0] if len(found) == 1 else None


def looks_like(path: Path) -> bool:
    return path.is_dir() and labels_file(path) is not None


def read_csv_dataset(path: str | Path, *, problems: Problems | None = None,
                     seed: int = 0) -> Dataset:
    """Read ``DIR/labels.csv`` (``filename,labels[,fold]``) and check the audio exists."""
    problems = problems if problems is not None else Problems(strict=True)
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found")
    csv_path = labels_file(root)
    if csv_path is None:
        raise DatasetError(f"{root}: no {LABELS_FILE} (header filename,labels[,fold])")
    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    frame.columns = [c.strip().lower() for c in frame.columns]
    if list(frame.columns[:2]) != ["filename", "labels"] or len(frame.columns) > 3 or (
            len(frame.columns) == 3 and frame.columns[2] != "fold"):
        raise DatasetError(f"{csv_path}: expected header filename,labels[,fold], "
                           f"got {','.join(frame.columns)}")
    tags = [tuple(sorted(set(str(v).split()))) for v in frame["labels"]]
    folds = _folds(frame, tags, csv_path, problems, seed)
    clips = []
    for line_no, (name, clip_tags, fold) in enumerate(zip(frame["filename"], tags, folds), start=2):
        clip_path = root / name.strip()
        if not clip_path.is_file():
            problems.add(f"{csv_path}:{line_no}", f"audio file not found: {clip_path}")
        clips.append(Clip(clip_id=name.strip(), path=clip_path, tags=clip_tags, fold=fold,
                          subset="train"))
    _report_duplicates(clips, csv_path, problems)
    classes = tuple(sorted({t for clip_tags in tags for t in clip_tags}))
    return Dataset(layout=LAYOUT, root=root, classes=classes, clips=clips)


def _folds(frame: pd.DataFrame, tags, csv_path: Path, problems: Problems, seed: int) -> list[int]:
    assigned = stratified_folds([t[0] if t else "" for t in tags], n_folds=N_FOLDS, seed=seed)
    if "fold" not in frame.columns:
        return assigned
    folds = []
    for line_no, (text, auto) in enumerate(zip(frame["fold"], assigned), start=2):
        text = text.strip()
        if not text:
            folds.append(auto)
        elif text.isdigit() and int(text) < N_FOLDS:
            folds.append(int(text))
        else:
            problems.add(f"{csv_path}:{line_no}", f"fold {text!r} outside 0..{N_FOLDS - 1}")
            folds.append(auto)
    return folds


def _report_duplicates(clips: list[Clip], csv_path: Path, problems: Problems) -> None:
    seen = set()
    for clip in clips:
        if clip.clip_id in seen:
            problems.add(csv_path, f"duplicate filename {clip.clip_id!r}")
        seen.add(clip.clip_id)
