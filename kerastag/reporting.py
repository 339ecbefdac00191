"""Result tables and figures for the two papers kerastag reproduces.

Paper A (CHiME-Home audio tagging) is reported as per-tag equal error rates beside
Table 1 of the paper; paper B (FSDKaggle2018) as mAP@3 and accuracy. Every file is
written through :func:`kerastag.fileio.atomic_path`, so a table or a figure appears
whole or not at all. Matplotlib is imported lazily and always with the Agg backend.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import math
import os
import re
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from kerastag.errors import KerastagError
from kerastag.fileio import atomic_path, write_text_atomic
from kerastag.paper import CHIME_HOME_TAG_NAMES, CHIME_HOME_TAGS, paper_a_row

EER_FIXED_COLUMNS = ("model", "augmentation", "alpha")
EER_TAIL_COLUMNS = ("avg", "var_1e3")
MAP_COLUMNS = ("model", "map3", "accuracy")
NO_PAPER = "—"
DPI = 100


@dataclasses.dataclass(frozen=True)
class EerRow:
    """One row of the paper-A result table (EER over the cross-validation folds).

    Attributes:
        name: row id used for folders and file names, e.g. ``"mixup_a1.5"``.
        model: display name of the model, e.g. ``"CRNN"``.
        augmentation: ``"none"``, ``"mixup"``, ``"samplepairing"``, ``"mixup_lp"``
            or ``"extrapolation"``.
        alpha: the Beta(alpha, alpha) parameter, or ``None``.
        per_tag: EER per tag in ``CHIME_HOME_TAGS`` order (NaN allowed).
        average: mean EER over the tags.
        var_1e3: variance x 1e-3, as in Table 1 of the paper.
    """

    name: str
    model: str
    augmentation: str
    alpha: float | None
    per_tag: tuple[float, ...]
    average: float
    var_1e3: float


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


# --------------------------------------------------------------------------- helpers


def row_name(augmentation: str, alpha: float | None) -> str:
    """Return the row id of an augmentation setting.

    Args:
        augmentation: mixing mode name.
        alpha: Beta parameter, or ``None``.

    Returns:
        ``"none"`` and ``"samplepairing"`` as they are; otherwise
        ``"<augmentation>_a<alpha>"`` with alpha in ``%g`` form (``"mixup_a1.5"``),
        or the bare augmentation when alpha is ``None``.
    """
    if augmentation in ("none", "samplepairing") or alpha is None:
        return augmentation
    return f"{augmentation}_a{float(alpha):g}"


def _num(value: float, decimals: int = 4) -> str:
    """Format a number with fixed decimals; NaN gives ``"nan"``."""
    return f"{float(value):.{decimals}f}"


def _signed(value: float) -> str:
    """Format a difference with an explicit sign and 4 decimals."""
    return "nan" if math.isnan(value) else f"{value:+.4f}"


def _alpha_text(alpha: float | None) -> str:
    return "" if alpha is None else f"{float(alpha):g}"


def _paper(row: EerRow):
    """Table 1's (per-tag, avg, var) for ``row``, or ``None``."""
    return paper_a_row(row.model, row.augmentation, row.alpha)


def _check_rows(rows: Sequence[EerRow], tags: Sequence[str]) -> None:
    if not rows:
        raise KerastagError("EER table: no rows to report")
    for row in rows:
        if len(row.per_tag) != len(tags):
            raise KerastagError(
                f"EER row {row.name!r}: {len(row.per_tag)} per-tag values for "
                f"{len(tags)} tags {tuple(tags)}")


def _safe_name(name: str) -> str:
    """Make a row id usable as part of a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "row"


@contextlib.contextmanager
def _new_figure(**kwargs) -> Iterator["matplotlib.figure.Figure"]:
    """Yield a pyplot figure on the Agg backend; close it on exit, also on error.

    Matplotlib is imported here, never at import of kerastag.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(**kwargs)
    try:
        yield fig
    finally:
        plt.close(fig)


def _write_png(fig, out_path: str | os.PathLike) -> Path:
    """Save ``fig`` as a PNG through a temporary file and a rename."""
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png", bbox_inches="tight")
    return out_path


# --------------------------------------------------------------------------- paper A tables


