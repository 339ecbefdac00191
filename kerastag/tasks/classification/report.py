"""Paper B level 1's results: the level-1 CSV files, the submissions, the mAP@3 tables
and the per-class plot, all from the units' saved predictions.

Files (``docs/level1_format.md``), through :mod:`kerastag.formats`:
``level1/<row>.oof.csv``, ``level1/<row>.test.csv``, ``level1/classes.json``
(:mod:`~kerastag.formats.level1_csv`), ``submissions/<row>.csv``
(:mod:`~kerastag.formats.submission_csv`), ``table.csv``/``table.md`` and
``test/table.*`` (:mod:`~kerastag.formats.map_table`) and
``plots/map3_per_class.png``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from kerastag.config import RowConfig
from kerastag.formats import level1_csv, run_folder, submission_csv
from kerastag.formats.level1_csv import Level1Table
from kerastag.formats.map_table import MapRow, write_map_table
from kerastag.metrics import accuracy, map_at_3, map_at_3_per_class
from kerastag.reference_results import compares_with_paper_b, paper_b_row
from kerastag.runner.task import Log, Unit

#: Per row name: ``{"oof": Level1Table, "test": Level1Table or None}``.
RowTables = dict[str, dict[str, Level1Table | None]]


def class_names(predictions: Mapping[Unit, dict[str, np.ndarray]]) -> list[str]:
    """The class names (column order) recorded in the units' predictions."""
    return [str(c) for c in next(iter(predictions.values()))["classes"]]


def row_tables(rows: Sequence[RowConfig], units: Sequence[Unit],
               predictions: Mapping[Unit, dict[str, np.ndarray]]) -> RowTables:
    """Per row: the out-of-fold table (every training clip once) and the test table.

    Args:
        rows: the config's rows.
        units: every unit of the run; ``fold<k>`` units give the out-of-fold clips,
            ``full`` (no fold) the test clips.
        predictions: per unit, ``clip_ids`` ``(clips,)``, ``y_true`` ``(clips,)`` class
            index (-1 unknown) and ``probs`` ``(clips, classes)``.

    Returns:
        Row name -> ``{"oof": table, "test": table or None}``, clips sorted by fname.
    """
    tables: RowTables = {}
    for row in rows:
        parts = {unit.fold: predictions[unit] for unit in units if unit.row == row}
        test = parts.pop(None, None)
        oof = list(parts.items())
        tables[row.name] = {
            "oof": Level1Table(
                fnames=np.concatenate([p["clip_ids"] for _, p in oof]),
                folds=np.concatenate([np.full(len(p["clip_ids"]), k, np.int64) for k, p in oof]),
                labels=np.concatenate([p["y_true"] for _, p in oof]),
                probs=np.concatenate([p["probs"] for _, p in oof])).sorted(),
            "test": None if test is None else Level1Table(
                fnames=test["clip_ids"], folds=None, labels=test["y_true"],
                probs=test["probs"]).sorted()}
    return tables


def write_level1(out_dir: Path, tables: RowTables, classes: Sequence[str]) -> None:
    """``level1/<row>.oof.csv``, ``<row>.test.csv``, ``classes.json`` and
    ``submissions/<row>.csv`` (rows with test clips only: a dataset without a test set
    gets a header-only ``<row>.test.csv`` and no submission)."""
    folder = run_folder.level1_dir(out_dir)
    for name, parts in tables.items():
        level1_csv.write_row(folder, name, classes, parts["oof"], parts["test"])
        if parts["test"] is not None and parts["test"].fnames.size:
            submission_csv.write_submission(run_folder.submission_path(out_dir, name),
                                            parts["test"].fnames, parts["test"].probs, classes)
    level1_csv.write_classes(folder, classes)


def write_tables(out_dir: Path, tables: RowTables, classes: Sequence[str],
                 paper: Mapping[str, float] | None, log: Log) -> Path:
    """The out-of-fold table, the test table (labelled test sets) and the per-class plot
    (``paper``: as :func:`paper_numbers`; None, no paper column).

    Returns:
        The path of ``table.csv``.
    """
    from kerastag.tasks.classification.plots import plot_map_per_class

    rows = map_rows(tables, "oof")
    csv_path, _ = write_map_table(rows, out_dir, paper=paper)
    _log_rows(rows, log, "  (5-fold, training clips)")
    test_rows = map_rows(tables, "test")
    if test_rows:
        write_map_table(test_rows, run_folder.tables_of_test_set(out_dir), paper=paper)
        _log_rows(test_rows, log, "  (test set)")
    per_class = {name: map_at_3_per_class(parts["oof"].labels, parts["oof"].probs, len(classes))
                 for name, parts in tables.items()}
    plot_map_per_class(per_class, classes, run_folder.plots_dir(out_dir) / "map3_per_class.png")
    return csv_path


def write_evaluation(out_dir: Path, tables: RowTables, paper: Mapping[str, float] | None,
                     log: Log) -> tuple[Path, list[MapRow]]:
    """The out-of-fold table of ``kerastag evaluate``; returns its path and rows."""
    rows = map_rows(tables, "oof")
    csv_path, _ = write_map_table(rows, out_dir, paper=paper)
    _log_rows(rows, log, "")
    return csv_path, rows


def map_rows(tables: RowTables, part: str) -> list[MapRow]:
    """mAP@3 and accuracy per row on ``part`` (``"oof"`` or ``"test"``); rows whose
    table is missing, empty (no test set) or has clips of unknown label are left out."""
    rows = []
    for name, parts in tables.items():
        table = parts[part]
        if table is None or table.fnames.size == 0 or (table.labels < 0).any():
            continue
        rows.append(MapRow(name=name, map3=map_at_3(table.labels, table.probs),
                           accuracy=accuracy(table.labels, table.probs)))
    return rows


def paper_numbers(rows: Sequence[RowConfig], layout: str = "fsdkaggle2018"
                  ) -> dict[str, float] | None:
    """The paper's single-model mAP@3 beside its best single model (ResNeXt, log-mel,
    mixup); None (no paper column at all) unless the dataset ``layout`` is FSDKaggle2018."""
    if not compares_with_paper_b(layout):
        return None
    numbers = {row.name: paper_b_row(row.network, row.features, row.mixing) for row in rows}
    return {name: number for name, number in numbers.items() if number is not None}


def _log_rows(rows: Sequence[MapRow], log: Log, where: str) -> None:
    for row in rows:
        log(f"{row.name}: mAP@3 {row.map3:.4f}  accuracy {row.accuracy:.4f}{where}")
