"""Table 1's model rows on one demo fold: the CRNN and the four baselines learn, save,
reload in a fresh interpreter with the same scores, and the GMM row equals an
independent MFCC + GMM computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

pytestmark = pytest.mark.slow

BASELINES = ("dae_dnn", "cgrnn_imd", "attloc_imd", "dcase2016_gmm")
SLIM = "{filters: 16, rnn_units: 16, rnn_layers: 1, dense_units: 64}"


@pytest.fixture(scope="module")
def table1_run(tmp_path_factory):
    """(config, run folder, table) of the CRNN and the four baselines on fold 0 of a
    150-chunk demo, deterministic."""
    from kerastag.config import load_config
    from kerastag.runner.run import run_experiment

    base = tmp_path_factory.mktemp("table1")
    config_path = base / "table1.yaml"
    config_path.write_text(
        f"name: table1\n"
        f"dataset: {{path: {base / 'demo'}, demo: true, demo_clips: 150, demo_seed: 3}}\n"
        f"features: {{cache_dir: {base / 'cache'}}}\n"
        f"model: {{filters: [8, 8, 16, 16, 16, 16, 16], rnn_units: 16}}\n"
        f"training: {{epochs: 10, patience: 4, learning_rate: 0.003, folds: [0], verbose: 0,"
        f" deterministic: true}}\n"
        f"rows:\n"
        f"  - {{mixing: mixup, alpha: 0}}\n"
        f"  - {{id: dae_dnn, network: dae_dnn, model: DAE-DNN, variant: '-', training: {{epochs: 6}},"
        f" args: {{dae_hidden: 64, bottleneck: 16, hidden: [64, 32], context: 31, dae_epochs: 1}}}}\n"
        f"  - {{id: cgrnn_imd, network: cgrnn_imd, model: CGRNN, variant: IMD,"
        f" training: {{frame_window_hop: 20}}, args: {SLIM}}}\n"
        f"  - {{id: attloc_imd, network: attloc_imd, model: ATT-LOC, variant: IMD, args: {SLIM}}}\n"
        f"  - {{id: dcase2016_gmm, network: dcase2016_gmm, model: MFCC-GMM, variant: '-',"
        f" in_table_1: false}}\n")
    config = load_config(config_path)
    table = run_experiment(config, base / "out", log=lambda _: None)
    return config, base / "out", pd.read_csv(table)


def test_table_has_a_row_per_model_with_its_id_first(table1_run):
    _, out, table = table1_run
    assert list(table.columns[:4]) == ["row", "model", "augmentation", "alpha"]
    assert list(table["row"]) == ["mixup_a0", *BASELINES]
    assert list(table["model"]) == ["CRNN", "DAE-DNN", "CGRNN", "ATT-LOC", "MFCC-GMM"]
    assert list(table["augmentation"].fillna("")) == ["mixup", "-", "IMD", "IMD", "-"]
    for row in BASELINES[:3]:
        assert (out / "models" / row / "fold0.keras").is_file()
    assert (out / "models" / "dcase2016_gmm" / "fold0.gmm.json").is_file()
    markdown = (out / "table.md").read_text(encoding="utf-8")
    assert "| cgrnn_imd | CGRNN | IMD |" in markdown and "0.13" in markdown


def test_every_model_learns_well_above_chance(table1_run):
    """Chance is an EER of 0.5; each model is fitted on 4 folds of the demo, scored on
    the 5th. Thresholds leave room for the demo's small test fold (30 chunks)."""
    _, _, table = table1_run
    limits = {"mixup_a0": 0.35, "dae_dnn": 0.4, "cgrnn_imd": 0.42, "attloc_imd": 0.42,
              "dcase2016_gmm": 0.35}
    for row, limit in limits.items():
        average = float(table.loc[table["row"] == row, "avg"].iloc[0])
        assert average < limit, table.to_string()


def test_saved_networks_score_the_same_in_a_fresh_process(table1_run, model_harness, tmp_path):
    from kerastag.tasks.tagging.task import TaggingTask

    config, out, _ = table1_run
    task = TaggingTask(config)
    data = task.load()
    cases = {}
    for row in config.rows:
        if row.name in BASELINES[:3]:
            saved = np.load(out / "predictions" / row.name / "fold0.npz")
            test = [data.clip_ids.index(c) for c in saved["clip_ids"]]
            cases[row.name] = (out / "models" / row.name / "fold0.keras", task.x_of(data, row)[test])
    reloaded = model_harness.reload_in_fresh_process(cases, tmp_path)
    for name in cases:
        saved = np.load(out / "predictions" / name / "fold0.npz")["scores"]
        (output,) = reloaded[name]["outputs"].values()
        assert output.shape == saved.shape == (len(saved), 7)
        np.testing.assert_allclose(output, saved, atol=1e-5, err_msg=name)


def test_evaluate_reloads_every_model_and_recomputes_the_table(table1_run):
    from kerastag.runner.run import evaluate_run

    _, out, table = table1_run
    evaluate_run(out, log=lambda _: None)
    again = pd.read_csv(out / "evaluate" / "table.csv")
    pd.testing.assert_frame_equal(again, table)


