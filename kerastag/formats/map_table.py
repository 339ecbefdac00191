"""Paper B's result table, ``table.csv`` and ``table.md``: writer and reader.

``table.csv`` has one line per model: ``model,map3,accuracy`` (4 decimals); on
FSDKaggle2018 (``paper`` given) ``table.md`` adds the published mAP@3 and the difference
where the paper has a number; on any other dataset it has no paper column.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from pathlib import Path
from typing import Mapping, Sequence

from kerastag.errors import KerastagError
from kerastag.fileio import write_text_atomic
from kerastag.formats.run_folder import table_paths
from kerastag.formats.eer_table import NO_PAPER, format_difference, format_number, markdown_line

MAP_COLUMNS = ("model", "map3", "accuracy")


@dataclasses.dataclass(frozen=True)
class MapRow:
    """One row of the paper-B result table.

    Attributes:
        name: model name, e.g. ``"resnext_logmel_mixup"`` or ``"stack"``.
        map3: mean average precision at 3, in [0, 1].
        accuracy: top-1 accuracy, in [0, 1].
    """

    name: str
    map3: float
    accuracy: float


def write_map_table(rows: Sequence[MapRow], out_dir: str | os.PathLike, *,
                    paper: Mapping[str, float] | None = None) -> tuple[Path, Path]:
    """Write the paper-B result table as ``table.csv`` and ``table.md``.

    Args:
        rows: result rows, in display order.
        out_dir: folder for the two files (created if needed).
        paper: published mAP@3 by row name (e.g. built from
            ``kerastag.reference_results.PAPER_B_MAP3``); when given, table.md gets a paper column
            and a difference column, with ``—`` where the paper has no number.

    Returns:
        ``(csv_path, md_path)``.

    Raises:
        KerastagError: no rows.
    """
    if not rows:
        raise KerastagError("mAP table: no rows to report")
    out_dir = Path(out_dir)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MAP_COLUMNS)
    writer.writerows([row.name, format_number(row.map3), format_number(row.accuracy)] for row in rows)
    csv_name, md_name = table_paths(out_dir)
    csv_path = write_text_atomic(csv_name, buffer.getvalue())
    md_path = write_text_atomic(md_name, _map_markdown(rows, paper))
    return csv_path, md_path


def _map_markdown(rows: Sequence[MapRow], paper: Mapping[str, float] | None) -> str:
    header = ["model", "mAP@3", "accuracy"]
    if paper is not None:
        header += ["paper mAP@3", "Δ mAP@3"]
    title = "# Paper B: mAP@3 and accuracy" if paper is not None else "# mAP@3 and accuracy"
    lines = [title, "", markdown_line(header),
             markdown_line(["---"] * len(header))]
    for row in rows:
        cells = [row.name, format_number(row.map3), format_number(row.accuracy)]
        if paper is not None:
            published = paper.get(row.name)
            cells += ([NO_PAPER, NO_PAPER] if published is None
                      else [f"{published:.3f}", format_difference(row.map3 - published)])
        lines.append(markdown_line(cells))
    lines += ["", "Legend:", "",
              "- mAP@3 = mean average precision over the 3 top-ranked labels "
              "(higher is better); accuracy = top-1 accuracy."]
    if paper is not None:
        lines.append(f"- paper = published public-leaderboard mAP@3; Δ = ours − paper; "
                     f"{NO_PAPER} = no published number.")
    return "\n".join(lines) + "\n"
