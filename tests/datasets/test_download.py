"""Tests for kerastag.datasets.download on small archives, file:// URLs and a loopback server."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import logging
import random
import re
import socket
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from kerastag import names
from kerastag.datasets import download
from kerastag.datasets.download import (
    DatasetSource,
    RemoteFile,
    download_dataset,
)
from kerastag.datasets.layout import DatasetLayout, get_layout
from kerastag.errors import DownloadError, KerastagError

CHUNK = "CR_lounge_220110_0731.s0_chunk27"
CHIME_FILES = {
    f"chime_home/chunks/{CHUNK}.16kHz.wav": random.Random(0).randbytes(40_000),
    f"chime_home/chunks/{CHUNK}.csv": b"segmentname,CR_lounge_220110_0731.s0\nmajorityvote,cm\n",
    "chime_home/development_chunks_refined.csv": f"0,{CHUNK}\n".encode(),
}
FSD_PARTS = ("audio_train", "audio_test", "meta")
REAL_CHIME = get_layout("chime-home").download


def use_source(monkeypatch, name: str, source: DatasetSource) -> None:
    """Declare ``source`` as layout ``name``'s download source for one test (a new name:
    a layout that reads nothing)."""
    layout = get_layout(name) if name in names.LAYOUTS else DatasetLayout(
        name, read=lambda *a, **k: None, looks_like=lambda path: False)
    monkeypatch.setitem(names.LAYOUTS, name, dataclasses.replace(layout, download=source))


# --------------------------------------------------------------------------- helpers


def _tar_gz(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zipped:
        for name, data in files.items():
            zipped.writestr(name, data)
    return path


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _remote(archive: Path, *, size: bool = True) -> RemoteFile:
    return RemoteFile(archive.name, archive.as_uri(), _md5(archive),
                      archive.stat().st_size if size else None)


def _assert_chime_unpacked(root: Path) -> None:
    for name, data in CHIME_FILES.items():
        assert (root.parent / name).read_bytes() == data


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


class _Server:
    """A loopback HTTP server over in-memory files, recording each request."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.ranges = True
        self.truncate_next = False
        self.requests: list[tuple[str, str | None, int]] = []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,))

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.serve(self)

        return Handler

    def serve(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?")[0]
        asked = handler.headers.get("Range")
        data = self.files.get(path.lstrip("/"))
        if data is None:
            self.requests.append((path, asked, 404))
            handler.send_error(404)
            return
        start = int(re.fullmatch(r"bytes=(\d+)-", asked).group(1)) if asked and self.ranges else 0
        status = 200 if start == 0 and not (asked and self.ranges) else 206
        if start >= len(data) and status == 206:
            status = 416
        self.requests.append((path, asked, status))
        handler.send_response(status)
        body = data[start:] if status != 416 else b""
        if status == 206:
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        if status == 416:
            handler.send_header("Content-Range", f"bytes */{len(data)}")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if self.truncate_next:
            self.truncate_next = False
            body = body[: len(body) // 2]
        handler.wfile.write(body)


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setattr(download, "TIMEOUT_S", 5.0)
    srv = _Server()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()
        srv.thread.join(timeout=5)


@pytest.fixture
def chime(tmp_path, monkeypatch) -> Path:
    """A small chime_home.tar.gz registered as the "chime-home" source (file:// URL)."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    archive = _tar_gz(mirror / "chime_home.tar.gz", CHIME_FILES)
    source = DatasetSource("chime-home", (_remote(archive),), root="chime_home")
    use_source(monkeypatch, "chime-home", source)
    return archive


@pytest.fixture
def fsd(tmp_path, monkeypatch) -> dict[str, Path]:
    """Three small FSDKaggle2018 zips registered as the "fsdkaggle2018" source."""
    mirror = tmp_path / "fsd-mirror"
    mirror.mkdir()
    archives = {
        part: _zip(mirror / f"FSDKaggle2018.{part}.zip",
                   {f"FSDKaggle2018.{part}/{part}.txt": part.encode() * 100})
        for part in FSD_PARTS
    }
    remotes = tuple(_remote(path, size=False) for path in archives.values())
    source = DatasetSource("fsdkaggle2018", remotes, root="FSDKaggle2018",
                           unpack_dir="FSDKaggle2018")
    use_source(monkeypatch, "fsdkaggle2018", source)
    return archives


def _serve_chime(server: _Server, archive: Path) -> str:
    server.files["chime_home.tar.gz"] = archive.read_bytes()
    return f"{server.url}/chime_home.tar.gz"


# --------------------------------------------------------------------------- registry


def test_registry_lists_both_datasets_with_published_checksums():
    chime = get_layout("chime-home").download.files
    assert [(f.name, f.url, f.md5, f.size) for f in chime] == [(
        "chime_home.tar.gz", "https://archive.org/download/chime-home/chime_home.tar.gz",
        "9ce9d584e229b465b3aa08db2d7fee67", 4_162_513_717,
    )]
    fsd = get_layout("fsdkaggle2018").download.files
    assert [f.top_level for f in fsd] == [f"FSDKaggle2018.{p}" for p in FSD_PARTS]
    assert all("zenodo.org/records/2552860/files/" in f.url for f in fsd)
    assert all(re.fullmatch(r"[0-9a-f]{32}", f.md5) for f in fsd)


def test_unknown_dataset_lists_valid_names(tmp_path):
    with pytest.raises(DownloadError, match="'esc50'.*chime-home, fsdkaggle2018"):
        download_dataset("esc50", tmp_path)
    with pytest.raises(DownloadError, match="^unknown dataset 'csv'; expected one of: "
                                           "chime-home, fsdkaggle2018$"):
        download_dataset("csv", tmp_path)  # a layout, but one without a download source
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- good paths


def test_file_url_download_unpacks_and_cleans_up(chime, tmp_path):
    to = tmp_path / "data"
    root = download_dataset("chime-home", to, progress=False)
    assert root == to / "chime_home"
    _assert_chime_unpacked(root)
    assert _listing(to) == ["chime_home"]


def test_keep_archive_with_progress_bars(chime, tmp_path):
    to = tmp_path / "data"
    download_dataset("chime-home", to, progress=True, keep_archive=True)
    assert _listing(to) == ["chime_home", "chime_home.tar.gz"]
    assert _md5(to / "chime_home.tar.gz") == _md5(chime)


def test_http_multi_file_source_with_base_url(fsd, server, tmp_path):
    for path in fsd.values():
        server.files[f"fsd/{path.name}"] = path.read_bytes()
    to = tmp_path / "data"
    root = download_dataset("fsdkaggle2018", to, url=f"{server.url}/fsd/", progress=False)
    assert root == to / "FSDKaggle2018"
    assert _listing(root) == sorted(f"FSDKaggle2018.{p}" for p in FSD_PARTS)
    assert (root / "FSDKaggle2018.meta" / "meta.txt").read_bytes() == b"meta" * 100
    assert [r[0] for r in server.requests] == [f"/fsd/{p.name}" for p in fsd.values()]
    assert _listing(to) == ["FSDKaggle2018"]


def test_resume_sends_range_and_verifies(chime, server, tmp_path):
    url = _serve_chime(server, chime)
    to = tmp_path / "data"
    to.mkdir()
    half = chime.stat().st_size // 2
    (to / "chime_home.tar.gz.part").write_bytes(chime.read_bytes()[:half])
    download_dataset("chime-home", to, url=url, progress=False)
    assert server.requests == [("/chime_home.tar.gz", f"bytes={half}-", 206)]
    _assert_chime_unpacked(to / "chime_home")
    assert _listing(to) == ["chime_home"]


def test_server_ignoring_range_starts_over(chime, server, tmp_path):
    url = _serve_chime(server, chime)
    server.ranges = False
    to = tmp_path / "data"
    to.mkdir()
    (to / "chime_home.tar.gz.part").write_bytes(b"x" * 1000)  # not even the right bytes
    download_dataset("chime-home", to, url=url, progress=False)
    assert server.requests == [("/chime_home.tar.gz", "bytes=1000-", 200)]
    _assert_chime_unpacked(to / "chime_home")


def test_416_on_complete_part_finishes(chime, server, tmp_path, monkeypatch):
    source = get_layout("chime-home").download
    unsized = dataclasses.replace(source, files=(dataclasses.replace(source.files[0], size=None),))
    use_source(monkeypatch, "chime-home", unsized)
    url = _serve_chime(server, chime)
    to = tmp_path / "data"
    to.mkdir()
    (to / "chime_home.tar.gz.part").write_bytes(chime.read_bytes())
    download_dataset("chime-home", to, url=url, progress=False)
    assert server.requests[-1][2] == 416
    _assert_chime_unpacked(to / "chime_home")


def test_interrupted_transfer_keeps_part_and_resumes(chime, server, tmp_path):
    url = _serve_chime(server, chime)
    server.truncate_next = True
    to = tmp_path / "data"
    with pytest.raises(DownloadError, match="stopped at .*run again to resume"):
        download_dataset("chime-home", to, url=url, progress=False)
    kept = (to / "chime_home.tar.gz.part").stat().st_size
    assert 0 < kept < chime.stat().st_size
    assert not (to / "chime_home").exists()
    download_dataset("chime-home", to, url=url, progress=False)
    assert server.requests[-1] == ("/chime_home.tar.gz", f"bytes={kept}-", 206)
    _assert_chime_unpacked(to / "chime_home")


def test_existing_target_is_not_downloaded_again(chime, tmp_path, caplog):
    to = tmp_path / "data"
    (to / "chime_home").mkdir(parents=True)
    caplog.set_level(logging.INFO, logger=download.__name__)
    root = download_dataset("chime-home", to, url=(tmp_path / "gone.tar.gz").as_uri(),
                            progress=False)
    assert root == to / "chime_home"
    assert "already exists" in caplog.text


def test_existing_archive_is_verified_not_downloaded(chime, tmp_path):
    to = tmp_path / "data"
    to.mkdir()
    (to / "chime_home.tar.gz").write_bytes(chime.read_bytes())
    download_dataset("chime-home", to, url=(tmp_path / "gone.tar.gz").as_uri(), progress=False)
    _assert_chime_unpacked(to / "chime_home")


# --------------------------------------------------------------------------- failures


def test_wrong_checksum_leaves_nothing_behind(chime, server, tmp_path, monkeypatch):
    source = get_layout("chime-home").download
    wrong = dataclasses.replace(source.files[0], md5="0" * 32)
    use_source(monkeypatch, "chime-home", dataclasses.replace(source, files=(wrong,)))
    to = tmp_path / "data"
    pattern = f"chime_home.tar.gz: expected md5 {'0' * 32} .* got md5 {_md5(chime)}"
    with pytest.raises(DownloadError, match=pattern):
        download_dataset("chime-home", to, url=_serve_chime(server, chime), progress=False)
    assert _listing(to) == []


def test_real_registry_entry_rejects_a_different_archive(chime, tmp_path, monkeypatch):
    use_source(monkeypatch, "chime-home", REAL_CHIME)
    to = tmp_path / "data"
    with pytest.raises(DownloadError, match="expected md5 9ce9d584e229b465b3aa08db2d7fee67 "
                                            "and 4162513717 bytes"):
        download_dataset("chime-home", to, url=chime.as_uri(), progress=False)
    assert _listing(to) == []


def test_corrupt_existing_archive_is_deleted(chime, tmp_path):
    to = tmp_path / "data"
    to.mkdir()
    (to / "chime_home.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(DownloadError, match="chime_home.tar.gz: expected md5"):
        download_dataset("chime-home", to, progress=False)
    assert _listing(to) == []


def test_http_404_is_a_download_error(server, tmp_path):
    url = f"{server.url}/missing.tar.gz"
    with pytest.raises(DownloadError, match=f"cannot download {re.escape(url)}: HTTP 404"):
        download_dataset("chime-home", tmp_path, url=url, progress=False)
    assert _listing(tmp_path) == []


def test_connection_refused_is_a_download_error(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "TIMEOUT_S", 5.0)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/chime_home.tar.gz"
    with pytest.raises(DownloadError, match=f"cannot download {re.escape(url)}: .*refused"):
        download_dataset("chime-home", tmp_path, url=url, progress=False)


@pytest.mark.parametrize("url, message", [
    ("file:///nonexistent/kerastag/chime_home.tar.gz", "no such file"),
    ("ftp://example.org/chime_home.tar.gz", "expected an http://, https:// or file:// URL"),
])
def test_bad_urls(tmp_path, url, message):
    with pytest.raises(DownloadError, match=f"cannot download {re.escape(url)}: {message}"):
        download_dataset("chime-home", tmp_path, url=url, progress=False)


def _evil_tar(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        link = tarfile.TarInfo("evil/link")
        link.type = tarfile.SYMTYPE
        link.linkname = "../../outside.txt"
        tar.addfile(link)
    return path


@pytest.mark.parametrize("name, build, message", [
    ("evil.tar.gz", lambda p: _tar_gz(p, {"evil/ok.txt": b"ok", "../escaped.txt": b"x"}),
     "would unpack outside"),
    ("evil.zip", lambda p: _zip(p, {"evil/ok.txt": b"ok", "../escaped.txt": b"x"}),
     "would unpack outside"),
    ("evil.tar.gz", lambda p: _tar_gz(p, {"/abs/escaped.txt": b"x"}), "would unpack outside"),
    ("evil.tar.gz", _evil_tar, "cannot unpack|is not allowed"),
    ("evil.tar.gz", lambda p: _tar_gz(p, {"other/x.txt": b"x"}), "top-level folder evil/"),
])
def test_unsafe_or_wrong_archives_unpack_nothing(tmp_path, monkeypatch, name, build, message):
    archive = build(tmp_path / name)
    use_source(monkeypatch, "evil", DatasetSource("evil", (_remote(archive),), root="evil"))
    to = tmp_path / "data"
    with pytest.raises(DownloadError, match=message):
        download_dataset("evil", to, progress=False)
    assert _listing(to) == [name]  # the verified archive stays; nothing unpacked
    assert not (tmp_path / "escaped.txt").exists()


def test_download_error_is_a_kerastag_error():
    assert issubclass(DownloadError, KerastagError)
