"""Paper A on clips of any length: windows of 4 s in training, out-of-fold scoring and
``predict`` (one definition, :mod:`kerastag.features.windows`), on an own ``csv`` folder
of 2, 4 and 10 s clips at 22.05 and 44.1 kHz, WAV and FLAC, names with spaces."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

from kerastag.cli import main
from kerastag.errors import DatasetError
from kerastag.features import LogMelA, MfccFrames, Windowed, cache_folder, cut_windows
from kerastag.loading import ClipWindows, stack_windows

#: Seven word-named classes, each a tone at its own frequency (Hz).
TONES = {"bell": 440.0, "buzz": 150.0, "chime": 1200.0, "hum": 90.0, "ping": 2500.0,
         "whistle": 3400.0, "zap": 700.0}
#: (seconds, sample rate, format) of the clips, cycled.
KINDS = [(2.0, 22050, "WAV"), (4.0, 44100, "FLAC"), (10.0, 22050, "FLAC"), (4.0, 22050, "WAV"),
         (10.0, 44100, "WAV"), (2.0, 44100, "FLAC")]


def write_own_folder(root: Path, n_clips: int = 14) -> pd.DataFrame:
    """``root/labels.csv`` (filename,labels,fold) and its clips; returns the rows with
    each clip's length in seconds."""
    rng = np.random.default_rng(0)
    names = sorted(TONES)
    rows = []
    for index in range(n_clips):
        seconds, rate, fmt = KINDS[index % len(KINDS)]
        tags = sorted({names[index % len(names)], names[(3 * index + 1) % len(names)]})
        t = np.arange(int(seconds * rate)) / rate
        wave = 0.01 * rng.standard_normal(len(t))
        onset = rng.uniform(0, max(0.1, seconds - 1.5))  # each sound lasts 1 s
        for tag in tags:
            wave += 0.3 * np.sin(2 * np.pi * TONES[tag] * t) * ((t >= onset) & (t < onset + 1))
        name = f"clip {index:02d} {tags[0]}.{fmt.lower()}"
        sf.write(root / name, wave.astype(np.float32), rate, format=fmt)
        rows.append({"filename": name, "labels": " ".join(tags), "fold": index % 2,
                     "seconds": seconds})
    frame = pd.DataFrame(rows)
    frame[["filename", "labels", "fold"]].to_csv(root / "labels.csv", index=False)
    return frame


# --- one definition of a clip's windows -------------------------------------------------------


@pytest.mark.parametrize("seconds, windows", [(1.0, 1), (2.0, 1), (4.0, 1), (4.001, 2),
                                              (10.0, 3), (30.0, 8)])
def test_clips_are_cut_into_zero_padded_4s_windows(seconds, windows):
    rate = 16000
    wave = np.random.default_rng(1).standard_normal(int(seconds * rate)).astype(np.float32)
    pieces = cut_windows(wave, 4 * rate)
    assert len(pieces) == windows
    assert all(piece.shape == (4 * rate,) for piece in pieces)
    np.testing.assert_array_equal(np.concatenate(pieces)[:len(wave)], wave)
    assert not np.concatenate(pieces)[len(wave):].any()


def test_a_4s_clip_is_one_window_equal_to_the_whole_file_feature():
    wave = np.random.default_rng(2).standard_normal(64000).astype(np.float32) * 0.1
    spec = LogMelA(n_mels=64)
    windows = Windowed(spec, 4.0).compute(wave)
    assert windows.shape == (1, 124, 64)
    np.testing.assert_array_equal(windows[0], spec.compute(wave))


def test_stereo_and_mfcc_inputs_are_windowed_on_the_last_axis():
    stereo = np.random.default_rng(3).standard_normal((2, 16000 * 10)).astype(np.float32)
    assert len(cut_windows(stereo, 64000)) == 3
    assert all(piece.shape == (2, 64000) for piece in cut_windows(stereo, 64000))
    mfcc = Windowed(MfccFrames(), 4.0).compute(stereo[0])
    assert mfcc.shape[0] == 3 and mfcc.shape[1:] == MfccFrames().compute(stereo[0][:64000]).shape


