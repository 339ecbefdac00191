"""Reader for FSDKaggle2018 (DCASE 2018 Task 2), Zenodo and original Kaggle layouts.

Zenodo (record 2552860)::

    FSDKaggle2018.audio_train/<fname>.wav
    FSDKaggle2018.audio_test/<fname>.wav
    FSDKaggle2018.meta/train_post_competition.csv             fname,label,manually_verified,freesound_id,license
    FSDKaggle2018.meta/test_post_competition_scoring_clips.csv fname,label,usage,freesound_id,license

Kaggle::

    train.csv (fname,label,manually_verified), audio_train/, audio_test/,
    sample_submission.csv (fname,label); test labels only if test_post_competition.csv is there.

Training clips get seeded stratified folds 0..4 (the paper's StratifiedKFold(5)).
"""

from __future__ import annotations

from pathlib import Path

from kerastag.audio import AudioFormat
from kerastag.datasets.base import Clip, Dataset, Problems, is_file, name_problem, read_csv_rows
from kerastag.datasets.folds import stratified_folds
from kerastag.datasets.layout import DatasetLayout, DatasetSource, RemoteFile
from kerastag.errors import DatasetError

LAYOUT = "fsdkaggle2018"
#: The stratified folds the reader assigns to the training clips.
N_FOLDS = 5
#: Every clip is a 44.1 kHz mono wav (of any length from 0.3 s to 30 s, not enforced).
AUDIO_FORMATS = {"main": AudioFormat("FSDKaggle2018 clip", sample_rate=44100, channels=1)}
ZENODO_META = "FSDKaggle2018.meta"
ZENODO_TRAIN = Path(ZENODO_META) / "train_post_competition.csv"
ZENODO_TEST = Path(ZENODO_META) / "test_post_competition_scoring_clips.csv"
ZENODO_AUDIO = ("FSDKaggle2018.audio_train", "FSDKaggle2018.audio_test")
KAGGLE_AUDIO = ("audio_train", "audio_test")
KAGGLE_TRAIN = "train.csv"
KAGGLE_SUBMISSION = "sample_submission.csv"
TRAIN_COLUMNS = ("fname", "label", "manually_verified")
ZENODO_TRAIN_COLUMNS = TRAIN_COLUMNS + ("freesound_id", "license")
ZENODO_TEST_COLUMNS = ("fname", "label", "usage", "freesound_id", "license")
# The header of sample_submission.csv; test_post_competition.csv has these and more.
KAGGLE_TEST_COLUMNS = ("fname", "label")
Record = dict[str, str]


def variant_of(path: Path) -> str | None:
    """``"zenodo"``, ``"kaggle"`` or ``None`` for a folder."""
    if (path / ZENODO_TRAIN).is_file() or (path / ZENODO_META).is_dir():
        return "zenodo"
    if (path / KAGGLE_TRAIN).is_file() and (path / KAGGLE_AUDIO[0]).is_dir():
        return "kaggle"
    return None


def looks_like(path: Path) -> bool:
    """True when ``path`` holds FSDKaggle2018 in either layout."""
    return variant_of(path) is not None


def read_fsdkaggle2018(path: str | Path, *, problems: Problems | None = None,
                       n_folds: int = N_FOLDS, seed: int = 0) -> Dataset:
    """Read training and test clips with labels, verification flags and usage.

    Args:
        path: the folder holding ``FSDKaggle2018.meta/`` (Zenodo) or ``train.csv`` (Kaggle).
        problems: where to report problems; ``None`` raises on the first one.
        n_folds, seed: the stratified fold assignment of the training clips.

    Returns:
        A :class:`Dataset` whose classes are the sorted training labels; training clips
        have subset ``train`` and ``extra["manually_verified"]``; test clips subset
        ``test``, ``fold=None`` and (Zenodo) ``extra["usage"]`` Public/Private.
    """
    problems = problems if problems is not None else Problems(strict=True)
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found (get FSDKaggle2018 with "
                           f"'kerastag data download fsdkaggle2018 --to DIR')")
    variant = variant_of(root)
    if variant is None:
        raise DatasetError(f"{root}: not an FSDKaggle2018 folder "
                           f"(no {ZENODO_TRAIN} or {KAGGLE_TRAIN})")
    if variant == "zenodo":
        train, test = _read_zenodo(root, problems)
        audio = ZENODO_AUDIO
    else:
        train, test = _read_kaggle(root, problems)
        audio = KAGGLE_AUDIO
    labels = [row["label"] for row in train]
    classes = tuple(sorted({label for label in labels if label}))
    folds = stratified_folds(labels, n_folds=n_folds, seed=seed)
    clips = [_train_clip(root / audio[0], row, fold) for row, fold in zip(train, folds)]
    clips += [_test_clip(root / audio[1], row) for row in test]
    _check_clips(clips, classes, problems)
    return Dataset(layout=LAYOUT, root=root, classes=classes, clips=clips)


def _read_zenodo(root: Path, problems: Problems) -> tuple[list[Record], list[Record]]:
    """Training and test rows of the Zenodo metadata CSVs."""
    train = _read_csv(root / ZENODO_TRAIN, ZENODO_TRAIN_COLUMNS, problems)
    test = _read_csv(root / ZENODO_TEST, ZENODO_TEST_COLUMNS, problems)
    return train, test


