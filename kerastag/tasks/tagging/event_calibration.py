"""``kerastag calibrate RUN_DIR --events REF.tsv --audio DIR``: per-tag frame decisions
tuned on recordings with strong labels.

Paper A's CRNN learns from clip labels; its frame scores are not calibrated for
placing events. Given recordings with a DCASE reference event list (the long demo, or
a user's own annotated minutes), each row's saved models stream the recordings
(:func:`~kerastag.tasks.tagging.events.stream_frame_scores`, as ``predict --events``
does) and each tag's :class:`~kerastag.decisions.FrameDecision` is chosen to maximise
that tag's event-based F1 (collar 0.2 s, offsets within the collar or half the
reference event's length: what ``kerastag score-events`` reports), pooled over the
recordings and the row's models (so the thresholds hold for any model of the row).

The search (coordinate ascent on a grid, a tag at a time):

- start at ``predict --events``' defaults: threshold 0.5, no hysteresis, median filter
  0.25 s, minimum event and gap 0.1 s;
- in turn, try every value of one setting with the others fixed and keep the best
  strict improvement: ``high`` in 0.05 ... 0.95 (step 0.05), ``low`` as ``high`` times
  1, 0.75, 0.5 or 0.25, ``median_seconds`` in 0, 0.1, 0.25, 0.5, 1, 2,
  ``min_event_seconds`` in 0, 0.1, 0.25, 0.5, 1 and ``min_gap_seconds`` in 0, 0.1,
  0.25, 0.5, 1, 2;
- repeat until a round changes nothing (at most 4 rounds);
- do the same from two more starting points (:data:`OTHER_STARTS`: gaps closed, long
  smooth events) and keep the best of the three (about 300 scorings a tag, ties to
  the earlier start).

Each scoring runs ``sed_eval`` (:func:`kerastag.sed_scores.event_f1`), so the
figure optimised is the one reported. A tag without reference events keeps the
defaults (a note is logged). A recording of ``DIR`` without reference events counts
(its events are false alarms); a reference recording missing from ``DIR`` is an error.

Files: the frame thresholds go into ``<run>/thresholds/<row>.json`` (beside clip
thresholds already there; :mod:`kerastag.formats.thresholds`), one line per row and tag
into ``<run>/thresholds/events.csv`` with the event F1 before and after, and the same as
a bar chart per row, ``<run>/thresholds/<row>_events.png``.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from kerastag.decisions import FrameDecision, tag_events
from kerastag.errors import DatasetError, ThresholdError
from kerastag.fileio import write_text_atomic
from kerastag.formats import run_folder
from kerastag.formats.thresholds import FrameThresholds, write_thresholds

COLLAR_SECONDS = 0.2
LENGTH_SHARE = 0.5
#: The settings searched and their grids (``low_share``: ``low = high * low_share``).
GRID = {
    "high": tuple(round(0.05 * k, 2) for k in range(1, 20)),
    "low_share": (1.0, 0.75, 0.5, 0.25),
    "median_seconds": (0.0, 0.1, 0.25, 0.5, 1.0, 2.0),
    "min_event_seconds": (0.0, 0.1, 0.25, 0.5, 1.0),
    "min_gap_seconds": (0.0, 0.1, 0.25, 0.5, 1.0, 2.0),
}
START = {"high": 0.5, "low_share": 1.0, "median_seconds": 0.25, "min_event_seconds": 0.1,
         "min_gap_seconds": 0.1}
#: Further starting points (coordinate ascent finds a local best): events that need
#: their gaps closed (a repeated motif annotated as one event) and long, smooth ones.
OTHER_STARTS = (
    {"median_seconds": 0.5, "min_gap_seconds": 1.0, "low_share": 0.5},
    {"median_seconds": 1.0, "min_gap_seconds": 2.0, "min_event_seconds": 0.5, "low_share": 0.5},
)
MAX_ROUNDS = 4
SUMMARY_COLUMNS = ("row", "tag", "reference_events", "high", "low", "median_seconds",
                   "min_event_seconds", "min_gap_seconds", "event_f1_default", "event_f1")


@dataclasses.dataclass(frozen=True)
class Recording:
    """One tag's frame scores of one (model, recording) pair, ready to decide on."""

    key: str              # the name the evaluation uses: "<unit>/<recording name>"
    scores: np.ndarray    # (frames,) float32
    frame_hop_seconds: float
    duration: float


@dataclasses.dataclass(frozen=True)
class TagResult:
    tag: str
    decision: FrameDecision
    reference_events: int
    f1_default: float
    f1: float
    scorings: int


def decision_of(setting: dict[str, float]) -> FrameDecision:
    """The :class:`FrameDecision` of a point of the search grid."""
    return FrameDecision(high=setting["high"], low=round(setting["high"] * setting["low_share"], 4),
                         median_seconds=setting["median_seconds"],
                         min_event_seconds=setting["min_event_seconds"],
                         min_gap_seconds=setting["min_gap_seconds"])