def test_the_window_length_is_part_of_the_cache_key(tmp_path):
    spec = LogMelA()
    folders = {cache_folder(Windowed(spec, s), tmp_path) for s in (1.0, 4.0)}
    assert len(folders | {cache_folder(spec, tmp_path)}) == 3


def test_clip_scores_are_the_maximum_over_each_clips_windows():
    windows = ClipWindows(x=np.zeros((6, 2, 2), np.float32), clip=np.array([0, 1, 1, 1, 2, 3]))
    chosen = windows.of(np.array([1, 3]))
    np.testing.assert_array_equal(chosen, [1, 2, 3, 5])
    scores = np.array([[0.1, 0.9], [0.5, 0.2], [0.3, 0.4], [0.7, 0.8]], np.float32)
    np.testing.assert_array_equal(windows.clip_maximum(scores, chosen),
                                  np.array([[0.5, 0.9], [0.7, 0.8]], np.float32))
    assert windows.clip_maximum(np.zeros((0, 2), np.float32), chosen[:0]).shape == (0, 2)


def test_windows_of_another_shape_are_one_line_naming_the_file():
    arrays = [np.zeros((2, 5, 3)), np.zeros((1, 5, 4))]
    with pytest.raises(DatasetError, match=r"b\.wav: \(5, 4\)"):
        stack_windows(arrays, [Path("a.wav"), Path("b.wav")], where="own")


