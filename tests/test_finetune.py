"""Fine-tuning a trained model on new classes (``init_from``, ``training.freeze_epochs``).

Synthetic log-mel clips share six sounds (tones, chirps, pulse trains in noise): a tiny
source CRNN learns them as six classes from many clips; the target task has other
classes made of the same sounds (one is "sound 1 or sound 3") and few clips.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from kerastag.cli import main
from kerastag.config import (ExcerptFeatures, ExperimentConfig, ModelConfig, RowConfig,
                             TrainingConfig, config_to_dict, load_config, resolved_config)
from kerastag.config.sections import LogMelAFeatures
from kerastag.errors import ConfigError
from kerastag.formats.model_file import ModelInfo

REPO = Path(__file__).resolve().parents[1]
N_MELS, FRAMES, SOUND_FRAMES, N_SOUNDS = 16, 32, 8, 6
SOURCE_CLASSES = [(0,), (1,), (2,), (3,), (4,), (5,)]
TARGET_CLASSES = [(1, 3), (2,), (4,)]  # new classes: "1 or 3", "2", "4"
TINY_CRNN = dict(filters=(8, 16, 16, 16), rnn_units=16, dropout=0.0)
TINY_RESNEXT = {"blocks": [1, 1, 1, 1], "cardinality": 2, "bottleneck_width": 2, "stem_filters": 4}


# --- synthetic sounds ------------------------------------------------------------------------


def sound_templates() -> np.ndarray:
    """``(sounds, SOUND_FRAMES, N_MELS)`` patterns: a tone, a rising chirp, a pulse train."""
    templates = np.zeros((N_SOUNDS, SOUND_FRAMES, N_MELS), np.float32)
    for k in range(N_SOUNDS):
        if k % 3 == 0:
            templates[k, :, 2 + 2 * k % 14] = 1
        elif k % 3 == 1:
            for i in range(SOUND_FRAMES):
                templates[k, i, (k + i) % N_MELS] = 1
        else:
            templates[k, ::2, [(3 * k) % N_MELS, (3 * k + 5) % N_MELS]] = 1
    return templates


def synthetic_clips(n: int, classes, rng) -> tuple[np.ndarray, np.ndarray]:
    """``n`` clips ``(n, FRAMES, N_MELS)`` of unit noise with each sound present with
    probability 0.35 at a random time (amplitude 2), and their multi-hot ``classes``."""
    templates = sound_templates()
    x = rng.standard_normal((n, FRAMES, N_MELS)).astype(np.float32)
    present = rng.random((n, N_SOUNDS)) < 0.35
    for i in range(n):
        for k in np.flatnonzero(present[i]):
            start = rng.integers(0, FRAMES - SOUND_FRAMES)
            x[i, start:start + SOUND_FRAMES] += 2 * templates[k]
    y = np.stack([present[:, list(c)].any(axis=1) for c in classes], axis=1)
    return x, y.astype(np.float32)


def crnn_config(base: Path, *, init_from=None, epochs: int, freeze: int = 0,
                lr: float = 1e-2) -> ExperimentConfig:
    return ExperimentConfig(
        name="ft", features=LogMelAFeatures(n_mels=N_MELS), model=ModelConfig(**TINY_CRNN),
        training=TrainingConfig(batch_size=8, epochs=epochs, learning_rate=lr, patience=100,
                                verbose=0, freeze_epochs=freeze),
        rows=(RowConfig(init_from=init_from),), source=str(base / "ft.yaml"))


def tagging_metadata(config: ExperimentConfig, classes) -> ModelInfo:
    return ModelInfo(task="tagging", family="crnn_attloc", classes=tuple(str(c) for c in classes),
                     features=config_to_dict(config.features) | {"cache_dir": None},
                     chunk_seconds=4.0)


def train_source(base: Path, seed: int):
    """A tiny CRNN trained on the six source sounds (160 clips, 8 epochs), saved as kerastag
    saves it; and the target task from the same generator: 16 training, 8 validation and
    200 test clips of the target classes.

    Returns:
        ``(source path, target Split, (x_test, y_test))``.
    """
    from kerastag.formats.model_file import save_model
    from kerastag.tasks.tagging.training import Split, train_tagger

    rng = np.random.default_rng(seed)
    config = crnn_config(base, epochs=8)
    model, _ = train_tagger(config, config.rows[0],
                            Split(*synthetic_clips(160, SOURCE_CLASSES, rng),
                                  *synthetic_clips(32, SOURCE_CLASSES, rng)), seed=seed)
    path = save_model(model, base / f"source{seed}.keras", tagging_metadata(config, SOURCE_CLASSES))
    target = Split(*synthetic_clips(16, TARGET_CLASSES, rng), *synthetic_clips(8, TARGET_CLASSES, rng))
    return path, target, synthetic_clips(200, TARGET_CLASSES, rng)


@pytest.fixture(scope="module")
def source_and_target(tmp_path_factory):
    return train_source(tmp_path_factory.mktemp("source"), seed=0)


@pytest.fixture(scope="module")
def source_model(source_and_target) -> Path:
    return source_and_target[0]


@pytest.fixture(scope="module")
def untrained_tagger(tmp_path_factory) -> Path:
    """A tiny CRNN saved with tagging metadata, not trained (for the metadata checks)."""
    from kerastag.formats.model_file import save_model
    from kerastag.models.crnn import build_crnn_attloc

    config = crnn_config(tmp_path_factory.mktemp("untrained"), epochs=1)
    model = build_crnn_attloc(n_mels=N_MELS, n_classes=6, n_frames=FRAMES, **TINY_CRNN)
    return save_model(model, config.base_dir / "tagger.keras", tagging_metadata(config, SOURCE_CLASSES))


# --- config ----------------------------------------------------------------------------------


def test_init_from_resolves_against_the_yaml_folder_and_is_saved_absolute(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yaml").write_text(
        "model: {init_from: ../models/a.keras}\ntraining: {freeze_epochs: 3}\n"
        "rows:\n  - {mixing: none}\n  - {mixing: mixup, alpha: 1.0, init_from: b.keras,"
        " training: {fine_tune_learning_rate: 0.0002}}\n")
    config = load_config(tmp_path / "sub" / "c.yaml")
    assert config.init_from_of(config.rows[0]) == tmp_path / "models" / "a.keras"
    assert config.init_from_of(config.rows[1]) == tmp_path / "sub" / "b.keras"
    assert config.training_of(config.rows[1]).fine_tune_learning_rate == 0.0002
    saved = resolved_config(config)
    assert saved["model"]["init_from"] == str(tmp_path / "models" / "a.keras")
    assert saved["rows"][1]["init_from"] == str(tmp_path / "sub" / "b.keras")
    assert saved["training"]["freeze_epochs"] == 3


@pytest.mark.parametrize("yaml, message", [
    ("training: {freeze_epoch: 2}", "training.freeze_epoch: unknown key; did you mean 'freeze_epochs'?"),
    ("rows: [{init_form: a.keras}]", "rows[0].init_form: unknown key; did you mean 'init_from'?"),
    ("training: {freeze_epochs: -1}", "training.freeze_epochs"),
    ("training: {fine_tune_learning_rate: 0}", "training.fine_tune_learning_rate"),
])
def test_bad_fine_tuning_keys_name_the_key(tmp_path, yaml, message):
    (tmp_path / "c.yaml").write_text(yaml + "\n")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(tmp_path / "c.yaml")


def test_the_fine_tuning_example_config_parses():
    config = load_config(REPO / "experiments" / "finetune_own_data.yaml")
    assert config.dataset.layout == "csv"
    source = config.init_from_of(config.rows[0])
    assert source.name == "fold0.keras" and source.is_absolute()
    assert config.training.freeze_epochs > 0 and config.training.fine_tune_learning_rate > 0


def test_the_second_phase_rate_defaults_to_a_tenth():
    from kerastag.fitting import fine_tune_rate

    config = ExperimentConfig(name="x", training=TrainingConfig(learning_rate=0.003))
    assert fine_tune_rate(config) == pytest.approx(0.0003)
    config = ExperimentConfig(name="x", training=TrainingConfig(fine_tune_learning_rate=0.01))
    assert fine_tune_rate(config) == 0.01


# --- mismatches: one line, before any training --------------------------------------------------


def paper_b_source(path: Path, n_classes: int = 5) -> Path:
    """A tiny (untrained) ResNeXt on paper B's log-mel, saved as kerastag saves it."""
    from kerastag.formats.model_file import save_model
    from kerastag.models.networks import build_network

    model = build_network("resnext50", (32, 30, 3), n_classes, **TINY_RESNEXT)
    features = config_to_dict(ExcerptFeatures(n_mels=32, excerpt_seconds=0.3)) | {"cache_dir": None}
    return save_model(model, path, ModelInfo(task="classification", family="resnext50",
                                             classes=tuple(f"c{i}" for i in range(n_classes)),
                                             features=features, excerpt=30, hop=10,
                                             pad_value=(-100.0, 0.0, 0.0)))


