"""Paper B's level-1 CSV files (``docs/level1_format.md``): writer and validating reader.

Per level-1 model ("row") a folder holds ``<row>.oof.csv`` (out-of-fold probabilities
of every training clip) and ``<row>.test.csv`` (test-set probabilities), beside one
``classes.json`` (the sorted class names, the column order)::

    fname,fold,label,<class 1>,...,<class C>     <row>.oof.csv
    fname,label,<class 1>,...,<class C>          <row>.test.csv (label empty if unknown;
                                                 header only without a test set)

Rows are sorted by ``fname``, line ends are LF and probabilities are written with
``%.6g`` (six significant digits). Level 1 writes them into ``RUN/level1/``; the stack
writes its own probabilities in the same format as ``stack/stack.oof.csv`` and
``stack/stack.test.csv``. :func:`read_level1` checks every file and aligns the rows.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from kerastag.errors import StackingError
from kerastag.fileio import write_text_atomic
from kerastag.formats import run_folder

CLASSES_FILE = "classes.json"
#: How probabilities are written: six significant digits.
FLOAT_FORMAT = "%.6g"


@dataclasses.dataclass(frozen=True)
class Level1Table:
    """The content of one level-1 CSV: one model's probabilities on one set of clips.

    Attributes:
        fnames: ``(clips,)`` clip names.
        folds: ``(clips,)`` int64 fold whose model predicted each clip (out-of-fold
            files), or None (test files).
        labels: ``(clips,)`` int64 true class index, -1 where unknown.
        probs: ``(clips, classes)`` probabilities in class order.
    """

    fnames: np.ndarray
    folds: np.ndarray | None
    labels: np.ndarray
    probs: np.ndarray

    def sorted(self) -> Level1Table:
        """The same table with its clips in ascending ``fname`` order."""
        order = np.argsort(np.asarray(self.fnames, dtype=str), kind="stable")
        return Level1Table(fnames=np.asarray(self.fnames)[order],
                           folds=None if self.folds is None else np.asarray(self.folds)[order],
                           labels=np.asarray(self.labels)[order],
                           probs=np.asarray(self.probs)[order])


@dataclasses.dataclass(frozen=True)
class Level1:
    """Level-1 outputs of every model, aligned on sorted clip names.

    Attributes:
        run_dir: the run folder that holds ``level1/``.
        model_order: row names, the order of the first axis of the probability arrays.
        classes: class names, the column order (``classes.json``).
        train_fnames: ``(clips,)`` sorted training clip names.
        train_labels: ``(clips,)`` int64 true class index.
        train_folds: ``(clips,)`` int64 fold whose level-1 models predicted the clip.
        oof_probs: ``(models, clips, classes)`` out-of-fold probabilities.
        test_fnames: ``(test clips,)`` sorted test clip names.
        test_labels: ``(test clips,)`` int64 class index, -1 where unknown.
        test_probs: ``(models, test clips, classes)`` probabilities of the full models.
    """

    run_dir: Path
    model_order: tuple[str, ...]
    classes: tuple[str, ...]
    train_fnames: np.ndarray
    train_labels: np.ndarray
    train_folds: np.ndarray
    oof_probs: np.ndarray
    test_fnames: np.ndarray
    test_labels: np.ndarray
    test_probs: np.ndarray

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)


# ----------------------------------------------------------------------------- writer


def row_path(folder: str | os.PathLike, row: str, kind: str) -> Path:
    """``folder/<row>.<kind>.csv``, ``kind`` being ``"oof"`` or ``"test"``."""
    return Path(folder) / f"{row}.{kind}.csv"


def write_row(folder: str | os.PathLike, row: str, classes: Sequence[str], oof: Level1Table,
              test: Level1Table | None) -> dict[str, Path]:
    """Write ``<row>.oof.csv`` and, when ``test`` is given, ``<row>.test.csv``.

    Args:
        folder: destination folder (created if needed), e.g. ``RUN/level1``.
        row: the model's name, the files' stem.
        classes: the class names, the probability columns' order.
        oof: out-of-fold table (``folds`` set), in any clip order.
        test: test-set table (``folds`` None), or None to write no test file.

    Returns:
        ``{"oof": path}`` plus ``"test"`` when written.
    """
    paths = {"oof": write_table(row_path(folder, row, "oof"), oof, classes)}
    if test is not None:
        paths["test"] = write_table(row_path(folder, row, "test"), test, classes)
    return paths


def write_table(path: str | os.PathLike, table: Level1Table, classes: Sequence[str]) -> Path:
    """Write one level-1 CSV, its clips sorted by ``fname`` (atomically).

    Args:
        path: the CSV file.
        table: the clips; with ``folds`` the file gets a ``fold`` column.
        classes: the class names; ``table.probs`` has one column per class.

    Returns:
        ``path`` as a Path.
    """
    table = table.sorted()
    classes = [str(c) for c in classes]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    lead = ["fname", "label"] if table.folds is None else ["fname", "fold", "label"]
    writer.writerow(lead + classes)
    for i, fname in enumerate(table.fnames):
        label = classes[table.labels[i]] if table.labels[i] >= 0 else ""
        head = [fname, label] if table.folds is None else [fname, int(table.folds[i]), label]
        writer.writerow(head + [FLOAT_FORMAT % p for p in table.probs[i]])
    return write_text_atomic(path, buffer.getvalue())


def write_classes(folder: str | os.PathLike, classes: Sequence[str]) -> Path:
    """Write ``folder/classes.json``: the class names, the probability columns' order."""
    return write_text_atomic(Path(folder) / CLASSES_FILE,
                             json.dumps([str(c) for c in classes], indent=1))


