"""Feature extraction: audio files -> cached feature arrays, in parallel.

:func:`extract` reads what the cache holds (:mod:`kerastag.features.cache`) and computes
the rest, in this process alone (``workers=1``) or together with ``workers - 1`` pool
processes started with the ``forkserver`` method (``spawn`` where that is missing), never
``fork``: a parent that has imported TensorFlow is not safe to fork. Work is handed out
in chunks of clips; this process computes chunks too, so it is busy while the workers
start.

The workers stay TensorFlow- and librosa-free. Their task function,
:func:`_compute_chunk`, is pickled by module path (``kerastag.features.extraction``); a
worker importing it imports the ``kerastag`` package, which skips its TensorFlow import
in multiprocessing children (see ``kerastag/__init__.py``), and this package, which
imports neither. Paper A's log-mel is numpy alone and its mel filterbank is built once in
the parent and sent with every task. BLAS is held to one thread while computing: its
threads only slow down the small matrix products here, badly so on a busy machine.
Workers are further tuned for throughput (single-threaded math libraries from the start,
glibc malloc keeping freed memory); see :func:`_start_forkserver_single_threaded` and
:func:`_keep_freed_memory_mapped`.
"""

from __future__ import annotations

import collections
import ctypes
import dataclasses
import math
import multiprocessing
import os
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from kerastag.audio import AudioFormat, load_audio
from kerastag.checks import check_int
from kerastag.errors import FeatureError, KerastagError
from kerastag.features.cache import (
    clip_key,
    prepare_cache_folder,
    read_cached,
    read_npy,
    store_features,
)
from kerastag.features.specs import FeatureSpec, PackedBasis, install_mel_bases, pack_mel_bases

#: Modules the forkserver imports once, so that forked workers start warm (tens of ms
#: instead of hundreds). Only third-party modules that start no threads at import, so
#: safe to fork. Not kerastag itself: its package import may pull in TensorFlow, and
#: Python 3.11's forkserver imports its preloads with its own sys.path (working
#: directory first), which can find another copy of kerastag than the parent's.
_FORKSERVER_PRELOAD = ["numpy", "soundfile", "threadpoolctl", "tqdm"]

#: Environment variables that set the thread count of numpy's math libraries.
_THREAD_COUNT_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

# glibc's mallopt() parameter numbers (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Most clips one worker task computes; small chunks keep the progress bar moving.
_MAX_CHUNK = 32

#: (audio file, cache file) of one clip to compute.
Pair = tuple[Path, Path]


@dataclasses.dataclass
class FeatureResult:
    """What :func:`extract` returns.

    Attributes:
        arrays: one feature array per input path, in input order (``np.memmap`` when
            extracted with ``mmap=True``).
        computed: inputs whose features were computed by this call.
        cached: inputs read from the cache (``computed + cached == len(arrays)``).
        files: the cache file of each input, in input order.
    """

    arrays: list[np.ndarray]
    computed: int
    cached: int
    files: list[Path]


def extract(paths: Sequence[str | os.PathLike], spec: FeatureSpec, *,
            cache_dir: str | os.PathLike, workers: int | None = None,
            progress: bool = True, mmap: bool = False,
            expected: AudioFormat | None = None) -> FeatureResult:
    """Features of every file in ``paths``, read from the cache or computed and cached.

    Args:
        paths: audio files; each is loaded at ``spec.sample_rate`` Hz, mixed to mono
            unless the spec takes more ``channels`` (the ``expected`` format then checks
            the file has them).
        spec: the feature definition.
        cache_dir: root of the feature cache (one sub-folder per spec).
        workers: processes computing features, this one included (it works alongside
            ``workers - 1`` pool processes); ``None`` means the usable CPU cores, ``1``
            computes in this process only. A script that calls this with more than one
            worker needs the usual ``if __name__ == "__main__":`` guard, as the workers
            re-import the script's top level.
        progress: show a tqdm bar over the files.
        mmap: return the arrays memory-mapped from their cache files (read-only).
        expected: the format the dataset layout requires of every file (checked when a
            file is read, see :func:`kerastag.audio.load_audio`).

    Returns:
        A :class:`FeatureResult`; ``arrays[i]`` and ``files[i]`` belong to ``paths[i]``.

    Raises:
        AudioError: a file is missing, empty, not decodable, non-finite or not of the
            ``expected`` format (the message names it).
        FeatureError: bad ``workers``, an unusable cache folder, or a feature that
            cannot be computed; no partial cache file is left behind.
    """
    paths = [Path(p) for p in paths]
    n_workers = _worker_count(workers)
    folder = prepare_cache_folder(spec, Path(cache_dir))
    files = [folder / f"{clip_key(path)}.npy" for path in paths]
    arrays: list[np.ndarray | None] = [None] * len(paths)
    with tqdm(total=len(paths), desc=spec.description, unit="clip",
              disable=not progress) as bar:
        missing = _read_hits(files, arrays, mmap=mmap, bar=bar)
        jobs = _unique_jobs(paths, files, missing)
        fresh = _compute(jobs, spec, expected, n_workers, keep=not mmap,
                         on_done=lambda file: bar.update(len(jobs[file][1])))
    for file, (_, indexes) in jobs.items():
        array = read_npy(file, mmap=True) if mmap else fresh[file]
        for index in indexes:
            arrays[index] = array
    return FeatureResult(arrays=arrays, computed=len(missing),  # type: ignore[arg-type]
                         cached=len(paths) - len(missing), files=files)


