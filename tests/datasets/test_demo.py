"""The synthetic datasets (kerastag.datasets.demo): exact layouts, determinism, atomic
writing, distinct classes."""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from kerastag.datasets.chime_home import (ANNOTATION_KEYS, CROSSVAL_LIST, DEV_LIST, EVAL_LIST,
                                          RAW_CROSSVAL_LIST, RAW_DEV_LIST)
from kerastag.datasets.chime_home import read_chime_home
from kerastag.datasets.demo import (
    FSD_CLASSES, FSD_LICENSES, DemoClip, make_chime_home_demo, make_fsdkaggle2018_demo,
)
from kerastag.datasets.demo import chime_home as chime_demo
from kerastag.datasets.demo.chime_sounds import chime_chunk_audio
from kerastag.datasets.demo.dsp import resample_48k_to_16k
from kerastag.datasets.fsdkaggle2018 import read_fsdkaggle2018
from kerastag.errors import DatasetError
from kerastag.reference_results import CHIME_HOME_TAGS

CHIME_CLIPS = 10  # + 8 evaluation chunks, + 5 in the raw development list only
FSD_CLIPS = 12  # + 10 test clips


def _hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, keyed by its relative path."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


@pytest.fixture(scope="module")
def chime(tmp_path_factory):
    out = tmp_path_factory.mktemp("chime_seed0")
    return make_chime_home_demo(out, clips=CHIME_CLIPS, seed=0)


@pytest.fixture(scope="module")
def zenodo(tmp_path_factory):
    out = tmp_path_factory.mktemp("fsd_seed0") / "fsd"
    return make_fsdkaggle2018_demo(out, clips=FSD_CLIPS, seed=0)


@pytest.fixture(scope="module")
def kaggle(tmp_path_factory):
    out = tmp_path_factory.mktemp("kaggle_seed0") / "fsd"
    return make_fsdkaggle2018_demo(out, clips=FSD_CLIPS, seed=0, variant="kaggle")


# --------------------------------------------------------------------------- determinism


def test_chime_same_seed_gives_identical_bytes_and_truth(chime, tmp_path):
    root, truth = chime
    again_root, again_truth = make_chime_home_demo(tmp_path, clips=CHIME_CLIPS, seed=0)
    assert _hashes(again_root) == _hashes(root)
    assert again_truth == truth
    assert [c.extra for c in again_truth] == [c.extra for c in truth]


def test_chime_other_seed_differs(chime, tmp_path):
    root, truth = chime
    other_root, other_truth = make_chime_home_demo(tmp_path, clips=CHIME_CLIPS, seed=1)
    assert [c.clip_id for c in other_truth] != [c.clip_id for c in truth]
    assert _hashes(other_root) != _hashes(root)


def test_fsd_same_seed_gives_identical_bytes_other_seed_differs(zenodo, tmp_path):
    root, truth = zenodo
    again_root, again_truth = make_fsdkaggle2018_demo(tmp_path / "a", clips=FSD_CLIPS, seed=0)
    other_root, _ = make_fsdkaggle2018_demo(tmp_path / "b", clips=FSD_CLIPS, seed=1)
    assert _hashes(again_root) == _hashes(root)
    assert again_truth == truth
    other = _hashes(other_root)
    assert other != _hashes(root)
    assert set(other.values()).isdisjoint(_hashes(root).values())


# --------------------------------------------------------------------------- CHiME-Home layout


def test_chime_root_subsets_and_folds(chime):
    root, truth = chime
    assert root.name == "chime_home"
    dev = [c for c in truth if c.subset == "development" and not c.extra["raw_only"]]
    evaluation = [c for c in truth if c.subset == "evaluation"]
    raw_only = [c for c in truth if c.extra["raw_only"]]
    assert len(dev) == CHIME_CLIPS and len(evaluation) == 8 and len(raw_only) == 5
    assert len(truth) == 23 and truth[-5:] == raw_only
    assert all(c.fold in range(5) for c in dev + raw_only)
    assert sorted(c.fold for c in raw_only) == [0, 1, 2, 3, 4]
    assert all(c.fold is None for c in evaluation)
    assert len({c.clip_id for c in truth}) == len(truth)
    assert all(re.fullmatch(r"CR_lounge_\d{6}_\d{4}\.s\d_chunk\d+", c.clip_id) for c in truth)
    assert all(list(c.tags) == sorted(c.tags) and set(c.tags) <= set("cmfvpbo") for c in truth)


