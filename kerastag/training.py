"""Training one model: seeding, compiling, fitting with early stopping, the strategy."""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pandas as pd

from kerastag.config import ExperimentConfig


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


def start_unit(config: ExperimentConfig, seed: int) -> None:
    """Fresh Keras state for one unit: one graph per unit, seeds, precision policy."""
    import keras
    import tensorflow as tf

    keras.backend.clear_session()  # one graph per unit, not a growing pile of them
    keras.utils.set_random_seed(seed)
    if config.training.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(
        "mixed_float16" if config.training.mixed_precision else "float32")


def compile_model(model, config: ExperimentConfig, *, loss, metrics, steps_per_epoch: int) -> None:
    """Adam with the configured learning rate (cosine-decayed over all epochs when asked)."""
    import keras

    t = config.training
    rate = t.learning_rate
    if t.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(t.learning_rate,
                                                      decay_steps=max(1, steps_per_epoch * t.epochs))
    model.compile(optimizer=keras.optimizers.Adam(rate), loss=loss, metrics=metrics)


def fit(model, config: ExperimentConfig, train, val):
    """Fit with early stopping on the validation loss, restoring the best weights.

    Returns:
        ``(model, history)`` where history is a DataFrame with ``epoch`` and Keras' logs.
    """
    import keras

    t = config.training
    callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=t.patience,
                                               restore_best_weights=True)]
    if t.lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=t.lr_factor, patience=t.lr_patience))
    fitted = model.fit(train, validation_data=val, epochs=t.epochs, callbacks=callbacks,
                       verbose=t.verbose, shuffle=False)  # the datasets shuffle themselves
    history = pd.DataFrame(fitted.history)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    return model, history


def steps_per_epoch(n_clips: int, batch_size: int) -> int:
    return max(1, -(-n_clips // batch_size))


def build_crnn(config: ExperimentConfig, x_train: np.ndarray, n_classes: int):
    """Paper A's CRNN, compiled with binary cross-entropy.

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
    with distribution_strategy().scope():
        model = build_crnn_attloc(n_mels=config.features.n_mels, n_classes=n_classes,
                                  n_frames=x_train.shape[1], filters=m.filters, rnn_units=m.rnn_units,
                                  gated_rnn=m.gated_rnn, dropout=m.dropout,
                                  input_batchnorm=m.input_norm == "batchnorm", **stats)
        compile_model(model, config, loss=keras.losses.BinaryCrossentropy(),
                      metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
                      steps_per_epoch=steps_per_epoch(len(x_train), config.training.batch_size))
    return model


def train_crnn(config: ExperimentConfig, row, split: Split, *, seed: int):
    """Fit paper A's CRNN on one split with the row's sample mixing."""
    from kerastag.mixing import MixingSpec
    from kerastag.pipeline import evaluation_dataset, training_dataset

    start_unit(config, seed)
    t = config.training
    model = build_crnn(config, split.x_train, split.y_train.shape[1])
    train = training_dataset(split.x_train, split.y_train, batch_size=t.batch_size,
                             mixing=MixingSpec(row.augmentation, row.alpha), seed=seed)
    val = evaluation_dataset(split.x_val, split.y_val, batch_size=t.batch_size)
    return fit(model, config, train, val)


def predict_scores(model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Clip probabilities ``(clips, classes)`` float32 for features ``x``."""
    from kerastag.pipeline import evaluation_dataset

    if len(x) == 0:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    return np.asarray(model.predict(evaluation_dataset(x, batch_size=batch_size), verbose=0),
                      dtype=np.float32)
