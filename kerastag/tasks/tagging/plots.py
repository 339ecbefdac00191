"""Paper A's figures: our per-class EER (beside Table 1 on CHiME-Home), and one clip's
frame-level tag probabilities and attention (``kerastag predict --plot``)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from kerastag.errors import KerastagError
from kerastag.formats.eer_table import EerRow, check_rows, paper_row, with_paper
from kerastag.plots import new_figure, write_png
from kerastag.reference_results import CHIME_HOME_TAGS


def plot_eer_vs_paper(rows: Sequence[EerRow], out_path: str | os.PathLike, *,
                      tags: Sequence[str] = CHIME_HOME_TAGS,
                      paper: bool | None = None) -> Path:
    """Plot our EER per class, against Table 1 of paper A on CHiME-Home; one subplot
    per row.

    Each subplot has bars per class and for the average: ours and, with ``paper`` where
    the paper has the row, the paper's beside. Subplots share the EER axis; two columns.

    Args:
        rows: result rows.
        out_path: PNG file.
        tags: class names, in the order of ``EerRow.per_tag``.
        paper: draw Table 1's numbers beside ours; None: when ``tags`` are CHiME-Home's
            (a task passes :func:`kerastag.reference_results.compares_with_paper_a`).

    Returns:
        ``out_path`` as a Path.
    """
    return plot_eer(rows, out_path, tags=tags, paper=with_paper(tags, paper))


def plot_eer(rows: Sequence[EerRow], out_path: str | os.PathLike, *,
             tags: Sequence[str], paper: bool) -> Path:
    """:func:`plot_eer_vs_paper` with ``paper`` decided: without it, our per-class EER only
    (the tagging task's ``plots/eer_per_class.png``)."""
    check_rows(rows, tags)
    n_cols = 1 if len(rows) == 1 else 2
    n_rows = math.ceil(len(rows) / n_cols)
    y_max = _eer_y_max(rows, paper)
    width = max(6.5, 0.45 * (len(tags) + 1) + 1.5)
    with new_figure(figsize=(width * n_cols, 2.6 * n_rows + 0.8)) as fig:
        axes = fig.subplots(n_rows, n_cols, sharey=True, squeeze=False)
        for ax, row in zip(axes.flat, rows):
            _draw_eer_bars(ax, row, tags, y_max, paper)
        for ax in list(axes.flat)[len(rows):]:
            ax.set_visible(False)
        _eer_legend_and_title(fig, paper)
        return write_png(fig, out_path)


def _eer_legend_and_title(fig, paper: bool) -> None:
    from matplotlib.patches import Patch

    if paper:
        handles = [Patch(color="C0", label="ours"), Patch(color="C7", label="paper A, Table 1")]
        fig.legend(handles=handles, loc="upper right", ncol=2)
        fig.suptitle("EER per tag: ours vs paper A (lower is better)", x=0.4)
    else:
        fig.suptitle("EER per class (lower is better)")
    fig.tight_layout(rect=(0, 0, 1, 0.97))


def _eer_y_max(rows: Sequence[EerRow], paper: bool) -> float:
    values = [v for row in rows for v in (*row.per_tag, row.average)]
    for row in rows if paper else ():
        published = paper_row(row)
        if published is not None and published[0] is not None:
            values += [*published[0], published[1]]
    finite = [v for v in values if math.isfinite(v)]
    return max(0.3, 1.1 * max(finite, default=0.0))


def _draw_eer_bars(ax, row: EerRow, tags: Sequence[str], y_max: float, show_paper: bool) -> None:
    positions = np.arange(len(tags) + 1)
    ours = [*row.per_tag, row.average]
    paper = paper_row(row) if show_paper else None
    has_paper = paper is not None and paper[0] is not None and len(paper[0]) == len(tags)
    width = 0.4 if has_paper else 0.6
    ax.bar(positions - (width / 2 if has_paper else 0), ours, width, color="C0")
    if has_paper:
        ax.bar(positions + width / 2, [*paper[0], paper[1]], width, color="C7")
    for position, value in zip(positions, ours):
        if not math.isfinite(value):
            ax.text(position, 0.005, "nan", ha="center", va="bottom", fontsize=8, color="C3")
    note = "" if has_paper or not show_paper else "  (not in Table 1)"
    ax.set_title(f"{row.name}: avg {row.average:.3f}{note}", fontsize=10)
    ax.set_xticks(positions, [*tags, "avg"], rotation=0 if len(tags) <= 8 else 45,
                  ha="center" if len(tags) <= 8 else "right")
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
    with new_figure(figsize=(12, 8.5)) as fig:
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
        return write_png(fig, out_path)


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


def plot_event_timeline(frames: np.ndarray, events, class_names: Sequence[str],
                        thresholds: Sequence[float], out_path: str | os.PathLike, *,
                        frame_hop_seconds: float, title: str = "") -> Path:
    """Plot a recording's event detection: frame scores and the detected events.

    Top: the frame-level tag probabilities as an image (tags x time). Bottom: one lane
    per tag with its events as bars, the tag's threshold in the lane label.

    Args:
        frames: ``[shape=(frames, classes)]`` frame-level tag probabilities.
        events: ``(onset s, offset s, label)`` tuples.
        class_names: one name per class (column of ``frames``).
        thresholds: ``[shape=(classes,)]`` decision thresholds.
        out_path: PNG file.
        frame_hop_seconds: time between frames.

    Raises:
        KerastagError: shapes that do not agree.
    """
    frames = np.asarray(frames, np.float32)
    if frames.ndim != 2 or frames.shape[1] != len(class_names) or len(thresholds) != len(class_names):
        raise KerastagError(f"plot_event_timeline: frames {frames.shape}, "
                            f"{len(class_names)} classes and {len(thresholds)} thresholds disagree")
    duration = max(len(frames) * float(frame_hop_seconds), 1e-3)
    lanes = {name: k for k, name in enumerate(class_names)}
    with new_figure(figsize=(14, 6)) as fig:
        grid = fig.add_gridspec(2, 2, width_ratios=(60, 1), hspace=0.12, wspace=0.02)
        ax_scores = fig.add_subplot(grid[0, 0])
        ax_events = fig.add_subplot(grid[1, 0], sharex=ax_scores)
        image = ax_scores.imshow(frames.T, aspect="auto", origin="lower", vmin=0.0, vmax=1.0,
                                 extent=(0.0, duration, -0.5, len(class_names) - 0.5),
                                 interpolation="nearest", cmap="magma")
        fig.colorbar(image, cax=fig.add_subplot(grid[0, 1]), label="frame probability")
        ax_scores.set_yticks(range(len(class_names)), class_names)
        ax_scores.set_ylabel("tag")
        ax_scores.tick_params(labelbottom=False)
        for onset, offset, label in events:
            ax_events.broken_barh([(onset, offset - onset)], (lanes[label] - 0.4, 0.8),
                                  color=f"C{lanes[label] % 10}")
        ax_events.set_yticks(range(len(class_names)),
                             [f"{c} (>={t:.2f})" for c, t in zip(class_names, thresholds)])
        ax_events.set_ylim(-0.5, len(class_names) - 0.5)
        ax_events.set_xlim(0.0, duration)
        ax_events.set_xlabel("time (s)")
        ax_events.set_ylabel(f"events ({len(events)})")
        ax_events.grid(axis="x", alpha=0.3)
        fig.suptitle(title or "sound events")
        return write_png(fig, out_path)


def plot_event_calibration(tags: Sequence[str], before: Sequence[float], after: Sequence[float],
                           out_path: str | os.PathLike, *, title: str) -> Path:
    """``calibrate --events``' figure for one row: each tag's event-based F1 with
    ``predict --events``' defaults (0.5) and with its tuned frame decision, on the
    recordings it was tuned on (``thresholds/<row>_events.png``)."""
    positions = np.arange(len(tags))
    with new_figure(figsize=(max(5.0, 0.7 * len(tags) + 2.0), 3.2)) as fig:
        ax = fig.subplots()
        ax.bar(positions - 0.2, before, 0.4, label="threshold 0.5", color="#bbbbbb")
        ax.bar(positions + 0.2, after, 0.4, label="tuned frame decision", color="#3a75b0")
        ax.set_xticks(positions, list(tags))
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("event-based F1 (collar 0.2 s)")
        ax.set_title(title, fontsize=10)
        ax.legend(loc="lower right", fontsize=8)
        return write_png(fig, out_path)