def test_chime_audio_files_have_the_real_formats(chime):
    root, truth = chime
    for clip in truth:
        high = sf.info(str(root / "chunks" / f"{clip.clip_id}.48kHz.wav"))
        low = sf.info(str(root / "chunks" / f"{clip.clip_id}.16kHz.wav"))
        assert (high.samplerate, high.channels, high.frames) == (48000, 2, 192000)
        assert (low.samplerate, low.channels, low.frames) == (16000, 1, 64000)
        assert high.subtype == low.subtype == "PCM_16"
    assert sorted(p.name for p in root.iterdir()) == [
        "chunks", "development_chunks_raw.csv", "development_chunks_raw_crossval_dcase2016.csv",
        "development_chunks_refined.csv", "development_chunks_refined_crossval_dcase2016.csv",
        "evaluation_chunks_refined.csv"]
    assert len(list((root / "chunks").iterdir())) == 3 * len(truth)


def test_chime_16k_file_is_the_right_channel_resampled(chime):
    root, truth = chime
    for clip in truth[:4]:
        stereo, _ = sf.read(str(root / "chunks" / f"{clip.clip_id}.48kHz.wav"))
        low, _ = sf.read(str(root / "chunks" / f"{clip.clip_id}.16kHz.wav"))
        right = signal.resample_poly(stereo[:, 1], 1, 3)
        left = signal.resample_poly(stereo[:, 0], 1, 3)
        right_corr = np.corrcoef(low, right)[0, 1]
        assert right_corr > 0.99
        assert right_corr > np.corrcoef(low, left)[0, 1]


def test_chime_annotation_csv_has_the_eleven_keys_in_order(chime):
    root, truth = chime
    for clip in truth:
        rows = _read_rows(root / "chunks" / f"{clip.clip_id}.csv")
        assert [row[0] for row in rows] == list(ANNOTATION_KEYS)
        assert all(len(row) == 2 for row in rows)
        values = dict(rows)
        assert values["chunkname"] == clip.clip_id
        assert clip.clip_id == f"{values['segmentname']}_chunk{values['chunknumber']}"
        assert int(values["framestart"]) == int(values["chunknumber"]) * 4 * 48000
        assert set(values["majorityvote"]) - set("SU") == set(clip.tags)
        assert values["majorityvote"] == clip.extra["majorityvote"]
        if not clip.tags:
            assert values["majorityvote"] == "S"
        votes = [values[f"annotation_a{k}"] for k in (1, 2, 3)]
        for label in "cmfvpbo":  # the majority vote really is the 2-of-3 majority
            assert (sum(label in v for v in votes) >= 2) == (label in clip.tags)
        assert [values[f"session_a{k}"] for k in (1, 2, 3)] == ["1", "1", "1"]


def test_chime_lists_and_balanced_crossval_folds(chime):
    root, truth = chime
    dev = [c for c in truth if c.subset == "development" and not c.extra["raw_only"]]
    raw = [c for c in truth if c.subset == "development"]  # the refined chunks, then the rest
    evaluation = [c for c in truth if c.subset == "evaluation"]
    dev_rows = _read_rows(root / DEV_LIST)
    crossval_rows = _read_rows(root / CROSSVAL_LIST)
    eval_rows = _read_rows(root / EVAL_LIST)
    assert dev_rows == [[str(i), c.clip_id] for i, c in enumerate(dev)]
    assert crossval_rows == [[str(i), c.clip_id, str(c.fold)] for i, c in enumerate(dev)]
    assert eval_rows == [[str(i), c.clip_id] for i, c in enumerate(evaluation)]
    assert _read_rows(root / RAW_DEV_LIST) == [[str(i), c.clip_id] for i, c in enumerate(raw)]
    assert _read_rows(root / RAW_CROSSVAL_LIST) == [[str(i), c.clip_id, str(c.fold)]
                                                    for i, c in enumerate(raw)]
    sizes = np.bincount([c.fold for c in dev], minlength=5)
    assert sizes.min() >= 1 and sizes.max() - sizes.min() <= CHIME_CLIPS // 5
    segment_folds: dict[str, set[int]] = {}
    for clip in dev:
        segment_folds.setdefault(clip.extra["segment"], set()).add(clip.fold)
    assert all(len(folds) == 1 for folds in segment_folds.values())
    assert not {c.extra["segment"] for c in dev} & {c.extra["segment"] for c in evaluation}