def test_gmm_row_equals_an_independent_mfcc_gmm(table1_run):
    """librosa's MFCC (14 without c0, 20 ms frames every 10 ms), per-fold standardisation,
    scikit-learn GMMs (8 diagonal components per tag and side), mean frame LLR."""
    import librosa
    from sklearn.mixture import GaussianMixture

    from kerastag.datasets import read_dataset
    from kerastag.fitting import unit_seed
    from kerastag.metrics import eer_per_tag

    config, out, _ = table1_run
    dataset = read_dataset(config.dataset_path(), "chime-home")
    clips = [clip for clip in dataset.clips if clip.fold is not None]

    def mfcc(path):
        y, sr = sf.read(path, dtype="float32")
        return librosa.feature.mfcc(y=y, sr=sr, n_mfcc=15, n_fft=320, hop_length=160,
                                    window="hamming", center=True, pad_mode="constant",
                                    n_mels=40)[1:].T

    frames = {clip.clip_id: mfcc(clip.path).astype(np.float64) for clip in clips}
    train = [clip for clip in clips if clip.fold != 0]
    test = [clip for clip in clips if clip.fold == 0]
    stacked = np.concatenate([frames[c.clip_id] for c in train])
    mean, std = stacked.mean(axis=0), stacked.std(axis=0, ddof=1)
    seed = unit_seed(config.seed, "dcase2016_gmm", "fold0") % 2 ** 32
    scores = np.zeros((len(test), len(dataset.classes)))
    for k, tag in enumerate(dataset.classes):
        sides = []
        for present in (False, True):
            chosen = np.concatenate([(frames[c.clip_id] - mean) / std for c in train
                                     if (tag in c.tags) == present])
            sides.append(GaussianMixture(8, covariance_type="diag", max_iter=100, tol=1e-3,
                                         reg_covar=1e-3, random_state=seed).fit(chosen))
        for i, clip in enumerate(test):
            z = (frames[clip.clip_id] - mean) / std
            scores[i, k] = np.mean(sides[1].score_samples(z) - sides[0].score_samples(z))
    y_true = np.array([[tag in c.tags for tag in dataset.classes] for c in test], dtype=float)
    saved = np.load(out / "predictions" / "dcase2016_gmm" / "fold0.npz")
    assert list(saved["clip_ids"]) == [c.clip_id for c in test]
    np.testing.assert_allclose(eer_per_tag(saved["y_true"], saved["scores"]),
                               eer_per_tag(y_true, scores), atol=1e-6)
    np.testing.assert_allclose(saved["scores"], scores, rtol=1e-4, atol=1e-4)


def test_saved_gmm_scores_the_same_in_a_fresh_process(table1_run, tmp_path):
    """The portable .gmm.json alone (plain JSON, numpy scoring) reproduces the scores."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from kerastag.tasks.tagging.task import TaggingTask

    config, out, _ = table1_run
    task = TaggingTask(config)
    data = task.load()
    row = next(r for r in config.rows if r.name == "dcase2016_gmm")
    saved = np.load(out / "predictions" / row.name / "fold0.npz")
    test = [data.clip_ids.index(c) for c in saved["clip_ids"]]
    np.save(tmp_path / "x.npy", task.x_of(data, row)[test])
    script = ("import sys, numpy as np; from kerastag.formats.model_file import load_model; "
              "np.save(sys.argv[3], load_model(sys.argv[1]).predict(np.load(sys.argv[2])))")
    done = subprocess.run([sys.executable, "-c", script, str(out / "models" / row.name / "fold0.gmm.json"),
                           str(tmp_path / "x.npy"), str(tmp_path / "scores.npy")],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3])))
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_array_equal(np.load(tmp_path / "scores.npy"), saved["scores"])


@pytest.mark.parametrize("row", BASELINES)
def test_predict_scores_a_baseline_from_its_audio_as_the_run_did(table1_run, tmp_path, row):
    """``kerastag predict`` on a baseline's model reads the file its input comes from
    (the 16 kHz mono chunk for MFCC frames, the 48 kHz stereo one for the IMD) and gives
    the run's out-of-fold scores of those chunks; a 16 kHz mono file for an IMD model,
    or --plot, is a one-line error."""
    from click.testing import CliRunner

    from kerastag.cli import main

    _, out, _ = table1_run
    saved = np.load(out / "predictions" / row / "fold0.npz")
    chunks = sorted((out.parent / "demo").rglob("chunks"))[0]
    stream = "48kHz" if row.endswith("_imd") else "16kHz"
    wavs = [chunks / f"{clip_id}.{stream}.wav" for clip_id in saved["clip_ids"][:3]]
    model = next((out / "models" / row).glob("fold0.*"))
    result = CliRunner().invoke(main, ["predict", str(model), *map(str, wavs),
                                       "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(tmp_path / "p.csv")
    np.testing.assert_allclose(scores.iloc[:, 1:8].to_numpy(), saved["scores"][:3], atol=2e-4)
    if row.endswith("_imd"):
        mono = chunks / f"{saved['clip_ids'][0]}.16kHz.wav"
        failed = CliRunner().invoke(main, ["predict", str(model), str(mono)])
        assert failed.exit_code == 2 and "stereo" in failed.output, failed.output
    failed = CliRunner().invoke(main, ["predict", str(model), str(wavs[0]), "--plot",
                                       str(tmp_path / "plots")])
    assert failed.exit_code == 2 and "frame-level outputs" in failed.output, failed.output
    assert not (tmp_path / "plots").exists()
