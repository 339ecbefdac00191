"""The generic CSV layout (kerastag.datasets.csv_layout): one ``labels.csv`` + audio."""

from kerastag.datasets import read_dataset
from kerastag.datasets.check import check_dataset


def test_csv_layout_assigns_stratified_folds(chime_demo, tmp_path):
    root, truth = chime_demo
    lines = ["filename,labels"]
    for t in truth:
        if t.tags:
            lines.append(f"chunks/{t.clip_id}.16kHz.wav,{' '.join(t.tags)}")
    own = tmp_path / "own"
    (own / "chunks").mkdir(parents=True)
    for t in truth:
        if t.tags:
            src = root / "chunks" / f"{t.clip_id}.16kHz.wav"
            (own / "chunks" / src.name).write_bytes(src.read_bytes())
    (own / "labels.csv").write_text("\n".join(lines) + "\n")
    dataset = read_dataset(own)
    assert dataset.layout == "csv"
    assert len(dataset.clips) == len(lines) - 1
    assert {c.fold for c in dataset.clips} == {0, 1, 2, 3, 4}
    assert read_dataset(own).clips == dataset.clips  # seeded: the same folds every time
    assert check_dataset(own).problems == []


# -- labels.csv as people write it --------------------------------------------------------

import unicodedata  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from kerastag.cli import main  # noqa: E402
from kerastag.datasets.check import format_report  # noqa: E402
from kerastag.errors import DatasetError  # noqa: E402


def own_folder(root, rows, audio=None, header="filename,labels"):
    """``root/labels.csv`` from ``rows`` (lines after the header) and a 0.1 s WAV for every
    name in ``audio`` (default: the first cell of every row)."""
    root.mkdir(parents=True, exist_ok=True)
    if audio is None:
        audio = [row.split(",", 1)[0] for row in rows]
    for name in audio:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(root / name, np.full(1600, 0.1, np.float32), 16000)
    (root / "labels.csv").write_text(f"{header}\n" + "".join(f"{r}\n" for r in rows),
                                     encoding="utf-8")
    return root


def test_labels_split_at_spaces_commas_and_semicolons(tmp_path):
    root = own_folder(tmp_path / "own", ['a.wav,"bird,dog"', "b.wav,bird;cat",
                                         'c.wav,"dog  cat"', 'd.wav,"cat, bird; dog"'])
    report = check_dataset(root)
    assert report.problems == []
    assert report.dataset.classes == ("bird", "cat", "dog")
    assert [c.tags for c in report.dataset.clips] == [
        ("bird", "dog"), ("bird", "cat"), ("cat", "dog"), ("bird", "cat", "dog")]
    split_notes = [note for note in report.notes if "separated by commas" in note]
    assert len(split_notes) == 1 and "3 row(s) list labels separated by commas or semicolons" \
        in split_notes[0] and "line 2 'bird,dog' -> bird dog" in split_notes[0]
    text = format_report(report)
    assert f"notes ({len(report.notes)}):" in text and "problems: none" in text


def test_labels_differing_only_in_case_are_a_problem_naming_both_lines(tmp_path):
    root = own_folder(tmp_path / "own", ["a.wav,dog", "b.wav,cat", "c.wav,DOG"])
    csv = root / "labels.csv"
    assert check_dataset(root).problems == [
        f"{csv}:4: labels 'dog' (line 2) and 'DOG' (line 4) differ only in case; labels are "
        f"case-sensitive, so write one spelling"]
    with pytest.raises(DatasetError, match="differ only in case"):
        read_dataset(root)


@pytest.mark.parametrize("name", ["file", "tags"])
def test_a_class_named_like_a_scores_column_is_refused(tmp_path, name):
    root = own_folder(tmp_path / "own", ["a.wav,dog", f"b.wav,cat {name}"])
    assert check_dataset(root).problems == [
        f"{root / 'labels.csv'}:3: class name {name!r} is a column of the scores CSV that "
        f"predict writes (file, one column per class, tags); rename the class"]


@pytest.mark.parametrize("first, second", [("b.wav", "./b.wav"), ("sub/b.wav", "sub//b.wav"),
                                           ("sub/b.wav", "sub\\b.wav"), ("./sub/b.wav", "sub/./b.wav")])
def test_one_file_listed_twice_in_two_spellings_is_a_duplicate(tmp_path, first, second):
    root = own_folder(tmp_path / "own", ["a.wav,dog", f"{first},cat", f"{second},dog"],
                      audio=["a.wav", first.replace("\\", "/")])
    report = check_dataset(root)
    same = "" if first == second else f" as {first!r}"
    assert report.problems == [f"{root / 'labels.csv'}:4: duplicate filename {second!r} "
                               f"(first on line 3{same})"]
    assert [c.clip_id for c in report.dataset.clips] == ["a.wav", first.removeprefix("./")]


@pytest.mark.parametrize("csv_form, disk_form", [("NFC", "NFD"), ("NFD", "NFC")])
def test_a_name_matches_its_file_in_the_other_unicode_form(tmp_path, csv_form, disk_form):
    name = "Café señal.wav"
    root = own_folder(tmp_path / "own", [f"{unicodedata.normalize(csv_form, name)},dog",
                                         "b.wav,cat"],
                      audio=[unicodedata.normalize(disk_form, name), "b.wav"])
    report = check_dataset(root)
    assert report.problems == [] and len(report.durations) == 2
    clip = report.dataset.clips[0]
    assert clip.clip_id == unicodedata.normalize("NFC", name) and clip.path.is_file()
    assert clip.path.name == unicodedata.normalize(disk_form, name)
    assert not any("not listed" in note for note in report.notes)


