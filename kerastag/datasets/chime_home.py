"""Reader for CHiME-Home (DCASE 2016 Task 4) exactly as ``chime_home.tar.gz`` unpacks.

Layout (see shared/DATASETS.md)::

    chime_home/
      chunks/<chunk>.16kHz.wav   mono 16 kHz, 4 s
      chunks/<chunk>.48kHz.wav   stereo 48 kHz, 4 s
      chunks/<chunk>.csv         key,value rows, no header; tags = letters of majorityvote
      development_chunks_refined.csv                  id,chunkname          (no header)
      development_chunks_refined_crossval_dcase2016.csv  id,chunkname,fold  (no header)
      evaluation_chunks_refined.csv                   id,chunkname          (no header)
      development_chunks_raw.csv                      id,chunkname          (no header)
      development_chunks_raw_crossval_dcase2016.csv   id,chunkname,fold     (no header)

The refined development set (1,946 chunks, the official 5 folds) is what paper A and
the challenge scored; the raw one (4,378 chunks, folds in the same format) is what the
Table 1 baselines' authors trained on (their configs read
``development_chunks_raw_crossval_dcase2016.csv``). ``development_list="raw"`` reads
the raw chunks and folds instead (the plain raw list is compared when present); the
evaluation set is always the refined 816.
"""

from __future__ import annotations

from pathlib import Path

from kerastag.audio import AudioFormat
from kerastag.datasets.base import (
    Clip, CsvRows, Dataset, Problems, is_file, name_problem, parse_fold, read_csv_rows)
from kerastag.datasets.layout import DatasetLayout, DatasetSource, RemoteFile
from kerastag.errors import DatasetError
from kerastag.reference_results import CHIME_HOME_TAGS

LAYOUT = "chime-home"
CHUNKS_DIR = "chunks"
DEV_LIST = "development_chunks_refined.csv"
CROSSVAL_LIST = "development_chunks_refined_crossval_dcase2016.csv"
EVAL_LIST = "evaluation_chunks_refined.csv"
RAW_DEV_LIST = "development_chunks_raw.csv"
RAW_CROSSVAL_LIST = "development_chunks_raw_crossval_dcase2016.csv"
#: ``development_list`` -> (its chunk list, its crossval list).
DEVELOPMENT_LISTS = {"refined": (DEV_LIST, CROSSVAL_LIST), "raw": (RAW_DEV_LIST, RAW_CROSSVAL_LIST)}
ANNOTATION_KEYS = (
    "segmentname", "chunknumber", "framestart", "annotation_a1", "annotation_a2",
    "annotation_a3", "session_a1", "session_a2", "session_a3", "majorityvote", "chunkname",
)
IGNORED_LETTERS = frozenset("SU")  # silence/background and unidentifiable
SILENCE = "S"  # a chunk's majorityvote holds it when annotated silence / background
N_FOLDS = 5
CHUNK_SECONDS = 4
#: What every chunk's two files are (``kerastag.audio`` checks them where they are read).
AUDIO_FORMATS = {
    "main": AudioFormat("CHiME-Home 16 kHz chunk", sample_rate=16000, channels=1,
                        frames=CHUNK_SECONDS * 16000),
    "48k": AudioFormat("CHiME-Home 48 kHz chunk", sample_rate=48000, channels=2,
                       frames=CHUNK_SECONDS * 48000),
}
LIST_COLUMNS = {2: "id,chunkname", 3: "id,chunkname,fold"}


