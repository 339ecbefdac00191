"""A saved level-2 (stacking) model: ``level2.json`` plus ``level2_meta.json``.

``level2.json`` is XGBoost's own JSON model format (``XGBClassifier.save_model``), so
any XGBoost can open it. ``level2_meta.json`` says how to build its input: ``format``
(:data:`META_FORMAT`), ``model_order`` (the level-1 rows), ``classes``,
``feature_names`` (the meta-feature columns, in order), ``n_mfcc`` (MFCC coefficients of
the statistics, 0 for none), ``seed``, ``params``, ``n_train_clips``, ``run_dir`` (the
level-1 run) and ``xgboost_version``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from kerastag.errors import ModelError
from kerastag.fileio import atomic_path, write_text_atomic

LEVEL2_MODEL_FILE = "level2.json"
LEVEL2_META_FILE = "level2_meta.json"
META_FORMAT = "kerastag-level2"


def save_level2(model, meta: Mapping, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Save a level-2 model as XGBoost JSON (``level2.json``) plus ``level2_meta.json``.

    Args:
        model: the fitted ``XGBClassifier``.
        meta: the metadata (module docstring).
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
    """Load a level-2 model saved by :func:`save_level2`.

    Args:
        path_dir: the folder holding ``level2.json`` and ``level2_meta.json``.

    Returns:
        ``(model, meta)``: the ``XGBClassifier`` (using every CPU) and the metadata dict.

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
