"""Paper A's result table, ``table.csv`` and ``table.md``: writer and reader.

``table.csv`` has one line per row: ``row,model,augmentation,alpha`` (``row`` is the
config row's id: ``mixup_a1.5``, ``cgrnn_imd``), the EER of each of the dataset's classes
(one column each, named by the class, in the dataset's order: CHiME-Home's tag letters
``c,m,f,v,p,b,o`` there), ``avg`` and ``var_1e3`` (4 decimals). On CHiME-Home ``table.md``
sets each number beside Table 1 of paper A and names the tag letters; on any other
dataset it has no paper columns. ("augmentation" is the paper's column heading: a row's
mixing mode, or a baseline's variant such as ``IMD``.) The reader takes the class columns
from the header. Tables written before kerastag 0.3 have no ``row`` column; the reader
derives it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from pathlib import Path
from typing import Sequence

from kerastag.config import RowConfig
from kerastag.errors import KerastagError
from kerastag.names import MIXING_MODES
from kerastag.fileio import write_text_atomic
from kerastag.formats.run_folder import table_paths
from kerastag.reference_results import CHIME_HOME_TAG_NAMES, CHIME_HOME_TAGS, paper_a_row

EER_FIXED_COLUMNS = ("row", "model", "augmentation", "alpha")
EER_TAIL_COLUMNS = ("avg", "var_1e3")
NO_PAPER = "—"


@dataclasses.dataclass(frozen=True)
class EerRow:
    """One row of the paper-A result table (EER over the cross-validation folds).

    Attributes:
        name: row id used for folders and file names, e.g. ``"mixup_a1.5"``.
        model: display name of the model, e.g. ``"CRNN"``.
        mixing: the table's "augmentation" column: the row's mixing mode
            (:data:`kerastag.names.MIXING_MODES`) or a baseline's variant (``IMD``, ``-``).
        alpha: the Beta(alpha, alpha) parameter, or ``None``.
        per_tag: EER per class, in the table's class order (the dataset's; NaN allowed).
        average: mean EER over the tags.
        var_1e3: variance x 1e-3, as in Table 1 of the paper.
    """

    name: str
    model: str
    mixing: str
    alpha: float | None
    per_tag: tuple[float, ...]
    average: float
    var_1e3: float


def format_number(value: float, decimals: int = 4) -> str:
    """Format a number with fixed decimals; NaN gives ``"nan"``."""
    return f"{float(value):.{decimals}f}"


def format_difference(value: float) -> str:
    """Format a difference with an explicit sign and 4 decimals."""
    return "nan" if math.isnan(value) else f"{value:+.4f}"


def _row_name(mixing: str, alpha: float | None) -> str:
    """The row id a config row of this mixing and alpha has (``mixup_a1.5``)."""
    if mixing not in MIXING_MODES:
        return mixing
    return RowConfig(mixing=mixing, alpha=alpha or 0.0).name


def _alpha_text(alpha: float | None) -> str:
    return "" if alpha is None else f"{float(alpha):g}"


def paper_row(row: EerRow):
    """Table 1's (per-tag, avg, var) for ``row``, or ``None`` (per-tag and var may be
    None: the challenge baseline's)."""
    return paper_a_row(row.model, row.mixing, row.alpha)


@dataclasses.dataclass(frozen=True)
class EerTable:
    """A ``table.csv`` read back: its class columns and its rows.

    Attributes:
        tags: the class names of the header, in column order.
        rows: one :class:`EerRow` per line, ``per_tag`` in ``tags`` order.
    """

    tags: tuple[str, ...]
    rows: list[EerRow]


def with_paper(tags: Sequence[str], paper: bool | None) -> bool:
    """``paper``, or when it is None whether ``tags`` are CHiME-Home's seven letters."""
    return tuple(tags) == CHIME_HOME_TAGS if paper is None else bool(paper)


def check_rows(rows: Sequence[EerRow], tags: Sequence[str]) -> None:
    if not rows:
        raise KerastagError("EER table: no rows to report")
    for row in rows:
        if len(row.per_tag) != len(tags):
            raise KerastagError(
                f"EER row {row.name!r}: {len(row.per_tag)} per-tag values for "
                f"{len(tags)} tags {tuple(tags)}")


