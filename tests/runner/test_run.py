"""``kerastag run`` / ``evaluate`` / ``predict`` end to end on a tiny demo config
(kerastag.runner.run with the tagging task)."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from kerastag.cli import main

TAGS = ["c", "m", "f", "v", "p", "b", "o"]


def tiny_config(path: Path, dataset: Path, cache: Path, rows=None) -> Path:
    rows = rows or ["{mixing: mixup, alpha: 1.5}", "{mixing: samplepairing}"]
    path.write_text(
        f"name: tiny\n"
        f"dataset: {{path: {dataset}}}\n"
        f"features: {{cache_dir: {cache}, workers: 1}}\n"
        f"model: {{filters: [4, 4, 4, 8, 8, 8, 8], rnn_units: 4}}\n"
        f"training: {{batch_size: 8, epochs: 2, patience: 1, folds: [0, 1], verbose: 0, deterministic: true}}\n"
        f"rows:\n" + "".join(f"  - {row}\n" for row in rows))
    return path


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def finished_run(chime_demo, tmp_path_factory):
    base = tmp_path_factory.mktemp("run")
    config = tiny_config(base / "tiny.yaml", chime_demo[0], base / "cache")
    result = invoke("run", config, "--out", base / "out")
    assert result.exit_code == 0, result.output
    return config, base / "out", result.output


@pytest.mark.slow
def test_run_writes_table_models_histories_and_plots(finished_run):
    _, out, output = finished_run
    table = pd.read_csv(out / "table.csv")
    assert list(table.columns) == ["row", "model", "augmentation", "alpha", *TAGS, "avg",
                                   "var_1e3"]
    assert table["augmentation"].tolist() == ["mixup", "samplepairing"]
    assert table["alpha"].tolist()[0] == 1.5
    assert ((table["avg"] >= 0) & (table["avg"] <= 1)).all()
    for row in ("mixup_a1.5", "samplepairing"):
        for fold in (0, 1):
            assert (out / "models" / row / f"fold{fold}.keras").stat().st_size > 0
            history = pd.read_csv(out / "histories" / row / f"fold{fold}.csv")
            assert {"epoch", "loss", "val_loss", "accuracy", "val_accuracy"} <= set(history.columns)
        assert (out / "plots" / f"history_{row}.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "plots" / "eer_vs_paper.png").stat().st_size > 0
    markdown = (out / "table.md").read_text()
    assert "4.11" in markdown  # the paper's variance for mixup a=1.5 sits beside ours
    assert "mixup_a1.5" in output and "samplepairing" in output  # the table is printed
    assert not list(out.rglob(".*tmp*")), "temporary files left behind"


@pytest.mark.slow
def test_evaluate_reproduces_the_table(finished_run):
    _, out, _ = finished_run
    result = invoke("evaluate", out)
    assert result.exit_code == 0, result.output
    ran = pd.read_csv(out / "table.csv")
    evaluated = pd.read_csv(out / "evaluate" / "table.csv")
    pd.testing.assert_frame_equal(ran, evaluated)


@pytest.mark.slow
def test_saved_model_reloads_in_a_fresh_process(finished_run, chime_demo, model_harness, tmp_path):
    """The file ``kerastag run`` wrote (with its kerastag.json member) goes through the
    fresh-interpreter half of the shared model harness and predicts what the run saved."""
    _, out, _ = finished_run
    model_path = out / "models" / "mixup_a1.5" / "fold0.keras"
    saved = np.load(out / "predictions" / "mixup_a1.5" / "fold0.npz")
    from kerastag.datasets import read_dataset
    from kerastag.loading import compute_features, stack_features
    from kerastag.runner.run import read_run_config

    config = read_run_config(out)
    clips = {c.clip_id: c for c in read_dataset(chime_demo[0]).clips}
    x = stack_features(compute_features(config, [clips[i] for i in saved["clip_ids"]], progress=False).arrays)
    reloaded = model_harness.reload_in_fresh_process({"fold0": (model_path, x)}, tmp_path)
    np.testing.assert_allclose(reloaded["fold0"]["outputs"]["output"], saved["scores"], atol=1e-5)
    assert reloaded["fold0"]["classes"]["clip"] == "kerastag.models.layers.WeightedSumOverTime"


@pytest.mark.slow
def test_predict_prints_tags_writes_csv_and_plots(finished_run, chime_demo, tmp_path):
    _, out, _ = finished_run
    wavs = sorted((chime_demo[0] / "chunks").glob("*.16kHz.wav"))[:2]
    model = out / "models" / "mixup_a1.5" / "fold0.keras"
    result = invoke("predict", model, *wavs, "--threshold", "0", "--out", tmp_path / "p.csv",
                    "--plot", tmp_path / "plots")
    assert result.exit_code == 0, result.output
    assert f"{wavs[0]}: c m f v p b o" in result.output  # threshold 0: every tag
    frame = pd.read_csv(tmp_path / "p.csv")
    assert list(frame.columns) == ["file", *TAGS, "tags"] and len(frame) == 2
    assert len(list((tmp_path / "plots").glob("*.png"))) == 2


@pytest.mark.slow
def test_predict_handles_other_rates_and_lengths(finished_run, tmp_path):
    import soundfile as sf

    _, out, _ = finished_run
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "long44k.wav", 0.1 * rng.standard_normal(int(44100 * 9.5)), 44100)
    sf.write(tmp_path / "short.wav", 0.1 * rng.standard_normal(8000), 16000)
    from kerastag.tasks.tagging.predict import load_tagger, predict_clip

    _, frame_model, _, spec = load_tagger(out / "models" / "samplepairing" / "fold1.keras")
    long = predict_clip(frame_model, spec, tmp_path / "long44k.wav", 4.0)
    assert long.logmel.shape == (3 * 124, 128)  # 9.5 s -> three 4 s windows
    assert long.scores.shape == (7,) and np.all((long.scores >= 0) & (long.scores <= 1))
    short = predict_clip(frame_model, spec, tmp_path / "short.wav", 4.0)
    assert short.logmel.shape == (124, 128)


@pytest.mark.slow
def test_predict_unreadable_wav_is_a_one_line_error(finished_run, tmp_path):
    _, out, _ = finished_run
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    result = invoke("predict", out / "models" / "samplepairing" / "fold0.keras", bad)
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: ") and "bad.wav" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_run_refuses_a_folder_of_another_config(finished_run, chime_demo, tmp_path):
    _, out, _ = finished_run
    other = tiny_config(tmp_path / "other.yaml", chime_demo[0], tmp_path / "cache",
                        rows=["{mixing: none}"])
    result = invoke("run", other, "--out", out)
    assert result.exit_code == 2 and "holds a run of a different config" in result.output


@pytest.mark.parametrize("row, expected", [
    ("{mixing: cutmix}", "rows[0].mixing: unknown value 'cutmix'"),
    ("{mixing: mixup, alpha: -1}", "rows[0].alpha: expected a finite number >= 0, got -1.0"),
])
def test_bad_rows_are_one_line_errors(tmp_path, chime_demo, row, expected):
    config = tiny_config(tmp_path / "bad.yaml", chime_demo[0], tmp_path / "cache", rows=[row])
    result = invoke("run", config, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert expected in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_killed_run_resumes_without_retraining(finished_run, chime_demo, tmp_path):
    config, uninterrupted, _ = finished_run
    out = tmp_path / "out"
    command = [sys.executable, "-m", "kerastag.cli", "run", str(config), "--out", str(out)]
    marker = out / "predictions" / "mixup_a1.5" / "fold0.npz"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not marker.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert marker.exists(), "the first unit never finished"
    assert not (out / "table.csv").exists()
    first_model = out / "models" / "mixup_a1.5" / "fold0.keras"
    stamp = first_model.stat().st_mtime_ns
    result = invoke("run", config, "--out", out)
    assert result.exit_code == 0, result.output
    assert "mixup_a1.5 fold0: finished earlier, skipped" in result.output
    assert first_model.stat().st_mtime_ns == stamp  # never trained again
    pd.testing.assert_frame_equal(pd.read_csv(out / "table.csv"), pd.read_csv(uninterrupted / "table.csv"))
    assert not list(out.rglob(".*tmp*"))


@pytest.mark.slow
def test_evaluation_protocol_trains_on_development_and_scores_the_evaluation_set(chime_demo, tmp_path):
    config = tmp_path / "eval.yaml"
    tiny_config(config, chime_demo[0], tmp_path / "cache", rows=["{mixing: mixup, alpha: 1.0}"])
    config.write_text(config.read_text().replace("folds: [0, 1],", "protocol: evaluation,"))
    result = invoke("run", config, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    saved = np.load(tmp_path / "out" / "predictions" / "mixup_a1" / "evaluation.npz")
    evaluation_ids = {t.clip_id for t in chime_demo[1] if t.subset == "evaluation"}
    assert set(saved["clip_ids"]) == evaluation_ids and len(saved["clip_ids"]) == len(evaluation_ids)
    assert (tmp_path / "out" / "models" / "mixup_a1" / "evaluation.keras").exists()
    assert len(pd.read_csv(tmp_path / "out" / "table.csv")) == 1


@pytest.mark.slow
def test_the_grid_on_ray_writes_what_the_local_engine_wrote(finished_run, local_ray, local_threads,
                                                            tmp_path):
    """2 rows x 2 folds on a Ray of 2 CPUs (two units at a time): the same unit files, the
    same histories and scores, the same model weights and the same table as the local run
    of the fixture. Each Ray unit gets the local engine's thread count, since TensorFlow's
    sums (and so the last digits) depend on it; with 1 thread they differ by ~1e-5."""
    import keras

    config, local, _ = finished_run
    ray_config = tmp_path / "tiny_ray.yaml"
    ray_config.write_text(config.read_text() + f"execution: {{threads_per_unit: {local_threads}}}\n")
    result = invoke("run", ray_config, "--out", tmp_path / "out", "--engine", "ray")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    finished = [line for line in result.output.splitlines() if ": finished on " in line]
    assert len(finished) == 4 and all("(pid " in line and line.endswith(" s") for line in finished)
    unit_files = sorted(str(p.relative_to(local)) for folder in ("models", "histories", "predictions")
                        for p in (local / folder).rglob("*") if p.is_file())
    assert unit_files == sorted(str(p.relative_to(out)) for folder in ("models", "histories", "predictions")
                                for p in (out / folder).rglob("*") if p.is_file())
    assert len(unit_files) == 12
    for name in unit_files:
        if name.startswith("histories"):
            assert (out / name).read_bytes() == (local / name).read_bytes(), name
        elif name.startswith("predictions"):
            ours, theirs = np.load(out / name), np.load(local / name)
            assert all(np.array_equal(ours[key], theirs[key]) for key in theirs.files), name
        else:
            ours, theirs = keras.saving.load_model(out / name), keras.saving.load_model(local / name)
            for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
                np.testing.assert_array_equal(a, b, err_msg=name)
    assert (out / "table.csv").read_bytes() == (local / "table.csv").read_bytes()
    assert (out / "table.md").read_bytes() == (local / "table.md").read_bytes()
    assert not list(out.rglob(".*tmp*"))