def write_eer_table(rows: Sequence[EerRow], out_dir: str | os.PathLike, *,
                    tags: Sequence[str] = CHIME_HOME_TAGS) -> tuple[Path, Path]:
    """Write the paper-A result table as ``table.csv`` and ``table.md``.

    Args:
        rows: result rows, in display order.
        out_dir: folder for the two files (created if needed).
        tags: tag column names, in the order of ``EerRow.per_tag``.

    Returns:
        ``(csv_path, md_path)``.

    Raises:
        KerastagError: no rows, or a row whose per-tag count differs from ``tags``.
    """
    _check_rows(rows, tags)
    out_dir = Path(out_dir)
    csv_path = write_text_atomic(out_dir / "table.csv", _eer_csv_text(rows, tags))
    md_path = write_text_atomic(out_dir / "table.md", _eer_markdown(rows, tags))
    return csv_path, md_path


def _eer_csv_text(rows: Sequence[EerRow], tags: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*EER_FIXED_COLUMNS, *tags, *EER_TAIL_COLUMNS])
    for row in rows:
        writer.writerow([row.model, row.augmentation, _alpha_text(row.alpha),
                         *(_num(v) for v in row.per_tag), _num(row.average),
                         _num(row.var_1e3)])
    return buffer.getvalue()


