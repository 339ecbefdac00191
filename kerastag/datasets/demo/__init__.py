"""Synthetic CHiME-Home and FSDKaggle2018 datasets in the real on-disk layouts.

The real archives cannot be downloaded here, so kerastag is exercised end to end on small
synthetic copies written byte for byte in the layouts of ``DATASETS.md``: the real readers
(:mod:`kerastag.datasets.chime_home`, :mod:`kerastag.datasets.fsdkaggle2018`) read them
unchanged, and the demo takes every file name, header, key, tag letter and the fold count
from those readers. The sounds are synthesised so that the classes can be told apart only
by listening (pitch, formants, rhythm, stationarity, spectrum), over a noise floor, at
random times and levels: a model can learn the task, but not trivially.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same seed gives
byte-identical files (16-bit PCM wavs with no timestamps, CSVs with LF line endings and
deterministic row order). A dataset is written into a temporary sibling folder and renamed
into place at the end, so an interrupted run leaves nothing half-written behind.

Modules:
    :mod:`~kerastag.datasets.demo.chime_home`: CHiME-Home planner and writer.
    :mod:`~kerastag.datasets.demo.long_recordings`: long CHiME-Home-like recordings with
        their sound events (``events.tsv``), for event detection.
    :mod:`~kerastag.datasets.demo.fsdkaggle2018`: FSDKaggle2018 planner and writer.
    :mod:`~kerastag.datasets.demo.own_data`: a user's own folder in the ``csv`` layout
        (word-named classes, mixed lengths, rates and formats; tagging or classification).
    :mod:`~kerastag.datasets.demo.chime_sounds`, :mod:`~kerastag.datasets.demo.fsd_sounds`:
        the two sound banks.
    :mod:`~kerastag.datasets.demo.dsp`: signal primitives the banks share.
    :mod:`~kerastag.datasets.demo.staging`: byte-stable writers, stage-then-rename.
    :mod:`~kerastag.datasets.demo.truth`: :class:`DemoClip`, the ground truth returned.
"""

from __future__ import annotations

from kerastag.datasets.demo.chime_home import DEFAULT_CHIME_CLIPS, make_chime_home_demo
from kerastag.datasets.demo.fsd_sounds import FSD_CLASSES
from kerastag.datasets.demo.fsdkaggle2018 import (
    DEFAULT_FSD_CLIPS, FSD_LICENSES, FSD_VARIANTS, make_fsdkaggle2018_demo,
)
from kerastag.datasets.demo.long_recordings import make_chime_long_demo
from kerastag.datasets.demo.own_data import OWN_CLASSES, OWN_DATA_KINDS, make_own_data_demo
from kerastag.datasets.demo.truth import DemoClip

#: Version of the demos' sound banks, recorded in a demo's stamp
#: (:mod:`kerastag.formats.demo_stamp`); bump it whenever a demo's bytes change for the
#: same settings, so that a folder written before is not trained on silently.
#: 2: the CHiME-Home sounds of 2026-12-03 (knock trains, repeated motifs, a room per chunk).
DEMO_SOUNDS_VERSION = 2

__all__ = [
    "DEMO_SOUNDS_VERSION",
    "DemoClip", "make_chime_home_demo", "make_chime_long_demo", "make_fsdkaggle2018_demo",
    "make_own_data_demo", "OWN_CLASSES", "OWN_DATA_KINDS",
    "DEFAULT_CHIME_CLIPS", "DEFAULT_FSD_CLIPS", "FSD_CLASSES", "FSD_LICENSES", "FSD_VARIANTS",
]
