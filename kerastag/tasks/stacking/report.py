"""Paper B's level 2 end to end on a run's level-1 files: fit, score and write every file.

:func:`run_stacking` reads the level-1 CSV files (:mod:`kerastag.formats.level1_csv`),
builds the meta-features (:mod:`.meta_features`), scores level 2 by nested
cross-validation and fits it on all training clips (:mod:`.level2`), then writes the
result tables, the submission, the saved model and the stack's probabilities, each
through its format module in :mod:`kerastag.formats`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kerastag.fileio import write_text_atomic
from kerastag.formats import level1_csv, run_folder, submission_csv
from kerastag.formats.level1_csv import Level1, Level1Table, read_level1
from kerastag.formats.level2_model import save_level2
from kerastag.formats.map_table import MapRow, write_map_table
from kerastag.metrics import accuracy, map_at_3, map_at_3_per_class
from kerastag.reference_results import PAPER_B_MAP3
from kerastag.tasks.classification.plots import plot_map_per_class
from kerastag.tasks.stacking.level2 import fit_level2, level2_meta, nested_cv_probs, predict_level2
from kerastag.tasks.stacking.meta_features import MfccSource, meta_features, resolve_mfcc_stats

AVERAGE_ROW = "average"
STACK_ROW = "stack"
#: Said (printed by :func:`~kerastag.tasks.stacking.run.stack_run`, noted in ``table.md``)
#: when level 1 has no test clips (a dataset without a test set, e.g. the csv layout).
NO_TEST_SET = ("level 2: the dataset has no test set: no test-set mAP@3 and no "
               "submission.csv; stack.oof.csv holds the stack's out-of-fold probabilities, "
               "and level 2 is fitted on all training clips for predict RUN/stack")


@dataclasses.dataclass(frozen=True)
class StackResult:
    """What :func:`run_stacking` computed and wrote.

    Attributes:
        out_dir: the output folder.
        level1: the level-1 outputs that were stacked.
        feature_names: meta-feature column names.
        oof_rows: training-set rows (level-1 out-of-fold, ``average``, ``stack`` nested CV).
        test_rows: test-set rows (labelled test clips only), or None without test labels.
        best_single: the level-1 row with the highest out-of-fold mAP@3.
        stack_oof_probs: ``(training clips, classes)`` nested-CV level-2 probabilities.
        stack_test_probs: ``(test clips, classes)`` probabilities of the saved model.
        files: output name -> path.
    """

    out_dir: Path
    level1: Level1
    feature_names: list[str]
    oof_rows: list[MapRow]
    test_rows: list[MapRow] | None
    best_single: str
    stack_oof_probs: np.ndarray
    stack_test_probs: np.ndarray
    files: dict[str, Path]


def run_stacking(run_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None, *,
                 mfcc_stats: MfccSource, seed: int = 0, rows: Sequence[str] | None = None,
                 n_jobs: int | None = None, paper_reference: bool = True) -> StackResult:
    """Stack a paper-B run's level-1 models and write every result file.

    Writes into ``out_dir`` (default ``run_dir/stack``):

    - ``table.csv`` / ``table.md``: training set, out-of-fold — every level-1 row,
      ``average`` (mean of the level-1 probabilities) and ``stack`` (nested CV over the
      level-1 folds); ``test/table.csv`` / ``test/table.md``: the same rows on the test
      clips with a known label (``stack`` = the saved model), only when there are any.
      The paper column (``paper_reference`` only) sets ``stack`` against paper B's
      ensemble (0.977) and the best level-1 row (by out-of-fold mAP@3) against its best
      single model (0.967). Without test clips, ``table.md`` ends with
      :data:`NO_TEST_SET`.
    - ``submission.csv``: ``fname,label`` with the stack's three best labels per test
      clip; not written when there are no test clips.
    - ``level2.json`` (XGBoost JSON) and ``level2_meta.json``: the level-2 model fitted on
      all training clips.
    - ``stack.oof.csv`` / ``stack.test.csv``: the stack's probabilities in the level-1
      CSV format (six significant digits, :mod:`kerastag.formats.level1_csv`;
      ``stack.test.csv`` is header-only without test clips).
    - ``map_per_class.png``: out-of-fold per-class mAP@3 of the best single row vs stack.

    Args:
        run_dir: the level-1 run folder.
        out_dir: output folder.
        mfcc_stats: MFCC statistics (see :func:`resolve_mfcc_stats`); None for none.
        seed: level-2 ``random_state``.
        rows: level-1 rows to stack (default all, sorted).
        n_jobs: XGBoost threads; default ``os.cpu_count()``.
        paper_reference: set the rows against paper B's numbers in ``table.md`` (the
            FSDKaggle2018 dataset only; a user's own classes have no published numbers).

    Returns:
        The :class:`StackResult`.
    """
    level1 = read_level1(run_dir, rows)
    out_dir = run_folder.stack_dir(run_dir, out_dir)
    X_train, X_test, names = meta_features(level1, *resolve_mfcc_stats(mfcc_stats, level1))
    y, n_classes = level1.train_labels, level1.n_classes
    stack_oof = nested_cv_probs(X_train, y, level1.train_folds, seed=seed,
                                n_classes=n_classes, n_jobs=n_jobs)
    model = fit_level2(X_train, y, n_classes=n_classes, seed=seed, n_jobs=n_jobs)
    meta = level2_meta(level1, names, seed)
    files = dict(zip(("level2", "level2_meta"), save_level2(model, meta, out_dir)))
    stack_test = predict_level2(model, meta, X_test)
    with_mfcc = meta["n_mfcc"] > 0
    oof_rows, test_rows, best = _report(level1, stack_oof, stack_test, out_dir, files,
                                        with_mfcc, paper_reference)
    files.update(_write_probability_files(level1, stack_oof, stack_test, out_dir))
    return StackResult(out_dir=out_dir, level1=level1, feature_names=names,
                       oof_rows=oof_rows, test_rows=test_rows, best_single=best,
                       stack_oof_probs=stack_oof, stack_test_probs=stack_test, files=files)


def _score_rows(level1: Level1, per_model: np.ndarray, stack: np.ndarray,
                labels: np.ndarray) -> list[MapRow]:
    """mAP@3 and accuracy of every level-1 model, their average and the stack."""
    named = [*zip(level1.model_order, per_model), (AVERAGE_ROW, per_model.mean(axis=0)),
             (STACK_ROW, stack)]
    return [MapRow(name, map_at_3(labels, probs), accuracy(labels, probs))
            for name, probs in named]


def _report(level1: Level1, stack_oof: np.ndarray, stack_test: np.ndarray, out_dir: Path,
            files: dict[str, Path], with_mfcc: bool, paper_reference: bool
            ) -> tuple[list[MapRow], list[MapRow] | None, str]:
    """Write the tables and the per-class plot; return the rows and the best single row."""
    oof_rows = _score_rows(level1, level1.oof_probs, stack_oof, level1.train_labels)
    singles = oof_rows[: len(level1.model_order)]
    best = max(singles, key=lambda r: (r.map3, -singles.index(r))).name
    paper = ({STACK_ROW: PAPER_B_MAP3["stack"], best: PAPER_B_MAP3["best_single_resnext"]}
             if paper_reference else None)
    files["table_csv"], files["table_md"] = write_map_table(oof_rows, out_dir, paper=paper)
    note = _table_note(level1, best, with_mfcc, "oof", paper_reference=paper_reference)
    if level1.test_fnames.size == 0:
        note.append(f"- {NO_TEST_SET}.")
    _append_note(files["table_md"], note)
    test_rows = None
    known = level1.test_labels >= 0
    if known.any():
        test_rows = _score_rows(level1, level1.test_probs[:, known], stack_test[known],
                                level1.test_labels[known])
        files["test_table_csv"], files["test_table_md"] = write_map_table(
            test_rows, run_folder.tables_of_test_set(out_dir), paper=paper)
        _append_note(files["test_table_md"], _table_note(level1, best, with_mfcc, "test",
                                                         int(known.sum()), paper_reference))
    best_probs = level1.oof_probs[level1.model_order.index(best)]
    per_class = {best: map_at_3_per_class(level1.train_labels, best_probs, level1.n_classes),
                 STACK_ROW: map_at_3_per_class(level1.train_labels, stack_oof,
                                               level1.n_classes)}
    files["map_per_class"] = plot_map_per_class(per_class, level1.classes,
                                                out_dir / "map_per_class.png")
    return oof_rows, test_rows, best


def _table_note(level1: Level1, best: str, with_mfcc: bool, split: str,
                n_known: int = 0, paper_reference: bool = True) -> list[str]:
    if split == "oof":
        where = (f"- Set: the {level1.train_fnames.size} training clips, out of fold "
                 f"(level-1 models: out-of-fold probabilities; `stack`: level 2 "
                 f"cross-validated over the same folds).")
    else:
        where = (f"- Set: the {n_known} test clips with a known label (level-1 models "
                 f"trained on all training clips; `stack`: level 2 fitted on all "
                 f"training clips).")
    lines = [where,
             f"- `{AVERAGE_ROW}` = mean of the level-1 probabilities; `{STACK_ROW}` = "
             f"XGBoost (max_depth 3, learning_rate 0.1) on the level-1 probabilities"
             f"{' + MFCC statistics' if with_mfcc else ' (no MFCC statistics)'}."]
    if paper_reference:
        lines.append(f"- Paper column: `{STACK_ROW}` vs paper B's ensemble; `{best}` (our best "
                     f"single model by out-of-fold mAP@3) vs paper B's best single model "
                     f"(ResNeXt).")
    return lines


def _append_note(md_path: Path, lines: list[str]) -> None:
    text = md_path.read_text(encoding="utf-8")
    write_text_atomic(md_path, text + "\n".join(lines) + "\n")


def _write_probability_files(level1: Level1, stack_oof: np.ndarray,
                             stack_test: np.ndarray, out_dir: Path) -> dict[str, Path]:
    """``submission.csv`` (test clips only) and the stack's probabilities as
    ``stack.oof.csv`` / ``stack.test.csv`` (the level-1 CSV format)."""
    oof = Level1Table(fnames=level1.train_fnames, folds=level1.train_folds,
                      labels=level1.train_labels, probs=stack_oof)
    test = Level1Table(fnames=level1.test_fnames, folds=None, labels=level1.test_labels,
                       probs=stack_test)
    paths = level1_csv.write_row(out_dir, STACK_ROW, level1.classes, oof, test)
    files = {"stack_oof": paths["oof"], "stack_test": paths["test"]}
    if level1.test_fnames.size:
        files["submission"] = submission_csv.write_submission(
            out_dir / run_folder.STACK_SUBMISSION_FILE, level1.test_fnames, stack_test, level1.classes)
    return files