def test_chime_reader_reads_the_demo_unchanged(chime):
    root, truth = chime
    for development_list, chunks in (("refined", [c for c in truth if not c.extra["raw_only"]]),
                                     ("raw", truth)):
        dataset = read_chime_home(root.parent, development_list=development_list)
        got = {c.clip_id: (set(c.tags), c.fold, c.subset, c.extra["silence"])
               for c in dataset.clips}
        assert got == {c.clip_id: (set(c.tags), c.fold, c.subset, "S" in c.extra["majorityvote"])
                       for c in chunks}
    assert any("S" in c.extra["majorityvote"] for c in truth if c.tags)  # S beside tags too


def test_chime_tag_statistics_resemble_the_real_data():
    chunks = chime_demo._plan_chime_subset(np.random.default_rng(3), 400, "development", set())
    counts = {label: sum(label in c.tags for c in chunks) for label in "cmfvpbo"}
    assert all(count > 40 for count in counts.values()), counts
    assert 0.07 < sum(not c.tags for c in chunks) / len(chunks) < 0.18
    assert max(len(c.tags) for c in chunks) == 3
    votes = [c.majorityvote for c in chunks]
    assert any("S" in v and v != "S" for v in votes) and any("U" in v for v in votes)
    fold_sizes = np.bincount([c.fold for c in chunks], minlength=5)
    assert fold_sizes.max() - fold_sizes.min() <= 8, fold_sizes


# --------------------------------------------------------------------------- FSDKaggle2018 layout


def test_fsd_zenodo_layout_and_headers(zenodo):
    root, truth = zenodo
    assert sorted(p.name for p in root.iterdir()) == [
        "FSDKaggle2018.audio_test", "FSDKaggle2018.audio_train", "FSDKaggle2018.meta"]
    train_rows = _read_rows(root / "FSDKaggle2018.meta" / "train_post_competition.csv")
    test_rows = _read_rows(root / "FSDKaggle2018.meta" / "test_post_competition_scoring_clips.csv")
    assert train_rows[0] == ["fname", "label", "manually_verified", "freesound_id", "license"]
    assert test_rows[0] == ["fname", "label", "usage", "freesound_id", "license"]
    train = [c for c in truth if c.subset == "train"]
    test = [c for c in truth if c.subset == "test"]
    assert len(train) == FSD_CLIPS and len(test) == 10
    assert [r[:3] for r in train_rows[1:]] == [
        [c.clip_id, c.tags[0], str(int(c.extra["manually_verified"]))] for c in train]
    assert [r[:3] for r in test_rows[1:]] == [
        [c.clip_id, c.tags[0], c.extra["usage"]] for c in test]
    assert {r[2] for r in test_rows[1:]} == {"Public", "Private"}
    assert all(r[4] in FSD_LICENSES and r[3].isdigit() for r in train_rows[1:] + test_rows[1:])
    assert b"\r\n" not in (root / "FSDKaggle2018.meta" / "train_post_competition.csv").read_bytes()


def test_fsd_audio_formats_lengths_short_quiet_and_silent_clips(zenodo):
    root, truth = zenodo
    folders = {"train": "FSDKaggle2018.audio_train", "test": "FSDKaggle2018.audio_test"}
    names = [c.clip_id for c in truth]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[0-9a-f]{8}\.wav", name) for name in names)
    peaks = {}
    for clip in truth:
        path = root / folders[clip.subset] / clip.clip_id
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.subtype) == (44100, 1, "PCM_16")
        assert 0.3 <= info.duration <= 8.0
        assert info.frames == round(clip.extra["duration_s"] * 44100)
        peaks[clip.clip_id] = np.max(np.abs(sf.read(str(path))[0]))
    train = [c for c in truth if c.subset == "train"]
    silent = [c for c in train if peaks[c.clip_id] == 0]
    assert [c.extra["condition"] for c in silent] == ["silent"]
    quiet = [c for c in train if 0 < peaks[c.clip_id] < 1e-3]
    assert len(quiet) == 2 and all(c.extra["condition"] == "quiet" for c in quiet)
    assert any(c.extra["duration_s"] < 1.5 for c in train)
    assert any(c.extra["duration_s"] < 1.5 for c in truth if c.subset == "test")
    loud = [peaks[c.clip_id] for c in truth if c.extra["condition"] == "normal"]
    assert min(loud) > 0.01