def run_cli(config: Path, out: Path):
    return CliRunner().invoke(main, ["run", str(config), "--out", str(out)])


@pytest.mark.slow
def test_a_paper_b_model_into_a_crnn_row_is_one_line_naming_both_before_training(tmp_path):
    paper_b_source(tmp_path / "resnext.keras")
    (tmp_path / "c.yaml").write_text(
        "dataset: {layout: csv, path: no_such_folder}\nmodel: {init_from: resnext.keras}\n"
        "rows: [{mixing: none}]\n")
    result = run_cli(tmp_path / "c.yaml", tmp_path / "out")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("error: ")
    line = result.output
    assert "rows[0] 'none' (tagging, crnn_attloc on logmel_a)" in line
    assert "resnext.keras is a classification model (resnext50 on logmel" in line
    assert not (tmp_path / "out").exists()  # checked before the dataset and any training


@pytest.mark.slow
def test_a_tagger_into_a_classification_row_and_odd_files_are_one_line(tmp_path, untrained_tagger):
    (tmp_path / "not_a_model.keras").write_text("hello")
    rows = {"tagger": untrained_tagger, "text": tmp_path / "not_a_model.keras",
            "missing": tmp_path / "gone.keras"}
    expected = {"tagger": "is a tagging model (crnn_attloc on logmel_a (n_mels=16))",
                "text": "not_a_model.keras: not a .keras model archive",
                "missing": "gone.keras: model file not found"}
    for name, path in rows.items():
        (tmp_path / "c.yaml").write_text(
            "task: classification\ndataset: {layout: csv, path: nowhere}\nfeatures: {type: logmel}\n"
            f"model: {{args: {{resnext50: {TINY_RESNEXT}}}}}\n"
            f"rows: [{{id: r, network: resnext50, features: logmel, init_from: '{path}'}}]\n")
        result = run_cli(tmp_path / "c.yaml", tmp_path / "out")
        assert result.exit_code == 2, result.output
        assert result.output.count("\n") == 1 and "rows[0] 'r'" in result.output
        assert expected[name] in result.output, result.output
        assert not (tmp_path / "out").exists()


