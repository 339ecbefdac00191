"""Training one model: compile, fit with early stopping, and the distribution strategy."""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pandas as pd

from kerastag.config import ExperimentConfig, RowConfig


@dataclasses.dataclass
class Split:
    """Arrays of one training unit (a row on a fold)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def unit_seed(base_seed: int, row_name: str, fold: str) -> int:
    """A seed fixed by the experiment seed, the row and the fold (stable across restarts)."""
    return (base_seed * 1_000_003 + zlib.crc32(f"{row_name}/{fold}".encode())) % (2**31 - 1)


def holdout_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` into (train, validation) with a seeded ``fraction`` held out."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * fraction)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def distribution_strategy():
    """MirroredStrategy over all GPUs when there are several, else the default strategy."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


def build_model(config: ExperimentConfig, x_train: np.ndarray, n_classes: int):
    """The configured network, compiled with Adam and binary cross-entropy.

    Args:
        x_train: training features ``(clips, frames, mels)``; with ``input_norm: dataset``
            their per-mel-bin mean and variance become the model's input standardisation.
    """
    import keras

    from kerastag.models.crnn import build_crnn_attloc

    m = config.model
    stats = {}
    if m.input_norm == "dataset":
        stats = {"input_mean": x_train.mean(axis=(0, 1)), "input_variance": x_train.var(axis=(0, 1))}
    model = build_crnn_attloc(n_mels=config.features.n_mels, n_classes=n_classes,
                              n_frames=x_train.shape[1], filters=m.filters, rnn_units=m.rnn_units,
                              gated_rnn=m.gated_rnn, dropout=m.dropout,
                              input_batchnorm=m.input_norm == "batchnorm", **stats)
    model.compile(optimizer=keras.optimizers.Adam(config.training.learning_rate),
                  loss=keras.losses.BinaryCrossentropy(),
                  metrics=[keras.metrics.BinaryAccuracy(name="accuracy")])
    return model


def train_unit(config: ExperimentConfig, row: RowConfig, split: Split, *, seed: int):
    """Fit one model with early stopping on the validation loss.

    Returns:
        ``(model, history)``: the model with its best weights restored, and a DataFrame
        with columns ``epoch, loss, accuracy, val_loss, val_accuracy``.
    """
    import keras
    import tensorflow as tf

    from kerastag.mixing import MixingSpec
    from kerastag.pipeline import evaluation_dataset, training_dataset

    keras.backend.clear_session()  # one graph per unit, not a growing pile of them
    keras.utils.set_random_seed(seed)
    if config.training.deterministic:
        tf.config.experimental.enable_op_determinism()
    t = config.training
    with distribution_strategy().scope():
        model = build_model(config, split.x_train, split.y_train.shape[1])
    train = training_dataset(split.x_train, split.y_train, batch_size=t.batch_size,
                             mixing=MixingSpec(row.augmentation, row.alpha), seed=seed)
    val = evaluation_dataset(split.x_val, split.y_val, batch_size=t.batch_size)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=t.patience,
                                         restore_best_weights=True)
    fitted = model.fit(train, validation_data=val, epochs=t.epochs, callbacks=[stop],
                       verbose=t.verbose, shuffle=False)  # the dataset shuffles itself
    history = pd.DataFrame(fitted.history)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    return model, history


def predict_scores(model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Clip probabilities ``(clips, classes)`` float32 for features ``x``."""
    from kerastag.pipeline import evaluation_dataset

    if len(x) == 0:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    return np.asarray(model.predict(evaluation_dataset(x, batch_size=batch_size), verbose=0),
                      dtype=np.float32)
