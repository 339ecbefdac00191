"""Download, verify and unpack the public datasets kerastag reads.

Every archive is fetched to ``<to>/<file>.part`` (resumed with an HTTP ``Range`` request
when a ``.part`` is already there), renamed to ``<to>/<file>`` once complete, checked
against its published md5 and size, and unpacked through a temporary folder inside the
destination, so an interrupted run leaves either a resumable ``.part``, a whole verified
archive, or a whole unpacked folder: never a half folder.

Only the standard library (``urllib``) is used for transfers; ``http://``, ``https://``
and ``file://`` URLs are supported.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import io
import logging
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from tqdm import tqdm

from kerastag.datasets.layout import (  # noqa: F401 (RemoteFile, DatasetSource re-exported)
    TAR_SUFFIXES, ZIP_SUFFIXES, DatasetSource, RemoteFile, downloadable_layouts, get_layout)
from kerastag.errors import DownloadError
from kerastag.names import LAYOUTS

logger = logging.getLogger(__name__)

#: Seconds a connection may stay silent before the download fails (and can be resumed).
TIMEOUT_S = 60.0
#: Bytes read and written per step, while downloading and while hashing.
CHUNK_BYTES = 1 << 20
USER_AGENT = "kerastag-download/1.0 (+python-urllib)"


def download_dataset(
    name: str,
    to: str | os.PathLike,
    *,
    url: str | None = None,
    progress: bool = True,
    keep_archive: bool = False,
) -> Path:
    """Download, verify and unpack a dataset; return its root folder.

    For each archive of the source: if the folder it unpacks to already exists, it is
    neither downloaded nor unpacked again (this is logged). Otherwise an archive already
    at ``<to>/<file>`` is verified and used; if absent it is downloaded (resuming
    ``<to>/<file>.part``), verified and unpacked.

    Args:
        name: a layout that declares a download source (``"chime-home"``,
            ``"fsdkaggle2018"``: :class:`kerastag.datasets.layout.DatasetLayout`).
        to: destination folder; created if missing.
        url: overrides where the archives are fetched from (a mirror). For a single-file
            source it is the archive's own URL; for a multi-file source it is a base URL
            to which ``"/" + file name`` is appended for each archive
            (``https://mirror/fsd`` -> ``https://mirror/fsd/FSDKaggle2018.meta.zip``).
            The published checksums still apply.
        progress: show tqdm progress bars (bytes) for downloading and hashing.
        keep_archive: keep each verified archive after unpacking (default: delete it).

    Returns:
        The dataset root, e.g. ``<to>/chime_home`` or ``<to>/FSDKaggle2018``.

    Raises:
        DownloadError: unknown name, network failure, checksum mismatch, or an archive
            that is unreadable, unsafe, or lacks its expected top-level folder.
    """
    source = _source(name)
    to = Path(to)
    unpack_dir = to / source.unpack_dir
    unpack_dir.mkdir(parents=True, exist_ok=True)
    for remote, file_url in _file_urls(source, url):
        _install(remote, file_url, to, unpack_dir, progress=progress, keep_archive=keep_archive)
    return to / source.root


def download_file(
    url: str,
    dest: str | os.PathLike,
    *,
    md5: str | None = None,
    size: int | None = None,
    progress: bool = True,
) -> Path:
    """Fetch ``url`` to ``dest`` (resumably) unless it is already there, then verify it.

    The transfer goes to ``dest + ".part"``, which a later call resumes; the complete
    file is renamed onto ``dest``. A file already at ``dest`` is not fetched again but is
    still verified. A file that fails verification is deleted.

    Args:
        url: ``http://``, ``https://`` or ``file://`` URL.
        dest: where the file ends up.
        md5: expected md5 hex digest, or ``None`` to skip the md5 check.
        size: expected size in bytes, or ``None`` to skip the size check.
        progress: show tqdm progress bars.

    Returns:
        ``dest`` as a :class:`~pathlib.Path`.

    Raises:
        DownloadError: the URL cannot be fetched or the file does not match.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        logger.info("%s is already downloaded; verifying it", dest)
    else:
        part = dest.with_name(dest.name + ".part")
        _fetch(url, part, size=size, progress=progress)
        os.replace(part, dest)
    _verify(dest, md5=md5, size=size, progress=progress)
    return dest


# --------------------------------------------------------------------------- sources


def _source(name: str) -> DatasetSource:
    """The download source the layout ``name`` declares, or a DownloadError listing the
    layouts that have one."""
    source = get_layout(name).download if name in LAYOUTS else None
    if source is None:
        valid = ", ".join(sorted(downloadable_layouts()))
        raise DownloadError(f"unknown dataset {name!r}; expected one of: {valid}")
    return source


def _file_urls(source: DatasetSource, url: str | None) -> list[tuple[RemoteFile, str]]:
    """Pair each archive of ``source`` with the URL to fetch it from."""
    if url is None:
        return [(remote, remote.url) for remote in source.files]
    if len(source.files) == 1:
        return [(source.files[0], url)]
    base = url.rstrip("/")
    return [(remote, f"{base}/{remote.name}") for remote in source.files]


def _install(
    remote: RemoteFile,
    url: str,
    to: Path,
    unpack_dir: Path,
    *,
    progress: bool,
    keep_archive: bool,
) -> None:
    """Make ``unpack_dir/<remote.top_level>`` exist, downloading and unpacking if needed."""
    target = unpack_dir / remote.top_level
    if target.exists():
        logger.info("%s already exists; not downloading or unpacking %s", target, remote.name)
        return
    archive = download_file(url, to / remote.name, md5=remote.md5, size=remote.size,
                            progress=progress)
    _unpack(archive, unpack_dir, remote.top_level)
    if not keep_archive:
        archive.unlink()


# --------------------------------------------------------------------------- transfer


@dataclasses.dataclass
class _Body:
    """An open response: ``stream`` yields the bytes from offset ``start`` on."""

    stream: BinaryIO
    start: int
    total: int | None


def _fetch(url: str, part: Path, *, size: int | None, progress: bool) -> None:
    """Complete ``part`` from ``url``, resuming from its current size."""
    offset = _resume_offset(part, size)
    if size is not None and offset == size:
        return
    body = _open(url, offset)
    if offset and body.start == 0:
        logger.info("%s does not resume downloads; starting %s over", url, part.name)
    _copy(body, url, part, progress=progress)


def _resume_offset(part: Path, size: int | None) -> int:
    """Bytes already in ``part``; a ``part`` longer than ``size`` is discarded."""
    if not part.exists():
        return 0
    have = part.stat().st_size
    if size is not None and have > size:
        part.unlink()
        return 0
    return have


def _open(url: str, offset: int) -> _Body:
    """Open ``url`` for reading from byte ``offset`` (or from 0 where it cannot resume)."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme == "file":
        return _open_file(url, offset)
    if scheme in ("http", "https"):
        return _open_http(url, offset)
    raise DownloadError(f"cannot download {url}: expected an http://, https:// or file:// URL")


def _open_file(url: str, offset: int) -> _Body:
    """Open a ``file://`` URL at ``offset`` (restarting if the file is shorter)."""
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise DownloadError(f"cannot download {url}: expected a local file:// URL")
    path = Path(urllib.request.url2pathname(parts.path))
    if not path.is_file():
        raise DownloadError(f"cannot download {url}: no such file {path}")
    total = path.stat().st_size
    start = offset if offset <= total else 0
    stream = path.open("rb")
    stream.seek(start)
    return _Body(stream, start, total)


def _open_http(url: str, offset: int) -> _Body:
    """Send a GET (with ``Range`` when ``offset`` > 0) and classify the answer."""
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:
            return _after_416(url, offset, err)
        err.close()
        raise DownloadError(f"cannot download {url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(f"cannot download {url}: {reason}") from None
    if response.status == 206:
        return _partial_body(url, offset, response)
    return _Body(response, 0, _int_or_none(response.headers.get("Content-Length")))


def _after_416(url: str, offset: int, err: urllib.error.HTTPError) -> _Body:
    """Range not satisfiable: the ``.part`` is complete, or is restarted from byte 0."""
    total = _content_range(err.headers.get("Content-Range", ""))[2]
    err.close()
    if total == offset:
        return _Body(io.BytesIO(b""), offset, total)
    return _open_http(url, 0)


def _partial_body(url: str, offset: int, response: http.client.HTTPResponse) -> _Body:
    """A 206 answer; restart from 0 if it does not begin at ``offset``."""
    start, _, total = _content_range(response.headers.get("Content-Range", ""))
    if start != offset:
        response.close()
        return _open_http(url, 0)
    return _Body(response, offset, total)


def _content_range(value: str) -> tuple[int | None, int | None, int | None]:
    """Parse ``bytes a-b/total`` or ``bytes */total`` into ``(a, b, total)``."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*", value)
    if match is None:
        return None, None, None
    return tuple(_int_or_none(group) for group in match.groups())  # type: ignore[return-value]


def _int_or_none(value: str | None) -> int | None:
    """``int(value)`` if it is a decimal number, else ``None``."""
    return int(value) if value is not None and value.isdigit() else None


def _copy(body: _Body, url: str, part: Path, *, progress: bool) -> None:
    """Write ``body`` into ``part`` (appending when it resumes) with a progress bar."""
    written = body.start
    mode = "ab" if body.start else "wb"
    bar = tqdm(total=body.total, initial=body.start, unit="B", unit_scale=True,
               unit_divisor=1024, desc=part.name[: -len(".part")], disable=not progress)
    try:
        with body.stream as stream, part.open(mode) as out, bar:
            while chunk := stream.read(CHUNK_BYTES):
                out.write(chunk)
                written += len(chunk)
                bar.update(len(chunk))
    except (OSError, http.client.HTTPException) as err:
        raise DownloadError(
            f"download of {url} stopped at {written} bytes ({err}); run again to resume {part}"
        ) from None
    if body.total is not None and written < body.total:
        raise DownloadError(
            f"download of {url} stopped at {written} of {body.total} bytes; "
            f"run again to resume {part}"
        )


# --------------------------------------------------------------------------- verification


def _verify(path: Path, *, md5: str | None, size: int | None, progress: bool) -> None:
    """Check ``path`` against ``md5`` and ``size``; delete it and raise on mismatch."""
    actual_size = path.stat().st_size
    actual_md5 = _md5(path, progress=progress)
    if md5 is None:
        checked = "only its size is checked" if size is not None else "it is not checked"
        logger.warning("no published md5 for %s (got %s); %s", path.name, actual_md5, checked)
    md5_ok = md5 is None or actual_md5 == md5.lower()
    size_ok = size is None or actual_size == size
    if md5_ok and size_ok:
        return
    path.unlink()
    expected_size = "any" if size is None else size
    raise DownloadError(
        f"{path.name}: expected md5 {md5 or 'any'} and {expected_size} bytes, "
        f"got md5 {actual_md5} and {actual_size} bytes; deleted it, run again to download "
        "it afresh"
    )


def _md5(path: Path, *, progress: bool) -> str:
    """md5 hex digest of ``path``, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream, tqdm(
        total=path.stat().st_size, unit="B", unit_scale=True, unit_divisor=1024,
        desc=f"md5 {path.name}", disable=not progress,
    ) as bar:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


# --------------------------------------------------------------------------- unpacking


def _unpack(archive: Path, dest_dir: Path, top_level: str) -> Path:
    """Unpack ``archive`` and move its ``top_level`` folder to ``dest_dir/top_level``.

    Extraction happens in a temporary folder inside ``dest_dir``; only a complete
    ``top_level`` folder is renamed into place, and the temporary folder is always removed.
    """
    target = dest_dir / top_level
    tmp = Path(tempfile.mkdtemp(prefix=f".{top_level}.unpack-", dir=dest_dir))
    try:
        _extract(archive, tmp)
        unpacked = tmp / top_level
        if not unpacked.is_dir():
            found = ", ".join(sorted(p.name for p in tmp.iterdir())) or "nothing"
            raise DownloadError(
                f"{archive}: expected a top-level folder {top_level}/ inside, found {found}"
            )
        os.replace(unpacked, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("unpacked %s to %s", archive.name, target)
    return target


def _extract(archive: Path, into: Path) -> None:
    """Extract a tar(.gz) or zip archive into ``into``, refusing unsafe members."""
    try:
        if archive.name.endswith(TAR_SUFFIXES):
            _extract_tar(archive, into)
        elif archive.name.endswith(ZIP_SUFFIXES):
            _extract_zip(archive, into)
        else:
            raise DownloadError(f"{archive}: expected a .tar.gz, .tgz, .tar or .zip archive")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as err:
        raise DownloadError(f"cannot unpack {archive}: {err}") from None


def _extract_tar(archive: Path, into: Path) -> None:
    """Extract a tar archive; member paths and links must stay inside ``into``."""
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            _check_member(archive, member.name)
            if (member.issym() or member.islnk()) and not hasattr(tarfile, "data_filter"):
                raise DownloadError(f"{archive}: link member {member.name!r} is not allowed")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, members=members, filter="data")
        else:  # Python < 3.11.4: links were refused above
            tar.extractall(into, members=members)


def _extract_zip(archive: Path, into: Path) -> None:
    """Extract a zip archive; member paths must stay inside ``into``."""
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            _check_member(archive, info.filename)
        zipped.extractall(into)


def _check_member(archive: Path, name: str) -> None:
    """Refuse absolute member paths and ``..`` components (path traversal)."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
        raise DownloadError(
            f"{archive}: member {name!r} would unpack outside the target folder"
        )
