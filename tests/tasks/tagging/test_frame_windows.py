"""Window-level training of Table 1's DAE-DNN and CGRNN (``training.samples:
frame_windows``): each window of frames a sample with its chunk's tags, every training
window once an epoch, none of a validation chunk, ``ceil(windows / batch)`` updates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kerastag.errors import ConfigError


def _coded_chunks(chunks: int, frames: int):
    """Chunks whose every frame says where it is: ``x[c, f] = (c, f)``; tags by chunk."""
    x = np.zeros((chunks, frames, 2), np.float32)
    x[:, :, 0] = np.arange(chunks)[:, None]
    x[:, :, 1] = np.arange(frames)[None, :]
    y = np.stack([np.arange(chunks) % 2, np.arange(chunks) % 3 == 0], axis=1).astype(np.float32)
    return x, y


def _epoch(dataset):
    """The ``(windows, targets)`` batches of one pass."""
    return list(dataset.as_numpy_iterator())


def test_each_window_carries_its_chunks_tags_and_comes_once_per_epoch():
    from kerastag.pipeline import frame_window_dataset, frame_window_starts

    x, y = _coded_chunks(chunks=7, frames=40)
    length, head, hop, batch = 9, 3, 4, 5
    dataset = frame_window_dataset(x, y, length=length, head=head, hop=hop, batch_size=batch,
                                   seed=11)
    starts = frame_window_starts(40, length, hop)
    assert starts.tolist() == list(range(0, 32, 4))
    expected = {(c, s) for c in range(7) for s in starts.tolist()}
    epochs = []
    for _ in range(2):
        batches = _epoch(dataset)
        assert len(batches) == math.ceil(len(expected) / batch)
        windows = np.concatenate([w for w, _ in batches])
        targets = np.concatenate([t for _, t in batches])
        assert windows.shape == (len(expected), head + length, 2)
        chunk = windows[:, 0, 0].astype(int)
        assert np.all(windows[:, :, 0] == chunk[:, None])            # one chunk a sample
        np.testing.assert_array_equal(windows[:, :head, 1], np.tile(np.arange(head), (len(chunk), 1)))
        first = windows[:, head, 1].astype(int)                        # then its window:
        np.testing.assert_array_equal(windows[:, head:, 1], first[:, None] + np.arange(length))
        np.testing.assert_array_equal(targets, y[chunk])                # the chunk's tags
        pairs = list(zip(chunk.tolist(), first.tolist()))
        assert sorted(pairs) == sorted(expected)                        # each exactly once
        assert len({c for c in chunk[:batch]}) > 1                      # shuffled across chunks
        epochs.append(pairs)
    assert epochs[0] != epochs[1]                                       # reshuffled every epoch


def _tagging_data(chunks: int = 30, frames: int = 120):
    from kerastag.config.sections import MfccFramesFeatures
    from kerastag.loading import ClipWindows
    from kerastag.tasks.tagging.task import TaggingData

    x, y = _coded_chunks(chunks, frames)
    x = np.concatenate([x, np.zeros((chunks, frames, 22), np.float32)], axis=-1)  # 24 MFCC
    spec = MfccFramesFeatures().spec()
    groups = np.array([f"session{c // 3}" for c in range(chunks)])
    return TaggingData([f"chunk{c}" for c in range(chunks)], {spec: ClipWindows(x, np.arange(chunks))},
                       y, np.arange(chunks) % 5, ("a", "b"), groups)


def test_no_window_of_a_validation_or_test_chunk_is_trained_on():
    from kerastag.config import ExperimentConfig, RowConfig, TrainingConfig
    from kerastag.models.dcase2016 import build_dae_dnn, dae_dnn_window_trainer
    from kerastag.runner.task import Unit
    from kerastag.tasks.tagging.frame_windows import window_datasets
    from kerastag.tasks.tagging.task import TaggingTask

    row = RowConfig(id="dae", network="dae_dnn")
    config = ExperimentConfig(name="w", rows=(row,), training=TrainingConfig(
        batch_size=16, validation_fraction=0.2))
    task = TaggingTask(config)
    data = _tagging_data()
    split, test = task._split(data, Unit(row, "fold2"), seed=5)
    model = build_dae_dnn(split.x_train.shape[1:], 2, context=11, dae_hidden=8, bottleneck=4,
                          hidden=(8,))
    trainer = dae_dnn_window_trainer(model)
    train, val = window_datasets(config, row, trainer, split, seed=1)
    trained = {int(c) for w, _ in train.as_numpy_iterator() for c in w[:, 0, 0]}
    validated = {int(c) for w, _ in val.as_numpy_iterator() for c in w[:, 0, 0]}
    held = set(split.x_val[:, 0, 0].astype(int).tolist())
    assert trained == set(split.x_train[:, 0, 0].astype(int).tolist())
    assert validated == held and held and not trained & held
    assert not trained & set(test.tolist()) and not validated & set(test.tolist())
    groups = data.groups
    assert not {groups[c] for c in trained} & {groups[c] for c in held}  # sessions stay whole


@pytest.mark.slow
def test_an_epoch_is_windows_over_batch_updates_and_trains_the_saved_chunk_model():
    """The DAE-DNN with SGD, as its authors: its DAE pretrained on 7-frame windows, its
    bottleneck re-standardised, then the DNN trained window by window through the window
    model that shares the chunk model's layers."""
    from kerastag.config import ExperimentConfig, RowConfig, TrainingConfig
    from kerastag.models.dcase2016 import dae_dnn_window_trainer
    from kerastag.tasks.tagging.training import Split, train_tagger

    rng = np.random.default_rng(0)
    y = (rng.random((16, 3)) < 0.5).astype(np.float32)
    x = rng.normal(size=(16, 60, 5)).astype(np.float32) + y[:, None, :1]
    row = RowConfig(id="dae", network="dae_dnn", args={
        "dae_hidden": 8, "bottleneck": 4, "context": 20, "hidden": [8], "dae_epochs": 1})
    config = ExperimentConfig(name="w", rows=(row,), training=TrainingConfig(
        epochs=2, patience=5, batch_size=7, verbose=0, optimizer="sgd", learning_rate=0.005,
        frame_window_hop=6))
    model, history = train_tagger(config, row, Split(x[:12], y[:12], x[12:], y[12:]), seed=3)
    trainer = dae_dnn_window_trainer(model)
    windows = 12 * len(range(0, 60 - trainer.length + 1, 6))
    assert history["windows"].tolist() == [windows] * 2
    assert history["updates"].tolist() == [math.ceil(windows / 7), 2 * math.ceil(windows / 7)]
    import keras

    bottleneck = keras.Model(model.input, model.get_layer("bottleneck_norm").output)
    standardised = bottleneck.predict(x[:12], verbose=0).reshape(-1, 4)  # by the DAE's
    np.testing.assert_allclose(standardised.mean(axis=0), 0, atol=1e-4)   # training frames
    np.testing.assert_allclose(standardised.std(axis=0), 1, atol=1e-3)
    # the chunk score is the mean of the trained window model's scores, every frame's window
    window_scores = trainer.model.predict(
        np.stack([np.concatenate([x[12, :trainer.head], x[12, s:s + trainer.length]])
                  for s in range(0, 60 - trainer.length + 1)]), verbose=0)
    np.testing.assert_allclose(model.predict(x[12:13], verbose=0)[0], window_scores.mean(axis=0),
                               atol=1e-5)