def write_eer_table(rows: Sequence[EerRow], out_dir: str | os.PathLike, *,
                    tags: Sequence[str] = CHIME_HOME_TAGS,
                    paper: bool | None = None) -> tuple[Path, Path]:
    """Write the paper-A result table as ``table.csv`` and ``table.md``.

    Args:
        rows: result rows, in display order.
        out_dir: folder for the two files (created if needed).
        tags: class column names, in the order of ``EerRow.per_tag``.
        paper: set the rows beside Table 1 of paper A in ``table.md`` (and name
            CHiME-Home's tag letters); None: when ``tags`` are CHiME-Home's. A task passes
            :func:`kerastag.reference_results.compares_with_paper_a` of its dataset.

    Returns:
        ``(csv_path, md_path)``.

    Raises:
        KerastagError: no rows, or a row whose per-tag count differs from ``tags``.
    """
    check_rows(rows, tags)
    out_dir = Path(out_dir)
    csv_name, md_name = table_paths(out_dir)
    csv_path = write_text_atomic(csv_name, _eer_csv_text(rows, tags))
    md_path = write_text_atomic(md_name,
                                _eer_markdown(rows, tags, with_paper(tags, paper)))
    return csv_path, md_path


def _eer_csv_text(rows: Sequence[EerRow], tags: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*EER_FIXED_COLUMNS, *tags, *EER_TAIL_COLUMNS])
    for row in rows:
        writer.writerow([row.name, row.model, row.mixing, _alpha_text(row.alpha),
                         *(format_number(v) for v in row.per_tag), format_number(row.average),
                         format_number(row.var_1e3)])
    return buffer.getvalue()


def read_eer_table(csv_path: str | os.PathLike) -> list[EerRow]:
    """The rows of a ``table.csv`` written by :func:`write_eer_table` (see
    :func:`read_eer`, which also gives the class columns)."""
    return read_eer(csv_path).rows


