"""Paper B's level 2 on a run folder: MFCC statistics of the clips, then stacking.

:mod:`kerastag.stacking` does the meta-learning on level-1 files; this module supplies
it with the clips' MFCC statistics (from the feature cache) and scores new audio end to
end: every level-1 ``full.keras`` model, then the saved XGBoost level 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kerastag.config import ExperimentConfig
from kerastag.errors import KerastagError


def mfcc_statistics_of_run(config: ExperimentConfig) -> dict[str, np.ndarray]:
    """fname -> max/min/variance/skewness of each MFCC over the whole clip (train + test)."""
    from kerastag.prepare import compute_features, prepare_dataset
    from kerastag.stacking import mfcc_statistics

    clips = [c for c in prepare_dataset(config).clips if c.subset in ("train", "test")]
    arrays = compute_features(config, clips, features=config.features.with_type("mfcc"), mmap=True).arrays
    return {clip.clip_id: mfcc_statistics(np.asarray(a[0])) for clip, a in zip(clips, arrays)}


def stack_run(run_dir: Path, out_dir: Path | None = None, *, log=print):
    """Level 2 over a finished paper-B run; returns the stacking result."""
    from kerastag.experiment import read_run_config
    from kerastag.stacking import read_level1, run_stacking

    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    if config.task != "classification":
        raise KerastagError(f"{run_dir}: stacking needs a paper-B (task: classification) run")
    rows = [row.name for row in config.rows]
    read_level1(run_dir, rows)  # check every model's files before the MFCC work
    stack = config.stack
    result = run_stacking(run_dir, out_dir, mfcc_stats=mfcc_statistics_of_run(config), rows=rows,
                          seed=stack.seed if stack else config.seed,
                          n_jobs=stack.n_jobs if stack else None)
    table = Path(out_dir or run_dir / "stack") / "table.csv"
    log(pd.read_csv(table).to_string(index=False, float_format="%.4f"))
    return result


def predict_stacked(stack_dir: Path, paths) -> pd.DataFrame:
    """Score audio end to end: each level-1 ``full.keras`` model, MFCC statistics, level 2.

    The level-1 models are those of the run the stack was fitted on (``run_dir`` in
    ``level2_meta.json``, else the stack folder's parent), in the recorded model order.
    """
    from kerastag.experiment import read_run_config
    from kerastag.predict import classification_features, classification_probs, expand_paths, probability_frame
    from kerastag.prepare import feature_spec
    from kerastag.stacking import load_level2, mfcc_statistics, predict_level2

    model, meta = load_level2(stack_dir)
    run_dir = Path(meta.get("run_dir") or Path(stack_dir).parent)
    files = expand_paths(paths)
    blocks = []
    for row in meta["model_order"]:
        probs, classes = classification_probs(run_dir / "models" / row / "full.keras", files)
        if list(classes) != list(meta["classes"]):
            raise KerastagError(f"{run_dir / 'models' / row / 'full.keras'}: classes differ from "
                                f"the level-2 model's")
        blocks.append(probs)
    if meta.get("n_mfcc", 0):
        spec = feature_spec(read_run_config(run_dir).features.with_type("mfcc"))
        blocks.append(np.stack([mfcc_statistics(classification_features(spec, f)[0]) for f in files]))
    probs = predict_level2(model, meta, np.hstack(blocks))
    return probability_frame(files, probs, meta["classes"])
