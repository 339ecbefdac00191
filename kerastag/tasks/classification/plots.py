"""Paper B's figure: per-class mAP@3 of several models as grouped bars."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from kerastag.errors import KerastagError
from kerastag.plots import new_figure, write_png


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
    with new_figure(figsize=(9, 1.5 + n_classes * max(0.25, 0.13 * n_models))) as fig:
        ax = fig.subplots()
        _draw_grouped_barh(ax, arrays, n_classes)
        ax.set_yticks(np.arange(n_classes), class_names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 1.0)
        ax.set_xlabel("mAP@3 per class")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=min(3, n_models),
                  fontsize=9, frameon=False)
        return write_png(fig, out_path)


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