def test_the_cgrnn_window_model_scores_what_the_chunk_model_averages():
    import keras

    from kerastag.models.dcase2016 import build_cgrnn_imd, cgrnn_window_trainer

    model = build_cgrnn_imd((80, 50), 3, n_mels=10, filters=4, mel_kernel=5, imd_kernel=20,
                            rnn_units=4, rnn_layers=2, dense_units=8, window_hop=5,
                            input_mean=np.ones(50), input_variance=np.full(50, 2.0))
    trainer = cgrnn_window_trainer(model)
    assert (trainer.length, trainer.head, trainer.default_hop) == (33, 0, 10)
    x = np.random.default_rng(1).normal(size=(2, 80, 50)).astype(np.float32)
    per_window = keras.Model(model.input, model.get_layer("window_probs").output)
    expected = np.asarray(per_window.predict(x, verbose=0)).reshape(2, -1, 3)
    for k in (0, 4, 9):
        np.testing.assert_allclose(trainer.model.predict(x[:, 5 * k:5 * k + 33], verbose=0),
                                   expected[:, k], atol=1e-6)
    assert {w.path for w in trainer.model.trainable_weights} == \
        {w.path for w in model.trainable_weights}


def test_frame_windows_on_a_family_without_windows_is_one_line():
    from kerastag.config import ExperimentConfig, RowConfig

    with pytest.raises(ConfigError, match=r"rows\[0\]\.training\.samples: 'frame_windows' needs a "
                                          r"family scored over windows of frames \(dae_dnn, "
                                          r"cgrnn_imd\); attloc_imd reads the whole chunk"):
        ExperimentConfig(name="w", rows=(RowConfig(network="attloc_imd",
                                                   training={"samples": "frame_windows"}),))
    config = ExperimentConfig(name="w", rows=(RowConfig(network="cgrnn_imd"),
                                              RowConfig(network="attloc_imd"), RowConfig()))
    assert [config.samples_of(row) for row in config.rows] == ["frame_windows", "chunks", "chunks"]


def test_a_cgrnn_reading_whole_chunks_has_no_windows_to_train_on():
    from kerastag.models.dcase2016 import build_cgrnn_imd
    from kerastag.tasks.tagging.frame_windows import window_trainer

    model = build_cgrnn_imd((60, 50), 3, n_mels=10, filters=4, mel_kernel=5, imd_kernel=20,
                            rnn_units=4, rnn_layers=1, dense_units=8, window=None)
    with pytest.raises(ConfigError, match=r"^rows\[1\] 'cg': cgrnn_imd with window: null reads "
                                          r"the whole chunk.*use training.samples: chunks$"):
        window_trainer("cgrnn_imd", model, "rows[1] 'cg'")
