"""The own-data demo (``kerastag data demo --layout csv``): a user's folder as it comes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import soundfile as sf
from click.testing import CliRunner

from kerastag.cli import main
from kerastag.datasets import read_dataset
from kerastag.datasets.demo import OWN_CLASSES, make_own_data_demo
from kerastag.errors import DatasetError


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kind", ["tagging", "classification"])
def test_the_own_data_demo_is_read_by_the_csv_reader_as_written(tmp_path, kind):
    root, truth = make_own_data_demo(tmp_path / "mine", clips=20, seed=3, kind=kind)
    dataset = read_dataset(root, "csv")
    assert dataset.layout == "csv"
    assert {clip.clip_id: clip.tags for clip in dataset.clips} == {c.clip_id: c.tags for c in truth}
    assert set(dataset.classes) <= set(OWN_CLASSES[kind])
    names = [clip.clip_id for clip in dataset.clips]
    assert any(" " in name for name in names) and any("é" in name for name in names)
    assert {Path(name).suffix for name in names} == {".wav", ".flac"}
    assert all("/" in name for name in names)  # in sub-folders
    infos = [sf.info(str(clip.path)) for clip in dataset.clips]
    assert {info.samplerate for info in infos} == {22_050, 44_100}
    assert {info.channels for info in infos} == {1}
    assert {c.clip_id: c.subset for c in dataset.clips} == {c.clip_id: c.subset for c in truth}
    if kind == "classification":
        assert all(len(clip.tags) == 1 for clip in dataset.clips)
        test = [clip for clip in dataset.clips if clip.subset == "test"]
        assert len(test) == 3 and all(clip.fold is None for clip in test)
        assert all(clip.fold in range(5) for clip in dataset.clips if clip.subset == "train")
    else:
        assert {round(info.duration) for info in infos} == {2, 4, 10}
        assert any(len(clip.tags) == 0 for clip in dataset.clips)
        assert any(len(clip.tags) == 2 for clip in dataset.clips)


def test_the_same_seed_gives_the_same_bytes_and_a_second_write_is_refused(tmp_path):
    first, _ = make_own_data_demo(tmp_path / "a", clips=12, seed=1)
    second, _ = make_own_data_demo(tmp_path / "b", clips=12, seed=1)
    assert _hashes(first) == _hashes(second)
    with pytest.raises(DatasetError, match="already exists"):
        make_own_data_demo(first, clips=12, seed=1)
    with pytest.raises(DatasetError, match="kind must be one of"):
        make_own_data_demo(tmp_path / "c", kind="regression")


def test_data_demo_writes_the_csv_layout_from_the_command_line(tmp_path):
    result = CliRunner().invoke(main, ["data", "demo", "--layout", "csv", "--kind",
                                       "classification", "--clips", "16", "--out",
                                       str(tmp_path / "mine")])
    assert result.exit_code == 0, result.output
    assert "wrote 16 clips of the csv demo" in result.output
    assert (tmp_path / "mine" / "labels.csv").is_file()
