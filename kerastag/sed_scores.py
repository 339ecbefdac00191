"""Sound event detection scores of DCASE (event-based and segment-based), via ``sed_eval``.

An event list is a table of events ``filename, onset, offset, event_label`` (seconds),
read from the DCASE text format (:mod:`kerastag.formats.event_list`, re-exported here as
:func:`read_event_list`). :func:`score_events` compares
an estimated list with a reference one file by file (the files of the reference; a file
without estimated events is scored against an empty list; estimated events of other files
are ignored) with the DCASE toolbox ``sed_eval`` (Mesaros, Heittola & Virtanen, "Metrics
for polyphonic sound event detection", 2016). Its definitions:

- **Event-based**: an estimated event is a true positive when a reference event of the
  same label has its onset within ``t_collar`` seconds and, when offsets are evaluated,
  its offset within ``max(t_collar, percentage_of_length * reference length)``; events
  are paired one to one (an optimal matching). An unmatched estimate whose times match an
  unmatched reference event of another label is a substitution S; the other unmatched
  estimates are insertions I, the other unmatched references deletions D.
  ``F1 = 2 TP / (N_ref + N_est)`` over all events (precision ``TP / N_est``, recall
  ``TP / N_ref``); ``ER = (S + D + I) / N_ref``. ``event_onset_*`` are the same with
  onsets only (``evaluate_offset=False``). A shifted onset beyond the collar is thus a
  deletion plus an insertion (ER 2 for one event).
- **Segment-based**: time is cut into segments of ``time_resolution`` seconds; in each
  segment a label is active when an event of it overlaps the segment. Per segment,
  ``S = min(FN, FP)``, ``D = max(0, FN - FP)``, ``I = max(0, FP - FN)``; F1 and
  ``ER = (S + D + I) / N_ref`` are computed over all segments' label activities.

F1 is reported as 0 (not ``sed_eval``'s NaN) when nothing was estimated but something
was expected (``2 TP / (N_ref + N_est)`` is then 0); it is ``None`` when both lists
are empty. This module imports only numpy, pandas, ``sed_eval``/``dcase_util`` (lazily)
and :mod:`kerastag.errors` / :mod:`kerastag.fileio` / :mod:`kerastag.formats.event_list`:
no TensorFlow.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from kerastag.checks import check_number
from kerastag.errors import DatasetError
from kerastag.fileio import atomic_path
from kerastag.formats.event_list import COLUMNS, read_event_list, validated_events


def score_events(reference: str | os.PathLike | pd.DataFrame,
                 estimated: str | os.PathLike | pd.DataFrame, *,
                 labels: Sequence[str] | None = None, t_collar: float = 0.2,
                 percentage_of_length: float = 0.5, time_resolution: float = 1.0,
                 ) -> dict[str, Any]:
    """Event-based and segment-based scores of ``estimated`` against ``reference``.

    Args:
        reference, estimated: event lists, as paths (:func:`read_event_list`) or DataFrames
            with the columns of :data:`COLUMNS`.
        labels: the event labels scored (default: those of either list, sorted); an
            event with another label is an error.
        t_collar: onset (and minimum offset) tolerance in seconds.
        percentage_of_length: offset tolerance as a share of the reference event's length.
        time_resolution: segment length in seconds of the segment-based scores.

    Returns:
        A flat dict: ``event_f1``, ``event_error_rate``, ``event_precision``,
        ``event_recall``, ``event_onset_f1``, ``event_onset_error_rate``, ``segment_f1``,
        ``segment_error_rate``, ``segment_precision``, ``segment_recall``,
        ``class_event_f1`` (label -> event-based F1, ``None`` for a label with no
        reference and no estimated event), ``n_reference_events``,
        ``n_estimated_events`` (in the reference's files), ``n_files``, ``labels`` and the
        three parameters. See the module docstring for the definitions.

    Raises:
        DatasetError: a malformed list, a bad parameter, a label outside ``labels``, or
            estimated events none of whose files is in the reference.
    """
    t_collar = check_number("t_collar", t_collar, minimum=0.0, error=DatasetError)
    percentage_of_length = check_number("percentage_of_length", percentage_of_length,
                                        minimum=0.0, error=DatasetError)
    time_resolution = check_number("time_resolution", time_resolution, above=0.0,
                                   error=DatasetError)
    ref = _as_event_list(reference, "reference")
    est = _as_event_list(estimated, "estimated")
    files = list(dict.fromkeys(ref["filename"]))
    if len(est) and not files:
        raise DatasetError("the reference has no events: nothing to score against")
    if len(est) and not set(est["filename"]) & set(files):
        raise DatasetError(f"no file of the estimated events is in the reference "
                           f"(e.g. {est['filename'].iloc[0]!r} vs {files[0]!r}); "
                           "the filename columns must match")
    est = est[est["filename"].isin(files)]
    found = sorted(set(ref["event_label"]) | set(est["event_label"]))
    if labels is None:
        labels = found
    else:
        labels = [str(label) for label in labels]
        unknown = [label for label in found if label not in labels]
        if unknown:
            raise DatasetError(f"event label(s) {', '.join(map(repr, unknown))} not among the "
                               f"labels scored ({', '.join(labels)})")

    import dcase_util
    import sed_eval

    events_full = sed_eval.sound_event.EventBasedMetrics(
        event_label_list=list(labels), t_collar=t_collar,
        percentage_of_length=percentage_of_length, evaluate_onset=True, evaluate_offset=True)
    events_onset = sed_eval.sound_event.EventBasedMetrics(
        event_label_list=list(labels), t_collar=t_collar,
        percentage_of_length=percentage_of_length, evaluate_onset=True, evaluate_offset=False)
    segments = sed_eval.sound_event.SegmentBasedMetrics(
        event_label_list=list(labels), time_resolution=time_resolution)
    ref_by_file = dict(tuple(ref.groupby("filename", sort=False)))
    est_by_file = dict(tuple(est.groupby("filename", sort=False)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # sed_eval's means of empty slices
        for name in files:
            ref_list = _container(dcase_util, ref_by_file[name])
            est_list = _container(dcase_util, est_by_file.get(name, est.iloc[:0]))
            for metrics in (events_full, events_onset, segments):
                metrics.evaluate(reference_event_list=ref_list, estimated_event_list=est_list)
        full, onset, segment = events_full.results(), events_onset.results(), segments.results()
    return {
        "event_f1": _f1(full["overall"], events_full.overall),
        "event_error_rate": _number(full["overall"]["error_rate"]["error_rate"]),
        "event_precision": _number(full["overall"]["f_measure"]["precision"]),
        "event_recall": _number(full["overall"]["f_measure"]["recall"]),
        "event_onset_f1": _f1(onset["overall"], events_onset.overall),
        "event_onset_error_rate": _number(onset["overall"]["error_rate"]["error_rate"]),
        "segment_f1": _f1(segment["overall"], segments.overall),
        "segment_error_rate": _number(segment["overall"]["error_rate"]["error_rate"]),
        "segment_precision": _number(segment["overall"]["f_measure"]["precision"]),
        "segment_recall": _number(segment["overall"]["f_measure"]["recall"]),
        "class_event_f1": {label: _f1(full["class_wise"][label], events_full.class_wise[label])
                           for label in labels},
        "n_reference_events": int(len(ref)),
        "n_estimated_events": int(len(est)),
        "n_files": len(files),
        "labels": list(labels),
        "t_collar": t_collar,
        "percentage_of_length": percentage_of_length,
        "time_resolution": time_resolution,
    }


def write_scores(path: str | os.PathLike, scores: dict[str, Any]) -> Path:
    """Write ``scores`` as indented JSON through a temporary file and a rename (NaN -> null)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_json_safe(scores), indent=2) + "\n", encoding="utf-8")
    return Path(path)