# ----------------------------------------------------------------------------- reader


def read_level1(run_dir: str | os.PathLike, rows: Sequence[str] | None = None) -> Level1:
    """Read ``level1/<row>.oof.csv``, ``<row>.test.csv`` and ``classes.json``.

    Args:
        run_dir: the run folder (the one holding ``level1/``).
        rows: level-1 row names in the wanted model order; default all
            ``level1/*.oof.csv``, sorted by row name.

    Returns:
        The aligned :class:`Level1`.

    Raises:
        StackingError: a missing file, a bad header or value, duplicate clip names,
            class lists, clip sets, folds or labels that differ between models.
    """
    level1_dir = run_folder.level1_dir(run_dir)
    classes = _read_classes(level1_dir / CLASSES_FILE)
    order = _row_order(level1_dir, rows)
    oof, test = {}, {}
    for row in order:
        oof[row] = _read_table(_row_file(level1_dir, row, "oof"), row, classes, with_fold=True)
        test[row] = _read_table(_row_file(level1_dir, row, "test"), row, classes,
                                with_fold=False)
    _check_same_clips(oof, order, "training", level1_dir, "oof", check_folds=True)
    _check_same_clips(test, order, "test", level1_dir, "test", check_folds=False)
    first_oof, first_test = oof[order[0]], test[order[0]]
    return Level1(
        run_dir=Path(run_dir), model_order=tuple(order), classes=tuple(classes),
        train_fnames=first_oof.fnames, train_labels=first_oof.labels,
        train_folds=first_oof.folds, oof_probs=np.stack([oof[r].probs for r in order]),
        test_fnames=first_test.fnames, test_labels=first_test.labels,
        test_probs=np.stack([test[r].probs for r in order]))


def _read_classes(path: Path) -> list[str]:
    if not path.is_file():
        raise StackingError(f"level 1: missing class list {path}")
    try:
        classes = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise StackingError(f"level 1: cannot read class list {path}: {err}") from None
    if (not isinstance(classes, list) or len(classes) < 2
            or not all(isinstance(c, str) and c for c in classes)
            or len(set(classes)) != len(classes)):
        raise StackingError(f"level 1: {path} must be a JSON list of >= 2 distinct class "
                            f"names; received {str(classes)[:80]}")
    return classes


def _row_order(level1_dir: Path, rows: Sequence[str] | None) -> list[str]:
    if rows is None:
        rows = sorted(p.name[: -len(".oof.csv")] for p in level1_dir.glob("*.oof.csv"))
        if not rows:
            raise StackingError(f"level 1: no level-1 rows, {level1_dir}/*.oof.csv "
                                f"matched nothing")
    rows = [str(r) for r in rows]
    if not rows:
        raise StackingError(f"level 1: the list of rows to stack from {level1_dir} is empty")
    duplicates = sorted({r for r in rows if rows.count(r) > 1})
    if duplicates:
        raise StackingError(f"level 1: row {duplicates[0]!r} is listed twice")
    return rows


def _row_file(level1_dir: Path, row: str, kind: str) -> Path:
    path = row_path(level1_dir, row, kind)
    if not path.is_file():
        what = "out-of-fold" if kind == "oof" else "test-set"
        hint = ("" if kind == "oof" else " (level 1 writes it with its full model, header-only "
                "on a dataset without a test set; run the config again with kerastag run)")
        raise StackingError(f"level 1 row {row!r}: missing {what} file {path}{hint}")
    return path


def _read_table(path: Path, row: str, classes: list[str], *, with_fold: bool) -> Level1Table:
    """Read one level-1 CSV, check it and sort it by fname."""
    lead = ["fname", "fold", "label"] if with_fold else ["fname", "label"]
    header, records = _csv_records(path, row)
    _check_header(header, lead, classes, path, row)
    width = len(lead) + len(classes)
    for line, record in enumerate(records, start=2):
        if len(record) != width:
            raise StackingError(f"level 1 row {row!r}: {path} line {line} has "
                                f"{len(record)} fields, expected {width}")
    fnames = np.array([r[0] for r in records], dtype=str)
    _check_unique(fnames, path, row)
    folds = _parse_ints([r[1] for r in records], path, row) if with_fold else None
    labels = _parse_labels([r[len(lead) - 1] for r in records], classes, path, row,
                           allow_empty=not with_fold)
    probs = _parse_probs([r[len(lead):] for r in records], len(classes), path, row)
    return Level1Table(fnames=fnames, folds=folds, labels=labels, probs=probs).sorted()


