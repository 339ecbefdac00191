"""Table 1's baselines as their authors trained and scored them: the raw development
list, the evaluation set, ``S`` as an eighth target, and the as-published config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kerastag.errors import ConfigError, DatasetError

TAGS = ("c", "m", "f", "v", "p", "b", "o")
ROOT = Path(__file__).resolve().parents[3]


def _config_text(dataset, cache, **extra) -> str:
    return (f"name: published\nseed: 0\n"
            f"dataset: {{path: {dataset}, development_list: raw}}\n"
            f"features: {{cache_dir: {cache}, workers: 1}}\n"
            f"training: {{protocol: evaluation, epochs: 2, patience: 2, verbose: 0,"
            f" batch_size: 50, deterministic: true}}\n"
            f"rows:\n"
            f"  - {{id: dae_dnn, network: dae_dnn, targets: tags_and_silence,"
            f" training: {{optimizer: sgd, learning_rate: 0.005, frame_window_hop: 14}},"
            f" args: {{dae_hidden: 16, bottleneck: 8, hidden: [16], context: 31,"
            f" dae_epochs: 1, dae_learning_rate: 0.01}}}}\n"
            f"  - {{id: gmm, network: dcase2016_gmm, targets: tags_and_silence,"
            f" args: {{n_components: 2}}}}\n")


def test_the_raw_list_adds_its_chunks_and_keeps_the_refined_evaluation_set(chime_demo, tmp_path):
    from kerastag.config import load_config
    from kerastag.datasets import read_dataset
    from kerastag.loading import prepare_dataset

    root, truth = chime_demo
    path = tmp_path / "published.yaml"
    path.write_text(_config_text(root, tmp_path / "cache"))
    config = load_config(path)
    clips = prepare_dataset(config).clips
    raw_only = {c.clip_id for c in truth if c.extra["raw_only"]}
    assert raw_only and raw_only <= {c.clip_id for c in clips if c.subset == "development"}
    assert [c.clip_id for c in clips if c.subset == "evaluation"] == \
        [c.clip_id for c in truth if c.subset == "evaluation"]
    assert not raw_only & {c.clip_id for c in read_dataset(root, "chime-home").clips}


def test_a_missing_raw_list_or_a_raw_list_off_chime_home_is_one_line(chime_copy, tmp_path):
    from kerastag.config import load_config
    from kerastag.loading import prepare_dataset

    (chime_copy / "development_chunks_raw_crossval_dcase2016.csv").unlink()
    path = tmp_path / "published.yaml"
    path.write_text(_config_text(chime_copy, tmp_path / "cache"))
    with pytest.raises(DatasetError, match=r"development_chunks_raw_crossval_dcase2016\.csv: list "
                                           r"file not found$"):
        prepare_dataset(load_config(path))
    path.write_text("name: x\ndataset: {layout: csv, development_list: raw}\n")
    with pytest.raises(ConfigError, match=r"published.yaml: dataset\.development_list: .raw. is a CHiME-Home "
                                          r"list; layout 'csv' has none \(remove the key\)$"):
        load_config(path)


@pytest.mark.slow
def test_trained_on_the_raw_list_scored_on_the_evaluation_set_with_s_as_an_output(
        chime_demo, tmp_path):
    """The DAE-DNN (SGD, window by window) and the GMM with 8 outputs: every output saved
    with its truth, the table over the 7 tags, S named by the saved model and predict."""
    from click.testing import CliRunner

    from kerastag.cli import main
    from kerastag.config import load_config
    from kerastag.fitting import unit_seed
    from kerastag.formats.model_file import read_model_info
    from kerastag.runner.task import Unit
    from kerastag.tasks.tagging.task import TaggingTask

    root, truth = chime_demo
    path = tmp_path / "published.yaml"
    path.write_text(_config_text(root, tmp_path / "cache"))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    header = (out / "table.csv").read_text().splitlines()[0]
    assert header == "row,model,augmentation,alpha," + ",".join(TAGS) + ",avg,var_1e3"
    evaluation = [c for c in truth if c.subset == "evaluation"]
    silence = np.array(["S" in c.extra["majorityvote"] for c in evaluation], np.float32)
    for row in ("dae_dnn", "gmm"):
        saved = np.load(out / "predictions" / row / "evaluation.npz")
        assert saved["clip_ids"].tolist() == [c.clip_id for c in evaluation]
        assert saved["scores"].shape == saved["y_true"].shape == (len(evaluation), 8)
        np.testing.assert_array_equal(saved["y_true"][:, 7], silence)
    assert read_model_info(out / "models" / "dae_dnn" / "evaluation.keras").classes == (*TAGS, "S")

    config = load_config(path)  # every training chunk of the raw list, windows 14 frames apart
    task = TaggingTask(config)
    data = task.load()
    row = config.rows[0]
    split, _ = task._split(data, Unit(row, "evaluation"), unit_seed(0, row.name, "evaluation"))
    history = pd.read_csv(out / "histories" / "dae_dnn" / "evaluation.csv")
    starts = range(0, split.x_train.shape[1] - (7 + 31 - 1) + 1, 14)
    assert history["windows"].tolist() == [len(split.x_train) * len(starts)] * len(history)
    assert len(split.x_train) + len(split.x_val) == sum(c.subset == "development" for c in truth)

    result = CliRunner().invoke(main, ["evaluate", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "evaluate" / "table.csv").read_text() == (out / "table.csv").read_text()
    scores = tmp_path / "scores.csv"
    result = CliRunner().invoke(main, ["predict", str(out / "models" / "dae_dnn" / "evaluation.keras"),
                                       str(root / "chunks" / f"{evaluation[0].clip_id}.16kHz.wav"),
                                       "--out", str(scores)])
    assert result.exit_code == 0, result.output
    assert list(pd.read_csv(scores).columns) == ["file", *TAGS, "S", "tags"]


def test_the_as_published_config_trains_as_the_authors_did():
    from kerastag.config import load_config

    config = load_config(ROOT / "experiments" / "dcase2016_baselines_as_published.yaml")
    assert config.dataset.development_list == "raw"
    assert config.training.protocol == "evaluation"
    rows = {row.name: row for row in config.rows}
    assert list(rows) == ["dae_dnn", "cgrnn_imd", "attloc_imd"]
    assert all(row.targets == "tags_and_silence" for row in rows.values())
    dae, cgrnn, attloc = (config.training_of(rows[name]) for name in rows)
    assert (dae.optimizer, dae.learning_rate, dae.momentum, dae.epochs, dae.batch_size,
            dae.frame_window_hop) == ("sgd", 0.005, 0.9, 51, 100, 7)
    assert (cgrnn.optimizer, cgrnn.epochs, cgrnn.batch_size, cgrnn.frame_window_hop) == \
        ("adam", 21, 100, 10)
    assert (attloc.optimizer, attloc.epochs, attloc.batch_size) == ("adam", 31, 100)
    assert [config.samples_of(rows[name]) for name in rows] == ["frame_windows", "frame_windows",
                                                                "chunks"]
    assert rows["cgrnn_imd"].args["window_hop"] == 1 and rows["dae_dnn"].args["window_hop"] == 1
