"""The stamp of a built-in demo dataset (``kerastag-demo.json``): writer and reader.

When a config with ``dataset.demo: true`` writes its demo, kerastag leaves a stamp beside
the dataset folder (in ``dataset.path``, next to ``chime_home/`` or ``FSDKaggle2018/``)::

    {"format": "kerastag-demo", "version": 1,
     "layout": "chime-home",      the demo's layout
     "clips": 300,                the number of clips asked for (the generator's default
                                  filled in when the config gave none)
     "seed": 0,                   dataset.demo_seed
     "sounds": 2}                 kerastag.datasets.demo.DEMO_SOUNDS_VERSION at writing

A later config on the same folder is checked against it, so that a folder written with
other settings or by an earlier sound bank is not trained on silently. A folder without a
stamp (written by ``kerastag data demo`` or before stamps existed) is not checked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from kerastag.errors import DatasetError
from kerastag.fileio import write_text_atomic

FORMAT = "kerastag-demo"
VERSION = 1
FILE_NAME = "kerastag-demo.json"
FIELDS = ("layout", "clips", "seed", "sounds")


def write_demo_stamp(folder: str | os.PathLike, *, layout: str, clips: int, seed: int,
                     sounds: int) -> Path:
    """Write ``folder/kerastag-demo.json`` (through a temporary name and a rename)."""
    document = {"format": FORMAT, "version": VERSION, "layout": layout, "clips": int(clips),
                "seed": int(seed), "sounds": int(sounds)}
    return write_text_atomic(Path(folder) / FILE_NAME, json.dumps(document, indent=1) + "\n")


def read_demo_stamp(folder: str | os.PathLike) -> dict | None:
    """The stamp's ``layout``, ``clips``, ``seed`` and ``sounds``; None when there is none.

    Raises:
        DatasetError: the file is not a kerastag demo stamp of a known version.
    """
    path = Path(folder) / FILE_NAME
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DatasetError(f"{path}: not a kerastag demo stamp ({error}); delete it and the "
                           f"demo beside it to write the demo again") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise DatasetError(f"{path}: expected a JSON object with format {FORMAT!r}")
    if document.get("version") != VERSION:
        raise DatasetError(f"{path}: demo stamp version {document.get('version')!r} is not "
                           f"{VERSION}, the one this kerastag reads")
    missing = [key for key in FIELDS if key not in document]
    if missing:
        raise DatasetError(f"{path}: demo stamp lacks {', '.join(missing)}")
    return {key: document[key] for key in FIELDS}
