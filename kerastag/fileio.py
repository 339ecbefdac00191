"""Small file helpers: every file kerastag writes appears whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

#: What :func:`atomic_path`'s temporary files look like (``.<stem>.<random>.tmp<suffix>``);
#: one left behind means its writer was killed before the rename.
TEMPORARY_GLOB = ".*.tmp*"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary file keeps ``path``'s suffix (so writers that look at the extension,
    such as ``keras.Model.save`` or ``numpy.save``, behave), lives in the same folder
    (so the final ``os.replace`` is atomic) and is removed if the block raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def remove_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that killed writers left anywhere under ``folder``.

    Only call this while no writer can be at work in ``folder`` (e.g. under its lock).

    Returns:
        The removed paths.
    """
    stale = [p for p in Path(folder).rglob(TEMPORARY_GLOB) if p.is_file()]
    for path in stale:
        path.unlink()
    return stale
