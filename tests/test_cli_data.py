"""``kerastag data ...`` and ``features``: summaries, readers, and one-line errors."""

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kerastag.cli import main
from kerastag.datasets import read_dataset
from kerastag.datasets.chime_home import read_chime_home
from kerastag.datasets.fsdkaggle2018 import read_fsdkaggle2018

VENV_BIN = Path(sys.executable).parent


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def test_console_script_help_and_version():
    exe = VENV_BIN / "kerastag"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "kerastag.cli"]
    out = subprocess.run(command + ["--help"], capture_output=True, text=True, check=True).stdout
    for name in ("data", "features", "run", "evaluate", "predict"):
        assert name in out
    version = subprocess.run(command + ["--version"], capture_output=True, text=True, check=True).stdout
    assert "kerastag, version 0.1.0" in version


@pytest.mark.parametrize("fixture", ["chime_demo", "fsd_demo"])
def test_demo_layouts_pass_check(request, fixture):
    root, truth = request.getfixturevalue(fixture)
    result = invoke("data", "check", root)
    assert result.exit_code == 0, result.output
    assert "problems: none" in result.output
    assert "clips:  " in result.output


def test_chime_reader_returns_exactly_what_the_demo_wrote(chime_demo):
    root, truth = chime_demo
    dataset = read_chime_home(root.parent)  # the parent folder works too
    got = {(c.clip_id, frozenset(c.tags), c.fold, c.subset) for c in dataset.clips}
    assert got == {(t.clip_id, frozenset(t.tags), t.fold, t.subset) for t in truth}
    assert dataset.classes == ("c", "m", "f", "v", "p", "b", "o")
    clip = dataset.clips[0]
    assert clip.path.name.endswith(".16kHz.wav") and clip.extra["path_48k"].name.endswith(".48kHz.wav")


def test_fsd_reader_returns_exactly_what_the_demo_wrote(fsd_demo):
    root, truth = fsd_demo
    dataset = read_dataset(root)  # layout detected
    assert dataset.layout == "fsdkaggle2018"
    got = {(c.clip_id, c.tags, c.subset) for c in dataset.clips}
    assert got == {(t.clip_id, t.tags, t.subset) for t in truth}
    train = dataset.subset("train")
    assert {c.fold for c in train} == {0, 1, 2, 3, 4}
    assert dataset.classes == tuple(sorted({c.tags[0] for c in train}))
    verified = {t.clip_id: t.extra["manually_verified"] for t in truth if t.subset == "train"}
    assert all(c.extra["manually_verified"] == verified[c.clip_id] for c in train)
    assert {c.extra["usage"] for c in dataset.subset("test")} <= {"Public", "Private"}


def test_fsd_kaggle_layout(tmp_path):
    from kerastag.datasets.demo import make_fsdkaggle2018_demo

    root, truth = make_fsdkaggle2018_demo(tmp_path, clips=10, seed=2, variant="kaggle")
    dataset = read_fsdkaggle2018(root)
    assert len(dataset.subset("train")) == 10
    assert {c.clip_id for c in dataset.subset("test")} == {t.clip_id for t in truth if t.subset == "test"}
    assert invoke("data", "check", root, "--layout", "fsdkaggle2018").exit_code == 0


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
    assert invoke("data", "check", own).exit_code == 0


def first_dev_chunk(root):
    return (root / "development_chunks_refined_crossval_dcase2016.csv").read_text().splitlines()[0].split(",")[1]


@pytest.mark.parametrize("breakage, expected", [
    ("missing_wav", "audio file not found"),
    ("corrupt_wav", "cannot read audio"),
    ("empty_wav", "audio file is empty"),
    ("header", "looks like a header row"),
    ("fold7", "fold '7' outside 0..4"),
    ("unknown_tag", "unknown tag letter 'x'"),
])
def test_check_lists_each_problem_with_its_file(chime_copy, breakage, expected):
    root = chime_copy
    chunk = first_dev_chunk(root)
    wav = root / "chunks" / f"{chunk}.16kHz.wav"
    crossval = root / "development_chunks_refined_crossval_dcase2016.csv"
    if breakage == "missing_wav":
        wav.unlink()
    elif breakage == "corrupt_wav":
        wav.write_bytes(b"RIFF\x00\x00garbage" * 10)
    elif breakage == "empty_wav":
        wav.write_bytes(b"")
    elif breakage == "header":
        crossval.write_text("id,chunkname,fold\n" + crossval.read_text())
    elif breakage == "fold7":
        lines = crossval.read_text().splitlines()
        lines[0] = lines[0].rsplit(",", 1)[0] + ",7"
        crossval.write_text("\n".join(lines) + "\n")
    elif breakage == "unknown_tag":
        annotation = root / "chunks" / f"{chunk}.csv"
        text = "\n".join("majorityvote,cx" if line.startswith("majorityvote,") else line
                         for line in annotation.read_text().splitlines())
        annotation.write_text(text + "\n")
    result = invoke("data", "check", root)
    assert result.exit_code == 1, result.output
    problem_lines = [line for line in result.output.splitlines() if line.startswith("  - ")]
    assert any(expected in line for line in problem_lines), result.output
    assert "Traceback" not in result.output


def test_missing_folder_is_a_one_line_error(tmp_path):
    assert_one_line_error(invoke("data", "check", tmp_path / "nowhere"), "nowhere", "not found")


def test_unknown_layout_folder(tmp_path):
    assert_one_line_error(invoke("data", "check", tmp_path), "cannot tell the layout")


def test_demo_command_writes_a_checkable_dataset(tmp_path):
    result = invoke("data", "demo", "--layout", "fsdkaggle2018", "--out", tmp_path / "d", "--clips", "10")
    assert result.exit_code == 0, result.output
    assert invoke("data", "check", tmp_path / "d").exit_code == 0
    again = invoke("data", "demo", "--layout", "fsdkaggle2018", "--out", tmp_path / "d", "--clips", "10")
    assert_one_line_error(again, "exists")


def test_download_wrong_checksum_is_a_one_line_error(tmp_path):
    archive = tmp_path / "chime_home.tar.gz"
    import tarfile

    (tmp_path / "src" / "chime_home").mkdir(parents=True)
    (tmp_path / "src" / "chime_home" / "x.txt").write_text("x")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "chime_home", arcname="chime_home")
    result = invoke("data", "download", "chime-home", "--to", tmp_path / "out", "--url", archive.as_uri())
    assert_one_line_error(result, "md5")
    assert not (tmp_path / "out" / "chime_home").exists()


def test_features_command_uses_the_cache(chime_demo, tmp_path):
    root, _ = chime_demo
    config = tmp_path / "exp.yaml"
    config.write_text(f"dataset: {{path: {root}}}\nfeatures: {{cache_dir: {tmp_path / 'cache'}, workers: 1}}\n")
    first = invoke("features", config)
    assert first.exit_code == 0, first.output
    assert "28 clips: 28 computed, 0 from the cache" in first.output
    second = invoke("features", config)
    assert "28 clips: 0 computed, 28 from the cache" in second.output


def test_features_unknown_config_key(tmp_path):
    config = tmp_path / "exp.yaml"
    config.write_text("featurs: {n_mels: 64}\n")
    assert_one_line_error(invoke("features", config), "featurs: unknown key; did you mean 'features'?")


def test_missing_dataset_says_where_it_looked_and_how_to_get_it(tmp_path):
    config = tmp_path / "exp.yaml"
    config.write_text("dataset: {path: nowhere/chime_home}\n")
    assert_one_line_error(invoke("features", config), str(tmp_path / "nowhere" / "chime_home"),
                          "kerastag data download chime-home")
