"""Paper B's level-2 stacking: XGBoost on level-1 probabilities and MFCC statistics.

Level 1 (``kerastag run`` on a paper-B config) writes, per model ("row"),
``level1/<row>.oof.csv`` (out-of-fold probabilities of every training clip),
``level1/<row>.test.csv`` (test-set probabilities of the model trained on all training
clips) and ``level1/classes.json`` (docs/level1_format.md). This module reads them,
builds the meta-features of paper B (the concatenated class probabilities of every model
plus max, min, variance and skewness of each MFCC coefficient over the clip's frames) and
fits the level-2 model: an ``xgboost.XGBClassifier`` with default parameters except
``max_depth=3`` (plus ``tree_method="hist"``, a seed and a thread count).

Meta-feature column order (fixed, see :func:`feature_names`):

1. for every level-1 model in ``model_order`` (sorted row names unless given), its ``C``
   class probabilities in class order (``classes.json``): ``<model>:<class>``;
2. ``mfcc_max_0 .. mfcc_max_{K-1}``, ``mfcc_min_*``, ``mfcc_var_*``, ``mfcc_skew_*``
   (``K`` MFCC coefficients, the block order of :func:`mfcc_statistics`).

Rows are the clips in ascending ``fname`` order (training and test set separately).

Honest stacked score (:func:`nested_cv_probs`): level 2 is cross-validated over the
*same* folds as level 1. For outer fold ``k`` it is fitted on the meta-features of the
clips of the other folds only and predicts fold ``k``. Every meta-feature is itself
out-of-fold: a fold-``k`` clip's probabilities come from the level-1 model trained
without fold ``k``, and level 2 never sees a fold-``k`` row while predicting fold ``k``.
(The level-1 models that produced the *training* rows' features did train on fold ``k``;
that is inherent to cross-validated stacking and is the usual, mildly optimistic,
estimate.) The submitted model is one level-2 fit on all training clips, applied to the
test-set meta-features (whose probabilities come from the level-1 ``full`` models).

Classes absent from a level-2 training set: XGBoost's scikit-learn wrapper insists that
the labels present are exactly ``0..C-1``. When some class is missing (a small fold),
:func:`fit_level2` appends one placeholder row per missing class with sample weight 0.
A zero-weight row adds nothing to any gradient, hessian or intercept estimate and copies
the first real row's features, so it adds no new histogram cut either: the fit equals
XGBoost's native ``multi:softprob`` training with ``num_class=C`` on the real rows
(checked in the tests). The missing class has no positive example, so its intercept
and its trees push its probability towards zero, as for any class without positives.
Extraction of MFCCs stays outside this module: callers pass precomputed
statistics (:func:`mfcc_statistics` of each clip's MFCC matrix).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from kerastag.errors import FeatureError, KerastagError, ModelError
from kerastag.fileio import atomic_path, write_text_atomic
from kerastag.metrics import accuracy, map_at_3, map_at_3_per_class, top_k_labels
from kerastag.paper import PAPER_B_MAP3
from kerastag.reporting import MapRow, plot_map_per_class, write_map_table

#: The four MFCC statistics, in the block order of :func:`mfcc_statistics`.
STAT_NAMES = ("max", "min", "var", "skew")
#: Level-2 parameters that differ from XGBoost's defaults (paper B: max_depth 3).
LEVEL2_PARAMS = {"max_depth": 3, "tree_method": "hist"}
LEVEL2_MODEL_FILE = "level2.json"
LEVEL2_META_FILE = "level2_meta.json"
META_FORMAT = "kerastag-level2"
AVERAGE_ROW = "average"
STACK_ROW = "stack"

MfccSource = Callable[[str, Sequence[str]], np.ndarray] | Mapping[str, np.ndarray] | None


class StackingError(KerastagError):
    """Level-1 files or level-2 inputs that cannot be stacked."""


# ------------------------------------------------------------------- MFCC statistics


def mfcc_statistics(mfcc: np.ndarray) -> np.ndarray:
    """Max, min, variance and skewness of each MFCC coefficient over the frames.

    Variance is the population variance (``ddof=0``); skewness is the biased
    ``m3 / m2**1.5`` (``scipy.stats.skew``'s default). A constant row (a silent clip, a
    single frame) has variance 0 and skewness 0 instead of NaN; a matrix with zero frames
    gives all zeros.

    Args:
        mfcc: shape ``(coefficients, frames)``, e.g. channel 0 of a
            ``TimeFrequencyB(kind="mfcc")`` feature.

    Returns:
        Shape ``(4 * coefficients,)``, float64: the blocks max, min, var, skew
        (:data:`STAT_NAMES`), each in coefficient order.

    Raises:
        FeatureError: ``mfcc`` is not 2-D or holds NaN/inf.
    """
    m = np.asarray(mfcc, dtype=np.float64)
    if m.ndim != 2:
        raise FeatureError(f"mfcc_statistics needs a (coefficients, frames) matrix; "
                           f"received shape {m.shape}")
    if m.shape[1] == 0:
        return np.zeros(4 * m.shape[0])
    if not np.all(np.isfinite(m)):
        raise FeatureError("mfcc_statistics: the MFCC matrix holds NaN or inf")
    mean = m.mean(axis=1)
    dev = m - mean[:, None]
    m2 = np.mean(dev**2, axis=1)
    m3 = np.mean(dev**3, axis=1)
    flat = m2 <= (np.finfo(np.float64).resolution * np.abs(mean)) ** 2  # scipy's rule
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = np.where(flat, 0.0, m3 / np.where(flat, 1.0, m2) ** 1.5)
    var = np.where(flat, 0.0, m2)
    return np.concatenate([m.max(axis=1), m.min(axis=1), var, skew])


def feature_names(model_order: Sequence[str], classes: Sequence[str],
                  n_mfcc: int) -> list[str]:
    """Names of the meta-feature columns, in column order.

    Args:
        model_order: level-1 row names, in column order.
        classes: class names, in column order.
        n_mfcc: MFCC coefficients (0 for no MFCC statistics).

    Returns:
        ``[f"{model}:{class}" ...] + [f"mfcc_{stat}_{i}" ...]``, e.g.
        ``resnext_logmel_mixup:Bark``, ``mfcc_max_0``.
    """
    probs = [f"{model}:{name}" for model in model_order for name in classes]
    stats = [f"mfcc_{stat}_{i}" for stat in STAT_NAMES for i in range(n_mfcc)]
    return probs + stats


# ---------------------------------------------------------------------- level-1 files


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


@dataclasses.dataclass(frozen=True)
class _Table:
    """One level-1 CSV, sorted by fname."""

    fnames: np.ndarray
    folds: np.ndarray | None
    labels: np.ndarray
    probs: np.ndarray


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
    level1_dir = Path(run_dir) / "level1"
    classes = _read_classes(level1_dir / "classes.json")
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
    path = level1_dir / f"{row}.{kind}.csv"
    if not path.is_file():
        what = "out-of-fold" if kind == "oof" else "test-set"
        raise StackingError(f"level 1 row {row!r}: missing {what} file {path}")
    return path


def _read_table(path: Path, row: str, classes: list[str], *, with_fold: bool) -> _Table:
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
    order = np.argsort(fnames, kind="stable")
    return _Table(fnames=fnames[order], folds=None if folds is None else folds[order],
                  labels=labels[order], probs=probs[order])


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


def _check_same_clips(tables: Mapping[str, _Table], order: list[str], split: str,
                      level1_dir: Path, kind: str, *, check_folds: bool) -> None:
    """Every row must cover the same clips, with the same labels (and folds)."""
    ref_row = order[0]
    ref = tables[ref_row]
    for row in order[1:]:
        table = tables[row]
        path = level1_dir / f"{row}.{kind}.csv"
        if not np.array_equal(table.fnames, ref.fnames):
            raise StackingError(_clip_set_message(row, ref_row, table, ref, split, path))
        _check_column(row, ref_row, path, table.labels, ref.labels, ref.fnames, "label")
        if check_folds:
            _check_column(row, ref_row, path, table.folds, ref.folds, ref.fnames, "fold")


def _clip_set_message(row: str, ref_row: str, table: _Table, ref: _Table, split: str,
                      path: Path) -> str:
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


# ------------------------------------------------------------------- meta-features


def meta_features(level1: Level1, mfcc_stats_train: np.ndarray | None = None,
                  mfcc_stats_test: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Build the level-2 inputs in the module's fixed column order.

    Args:
        level1: the level-1 outputs.
        mfcc_stats_train: ``(training clips, 4*K)`` MFCC statistics in
            ``level1.train_fnames`` order, or None for probabilities only.
        mfcc_stats_test: ``(test clips, 4*K)`` in ``level1.test_fnames`` order, or None
            (both or neither).

    Returns:
        ``(X_train, X_test, names)``: float64 matrices of width ``models*C + 4*K`` with
        rows in sorted-fname order, and the column names (:func:`feature_names`).

    Raises:
        StackingError: MFCC statistics of the wrong shape, not finite, or given for only
            one of the two sets.
    """
    if (mfcc_stats_train is None) != (mfcc_stats_test is None):
        raise StackingError("meta_features: give MFCC statistics for both the training "
                            "and the test set, or for neither")
    train = _prob_block(level1.oof_probs)
    test = _prob_block(level1.test_probs)
    n_mfcc = 0
    if mfcc_stats_train is not None:
        stats_train = _check_stats(mfcc_stats_train, train.shape[0], "training")
        stats_test = _check_stats(mfcc_stats_test, test.shape[0], "test")
        if stats_train.shape[1] != stats_test.shape[1]:
            raise StackingError(f"meta_features: MFCC statistics have width "
                                f"{stats_train.shape[1]} (training) but "
                                f"{stats_test.shape[1]} (test)")
        train, test = np.hstack([train, stats_train]), np.hstack([test, stats_test])
        n_mfcc = stats_train.shape[1] // 4
    return train, test, feature_names(level1.model_order, level1.classes, n_mfcc)


