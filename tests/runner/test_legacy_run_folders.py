"""Run folders and models written by kerastag 0.1 still evaluate, resume and predict:
0.1 called the row keys ``augmentation``/``input`` and saved every feature key for every
feature type, in ``config.yaml`` and in each model's ``kerastag.json``."""

from __future__ import annotations

import json
import shutil
import zipfile

import pandas as pd
import pytest
import yaml

from kerastag.config import load_config
from kerastag.formats.model_file import METADATA_MEMBER
from kerastag.runner.run import evaluate_run, run_experiment

#: Feature keys kerastag 0.1 wrote for every type (FeatureConfig's fields).
FEATURES_01 = {"type": "logmel_a", "sample_rate": 16000, "n_fft": 1024, "hop_length": 512,
               "n_mels": 16, "fmin": 0.0, "fmax": 8000.0, "frame_ms": 80.0, "hop_ms": 10.0,
               "delta_width": 9, "excerpt_seconds": 1.5, "predict_hop_seconds": 0.5,
               "cache_dir": None, "workers": 1}
#: The keys of 0.1's kerastag.json (no format, version or family).
KEYS_01 = ("task", "classes", "features", "chunk_seconds", "experiment", "row", "unit")


def as_written_by_0_1(run_dir):
    """Rewrite a run folder's config.yaml and models' metadata the way 0.1 wrote them."""
    config_path = run_dir / "config.yaml"
    data = yaml.safe_load(config_path.read_text())
    data["features"] = FEATURES_01 | {"cache_dir": data["features"]["cache_dir"]}
    for row in data["rows"]:
        row["augmentation"] = row.pop("mixing")
        row["input"] = row.pop("features")
    config_path.write_text(yaml.safe_dump(data, sort_keys=False))
    for model in run_dir.glob("models/*/*.keras"):
        with zipfile.ZipFile(model) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
        metadata = json.loads(members[METADATA_MEMBER])
        metadata = {key: metadata[key] for key in KEYS_01} | {"features": FEATURES_01}
        members[METADATA_MEMBER] = json.dumps(metadata).encode()
        with zipfile.ZipFile(model, "w") as archive:
            for name, content in members.items():
                archive.writestr(name, content)


@pytest.mark.slow
def test_a_0_1_run_folder_evaluates_resumes_and_predicts(chime_demo, tmp_path):
    config_path = tmp_path / "old.yaml"
    config_path.write_text(
        f"name: old\ndataset: {{path: {chime_demo[0]}}}\n"
        f"features: {{n_mels: 16, cache_dir: {tmp_path / 'cache'}, workers: 1}}\n"
        f"model: {{filters: [4, 4, 4, 4], rnn_units: 4}}\n"
        f"training: {{batch_size: 8, epochs: 1, patience: 1, folds: [0], verbose: 0}}\n"
        f"rows: [{{mixing: mixup, alpha: 1.5}}]\n")
    run_dir = tmp_path / "run"
    table = run_experiment(load_config(config_path), run_dir, log=lambda _: None)
    before = table.read_text()
    as_written_by_0_1(run_dir)

    evaluated, _ = evaluate_run(run_dir, log=lambda _: None)
    assert evaluated.read_text() == before
    log = []
    assert run_experiment(load_config(config_path), run_dir, log=log.append).read_text() == before
    assert any("finished earlier, skipped" in line for line in log)

    from kerastag.predict import predict_files

    wav = next((chime_demo[0] / "chunks").glob("*.16kHz.wav"))
    frame = predict_files(run_dir / "models" / "mixup_a1.5" / "fold0.keras", [wav])
    assert list(frame.columns) == ["file", *"cmfvpbo", "tags"]
    assert pd.api.types.is_float_dtype(frame["c"])
    shutil.rmtree(run_dir)