def test_fsd_classes_are_balanced_real_labels(zenodo):
    _, truth = zenodo
    for subset in ("train", "test"):
        labels = [c.tags[0] for c in truth if c.subset == subset]
        counts = [labels.count(name) for name in FSD_CLASSES]
        assert max(counts) - min(counts) <= 1
    assert all(len(c.tags) == 1 and c.tags[0] in FSD_CLASSES and c.fold is None for c in truth)


def test_fsd_kaggle_layout(kaggle):
    root, truth = kaggle
    assert sorted(p.name for p in root.iterdir()) == [
        "audio_test", "audio_train", "sample_submission.csv", "train.csv"]
    train = [c for c in truth if c.subset == "train"]
    test = [c for c in truth if c.subset == "test"]
    train_rows = _read_rows(root / "train.csv")
    submission = _read_rows(root / "sample_submission.csv")
    assert train_rows[0] == ["fname", "label", "manually_verified"]
    assert train_rows[1:] == [[c.clip_id, c.tags[0], str(int(c.extra["manually_verified"]))]
                              for c in train]
    assert submission[0] == ["fname", "label"]
    assert [r[0] for r in submission[1:]] == [c.clip_id for c in test]
    assert all(r[1] == " ".join(FSD_CLASSES[:3]) for r in submission[1:])
    assert sorted(p.name for p in (root / "audio_test").iterdir()) == [c.clip_id for c in test]
    assert all("usage" not in c.extra and c.tags for c in test)


@pytest.mark.parametrize("variant", ["zenodo", "kaggle"])
def test_fsd_reader_reads_the_demo_unchanged(variant, zenodo, kaggle):
    root, truth = zenodo if variant == "zenodo" else kaggle
    dataset = read_fsdkaggle2018(root)
    assert dataset.classes == tuple(sorted(FSD_CLASSES))
    got = {c.clip_id: (c.subset, c.extra.get("manually_verified"), c.extra.get("usage"))
           for c in dataset.clips}
    assert got == {c.clip_id: (c.subset, c.extra.get("manually_verified"), c.extra.get("usage"))
                   for c in truth}
    train_tags = {c.clip_id: c.tags for c in dataset.clips if c.subset == "train"}
    assert train_tags == {c.clip_id: c.tags for c in truth if c.subset == "train"}


# --------------------------------------------------------------------------- atomic writing


def test_existing_complete_target_is_refused(chime, zenodo):
    root, _ = chime
    before = _hashes(root)
    with pytest.raises(DatasetError, match="already exists"):
        make_chime_home_demo(root.parent, clips=CHIME_CLIPS, seed=5)
    with pytest.raises(DatasetError, match="already exists"):
        make_fsdkaggle2018_demo(zenodo[0], clips=FSD_CLIPS, seed=5)
    assert _hashes(root) == before
    assert not [p for p in root.parent.iterdir() if ".partial-" in p.name]


def test_partly_existing_target_is_refused(tmp_path):
    (tmp_path / "chime_home" / "chunks").mkdir(parents=True)
    with pytest.raises(DatasetError, match="partly exists"):
        make_chime_home_demo(tmp_path, clips=5)
    (tmp_path / "train.csv").write_text("fname,label,manually_verified\n")
    with pytest.raises(DatasetError, match="partly exists.*train.csv"):
        make_fsdkaggle2018_demo(tmp_path, clips=8, variant="kaggle")


def test_interrupted_generation_leaves_nothing_behind(tmp_path, monkeypatch):
    written = []
    write_chunk = chime_demo._write_chime_chunk

    def write_two_then_fail(folder, chunk):
        if len(written) == 2:
            raise KeyboardInterrupt
        write_chunk(folder, chunk)
        written.append(chunk)

    monkeypatch.setattr(chime_demo, "_write_chime_chunk", write_two_then_fail)
    with pytest.raises(KeyboardInterrupt):
        make_chime_home_demo(tmp_path, clips=5)
    assert list(tmp_path.iterdir()) == []


