"""File names of the per-file outputs of ``predict --plot`` (and ``--events``): one plot
per scored file, named after the name :func:`kerastag.predict.expand_inputs` gives it
(its path relative to the folder given), unique within one command."""

from __future__ import annotations

import collections
from pathlib import PurePath


def output_stems(names: list[str]) -> list[str]:
    """Unique file-name stems for the plots of inputs named ``names``
    (:attr:`kerastag.predict.AudioInput.name`).

    ``day1/rec.wav`` -> ``day1__rec``; where two stems clash (``rec.wav``, ``rec.flac``)
    both keep their extension (``rec.wav``, ``rec.flac``); a full path loses its root and
    ``..`` parts (``/data/x.wav`` -> ``data__x``).
    """
    parts = [[part for part in PurePath(name.replace("\\", "/")).parts
              if part not in ("/", "..", ".")] or ["audio"] for name in names]
    short = ["__".join(p[:-1] + [PurePath(p[-1]).stem]) for p in parts]
    return unique_names(short, ["__".join(p) for p in parts])


def unique_names(preferred: list[str], fallback: list[str]) -> list[str]:
    """``preferred``, but ``fallback`` where two preferred entries are equal."""
    counts = collections.Counter(preferred)
    return [p if counts[p] == 1 else f for p, f in zip(preferred, fallback)]