def format_scores(scores: dict[str, Any]) -> list[str]:
    """A few lines for a terminal: the event-based, onset-only and segment-based figures."""
    share = f"{scores['percentage_of_length']:.0%}"
    lines = [
        f"event-based (collar {scores['t_collar']:g} s, offset {share} of length): "
        f"F1 {_fmt(scores['event_f1'])}  ER {_fmt(scores['event_error_rate'])}",
        f"event-based, onset only: F1 {_fmt(scores['event_onset_f1'])}  "
        f"ER {_fmt(scores['event_onset_error_rate'])}",
        f"segment-based ({scores['time_resolution']:g} s): F1 {_fmt(scores['segment_f1'])}  "
        f"ER {_fmt(scores['segment_error_rate'])}",
        "event F1 per class: " + "  ".join(f"{label} {_fmt(value)}" for label, value
                                           in scores["class_event_f1"].items()),
        f"{scores['n_reference_events']} reference events, {scores['n_estimated_events']} "
        f"estimated, {scores['n_files']} files",
    ]
    return lines


# --------------------------------------------------------------------------- helpers


def _as_event_list(events: Any, role: str) -> pd.DataFrame:
    """A path or a DataFrame as a validated event list."""
    if isinstance(events, pd.DataFrame):
        missing = [name for name in COLUMNS if name not in events.columns]
        if missing:
            raise DatasetError(f"{role} events: missing column(s) {', '.join(missing)}")
        frame = events[list(COLUMNS)].reset_index(drop=True)
        return validated_events(frame, f"{role} events", [i + 1 for i in range(len(frame))],
                          what="row")
    if isinstance(events, (str, os.PathLike)):
        return read_event_list(events)
    raise DatasetError(f"{role} events: expected a path or a DataFrame, "
                       f"got {type(events).__name__}")


def _container(dcase_util: Any, frame: pd.DataFrame) -> Any:
    """One file's events as the ``MetaDataContainer`` sed_eval expects."""
    return dcase_util.containers.MetaDataContainer([
        {"filename": name, "onset": float(onset), "offset": float(offset), "event_label": label}
        for name, onset, offset, label in frame[list(COLUMNS)].itertuples(index=False)])


def _f1(results: dict[str, Any], counts: dict[str, Any]) -> float | None:
    """sed_eval's F1, or 0 where it is NaN only because nothing was estimated."""
    value = _number(results["f_measure"]["f_measure"])
    if value is None and float(counts["Nref"]) + float(counts["Nsys"]) > 0:
        return 2 * float(counts["Ntp"]) / (float(counts["Nref"]) + float(counts["Nsys"]))
    return value


def _number(value: Any) -> float | None:
    """A plain float, ``None`` for NaN."""
    value = float(value)
    return None if math.isnan(value) else value


def _json_safe(value: Any) -> Any:
    """NaN and inf as ``None``, numpy scalars as Python ones, recursively."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


__all__ = ["COLUMNS", "read_event_list", "score_events", "write_scores", "format_scores"]