def test_fsd_goes_beside_unrelated_files_and_shows_progress(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    root, truth = make_fsdkaggle2018_demo(tmp_path, clips=8, seed=2, progress=True)
    assert root == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "FSDKaggle2018.audio_test", "FSDKaggle2018.audio_train", "FSDKaggle2018.meta", "notes.txt"]
    assert len(truth) == 8 + 10
    assert "fsdkaggle2018 demo" in capsys.readouterr().err


@pytest.mark.parametrize("call, message", [
    (lambda out: make_chime_home_demo(out, clips=4), "clips: expected an integer >= 5, got 4"),
    (lambda out: make_fsdkaggle2018_demo(out, clips=7), "clips: expected an integer >= 8, got 7"),
    (lambda out: make_fsdkaggle2018_demo(out, clips=8, variant="dcase"), "got 'dcase'"),
])
def test_bad_arguments_are_dataset_errors(tmp_path, call, message):
    with pytest.raises(DatasetError, match=re.escape(message)):
        call(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_demo_clip_compares_without_extra():
    with_extra = DemoClip("a", ("c",), 0, "development", {"x": 1})
    assert with_extra == DemoClip("a", ("c",), 0, "development")


# --------------------------------------------------------------------------- learnability


def _band_log_energies(y: np.ndarray, sr: int) -> np.ndarray:
    """Log energies ``[shape=(frames, 24)]`` in log-spaced bands 60 Hz - 7.5 kHz, 64 ms frames."""
    n_fft, hop = 1024, 512
    starts = np.arange(1 + (y.size - n_fft) // hop) * hop
    power = np.abs(np.fft.rfft(y[starts[:, None] + np.arange(n_fft)] * np.hanning(n_fft))) ** 2
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    edges = np.geomspace(60, 7500, 25)
    bands = np.stack([power[:, (freqs >= lo) & (freqs < hi)].sum(1)
                      for lo, hi in zip(edges[:-1], edges[1:])], axis=1)
    return np.log(bands + 1e-10)


def _single_tag_chunk(tag: str, seed: int) -> np.ndarray:
    """The 16 kHz right channel ``[shape=(64000,)]`` of a chunk with only ``tag``."""
    stereo = chime_chunk_audio((tag,), np.random.default_rng(seed))
    return resample_48k_to_16k(stereo[1])


def _active_centroid(y: np.ndarray, sr: int) -> float:
    """Spectral centroid (Hz, 100 Hz - 5 kHz) of the loudest quarter of the frames."""
    n_fft, hop = 1024, 512
    starts = np.arange(1 + (y.size - n_fft) // hop) * hop
    power = np.abs(np.fft.rfft(y[starts[:, None] + np.arange(n_fft)] * np.hanning(n_fft))) ** 2
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    band = (freqs >= 100) & (freqs <= 5000)
    power = power[:, band]
    energy = power.sum(1)
    spectrum = power[energy >= np.quantile(energy, 0.75)].sum(0)
    return float((spectrum * freqs[band]).sum() / spectrum.sum())


def test_voices_are_ordered_by_spectral_centroid_male_female_child():
    centroid = {tag: np.mean([_active_centroid(_single_tag_chunk(tag, seed), 16000)
                              for seed in range(8)]) for tag in "mfc"}
    assert centroid["m"] + 50 < centroid["f"] < centroid["c"] - 50, centroid


def test_chime_classes_are_distinct_to_a_simple_classifier():
    """Nearest class mean on band-energy statistics (leave one out) beats chance by far."""
    per_class = 5
    features, labels = [], []
    for k, tag in enumerate(CHIME_HOME_TAGS):
        for seed in range(per_class):
            bands = _band_log_energies(_single_tag_chunk(tag, 1000 * k + seed), 16000)
            features.append(np.concatenate([bands.mean(0), bands.std(0)]))
            labels.append(k)
    features, labels = np.array(features), np.array(labels)
    correct = 0
    for i in range(len(labels)):
        keep = np.arange(len(labels)) != i
        means = np.stack([features[keep & (labels == k)].mean(0) for k in range(7)])
        correct += int(np.argmin(((means - features[i]) ** 2).sum(1)) == labels[i])
    accuracy = correct / len(labels)
    assert 0.5 < accuracy, accuracy  # chance is 1/7