def _csv_records(path: Path, row: str) -> tuple[list[str], list[list[str]]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            table = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise StackingError(f"level 1 row {row!r}: cannot read {path}: {err}") from None
    if not table:
        raise StackingError(f"level 1 row {row!r}: {path} is empty")
    return table[0], [r for r in table[1:] if r]


def _check_header(header: list[str], lead: list[str], classes: list[str], path: Path,
                  row: str) -> None:
    if header[: len(lead)] != lead:
        raise StackingError(f"level 1 row {row!r}: {path} header must start with "
                            f"{','.join(lead)}; received {','.join(header[:len(lead)])}")
    columns = header[len(lead):]
    if columns != classes:
        diff = next((i for i, (a, b) in enumerate(zip(columns, classes)) if a != b),
                    min(len(columns), len(classes)))
        got = columns[diff] if diff < len(columns) else "<none>"
        want = classes[diff] if diff < len(classes) else "<none>"
        raise StackingError(
            f"level 1 row {row!r}: the class columns of {path} differ from classes.json "
            f"({len(columns)} vs {len(classes)} classes; column {len(lead) + diff + 1} is "
            f"{got!r}, expected {want!r})")


def _check_unique(fnames: np.ndarray, path: Path, row: str) -> None:
    unique, counts = np.unique(fnames, return_counts=True)
    if unique.size != fnames.size:
        raise StackingError(f"level 1 row {row!r}: {path} lists clip "
                            f"{str(unique[counts > 1][0])!r} more than once")


def _parse_ints(values: list[str], path: Path, row: str) -> np.ndarray:
    try:
        return np.array([int(v) for v in values], dtype=np.int64)
    except ValueError:
        bad = next(i for i, v in enumerate(values) if not v.strip().lstrip("-").isdigit())
        raise StackingError(f"level 1 row {row!r}: {path} line {bad + 2} has fold "
                            f"{values[bad]!r}, expected an integer") from None


def _parse_labels(values: list[str], classes: list[str], path: Path, row: str, *,
                  allow_empty: bool) -> np.ndarray:
    index = {name: i for i, name in enumerate(classes)}
    labels = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        if value == "" and allow_empty:
            labels[i] = -1
        elif value in index:
            labels[i] = index[value]
        else:
            raise StackingError(f"level 1 row {row!r}: {path} line {i + 2} has label "
                                f"{value!r}, not one of the {len(classes)} classes")
    return labels


def _parse_probs(values: list[list[str]], n_classes: int, path: Path,
                 row: str) -> np.ndarray:
    try:
        probs = np.array(values, dtype=np.float64).reshape(len(values), n_classes)
    except ValueError:
        probs = None
    if probs is None or not np.all(np.isfinite(probs)):
        bad = _first_bad_prob_line(values)
        raise StackingError(f"level 1 row {row!r}: {path} line {bad + 2} holds a "
                            f"probability that is not a finite number")
    return probs


def _first_bad_prob_line(values: list[list[str]]) -> int:
    for i, record in enumerate(values):
        try:
            if not np.all(np.isfinite(np.array(record, dtype=np.float64))):
                return i
        except ValueError:
            return i
    return 0


def _check_same_clips(tables: Mapping[str, Level1Table], order: list[str], split: str,
                      level1_dir: Path, kind: str, *, check_folds: bool) -> None:
    """Every row must cover the same clips, with the same labels (and folds)."""
    ref_row = order[0]
    ref = tables[ref_row]
    for row in order[1:]:
        table = tables[row]
        path = row_path(level1_dir, row, kind)
        if not np.array_equal(table.fnames, ref.fnames):
            raise StackingError(_clip_set_message(row, ref_row, table, ref, split, path))
        _check_column(row, ref_row, path, table.labels, ref.labels, ref.fnames, "label")
        if check_folds:
            _check_column(row, ref_row, path, table.folds, ref.folds, ref.fnames, "fold")


def _clip_set_message(row: str, ref_row: str, table: Level1Table, ref: Level1Table,
                      split: str, path: Path) -> str:
    extra = np.setdiff1d(table.fnames, ref.fnames)
    missing = np.setdiff1d(ref.fnames, table.fnames)
    example = (f"{str(extra[0])!r} is not in row {ref_row!r}" if extra.size
               else f"{str(missing[0])!r} of row {ref_row!r} is missing")
    return (f"level 1 row {row!r}: {path} does not cover the same {split} clips as row "
            f"{ref_row!r} ({table.fnames.size} vs {ref.fnames.size} clips; {example})")


def _check_column(row: str, ref_row: str, path: Path, values: np.ndarray,
                  ref_values: np.ndarray, fnames: np.ndarray, column: str) -> None:
    differ = np.flatnonzero(values != ref_values)
    if differ.size:
        i = differ[0]
        raise StackingError(
            f"level 1 row {row!r}: {path} gives clip {str(fnames[i])!r} {column} "
            f"{values[i]}, row {ref_row!r} gives {ref_values[i]} ({differ.size} clips differ)")
