"""Small datasets whose text files the bad-file tests may damage, one test at a time.

Each fixture is made once per session; a test damages a file only through
:func:`swapped`, which puts the original bytes back (or removes a file that was not
there) however the test ends. Audio is hard-linked from the shared demos, never written.
"""

import contextlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile


def _copy_text_link_audio(src: str, dst: str) -> None:
    """copytree's copy function: wav files hard-linked (copied where links fail), text copied."""
    if src.endswith(".wav"):
        with contextlib.suppress(OSError):
            os.link(src, dst)
            return
    shutil.copy2(src, dst)


@contextlib.contextmanager
def swapped(path: Path, data: bytes | None):
    """Give ``path`` the bytes ``data`` (None: remove it) for the ``with`` block."""
    original = path.read_bytes() if path.is_file() else None
    try:
        if data is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(data)
        yield path
    finally:
        if original is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(original)


@pytest.fixture
def swap():
    """:func:`swapped`, for tests in modules that cannot import this conftest."""
    return swapped


@pytest.fixture(scope="session")
def bad_chime(chime_demo, tmp_path_factory):
    """A CHiME-Home demo copy (20 + 8 chunks) whose CSVs may be damaged via ``swap``."""
    root = tmp_path_factory.mktemp("bad_chime") / "chime_home"
    shutil.copytree(chime_demo[0], root, copy_function=_copy_text_link_audio)
    return root


@pytest.fixture(scope="session")
def bad_fsd(fsd_demo, tmp_path_factory):
    """An FSDKaggle2018 Zenodo demo copy (24 + 10 clips) whose CSVs may be damaged."""
    root = tmp_path_factory.mktemp("bad_fsd")
    shutil.copytree(fsd_demo[0], root, copy_function=_copy_text_link_audio, dirs_exist_ok=True)
    return root


@pytest.fixture(scope="session")
def bad_fsd_kaggle(tmp_path_factory):
    """An FSDKaggle2018 Kaggle-layout demo (8 + 10 clips) whose CSVs may be damaged."""
    from kerastag.datasets.demo import make_fsdkaggle2018_demo

    return make_fsdkaggle2018_demo(tmp_path_factory.mktemp("bad_kaggle"), clips=8, seed=3,
                                   variant="kaggle")[0]


@pytest.fixture(scope="session")
def bad_csv(tmp_path_factory):
    """A generic CSV layout: ``labels.csv`` naming ``a.wav``, ``b.wav`` and ``sub/c.wav``."""
    root = tmp_path_factory.mktemp("bad_csv")
    (root / "sub").mkdir()
    for name in ("a.wav", "b.wav", "sub/c.wav"):
        soundfile.write(root / name, np.zeros(1600, dtype=np.float32), 16000)
    (root / "labels.csv").write_text("filename,labels,fold\na.wav,dog,0\nb.wav,cat dog,1\n"
                                     "sub/c.wav,cat,\n", encoding="utf-8")
    return root
