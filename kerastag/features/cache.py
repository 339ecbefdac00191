"""The on-disk feature cache: where features live, how they are written and read.

Layout: ``cache_dir/<spec.name>-<spec_hash(spec)>/<clip_key(path)>.npy``, one plain
``.npy`` array per clip, and a ``params.json`` per folder naming the spec. The spec hash
covers the feature type, every parameter and :data:`CACHE_FORMAT_VERSION`; the clip key
covers the audio file's absolute path, size and modification time (ns). An unchanged
file is so read from the cache, a changed file or a changed parameter is recomputed.
Every cache file is written to a temporary name and renamed, so an interrupted or failed
extraction leaves no partial ``.npy`` behind; a file that cannot be read counts as not
cached.

Reading: ``numpy.load`` when memory-mapping; otherwise a hand-written reader (memoised
header parse, one ``readv`` per file into one shared block), kept because it is faster
than plain ``numpy.load`` on a cached pass by more than 10%: ``benchmarks/features.py``
prints both figures side by side (``benchmarks/README.md``). :data:`FAST_NPY_READER`
switches it off.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import math
import os
import stat
from pathlib import Path

import numpy as np

from kerastag.errors import AudioError, FeatureError
from kerastag.features.specs import FeatureSpec
from kerastag.fileio import atomic_path, write_text_atomic

#: Bumped whenever a feature's computation changes without a change of its parameters;
#: part of every cache folder's hash, so old caches are not reused.
CACHE_FORMAT_VERSION = 1

#: Read cached arrays with the hand-written reader (False: plain ``numpy.load``, which
#: ``benchmarks/features.py`` times side by side).
FAST_NPY_READER = True

_NPY_MAGIC = b"\x93NUMPY"


def spec_hash(spec: FeatureSpec) -> str:
    """8 hex digits identifying a spec's name, parameters and the cache format."""
    text = json.dumps(_folder_params(spec), sort_keys=True)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]


def cache_folder(spec: FeatureSpec, cache_dir: str | os.PathLike) -> Path:
    """``cache_dir/<spec.name>-<spec_hash(spec)>``: where one spec's features live."""
    return Path(cache_dir) / f"{spec.name}-{spec_hash(spec)}"


def clip_key(path: str | os.PathLike) -> str:
    """20 hex digits hashing a file's absolute path, size in bytes and mtime in ns.

    The path is made absolute but symlinks are not resolved (that costs a system call
    per path component): a file reached through two different paths is cached twice.

    Raises:
        AudioError: the file does not exist or is a folder.
    """
    absolute = os.path.abspath(path)
    try:
        info = os.stat(absolute)
    except OSError:
        raise AudioError(f"{path}: audio file not found") from None
    if stat.S_ISDIR(info.st_mode):
        raise AudioError(f"{path}: is a folder, expected an audio file")
    text = f"{absolute}\n{info.st_size}\n{info.st_mtime_ns}"
    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:20]


def cached_path(path: str | os.PathLike, spec: FeatureSpec,
                cache_dir: str | os.PathLike) -> Path:
    """The cache file that holds (or will hold) ``spec``'s features of ``path``.

    Raises:
        AudioError: ``path`` does not exist.
    """
    return cache_folder(spec, cache_dir) / f"{clip_key(path)}.npy"


def load_cached(path: str | os.PathLike, spec: FeatureSpec, cache_dir: str | os.PathLike,
                *, mmap: bool = False) -> np.ndarray | None:
    """``spec``'s cached features of ``path``, or ``None`` when they are not cached.

    A cache file that cannot be read counts as not cached.

    Raises:
        AudioError: ``path`` does not exist.
    """
    return read_npy(cached_path(path, spec, cache_dir), mmap=mmap)


