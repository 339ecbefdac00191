"""Shared figure helpers: a figure on the Agg backend, written atomically as PNG, and
the training-history curves every task draws.

Matplotlib is imported lazily, inside :func:`new_figure`, never at import of kerastag.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Mapping, Sequence

from kerastag.errors import KerastagError
from kerastag.fileio import atomic_path

if TYPE_CHECKING:
    import matplotlib.figure
    import pandas

DPI = 100


@contextlib.contextmanager
def new_figure(**kwargs) -> Iterator["matplotlib.figure.Figure"]:
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


def write_png(fig, out_path: str | os.PathLike) -> Path:
    """Save ``fig`` as a PNG through a temporary file and a rename."""
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png", bbox_inches="tight")
    return out_path


def safe_name(name: str) -> str:
    """Make a row id usable as part of a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "row"


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
    return [_plot_history(name, frames, out_dir / f"history_{safe_name(name)}.png")
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
    with new_figure(figsize=(6 * len(panels), 4.2)) as fig:
        axes = fig.subplots(1, len(panels), squeeze=False)
        for ax, (title, train, val) in zip(axes[0], panels):
            _draw_curves(ax, frames, train, "C0", "train")
            _draw_curves(ax, frames, val, "C1", "validation")
            ax.set(title=title, xlabel="epoch", ylabel=title)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=9)
        fig.suptitle(f"{name}: {len(frames)} fold(s), thin = fold, thick = mean")
        return write_png(fig, out_path)


def _draw_curves(ax, frames: Sequence, column: str, color: str, label: str) -> None:
    import pandas as pd

    used = [frame[["epoch", column]] for frame in frames if column in frame.columns]
    if not used:
        return
    for frame in used:
        ax.plot(frame["epoch"], frame[column], color=color, linewidth=0.8, alpha=0.35)
    mean = pd.concat(used).groupby("epoch")[column].mean()
    ax.plot(mean.index, mean.values, color=color, linewidth=2.4, label=f"{label} (mean)")