def _read_kaggle(root: Path, problems: Problems) -> tuple[list[Record], list[Record]]:
    """Training and test rows of the Kaggle CSVs (test labels only from the post file)."""
    train = _read_csv(root / KAGGLE_TRAIN, TRAIN_COLUMNS, problems)
    post = root / "test_post_competition.csv"
    if post.is_file():
        test = _read_csv(post, KAGGLE_TEST_COLUMNS, problems, exact=False)
    else:
        test = _read_csv(root / KAGGLE_SUBMISSION, KAGGLE_TEST_COLUMNS, problems)
        for row in test:
            row["label"] = ""  # sample_submission's labels are placeholders, not ground truth
    return train, test


def _read_csv(path: Path, columns: tuple[str, ...], problems: Problems,
              exact: bool = True) -> list[Record]:
    """The rows of a metadata CSV as dicts keyed by the lower-cased header.

    Args:
        path: the CSV.
        columns: the header it must have (``Usage`` and ``usage`` both match ``usage``).
        problems: where a bad file, header or row is reported; bad rows are left out.
        exact: False when more columns than ``columns`` are fine.
    """
    expected = f"header {','.join(columns)}{',...' if not exact else ''}"
    rows = read_csv_rows(path, problems, what="metadata file", expected=expected)
    if not rows:
        return []
    (header_line, header), body = rows[0], rows[1:]
    found = [cell.strip().lower() for cell in header]
    usable = set(columns) <= set(found) and len(set(found)) == len(found)
    if not usable or (exact and tuple(found) != columns):
        problems.add(f"{path}:{header_line}", f"expected {expected}, got {','.join(header)!r}")
        if not usable:
            return []
    if not body:
        problems.add(f"{path}:{header_line}", "only a header, no clips listed")
    return [record for line_no, row in body
            if (record := _record(f"{path}:{line_no}", found, row, problems)) is not None]


def _record(where: str, columns: list[str], row: list[str], problems: Problems) -> Record | None:
    """One data row as a dict, or None after reporting a wrong column count or fname."""
    if len(row) != len(columns):
        problems.add(where, f"expected {len(columns)} columns ({','.join(columns)}), "
                            f"got {len(row)}")
        return None
    record = dict(zip(columns, (cell.strip() for cell in row)))
    bad_name = name_problem(record["fname"], subfolders=False)
    if bad_name:
        problems.add(where, f"fname: {bad_name}")
        return None
    return record


def _train_clip(folder: Path, row: dict, fold: int) -> Clip:
    verified = str(row.get("manually_verified", "")).strip() in ("1", "True", "true")
    return Clip(clip_id=row["fname"], path=folder / row["fname"], tags=_tags(row["label"]),
                fold=fold, subset="train", extra={"manually_verified": verified})


def _test_clip(folder: Path, row: dict) -> Clip:
    extra = {"usage": row["usage"]} if row.get("usage") else {}
    return Clip(clip_id=row["fname"], path=folder / row["fname"], tags=_tags(row["label"]),
                fold=None, subset="test", extra=extra)


def _tags(label: str) -> tuple[str, ...]:
    label = (label or "").strip()
    return (label,) if label else ()


def _check_clips(clips: list[Clip], classes: tuple[str, ...], problems: Problems) -> None:
    seen: set[tuple[str, str]] = set()
    for clip in clips:
        key = (clip.subset, clip.clip_id)
        if key in seen:
            problems.add(clip.path, f"duplicate fname {clip.clip_id!r} in the {clip.subset} list")
        seen.add(key)
        if not is_file(clip.path):
            problems.add(clip.path, "audio file not found")
        if clip.subset == "train" and not clip.tags:
            problems.add(clip.path, "training clip has no label")
        for tag in clip.tags:
            if tag not in classes:
                problems.add(clip.path, f"unknown label {tag!r} (not among the training labels)")
        usage = clip.extra.get("usage")
        if usage is not None and usage.lower() not in ("public", "private"):
            problems.add(clip.path, f"usage {usage!r}, expected Public or Private")


_ZENODO_FSD = "https://zenodo.org/records/2552860/files"

# FSDKaggle2018, Zenodo record 2552860. The md5 digests below were found in one public
# script that checks the four Zenodo archives against them; they could not be
# cross-checked against the Zenodo page itself from here. The sizes were not found, so
# only the md5 is checked. FSDKaggle2018.doc.zip (md5 4f2d1ac88f33a62f9db3108b269ee1b7)
# is not needed and not fetched.
DOWNLOAD = DatasetSource(
    name=LAYOUT,
    files=tuple(
        RemoteFile(
            name=f"FSDKaggle2018.{part}.zip",
            url=f"{_ZENODO_FSD}/FSDKaggle2018.{part}.zip?download=1",
            md5=md5,
            size=None,
        )
        for part, md5 in (
            ("audio_train", "a8b47ff4b52022c178f88fa5c6f080d0"),
            ("audio_test", "f85c8665c3fc39311ea1b748e194a81d"),
            ("meta", "f16828ac8be0e5285b9175a12f90d784"),
        )
    ),
    root="FSDKaggle2018",
    unpack_dir="FSDKaggle2018",
    homepage="https://zenodo.org/records/2552860",
)

#: The layout's declaration (:data:`kerastag.names.LAYOUTS` points here).
DECLARATION = DatasetLayout(
    name=LAYOUT, read=read_fsdkaggle2018, looks_like=looks_like, audio_formats=AUDIO_FORMATS,
    n_folds=N_FOLDS, download=DOWNLOAD)
