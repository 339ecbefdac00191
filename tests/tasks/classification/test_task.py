"""Paper B level 1 end to end on the FSDKaggle2018 demo with a tiny network."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from kerastag.cli import main
from kerastag.datasets import read_dataset


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def tiny_config(path, dataset, cache, rows=None, args=None):
    rows = rows or ["{id: rx_logmel_mixup, network: resnext50, features: logmel, mixing: mixup, alpha: 3.0}"]
    args = args or "{blocks: [1, 1, 1, 1], cardinality: 2, bottleneck_width: 2, stem_filters: 4}"
    path.write_text(
        "name: tinyb\ntask: classification\n"
        f"dataset: {{layout: fsdkaggle2018, path: {dataset}}}\n"
        f"features: {{type: logmel, cache_dir: {cache}, workers: 1, predict_hop_seconds: 1.0}}\n"
        f"model: {{args: {{resnext50: {args}}}}}\n"
        "training: {batch_size: 8, epochs: 1, patience: 1, verbose: 0, unverified_weight: 0.6}\n"
        "rows:\n" + "".join(f"  - {row}\n" for row in rows))
    return path


@pytest.fixture(scope="module")
def level1_run(fsd_demo, tmp_path_factory):
    base = tmp_path_factory.mktemp("level1")
    config = tiny_config(base / "tiny.yaml", fsd_demo[0], base / "cache")
    result = invoke("run", config, "--out", base / "out")
    assert result.exit_code == 0, result.output
    return base / "out", result.output


@pytest.mark.slow
def test_out_of_fold_file_covers_every_training_clip_once(level1_run, fsd_demo):
    out, _ = level1_run
    dataset = read_dataset(fsd_demo[0])
    classes = json.loads((out / "level1" / "classes.json").read_text())
    assert classes == list(dataset.classes) == sorted(classes)
    oof = pd.read_csv(out / "level1" / "rx_logmel_mixup.oof.csv")
    assert list(oof.columns) == ["fname", "fold", "label", *classes]
    train = {c.clip_id: c for c in dataset.subset("train")}
    assert sorted(oof["fname"]) == sorted(train) and oof["fname"].is_unique
    for record in oof.to_dict("records"):  # predicted by the model that did not train on it
        assert record["fold"] == train[record["fname"]].fold
        assert record["label"] == train[record["fname"]].tags[0]
    np.testing.assert_allclose(oof[classes].sum(axis=1), 1.0, atol=1e-4)


@pytest.mark.slow
def test_test_predictions_and_submission_cover_every_test_clip(level1_run, fsd_demo):
    out, _ = level1_run
    test_ids = sorted(c.clip_id for c in read_dataset(fsd_demo[0]).subset("test"))
    test = pd.read_csv(out / "level1" / "rx_logmel_mixup.test.csv")
    assert sorted(test["fname"]) == test_ids
    submission = pd.read_csv(out / "submissions" / "rx_logmel_mixup.csv")
    assert list(submission.columns) == ["fname", "label"] and sorted(submission["fname"]) == test_ids
    classes = json.loads((out / "level1" / "classes.json").read_text())
    for labels in submission["label"]:
        assert len(labels.split()) == 3 and set(labels.split()) <= set(classes)


@pytest.mark.slow
def test_tables_models_and_plots(level1_run):
    out, output = level1_run
    table = pd.read_csv(out / "table.csv")
    assert list(table.columns) == ["model", "map3", "accuracy"] and table["model"].tolist() == ["rx_logmel_mixup"]
    assert 0 <= table["map3"][0] <= 1 and table["accuracy"][0] <= table["map3"][0]
    assert "0.967" in (out / "table.md").read_text()  # the paper's best single ResNeXt beside ours
    assert (out / "test" / "table.csv").exists()
    for unit in ("fold0", "fold1", "fold2", "fold3", "fold4", "full"):
        assert (out / "models" / "rx_logmel_mixup" / f"{unit}.keras").exists()
    assert (out / "plots" / "map3_per_class.png").stat().st_size > 0
    assert "mAP@3" in output


@pytest.mark.slow
def test_evaluate_reproduces_the_table(level1_run):
    out, _ = level1_run
    result = invoke("evaluate", out)
    assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(pd.read_csv(out / "table.csv"), pd.read_csv(out / "evaluate" / "table.csv"))


@pytest.mark.slow
def test_predict_prints_the_top_three(level1_run, fsd_demo, tmp_path):
    out, _ = level1_run
    clip = sorted((fsd_demo[0] / "FSDKaggle2018.audio_test").glob("*.wav"))[0]
    result = invoke("predict", out / "models" / "rx_logmel_mixup" / "full.keras", clip, "--out", tmp_path / "p.csv")
    assert result.exit_code == 0, result.output
    line = [l for l in result.output.splitlines() if l.startswith(str(clip))][0]
    assert len(line.split(": ")[1].split()) == 3
    frame = pd.read_csv(tmp_path / "p.csv")
    classes = json.loads((out / "level1" / "classes.json").read_text())
    expected = pd.read_csv(out / "level1" / "rx_logmel_mixup.test.csv").set_index("fname").loc[clip.name, classes]
    np.testing.assert_allclose(frame[classes].to_numpy()[0], expected.to_numpy(dtype=float), atol=2e-4)


@pytest.mark.slow
def test_predict_clip_without_audio_is_a_one_line_error(level1_run, tmp_path):
    import soundfile as sf

    out, _ = level1_run
    sf.write(tmp_path / "nothing.wav", np.zeros(0), 44100)
    result = invoke("predict", out / "models" / "rx_logmel_mixup" / "full.keras", tmp_path / "nothing.wav")
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {tmp_path / 'nothing.wav'}: audio file has no samples"


@pytest.mark.parametrize("rows, args, expected", [
    (["{network: resnext99, features: logmel}"], None, "rows[0].network: unknown value 'resnext99'"),
    (["{network: resnext50}"], None, "rows[0]: a classification row needs 'network' and 'features'"),
    (["{network: resnext50, features: spectrogram}"], None, "rows[0].features: unknown value 'spectrogram'"),
    (None, "{cardinalty: 2}", "model.args.resnext50"),
    (["{id: w, network: resnext50, features: wave, args: {bandz: 4}}"], None, "rows[w].args"),
])
def test_bad_level1_configs_are_one_line_errors(fsd_demo, tmp_path, rows, args, expected):
    config = tiny_config(tmp_path / "bad.yaml", fsd_demo[0], tmp_path / "cache", rows=rows, args=args)
    result = invoke("run", config, "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1 or "training" in result.output


@pytest.fixture(scope="module")
def stacked_run(level1_run):
    out, _ = level1_run
    result = invoke("stack", out)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_stack_writes_table_model_and_submission(stacked_run):
    stack = stacked_run / "stack"
    table = pd.read_csv(stack / "table.csv")
    assert table["model"].tolist() == ["rx_logmel_mixup", "average", "stack"]
    meta = json.loads((stack / "level2_meta.json").read_text())
    assert meta["model_order"] == ["rx_logmel_mixup"]
    assert len(meta["feature_names"]) == 8 + 4 * 64  # 8 demo classes + MFCC statistics
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(stack / "level2.json")  # XGBoost's own JSON format
    assert (stack / "submission.csv").exists() and (stack / "map_per_class.png").exists()


@pytest.mark.slow
def test_stack_folder_scores_new_audio_end_to_end(stacked_run, fsd_demo):
    clips = sorted((fsd_demo[0] / "FSDKaggle2018.audio_test").glob("*.wav"))[:3]
    result = invoke("predict", stacked_run / "stack", *clips)
    assert result.exit_code == 0, result.output
    submission = pd.read_csv(stacked_run / "stack" / "submission.csv").set_index("fname")["label"]
    for clip in clips:
        assert f"{clip}: {submission[clip.name]}" in result.output


@pytest.mark.slow
def test_stack_without_an_out_of_fold_file_names_the_model(stacked_run, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(stacked_run, copy, ignore=shutil.ignore_patterns("models", "stack"))
    (copy / "level1" / "rx_logmel_mixup.oof.csv").unlink()
    result = invoke("stack", copy)
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and "Traceback" not in result.output
    assert "rx_logmel_mixup" in result.output and "oof" in result.output
    assert len(result.output.strip().splitlines()) == 1