def _prob_block(probs: np.ndarray) -> np.ndarray:
    """``(models, clips, classes)`` -> ``(clips, models*classes)``, model-major."""
    models, clips, classes = probs.shape
    return np.ascontiguousarray(probs.transpose(1, 0, 2)).reshape(clips, models * classes)


def _check_stats(stats, n_rows: int, split: str) -> np.ndarray:
    stats = np.asarray(stats, dtype=np.float64)
    if stats.ndim != 2 or stats.shape[0] != n_rows or stats.shape[1] % 4 or not stats.shape[1]:
        raise StackingError(f"meta_features: {split} MFCC statistics must have shape "
                            f"({n_rows}, 4*K) with K >= 1; received {stats.shape}")
    if not np.all(np.isfinite(stats)):
        raise StackingError(f"meta_features: {split} MFCC statistics hold NaN or inf")
    return stats


def resolve_mfcc_stats(mfcc_stats: MfccSource, level1: Level1
                       ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Turn the caller's MFCC statistics into matrices in level-1 row order.

    Args:
        mfcc_stats: None (no MFCC features); a mapping ``fname -> (4*K,) vector`` over
            the training and test clips (clip names must then differ between the two
            sets); or a callable ``(split, fnames) -> (len(fnames), 4*K) array`` called
            once with ``"train"`` and once with ``"test"``.
        level1: the level-1 outputs whose clip order to follow.

    Returns:
        ``(train, test)`` matrices, or ``(None, None)``.

    Raises:
        StackingError: a missing clip, an ambiguous mapping or a wrong shape.
    """
    if mfcc_stats is None:
        return None, None
    if isinstance(mfcc_stats, Mapping):
        return (_stats_from_mapping(mfcc_stats, level1.train_fnames, level1.test_fnames),
                _stats_from_mapping(mfcc_stats, level1.test_fnames, level1.train_fnames))
    if callable(mfcc_stats):
        return (np.asarray(mfcc_stats("train", list(level1.train_fnames)), np.float64),
                np.asarray(mfcc_stats("test", list(level1.test_fnames)), np.float64))
    raise StackingError(f"mfcc_stats must be a mapping fname -> vector, a callable or "
                        f"None; received {type(mfcc_stats).__name__}")


def _stats_from_mapping(mapping: Mapping[str, np.ndarray], fnames: np.ndarray,
                        other: np.ndarray) -> np.ndarray:
    shared = np.intersect1d(fnames, other)
    if shared.size:
        raise StackingError(f"MFCC statistics keyed by fname are ambiguous: {shared.size} "
                            f"clip names (e.g. {str(shared[0])!r}) are in both the training and "
                            f"the test set; pass a callable (split, fnames) instead")
    missing = [f for f in fnames if f not in mapping]
    if missing:
        raise StackingError(f"MFCC statistics: no entry for clip {str(missing[0])!r} "
                            f"({len(missing)} clips missing)")
    rows = [np.asarray(mapping[f], dtype=np.float64).ravel() for f in fnames]
    widths = {r.size for r in rows}
    if len(widths) > 1:
        raise StackingError(f"MFCC statistics: vectors of different lengths "
                            f"{sorted(widths)[:4]}")
    if not rows:
        width = np.asarray(next(iter(mapping.values()), np.zeros(4))).size
        return np.zeros((0, width))
    return np.vstack(rows)


# ------------------------------------------------------------------------- level 2


def fit_level2(X: np.ndarray, y: np.ndarray, *, n_classes: int | None = None, seed: int = 0,
               n_jobs: int | None = None):
    """Fit paper B's level-2 XGBoost classifier.

    Args:
        X: ``(clips, features)`` meta-features.
        y: ``(clips,)`` class indices in ``0..n_classes-1``.
        n_classes: number of classes ``C``; default ``max(y) + 1``. Classes missing from
            ``y`` get zero-weight placeholder rows (module docstring), so the model always
            outputs ``C`` probabilities.
        seed: ``random_state``.
        n_jobs: threads; default ``os.cpu_count()``.

    Returns:
        The fitted ``xgboost.XGBClassifier`` (``classes_ == arange(C)``).

    Raises:
        StackingError: empty input, mismatched lengths or labels out of range.
    """
    import xgboost

    X, y, n_classes = _check_xy(X, y, n_classes)
    model = xgboost.XGBClassifier(**LEVEL2_PARAMS, random_state=seed,
                                  n_jobs=n_jobs or os.cpu_count())
    absent = np.setdiff1d(np.arange(n_classes), y)
    if absent.size == 0:
        return model.fit(X, y)
    X_fit = np.vstack([X, np.repeat(X[:1], absent.size, axis=0)])
    y_fit = np.concatenate([y, absent])
    weight = np.concatenate([np.ones(y.size), np.zeros(absent.size)])
    return model.fit(X_fit, y_fit, sample_weight=weight)


def _check_xy(X, y, n_classes: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[0] == 0 or y.shape != (X.shape[0],):
        raise StackingError(f"level 2 needs X of shape (clips, features) and y of shape "
                            f"(clips,) with clips >= 1; received {X.shape} and {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise StackingError(f"level 2 labels must be class indices >= 0; received dtype "
                            f"{y.dtype}, minimum {y.min()}")
    n_classes = int(y.max()) + 1 if n_classes is None else int(n_classes)
    if n_classes < 2 or y.max() >= n_classes:
        raise StackingError(f"level 2 needs n_classes >= 2 and labels < n_classes; "
                            f"received n_classes={n_classes}, largest label {y.max()}")
    return X, y.astype(np.int64), n_classes


def nested_cv_probs(X: np.ndarray, y: np.ndarray, folds: np.ndarray, *, seed: int = 0,
                    n_classes: int | None = None, n_jobs: int | None = None) -> np.ndarray:
    """Cross-validated level-2 probabilities over level 1's folds.

    For each fold ``k`` (ascending), level 2 is fitted on the rows whose fold is not
    ``k`` and predicts the rows of fold ``k``; no row is ever predicted by a model that
    was fitted on it or on any row of its fold.

    Args:
        X: ``(clips, features)`` meta-features (out-of-fold probabilities + MFCC stats).
        y: ``(clips,)`` class indices.
        folds: ``(clips,)`` the level-1 fold of each clip.
        seed: level-2 ``random_state``.
        n_classes: number of classes; default ``max(y) + 1``.
        n_jobs: threads; default ``os.cpu_count()``.

    Returns:
        ``(clips, n_classes)`` float64 probabilities.

    Raises:
        StackingError: fewer than two folds or mismatched lengths.
    """
    X, y, n_classes = _check_xy(X, y, n_classes)
    folds = np.asarray(folds)
    if folds.shape != y.shape:
        raise StackingError(f"nested_cv_probs: folds has shape {folds.shape}, expected "
                            f"{y.shape}")
    fold_ids = np.unique(folds)
    if fold_ids.size < 2:
        raise StackingError(f"nested_cv_probs needs at least 2 folds; received "
                            f"{fold_ids.tolist()}")
    probs = np.zeros((y.size, n_classes))
    for k in fold_ids:
        held_out = folds == k
        model = fit_level2(X[~held_out], y[~held_out], n_classes=n_classes, seed=seed,
                           n_jobs=n_jobs)
        probs[held_out] = model.predict_proba(X[held_out])
    return probs


def level2_meta(level1: Level1, names: Sequence[str], seed: int) -> dict:
    """The ``level2_meta.json`` content for a level-2 model fitted on ``level1``."""
    import xgboost

    n_mfcc = (len(names) - len(level1.model_order) * level1.n_classes) // 4
    return {"format": META_FORMAT, "version": 1, "model_order": list(level1.model_order),
            "classes": list(level1.classes), "feature_names": list(names),
            "n_mfcc": n_mfcc, "seed": seed, "params": dict(LEVEL2_PARAMS),
            "n_train_clips": int(level1.train_fnames.size),
            "run_dir": str(Path(level1.run_dir).resolve()),
            "xgboost_version": xgboost.__version__}


def save_level2(model, meta: Mapping, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Save a level-2 model as XGBoost JSON (``level2.json``) plus ``level2_meta.json``.

    Args:
        model: the fitted ``XGBClassifier``.
        meta: :func:`level2_meta` content.
        out_dir: folder for the two files (created if needed).

    Returns:
        ``(model_path, meta_path)``.
    """
    out_dir = Path(out_dir)
    model_path = out_dir / LEVEL2_MODEL_FILE
    with atomic_path(model_path) as tmp:  # the temporary name keeps the .json suffix
        model.save_model(tmp)
    meta_path = write_text_atomic(out_dir / LEVEL2_META_FILE,
                                  json.dumps(meta, indent=2) + "\n")
    return model_path, meta_path


def load_level2(path_dir: str | os.PathLike):
    """Load a level-2 model saved by :func:`save_level2` / :func:`run_stacking`.

    Args:
        path_dir: the folder holding ``level2.json`` and ``level2_meta.json``.

    Returns:
        ``(model, meta)``: the ``XGBClassifier`` and the metadata dict.

    Raises:
        ModelError: a missing or unreadable file, or a model that does not match its
            metadata (class or feature count).
    """
    import xgboost

    folder = Path(path_dir)
    meta = _load_meta(folder / LEVEL2_META_FILE)
    model_path = folder / LEVEL2_MODEL_FILE
    if not model_path.is_file():
        raise ModelError(f"level 2: missing model file {model_path}")
    model = xgboost.XGBClassifier()
    try:
        model.load_model(model_path)
    except (xgboost.core.XGBoostError, ValueError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"level 2: cannot load {model_path}: {first}") from None
    model.set_params(n_jobs=os.cpu_count())
    _check_loaded(model, meta, model_path)
    return model, meta


def _load_meta(path: Path) -> dict:
    if not path.is_file():
        raise ModelError(f"level 2: missing metadata file {path}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelError(f"level 2: cannot read {path}: {err}") from None
    keys = ("model_order", "classes", "feature_names")
    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT or any(
            not isinstance(meta.get(k), list) for k in keys):
        raise ModelError(f"level 2: {path} is not a {META_FORMAT} metadata file "
                         f"(needs format and the lists {', '.join(keys)})")
    return meta


def _check_loaded(model, meta: dict, model_path: Path) -> None:
    n_classes, n_features = len(meta["classes"]), len(meta["feature_names"])
    booster = model.get_booster()
    if model.n_classes_ != n_classes or booster.num_features() != n_features:
        raise ModelError(f"level 2: {model_path} has {model.n_classes_} classes and "
                         f"{booster.num_features()} features, its metadata {n_classes} "
                         f"and {n_features}")


def predict_level2(model, meta: Mapping, X: np.ndarray) -> np.ndarray:
    """Class probabilities of a level-2 model.

    Args:
        model: a fitted or loaded ``XGBClassifier``.
        meta: its metadata (:func:`level2_meta`); fixes the expected width of ``X``.
        X: ``(clips, features)`` meta-features in the metadata's column order.

    Returns:
        ``(clips, classes)`` float64 probabilities.

    Raises:
        StackingError: ``X`` has the wrong width.
    """
    X = np.asarray(X, dtype=np.float64)
    width = len(meta["feature_names"])
    if X.ndim != 2 or X.shape[1] != width:
        raise StackingError(f"level 2 expects meta-features of shape (clips, {width}); "
                            f"received {X.shape}")
    if X.shape[0] == 0:
        return np.zeros((0, len(meta["classes"])))
    return np.asarray(model.predict_proba(X), dtype=np.float64)


# ---------------------------------------------------------------------- the pipeline


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
                 n_jobs: int | None = None) -> StackResult:
    """Stack a paper-B run's level-1 models and write every result file.

    Writes into ``out_dir`` (default ``run_dir/stack``):

    - ``table.csv`` / ``table.md``: training set, out-of-fold — every level-1 row,
      ``average`` (mean of the level-1 probabilities) and ``stack`` (nested CV over the
      level-1 folds); ``test/table.csv`` / ``test/table.md``: the same rows on the test
      clips with a known label (``stack`` = the saved model), only when there are any.
      The paper column sets ``stack`` against paper B's ensemble (0.977) and the best
      level-1 row (by out-of-fold mAP@3) against its best single model (0.967).
    - ``submission.csv``: ``fname,label`` with the stack's three best labels per test clip.
    - ``level2.json`` (XGBoost JSON) and ``level2_meta.json``: the level-2 model fitted on
      all training clips.
    - ``stack.oof.csv`` / ``stack.test.csv``: the stack's probabilities in the level-1
      CSV format.
    - ``map_per_class.png``: out-of-fold per-class mAP@3 of the best single row vs stack.

    Args:
        run_dir: the level-1 run folder.
        out_dir: output folder.
        mfcc_stats: MFCC statistics (see :func:`resolve_mfcc_stats`); None for none.
        seed: level-2 ``random_state``.
        rows: level-1 rows to stack (default all, sorted).
        n_jobs: XGBoost threads; default ``os.cpu_count()``.

    Returns:
        The :class:`StackResult`.
    """
    level1 = read_level1(run_dir, rows)
    out_dir = Path(run_dir) / "stack" if out_dir is None else Path(out_dir)
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
                                        with_mfcc)
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
            files: dict[str, Path], with_mfcc: bool
            ) -> tuple[list[MapRow], list[MapRow] | None, str]:
    oof_rows = _score_rows(level1, level1.oof_probs, stack_oof, level1.train_labels)
    singles = oof_rows[: len(level1.model_order)]
    best = max(singles, key=lambda r: (r.map3, -singles.index(r))).name
    paper = {STACK_ROW: PAPER_B_MAP3["stack"], best: PAPER_B_MAP3["best_single_resnext"]}
    files["table_csv"], files["table_md"] = write_map_table(oof_rows, out_dir, paper=paper)
    _append_note(files["table_md"], _table_note(level1, best, with_mfcc, "oof"))
    test_rows = None
    known = level1.test_labels >= 0
    if known.any():
        test_rows = _score_rows(level1, level1.test_probs[:, known], stack_test[known],
                                level1.test_labels[known])
        files["test_table_csv"], files["test_table_md"] = write_map_table(
            test_rows, out_dir / "test", paper=paper)
        _append_note(files["test_table_md"], _table_note(level1, best, with_mfcc, "test",
                                                         int(known.sum())))
    best_probs = level1.oof_probs[level1.model_order.index(best)]
    per_class = {best: map_at_3_per_class(level1.train_labels, best_probs, level1.n_classes),
                 STACK_ROW: map_at_3_per_class(level1.train_labels, stack_oof,
                                               level1.n_classes)}
    files["map_per_class"] = plot_map_per_class(per_class, level1.classes,
                                                out_dir / "map_per_class.png")
    return oof_rows, test_rows, best


