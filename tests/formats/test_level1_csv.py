"""The level-1 CSV and submission formats: one writer, read back by their readers."""

from __future__ import annotations

import numpy as np
import pytest

from kerastag.errors import KerastagError
from kerastag.formats import level1_csv, submission_csv
from kerastag.formats.level1_csv import Level1Table, read_level1

CLASSES = ["Acoustic_guitar", "Bark", "Bass_drum", "Cello", "Meow"]
C = len(CLASSES)


def _probs(rng, n: int, dtype=np.float32) -> np.ndarray:
    logits = rng.normal(scale=4.0, size=(n, C))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (probs / probs.sum(axis=1, keepdims=True)).astype(dtype)


def _tables(seed: int, *, known_test: bool = True) -> tuple[Level1Table, Level1Table]:
    """An out-of-fold and a test table in shuffled (unsorted) clip order: the same clips,
    folds and labels for every seed, the probabilities of model ``seed``."""
    rng = np.random.default_rng(0)
    names = np.array([f"{h:08x}.wav" for h in rng.choice(16**7, 70, replace=False)])
    folds, labels = rng.integers(0, 5, 50), rng.integers(0, C, 50)
    test_labels = rng.integers(0, C, 20) if known_test else np.full(20, -1)
    model = np.random.default_rng(seed + 1)
    oof = Level1Table(fnames=names[:50], folds=folds, labels=labels, probs=_probs(model, 50))
    test = Level1Table(fnames=names[50:], folds=None, labels=test_labels,
                       probs=_probs(model, 20, np.float64))
    return oof, test


def _six_digits(values: np.ndarray) -> np.ndarray:
    return np.vectorize(lambda v: float(level1_csv.FLOAT_FORMAT % v))(values)


def test_level1_files_round_trip_to_six_significant_digits(tmp_path):
    written = {row: _tables(seed) for seed, row in enumerate(["b_wave", "a_logmel"])}
    for row, (oof, test) in written.items():
        paths = level1_csv.write_row(tmp_path / "level1", row, CLASSES, oof, test)
        assert set(paths) == {"oof", "test"}
    level1_csv.write_classes(tmp_path / "level1", CLASSES)
    level1 = read_level1(tmp_path)
    assert level1.model_order == ("a_logmel", "b_wave") and level1.classes == tuple(CLASSES)
    for k, row in enumerate(level1.model_order):
        oof, test = (table.sorted() for table in written[row])
        assert list(level1.train_fnames) == sorted(oof.fnames)
        np.testing.assert_array_equal(level1.train_fnames, oof.fnames)
        np.testing.assert_array_equal(level1.train_folds, oof.folds)
        np.testing.assert_array_equal(level1.train_labels, oof.labels)
        np.testing.assert_array_equal(level1.oof_probs[k], _six_digits(oof.probs))
        np.testing.assert_allclose(level1.oof_probs[k], oof.probs, rtol=5e-6, atol=0)
        np.testing.assert_array_equal(level1.test_labels, test.labels)
        np.testing.assert_array_equal(level1.test_probs[k], _six_digits(test.probs))


def test_level1_bytes_header_order_and_unknown_labels(tmp_path):
    oof, test = _tables(3, known_test=False)
    level1_csv.write_row(tmp_path, "m", CLASSES, oof, test)
    oof_text = (tmp_path / "m.oof.csv").read_bytes().decode()
    test_lines = (tmp_path / "m.test.csv").read_bytes().decode().split("\n")
    assert "\r" not in oof_text and oof_text.endswith("\n")
    assert oof_text.split("\n")[0] == "fname,fold,label," + ",".join(CLASSES)
    assert test_lines[0] == "fname,label," + ",".join(CLASSES)
    assert all(line.split(",")[1] == "" for line in test_lines[1:-1])  # unknown label
    first = oof.sorted()
    fields = oof_text.split("\n")[1].split(",")
    assert fields[:3] == [first.fnames[0], str(first.folds[0]), CLASSES[first.labels[0]]]
    assert fields[3:] == ["%.6g" % p for p in first.probs[0]]
    assert level1_csv.write_classes(tmp_path, CLASSES).read_text() == (
        '[\n "Acoustic_guitar",\n "Bark",\n "Bass_drum",\n "Cello",\n "Meow"\n]')


def test_level1_without_test_table_writes_only_the_oof_file(tmp_path):
    oof, _ = _tables(4)
    assert set(level1_csv.write_row(tmp_path, "m", CLASSES, oof, None)) == {"oof"}
    assert not (tmp_path / "m.test.csv").exists()


def test_submission_round_trip_lists_the_top_three_sorted_by_fname(tmp_path):
    _, test = _tables(5)
    path = submission_csv.write_submission(tmp_path / "sub.csv", test.fnames, test.probs,
                                           CLASSES)
    assert path.read_bytes().startswith(b"fname,label\n") and b"\r" not in path.read_bytes()
    rows = submission_csv.read_submission(path, CLASSES)
    order = np.argsort(test.fnames)
    assert [fname for fname, _ in rows] == sorted(test.fnames)
    top = np.argsort(-test.probs[order], axis=1, kind="stable")[:, :3]
    for (_, labels), best in zip(rows, top):
        assert labels == tuple(CLASSES[j] for j in best)


@pytest.mark.parametrize("text, expected", [
    ("fname,labels\na.wav,Bark Cello Meow\n", "header must be fname,label"),
    ("fname,label\na.wav,Bark Cello\n", "3 distinct known classes"),
    ("fname,label\na.wav,Bark Cello Purr\n", "3 distinct known classes"),
    ("fname,label\na.wav,Bark Bark Meow\n", "3 distinct known classes"),
    ("fname,label\na.wav,Bark Cello Meow\na.wav,Bark Cello Meow\n", "'a.wav' listed twice"),
    ("fname,label\na.wav\n", "line 2: 1 fields"),
    ("", "empty submission"),
])
def test_submission_reader_rejects_bad_files(tmp_path, text, expected):
    path = tmp_path / "sub.csv"
    path.write_text(text)
    with pytest.raises(KerastagError, match=expected):
        submission_csv.read_submission(path, CLASSES)