def read_eer_table(csv_path: str | os.PathLike) -> list[EerRow]:
    """Read a ``table.csv`` written by :func:`write_eer_table`.

    Args:
        csv_path: the CSV file.

    Returns:
        The rows, with ``name`` derived by :func:`row_name`.

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
    n_tags = _check_eer_header(csv_path, lines[0])
    return [_parse_eer_line(csv_path, number, cells, n_tags)
            for number, cells in enumerate(lines[1:], start=2) if cells]


def _check_eer_header(csv_path: Path, header: list[str]) -> int:
    fixed, tail = len(EER_FIXED_COLUMNS), len(EER_TAIL_COLUMNS)
    if (tuple(header[:fixed]) != EER_FIXED_COLUMNS
            or tuple(header[-tail:]) != EER_TAIL_COLUMNS or len(header) <= fixed + tail):
        raise KerastagError(
            f"{csv_path}: header {','.join(header)!r} is not "
            f"'model,augmentation,alpha,<tags>,avg,var_1e3'")
    return len(header) - fixed - tail


def _parse_eer_line(csv_path: Path, number: int, cells: list[str], n_tags: int) -> EerRow:
    expected = len(EER_FIXED_COLUMNS) + n_tags + len(EER_TAIL_COLUMNS)
    if len(cells) != expected:
        raise KerastagError(
            f"{csv_path}:{number}: {len(cells)} cells, expected {expected}")
    model, augmentation, alpha_text = cells[:3]
    try:
        alpha = float(alpha_text) if alpha_text.strip() else None
        values = [float(cell) for cell in cells[3:]]
    except ValueError:
        raise KerastagError(f"{csv_path}:{number}: non-numeric value in {cells}") from None
    return EerRow(name=row_name(augmentation, alpha), model=model,
                  augmentation=augmentation, alpha=alpha,
                  per_tag=tuple(values[:n_tags]), average=values[n_tags],
                  var_1e3=values[n_tags + 1])


def _eer_markdown(rows: Sequence[EerRow], tags: Sequence[str]) -> str:
    header = ["row", "model", "augmentation", "alpha", *tags, "avg", "paper avg",
              "Δ avg", "var ×1e-3", "paper var", "Δ var"]
    lines = ["# Paper A: EER per tag, ours beside Table 1 of the paper", "",
             _md_line(header), _md_line(["---"] * len(header))]
    for row in rows:
        lines.append(_md_line(_md_row_cells(row)))
        paper = _paper(row)
        if paper is not None and len(paper[0]) == len(tags):
            lines.append(_md_line(["↳ paper", "", "", "",
                                   *(_num(v, 2) for v in paper[0]),
                                   *[""] * 6]))
    lines += ["", *_eer_legend(tags)]
    return "\n".join(lines) + "\n"


def _md_row_cells(row: EerRow) -> list[str]:
    paper = _paper(row)
    if paper is None:
        comparison_avg = comparison_var = [NO_PAPER, NO_PAPER]
    else:
        comparison_avg = [_num(paper[1], 2), _signed(row.average - paper[1])]
        comparison_var = [_num(paper[2], 2), _signed(row.var_1e3 - paper[2])]
    return [row.name, row.model, row.augmentation, _alpha_text(row.alpha),
            *(_num(v) for v in row.per_tag), _num(row.average), *comparison_avg,
            _num(row.var_1e3), *comparison_var]


def _md_line(cells: Sequence[str]) -> str:
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
        "is within rounding); the '↳ paper' line gives its per-tag EERs.",
        "- Δ = ours − paper; negative Δ avg means a lower (better) EER than published.",
        f"- {NO_PAPER} = no counterpart in Table 1; nan = EER undefined "
        "(a tag without positive or negative clips).",
    ]


def format_eer_table(rows: Sequence[EerRow], *,
                     tags: Sequence[str] = CHIME_HOME_TAGS) -> str:
    """Return the paper-A table as aligned plain text for the terminal.

    Args:
        rows: result rows.
        tags: tag column names, in the order of ``EerRow.per_tag``.

    Returns:
        Text with a header line, a rule and one line per row (paper avg and Δ beside).
    """
    _check_rows(rows, tags)
    header = ["row", *tags, "avg", "var1e3", "paper", "Δavg"]
    body = []
    for row in rows:
        paper = _paper(row)
        comparison = ([NO_PAPER, NO_PAPER] if paper is None
                      else [_num(paper[1], 2), _signed(row.average - paper[1])])
        body.append([row.name, *(_num(v) for v in row.per_tag), _num(row.average),
                     _num(row.var_1e3, 2), *comparison])
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    text = [_pad(header, widths), "  ".join("-" * w for w in widths)]
    text += [_pad(line, widths) for line in body]
    return "\n".join(text)


def _pad(cells: Sequence[str], widths: Sequence[int]) -> str:
    first = cells[0].ljust(widths[0])
    rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:])]
    return "  ".join([first, *rest]).rstrip()


# --------------------------------------------------------------------------- paper A figures


def plot_histories(histories: Mapping[str, Sequence["pandas.DataFrame"]],
                   out_dir: str | os.PathLike) -> list[Path]:
    """Plot training curves per row, like Fig. 2 of paper A.

    Each figure has a loss panel and, when the frames carry them, an accuracy panel:
    training and validation curves against epoch, one thin line per fold and the
    mean over the folds still training at that epoch as a thick line.

    Args:
        histories: row name -> one history frame per fold, with columns ``epoch``,
            ``loss``, ``val_loss`` and optionally ``binary_accuracy`` and
            ``val_binary_accuracy`` (or ``accuracy`` and ``val_accuracy``).
        out_dir: folder for ``history_<row>.png``.

    Returns:
        The written PNG paths, in the order of ``histories``.

    Raises:
        KerastagError: a row without frames or a frame without the loss columns.
    """
    out_dir = Path(out_dir)
    return [_plot_history(name, frames, out_dir / f"history_{_safe_name(name)}.png")
            for name, frames in histories.items()]


def _history_panels(name: str, frames: Sequence) -> list[tuple[str, str, str]]:
    """Return (title, train column, validation column) for each panel to draw."""
    if len(frames) == 0:
        raise KerastagError(f"history {name!r}: no fold histories to plot")
    for fold, frame in enumerate(frames):
        missing = {"epoch", "loss", "val_loss"} - set(frame.columns)
        if missing:
            raise KerastagError(
                f"history {name!r} fold {fold}: missing column(s) {sorted(missing)}; "
                f"columns are {list(frame.columns)}")
    panels = [("loss", "loss", "val_loss")]
    for train, val in (("binary_accuracy", "val_binary_accuracy"),
                       ("accuracy", "val_accuracy")):
        if any({train, val} <= set(frame.columns) for frame in frames):
            panels.append(("accuracy", train, val))
            break
    return panels


def _plot_history(name: str, frames: Sequence, out_path: Path) -> Path:
    panels = _history_panels(name, frames)
    with _new_figure(figsize=(6 * len(panels), 4.2)) as fig:
        axes = fig.subplots(1, len(panels), squeeze=False)
        for ax, (title, train, val) in zip(axes[0], panels):
            _draw_curves(ax, frames, train, "C0", "train")
            _draw_curves(ax, frames, val, "C1", "validation")
            ax.set(title=title, xlabel="epoch", ylabel=title)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=9)
        fig.suptitle(f"{name}: {len(frames)} fold(s), thin = fold, thick = mean")
        return _write_png(fig, out_path)


def _draw_curves(ax, frames: Sequence, column: str, color: str, label: str) -> None:
    import pandas as pd

    used = [frame[["epoch", column]] for frame in frames if column in frame.columns]
    if not used:
        return
    for frame in used:
        ax.plot(frame["epoch"], frame[column], color=color, linewidth=0.8, alpha=0.35)
    mean = pd.concat(used).groupby("epoch")[column].mean()
    ax.plot(mean.index, mean.values, color=color, linewidth=2.4, label=f"{label} (mean)")


def plot_eer_vs_paper(rows: Sequence[EerRow], out_path: str | os.PathLike, *,
                      tags: Sequence[str] = CHIME_HOME_TAGS) -> Path:
    """Plot our EER against Table 1 of paper A, one subplot per row.

    Each subplot has grouped bars per tag and for the average: ours and, where the
    paper has the row, the paper's. Subplots share the EER axis; two columns.

    Args:
        rows: result rows.
        out_path: PNG file.
        tags: tag names, in the order of ``EerRow.per_tag``.

    Returns:
        ``out_path`` as a Path.
    """
    _check_rows(rows, tags)
    n_cols = 1 if len(rows) == 1 else 2
    n_rows = math.ceil(len(rows) / n_cols)
    y_max = _eer_y_max(rows)
    with _new_figure(figsize=(6.5 * n_cols, 2.6 * n_rows + 0.8)) as fig:
        axes = fig.subplots(n_rows, n_cols, sharey=True, squeeze=False)
        for ax, row in zip(axes.flat, rows):
            _draw_eer_bars(ax, row, tags, y_max)
        for ax in list(axes.flat)[len(rows):]:
            ax.set_visible(False)
        _eer_legend_and_title(fig)
        return _write_png(fig, out_path)


def _eer_legend_and_title(fig) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(color="C0", label="ours"), Patch(color="C7", label="paper A, Table 1")]
    fig.legend(handles=handles, loc="upper right", ncol=2)
    fig.suptitle("EER per tag: ours vs paper A (lower is better)", x=0.4)
    fig.tight_layout(rect=(0, 0, 1, 0.97))


def _eer_y_max(rows: Sequence[EerRow]) -> float:
    values = [v for row in rows for v in (*row.per_tag, row.average)]
    for row in rows:
        paper = _paper(row)
        if paper is not None:
            values += [*paper[0], paper[1]]
    finite = [v for v in values if math.isfinite(v)]
    return max(0.3, 1.1 * max(finite, default=0.0))


def _draw_eer_bars(ax, row: EerRow, tags: Sequence[str], y_max: float) -> None:
    positions = np.arange(len(tags) + 1)
    ours = [*row.per_tag, row.average]
    paper = _paper(row)
    has_paper = paper is not None and len(paper[0]) == len(tags)
    width = 0.4 if has_paper else 0.6
    ax.bar(positions - (width / 2 if has_paper else 0), ours, width, color="C0")
    if has_paper:
        ax.bar(positions + width / 2, [*paper[0], paper[1]], width, color="C7")
    for position, value in zip(positions, ours):
        if not math.isfinite(value):
            ax.text(position, 0.005, "nan", ha="center", va="bottom", fontsize=8, color="C3")
    note = "" if has_paper else "  (not in Table 1)"
    ax.set_title(f"{row.name}: avg {row.average:.3f}{note}", fontsize=10)
    ax.set_xticks(positions, [*tags, "avg"])
    ax.set_ylim(0, y_max)
    ax.set_ylabel("EER")
    ax.grid(axis="y", alpha=0.3)


def plot_clip_prediction(logmel: np.ndarray, localization: np.ndarray,
                         attention: np.ndarray, clip_probs: np.ndarray,
                         class_names: Sequence[str], out_path: str | os.PathLike, *,
                         title: str = "", frame_hop_s: float = 0.032) -> Path:
    """Plot one clip: log-mel input, frame-level tag probabilities and attention.

    Three stacked panels share the time axis; a bar chart on the right gives the clip
    probabilities. Panels with more than 10 classes are drawn as images.

    Args:
        logmel: ``[shape=(frames, mels)]`` log-mel spectrogram.
        localization: ``[shape=(frames', classes)]`` per-frame tag probabilities.
        attention: ``[shape=(frames', classes)]`` per-frame attention weights.
        clip_probs: ``[shape=(classes,)]`` clip-level probabilities.
        class_names: one name per class.
        out_path: PNG file.
        title: figure title.
        frame_hop_s: hop between log-mel frames in seconds (the model outputs are
            spread over the same duration if they have another frame count).

    Returns:
        ``out_path`` as a Path.

    Raises:
        KerastagError: shapes that do not agree.
    """
    logmel, localization, attention, clip_probs = _check_clip_shapes(
        logmel, localization, attention, clip_probs, class_names)
    duration = logmel.shape[0] * float(frame_hop_s)
    with _new_figure(figsize=(12, 8.5)) as fig:
        grid = fig.add_gridspec(3, 2, width_ratios=(5, 1.3), hspace=0.25, wspace=0.08)
        ax_mel = fig.add_subplot(grid[0, 0])
        ax_loc = fig.add_subplot(grid[1, 0], sharex=ax_mel)
        ax_att = fig.add_subplot(grid[2, 0], sharex=ax_mel)
        _draw_logmel(fig, ax_mel, fig.add_subplot(grid[0, 1]), logmel, duration)
        _draw_frame_values(ax_loc, localization, class_names, duration,
                           "frame-level tag probability", (0.0, 1.0))
        ax_loc.tick_params(labelbottom=False)
        _draw_frame_values(ax_att, attention, class_names, duration, "attention weight",
                           None)
        ax_att.set_xlabel("time (s)")
        _draw_clip_bars(fig.add_subplot(grid[1:, 1]), clip_probs, class_names)
        fig.suptitle(title or "clip prediction")
        return _write_png(fig, out_path)


def _check_clip_shapes(logmel, localization, attention, clip_probs, class_names):
    logmel, localization = np.asarray(logmel, float), np.asarray(localization, float)
    attention, clip_probs = np.asarray(attention, float), np.asarray(clip_probs, float)
    n_classes = len(class_names)
    problems = []
    if logmel.ndim != 2 or logmel.shape[0] == 0:
        problems.append(f"logmel shape {logmel.shape}, expected (frames, mels)")
    for label, array in (("localization", localization), ("attention", attention)):
        if array.ndim != 2 or array.shape[1] != n_classes or array.shape[0] == 0:
            problems.append(f"{label} shape {array.shape}, expected (frames, {n_classes})")
    if clip_probs.shape != (n_classes,):
        problems.append(f"clip_probs shape {clip_probs.shape}, expected ({n_classes},)")
    if problems:
        raise KerastagError("plot_clip_prediction: " + "; ".join(problems))
    return logmel, localization, attention, clip_probs


def _draw_logmel(fig, ax, side_ax, logmel: np.ndarray, duration: float) -> None:
    image = ax.imshow(logmel.T, origin="lower", aspect="auto", cmap="magma",
                      extent=(0, duration, 0, logmel.shape[1]), interpolation="nearest")
    ax.set_ylabel("mel bin")
    ax.set_title("log-mel spectrogram", fontsize=10)
    ax.tick_params(labelbottom=False)
    side_ax.axis("off")
    colorbar_ax = side_ax.inset_axes((0.0, 0.0, 0.12, 1.0))
    fig.colorbar(image, cax=colorbar_ax, label="log energy")


def _draw_frame_values(ax, values: np.ndarray, class_names: Sequence[str],
                       duration: float, label: str, limits) -> None:
    times = (np.arange(values.shape[0]) + 0.5) * duration / values.shape[0]
    if len(class_names) > 10:
        image = ax.imshow(values.T, origin="upper", aspect="auto", cmap="viridis",
                          extent=(0, duration, len(class_names) - 0.5, -0.5),
                          interpolation="nearest")
        if limits is not None:
            image.set_clim(*limits)
        ax.set_yticks(range(0, len(class_names), 5))
        ax.set_ylabel("class index")
    else:
        for index in range(len(class_names)):  # the bar chart is the colour key
            ax.plot(times, values[:, index], color=f"C{index}", linewidth=1.2)
        if limits is not None:
            ax.set_ylim(limits[0] - 0.02, limits[1] + 0.02)
        ax.grid(alpha=0.3)
    ax.set_title(label, fontsize=10)
    ax.set_xlim(0, duration)


def _draw_clip_bars(ax, clip_probs: np.ndarray, class_names: Sequence[str]) -> None:
    positions = np.arange(len(class_names))
    if len(class_names) <= 10:
        ax.barh(positions, clip_probs, color=[f"C{i}" for i in positions])
        for position, value in zip(positions, clip_probs):
            ax.text(min(value, 0.75) + 0.02, position, f"{value:.2f}", va="center", fontsize=9)
        ax.set_yticks(positions, class_names, fontsize=9)
    else:
        ax.barh(positions, clip_probs, color="C0")
        ax.set_yticks(positions, [f"{i} {name}" for i, name in enumerate(class_names)],
                      fontsize=6)
    key = "\n(colour = line)" if len(class_names) <= 10 else ""
    ax.set_title(f"clip probability{key}", fontsize=10)
    ax.yaxis.tick_right()
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("clip probability")
    ax.grid(axis="x", alpha=0.3)


# --------------------------------------------------------------------------- paper B


def write_map_table(rows: Sequence[MapRow], out_dir: str | os.PathLike, *,
                    paper: Mapping[str, float] | None = None) -> tuple[Path, Path]:
    """Write the paper-B result table as ``table.csv`` and ``table.md``.

    Args:
        rows: result rows, in display order.
        out_dir: folder for the two files (created if needed).
        paper: published mAP@3 by row name (e.g. built from
            ``kerastag.paper.PAPER_B_MAP3``); when given, table.md gets a paper column
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
    writer.writerows([row.name, _num(row.map3), _num(row.accuracy)] for row in rows)
    csv_path = write_text_atomic(out_dir / "table.csv", buffer.getvalue())
    md_path = write_text_atomic(out_dir / "table.md", _map_markdown(rows, paper))
    return csv_path, md_path


def _map_markdown(rows: Sequence[MapRow], paper: Mapping[str, float] | None) -> str:
    header = ["model", "mAP@3", "accuracy"]
    if paper is not None:
        header += ["paper mAP@3", "Δ mAP@3"]
    lines = ["# Paper B: mAP@3 and accuracy", "", _md_line(header),
             _md_line(["---"] * len(header))]
    for row in rows:
        cells = [row.name, _num(row.map3), _num(row.accuracy)]
        if paper is not None:
            published = paper.get(row.name)
            cells += ([NO_PAPER, NO_PAPER] if published is None
                      else [f"{published:.3f}", _signed(row.map3 - published)])
        lines.append(_md_line(cells))
    lines += ["", "Legend:", "",
              "- mAP@3 = mean average precision over the 3 top-ranked labels "
              "(higher is better); accuracy = top-1 accuracy."]
    if paper is not None:
        lines.append(f"- paper = published public-leaderboard mAP@3; Δ = ours − paper; "
                     f"{NO_PAPER} = no published number.")
    return "\n".join(lines) + "\n"


def plot_map_per_class(per_class: Mapping[str, np.ndarray], class_names: Sequence[str],
                       out_path: str | os.PathLike) -> Path:
    """Plot per-class mAP@3 of several models as grouped horizontal bars.

    Args:
        per_class: model name -> ``[shape=(classes,)]`` per-class mAP@3.
        class_names: one name per class, drawn top to bottom in this order.
        out_path: PNG file.

    Returns:
        ``out_path`` as a Path.

    Raises:
        KerastagError: no models, or an array whose length is not ``len(class_names)``.
    """
    arrays = _check_per_class(per_class, class_names)
    n_classes, n_models = len(class_names), len(arrays)
    with _new_figure(figsize=(9, 1.5 + n_classes * max(0.25, 0.13 * n_models))) as fig:
        ax = fig.subplots()
        _draw_grouped_barh(ax, arrays, n_classes)
        ax.set_yticks(np.arange(n_classes), class_names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 1.0)
        ax.set_xlabel("mAP@3 per class")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=min(3, n_models),
                  fontsize=9, frameon=False)
        return _write_png(fig, out_path)


def _draw_grouped_barh(ax, arrays: Mapping[str, np.ndarray], n_classes: int) -> None:
    height = 0.8 / len(arrays)
    positions = np.arange(n_classes)
    for index, (name, values) in enumerate(arrays.items()):
        offset = (index - (len(arrays) - 1) / 2) * height
        ax.barh(positions + offset, values, height, color=f"C{index % 10}",
                label=f"{name} (mean {np.nanmean(values):.3f})")


def _check_per_class(per_class: Mapping[str, np.ndarray],
                     class_names: Sequence[str]) -> dict[str, np.ndarray]:
    if not per_class:
        raise KerastagError("plot_map_per_class: no models to plot")
    arrays = {name: np.asarray(values, float) for name, values in per_class.items()}
    for name, values in arrays.items():
        if values.shape != (len(class_names),):
            raise KerastagError(
                f"plot_map_per_class: {name!r} has shape {values.shape}, expected "
                f"({len(class_names)},) for the {len(class_names)} class names")
    return arrays