def find_root(path: str | Path) -> Path:
    """Return the ``chime_home`` folder given it or the folder that contains it.

    Raises:
        DatasetError: neither ``path`` nor ``path/chime_home`` holds the crossval list.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(
            f"{path}: dataset folder not found (get CHiME-Home with "
            f"'kerastag data download chime-home --to DIR', or make the demo with "
            f"'kerastag data demo --layout chime-home --out DIR')")
    for candidate in (path, path / "chime_home"):
        if (candidate / CROSSVAL_LIST).is_file() or (candidate / CHUNKS_DIR).is_dir():
            return candidate
    raise DatasetError(f"{path}: not a CHiME-Home folder "
                       f"(no {CROSSVAL_LIST} or {CHUNKS_DIR}/ inside)")


def looks_like(path: Path) -> bool:
    """True when ``path`` (or ``path/chime_home``) has the CHiME-Home lists."""
    return any((p / CROSSVAL_LIST).is_file() for p in (path, path / "chime_home"))


def read_chime_home(path: str | Path, *, problems: Problems | None = None,
                    subsets: tuple[str, ...] = ("development", "evaluation"),
                    development_list: str = "refined") -> Dataset:
    """Read the chunk lists, folds and majority-vote tags.

    Args:
        path: the ``chime_home`` folder or its parent.
        problems: where to report problems; ``None`` raises on the first one.
        subsets: which lists to read (``development`` and/or ``evaluation``).
        development_list: ``refined`` (the official 1,946 chunks) or ``raw`` (4,378).

    Returns:
        A :class:`Dataset` with classes ``c m f v p b o``; development clips carry their
        official fold 0..4, evaluation clips ``fold=None``. ``Clip.path`` is the 16 kHz
        file, ``Clip.extra["path_48k"]`` the 48 kHz stereo one, ``Clip.extra["silence"]``
        whether the majority vote holds ``S`` (as the Table 1 baselines' authors read it:
        every letter of the vote, ``S`` included, was a target).
    """
    problems = problems if problems is not None else Problems(strict=True)
    root = find_root(path)
    clips: list[Clip] = []
    if development_list not in DEVELOPMENT_LISTS:
        raise DatasetError(f"development_list: expected one of {', '.join(DEVELOPMENT_LISTS)}, "
                           f"got {development_list!r}")
    if "development" in subsets:
        dev_list, crossval_list = DEVELOPMENT_LISTS[development_list]
        folds = _read_crossval(root / crossval_list, problems)
        if development_list == "refined" or is_file(root / dev_list):
            _compare_dev_list(root / dev_list, folds, problems, crossval_list)
        clips += [_make_clip(root, name, fold, "development", problems) for name, fold in folds.items()]
    if "evaluation" in subsets:
        names = _read_list(root / EVAL_LIST, 2, problems) or []
        clips += [_make_clip(root, name, None, "evaluation", problems) for name in names]
    clips = [clip for clip in clips if clip is not None]
    _report_duplicates(clips, root / EVAL_LIST, problems)
    return Dataset(layout=LAYOUT, root=root, classes=CHIME_HOME_TAGS, clips=clips)


def tags_from_majorityvote(value: str, where: str | Path, problems: Problems) -> tuple[str, ...]:
    """Tag letters of a majority vote, ``S``/``U`` removed, unknown letters reported."""
    tags = []
    for letter in value.strip():
        if letter in IGNORED_LETTERS:
            continue
        if letter not in CHIME_HOME_TAGS:
            problems.add(where, f"unknown tag letter {letter!r} in majorityvote {value!r} "
                                f"(expected letters of {''.join(CHIME_HOME_TAGS)}, S or U)")
            continue
        tags.append(letter)
    return tuple(sorted(set(tags), key=CHIME_HOME_TAGS.index))


def read_annotation(path: Path, problems: Problems) -> dict[str, str]:
    """The ``key,value`` rows of a chunk's annotation CSV as a dict.

    Args:
        path: ``chunks/<chunk>.csv``.
        problems: where a missing or malformed file or row is reported.

    Returns:
        key -> value, empty when the file cannot be read.
    """
    rows = read_csv_rows(path, problems, what="annotation file",
                         expected="key,value rows, one of them majorityvote")
    if not rows:
        return {}
    values = {}
    for line_no, row in rows:
        if len(row) < 2:
            problems.add(f"{path}:{line_no}", f"expected 'key,value', got {','.join(row)!r}")
            continue
        values[row[0].strip()] = ",".join(row[1:]).strip()
    if "majorityvote" not in values:
        problems.add(path, "no 'majorityvote' row")
    return values


def _make_clip(root: Path, name: str, fold: int | None, subset: str, problems: Problems):
    chunks = root / CHUNKS_DIR
    annotation = read_annotation(chunks / f"{name}.csv", problems)
    tags = tags_from_majorityvote(annotation.get("majorityvote", ""), chunks / f"{name}.csv", problems)
    path_16k, path_48k = chunks / f"{name}.16kHz.wav", chunks / f"{name}.48kHz.wav"
    for wav in (path_16k, path_48k):
        if not is_file(wav):
            problems.add(wav, "audio file not found")
    silence = SILENCE in annotation.get("majorityvote", "")
    return Clip(clip_id=name, path=path_16k, tags=tags, fold=fold, subset=subset,
                extra={"path_48k": path_48k, "annotation": annotation, "silence": silence,
                       "group": recording_session(name)})


def recording_session(chunk_name: str) -> str:
    """The recording session a chunk was cut from: its name up to the first ``.``
    (``CR_lounge_220110_0731`` of ``CR_lounge_220110_0731.s0_chunk27``; chunks of one
    session share speakers and room, so they belong on one side of a split)."""
    return chunk_name.split(".", 1)[0].split("_chunk", 1)[0]


def _read_rows(path: Path, n_columns: int, problems: Problems) -> CsvRows | None:
    """The ``(line, cells)`` rows of a headerless chunk list with ``n_columns`` columns.

    Rows with a wrong column count or an unusable chunk name are reported and left out.
    Returns None when the file itself cannot be read (already reported).
    """
    columns = LIST_COLUMNS[n_columns]
    rows = read_csv_rows(path, problems, what="list file", expected=f"rows {columns}, no header")
    if rows is None:
        return None
    good = []
    for index, (line_no, row) in enumerate(rows):
        row = [cell.strip() for cell in row]
        if index == 0 and not row[0].isdigit():
            problems.add(f"{path}:{line_no}", f"looks like a header row {','.join(row)!r}; "
                                              f"the real file has none")
            continue
        if len(row) != n_columns:
            problems.add(f"{path}:{line_no}",
                         f"expected {n_columns} columns ({columns}), got {len(row)}")
            continue
        bad_name = name_problem(row[1], subfolders=False)
        if bad_name:
            problems.add(f"{path}:{line_no}", f"chunk name: {bad_name}")
            continue
        good.append((line_no, row))
    return good


def _read_list(path: Path, n_columns: int, problems: Problems) -> list[str] | None:
    """Chunk names of a list (column 2), duplicates reported and dropped; None if unreadable."""
    rows = _read_rows(path, n_columns, problems)
    if rows is None:
        return None
    names: dict[str, int] = {}
    for line_no, row in rows:
        if row[1] in names:
            problems.add(f"{path}:{line_no}", f"duplicate chunk {row[1]!r} "
                                              f"(first on line {names[row[1]]})")
            continue
        names[row[1]] = line_no
    return list(names)


def _read_crossval(path: Path, problems: Problems) -> dict[str, int]:
    """Chunk name -> official fold of the crossval list; bad rows reported and dropped."""
    folds: dict[str, int] = {}
    for line_no, (_, name, fold_text) in _read_rows(path, 3, problems) or []:
        fold = parse_fold(fold_text, N_FOLDS)
        if fold is None:
            problems.add(f"{path}:{line_no}", f"fold {fold_text!r} outside 0..{N_FOLDS - 1}")
            continue
        if name in folds:
            problems.add(f"{path}:{line_no}", f"duplicate chunk {name!r}")
            continue
        folds[name] = fold
    return folds


def _compare_dev_list(path: Path, folds: dict[str, int], problems: Problems,
                      crossval_list: str = CROSSVAL_LIST) -> None:
    """Report chunks that are in only one of the development list and the crossval list."""
    listed = _read_list(path, 2, problems)
    if listed is None:
        return
    missing = sorted(set(folds) - set(listed))
    extra = sorted(set(listed) - set(folds))
    if missing:
        problems.add(path, f"{len(missing)} chunk(s) of {crossval_list} missing, e.g. {missing[0]!r}")
    if extra:
        problems.add(path, f"{len(extra)} chunk(s) not in {crossval_list}, e.g. {extra[0]!r}")


def _report_duplicates(clips: list[Clip], eval_list: Path, problems: Problems) -> None:
    """Report chunks listed both for development and for evaluation."""
    seen: dict[str, str] = {}
    for clip in clips:
        if clip.clip_id in seen and seen[clip.clip_id] != clip.subset:
            problems.add(eval_list, f"chunk {clip.clip_id!r} is in both the "
                                    f"{seen[clip.clip_id]} and the {clip.subset} lists")
        seen.setdefault(clip.clip_id, clip.subset)


#: CHiME-Home's archive (archive.org).
DOWNLOAD = DatasetSource(
    name=LAYOUT,
    files=(
        RemoteFile(
            name="chime_home.tar.gz",
            url="https://archive.org/download/chime-home/chime_home.tar.gz",
            md5="9ce9d584e229b465b3aa08db2d7fee67",
            size=4_162_513_717,
        ),
    ),
    root="chime_home",
    homepage="https://archive.org/details/chime-home",
)

#: The layout's declaration (:data:`kerastag.names.LAYOUTS` points here).
DECLARATION = DatasetLayout(
    name=LAYOUT, read=read_chime_home, looks_like=looks_like, audio_formats=AUDIO_FORMATS,
    n_folds=N_FOLDS, download=DOWNLOAD, classes=tuple(CHIME_HOME_TAGS),
    options=("development_list",))