def tune_tag(tag: str, recordings: Sequence[Recording], reference: pd.DataFrame, *,
             collar: float = COLLAR_SECONDS) -> TagResult:
    """The search of the module docstring for one tag.

    Args:
        tag: the tag.
        recordings: its frame scores, one per (model, recording); ``reference`` names
            them by their ``key``.
        reference: the reference events (every tag; only ``tag``'s count).
    """
    from kerastag.sed_scores import event_f1

    files = [recording.key for recording in recordings]
    reference = reference[reference["event_label"] == tag]
    scorings = 0

    def score(setting: dict[str, float]) -> float:
        nonlocal scorings
        scorings += 1
        decision = decision_of(setting)
        rows = [(r.key, onset, offset, tag) for r in recordings
                for onset, offset in tag_events(r.scores, decision,
                                                frame_hop_seconds=r.frame_hop_seconds,
                                                duration=r.duration)]
        estimated = pd.DataFrame(rows, columns=["filename", "onset", "offset", "event_label"])
        return event_f1(reference, estimated, files=files, label=tag, t_collar=collar,
                        percentage_of_length=LENGTH_SHARE)

    f1_default = score(START)
    best, chosen = f1_default, dict(START)
    if len(reference):
        for start in (START, *({**START, **other} for other in OTHER_STARTS)):
            f1, setting = _ascend(score, dict(start), f1_default if start is START else None)
            if f1 > best + 1e-12:
                best, chosen = f1, setting
    return TagResult(tag=tag, decision=decision_of(chosen), reference_events=len(reference),
                     f1_default=f1_default, f1=best, scorings=scorings)


def _ascend(score: Callable[[dict], float], current: dict[str, float],
            known: float | None) -> tuple[float, dict[str, float]]:
    """Coordinate ascent over :data:`GRID` from ``current`` (scored ``known`` if given)."""
    best = score(current) if known is None else known
    for _ in range(MAX_ROUNDS):
        changed = False
        for name, values in GRID.items():
            for value in values:
                if value == current[name]:
                    continue
                trial = dict(current, **{name: value})
                f1 = score(trial)
                if f1 > best + 1e-12:
                    best, current, changed = f1, trial, True
        if not changed:
            break
    return best, current


def calibrate_events(run_dir, *, reference, audio, rows: Sequence[str] | None = None,
                     units: Sequence[str] | None = None, collar: float = COLLAR_SECONDS,
                     log: Callable[[str], None] = print) -> list[Path]:
    """Tune frame decisions for the rows of a paper-A run; see the module docstring.

    Args:
        run_dir: the run folder.
        reference: the DCASE reference event list of the recordings.
        audio: the folder (or file) of the recordings; the reference's ``filename`` is a
            recording's path relative to it.
        rows: the rows to calibrate (default: every row with a saved model that has
            frame outputs).
        units: the models of each row to pool (default: every saved one, e.g.
            ``fold0`` ... ``fold4``).
        collar: the event-based collar in seconds.

    Returns:
        The files written: ``thresholds/<row>.json`` and ``<row>_events.png`` per row,
        then ``thresholds/events.csv``.

    Raises:
        KerastagError: (one line) not a tagging run, no such row or unit, no model with
            frame outputs, a reference naming a recording not in ``audio``, a label that
            is not a tag of the model, overlapping events of one tag, or an event past
            its recording's end.
    """
    from kerastag.predict import expand_inputs
    from kerastag.sed_scores import read_event_list
    from kerastag.tasks.tagging.calibrate import check_tagging_run, read_run_config

    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    check_tagging_run(run_dir, config)
    models = _row_models(run_dir, config, rows, units)
    events = read_event_list(reference)
    inputs = expand_inputs([audio])
    by_name = {item.name: item.path for item in inputs}
    missing = [name for name in dict.fromkeys(events["filename"]) if name not in by_name]
    if missing:
        raise DatasetError(f"{reference}: recording {missing[0]!r} is not in {audio} (its "
                           f"recordings: {', '.join(list(by_name)[:5])}"
                           f"{', ...' if len(by_name) > 5 else ''})")
    written, summary = [], []
    with run_folder.locked(run_dir):
        tuned = {row: _calibrate_row(row, paths, events, by_name, reference, collar, log)
                 for row, paths in models.items()}  # every row tuned before any file is written
        for row, (results, classes, details) in tuned.items():
            frame = FrameThresholds(
                decisions=tuple(result.decision for result in results),
                collar_seconds=collar,
                details={**details, "event_f1": {r.tag: round(r.f1, 4) for r in results},
                         "event_f1_default": {r.tag: round(r.f1_default, 4) for r in results}})
            written.append(write_thresholds(run_folder.thresholds_path(run_dir, row), classes,
                                            None, criterion=None, row=row,
                                            source=run_dir.resolve(), frame=frame))
            summary += [(row, result) for result in results]
            written.append(_plot(run_dir, row, results))
        written.append(_write_summary(run_folder.event_thresholds_table_path(run_dir), summary))
    return written


