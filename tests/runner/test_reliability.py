"""No bad input poisons a run folder: non-finite audio or scores, wrong-length clips,
concurrent runs, half-written folders and files left by a killed run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from kerastag.cli import main
from kerastag.config import load_config
from kerastag.errors import AudioError, KerastagError
from kerastag.runner.run import run_experiment


def tiny_config(tmp_path: Path, dataset: Path, name: str = "tiny", epochs: int = 1) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"name: {name}\ndataset: {{path: {dataset}}}\n"
        f"features: {{n_mels: 16, cache_dir: {tmp_path / 'cache'}, workers: 1}}\n"
        f"model: {{filters: [4, 4, 4, 4], rnn_units: 4}}\n"
        f"training: {{batch_size: 8, epochs: {epochs}, patience: 1, folds: [0], verbose: 0}}\n"
        f"rows: [{{mixing: mixup, alpha: 1.5}}]\n")
    return path


def chunk_path(root: Path, index: int = 0) -> Path:
    """The 16 kHz file of the index-th chunk of the refined development list (the chunks a
    crossval run reads; the demo's folder also holds evaluation and raw-list-only chunks)."""
    crossval = (root / "development_chunks_refined_crossval_dcase2016.csv").read_text()
    name = crossval.splitlines()[index].split(",")[1]
    return root / "chunks" / f"{name}.16kHz.wav"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("damage, message", [
    ("nan", "sample(s) are NaN or infinite"),
    ("inf", "sample(s) are NaN or infinite"),
    ("2s", "expected 64000 samples for a CHiME-Home 16 kHz chunk, got 32000 samples"),
    ("100ms", "expected 64000 samples for a CHiME-Home 16 kHz chunk, got 1600 samples"),
    ("44k", "expected 16000 Hz, 64000 samples for a CHiME-Home 16 kHz chunk, got 44100 Hz"),
    ("stereo", "expected 1 channel(s) for a CHiME-Home 16 kHz chunk, got 2 channel(s)"),
    ("no samples", "audio file has no samples"),
])
def test_a_bad_clip_stops_the_run_naming_it_and_writes_nothing(chime_copy, tmp_path, damage, message):
    bad = chunk_path(chime_copy, 3)
    samples = {"nan": np.full(64000, np.nan, np.float32), "inf": np.r_[np.zeros(63999), np.inf],
               "2s": np.zeros(32000), "100ms": np.zeros(1600), "44k": np.zeros(176400),
               "stereo": np.zeros((64000, 2)), "no samples": np.zeros(0)}[damage]
    rate = 44100 if damage == "44k" else 16000
    sf.write(str(bad), samples, rate, subtype="FLOAT" if damage in ("nan", "inf") else "PCM_16")
    config = load_config(tiny_config(tmp_path, chime_copy))
    with pytest.raises(AudioError) as info:
        run_experiment(config, tmp_path / "out", log=lambda _: None)
    assert str(info.value).startswith(f"{bad}: ") and message in str(info.value)
    assert not (tmp_path / "out").exists()
    assert not list((tmp_path / "cache").rglob(bad.stem + "*"))  # nothing cached for it
    from kerastag.datasets.check import check_dataset

    assert any(str(bad) in problem and message in problem
               for problem in check_dataset(chime_copy).problems)


def test_a_missing_dataset_leaves_no_run_folder(tmp_path):
    config = load_config(tiny_config(tmp_path, tmp_path / "nowhere"))
    with pytest.raises(KerastagError, match="dataset folder not found"):
        run_experiment(config, tmp_path / "out", log=lambda _: None)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_non_finite_scores_are_never_saved_and_the_rerun_trains_the_unit(chime_demo, tmp_path,
                                                                         monkeypatch):
    from kerastag.tasks.tagging import task as tagging

    real = tagging.TaggingTask._predictions

    def poisoned(self, data, unit, test, model):
        result = real(self, data, unit, test, model)
        result["scores"] = np.full_like(result["scores"], np.nan)
        return result

    config = load_config(tiny_config(tmp_path, chime_demo[0]))
    monkeypatch.setattr(tagging.TaggingTask, "_predictions", poisoned)
    with pytest.raises(KerastagError) as info:
        run_experiment(config, tmp_path / "out", log=lambda _: None)
    assert str(info.value).startswith("mixup_a1.5 fold0: training gave non-finite scores")
    assert "training.learning_rate" in str(info.value)
    assert not list((tmp_path / "out").rglob("*.keras")) and not list((tmp_path / "out").rglob("*.npz"))
    monkeypatch.setattr(tagging.TaggingTask, "_predictions", real)
    log = []
    run_experiment(config, tmp_path / "out", log=log.append)
    assert "[1/1] mixup_a1.5 fold0: training" in log


@pytest.mark.slow
def test_poisoned_units_of_older_versions_name_the_files_to_delete_and_temporaries_go(
        chime_demo, tmp_path):
    config = load_config(tiny_config(tmp_path, chime_demo[0]))
    out = tmp_path / "out"
    run_experiment(config, out, log=lambda _: None)
    stale = out / "models" / "mixup_a1.5" / ".fold1.k2j3h4.tmp.keras"
    stale.write_bytes(b"half a model")
    predictions = out / "predictions" / "mixup_a1.5" / "fold0.npz"
    with np.load(predictions) as saved:
        arrays = {key: saved[key] for key in saved.files}
    arrays["scores"] = np.full_like(arrays["scores"], np.nan)
    np.savez(predictions, **arrays)
    with pytest.raises(KerastagError) as info:
        run_experiment(config, out, log=lambda _: None)
    message = str(info.value)
    assert message.startswith(f"{predictions}: holds non-finite scores")
    assert str(out / "models" / "mixup_a1.5" / "fold0.keras") in message
    assert not stale.exists()


HOLD_LOCK = textwrap.dedent("""
    import sys, time, filelock
    lock = filelock.FileLock(sys.argv[1], blocking=False)
    lock.acquire()
    open(sys.argv[2], "w").write("pid 4242 on elsewhere\\n")
    print("held", flush=True)
    time.sleep(60)
""")


def test_a_second_run_into_a_locked_folder_is_refused_naming_the_holder(chime_demo, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out / ".kerastag.lock"),
                               str(out / ".kerastag.lock.holder")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = invoke("run", tiny_config(tmp_path, chime_demo[0]), "--out", out)
        assert result.exit_code == 2
        assert result.output.strip().splitlines()[-1] == (
            f"error: {out}: in use by another kerastag process (pid "
                                         f"4242 on elsewhere); wait for it to finish or use another --out")
        assert not (out / "config.yaml").exists()
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_predict_over_a_folder_with_a_bad_file_writes_no_plot(chime_demo, tmp_path):
    config = load_config(tiny_config(tmp_path, chime_demo[0]))
    run_experiment(config, tmp_path / "out", log=lambda _: None)
    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(chunk_path(chime_demo[0], 0), folder / "a_good.wav")
    sf.write(str(folder / "b_bad.wav"), np.full(16000, np.nan, np.float32), 16000, subtype="FLOAT")
    result = invoke("predict", tmp_path / "out" / "models" / "mixup_a1.5" / "fold0.keras", folder,
                    "--plot", tmp_path / "plots")
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (f"error: {folder / 'b_bad.wav'}: 16000 sample(s) are NaN or "
                                     f"infinite (first at sample 0); replace or remove the file")
    assert not (tmp_path / "plots").exists() or not list((tmp_path / "plots").iterdir())


def test_the_command_line_starts_quiet(tmp_path):
    """No TensorFlow start-up line before kerastag's one-line error (kept with --verbose)."""
    script = Path(sys.executable).with_name("kerastag")
    if not script.exists():
        pytest.skip("the kerastag console script is not installed beside this interpreter")
    config = tmp_path / "x.yaml"
    config.write_text(f"name: x\ndataset: {{path: {tmp_path / 'nowhere'}}}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP")}
    quiet = subprocess.run([str(script), "run", str(config)], capture_output=True, text=True,
                           env=env, cwd=tmp_path)
    assert quiet.returncode == 2
    assert quiet.stderr.splitlines() == [f"error: dataset folder not found: looked for "
                                         f"{tmp_path / 'nowhere'} (dataset.path "
                                         f"'{tmp_path / 'nowhere'}' in {config}); get it with "
                                         f"'kerastag data download chime-home --to DIR' and "
                                         f"set dataset.path"]
    assert quiet.stdout == "" and not (tmp_path / "runs").exists()
    verbose = subprocess.run([str(script), "--verbose", "run", str(config)], capture_output=True,
                             text=True, env=env, cwd=tmp_path)
    assert verbose.returncode == 2 and len(verbose.stderr.splitlines()) > 1
