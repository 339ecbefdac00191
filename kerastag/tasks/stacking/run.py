"""Paper B's level 2 on a run folder: MFCC statistics of the clips, then stacking.

:func:`kerastag.tasks.stacking.report.run_stacking` does the meta-learning on level-1
files; this module supplies it with the clips' MFCC statistics (from the feature cache).
It is the ``stacking`` stage of :data:`kerastag.names.STAGES`, run after a paper-B run
whose config has a ``stack:`` section, or by ``kerastag stack RUN_DIR``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kerastag.config import ExperimentConfig, config_from_run_data
from kerastag.datasets.fsdkaggle2018 import LAYOUT as PAPER_B_LAYOUT
from kerastag.errors import KerastagError
from kerastag.formats import run_folder
from kerastag.formats.level1_csv import read_level1
from kerastag.loading import compute_features, prepare_dataset
from kerastag.tasks.stacking.mfcc_statistics import mfcc_statistics
from kerastag.tasks.stacking.report import NO_TEST_SET, run_stacking


def mfcc_statistics_of_run(config: ExperimentConfig) -> dict[str, np.ndarray]:
    """fname -> max/min/variance/skewness of each MFCC over the whole clip (train + test)."""
    clips = [c for c in prepare_dataset(config).clips if c.subset in ("train", "test")]
    arrays = compute_features(config, clips, features=config.features.with_type("mfcc"), mmap=True).arrays
    return {clip.clip_id: mfcc_statistics(np.asarray(a[0])) for clip, a in zip(clips, arrays)}


def stack_run(run_dir: Path, out_dir: Path | None = None, *, log=print):
    """Level 2 over a finished paper-B run; returns the stacking result."""
    run_dir = Path(run_dir)
    config = config_from_run_data(run_folder.read_config_data(run_dir))
    if config.task != "classification":
        raise KerastagError(f"{run_dir}: stacking needs a paper-B (task: classification) run")
    rows = [row.name for row in config.rows]
    read_level1(run_dir, rows)  # check every model's files before the MFCC work
    log("level 2: stacking the level-1 models with XGBoost")
    stack = config.stack
    mfcc_stats = mfcc_statistics_of_run(config)
    with run_folder.locked(run_dir):
        result = run_stacking(run_dir, out_dir, mfcc_stats=mfcc_stats, rows=rows,
                              seed=stack.seed if stack else config.seed,
                              n_jobs=stack.n_jobs if stack else None,
                              paper_reference=config.dataset.layout == PAPER_B_LAYOUT)
    table, _ = run_folder.table_paths(result.out_dir)
    log(pd.read_csv(table).to_string(index=False, float_format="%.4f"))
    if result.level1.test_fnames.size == 0:
        log(NO_TEST_SET)
    return result