def _row_models(run_dir: Path, config, rows, units) -> dict[str, list[Path]]:
    """Row -> its saved models to stream, checked to exist."""
    names = [row.name for row in config.rows]
    wanted = list(rows) if rows else names
    unknown = [row for row in wanted if row not in names]
    if unknown:
        raise ThresholdError(f"{run_dir}: no row {unknown[0]!r}; the run's rows are "
                             f"{', '.join(names)}")
    found = {}
    for row in wanted:
        folder = run_folder.models_dir(run_dir, row)
        paths = sorted(folder.glob("*.keras"))
        if units:
            paths = [p for p in paths if p.name.removesuffix(".keras") in units]
        paths = [p for p in paths if _has_frame_outputs(p)]
        if paths:
            found[row] = paths
        elif rows:
            raise ThresholdError(f"{folder}: no saved model with frame outputs"
                                 f"{' named ' + ', '.join(units) if units else ''} "
                                 f"(paper A's CRNN); finish the run with 'kerastag run' first")
    if not found:
        raise ThresholdError(f"{run_dir}: no row has a saved model with frame outputs (paper "
                             f"A's CRNN); calibrate --events needs one")
    return found


def _has_frame_outputs(path: Path) -> bool:
    from kerastag.errors import KerastagError
    from kerastag.families import family
    from kerastag.formats.model_file import read_model_info

    try:
        info = read_model_info(path)
        return info.task == "tagging" and family(info.family).events
    except KerastagError:  # unreadable, or a family this kerastag does not know
        return False


def _calibrate_row(row: str, paths: list[Path], events: pd.DataFrame, by_name: dict[str, Path],
                   reference_path, collar: float, log) -> tuple[list[TagResult], list[str], dict]:
    """Stream the recordings through the row's models, then tune every tag; returns
    ``(results per tag, classes, what was tuned on)``."""
    from kerastag.sed_scores import check_reference
    from kerastag.tasks.tagging.events import EventSettings, stream_frame_scores
    from kerastag.tasks.tagging.predict import load_event_tagger

    per_tag: dict[int, list[Recording]] = {}
    keyed_events, classes = [], None
    for path in paths:
        frame_model, info, spec = load_event_tagger(path)
        if classes is None:
            classes = list(info.classes)
            check_reference(events, str(reference_path), classes=classes)
        elif list(info.classes) != classes:
            raise ThresholdError(f"{path}: tags {', '.join(info.classes)} differ from the "
                                 f"row's first model's ({', '.join(classes)})")
        unit = path.name.removesuffix(".keras")
        durations = {}
        for name, audio_path in by_name.items():
            log(f"{row}: streaming {name} through {unit} ...")
            streamed = stream_frame_scores(frame_model, spec, audio_path,
                                           window_seconds=info.chunk_seconds,
                                           settings=EventSettings())
            durations[name] = streamed.duration
            for column in range(len(classes)):
                per_tag.setdefault(column, []).append(Recording(
                    key=f"{unit}/{name}", scores=streamed.frames[:, column],
                    frame_hop_seconds=streamed.frame_hop_seconds, duration=streamed.duration))
        check_reference(events, str(reference_path), classes=classes, durations=durations)
        keyed_events.append(events.assign(filename=[f"{unit}/{n}" for n in events["filename"]]))
    pooled = pd.concat(keyed_events, ignore_index=True)
    results = []
    for column, tag in enumerate(classes):
        result = tune_tag(tag, per_tag[column], pooled, collar=collar)
        if not result.reference_events:
            log(f"note: {row}: tag {tag!r} has no reference event; it keeps the defaults")
        log(f"{row}: {tag}: {_decision_text(result.decision)}: event F1 "
            f"{result.f1_default:.3f} -> {result.f1:.3f} ({result.scorings} scorings)")
        results.append(result)
    details = {"models": [str(p) for p in paths], "reference": str(Path(reference_path)),
               "audio": sorted(by_name)}
    return results, classes, details


def _decision_text(decision: FrameDecision) -> str:
    return (f"high {decision.high:.2f} low {decision.low:.3g} median "
            f"{decision.median_seconds:g} s, min event {decision.min_event_seconds:g} s, "
            f"min gap {decision.min_gap_seconds:g} s")


def _plot(run_dir: Path, row: str, results: list[TagResult]) -> Path:
    from kerastag.tasks.tagging.plots import plot_event_calibration

    return plot_event_calibration(
        [r.tag for r in results], [r.f1_default for r in results], [r.f1 for r in results],
        run_folder.event_thresholds_plot_path(run_dir, row),
        title=f"{row}: event F1 on the recordings tuned on")


def _write_summary(path: Path, summary: list[tuple[str, TagResult]]) -> Path:
    frame = pd.DataFrame([(row, r.tag, r.reference_events, r.decision.high, r.decision.low,
                           r.decision.median_seconds, r.decision.min_event_seconds,
                           r.decision.min_gap_seconds, round(r.f1_default, 4), round(r.f1, 4))
                          for row, r in summary], columns=list(SUMMARY_COLUMNS))
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return write_text_atomic(path, buffer.getvalue())