def test_other_features_are_refused_naming_both(untrained_tagger):
    from kerastag.features.specs import LogMelA
    from kerastag.models.transfer import check_source

    with pytest.raises(ConfigError, match=r"rows\[0\] 'r' \(tagging, crnn_attloc on logmel_a "
                                          r"\(n_mels=40\)\): init_from .*tagger.keras is a "
                                          r"tagging model \(crnn_attloc on logmel_a \(n_mels=16\)\)"):
        check_source(untrained_tagger, where="rows[0] 'r'", task="tagging", family="crnn_attloc",
                     features=LogMelA(n_mels=40))


# --- transfer and the two phases ---------------------------------------------------------------


@pytest.mark.slow
def test_other_model_settings_are_one_line_naming_the_layer(tmp_path, source_model):
    from kerastag.tasks.tagging.training import Split, train_tagger

    rng = np.random.default_rng(1)
    config = crnn_config(tmp_path, init_from=str(source_model), epochs=1)
    config = dataclasses.replace(config, model=ModelConfig(**TINY_CRNN | {"rnn_units": 8}))
    split = Split(*synthetic_clips(8, TARGET_CLASSES, rng), *synthetic_clips(4, TARGET_CLASSES, rng))
    with pytest.raises(ConfigError, match=r"rows\[0\] 'none': init_from .*source0.keras: layer "
                                          r"'bigru' has weights .* in the row's model but"):
        train_tagger(config, config.rows[0], split, seed=0)


@pytest.mark.slow
def test_fine_tuning_beats_training_from_scratch_on_few_clips(source_and_target, tmp_path):
    """Same target clips, epochs (12) and learning rate (0.01); fine-tuned: 8 epochs head
    only, then 4 of the whole network at 0.001. Mean EER over the 3 target classes on 200
    held-out clips, measured (seeds 0, 1, 2 of this generator, busy 2-core machine):
    scratch 0.451 / 0.488 / 0.451, fine-tuned 0.353 / 0.325 / 0.344, margins 0.098 / 0.163 /
    0.107. The assertion asks for 0.04."""
    from kerastag.fitting import predict_scores
    from kerastag.metrics import eer_per_tag
    from kerastag.tasks.tagging.training import train_tagger

    source, target, (x_test, y_test) = source_and_target
    eer = {}
    for name, init_from in (("scratch", None), ("fine_tuned", str(source))):
        config = crnn_config(tmp_path, init_from=init_from, epochs=12, freeze=8, lr=1e-2)
        model, _ = train_tagger(config, config.rows[0], target, seed=0)
        eer[name] = float(eer_per_tag(y_test, predict_scores(model, x_test, 64)).mean())
    assert eer["fine_tuned"] <= eer["scratch"] - 0.04, eer


def _weights(model, names) -> dict[str, list[np.ndarray]]:
    return {name: [np.array(w) for w in model.get_layer(name).get_weights()] for name in names}


