"""Damaged dataset text files give one one-line DatasetError naming the file and line.

Every reader reads its CSVs through ``kerastag.datasets.base.read_csv_rows``; these are
worked examples of each kind of damage, with the exact message a user sees. The
property-based counterpart is ``test_bad_files_fuzz.py``.
"""

import contextlib

import pytest

from kerastag.datasets import read_dataset
from kerastag.datasets.base import Problems
from kerastag.datasets.check import check_dataset
from kerastag.datasets.chime_home import CROSSVAL_LIST, DEV_LIST, EVAL_LIST
from kerastag.datasets.fsdkaggle2018 import (
    KAGGLE_SUBMISSION, KAGGLE_TRAIN, ZENODO_TEST, ZENODO_TRAIN)
from kerastag.errors import DatasetError

LAYOUT_OF = {"bad_chime": "chime-home", "bad_fsd": "fsdkaggle2018",
             "bad_fsd_kaggle": "fsdkaggle2018", "bad_csv": "csv"}
ANNOTATION = "chunks/<first chunk>.csv"
TEXT_FILES = [
    ("bad_chime", CROSSVAL_LIST), ("bad_chime", DEV_LIST), ("bad_chime", EVAL_LIST),
    ("bad_chime", ANNOTATION), ("bad_fsd", str(ZENODO_TRAIN)), ("bad_fsd", str(ZENODO_TEST)),
    ("bad_fsd_kaggle", KAGGLE_TRAIN), ("bad_fsd_kaggle", KAGGLE_SUBMISSION),
    ("bad_csv", "labels.csv"),
]
ZENODO_TRAIN_HEADER = "fname,label,manually_verified,freesound_id,license"


def dataset_file(root, relative):
    """``root/relative``; ANNOTATION is the annotation CSV of the first crossval chunk."""
    if relative == ANNOTATION:
        first = (root / CROSSVAL_LIST).read_text().splitlines()[0].split(",")[1]
        relative = f"chunks/{first}.csv"
    return root / relative


def expect_problem(root, layout, where, fragment):
    """Strict reading raises DatasetError '<where>: ...fragment...' on one line, and
    collecting mode (as ``data check``) lists that same message first without raising."""
    with pytest.raises(DatasetError) as info:
        read_dataset(root, layout)
    message = str(info.value)
    assert message.startswith(f"{where}: ") and fragment in message, message
    assert "\n" not in message and "\r" not in message
    collected = Problems(strict=False)
    read_dataset(root, layout, problems=collected)
    assert collected.messages[0] == message


def edit_line(number, edit):
    """A text edit that applies ``edit`` to line ``number`` (1-based)."""
    def apply(text):
        lines = text.splitlines()
        lines[number - 1] = edit(lines[number - 1])
        return "\n".join(lines) + "\n"
    return apply


def clips_of(dataset):
    return [(c, c.extra) for c in dataset.clips]


# -- 1. encoding: UTF-8, a byte-order mark accepted, anything else named by line ---------


@pytest.mark.parametrize("fixture, relative", TEXT_FILES)
def test_a_byte_order_mark_changes_nothing(request, swap, fixture, relative):
    root = request.getfixturevalue(fixture)
    path = dataset_file(root, relative)
    before = read_dataset(root, LAYOUT_OF[fixture])
    with swap(path, b"\xef\xbb\xbf" + path.read_bytes()):
        after = read_dataset(root, LAYOUT_OF[fixture])
    assert clips_of(after) == clips_of(before) and after.classes == before.classes


@pytest.mark.parametrize("fixture, relative", TEXT_FILES)
def test_not_utf8_names_file_line_and_column(request, swap, fixture, relative):
    root = request.getfixturevalue(fixture)
    path = dataset_file(root, relative)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2][:2] + b"\xe9" + lines[2][2:]  # latin-1 e-acute at line 3, column 3
    with swap(path, b"".join(lines)):
        expect_problem(root, LAYOUT_OF[fixture], f"{path}:3",
                       "not UTF-8 text (byte 0xe9 at column 3); save the ")


# -- 2. the generic labels.csv ------------------------------------------------------------