def _worker_count(workers: int | None) -> int:
    """``workers`` checked, or the usable CPU cores for ``None``.

    Raises:
        FeatureError: not an integer >= 1.
    """
    if workers is None:
        return _usable_cores()
    return check_int("feature extraction workers", workers, minimum=1, error=FeatureError)


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _read_hits(files: list[Path], arrays: list[np.ndarray | None], *, mmap: bool,
               bar: tqdm) -> list[int]:
    """Fill ``arrays`` from the cache; return the indexes that are not cached."""
    arrays[:] = read_cached(files, mmap=mmap)
    missing = [index for index, array in enumerate(arrays) if array is None]
    bar.update(len(files) - len(missing))
    return missing


def _unique_jobs(paths: list[Path], files: list[Path],
                 missing: list[int]) -> dict[Path, tuple[Path, list[int]]]:
    """Cache file -> (audio file, input indexes): each distinct file computed once."""
    jobs: dict[Path, tuple[Path, list[int]]] = {}
    for index in missing:
        jobs.setdefault(files[index], (paths[index], []))[1].append(index)
    return jobs


def _compute(jobs: Mapping[Path, tuple[Path, list[int]]], spec: FeatureSpec,
             expected: AudioFormat | None, workers: int, *, keep: bool, on_done: Callable[[Path], object]) -> dict[Path, np.ndarray]:
    """Compute and cache every job, here alone or together with ``workers - 1`` processes.

    Returns:
        Cache file -> features, for every job when ``keep``, else empty.
    """
    pairs = [(path, file) for file, (path, _) in jobs.items()]
    results: dict[Path, np.ndarray] = {}

    def collect(chunk: Sequence[Pair], arrays: Sequence[np.ndarray] | None):
        for index, (_, file) in enumerate(chunk):
            if keep:
                results[file] = arrays[index]  # type: ignore[index]
            on_done(file)

    with threadpool_limits(limits=1, user_api="blas"):  # tiny matrices: threads only hurt
        if workers == 1 or len(pairs) <= 1:
            for pair in pairs:
                collect([pair], [_compute_and_store(*pair, spec, expected)])
        else:
            _compute_with_pool(pairs, spec, expected, workers, keep=keep, collect=collect)
    return results