@pytest.mark.slow
def test_the_head_only_phase_leaves_the_body_as_transferred_and_trains_the_head(tmp_path, source_model):
    from kerastag.families import FAMILIES
    from kerastag.formats.model_file import load_model
    from kerastag.tasks.tagging.training import Split, train_tagger

    source = load_model(source_model)
    body = [layer.name for layer in source.layers
            if layer.weights and layer.name not in FAMILIES["crnn_attloc"].head_layers + ("input_norm",)]
    assert {"block1_conv", "block4_bn", "bigru"} <= set(body)
    rng = np.random.default_rng(2)
    split = Split(*synthetic_clips(16, TARGET_CLASSES, rng), *synthetic_clips(8, TARGET_CLASSES, rng))
    config = crnn_config(tmp_path, init_from=str(source_model), epochs=2, freeze=2)
    model, history = train_tagger(config, config.rows[0], split, seed=0)
    assert history["phase"].tolist() == [1, 1]
    for name, weights in _weights(source, body).items():  # BatchNorm statistics included
        for new, old in zip(_weights(model, [name])[name], weights):
            np.testing.assert_array_equal(new, old, err_msg=name)
    head = model.get_layer("localization").get_weights()[0]
    assert head.shape == (32, len(TARGET_CLASSES))  # new: sized by the target's classes
    assert all(layer.trainable for layer in model.layers)  # saved as an ordinary model

    config = crnn_config(tmp_path, init_from=str(source_model), epochs=3, freeze=2)
    model, history = train_tagger(config, config.rows[0], split, seed=0)
    assert history["phase"].tolist() == [1, 1, 2] and history["epoch"].tolist() == [1, 2, 3]
    changed = [name for name, weights in _weights(source, body).items()
               if not np.array_equal(_weights(model, [name])[name][0], weights[0])]
    assert "bigru" in changed and "block1_conv" in changed  # the second phase trains the body


@pytest.mark.slow
def test_a_paper_b_network_takes_the_body_weights_and_records_its_parent(tmp_path):
    """Paper B's task: a tiny ResNeXt fine-tuned from a saved one (3 -> 4 classes)."""
    from kerastag.formats.model_file import load_model, read_model_info, save_model
    from kerastag.models.transfer import transfer_weights
    from kerastag.runner.task import Unit
    from kerastag.tasks.classification.task import ClassificationData, ClassificationTask

    path = paper_b_source(tmp_path / "parent.keras", n_classes=3)
    config = ExperimentConfig(
        name="b", task="classification",
        features=ExcerptFeatures(n_mels=32, excerpt_seconds=0.3, predict_hop_seconds=0.3),
        model=ModelConfig(args={"resnext50": TINY_RESNEXT}),
        training=TrainingConfig(batch_size=4, epochs=1, freeze_epochs=1, verbose=0),
        rows=(RowConfig(id="r", network="resnext50", features="logmel", init_from=str(path)),),
        source=str(tmp_path / "b.yaml"))
    task = ClassificationTask(config)
    task.check_init_from()  # same network and features: accepted
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal((3, 32, 40)).astype(np.float32) for _ in range(12)]
    data = ClassificationData(
        classes=("a", "b", "c", "d"), train_ids=[f"{i}.wav" for i in range(12)], test_ids=[],
        train_y=np.arange(12) % 4, test_y=np.zeros(0, int), folds=np.arange(12) % 2,
        weights=np.ones(12, np.float32), groups=np.arange(12), features={"logmel": (clips, [])})
    unit = Unit(config.rows[0], "fold0")
    result = task.train_unit(data, unit)
    parent = load_model(path)
    for layer in parent.layers:  # one epoch of the head only: the body is the parent's
        if layer.weights and layer.name != "predictions":
            for new, old in zip(result.model.get_layer(layer.name).get_weights(), layer.get_weights()):
                np.testing.assert_array_equal(new, old, err_msg=layer.name)
    assert result.model.get_layer("predictions").get_weights()[0].shape[-1] == 4
    assert result.predictions["probs"].shape == (6, 4)
    fresh = task.build_network(config.rows[0], (32, 30, 3), 4)  # the transfer on its own
    moved = transfer_weights(fresh, parent, family="resnext50", where="r", source_path=path)
    assert moved.head == ("predictions",)
    assert [layer.name for layer in moved.transferred] == ["backbone"]  # nested: one layer
    parent_body = parent.get_layer("backbone").get_weights()
    for new, old in zip(fresh.get_layer("backbone").get_weights(), parent_body):
        np.testing.assert_array_equal(new, old)

    info = task.model_info(data, unit)
    assert info.family == "resnext50"
    assert info.init_from == {"path": str(path.resolve()),
                              "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    saved = save_model(result.model, tmp_path / "child.keras", info)
    assert read_model_info(saved) == info


def test_a_model_trained_from_scratch_records_no_parent(tmp_path):
    from kerastag.models.transfer import init_from_provenance

    assert init_from_provenance(None) is None
