"""Per-tag decision thresholds (``kerastag calibrate``): writer and reader.

A thresholds file is JSON::

    {"format": "kerastag-thresholds", "version": 1,
     "criterion": "eer" | "f1",          how the values were chosen
     "row": "mixup_a1.5" | null,          the run row they were calibrated for
     "classes": ["c", "m", ...],          the tags, in the model's output order
     "thresholds": {"c": 0.41, ...},      one number in [0, 1] per tag
     "source": "/abs/path/of/the/run"}

A clip carries a tag when its score is ``>= threshold``. The reader needs ``format``,
``version``, ``classes`` and ``thresholds`` (which may also be a list in ``classes``
order). It also reads the plain text form people write by hand, one ``tag,threshold``
line per tag (a header line, blank lines and ``#`` comments are skipped; a tab or spaces
may stand for the comma)::

    tag,threshold
    c,0.41
    m,0.3

``kerastag calibrate`` writes ``<run>/thresholds/<row>.json`` per row and a summary
``<run>/thresholds/thresholds.csv`` (``row,criterion,<tag>...``, one line per row).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from kerastag.checks import check_number
from kerastag.errors import ThresholdError
from kerastag.fileio import atomic_path, write_text_atomic
from kerastag.formats import run_folder
from kerastag.names import CALIBRATION_CRITERIA

FORMAT = "kerastag-thresholds"
VERSION = 1
#: How ``kerastag calibrate`` chooses a tag's threshold (see the registry of names).
CRITERIA = CALIBRATION_CRITERIA
REQUIRED_KEYS = ("format", "version", "classes", "thresholds")
SUMMARY_FIXED_COLUMNS = ("row", "criterion")
#: The threshold a tag falls back to when it cannot be calibrated.
DEFAULT_THRESHOLD = 0.5


# ----------------------------------------------------------------------- writing


def write_thresholds(path: str | os.PathLike, classes: Sequence[str], values, *,
                     criterion: str, row: str | None, source: str | os.PathLike | None) -> Path:
    """Write one thresholds file (JSON, through a temporary name and a rename).

    Args:
        path: the ``.json`` file to write (its folder is created).
        classes: the tag names, in the model's output order.
        values: shape ``(len(classes),)``, each in ``[0, 1]``.
        criterion: one of :data:`CRITERIA`.
        row: the run row the values belong to, or None.
        source: the run folder they were calibrated from, or None.

    Returns:
        ``path``.

    Raises:
        ThresholdError: an unknown criterion, duplicate tags, a count that differs
            from ``classes``, or a value that is not a number in ``[0, 1]``.
    """
    path = Path(path)
    classes = [str(c) for c in classes]
    numbers = _checked_values(path, classes, values)
    if criterion not in CRITERIA:
        raise ThresholdError(f"{path}: unknown criterion {criterion!r}; expected one of "
                             f"{', '.join(CRITERIA)}")
    document = {
        "format": FORMAT,
        "version": VERSION,
        "criterion": criterion,
        "row": row,
        "classes": classes,
        "thresholds": dict(zip(classes, numbers)),
        "source": None if source is None else str(source),
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


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
    """The thresholds of a file (JSON or ``tag,threshold`` lines) in ``classes`` order.

    Args:
        path: the thresholds file.
        classes: the tags the caller's model outputs, in its order.

    Returns:
        Shape ``(len(classes),)``, float64, each in ``[0, 1]``.

    Raises:
        ThresholdError: (one line naming the file) unreadable, not JSON although it looks
            like it, a missing key, another format or version, unknown or missing tags,
            a list of the wrong length, or a value that is not a number in ``[0, 1]``.
    """
    path = Path(path)
    classes = [str(c) for c in classes]
    text = _read_text(path)
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("{", "[")):
        given = _json_thresholds(path, text, classes)
    else:
        given = _text_thresholds(path, text, classes)
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
    """The thresholds to use with a model, and where they came from.

    Args:
        model_path: the model (its run's calibration is looked up beside it).
        classes: its tags, in output order.
        given: what the user passed: a thresholds file, or one number for every tag.

    Returns:
        ``(float64 (classes,), source)``: ``given``, else the run's calibrated
        thresholds (:func:`thresholds_path_for_model`); ``(None, None)`` when neither.

    Raises:
        ThresholdError: a number outside [0, 1], or a file that does not fit ``classes``.
    """
    if given is not None and _is_number(str(given)):
        value = check_number("--thresholds", float(str(given)), minimum=0.0, maximum=1.0,
                             error=ThresholdError)
        return np.full(len(classes), value), f"--thresholds {value:g}"
    source = given or thresholds_path_for_model(model_path)
    if source is None:
        return None, None
    return read_thresholds(source, classes), str(source)


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


def _json_thresholds(path: Path, text: str, classes: list[str]) -> dict[str, float]:
    """Tag -> threshold of a JSON thresholds file (format, version and keys checked)."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        reason = f"{exc.msg} at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else exc
        raise ThresholdError(f"{path}: not valid JSON ({reason}); expected a {FORMAT} file "
                             f"or 'tag,threshold' lines") from None
    if not isinstance(document, dict):
        raise ThresholdError(f"{path}: expected a JSON object with keys "
                             f"{', '.join(REQUIRED_KEYS)}; got a {type(document).__name__}")
    for key in REQUIRED_KEYS:
        if key not in document:
            raise ThresholdError(f"{path}: missing key {key!r}; a {FORMAT} file has "
                                 f"{', '.join(REQUIRED_KEYS)}")
    if document["format"] != FORMAT:
        raise ThresholdError(f"{path}: format {document['format']!r}, expected {FORMAT!r}")
    if document["version"] != VERSION or isinstance(document["version"], bool):
        raise ThresholdError(f"{path}: version {document['version']!r} is not supported; "
                             f"this kerastag reads version {VERSION}")
    listed = document["classes"]
    if not isinstance(listed, list) or not all(isinstance(tag, str) for tag in listed):
        raise ThresholdError(f"{path}: 'classes' must be a list of tag names; got {listed!r}")
    values = document["thresholds"]
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