@pytest.mark.parametrize("content, line, fragment", [
    ("", None, "empty labels file (expected header filename,labels[,fold], then one row "
               "per audio file)"),
    (" \n\n", None, "empty labels file"),
    ("filename,labels\n", 1, "only a header, no clips listed"),
    ("filename,labels\r\n\r\n", 1, "only a header, no clips listed"),
    ("filename,labels\na.wav,dog,0,x\n", 2, "expected 2 columns (filename,labels), got 4"),
    ("filename,labels,fold\na.wav,dog,0\nb.wav,cat\n", 3,
     "expected 3 columns (filename,labels,fold), got 2"),
    ('filename,labels\na.wav,"dog\nb.wav,cat\n', 2,
     "not valid CSV: a quote opened in this row is never closed"),
    ('filename,labels\na.wav,"dog"s\n', 2, "not valid CSV: text after a closing quote"),
    (b"filename,labels\n\xffa.wav,dog\n", 2, "not UTF-8 text (byte 0xff at column 1)"),
    ("filename,label\na.wav,dog\n", 1,
     "expected header filename,labels[,fold], got 'filename,label'"),
    ("labels,filename\ndog,a.wav\n", 1, "got 'labels,filename'"),
    ("a.wav,dog\nb.wav,cat\n", 1, "expected header filename,labels[,fold], got 'a.wav,dog'"),
    ("filename,labels,fold,extra\na.wav,dog,0,x\n", 1, "got 'filename,labels,fold,extra'"),
    ("filename,labels\n/etc/a.wav,dog\n", 2,
     "file name '/etc/a.wav' is absolute; expected a path relative to the dataset folder"),
    ("filename,labels\na.wav,dog\n../b.wav,cat\n", 3,
     "file name '../b.wav' climbs out of the dataset folder"),
    ("filename,labels\nsub/../../b.wav,cat\n", 2, "climbs out of the dataset folder"),
    ("filename,labels\n,dog\n", 2, "empty file name"),
    ('filename,labels\n"a\nb.wav",dog\n', 2, "file name 'a\\nb.wav' has a control character"),
    ("filename,labels\na.wav,dog\nb.wav,cat\na.wav,cat\n", 4,
     "duplicate filename 'a.wav' (first on line 2)"),
    ("filename,labels,fold\na.wav,dog,5\n", 2, "fold '5' outside 0..4"),
    ("filename,labels,fold\na.wav,dog,\u00b2\n", 2, "fold '\u00b2' outside 0..4"),
    ("filename,labels\nmissing.wav,dog\n", 2, "audio file not found: "),
])
def test_bad_labels_csv(bad_csv, swap, content, line, fragment):
    path = bad_csv / "labels.csv"
    data = content if isinstance(content, bytes) else content.encode("utf-8")
    with swap(path, data):
        expect_problem(bad_csv, "csv", path if line is None else f"{path}:{line}", fragment)


def test_good_labels_csv_reads_as_written(bad_csv):
    dataset = read_dataset(bad_csv)
    assert [(c.clip_id, c.tags, c.fold) for c in dataset.clips[:2]] == [
        ("a.wav", ("dog",), 0), ("b.wav", ("cat", "dog"), 1)]
    assert dataset.clips[2].clip_id == "sub/c.wav" and dataset.classes == ("cat", "dog")


# -- 3. FSDKaggle2018 metadata CSVs -------------------------------------------------------

def _header_only(text):
    return text.splitlines()[0] + "\n"


@pytest.mark.parametrize("fixture, relative, edit, line, fragment", [
    ("bad_fsd", ZENODO_TRAIN, lambda text: "", None,
     f"empty metadata file (expected header {ZENODO_TRAIN_HEADER})"),
    ("bad_fsd", ZENODO_TEST, _header_only, 1, "only a header, no clips listed"),
    ("bad_fsd", ZENODO_TRAIN, edit_line(3, lambda s: s.rsplit(",", 1)[0]), 3,
     f"expected 5 columns ({ZENODO_TRAIN_HEADER}), got 4"),
    ("bad_fsd", ZENODO_TEST, edit_line(2, lambda s: s + ",x"), 2,
     "expected 5 columns (fname,label,usage,freesound_id,license), got 6"),
    ("bad_fsd", ZENODO_TRAIN, edit_line(2, lambda s: s.replace(",", ',"', 1)), 2,
     "not valid CSV: a quote opened in this row is never closed "
     f"(expected header {ZENODO_TRAIN_HEADER})"),
    ("bad_fsd", ZENODO_TRAIN, edit_line(1, lambda s: s.replace("label", "labels")), 1,
     f"expected header {ZENODO_TRAIN_HEADER}, got "
     "'fname,labels,manually_verified,freesound_id,license'"),
    ("bad_fsd", ZENODO_TEST, edit_line(1, lambda s: s.replace(",license", "")), 1,
     "expected header fname,label,usage,freesound_id,license, got "
     "'fname,label,usage,freesound_id'"),
    ("bad_fsd", ZENODO_TRAIN, edit_line(4, lambda s: "../x.wav" + s[s.index(","):]), 4,
     "fname: file name '../x.wav' climbs out of the dataset folder"),
    ("bad_fsd_kaggle", KAGGLE_TRAIN, lambda text: "", None,
     "empty metadata file (expected header fname,label,manually_verified)"),
    ("bad_fsd_kaggle", KAGGLE_SUBMISSION, edit_line(1, lambda s: "fname;label"), 1,
     "expected header fname,label, got 'fname;label'"),
    ("bad_fsd_kaggle", KAGGLE_TRAIN, edit_line(2, lambda s: s.replace(",", ',"x"y', 1)), 2,
     "not valid CSV: text after a closing quote"),
])
def test_bad_fsd_metadata(request, swap, fixture, relative, edit, line, fragment):
    root = request.getfixturevalue(fixture)
    path = root / relative
    with swap(path, edit(path.read_text()).encode("utf-8")):
        expect_problem(root, "fsdkaggle2018", path if line is None else f"{path}:{line}",
                       fragment)


