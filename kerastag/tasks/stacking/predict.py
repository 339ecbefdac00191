"""Scoring audio end to end with a paper-B stack folder: every level-1 ``full.keras``
model, the clip's MFCC statistics, then the saved XGBoost level 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kerastag.config import config_from_run_data
from kerastag.errors import KerastagError, ModelError
from kerastag.formats import run_folder
from kerastag.formats.level2_model import load_level2
from kerastag.tasks.classification.predict import classification_probs, clip_features, probability_frame
from kerastag.tasks.stacking.level2 import predict_level2
from kerastag.tasks.stacking.mfcc_statistics import mfcc_statistics


def predict_files(stack_dir: Path, files: list[Path], *, threshold: float = 0.5,
                  plot_dir: Path | None = None, names: list[str] | None = None) -> pd.DataFrame:
    """``file``, the stacked class probabilities and the top-3 ``tags`` of every file.

    The level-1 models are those of the run the stack was fitted on (``run_dir`` in
    ``level2_meta.json``, else the stack folder's parent), in the recorded model order.
    ``threshold``, ``plot_dir`` and ``names`` (of plots) are accepted for a uniform predictor signature.
    """
    model, meta = load_level2(stack_dir)
    run_dir = Path(meta.get("run_dir") or Path(stack_dir).parent)
    blocks = []
    for row in meta["model_order"]:
        model_path = run_folder.unit_paths(run_dir, row, "full")["model"]
        if not model_path.is_file():
            raise ModelError(f"{stack_dir}: level-1 model {model_path} not found; the stack "
                             f"scores new files with each row's full model (run the config "
                             f"again with kerastag run to train it)")
        probs, classes = classification_probs(model_path, files)
        if list(classes) != list(meta["classes"]):
            raise KerastagError(f"{model_path}: classes differ from the level-2 model's")
        blocks.append(probs)
    if meta.get("n_mfcc", 0):
        config = config_from_run_data(run_folder.read_config_data(run_dir))
        spec = config.features.with_type("mfcc").spec()
        blocks.append(np.stack([mfcc_statistics(clip_features(spec, f)[0]) for f in files]))
    probs = predict_level2(model, meta, np.hstack(blocks))
    return probability_frame(files, probs, meta["classes"])
