"""Per-tag decision thresholds (``kerastag calibrate``): writer and reader.

A thresholds file is JSON (version 2)::

    {"format": "kerastag-thresholds", "version": 2,
     "row": "mixup_a1.5" | null,          the run row they were calibrated for
     "classes": ["c", "m", ...],          the tags, in the model's output order
     "source": "/abs/path/of/the/run",
     "clip": {                            clip thresholds (kerastag calibrate RUN)
        "criterion": "eer" | "f1",        how they were chosen
        "thresholds": {"c": 0.41, ...}},  one number in [0, 1] per tag
     "frame": {                           frame thresholds (kerastag calibrate RUN --events)
        "criterion": "event_f1", "collar_seconds": 0.2,
        "model": ..., "reference": ..., "audio": ...,   what they were tuned on
        "event_f1": {"c": 0.88, ...},     each tag's event F1 there
        "decisions": {"c": {"high": 0.5, "low": 0.12, "median_seconds": 1.0,
                            "min_event_seconds": 0.1, "min_gap_seconds": 0.1}, ...}}}

Either kind may be missing, not both; a file keeps the other kind when one is rewritten.
Clip thresholds decide a clip's tags (``predict``, ``export``); frame thresholds decide
events on frame scores (:mod:`kerastag.decisions`; ``predict --events`` prefers them and
falls back to the clip ones with its own post-processing). A clip carries a tag when its
score is ``>= threshold``.

Version 1 files (``criterion`` and ``thresholds`` at the top level: clip thresholds)
still read. So does the plain text form people write by hand, one ``tag,threshold``
line per tag (clip thresholds; a header line, blank lines and ``#`` comments are skipped;
a tab or spaces may stand for the comma)::

    tag,threshold
    c,0.41
    m,0.3

``kerastag calibrate`` writes ``<run>/thresholds/<row>.json`` per row and a summary
``<run>/thresholds/thresholds.csv`` (``row,criterion,<tag>...``, one line per row).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from kerastag.checks import check_number
from kerastag.decisions import DURATION_FIELDS, FrameDecision
from kerastag.errors import ThresholdError
from kerastag.fileio import atomic_path, write_text_atomic
from kerastag.formats import run_folder
from kerastag.names import CALIBRATION_CRITERIA

FORMAT = "kerastag-thresholds"
VERSION = 2
#: The versions this kerastag reads.
READ_VERSIONS = (1, 2)
#: How ``kerastag calibrate --events`` chooses frame decisions.
FRAME_CRITERIA = ("event_f1",)
#: The keys of one tag's frame decision.
DECISION_KEYS = ("high", "low", *DURATION_FIELDS)
#: How ``kerastag calibrate`` chooses a tag's threshold (see the registry of names).
CRITERIA = CALIBRATION_CRITERIA
REQUIRED_KEYS = ("format", "version", "classes", "thresholds")  # version 1
REQUIRED_KEYS_V2 = ("format", "version", "classes")
SUMMARY_FIXED_COLUMNS = ("row", "criterion")
#: The threshold a tag falls back to when it cannot be calibrated.
DEFAULT_THRESHOLD = 0.5


# ----------------------------------------------------------------------- writing


@dataclasses.dataclass(frozen=True)
class FrameThresholds:
    """Frame decisions tuned on strong labels (``kerastag calibrate --events``).

    Attributes:
        decisions: one :class:`~kerastag.decisions.FrameDecision` per tag, in class order.
        criterion: one of :data:`FRAME_CRITERIA`.
        collar_seconds: the event-based collar the criterion used.
        details: what they were tuned on (``model``, ``reference``, ``audio``) and the
            ``event_f1`` reached per tag; written as given (JSON values).
    """

    decisions: tuple[FrameDecision, ...]
    criterion: str = "event_f1"
    collar_seconds: float = 0.2
    details: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class ThresholdFile:
    """What a thresholds file holds, in the caller's class order.

    Attributes:
        clip: float64 ``(classes,)`` clip thresholds, or None (a frame-only file).
        clip_criterion: how they were chosen (None for the text form or without them).
        frame: the frame thresholds, or None.
    """

    clip: np.ndarray | None
    clip_criterion: str | None
    frame: FrameThresholds | None


def write_thresholds(path: str | os.PathLike, classes: Sequence[str], values, *,
                     criterion: str | None, row: str | None, source: str | os.PathLike | None,
                     frame: FrameThresholds | None = None) -> Path:
    """Write one thresholds file (JSON, through a temporary name and a rename).

    A kind not given (``values`` None, or ``frame`` None) is kept from the file already
    at ``path`` when that file reads with the same classes.

    Args:
        path: the ``.json`` file to write (its folder is created).
        classes: the tag names, in the model's output order.
        values: clip thresholds, shape ``(len(classes),)``, each in ``[0, 1]``; or None.
        criterion: one of :data:`CRITERIA` (for ``values``).
        row: the run row the values belong to, or None.
        source: the run folder they were calibrated from, or None.
        frame: frame thresholds, or None.

    Returns:
        ``path``.

    Raises:
        ThresholdError: an unknown criterion, duplicate tags, a count that differs
            from ``classes``, a value that is not a number in ``[0, 1]``, or neither kind.
    """
    path = Path(path)
    classes = [str(c) for c in classes]
    kept = _existing(path, classes)
    document = {"format": FORMAT, "version": VERSION, "row": row, "classes": classes,
                "source": None if source is None else str(source)}
    if values is not None:
        numbers = _checked_values(path, classes, values)
        if criterion not in CRITERIA:
            raise ThresholdError(f"{path}: unknown criterion {criterion!r}; expected one of "
                                 f"{', '.join(CRITERIA)}")
        document["clip"] = {"criterion": criterion, "thresholds": dict(zip(classes, numbers))}
    elif kept is not None and kept.clip is not None:
        document["clip"] = {"criterion": kept.clip_criterion,
                            "thresholds": dict(zip(classes, map(float, kept.clip)))}
    frame = frame if frame is not None else (kept.frame if kept is not None else None)
    if frame is not None:
        document["frame"] = _frame_document(path, classes, frame)
    if "clip" not in document and "frame" not in document:
        raise ThresholdError(f"{path}: neither clip nor frame thresholds to write")
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def _existing(path: Path, classes: list[str]) -> ThresholdFile | None:
    """The file already at ``path`` when it reads with ``classes``; else None."""
    if not path.is_file():
        return None
    try:
        return read_threshold_file(path, classes)
    except ThresholdError:
        return None


def _frame_document(path: Path, classes: list[str], frame: FrameThresholds) -> dict:
    if frame.criterion not in FRAME_CRITERIA:
        raise ThresholdError(f"{path}: unknown frame criterion {frame.criterion!r}; expected "
                             f"one of {', '.join(FRAME_CRITERIA)}")
    if len(frame.decisions) != len(classes):
        raise ThresholdError(f"{path}: {len(frame.decisions)} frame decisions for "
                             f"{len(classes)} tags ({', '.join(classes)})")
    return {"criterion": frame.criterion, "collar_seconds": float(frame.collar_seconds),
            **frame.details,
            "decisions": {tag: decision.as_dict()
                          for tag, decision in zip(classes, frame.decisions)}}


def _checked_values(path: Path, classes: list[str], values) -> list[float]:
    if len(set(classes)) != len(classes):
        dupes = sorted({c for c in classes if classes.count(c) > 1})
        raise ThresholdError(f"{path}: duplicate tags {', '.join(dupes)}")
    try:
        numbers = [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]
    except (TypeError, ValueError):
        raise ThresholdError(f"{path}: thresholds must be numbers in [0, 1]; got "
                             f"{values!r}") from None
    if len(numbers) != len(classes):
        raise ThresholdError(f"{path}: {len(numbers)} thresholds for {len(classes)} tags "
                             f"({', '.join(classes)})")
    for tag, value in zip(classes, numbers):
        if not 0.0 <= value <= 1.0:
            raise ThresholdError(f"{path}: threshold of tag {tag!r} is {value}, expected a "
                                 f"number in [0, 1]")
    return numbers


def write_thresholds_table(path: str | os.PathLike, classes: Sequence[str],
                           rows: Mapping[str, Sequence[float]], *, criterion: str) -> Path:
    """Write the summary ``thresholds.csv``: ``row,criterion,<tag>...``, one line per row.

    Args:
        path: the CSV file.
        classes: the tag names (the columns after ``row,criterion``).
        rows: row name -> its thresholds, shape ``(len(classes),)``.
        criterion: one of :data:`CRITERIA`.

    Returns:
        ``path``.
    """
    path = Path(path)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*SUMMARY_FIXED_COLUMNS, *classes])
    for row, values in rows.items():
        numbers = _checked_values(path, list(classes), values)
        writer.writerow([row, criterion, *(f"{v:.6f}" for v in numbers)])
    return write_text_atomic(path, buffer.getvalue())


def read_thresholds_table(
        path: str | os.PathLike) -> tuple[list[str], dict[str, tuple[str, np.ndarray]]]:
    """Read a ``thresholds.csv`` written by :func:`write_thresholds_table`.

    Returns:
        ``(classes, {row: (criterion, thresholds (len(classes),))})``.

    Raises:
        ThresholdError: missing file, unexpected header, a line of the wrong length or a
            value that is not a number.
    """
    path = Path(path)
    lines = list(csv.reader(io.StringIO(_read_text(path))))
    header = lines[0] if lines else []
    if tuple(header[:2]) != SUMMARY_FIXED_COLUMNS or len(header) < 3:
        raise ThresholdError(f"{path}: header {','.join(header)!r} is not "
                             f"'row,criterion,<tag>...'")
    classes = header[2:]
    table = {}
    for number, cells in enumerate(lines[1:], start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            raise ThresholdError(f"{path}:{number}: {len(cells)} cells, expected {len(header)}")
        values = [_number(f"{path}:{number}", tag, cell) for tag, cell in zip(classes, cells[2:])]
        table[cells[0]] = (cells[1], np.array(values, dtype=np.float64))
    return classes, table


# ----------------------------------------------------------------------- reading


def read_thresholds(path: str | os.PathLike, classes: Sequence[str]) -> np.ndarray:
    """The clip thresholds of a file (JSON or ``tag,threshold`` lines) in ``classes`` order.

    Args:
        path: the thresholds file.
        classes: the tags the caller's model outputs, in its order.

    Returns:
        Shape ``(len(classes),)``, float64, each in ``[0, 1]``.

    Raises:
        ThresholdError: (one line naming the file) unreadable, not JSON although it looks
            like it, a missing key, another format or version, unknown or missing tags,
            a list of the wrong length, a value that is not a number in ``[0, 1]``, or a
            file with frame thresholds only.
    """
    found = read_threshold_file(path, classes)
    if found.clip is None:
        raise ThresholdError(f"{path}: holds frame thresholds only (calibrate --events); "
                             f"clip tags need clip thresholds (kerastag calibrate RUN_DIR, "
                             f"or one number)")
    return found.clip


def read_threshold_file(path: str | os.PathLike, classes: Sequence[str]) -> ThresholdFile:
    """Every kind of threshold a file holds, in ``classes`` order (errors as
    :func:`read_thresholds`, and for a frame section that does not fit ``classes``)."""
    path = Path(path)
    classes = [str(c) for c in classes]
    text = _read_text(path)
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("{", "[")):
        return _json_threshold_file(path, text, classes)
    given = _text_thresholds(path, text, classes)
    return ThresholdFile(clip=_in_class_order(path, given, classes), clip_criterion=None,
                         frame=None)


def _in_class_order(path: Path, given: Mapping[str, object], classes: list[str]) -> np.ndarray:
    unknown = [tag for tag in given if tag not in classes]
    if unknown:
        raise ThresholdError(f"{path}: unknown tags {', '.join(unknown)}; the model's tags "
                             f"are {', '.join(classes)}")
    missing = [tag for tag in classes if tag not in given]
    if missing:
        raise ThresholdError(f"{path}: no threshold for tags {', '.join(missing)}; expected "
                             f"one for each of {', '.join(classes)}")
    return np.array([given[tag] for tag in classes], dtype=np.float64)


def thresholds_for_model(model_path: str | os.PathLike, classes: Sequence[str],
                         given=None) -> tuple[np.ndarray | None, str | None]:
    """The clip thresholds to use with a model, and where they came from.

    Args:
        model_path: the model (its run's calibration is looked up beside it).
        classes: its tags, in output order.
        given: what the user passed: a thresholds file, or one number for every tag.

    Returns:
        ``(float64 (classes,), source)``: ``given``, else the run's calibrated clip
        thresholds (:func:`thresholds_path_for_model`); ``(None, None)`` when neither
        (also when the run's file holds frame thresholds only).

    Raises:
        ThresholdError: a number outside [0, 1], or a file that does not fit ``classes``.
    """
    if given is not None and _is_number(str(given)):
        return np.full(len(classes), _given_number(given)), f"--thresholds {_given_number(given):g}"
    if given is not None:
        return read_thresholds(given, classes), str(given)
    source = thresholds_path_for_model(model_path)
    if source is None:
        return None, None
    clip = read_threshold_file(source, classes).clip
    return (None, None) if clip is None else (clip, str(source))


def kinds_for_model(model_path: str | os.PathLike, classes: Sequence[str],
                    given=None) -> tuple[np.ndarray | None, FrameThresholds | None]:
    """``(clip thresholds, frame thresholds)`` for a model (``kerastag export``): of
    ``given`` (one number: clip thresholds only; a file: what it holds), else of its run's
    calibration; ``(None, None)`` when neither."""
    if given is not None and _is_number(str(given)):
        return np.full(len(classes), _given_number(given)), None
    path = Path(given) if given is not None else thresholds_path_for_model(model_path)
    if path is None:
        return None, None
    found = read_threshold_file(path, classes)
    return found.clip, found.frame


@dataclasses.dataclass(frozen=True)
class ChosenDecisions:
    """The frame decisions ``predict --events`` uses, and where they came from.

    Attributes:
        decisions: one per tag, in class order.
        clip: the source's clip thresholds (None: none there).
        source: e.g. ``"frame thresholds of runs/x/thresholds/row.json"``.
    """

    decisions: tuple[FrameDecision, ...]
    clip: np.ndarray | None
    source: str


def decisions_for_model(model_path: str | os.PathLike, classes: Sequence[str], given=None, *,
                        default: Sequence[FrameDecision]) -> ChosenDecisions:
    """The frame decisions for a model: ``given`` (a number or a file), else its run's
    calibration, else ``default``. A file's frame thresholds win over its clip
    thresholds; clip thresholds (or a number) keep ``default``'s durations.

    Raises:
        ThresholdError: a number outside [0, 1], or a file that does not fit ``classes``.
    """
    given = given if given is not None else thresholds_path_for_model(model_path)
    return decisions_from(given, classes, default=default)


def decisions_from(given, classes: Sequence[str], *,
                   default: Sequence[FrameDecision]) -> ChosenDecisions:
    """The frame decisions of ``given`` (a number, a thresholds file or None: ``default``);
    see :func:`decisions_for_model`."""
    default = tuple(default)
    if given is not None and _is_number(str(given)):
        value = _given_number(given)
        return ChosenDecisions(_with_thresholds(default, [value] * len(default)),
                               np.full(len(classes), value), f"--thresholds {value:g}")
    if given is None:
        return ChosenDecisions(default, None, "default")
    path = Path(given)
    found = read_threshold_file(path, classes)
    if found.frame is not None:
        return ChosenDecisions(found.frame.decisions, found.clip, f"frame thresholds of {path}")
    return ChosenDecisions(_with_thresholds(default, found.clip), found.clip,
                           f"clip thresholds of {path}")


def _with_thresholds(decisions, values) -> tuple[FrameDecision, ...]:
    return tuple(dataclasses.replace(d, high=float(v), low=float(v))
                 for d, v in zip(decisions, values))


def _given_number(given) -> float:
    return check_number("--thresholds", float(str(given)), minimum=0.0, maximum=1.0,
                        error=ThresholdError)


def thresholds_path_for_model(model_path: str | os.PathLike) -> Path | None:
    """The calibrated thresholds of a model saved in a run folder, if there are any.

    A model at ``<run>/models/<row>/<unit>.keras`` (or ``.gmm.json``) has
    ``<run>/thresholds/<row>.json`` when ``kerastag calibrate <run>`` was run.

    Returns:
        That path when the file exists; None otherwise (also for a model outside a run
        folder's ``models/<row>/``).
    """
    found = run_folder.run_and_row_of_model(Path(model_path))
    if found is None:
        return None
    candidate = run_folder.thresholds_path(*found)
    return candidate if candidate.is_file() else None


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise ThresholdError(f"{path}: thresholds file not found")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ThresholdError(f"{path}: cannot read thresholds file ({reason})") from None


def _json_threshold_file(path: Path, text: str, classes: list[str]) -> ThresholdFile:
    """A JSON thresholds file's kinds (format, version and keys checked)."""
    document = _checked_document(path, text)
    listed = document["classes"]
    if document["version"] == 1:
        if "thresholds" not in document:
            raise ThresholdError(f"{path}: missing key 'thresholds'; a version 1 {FORMAT} "
                                 f"file has {', '.join(REQUIRED_KEYS)}")
        clip = _json_values(path, document["thresholds"], listed)
        return ThresholdFile(_in_class_order(path, clip, classes), document.get("criterion"),
                             None)
    clip_section, frame_section = document.get("clip"), document.get("frame")
    if clip_section is None and frame_section is None:
        raise ThresholdError(f"{path}: neither 'clip' nor 'frame' thresholds; a version 2 "
                             f"{FORMAT} file has at least one")
    clip, criterion = None, None
    if clip_section is not None:
        section = _section(path, "clip", clip_section, ("criterion", "thresholds"))
        clip = _in_class_order(path, _json_values(path, section["thresholds"], listed), classes)
        criterion = section["criterion"]
    frame = None if frame_section is None else _frame_thresholds(path, frame_section, listed,
                                                                 classes)
    return ThresholdFile(clip, criterion, frame)


def _checked_document(path: Path, text: str) -> dict:
    """The JSON object of a thresholds file, its format, version and classes checked."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        reason = f"{exc.msg} at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else exc
        raise ThresholdError(f"{path}: not valid JSON ({reason}); expected a {FORMAT} file "
                             f"or 'tag,threshold' lines") from None
    if not isinstance(document, dict):
        raise ThresholdError(f"{path}: expected a JSON object with keys "
                             f"{', '.join(REQUIRED_KEYS_V2)}; got a {type(document).__name__}")
    for key in REQUIRED_KEYS_V2:
        if key not in document:
            raise ThresholdError(f"{path}: missing key {key!r}; a {FORMAT} file has "
                                 f"{', '.join(REQUIRED_KEYS_V2)}")
    if document["format"] != FORMAT:
        raise ThresholdError(f"{path}: format {document['format']!r}, expected {FORMAT!r}")
    version = document["version"]
    if version not in READ_VERSIONS or isinstance(version, bool):
        raise ThresholdError(f"{path}: version {version!r} is not supported; this kerastag "
                             f"reads versions {' and '.join(map(str, READ_VERSIONS))}")
    listed = document["classes"]
    if not isinstance(listed, list) or not all(isinstance(tag, str) for tag in listed):
        raise ThresholdError(f"{path}: 'classes' must be a list of tag names; got {listed!r}")
    return document


def _section(path: Path, name: str, section, keys: tuple[str, ...]) -> dict:
    if not isinstance(section, dict):
        raise ThresholdError(f"{path}: '{name}' must be a JSON object; got "
                             f"{type(section).__name__}")
    for key in keys:
        if key not in section:
            raise ThresholdError(f"{path}: '{name}' has no key {key!r}; expected "
                                 f"{', '.join(keys)}")
    return section


def _json_values(path: Path, values, listed: list[str]) -> dict[str, float]:
    """Tag -> threshold of a JSON ``thresholds`` value (a list in ``listed`` order or a
    mapping naming the same tags)."""
    if isinstance(values, list):
        if len(values) != len(listed):
            raise ThresholdError(f"{path}: 'thresholds' has {len(values)} values, expected "
                                 f"{len(listed)} (one per tag of 'classes': {', '.join(listed)})")
        values = dict(zip(listed, values))
    elif not isinstance(values, dict):
        raise ThresholdError(f"{path}: 'thresholds' must map each tag to a number; got "
                             f"{type(values).__name__}")
    elif sorted(values) != sorted(listed):
        raise ThresholdError(f"{path}: 'thresholds' names tags {', '.join(values)} but "
                             f"'classes' lists {', '.join(listed)}")
    return {tag: _number(str(path), tag, value) for tag, value in values.items()}


def _frame_thresholds(path: Path, section, listed: list[str],
                      classes: list[str]) -> FrameThresholds:
    section = _section(path, "frame", section, ("criterion", "decisions"))
    decisions = section["decisions"]
    if not isinstance(decisions, dict) or sorted(decisions) != sorted(listed):
        named = ", ".join(decisions) if isinstance(decisions, dict) else repr(decisions)
        raise ThresholdError(f"{path}: 'frame' 'decisions' names tags {named} but 'classes' "
                             f"lists {', '.join(listed)}")
    parsed = {tag: _decision(path, tag, value) for tag, value in decisions.items()}
    _in_class_order(path, dict.fromkeys(listed, 0.0), classes)  # unknown or missing tags
    details = {key: value for key, value in section.items()
               if key not in ("criterion", "collar_seconds", "decisions")}
    return FrameThresholds(decisions=tuple(parsed[tag] for tag in classes),
                           criterion=section["criterion"],
                           collar_seconds=float(section.get("collar_seconds", 0.2)),
                           details=details)


def _decision(path: Path, tag: str, value) -> FrameDecision:
    if not isinstance(value, dict) or sorted(value) != sorted(DECISION_KEYS):
        raise ThresholdError(f"{path}: frame decision of tag {tag!r} must have the keys "
                             f"{', '.join(DECISION_KEYS)}; got {value!r}")
    numbers = {}
    for key in DECISION_KEYS:
        number = value[key]
        if isinstance(number, bool) or not isinstance(number, (int, float)) or \
                not math.isfinite(number):
            raise ThresholdError(f"{path}: frame decision of tag {tag!r}: {key} is {number!r}, "
                                 f"expected a number")
        numbers[key] = float(number)
    try:
        return FrameDecision(**numbers)
    except ThresholdError as exc:
        raise ThresholdError(f"{path}: frame decision of tag {tag!r}: {exc}") from None


def _text_thresholds(path: Path, text: str, classes: list[str]) -> dict[str, float]:
    """Tag -> threshold of ``tag,threshold`` lines (header optional)."""
    given: dict[str, float] = {}
    first = True
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        cells = [c.strip() for c in (line.split(",") if "," in line else line.split())]
        where = f"{path}:{number}"
        if len(cells) != 2:
            hint = (f"; {run_folder.THRESHOLDS_TABLE_FILE} lists every row, pass the row's "
                    f"{run_folder.THRESHOLDS_DIR}/<row>.json"
                    if tuple(cells[:2]) == SUMMARY_FIXED_COLUMNS else "")
            raise ThresholdError(f"{where}: {len(cells)} cells, expected 2 "
                                 f"('tag,threshold'){hint}")
        tag, cell = cells
        if first and tag not in classes and not _is_number(cell):
            first = False
            continue  # a header such as "tag,threshold"
        first = False
        if tag in given:
            raise ThresholdError(f"{where}: tag {tag!r} given twice")
        given[tag] = _number(where, tag, cell)
    if not given:
        raise ThresholdError(f"{path}: no 'tag,threshold' lines; expected one for each of "
                             f"{', '.join(classes)}")
    return given


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(where: str, tag: str, value) -> float:
    """``value`` as a float in [0, 1]; a string is parsed (the text form)."""
    if isinstance(value, str):
        number = float(value) if _is_number(value) else None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        number = None
    if number is None or math.isnan(number) or not 0.0 <= number <= 1.0:
        raise ThresholdError(f"{where}: threshold of tag {tag!r} is {value!r}, expected a "
                             f"number in [0, 1]")
    return number
