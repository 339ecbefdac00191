"""Paper A's training: a tagger fitted on one fold with the row's sample mixing.

The model family is the row's ``network`` or the config's ``model.type``, and its
declaration (:mod:`kerastag.families`) says how it is built and trained: from the
``model:`` section (paper A's CRNN) or from ``(input_shape, n_classes,
**model.args[family], **row.args)`` (any other family; a model with sigmoid outputs
``(batch, n_classes)``), with the training data's input statistics, a pretraining hook
(the DAE-DNN's auto-encoder), a fitting hook replacing gradient descent (the challenge's
GMM), or one window of frames at a time (:mod:`kerastag.tasks.tagging.frame_windows`:
the DAE-DNN and CGRNN, as their authors did). A row's ``training`` overrides apply
throughout."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from kerastag.config import ExperimentConfig, RowConfig
from kerastag.errors import ConfigError, ModelError
from kerastag.fitting import compile_model, distribution_strategy, fit, start_unit, steps_per_epoch
from kerastag.families import ModelFamily


@dataclasses.dataclass
class Split:
    """Arrays of one training unit (a row on a fold): one sample per window of a clip
    (see :mod:`kerastag.tasks.tagging.task`), carrying its clip's tags."""

    x_train: np.ndarray    # (windows, frames, bins)
    y_train: np.ndarray    # (windows, classes) multi-hot
    x_val: np.ndarray
    y_val: np.ndarray
    train_index: np.ndarray | None = None  # the windows' positions in the dataset's windows
    val_index: np.ndarray | None = None


def build_crnn(config: ExperimentConfig, x_train: np.ndarray, n_classes: int):
    """Paper A's CRNN, compiled with binary cross-entropy.

    Args:
        x_train: training features ``(windows, frames, mels)``; with ``input_norm: dataset``
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
                                  input_batchnorm=m.input_norm == "batchnorm",
                                  fused_blocks=m.fused_blocks, **stats)
        compile_model(model, config, loss=keras.losses.BinaryCrossentropy(),
                      metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
                      steps_per_epoch=steps_per_epoch(len(x_train), config.training.batch_size))
    return model


def build_family(config: ExperimentConfig, family: ModelFamily, row: RowConfig,
                 x_train: np.ndarray, n_classes: int):
    """A declared model family for ``(frames, mels)`` inputs, compiled with binary
    cross-entropy; a bad builder argument is a ConfigError naming the config key."""
    import keras

    from kerastag.tasks.tagging.baselines import family_args, split_settings

    kwargs = family_args(config, family.name, row)
    if family.settings is not None:
        kwargs, _ = split_settings(kwargs, family.hook("settings"))
    with distribution_strategy().scope():
        try:
            model = family.hook("builder")(tuple(x_train.shape[1:]), n_classes, **kwargs)
        except (TypeError, ModelError) as exc:
            raise ConfigError(f"model.args.{family.name}: {exc}") from None
        compile_model(model, config, loss=keras.losses.BinaryCrossentropy(),
                      metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
                      steps_per_epoch=steps_per_epoch(len(x_train), config.training.batch_size))
    return model


def build_tagger(config: ExperimentConfig, row: RowConfig, x_train: np.ndarray, n_classes: int):
    """The row's model, built as its family declares: from the ``model:`` section (paper
    A's CRNN) or from the family's ``args``, with the training data's input statistics
    when it standardises its input."""
    from kerastag.tasks.tagging.baselines import input_statistics

    family = config.family_of(row)
    if family.args_in_model_section:
        return build_crnn(config, x_train, n_classes)
    if family.standardise_input:
        row = dataclasses.replace(row, args=input_statistics(x_train) | dict(row.args))  # type: ignore[arg-type]
    return build_family(config, family, row, x_train, n_classes)


def train_tagger(config: ExperimentConfig, row: RowConfig, split: Split, *, seed: int):
    """Fit the row's tagger on one split with the row's sample mixing.

    Returns:
        ``(model, history)``: a Keras model, or the GMM baseline's
        :class:`kerastag.models.gmm.TagGmms`; one history line per epoch.
    """
    from kerastag.mixing import MixingSpec
    from kerastag.pipeline import evaluation_dataset, training_dataset

    frame_windows = config.samples_of(row) == "frame_windows"
    config = dataclasses.replace(config, training=config.training_of(row))
    family = config.family_of(row)
    if family.fit is not None:
        return family.hook("fit")(config, row, split, seed=seed)
    source = config.init_from_of(row)
    reuse = config.execution.reuse_models and _reusable(family, frame_windows, source)
    start_unit(config, seed, keep_traces=reuse)
    t = config.training
    model = build_tagger(config, row, split.x_train, split.y_train.shape[1])
    if reuse:
        from kerastag.compiled_models import reuse_compiled

        model = reuse_compiled(model)
    if family.pretrain is not None and source is None:  # a fine-tuned model starts from its source
        family.hook("pretrain")(config, row, model, split.x_train, seed=seed,
                                frame_windows=frame_windows)
    if frame_windows:
        from kerastag.tasks.tagging.frame_windows import fit_frame_windows

        tune = None if source is None else functools.partial(fine_tune, config, row, family.name,
                                                             model, source)
        return fit_frame_windows(config, row, family.name, model, split, seed=seed,
                                 fine_tune=tune)
    train = training_dataset(split.x_train, split.y_train, batch_size=t.batch_size,
                             mixing=MixingSpec(row.mixing, row.alpha), seed=seed)
    val = evaluation_dataset(split.x_val, split.y_val, batch_size=t.batch_size)
    if source is not None:
        return fine_tune(config, row, family.name, model, source, train, val, len(split.x_train))
    return fit(model, config, train, val)


def _reusable(family: ModelFamily, frame_windows: bool, source) -> bool:
    """Whether the unit trains in its architecture's kept compiled model
    (:mod:`kerastag.compiled_models`): a plain fit of the model as built. Fine-tuning
    recompiles, frame windows train a window model, and pretraining (the DAE-DNN's) sets
    statistics a trace would hold as constants: those units build their own."""
    return not frame_windows and source is None and family.pretrain is None


def fine_tune(config: ExperimentConfig, row: RowConfig, family: str, model, source, train, val,
              n_train: int, *, fitted=None, recompile=None, extra_callbacks=()):
    """Fit ``model`` from the trained layers of the ``source`` file (see
    :mod:`kerastag.models.transfer`), head first for ``training.freeze_epochs`` epochs.

    Args:
        n_train: training samples per epoch (the learning-rate schedule's steps).
        fitted: the model fitted on ``train`` when it is not ``model`` itself (a window
            model sharing ``model``'s layers); ``recompile(fitted, config)`` compiles it.

    Returns:
        ``(model, history)``.
    """
    import keras

    from kerastag.fitting import fit_fine_tuning
    from kerastag.models.transfer import load_source, transfer_weights

    where = f"rows[{config.rows.index(row)}] {row.name!r}"
    moved = transfer_weights(model, load_source(source, where), family=family, where=where,
                             source_path=source)

    def compile_chunk_model(model, phase_config):
        compile_model(model, phase_config, loss=keras.losses.BinaryCrossentropy(),
                      metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
                      steps_per_epoch=steps_per_epoch(n_train, phase_config.training.batch_size))

    _, history = fit_fine_tuning(fitted or model, config, train, val, body=moved.transferred,
                                 recompile=recompile or compile_chunk_model,
                                 extra_callbacks=extra_callbacks)
    return model, history


