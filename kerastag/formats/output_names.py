"""File names of the per-file outputs of ``predict --plot`` and ``--events`` (plots, frame
scores): one file per scored recording, named after the name
:func:`kerastag.predict.expand_inputs` gives it (its path relative to the folder given),
unique within one command. The readers of those files (``score-events`` on a scores
folder) find a recording's file by :func:`stem_candidates`."""

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
    forms = [_stem_forms(name) for name in names]
    return unique_names([short for short, _ in forms], [long for _, long in forms])


def unique_names(preferred: list[str], fallback: list[str]) -> list[str]:
    """``preferred``, but ``fallback`` where two preferred entries are equal."""
    counts = collections.Counter(preferred)
    return [p if counts[p] == 1 else f for p, f in zip(preferred, fallback)]


def stem_candidates(name: str) -> list[str]:
    """The stems :func:`output_stems` may have given the recording ``name``: the short
    one, then the one that keeps the extension (when two recordings' stems clashed)."""
    return list(dict.fromkeys(_stem_forms(name)))


def _stem_forms(name: str) -> tuple[str, str]:
    """``(short, long)`` stems of ``name``: its parts joined by ``__``, without and with
    the extension."""
    parts = [part for part in PurePath(name.replace("\\", "/")).parts
             if part not in ("/", "..", ".")] or ["audio"]
    return "__".join(parts[:-1] + [PurePath(parts[-1]).stem]), "__".join(parts)
