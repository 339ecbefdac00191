"""The in-memory form every dataset reader returns."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from kerastag.errors import DatasetError


@dataclasses.dataclass(frozen=True)
class Clip:
    """One audio clip and its annotation.

    Attributes:
        clip_id: the dataset's own name for the clip (CHiME-Home chunk name,
            FSDKaggle2018 ``fname``, or the CSV ``filename``).
        path: the audio file the features are computed from (CHiME-Home: the 16 kHz file).
        tags: the clip's tags in the dataset's class order, possibly empty.
        fold: cross-validation fold 0..4, or ``None`` (evaluation/test clips).
        subset: ``"development"``/``"evaluation"`` (CHiME-Home), ``"train"``/``"test"``
            (FSDKaggle2018 and CSV).
        extra: layout-specific facts, e.g. ``path_48k`` (CHiME-Home),
            ``manually_verified`` (FSDKaggle2018 train), ``usage`` (FSDKaggle2018 test).
    """

    clip_id: str
    path: Path
    tags: tuple[str, ...]
    fold: int | None
    subset: str
    extra: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False, hash=False)


@dataclasses.dataclass
class Dataset:
    """Clips of one dataset plus its class list (in the dataset's canonical order)."""

    layout: str
    root: Path
    classes: tuple[str, ...]
    clips: list[Clip]

    def subset(self, name: str) -> list[Clip]:
        """Clips of one subset (``development``, ``evaluation``, ``train``, ``test``)."""
        return [clip for clip in self.clips if clip.subset == name]

    def folds(self) -> list[int]:
        """Sorted distinct fold numbers among the clips that have one."""
        return sorted({clip.fold for clip in self.clips if clip.fold is not None})


class Problems:
    """Collects dataset problems, or raises on the first one.

    Readers report every problem through :meth:`add`. ``data check`` passes a collecting
    instance and lists them all; ordinary loading uses ``Problems(strict=True)``, which
    raises :class:`DatasetError` with the first message.
    """

    def __init__(self, *, strict: bool):
        self.strict = strict
        self.messages: list[str] = []

    def add(self, where: str | Path, what: str) -> None:
        message = f"{where}: {what}"
        if self.strict:
            raise DatasetError(message)
        self.messages.append(message)

    def __bool__(self) -> bool:
        return bool(self.messages)