def _table_note(level1: Level1, best: str, with_mfcc: bool, split: str,
                n_known: int = 0) -> list[str]:
    if split == "oof":
        where = (f"- Set: the {level1.train_fnames.size} training clips, out of fold "
                 f"(level-1 models: out-of-fold probabilities; `stack`: level 2 "
                 f"cross-validated over the same folds).")
    else:
        where = (f"- Set: the {n_known} test clips with a known label (level-1 models "
                 f"trained on all training clips; `stack`: level 2 fitted on all "
                 f"training clips).")
    return [where,
            f"- `{AVERAGE_ROW}` = mean of the level-1 probabilities; `{STACK_ROW}` = "
            f"XGBoost (max_depth 3) on the level-1 probabilities"
            f"{' + MFCC statistics' if with_mfcc else ' (no MFCC statistics)'}.",
            f"- Paper column: `{STACK_ROW}` vs paper B's ensemble; `{best}` (our best "
            f"single model by out-of-fold mAP@3) vs paper B's best single model (ResNeXt)."]


def _append_note(md_path: Path, lines: list[str]) -> None:
    text = md_path.read_text(encoding="utf-8")
    write_text_atomic(md_path, text + "\n".join(lines) + "\n")


def _write_probability_files(level1: Level1, stack_oof: np.ndarray,
                             stack_test: np.ndarray, out_dir: Path) -> dict[str, Path]:
    classes = list(level1.classes)
    submission = io.StringIO()
    writer = csv.writer(submission, lineterminator="\n")
    writer.writerow(["fname", "label"])
    for fname, labels in zip(level1.test_fnames, top_k_labels(stack_test, classes, 3)):
        writer.writerow([fname, " ".join(labels)])
    return {
        "submission": write_text_atomic(out_dir / "submission.csv", submission.getvalue()),
        "stack_oof": write_text_atomic(out_dir / "stack.oof.csv", _probs_csv(
            level1.train_fnames, level1.train_labels, stack_oof, classes,
            level1.train_folds)),
        "stack_test": write_text_atomic(out_dir / "stack.test.csv", _probs_csv(
            level1.test_fnames, level1.test_labels, stack_test, classes, None)),
    }


def _probs_csv(fnames: np.ndarray, labels: np.ndarray, probs: np.ndarray,
               classes: list[str], folds: np.ndarray | None) -> str:
    """Probabilities in the level-1 CSV format (docs/level1_format.md)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    lead = ["fname", "fold", "label"] if folds is not None else ["fname", "label"]
    writer.writerow(lead + classes)
    for i, fname in enumerate(fnames):
        label = classes[labels[i]] if labels[i] >= 0 else ""
        head = [fname, int(folds[i]), label] if folds is not None else [fname, label]
        writer.writerow(head + [repr(float(p)) for p in probs[i]])
    return buffer.getvalue()
