"""Window-level training (``training.samples: frame_windows``) of the Table 1 baselines
whose chunk score is the mean over windows of frames: the DAE-DNN and the CGRNN.

Their authors trained each window as a sample carrying its chunk's tags (DAE-DNN: 91
bottleneck frames every 7 frames, CGRNN: 33 frames every 10), shuffled across chunks,
in batches of windows. Here the window model of the family (its declaration's
``frame_window_trainer``, :mod:`kerastag.families`) shares the chunk model's layers, so
fitting it trains the saved chunk model, which still scores a chunk as the mean over its
windows (at the builder's ``window_hop``). Early stopping reads the validation chunks'
windows; the holdout split chunks (:meth:`TaggingTask._split`), so a chunk's windows are
all on one side. A training epoch is ``ceil(windows / batch_size)`` updates; the history
records ``windows`` (per epoch) and ``updates`` (so far).
"""

from __future__ import annotations

import keras
import numpy as np

from kerastag.config import ExperimentConfig, RowConfig
from kerastag.errors import ConfigError, ModelError
from kerastag.families import family as declared_family


def window_trainer(family: str, model, where: str):
    """The family's :class:`kerastag.models.dcase2016.FrameWindowTrainer` for ``model``;
    a model without windows, or a family declaring no frame-window training, is a
    ConfigError naming ``where``."""
    declared = declared_family(family)
    if not declared.frame_windows:
        raise ConfigError(f"{where}: {declared.refusal('frame-window training')}")
    try:
        return declared.hook("frame_window_trainer")(model)
    except ModelError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def training_hop(config: ExperimentConfig, trainer) -> int:
    """Frames between training windows: ``training.frame_window_hop``, else the family's
    authors' hop."""
    return config.training.frame_window_hop or trainer.default_hop


def count_windows(x: np.ndarray, trainer, hop: int) -> int:
    """Training windows of the chunks ``x`` ``(chunks, frames, bins)``."""
    from kerastag.pipeline import frame_window_starts

    return len(x) * len(frame_window_starts(x.shape[1], trainer.length, hop))


def window_datasets(config: ExperimentConfig, row: RowConfig, trainer, split, *, seed: int):
    """``(train, val)``: the split's training chunks' windows, shuffled and mixed, and
    its validation chunks' windows in order, ``training.batch_size`` windows a batch."""
    from kerastag.mixing import MixingSpec
    from kerastag.pipeline import frame_window_dataset

    t = config.training
    cut = {"length": trainer.length, "head": trainer.head, "hop": training_hop(config, trainer),
           "batch_size": t.batch_size}
    train = frame_window_dataset(split.x_train, split.y_train, seed=seed,
                                 mixing=MixingSpec(row.mixing, row.alpha), **cut)
    val = frame_window_dataset(split.x_val, split.y_val, **cut)
    return train, val


def fit_frame_windows(config: ExperimentConfig, row: RowConfig, family: str, model, split, *,
                      seed: int, fine_tune=None):
    """Train ``model`` (compiled or not) one window of frames at a time.

    Args:
        config: the row's config (its ``training`` already the row's).
        fine_tune: None, or (``init_from``) ``fine_tune(train, val, n_train, fitted=,
            recompile=, extra_callbacks=)`` that starts ``model`` from a trained model's
            layers and fits ``fitted`` (see :func:`kerastag.tasks.tagging.training.fine_tune`).

    Returns:
        ``(model, history)``: the chunk model, trained; one history line per epoch with
        ``windows`` and ``updates`` beside Keras' logs.
    """
    from kerastag.fitting import compile_model, distribution_strategy, fit, steps_per_epoch

    where = f"rows[{config.rows.index(row)}] {row.name!r}"
    trainer = window_trainer(family, model, where)
    train, val = window_datasets(config, row, trainer, split, seed=seed)
    n_windows = count_windows(split.x_train, trainer, training_hop(config, trainer))
    counter = UpdateCounter()

    def recompile(window_model, phase_config):
        compile_model(window_model, phase_config, loss=keras.losses.BinaryCrossentropy(),
                      metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
                      steps_per_epoch=steps_per_epoch(n_windows, phase_config.training.batch_size))

    if fine_tune is not None:
        _, history = fine_tune(train, val, n_windows, fitted=trainer.model, recompile=recompile,
                               extra_callbacks=[counter])
    else:
        with distribution_strategy().scope():
            recompile(trainer.model, config)
        _, history = fit(trainer.model, config, train, val, [counter])
    return model, history.assign(windows=n_windows, updates=counter.updates)


class UpdateCounter(keras.callbacks.Callback):
    """Counts optimizer updates epoch by epoch (``updates``: the total after each epoch),
    across recompilations (fine-tuning's two phases)."""

    def __init__(self):
        super().__init__()
        self.updates: list[int] = []
        self._start = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = int(self.model.optimizer.iterations)

    def on_epoch_end(self, epoch, logs=None):
        done = int(self.model.optimizer.iterations) - self._start
        self.updates.append((self.updates[-1] if self.updates else 0) + done)