def test_load_cuts_every_clip_into_windows_that_keep_their_clip(tmp_path):
    from kerastag.config import load_config
    from kerastag.tasks.tagging.task import TaggingTask

    rows = write_own_folder(tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text(f"name: c\ndataset: {{layout: csv, path: {tmp_path}}}\n"
                      f"features: {{n_mels: 64, cache_dir: {tmp_path / 'cache'}, workers: 1}}\n"
                      f"rows:\n  - {{mixing: none}}\n")
    task = TaggingTask(load_config(config))
    data = task.load()
    windows = task.windows_of(data, task.config.rows[0])
    expected = [math.ceil(s / 4) for s in rows.set_index("filename").loc[data.clip_ids, "seconds"]]
    np.testing.assert_array_equal(np.bincount(windows.clip), expected)
    assert windows.x.shape == (sum(expected), 124, 64)
    split, test = task._split(data, task.units(data)[0], seed=0)
    assert len(split.x_train) + len(split.x_val) + len(windows.of(test)) == sum(expected)
    train_clips = set(windows.clip[split.train_index])
    assert not train_clips & set(windows.clip[split.val_index])  # no clip straddles
    assert not train_clips & set(test)
    np.testing.assert_array_equal(split.y_train, data.y[windows.clip[split.train_index]])


def test_data_check_reports_the_mixed_lengths(tmp_path):
    write_own_folder(tmp_path, n_clips=6)
    result = CliRunner().invoke(main, ["data", "check", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "lengths (s): 2.0 x2, 4.0 x2, 10.0 x2" in result.output
    assert "4 s windows: 10 in 6 audio files" in result.output


# --- end to end: run, then predict scores each file as the run did --------------------------


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    """A tiny CRNN run (1 epoch, 2 folds) on the own folder; (folder, rows, run folder)."""
    base = tmp_path_factory.mktemp("lengths")
    root = base / "my sounds"
    root.mkdir()
    rows = write_own_folder(root)
    config = base / "own.yaml"
    config.write_text(
        f"name: own\nseed: 0\ndataset: {{layout: csv, path: '{root}'}}\n"
        f"features: {{n_mels: 64, cache_dir: '{base / 'cache'}', workers: 1}}\n"
        "model: {filters: [4, 4, 4, 4, 4, 4, 4], rnn_units: 4}\n"
        "training: {batch_size: 8, epochs: 1, patience: 1, verbose: 0}\n"
        "rows:\n  - {mixing: mixup, alpha: 1.5}\n")
    out = base / "out"
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return root, rows, out


def oof_scores(out: Path, fold: int, row: str = "mixup_a1.5") -> pd.DataFrame:
    """A row's saved out-of-fold scores of one fold, indexed by file name."""
    saved = np.load(out / "predictions" / row / f"fold{fold}.npz")
    return pd.DataFrame(saved["scores"], index=[str(c) for c in saved["clip_ids"]])


@pytest.mark.slow
def test_out_of_fold_scores_equal_predict_of_the_saved_model(own_run):
    from kerastag.tasks.tagging.predict import load_tagger, predict_clip

    root, rows, out = own_run
    for fold in (0, 1):
        oof = oof_scores(out, fold)
        assert sorted(oof.index) == sorted(rows.loc[rows["fold"] == fold, "filename"])
        _, frame_model, info, spec = load_tagger(out / "models" / "mixup_a1.5" / f"fold{fold}.keras")
        for name in oof.index:
            clip = predict_clip(frame_model, spec, root / name, info.chunk_seconds)
            np.testing.assert_allclose(clip.scores, oof.loc[name].to_numpy(), atol=1e-5,
                                       err_msg=name)


@pytest.mark.slow
def test_predict_and_predict_events_work_on_the_own_lengths(own_run, tmp_path):
    root, rows, out = own_run
    model = out / "models" / "mixup_a1.5" / "fold0.keras"
    oof = oof_scores(out, 0)
    files = [root / name for name in oof.index]
    result = CliRunner().invoke(main, ["predict", str(model), *map(str, files),
                                       "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    predicted = pd.read_csv(tmp_path / "p.csv").set_index("file")
    classes = sorted(TONES)
    for name in oof.index:
        np.testing.assert_allclose(predicted.loc[str(root / name), classes].to_numpy(float),
                                   oof.loc[name].to_numpy(), atol=6e-5, err_msg=name)
    result = CliRunner().invoke(main, ["predict", str(model), *map(str, files),
                                       "--events", str(tmp_path / "events.tsv")])
    assert result.exit_code == 0, result.output
    ten_seconds = rows.loc[(rows["fold"] == 0) & (rows["seconds"] == 10.0), "filename"].iloc[0]
    assert f"{root / ten_seconds}: 10.0 s, " in result.output  # streamed whole, every hop
    events = pd.read_csv(tmp_path / "events.tsv", sep="\t")
    assert list(events.columns) == ["filename", "onset", "offset", "event_label"]
    length = rows.set_index("filename")["seconds"]
    assert set(events["filename"]) <= set(oof.index)
    assert set(events["event_label"]) <= set(classes)
    assert (events["offset"] <= events["filename"].map(length) + 1e-3).all()


@pytest.mark.slow
def test_table1_baselines_train_on_windows_and_predict_scores_as_the_run(tmp_path):
    """The DAE-DNN and the challenge's GMM on the own mixed lengths: trained on windows,
    each clip's out-of-fold score equal to ``predict``'s maximum over its windows."""
    from kerastag.formats.model_file import load_model, read_model_info
    from kerastag.config import features_from_data
    from kerastag.tasks.tagging.predict import baseline_clip_scores

    root = tmp_path / "own"
    root.mkdir()
    write_own_folder(root)
    config = tmp_path / "b.yaml"
    config.write_text(
        f"name: b\nseed: 0\ndataset: {{layout: csv, path: '{root}'}}\n"
        f"features: {{n_mels: 64, cache_dir: '{tmp_path / 'cache'}', workers: 1}}\n"
        "training: {batch_size: 8, epochs: 1, patience: 1, folds: [0], verbose: 0}\n"
        "rows:\n"
        "  - {id: dae_dnn, network: dae_dnn, model: DAE-DNN, variant: '-', args: "
        "{dae_hidden: 16, bottleneck: 8, hidden: [16], context: 5, dae_epochs: 1}}\n"
        "  - {id: gmm, network: dcase2016_gmm, model: MFCC-GMM, variant: '-', in_table_1: false, "
        "args: {n_components: 2, max_iter: 5}}\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for row, family, suffix in (("dae_dnn", "dae_dnn", ".keras"), ("gmm", "dcase2016_gmm", ".gmm.json")):
        path = out / "models" / row / f"fold0{suffix}"
        info = read_model_info(path)
        model, spec = load_model(path), features_from_data(info.features).spec()
        oof = oof_scores(out, 0, row)
        for name in oof.index:
            scores = baseline_clip_scores(model, spec, root / name, info.chunk_seconds, family)
            np.testing.assert_allclose(scores, oof.loc[name].to_numpy(), rtol=1e-5, atol=1e-5,
                                       err_msg=f"{row} {name}")