@pytest.mark.parametrize("spelling", ["usage", "Usage", "USAGE", " Usage "])
def test_fsd_usage_header_in_either_case(bad_fsd, swap, spelling):
    path = bad_fsd / ZENODO_TEST
    before = read_dataset(bad_fsd, "fsdkaggle2018")
    text = path.read_text().replace("usage", spelling, 1)
    with swap(path, text.encode("utf-8")):
        after = read_dataset(bad_fsd, "fsdkaggle2018")
    assert clips_of(after) == clips_of(before)
    assert {c.extra["usage"] for c in after.subset("test")} == {"Public", "Private"}


def test_fsd_kaggle_post_competition_file_may_add_columns(bad_fsd_kaggle, swap):
    names = [line.split(",")[0] for line in
             (bad_fsd_kaggle / KAGGLE_SUBMISSION).read_text().splitlines()[1:]]
    labels = read_dataset(bad_fsd_kaggle).classes
    rows = [f"{name},{labels[0]},Private,1,CC0" for name in names]
    post = "fname,label,Usage,freesound_id,license\n" + "\n".join(rows) + "\n"
    with swap(bad_fsd_kaggle / "test_post_competition.csv", post.encode("utf-8")):
        test = read_dataset(bad_fsd_kaggle).subset("test")
    assert {c.tags for c in test} == {(labels[0],)} and len(test) == len(names)


# -- the CHiME-Home lists and annotations -------------------------------------------------

def _append_first_line(text):
    return text + text.splitlines()[0] + "\n"


@pytest.mark.parametrize("relative, edit, line, fragment", [
    (CROSSVAL_LIST, lambda text: "id,chunkname,fold\n" + text, 1,
     "looks like a header row 'id,chunkname,fold'; the real file has none"),
    (CROSSVAL_LIST, edit_line(2, lambda s: s.rsplit(",", 1)[0]), 2,
     "expected 3 columns (id,chunkname,fold), got 2"),
    (CROSSVAL_LIST, edit_line(3, lambda s: s.rsplit(",", 1)[0] + ",7"), 3,
     "fold '7' outside 0..4"),
    (CROSSVAL_LIST, edit_line(3, lambda s: s.rsplit(",", 1)[0] + ",\u00b2"), 3,
     "fold '\u00b2' outside 0..4"),
    (CROSSVAL_LIST, edit_line(2, lambda s: s.replace(",", ",../", 1)), 2,
     "chunk name: file name '../"),
    (CROSSVAL_LIST, lambda text: text.replace(",", ',"', 1), 1,
     "not valid CSV: a quote opened in this row is never closed "
     "(expected rows id,chunkname,fold, no header)"),
    (EVAL_LIST, lambda text: "", None, "empty list file (expected rows id,chunkname, no header)"),
    (EVAL_LIST, _append_first_line, 9, "duplicate chunk '"),
    (DEV_LIST, edit_line(1, lambda s: s.split(",")[0] + ",,"), 1,
     "expected 2 columns (id,chunkname), got 3"),
    (ANNOTATION, lambda text: text.replace("majorityvote", "majority"), None,
     "no 'majorityvote' row"),
    (ANNOTATION, lambda text: text.replace("majorityvote,", 'majorityvote,"', 1), 10,
     "not valid CSV: a quote opened in this row is never closed"),
])
def test_bad_chime_lists(bad_chime, swap, relative, edit, line, fragment):
    path = dataset_file(bad_chime, relative)
    with swap(path, edit(path.read_text()).encode("utf-8")):
        expect_problem(bad_chime, "chime-home", path if line is None else f"{path}:{line}",
                       fragment)


# -- 4. lists that name no clip -----------------------------------------------------------

@pytest.mark.parametrize("fixture, emptied, first", [
    ("bad_csv", {"labels.csv": "filename,labels,fold\n"}, "labels.csv:1: only a header"),
    ("bad_fsd", {ZENODO_TRAIN: ZENODO_TRAIN_HEADER + "\n",
                 ZENODO_TEST: "fname,label,usage,freesound_id,license\n"},
     f"{ZENODO_TRAIN}:1: only a header, no clips listed"),
    ("bad_chime", {CROSSVAL_LIST: "", DEV_LIST: "", EVAL_LIST: "\n"},
     f"{CROSSVAL_LIST}: empty list file"),
])
def test_lists_without_clips_are_a_problem(request, swap, fixture, emptied, first):
    root = request.getfixturevalue(fixture)
    with contextlib.ExitStack() as stack:
        for relative, text in emptied.items():
            stack.enter_context(swap(root / relative, text.encode("utf-8")))
        with pytest.raises(DatasetError) as info:
            read_dataset(root, LAYOUT_OF[fixture])
        report = check_dataset(root, LAYOUT_OF[fixture])
    assert str(info.value).startswith(f"{root}/{first}")
    assert not report.ok and report.problems[0] == str(info.value)
    assert any("no clips" in problem for problem in report.problems), report.problems
