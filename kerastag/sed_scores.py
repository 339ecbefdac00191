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


def event_f1(reference: pd.DataFrame, estimated: pd.DataFrame, *, files: Sequence[str],
             label: str, t_collar: float = 0.2, percentage_of_length: float = 0.5) -> float:
    """Event-based F1 of one label over ``files`` (as :func:`score_events` defines it).

    Unlike :func:`score_events`, every file of ``files`` counts, also one without
    reference events of ``label`` (its estimates are insertions). Used by
    ``calibrate --events``, which calls it a few hundred times per tag.

    Args:
        reference, estimated: validated event lists (any labels; only ``label`` counts).
        files: the recordings scored, as named in the lists' ``filename``.

    Returns:
        F1 in ``[0, 1]``; 1 when there was nothing to find and nothing was found.
    """
    import dcase_util
    import sed_eval

    metrics = sed_eval.sound_event.EventBasedMetrics(
        event_label_list=[label], t_collar=t_collar, percentage_of_length=percentage_of_length,
        evaluate_onset=True, evaluate_offset=True)
    ref = reference[reference["event_label"] == label]
    est = estimated[estimated["event_label"] == label]
    ref_by_file = dict(tuple(ref.groupby("filename", sort=False)))
    est_by_file = dict(tuple(est.groupby("filename", sort=False)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name in files:
            metrics.evaluate(
                reference_event_list=_container(dcase_util, ref_by_file.get(name, ref.iloc[:0])),
                estimated_event_list=_container(dcase_util, est_by_file.get(name, est.iloc[:0])))
    counts = metrics.overall
    found, expected = float(counts["Nsys"]), float(counts["Nref"])
    return 1.0 if found + expected == 0 else 2 * float(counts["Ntp"]) / (found + expected)


def check_reference(reference: pd.DataFrame, source: str, *, classes: Sequence[str],
                    durations: dict[str, float] | None = None, tolerance: float = 0.001) -> None:
    """A strong-label reference that decisions can be tuned and scored on.

    Args:
        reference: a validated event list (:func:`read_event_list`).
        source: what the errors name (the file).
        classes: the model's tags.
        durations: recording name -> its length in seconds, when known.
        tolerance: how far (seconds) an event may end past its recording (the list's
            millisecond rounding).

    Raises:
        DatasetError: one line naming ``source``: a label not among ``classes``, two events
            of one label in one file that overlap or touch (sed_scores_eval and the
            matching of sed_eval count them as one), or an event past its recording's end.
    """
    unknown = sorted(set(reference["event_label"]) - set(classes))
    if unknown:
        raise DatasetError(f"{source}: event label(s) {', '.join(map(repr, unknown))} are not "
                           f"the model's tags ({', '.join(classes)})")
    for (name, label), events in reference.groupby(["filename", "event_label"], sort=False):
        ordered = events.sort_values("onset")
        onsets, offsets = ordered["onset"].to_numpy(), ordered["offset"].to_numpy()
        clash = np.flatnonzero(onsets[1:] <= np.maximum.accumulate(offsets)[:-1])
        if len(clash):
            first = clash[0]
            raise DatasetError(f"{source}: {name}: two {label!r} events overlap or touch "
                               f"({onsets[first]:g}-{offsets[first]:g} s and "
                               f"{onsets[first + 1]:g}-{offsets[first + 1]:g} s); merge them "
                               f"into one event")
    if durations is not None:
        for name, events in reference.groupby("filename", sort=False):
            if name in durations and events["offset"].max() > durations[name] + tolerance:
                late = events.loc[events["offset"].idxmax()]
                raise DatasetError(f"{source}: {name}: a {late['event_label']!r} event ends at "
                                   f"{late['offset']:g} s, past the end of the recording "
                                   f"({durations[name]:.3f} s)")


#: Decimals the frame scores are rounded to before sed_scores_eval's threshold sweep.
SCORE_DECIMALS = 3
#: PSDS scenarios of DCASE 2021-2024 task 4 (detection tolerance, ground-truth intersection,
#: cross-trigger tolerance, cross-trigger and instability weights, max eFPR per hour).
PSDS_SCENARIOS = {
    "psds1": {"dtc_threshold": 0.7, "gtc_threshold": 0.7, "cttc_threshold": None,
              "alpha_ct": 0.0, "alpha_st": 1.0, "max_efpr": 100.0},
    "psds2": {"dtc_threshold": 0.1, "gtc_threshold": 0.1, "cttc_threshold": 0.3,
              "alpha_ct": 0.5, "alpha_st": 1.0, "max_efpr": 100.0},
}


def threshold_free_scores(reference: pd.DataFrame, frame_scores: dict[str, Any], *,
                          classes: Sequence[str], t_collar: float = 0.2,
                          percentage_of_length: float = 0.5,
                          score_decimals: int | None = SCORE_DECIMALS) -> dict[str, Any]:
    """PSDS (scenarios 1 and 2) and the best collar-based F1 over thresholds, computed by
    ``sed_scores_eval`` (Ebbers, Serizel & Haeb-Umbach, ICASSP 2022) on frame scores.

    Tags without a reference event are left out (``sed_scores_eval`` needs at least one
    per tag; their entries are ``None``). The scores are rounded to ``score_decimals``
    first: the library sweeps every distinct score as a threshold, and on 20 minutes of
    32 ms frames the exact sweep took over 10 minutes and 5 GB where 3 decimals take
    about 35 s (on one minute of the long demo, PSDS agreed to 4 decimals and the best
    F1 to 0.001). ``None`` sweeps the exact scores.

    Args:
        reference: a validated event list; its recordings are the ones scored.
        frame_scores: recording name -> :class:`kerastag.formats.frame_scores.FrameScores`
            (tags in ``classes`` order), one for every recording of the reference.
        classes: the tags.
        t_collar, percentage_of_length: the collar-based F1's onset and offset tolerances,
            as :func:`score_events`' event-based ones.

    Returns:
        ``psds1``, ``psds2``, ``class_psds1`` / ``class_psds2`` (tag -> PSDS),
        ``best_f1_macro`` (mean over tags of each tag's best F1), ``class_best_f1`` and
        ``class_best_threshold`` (tag -> F1 and the threshold giving it), the scenarios'
        parameters and ``score_decimals``.
    """
    from sed_scores_eval import collar_based, intersection_based

    names = list(dict.fromkeys(reference["filename"]))
    scored = [tag for tag in classes if tag in set(reference["event_label"])]
    found: dict[str, Any] = {"psds_scenarios": PSDS_SCENARIOS, "score_decimals": score_decimals}
    for key in ("psds1", "psds2", "best_f1_macro"):
        found[key] = None
    for key in ("class_psds1", "class_psds2", "class_best_f1", "class_best_threshold"):
        found[key] = dict.fromkeys(classes)
    if not scored:
        return found
    scores = {name: _score_frame(frame_scores[name], list(classes), scored, score_decimals)
              for name in names}
    truth = {name: [] for name in names}
    for name, onset, offset, label in reference[list(COLUMNS)].itertuples(index=False):
        truth[name].append((float(onset), float(offset), str(label)))
    durations = {name: frame_scores[name].duration for name in names}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for scenario, parameters in PSDS_SCENARIOS.items():
            value, per_class, *_ = intersection_based.psds(
                scores=scores, ground_truth=truth, audio_durations=durations, **parameters)
            found[scenario] = float(value)
            found[f"class_{scenario}"].update({str(k): float(v) for k, v in per_class.items()})
        f1, _, _, threshold, _ = collar_based.best_fscore(
            scores=scores, ground_truth=truth, onset_collar=t_collar, offset_collar=t_collar,
            offset_collar_rate=percentage_of_length)
    found["best_f1_macro"] = float(f1["macro_average"])
    found["class_best_f1"].update({tag: float(f1[tag]) for tag in scored})
    found["class_best_threshold"].update({tag: float(threshold[tag]) for tag in scored})
    return found


def _score_frame(scores: Any, classes: list[str], scored: list[str],
                 decimals: int | None) -> pd.DataFrame:
    """One recording's frame scores as sed_scores_eval's DataFrame (``scored`` tags only)."""
    from sed_scores_eval.base_modules.scores import create_score_dataframe

    values = scores.scores[:, [classes.index(tag) for tag in scored]].astype(np.float64)
    if decimals is not None:
        values = np.round(values, decimals)
    return _WritableScores(create_score_dataframe(values, scores.timestamps, scored))


def score_frame_scores(reference: str | os.PathLike | pd.DataFrame,
                       scores_dir: str | os.PathLike, *, thresholds=None,
                       t_collar: float = 0.2, percentage_of_length: float = 0.5,
                       time_resolution: float = 1.0) -> dict[str, Any]:
    """``score-events REFERENCE SCORES_DIR``: the frame scores of ``predict --events
    --scores`` decided into events and scored as :func:`score_events` does, plus the
    threshold-free scores (:func:`threshold_free_scores`).

    Args:
        reference: the reference event list; its recordings are scored, each needs its
            frame-score file.
        scores_dir: the folder of ``<recording stem>.tsv`` files.
        thresholds: how frames become events: a thresholds file (its frame thresholds if
            it has them, else its clip ones with the default post-processing), one number
            for every tag, or None (0.5 and ``predict --events``' default post-processing).

    Returns:
        :func:`score_events`' dict (over the files' tags), the threshold-free entries, and
        ``decisions`` (where the decisions came from).

    Raises:
        DatasetError: a malformed reference or scores file, a recording without scores,
            a reference label not among the scores' tags, events of one label that overlap,
            or an event past its recording's end.
        ThresholdError: a thresholds file that does not fit the tags.
    """
    from kerastag.decisions import FrameDecision, frame_events
    from kerastag.formats.frame_scores import read_scores_folder
    from kerastag.formats.thresholds import decisions_from

    source = str(reference) if not isinstance(reference, pd.DataFrame) else "reference events"
    ref = _as_event_list(reference, "reference")
    names = list(dict.fromkeys(ref["filename"]))
    if not names:
        raise DatasetError(f"{source}: the reference has no events: nothing to score against")
    frames = read_scores_folder(scores_dir, names)
    classes = list(frames[names[0]].classes)
    check_reference(ref, source, classes=classes,
                    durations={name: scores.duration for name, scores in frames.items()})
    chosen = decisions_from(thresholds, classes, default=[FrameDecision()] * len(classes))
    rows = [(name, onset, offset, label) for name in names
            for onset, offset, label in frame_events(
                frames[name].scores, chosen.decisions, classes,
                frame_hop_seconds=frames[name].frame_hop_seconds,
                duration=frames[name].duration)]
    estimated = pd.DataFrame(rows, columns=list(COLUMNS))
    found = score_events(ref, estimated, labels=classes, t_collar=t_collar,
                         percentage_of_length=percentage_of_length,
                         time_resolution=time_resolution)
    found.update(threshold_free_scores(ref, frames, classes=classes, t_collar=t_collar,
                                       percentage_of_length=percentage_of_length))
    found["decisions"] = chosen.source
    return found


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
    if "psds1" in scores:
        lines += [
            f"threshold-free (sed_scores_eval, on the frame scores): PSDS1 {_fmt(scores['psds1'])}"
            f"  PSDS2 {_fmt(scores['psds2'])}  best collar-based F1 (macro over tags) "
            f"{_fmt(scores['best_f1_macro'])}",
            "best F1 per class (at threshold): " + "  ".join(
                f"{tag} {_fmt(value)} ({scores['class_best_threshold'][tag]:.2f})"
                for tag, value in scores["class_best_f1"].items()),
        ]
    return lines


# --------------------------------------------------------------------------- helpers


class _WritableScores(pd.DataFrame):
    """A score DataFrame whose ``to_numpy()`` is a writable copy.

    sed_scores_eval 0.0.4 (the release on PyPI) passes ``DataFrame.to_numpy()`` to
    Cython code that needs a writable buffer; under pandas 3's copy-on-write that is a
    read-only view ("buffer source array is read-only"). Fixed upstream
    (fgnt/sed_scores_eval pull request 17) but not released; remove once it is.
    """

    @property
    def _constructor(self):
        return _WritableScores

    def to_numpy(self, *args, **kwargs):
        return np.array(super().to_numpy(*args, **kwargs))


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


__all__ = ["COLUMNS", "read_event_list", "score_events", "write_scores", "format_scores",
           "event_f1", "check_reference", "threshold_free_scores", "score_frame_scores",
           "PSDS_SCENARIOS"]
