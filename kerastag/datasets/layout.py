"""A dataset layout as one declaration, and the registry that finds it by name.

Each layout module (``chime_home.py``, ``fsdkaggle2018.py``, ``csv_layout.py``) ends with
a :class:`DatasetLayout`: its reader, detection rule, audio formats, fold count, download
source and layout-specific facts. :data:`kerastag.names.LAYOUTS` maps the name a config
or the CLI uses to it (``"module:attribute"``, resolved when used; a plug-in may also put
the declaration itself there). The loaders, ``data check``, ``data download``, the
download hint and config validation all ask the declaration; nothing tests a layout's name.

Also here, because a declaration holds them: :class:`RemoteFile` and
:class:`DatasetSource`, where a public dataset's archives are published
(:mod:`kerastag.datasets.download` fetches them).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Optional

from kerastag.errors import DatasetError, DownloadError
from kerastag.names import LAYOUTS, resolve, unknown_name

if TYPE_CHECKING:
    from kerastag.audio import AudioFormat
    from kerastag.datasets.base import Dataset

TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar")
ZIP_SUFFIXES = (".zip",)


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One published archive of a dataset.

    Attributes:
        name: file name of the archive, also its name on disk (``chime_home.tar.gz``).
        url: where it is published (``http(s)://`` or ``file://``).
        md5: published md5 hex digest, or ``None`` where none could be found
            (then only ``size`` is checked, if known).
        size: published size in bytes, or ``None`` if unknown.
    """

    name: str
    url: str
    md5: str | None
    size: int | None = None

    @property
    def top_level(self) -> str:
        """The folder the archive unpacks to: its name without the archive suffix."""
        for suffix in TAR_SUFFIXES + ZIP_SUFFIXES:
            if self.name.endswith(suffix):
                return self.name[: -len(suffix)]
        raise DownloadError(f"{self.name}: expected a .tar.gz, .tgz, .tar or .zip archive")


@dataclasses.dataclass(frozen=True)
class DatasetSource:
    """Where a dataset is published and how it lies on disk once unpacked.

    Attributes:
        name: registry name (``chime-home``).
        files: the archives to fetch, in order.
        root: the dataset root :func:`download_dataset` returns, relative to ``to``.
        unpack_dir: the folder, relative to ``to``, every archive unpacks into
            (``"."`` for ``to`` itself).
        homepage: where the dataset is described.
    """

    name: str
    files: tuple[RemoteFile, ...]
    root: str
    unpack_dir: str = "."
    homepage: str = ""


@dataclasses.dataclass(frozen=True)
class DatasetLayout:
    """Everything kerastag knows of one dataset layout.

    Attributes:
        name: the ``dataset.layout`` / ``--layout`` name.
        read: ``(path, *, problems=None, **options) -> Dataset``; ``problems`` collects
            what is wrong instead of raising (``data check``).
        looks_like: ``(folder Path) -> bool``: the folder holds a dataset of this layout
            (``data check`` without ``--layout``; a demo is not rewritten over one).
        audio_formats: what its audio files must be, per stream (``"main"``: the files
            features are computed from; CHiME-Home also ``"48k"``); a stream absent here
            is not checked.
        n_folds: its cross-validation folds, ``0 .. n_folds - 1`` (``training.folds``).
        download: where ``kerastag data download NAME`` fetches it; None: nowhere.
        classes: the classes every dataset of the layout has, in order (CHiME-Home's seven
            tags), so a run's tags are known without reading the data; None: the
            dataset's own.
        options: the reader's keyword options a config may set (``dataset.<option>``;
            CHiME-Home: ``development_list``).
    """

    name: str
    read: Callable[..., "Dataset"]
    looks_like: Callable[[Path], bool]
    audio_formats: Mapping[str, "AudioFormat"] = dataclasses.field(default_factory=dict)
    n_folds: int = 5
    download: Optional[DatasetSource] = None
    classes: Optional[tuple[str, ...]] = None
    options: tuple[str, ...] = ()

    def download_hint(self) -> str | None:
        """The command that fetches this layout's dataset (None: it has no source)."""
        return None if self.download is None else f"kerastag data download {self.name} --to DIR"


def get_layout(name: str) -> DatasetLayout:
    """The declaration of layout ``name``.

    Raises:
        DatasetError: no such layout (the nearest name and every valid one).
    """
    if name not in LAYOUTS:
        raise DatasetError(unknown_name("layout", name, LAYOUTS))
    target = LAYOUTS[name]
    return target if isinstance(target, DatasetLayout) else resolve(target)


def downloadable_layouts() -> list[str]:
    """The layouts ``kerastag data download`` can fetch."""
    return [name for name in LAYOUTS if get_layout(name).download is not None]
