"""Paths in a config: a relative ``dataset.path``, ``features.cache_dir`` or
``init_from`` is resolved against the folder of the YAML file; when nothing exists there
and the environment variable ``KERASTAG_DATA`` is set, a relative dataset path is looked
up under that folder instead."""

from __future__ import annotations

import os
from pathlib import Path


def resolve_data_path(path: str, base_dir: Path) -> Path:
    """Resolve a dataset path against ``base_dir``, then under ``$KERASTAG_DATA``."""
    candidate = resolve_path(path, base_dir)
    data_root = os.environ.get("KERASTAG_DATA")
    if not candidate.exists() and data_root and not Path(path).expanduser().is_absolute():
        alternative = Path(data_root).expanduser() / path
        if alternative.exists():
            return alternative.resolve()
    return candidate


def resolve_path(path: str, base_dir: Path) -> Path:
    """``path`` ($VARS and ~ expanded) against ``base_dir`` unless absolute."""
    p = Path(os.path.expandvars(path)).expanduser()
    return p if p.is_absolute() else (base_dir / p).resolve()
