"""Paper B's claim at demo scale: the stacked ensemble is at least its best single model."""

import pandas as pd
import pytest

from kerastag.config import load_config
from kerastag.runner.run import run_experiment

TINY = "{blocks: [1, 1, 1, 1], cardinality: 2, bottleneck_width: 4, stem_filters: 8}"


@pytest.mark.slow
def test_stack_is_at_least_the_best_single_model_on_the_demo(tmp_path):
    config = tmp_path / "stack.yaml"
    config.write_text(
        "name: stackdemo\ntask: classification\nseed: 0\n"
        f"dataset: {{layout: fsdkaggle2018, path: {tmp_path / 'fsd'}, demo: true, demo_clips: 160}}\n"
        f"features: {{type: logmel, cache_dir: {tmp_path / 'cache'}, predict_hop_seconds: 0.75}}\n"
        f"model: {{args: {{resnext50: {TINY}}}}}\n"
        "training: {batch_size: 32, epochs: 4, patience: 2, learning_rate: 0.003, verbose: 0,"
        " deterministic: true}\n"
        "rows:\n"
        "  - {id: logmel, network: resnext50, features: logmel, mixing: mixup, alpha: 3.0}\n"
        "  - {id: wave, network: resnext50, features: wave,"
        " args: {bands: 8, strides: [5, 10, 25], context_kernel: 5}}\n"
        "stack: {seed: 0, n_jobs: 1}\n")
    run_experiment(load_config(config), tmp_path / "out", log=lambda _: None)
    table = pd.read_csv(tmp_path / "out" / "stack" / "table.csv").set_index("model")["map3"]
    best_single = table[["logmel", "wave"]].max()
    assert table["stack"] >= best_single, table.to_string()
    assert best_single > 0.3  # the level-1 models learned something (chance is ~0.23)
