"""The command line (kerastag.cli): ``kerastag data ...`` and ``features`` summaries,
exit codes and one-line errors. The readers themselves are tested in tests/datasets/."""

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import kerastag
from kerastag.cli import main

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


@pytest.mark.slow
def test_console_script_help_and_version():
    exe = VENV_BIN / "kerastag"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "kerastag.cli"]
    out = subprocess.run(command + ["--help"], capture_output=True, text=True, check=True).stdout
    for name in ("data", "features", "run", "evaluate", "predict"):
        assert name in out
    version = subprocess.run(command + ["--version"], capture_output=True, text=True, check=True).stdout
    assert version.strip() == f"kerastag, version {kerastag.__version__}"


@pytest.mark.parametrize("fixture, layout", [
    ("chime_demo", []), ("fsd_demo", []), ("fsd_demo", ["--layout", "fsdkaggle2018"])])
def test_demo_layouts_pass_check(request, fixture, layout):
    root, truth = request.getfixturevalue(fixture)
    result = invoke("data", "check", root, *layout)
    assert result.exit_code == 0, result.output
    assert "problems: none" in result.output
    assert "clips:  " in result.output


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


def test_bad_engine_flags_are_one_line_errors_before_any_work(tmp_path):
    config = tmp_path / "exp.yaml"
    config.write_text("rows: [{mixing: none}]\n")
    result = invoke("run", config, "--out", tmp_path / "out", "--gpus-per-unit", "1.5")
    assert result.exit_code == 2, result.output
    assert result.output.strip() == ("error: execution.ray.gpus_per_unit: above 1 it must be a "
                                     "whole number of GPUs, got 1.5")
    assert not (tmp_path / "out").exists()
    result = invoke("run", config, "--engine", "spark")
    assert result.exit_code == 2 and "'spark' is not one of 'local', 'ray'" in result.output