def read_eer(csv_path: str | os.PathLike) -> EerTable:
    """Read a ``table.csv`` written by :func:`write_eer_table`, of any classes.

    Args:
        csv_path: the CSV file.

    Returns:
        The class columns named by the header and the rows (``name`` from the ``row``
        column, or derived from mixing and alpha in older tables).

    Raises:
        KerastagError: missing file, unexpected header or a value that is not a number.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise KerastagError(f"{csv_path}: EER table not found")
    with csv_path.open(newline="", encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    if not lines:
        raise KerastagError(f"{csv_path}: EER table is empty")
    layout = _check_eer_header(csv_path, lines[0])
    fixed, n_tags = layout
    return EerTable(tuple(lines[0][fixed:fixed + n_tags]),
                    [_parse_eer_line(csv_path, number, cells, layout)
                     for number, cells in enumerate(lines[1:], start=2) if cells])


def _check_eer_header(csv_path: Path, header: list[str]) -> tuple[int, int]:
    """``(fixed columns, tags)`` of a header; 0.1/0.2 tables lack the ``row`` column."""
    tail = len(EER_TAIL_COLUMNS)
    for fixed_columns in (EER_FIXED_COLUMNS, EER_FIXED_COLUMNS[1:]):
        fixed = len(fixed_columns)
        if (tuple(header[:fixed]) == fixed_columns and tuple(header[-tail:]) == EER_TAIL_COLUMNS
                and len(header) > fixed + tail):
            return fixed, len(header) - fixed - tail
    raise KerastagError(
        f"{csv_path}: header {','.join(header)!r} is not "
        f"'row,model,augmentation,alpha,<tags>,avg,var_1e3'")


def _parse_eer_line(csv_path: Path, number: int, cells: list[str],
                    layout: tuple[int, int]) -> EerRow:
    fixed, n_tags = layout
    expected = fixed + n_tags + len(EER_TAIL_COLUMNS)
    if len(cells) != expected:
        raise KerastagError(
            f"{csv_path}:{number}: {len(cells)} cells, expected {expected}")
    model, mixing, alpha_text = cells[fixed - 3:fixed]
    try:
        alpha = float(alpha_text) if alpha_text.strip() else None
        values = [float(cell) for cell in cells[fixed:]]
    except ValueError:
        raise KerastagError(f"{csv_path}:{number}: non-numeric value in {cells}") from None
    name = cells[0] if fixed == len(EER_FIXED_COLUMNS) else _row_name(mixing, alpha)
    return EerRow(name=name, model=model, mixing=mixing, alpha=alpha,
                  per_tag=tuple(values[:n_tags]), average=values[n_tags],
                  var_1e3=values[n_tags + 1])


def _eer_markdown(rows: Sequence[EerRow], tags: Sequence[str], paper: bool) -> str:
    if not paper:
        return _own_markdown(rows, tags)
    header = ["row", "model", "augmentation", "alpha", *tags, "avg", "paper avg",
              "Δ avg", "var ×1e-3", "paper var", "Δ var"]
    lines = ["# Paper A: EER per tag, ours beside Table 1 of the paper", "",
             markdown_line(header), markdown_line(["---"] * len(header))]
    for row in rows:
        lines.append(markdown_line(_md_row_cells(row)))
        paper = paper_row(row)
        if paper is not None and paper[0] is not None and len(paper[0]) == len(tags):
            lines.append(markdown_line(["↳ paper", "", "", "",
                                   *(format_number(v, 2) for v in paper[0]),
                                   *[""] * 6]))
    lines += ["", *_eer_legend(tags)]
    return "\n".join(lines) + "\n"


def _own_markdown(rows: Sequence[EerRow], tags: Sequence[str]) -> str:
    """The table of a dataset that is not CHiME-Home: no paper columns."""
    header = ["row", "model", "augmentation", "alpha", *tags, "avg", "var ×1e-3"]
    lines = ["# EER per class", "", markdown_line(header), markdown_line(["---"] * len(header))]
    lines += [markdown_line([row.name, row.model, row.mixing, _alpha_text(row.alpha),
                             *(format_number(v) for v in row.per_tag),
                             format_number(row.average), format_number(row.var_1e3)])
              for row in rows]
    lines += ["", "Legend:", "",
              f"- EER = equal error rate (lower is better) of each class of the dataset: "
              f"{', '.join(tags)}.",
              "- avg = mean EER over the classes; var ×1e-3 = variance × 10⁻³ of the "
              "per-class EERs.",
              "- nan = EER undefined (a class without positive or negative clips in every "
              "fold tested)."]
    return "\n".join(lines) + "\n"


def _md_row_cells(row: EerRow) -> list[str]:
    paper = paper_row(row)
    if paper is None:
        comparison_avg = comparison_var = [NO_PAPER, NO_PAPER]
    else:
        comparison_avg = [format_number(paper[1], 2), format_difference(row.average - paper[1])]
        comparison_var = ([NO_PAPER, NO_PAPER] if paper[2] is None else
                          [format_number(paper[2], 2), format_difference(row.var_1e3 - paper[2])])
    return [row.name, row.model, row.mixing, _alpha_text(row.alpha),
            *(format_number(v) for v in row.per_tag), format_number(row.average), *comparison_avg,
            format_number(row.var_1e3), *comparison_var]


def markdown_line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _eer_legend(tags: Sequence[str]) -> list[str]:
    tag_text = ", ".join(f"{tag} = {CHIME_HOME_TAG_NAMES[tag]}" if tag in CHIME_HOME_TAG_NAMES
                         else tag for tag in tags)
    return [
        "Legend:",
        "",
        f"- EER = equal error rate (lower is better); tags: {tag_text}.",
        "- avg = mean EER over the tags; var ×1e-3 = variance × 10⁻³ as in Table 1.",
        "- paper = Table 1 of paper A (values rounded to 2 decimals there, so |Δ| < 0.005 "
        "is within rounding); the '↳ paper' line gives its per-tag EERs. MFCC-GMM is the "
        "DCASE 2016 challenge baseline (not in Table 1; only its average, 0.21 on the "
        "development folds, is published).",
        "- Δ = ours − paper; negative Δ avg means a lower (better) EER than published.",
        f"- {NO_PAPER} = no counterpart in Table 1; nan = EER undefined "
        "(a tag without positive or negative clips).",
    ]


def format_eer_table(rows: Sequence[EerRow], *, tags: Sequence[str] = CHIME_HOME_TAGS,
                     paper: bool | None = None) -> str:
    """Return the paper-A table as aligned plain text for the terminal.

    Args:
        rows: result rows.
        tags: class column names, in the order of ``EerRow.per_tag``.
        paper: add the paper's average and Δ (as :func:`write_eer_table`).

    Returns:
        Text with a header line, a rule and one line per row (paper avg and Δ beside on
        CHiME-Home).
    """
    check_rows(rows, tags)
    paper = with_paper(tags, paper)
    header = ["row", *tags, "avg", "var1e3", *(["paper", "Δavg"] if paper else [])]
    body = []
    for row in rows:
        body.append([row.name, *(format_number(v) for v in row.per_tag), format_number(row.average),
                     format_number(row.var_1e3, 2), *(_comparison(row) if paper else [])])
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    text = [_pad(header, widths), "  ".join("-" * w for w in widths)]
    text += [_pad(line, widths) for line in body]
    return "\n".join(text)


def _comparison(row: EerRow) -> list[str]:
    paper = paper_row(row)
    return ([NO_PAPER, NO_PAPER] if paper is None
            else [format_number(paper[1], 2), format_difference(row.average - paper[1])])


def _pad(cells: Sequence[str], widths: Sequence[int]) -> str:
    first = cells[0].ljust(widths[0])
    rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:])]
    return "  ".join([first, *rest]).rstrip()