def _compute_with_pool(pairs: list[Pair], spec: FeatureSpec, expected: AudioFormat | None,
                       workers: int, *, keep: bool, collect: Callable) -> None:
    """Compute ``(audio, cache file)`` pairs in chunks: ``workers - 1`` pool processes
    take chunks from the front of the queue, this process takes them from the back.

    This process so computes while the pool starts up, and no core sits idle.
    """
    _prime(spec)
    queue = collections.deque(_chunks(pairs, _chunk_size(len(pairs), workers)))
    pending: dict[Future, list[Pair]] = {}
    processes = min(workers - 1, len(queue) - 1)  # >= 1: there are >= 2 pairs
    executor = ProcessPoolExecutor(max_workers=processes, mp_context=_pool_context())
    packed_bases = pack_mel_bases()
    try:
        while queue or pending:
            while queue and len(pending) < 2 * processes:  # one running, one queued per process
                chunk = queue.popleft()
                future = executor.submit(_compute_chunk, spec, expected, chunk, keep, packed_bases)
                pending[future] = chunk
            if queue:
                chunk = queue.pop()
                collect(chunk, _compute_chunk(spec, expected, chunk, True))
                finished = [future for future in pending if future.done()]
            else:
                finished = wait(pending, return_when=FIRST_COMPLETED).done
            for future in finished:
                chunk = pending.pop(future)
                collect(chunk, _chunk_result(future, chunk))
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _prime(spec: FeatureSpec) -> None:
    """Compute ``spec`` once on 0.1 s of silence in the parent: this fills the shared mel
    filterbanks (handed to every worker) and surfaces a broken spec before any pool
    starts."""
    shape = (spec.sample_rate // 10,) if spec.channels == 1 else (spec.channels, spec.sample_rate // 10)
    spec.compute(np.zeros(shape, dtype=np.float32))


def _chunk_size(n_jobs: int, workers: int) -> int:
    """About 32 chunks per worker, and at most _MAX_CHUNK clips: small chunks balance the
    load (this process waits for at most two pool chunks at the end), and a chunk of a
    few clips still takes much longer to compute than to hand over."""
    return max(1, min(_MAX_CHUNK, math.ceil(n_jobs / (32 * workers))))


def _chunks(items: list, size: int) -> list[list]:
    return [items[start:start + size] for start in range(0, len(items), size)]


def _pool_context() -> multiprocessing.context.BaseContext:
    """``forkserver`` (workers fork from a clean, pre-warmed server) or ``spawn``.

    Never ``fork``: the parent may have imported TensorFlow, whose threads do not
    survive a fork.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_FORKSERVER_PRELOAD)
        _start_forkserver_single_threaded()
        return context
    return multiprocessing.get_context("spawn")


def _start_forkserver_single_threaded() -> None:
    """Start the forkserver (once per process) with the math libraries at one thread.

    numpy is preloaded there, so OpenBLAS sizes its thread pool when the server starts
    and every worker forked from it inherits that. A worker is one process per core and
    wants one thread: with a threaded OpenBLAS, even limited to one thread afterwards,
    the log-mel took 40% longer. Does nothing when the server already runs.
    """
    from multiprocessing import forkserver

    saved = {name: os.environ.get(name) for name in _THREAD_COUNT_VARIABLES}
    os.environ.update({name: "1" for name in _THREAD_COUNT_VARIABLES})
    try:
        forkserver.ensure_running()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _compute_chunk(spec: FeatureSpec, expected: AudioFormat | None, pairs: Iterable[Pair],
                   keep: bool,
                   packed_mel_bases: Mapping[tuple, PackedBasis] | None = None
                   ) -> list[np.ndarray] | None:
    """Compute and cache each pair; return the arrays when ``keep``.

    The pool's task function (pickled by module path, so it must stay a module-level
    function of an importable module).

    Args:
        spec: the feature definition.
        expected: the format every audio file must have, or None.
        pairs: ``(audio file, cache file)`` pairs.
        keep: return the arrays (else ``None``: the caller reads the cache files).
        packed_mel_bases: set in worker tasks only, see :func:`_prepare_worker`.
    """
    if packed_mel_bases is not None:
        _prepare_worker(packed_mel_bases)
    arrays = [_compute_and_store(path, file, spec, expected) for path, file in pairs]
    return arrays if keep else None


_worker_blas_limit: threadpool_limits | None = None


def _prepare_worker(packed_mel_bases: Mapping[tuple, PackedBasis]) -> None:
    """In a worker process: install the parent's filterbanks and hold BLAS to one thread.

    Done by the first task rather than a pool initializer on purpose: an initializer is
    unpickled while the worker is still being set up, before
    ``multiprocessing.parent_process()`` is known, so the ``kerastag`` package could not
    tell it is in a worker and skip its TensorFlow import.
    """
    global _worker_blas_limit
    install_mel_bases(packed_mel_bases)
    if _worker_blas_limit is None:
        _worker_blas_limit = threadpool_limits(limits=1, user_api="blas")
        _keep_freed_memory_mapped()


def _keep_freed_memory_mapped() -> None:
    """glibc only, in worker processes: stop malloc handing freed memory back to the OS.

    Every clip allocates and frees a few arrays of about 1 MB. With glibc's defaults
    these are unmapped or trimmed on free and mapped again, page by page, for the next
    clip; the page faults cost as much as the FFT itself (a 4 s log-mel took 3.6 ms per
    clip instead of 2.0 ms here). Raising the mmap and trim thresholds keeps a worker's
    heap at its working size instead.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(_M_TRIM_THRESHOLD, 64 << 20)
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)


def _chunk_result(future: Future, chunk: list[Pair]) -> list[np.ndarray] | None:
    """A finished chunk's arrays; a worker's error re-raised without its remote traceback.

    Raises:
        AudioError, FeatureError: as raised in the worker, naming the file.
        FeatureError: the worker process died or failed outside the feature code.
    """
    try:
        return future.result()
    except KerastagError as exc:
        raise exc from None
    except BrokenProcessPool:
        raise FeatureError(f"{chunk[0][0]}: a feature worker process died while computing "
                           f"this and {len(chunk) - 1} more clip(s) (out of memory, or a "
                           f"script without an `if __name__ == '__main__':` guard?)") from None
    except Exception as exc:
        raise FeatureError(f"{chunk[0][0]}: feature worker failed "
                           f"({type(exc).__name__}: {_first_line(exc)})") from None


def _compute_and_store(path: Path, file: Path, spec: FeatureSpec,
                       expected: AudioFormat | None = None) -> np.ndarray:
    """Load ``path`` (checked against ``expected``), compute ``spec`` on it and write the
    result to ``file``.

    Raises:
        AudioError: unreadable, non-finite or unexpected audio.
        FeatureError: the features cannot be computed or written.
    """
    waveform = load_audio(path, sample_rate=spec.sample_rate, mono=spec.channels == 1,
                          expected=expected)
    try:
        features = spec.compute(waveform)
    except KerastagError:
        raise
    except Exception as exc:  # librosa/numpy failures on odd input
        raise FeatureError(f"{path}: cannot compute {spec.name} features "
                           f"({type(exc).__name__}: {_first_line(exc)})") from None
    store_features(file, features)
    return features


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