def test_unlisted_audio_files_are_a_note_not_a_problem(tmp_path):
    listed = ["a.wav,dog", "b.wav,cat"]
    extra = ["c.wav", "sub/d.flac", "sub/e.ogg", "f.WAV", "g.mp3", "h.wav", "i.wav"]
    root = own_folder(tmp_path / "own", listed, audio=["a.wav", "b.wav"])
    for name in extra:
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_bytes(b"x")  # never read: unlisted files are only counted
    (root / "readme.txt").write_text("not audio")
    report = check_dataset(root)
    assert report.problems == [] and len(report.dataset.clips) == 2
    unlisted = f"{root}: 7 audio file(s) not listed in labels.csv, so not used: " \
               f"c.wav, f.WAV, g.mp3, h.wav, i.wav, ..."
    assert [note for note in report.notes if "not listed" in note] == [unlisted]
    assert unlisted in format_report(report)


def test_single_label_check_names_rows_with_none_or_several_labels(tmp_path):
    root = own_folder(tmp_path / "own", ["a.wav,dog", "b.wav,", "c.wav,cat", 'd.wav,"cat,dog"'])
    csv = root / "labels.csv"
    report = check_dataset(root)
    assert report.problems == []  # multi-label use: fine, a row without labels noted
    assert f"{csv}: 1 row(s) have no label (a clip of none of the classes; a single-label use " \
           f"refuses them): line 3 'b.wav'" in report.notes
    expected = [f"{csv}:3: b.wav: expected exactly one label (the dataset is used single-label, "
                f"e.g. by the classification task), got none",
                f"{csv}:5: d.wav: expected exactly one label (the dataset is used single-label, "
                f"e.g. by the classification task), got 2 (cat dog)"]
    assert check_dataset(root, single_label=True).problems == expected
    result = CliRunner().invoke(main, ["data", "check", str(root), "--single-label"])
    assert result.exit_code == 1 and expected[0] in result.output and expected[1] in result.output
    assert CliRunner().invoke(main, ["data", "check", str(root)]).exit_code == 0


def test_classification_run_refuses_a_multi_label_row_before_training(tmp_path):
    root = own_folder(tmp_path / "own", ["a.wav,dog", "b.wav,cat", "c.wav,cat dog"])
    config = tmp_path / "b.yaml"
    config.write_text(
        "name: ownb\ntask: classification\n"
        f"dataset: {{layout: csv, path: {root}}}\n"
        f"features: {{type: logmel, cache_dir: {tmp_path / 'cache'}, workers: 1}}\n"
        "training: {batch_size: 8, epochs: 1, patience: 1, verbose: 0}\n"
        "rows:\n  - {id: r, network: resnext50, features: logmel, mixing: none}\n")
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert result.output.strip().endswith(
        f"error: {root / 'labels.csv'}:4: c.wav: expected exactly one label (the dataset is "
        f"used single-label, e.g. by the classification task), got 2 (cat dog)")
    assert not (tmp_path / "cache").exists()


def test_own_audio_as_it_comes_is_read_without_problems(tmp_path):
    """Names with spaces, commas, quotes and non-ASCII characters, sub-folders, FLAC, OGG,
    MP3 and WAV at 22.05 and 44.1 kHz, mono and stereo: no problem, and each clip reads."""
    from kerastag.audio import load_audio

    files = [("rain, heavy.flac", "FLAC", 22050, 1), ('say "hi".ogg', "OGG", 44100, 2),
             ("día/niño 1.mp3", "MP3", 44100, 1), ("sub dir/x.wav", "WAV", 22050, 2)]
    root = tmp_path / "own"
    for name, fmt, rate, channels in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        tone = 0.2 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate).astype(np.float32)
        soundfile.write(root / name, np.stack([tone] * channels, axis=1), rate, format=fmt)
    quoted = ['"' + name.replace('"', '""') + '"' for name, *_ in files]
    (root / "labels.csv").write_text(
        "filename,labels\n" + "".join(f"{q},{label}\n" for q, label in
                                      zip(quoted, ["rain", "speech", "speech", "rain"])),
        encoding="utf-8")
    report = check_dataset(root)
    assert report.problems == []
    assert [note for note in report.notes if "does not fit the folds" not in note] == []  # 6 clips: too few for 5 folds
    assert [c.clip_id for c in report.dataset.clips] == [name for name, *_ in files]
    assert sorted(report.sample_rates) == [22050, 44100] and sorted(report.channels) == [1, 2]
    for clip in report.dataset.clips:
        assert load_audio(clip.path, sample_rate=16000).shape[0] in range(15000, 17000)


def test_a_fold_of_test_makes_a_test_set_clip_and_the_other_folds_stay_drawn(tmp_path):
    names = [f"c{k}.wav,{'dog' if k % 2 else 'cat'}" for k in range(10)]
    plain = read_dataset(own_folder(tmp_path / "plain", names), "csv")
    with_test = own_folder(tmp_path / "test", [f"{row}," for row in names] + ["t.wav,dog,test"],
                           header="filename,labels,fold")
    dataset = read_dataset(with_test, "csv")
    test = [clip for clip in dataset.clips if clip.subset == "test"]
    assert [(c.clip_id, c.fold, c.tags) for c in test] == [("t.wav", None, ("dog",))]
    assert [c.fold for c in dataset.clips if c.subset == "train"] == [c.fold for c in plain.clips]
