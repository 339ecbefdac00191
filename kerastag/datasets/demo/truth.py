"""The ground truth a demo generator returns for every clip it writes."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class DemoClip:
    """Ground truth of one synthetic clip, to compare a reader's :class:`Clip` against.

    Attributes:
        clip_id: CHiME-Home chunk name or FSDKaggle2018 ``fname``.
        tags: sorted tags (CHiME-Home letters, FSDKaggle2018 label names), possibly empty.
        fold: CHiME-Home development fold 0..4, else ``None``.
        subset: ``"development"``/``"evaluation"`` or ``"train"``/``"test"``.
        extra: facts the files carry (``manually_verified``, ``usage``, ``majorityvote``)
            plus demo-only facts (``condition``, ``duration_s``); not compared.
    """

    clip_id: str
    tags: tuple[str, ...]
    fold: int | None
    subset: str
    extra: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False, hash=False)