def prepare_cache_folder(spec: FeatureSpec, cache_dir: Path) -> Path:
    """Create the spec's cache folder with its ``params.json``, or check the existing one.

    Returns:
        The folder, :func:`cache_folder` of ``spec``.

    Raises:
        FeatureError: the folder cannot be created, or its ``params.json`` describes a
            different spec.
    """
    folder = cache_folder(spec, cache_dir)
    expected = _folder_params(spec)
    params_file = folder / "params.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not params_file.exists():
            write_text_atomic(params_file, json.dumps(expected, indent=2, sort_keys=True) + "\n")
            return folder
        found = json.loads(params_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FeatureError(f"{folder}: cannot use the feature cache ({exc.strerror or exc})") \
            from None
    except ValueError:
        found = None
    if found != json.loads(json.dumps(expected)):
        raise FeatureError(f"{params_file}: unreadable or written for other features than "
                           f"{spec.to_dict()}; delete the folder {folder}")
    return folder


def store_features(file: Path, features: np.ndarray) -> None:
    """Write ``features`` to the cache file ``file`` (a temporary file, then a rename).

    Raises:
        FeatureError: the file cannot be written (nothing is left behind).
    """
    try:
        with atomic_path(file) as tmp:
            np.save(tmp, features, allow_pickle=False)
    except OSError as exc:
        raise FeatureError(f"{file}: cannot write cached features ({exc.strerror or exc})") \
            from None


def read_cached(files: list[Path], *, mmap: bool) -> list[np.ndarray | None]:
    """The cached arrays of ``files``, ``None`` where missing or unreadable.

    Args:
        files: cache files (``.npy``).
        mmap: memory-map the arrays read-only instead of reading them.
    """
    if mmap or not FAST_NPY_READER or not hasattr(os, "readv"):
        return [read_npy(file, mmap=mmap) for file in files]
    return _read_npy_batch(files)


def read_npy(file: Path, *, mmap: bool) -> np.ndarray | None:
    """An array cached by :func:`store_features`, or ``None`` if missing or unreadable.

    Args:
        file: the ``.npy`` file.
        mmap: return a read-only ``np.memmap`` of it.
    """
    try:
        if mmap:
            return np.load(file, mmap_mode="r", allow_pickle=False)
        if not FAST_NPY_READER:
            return np.load(file, allow_pickle=False)
        return _read_npy_fast(file)
    except (OSError, ValueError, EOFError):  # missing, truncated or not an .npy
        return None


def _folder_params(spec: FeatureSpec) -> dict:
    """What identifies a cache folder (and its ``params.json``)."""
    return {"name": spec.name, "version": CACHE_FORMAT_VERSION, "params": spec.params()}


def _read_npy_batch(files: list[Path]) -> list[np.ndarray | None]:
    """Cached arrays of ``files`` (``None`` where not cached), read into one block.

    A cache folder's files nearly all share one header (same shape and dtype). Their data
    is read straight into consecutive slots of one large array, which the kernel backs
    with a few huge pages instead of thousands of small ones: reading 200 log-mels took
    7 ms instead of 12. Files with another header take the one-file path.
    """
    arrays: list[np.ndarray | None] = [None] * len(files)
    block = header = None
    expected_header = b""
    for index, file in enumerate(files):
        if block is None:
            arrays[index] = read_npy(file, mmap=False)
            if arrays[index] is not None and not np.isfortran(arrays[index]):
                block = np.empty((len(files), *arrays[index].shape), arrays[index].dtype)
                header = bytearray(_npy_header_length(file, arrays[index].nbytes))
                expected_header = _npy_header(file, len(header))
            continue
        slot = block[index]
        if _readv_whole(file, [header, memoryview(slot).cast("B")]) and \
                header == expected_header:
            arrays[index] = slot
        else:
            arrays[index] = read_npy(file, mmap=False)
    return arrays


def _npy_header_length(file: Path, data_bytes: int) -> int:
    return file.stat().st_size - data_bytes


def _npy_header(file: Path, length: int) -> bytes:
    with open(file, "rb") as handle:
        return handle.read(length)


def _readv_whole(file: Path, buffers: list) -> bool:
    """Fill ``buffers`` from the start of ``file`` with one ``readv``; False if the file
    is missing, unreadable or shorter than the buffers."""
    try:
        descriptor = os.open(file, os.O_RDONLY)
    except OSError:
        return False
    try:
        wanted = sum(memoryview(buffer).nbytes for buffer in buffers)
        return os.readv(descriptor, buffers) == wanted
    except OSError:
        return False
    finally:
        os.close(descriptor)


def _read_npy_fast(file: Path) -> np.ndarray:
    """``np.load(file)`` for plain arrays at a third of the cost: the header of a cache
    folder's files is nearly always the same, so its parse is memoised.

    Raises:
        OSError: the file cannot be read.
        ValueError: not a version 1-3 ``.npy`` file of a plain (non-object) array, or
            truncated.
    """
    with open(file, "rb") as handle:
        prefix = handle.read(8)
        if len(prefix) != 8 or prefix[:6] != _NPY_MAGIC or prefix[6] not in (1, 2, 3):
            raise ValueError(f"{file}: not an .npy file")
        length_bytes = 2 if prefix[6] == 1 else 4
        header_length = int.from_bytes(handle.read(length_bytes), "little")
        dtype, shape, fortran_order = _parse_npy_header(handle.read(header_length))
        count = math.prod(shape)
        data = np.fromfile(handle, dtype=dtype, count=count)
    if data.size != count:
        raise ValueError(f"{file}: truncated")
    return data.reshape(shape, order="F" if fortran_order else "C")


@functools.lru_cache(maxsize=256)
def _parse_npy_header(header: bytes) -> tuple[np.dtype, tuple[int, ...], bool]:
    """(dtype, shape, fortran_order) of an ``.npy`` header dictionary.

    Raises:
        ValueError: not a plain-array ``.npy`` header.
    """
    try:
        fields = ast.literal_eval(header.decode("latin1"))
        dtype = np.dtype(fields["descr"])
        shape = tuple(int(n) for n in fields["shape"])
        fortran_order = bool(fields["fortran_order"])
    except (SyntaxError, TypeError, ValueError, KeyError, MemoryError, RecursionError):
        raise ValueError(f"bad .npy header {header[:80]!r}") from None
    if dtype.hasobject:
        raise ValueError("object arrays are never cached")
    return dtype, shape, fortran_order
