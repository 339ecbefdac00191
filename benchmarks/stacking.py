"""Level-2 (XGBoost) fit and prediction time at FSDKaggle2018 size.

Paper B's level 2 sees 9,473 training clips x (5 models x 41 class probabilities + 4 x 64
MFCC statistics) = 461 meta-features, 41 classes, and predicts the 1,600 scored test
clips. This benchmark times :func:`kerastag.tasks.stacking.level2.fit_level2` (XGBoost
defaults, ``max_depth=3``, ``tree_method="hist"``) on random features of that shape, and
:func:`kerastag.tasks.stacking.level2.predict_level2` on the test rows.
:func:`kerastag.tasks.stacking.report.run_stacking` performs six such fits (five
nested-CV folds on 4/5 of the rows, one on all rows), so its level-2 time is about
``5 * fit(0.8 n) + fit(n)``.

The features are random probabilities (softmax of Gaussian logits, one block per model)
and random MFCC statistics; labels are random, so the trees are as deep as allowed and
the timing is not flattered by an easy problem.

Usage::

    python benchmarks/stacking.py [--rows 9473] [--test-rows 1600] [--jobs N]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

if importlib.util.find_spec("kerastag") is None:  # run from a checkout, not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from _machine import machine_line  # noqa: E402

FSD_TRAIN_CLIPS = 9473
FSD_TEST_CLIPS = 1600
FSD_CLASSES = 41
PAPER_B_MODELS = 5
N_MFCC = 64


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    from kerastag.tasks.stacking.level2 import fit_level2, predict_level2
    from kerastag.tasks.stacking.meta_features import feature_names

    X, y = _random_meta(args.rows, args.classes, args.models, args.seed, labels=True)
    X_test, _ = _random_meta(args.test_rows, args.classes, args.models, args.seed + 1)
    names = feature_names([f"m{i}" for i in range(args.models)],
                          [f"c{i}" for i in range(args.classes)], N_MFCC)
    meta = {"feature_names": names, "classes": [f"c{i}" for i in range(args.classes)]}
    print(machine_line())
    print(f"level 2: {args.rows} x {X.shape[1]} training rows, {args.classes} classes, "
          f"{args.test_rows} test rows, n_jobs={args.jobs}")
    start = time.perf_counter()
    model = fit_level2(X, y, n_classes=args.classes, seed=args.seed, n_jobs=args.jobs)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    probs = predict_level2(model, meta, X_test)
    predict_s = time.perf_counter() - start
    assert probs.shape == (args.test_rows, args.classes), probs.shape
    _report(args, fit_s, predict_s)
    return 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=FSD_TRAIN_CLIPS,
                        help="training rows (default: FSDKaggle2018's 9,473)")
    parser.add_argument("--test-rows", type=int, default=FSD_TEST_CLIPS,
                        help="test rows to predict (default 1,600)")
    parser.add_argument("--classes", type=int, default=FSD_CLASSES)
    parser.add_argument("--models", type=int, default=PAPER_B_MODELS,
                        help="level-1 models (41 probability columns each)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="XGBoost threads (default: core count)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.rows < args.classes or args.test_rows < 1 or args.classes < 2 or args.jobs < 1:
        parser.error("need --rows >= --classes >= 2, --test-rows >= 1, --jobs >= 1")
    return args


def _random_meta(rows: int, classes: int, models: int, seed: int, *,
                 labels: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Random meta-features shaped like paper B's: softmax blocks + MFCC statistics."""
    rng = np.random.default_rng(seed)
    blocks = []
    for _ in range(models):
        logits = rng.normal(scale=2.0, size=(rows, classes))
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        blocks.append(exp / exp.sum(axis=1, keepdims=True))
    blocks.append(rng.normal(size=(rows, 4 * N_MFCC)))
    y = None
    if labels:  # every class present, the rest uniform
        y = np.concatenate([np.arange(classes), rng.integers(0, classes, rows - classes)])
    return np.hstack(blocks), y


def _report(args: argparse.Namespace, fit_s: float, predict_s: float) -> None:
    import xgboost

    print(f"xgboost {xgboost.__version__}")
    print(f"fit:     {fit_s:8.2f} s  ({args.rows} rows)")
    print(f"predict: {predict_s:8.3f} s  ({args.test_rows} rows)")
    per_row = fit_s / args.rows
    if args.rows != FSD_TRAIN_CLIPS:
        print(f"linear extrapolation to {FSD_TRAIN_CLIPS} rows: "
              f"{per_row * FSD_TRAIN_CLIPS:.1f} s per fit")
    full = per_row * (args.rows if args.rows == FSD_TRAIN_CLIPS else FSD_TRAIN_CLIPS)
    print(f"run_stacking level 2 (5 nested-CV fits on 0.8 n + 1 full fit), "
          f"linear estimate at {FSD_TRAIN_CLIPS} rows: {5 * 0.8 * full + full:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
