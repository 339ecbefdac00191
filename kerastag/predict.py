"""``kerastag predict``: score audio files with a saved model, whatever its task.

The model's task (recorded in its ``.keras`` metadata; a folder holding ``level2.json``
is a paper-B stack) picks the predictor of :data:`kerastag.names.PREDICTORS`. Every
predictor returns a frame with ``file``, one column per class and ``tags``.

Which files, and how outputs name them (:func:`expand_inputs`, the one place): a folder
given on the command line stands for every file under it (recursively) that the installed
libsndfile reads (:data:`kerastag.audio.AUDIO_EXTENSIONS`: WAV, FLAC, OGG/Vorbis/Opus
incl. ``.oga``/``.opus``, MP3, AIFF, ...); its files of audio formats libsndfile cannot
read (``.m4a``, ``.aac``, ...) are named in one warning line on stderr, not scored. A file
of a folder is named in every output (the scores CSV's ``file``, ``events.tsv``'s
``filename``, plot names) by its path relative to that folder (``day1/rec.wav``), so two
``rec.wav`` in two sub-folders stay two. A file named directly keeps the name as given in
the scores CSV, and its own file name in ``events.tsv`` and plot names (as DCASE event
lists name files); where two inputs would share a name, they are named by their full path.
Plot names are made from those names (:func:`kerastag.formats.output_names.output_stems`):
folders joined by ``__`` (``day1__rec.png``), with the extension kept where two would
clash (``rec.wav.png``, ``rec.flac.png``).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pandas as pd

from kerastag.audio import AUDIO_EXTENSIONS
from kerastag.errors import AudioError, ModelError
from kerastag.fileio import atomic_path
from kerastag.formats.model_file import read_model_info
from kerastag.names import PREDICTORS, resolve
from kerastag.formats.output_names import unique_names

#: Audio formats libsndfile does not read: a folder's files of these are named in a
#: warning rather than skipped without a word (convert them, e.g. to FLAC).
UNREADABLE_AUDIO_EXTENSIONS = (".m4a", ".aac", ".mp4", ".wma", ".webm", ".amr", ".ape",
                               ".mka", ".3gp", ".alac", ".dsf")
#: How many unreadable files the warning names before it says "...".
_WARN_NAMES = 5


@dataclasses.dataclass(frozen=True)
class AudioInput:
    """One file to score and how the outputs name it (see the module docstring).

    Attributes:
        path: the file to read.
        key: its ``file`` in the scores CSV (relative to the folder given, or as given).
        name: its ``filename`` in ``events.tsv`` and the basis of its plot names.
    """

    path: Path
    key: str
    name: str


def expand_inputs(paths, *, warn=None) -> list[AudioInput]:
    """Files as given, folders replaced by their readable audio files (sorted, recursive).

    Args:
        paths: files and folders, as given on the command line.
        warn: called with one line naming a folder's files of unreadable audio formats
            (default: printed to stderr).

    Raises:
        AudioError: a path that does not exist, or no audio file at all.
    """
    found: list[tuple[Path, str, str]] = []  # (path, relative or as given, short name)
    unreadable: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                relative = file.relative_to(path).as_posix()
                if file.suffix.lower() in AUDIO_EXTENSIONS:
                    found.append((file, relative, relative))
                elif file.suffix.lower() in UNREADABLE_AUDIO_EXTENSIONS:
                    unreadable.append(file)
        elif path.exists():
            found.append((path, str(path), path.name))
        else:
            raise AudioError(f"{path}: audio file not found")
    if unreadable:
        (warn or _print_to_stderr)(_unreadable_warning(unreadable))
    if not found:
        raise AudioError(f"no audio files in {', '.join(map(str, paths))}")
    keys = unique_names([key for _, key, _ in found], [str(path) for path, _, _ in found])
    names = unique_names([name for _, _, name in found], keys)
    return [AudioInput(path, key, name) for (path, _, _), key, name in zip(found, keys, names)]


def expand_paths(paths) -> list[Path]:
    """The files :func:`expand_inputs` scores, in its order."""
    return [item.path for item in expand_inputs(paths)]


def _unreadable_warning(files: list[Path]) -> str:
    names = ", ".join(map(str, files[:_WARN_NAMES])) + (", ..." if len(files) > _WARN_NAMES else "")
    return (f"warning: {len(files)} audio file(s) of a format libsndfile cannot read were not "
            f"scored (convert them, e.g. to FLAC or WAV): {names}")


def _print_to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


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
    task = "stacking" if model_path.is_dir() else read_model_info(model_path).task
    if task not in PREDICTORS:
        raise ModelError(f"{model_path}: no predictor for task {task!r}")
    inputs = expand_inputs(paths)
    frame = resolve(PREDICTORS[task])(model_path, [item.path for item in inputs],
                                      threshold=threshold, plot_dir=plot_dir,
                                      names=[item.name for item in inputs])
    frame["file"] = [item.key for item in inputs]
    if out_csv is not None:
        write_scores_csv(frame, out_csv)
    return frame


def predict_events(model_path: Path, paths, *, out_path: Path, thresholds_path: Path | None = None,
                   settings=None, out_csv: Path | None = None, plot_dir: Path | None = None,
                   scores_dir: Path | None = None, log=print):
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
    inputs = expand_inputs(paths)
    clips, events = detect_events(model_path, [item.path for item in inputs],
                                  out_path=Path(out_path), thresholds_path=thresholds_path,
                                  settings=settings or EventSettings(), plot_dir=plot_dir,
                                  scores_dir=scores_dir, log=log, names=[item.name for item in inputs])
    clips["file"] = [item.key for item in inputs]
    if out_csv is not None:
        write_scores_csv(clips, out_csv)
    return clips, events


def write_scores_csv(frame: pd.DataFrame, out_csv: Path) -> Path:
    """The scores frame as CSV at ``out_csv``, atomically."""
    with atomic_path(out_csv) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(out_csv)
