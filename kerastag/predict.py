"""``kerastag predict``: score audio files with a saved model, whatever its task.

The model's task (recorded in its ``.keras`` metadata; a folder holding ``level2.json``
is a paper-B stack) picks the predictor of :data:`kerastag.names.PREDICTORS`. Every
predictor returns a frame with ``file``, one column per class and ``tags``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kerastag.audio import AUDIO_EXTENSIONS
from kerastag.errors import AudioError, ModelError
from kerastag.fileio import atomic_path
from kerastag.formats.model_file import read_metadata
from kerastag.names import PREDICTORS, resolve


def expand_paths(paths) -> list[Path]:
    """Files as given, folders replaced by their audio files (sorted, recursive)."""
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
        elif path.exists():
            files.append(path)
        else:
            raise AudioError(f"{path}: audio file not found")
    if not files:
        raise AudioError(f"no audio files in {', '.join(map(str, paths))}")
    return files


def predict_files(model_path: Path, paths, *, threshold: float = 0.5,
                  out_csv: Path | None = None, plot_dir: Path | None = None) -> pd.DataFrame:
    """Score every file with a saved model or a stack folder.

    ``model_path`` is a paper-A tagging model, a paper-B classification model, or a
    paper-B stack folder (holding ``level2.json``: every level-1 model, then level 2).

    Returns:
        A frame with ``file``, one column per class, and ``tags`` (tagging: the classes
        over ``threshold``; classification: the three most probable, best first).
    """
    model_path = Path(model_path)
    task = "stacking" if model_path.is_dir() else read_metadata(model_path, required=("task",))["task"]
    if task not in PREDICTORS:
        raise ModelError(f"{model_path}: no predictor for task {task!r}")
    frame = resolve(PREDICTORS[task])(model_path, expand_paths(paths), threshold=threshold,
                                      plot_dir=plot_dir)
    if out_csv is not None:
        write_scores_csv(frame, out_csv)
    return frame


def predict_events(model_path: Path, paths, *, out_path: Path, thresholds_path: Path | None = None,
                   settings=None, out_csv: Path | None = None, plot_dir: Path | None = None,
                   log=print):
    """``kerastag predict --events``: stream recordings of any length through a paper-A
    CRNN and write the DCASE event list (:mod:`kerastag.tasks.tagging.events`).

    Returns:
        ``(clip scores frame, events frame)``.

    Raises:
        ModelError: a stack folder or a model without frame outputs.
    """
    from kerastag.tasks.tagging.events import EventSettings, detect_events

    model_path = Path(model_path)
    if model_path.is_dir():
        raise ModelError(f"{model_path}: --events needs a tagger with frame outputs (paper "
                         f"A's CRNN); a paper-B stack gives clip outputs only")
    files = expand_paths(paths)
    clips, events = detect_events(model_path, files, out_path=Path(out_path),
                                  thresholds_path=thresholds_path,
                                  settings=settings or EventSettings(), plot_dir=plot_dir,
                                  log=log)
    if out_csv is not None:
        write_scores_csv(clips, out_csv)
    return clips, events


def write_scores_csv(frame: pd.DataFrame, out_csv: Path) -> Path:
    """The scores frame as CSV at ``out_csv``, atomically."""
    with atomic_path(out_csv) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(out_csv)
