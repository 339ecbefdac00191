"""What Table 1's baselines need beyond ``build, compile, fit``.

- The DAE-DNN's denoising auto-encoder is pretrained without labels on the training
  folds' MFCC frames (:func:`pretrain_dae`); its encoder is then frozen (or fine-tuned,
  ``fine_tune_dae: true``) while the DNN trains.
- The challenge's GMM baseline is fitted by EM, not by gradient descent (:func:`fit_gmm`).
- The networks standardise their input with the training folds' statistics
  (:func:`input_statistics`), saved inside the model.

Their declarations (:mod:`kerastag.families`) name these hooks: ``pretrain``
(:func:`pretrain_dae`), ``fit`` (:func:`fit_gmm`), ``settings`` (:data:`DAE_PRETRAINING`)
and ``standardise_input``.

Row ``args`` reach the builders; the pretraining settings (:data:`DAE_PRETRAINING`) and
the GMM's settings (:data:`GMM_SETTINGS`) are taken out of them here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kerastag.config import ExperimentConfig, RowConfig
from kerastag.errors import ConfigError, ModelError

#: The DAE's pretraining settings (row or ``model.args.dae_dnn`` keys) and defaults: the
#: authors' DAE trained 100 epochs on input dropout 0.1 corruption (SGD at 0.01:
#: ``dae_learning_rate``; None trains it at ``training.learning_rate``).
DAE_PRETRAINING = {"dae_epochs": 100, "dae_corruption": 0.1, "fine_tune_dae": False,
                   "dae_learning_rate": None}

#: The GMM baseline's settings and defaults (the challenge code's).
GMM_SETTINGS = {"n_components": 8, "covariance": "diag", "max_iter": 100, "tol": 1e-3,
                "reg_covar": 1e-3}


def input_statistics(x_train: np.ndarray) -> dict[str, np.ndarray]:
    """Per-bin mean and variance over clips and frames of ``(clips, frames, bins)``."""
    return {"input_mean": x_train.mean(axis=(0, 1)), "input_variance": x_train.var(axis=(0, 1))}


def family_args(config: ExperimentConfig, family: str, row: RowConfig) -> dict:
    """``model.args.<family>`` updated by the row's ``args``."""
    return dict(config.model.args.get(family, {})) | dict(row.args)


def split_settings(args: dict, settings: dict[str, object]) -> tuple[dict, dict]:
    """``(builder arguments, settings)``: the keys of ``settings`` taken out of ``args``
    (with their defaults filled in)."""
    builder = {k: v for k, v in args.items() if k not in settings}
    return builder, {k: args.get(k, default) for k, default in settings.items()}


def pretrain_dae(config: ExperimentConfig, row: RowConfig, model, x_train: np.ndarray, *,
                 seed: int, frame_windows: bool = False) -> pd.DataFrame:
    """Train the DAE around ``model``'s encoder on ``x_train`` (no labels), set the
    ``bottleneck_norm`` statistics from the training chunks' bottleneck frames, then
    freeze the encoder unless ``fine_tune_dae`` and compile ``model`` again.

    The DAE trains with ``training.optimizer`` at ``dae_learning_rate``, in batches of
    ``training.batch_size`` chunks, or with ``frame_windows`` of that many
    ``dae_context``-frame windows (every frame's, as the authors' ``main_DAE_keras.py``).

    Returns:
        The pretraining history (``epoch``, ``loss``: mean squared reconstruction error).
    """
    import keras

    from kerastag.fitting import compile_model, make_optimizer, steps_per_epoch
    from kerastag.models.dcase2016 import DAE_ENCODER_LAYERS, dae_autoencoder
    from kerastag.pipeline import frame_window_dataset

    _, settings = split_settings(family_args(config, config.family_of(row).name, row),
                                 DAE_PRETRAINING)
    t = config.training
    context = model.get_layer("dae_context").context
    autoencoder = dae_autoencoder(model, corruption=float(settings["dae_corruption"]),
                                  frames=context if frame_windows else None)
    rate = settings["dae_learning_rate"] or t.learning_rate
    autoencoder.compile(optimizer=make_optimizer(t, rate), loss="mse")
    epochs = int(settings["dae_epochs"])
    if frame_windows:  # one reconstructed centre frame a window: target (1, n_mfcc) zeros
        zeros = np.zeros((len(x_train), 1, x_train.shape[-1]), np.float32)
        windows = frame_window_dataset(x_train, zeros, length=context, head=0, hop=1,
                                       batch_size=t.batch_size, seed=seed)
        fitted = autoencoder.fit(windows, epochs=epochs, verbose=0, shuffle=False)
    else:
        target = np.zeros(autoencoder.compute_output_shape((None, *x_train.shape[1:]))[1:],
                          np.float32)
        targets = np.broadcast_to(target, (len(x_train), *target.shape))
        fitted = autoencoder.fit(x_train, targets, batch_size=t.batch_size, epochs=epochs,
                                 verbose=0, shuffle=True)
    set_bottleneck_statistics(model, x_train, batch_size=t.batch_size)
    for name in DAE_ENCODER_LAYERS:
        model.get_layer(name).trainable = bool(settings["fine_tune_dae"])
    compile_model(model, config, loss=keras.losses.BinaryCrossentropy(),
                  metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
                  steps_per_epoch=steps_per_epoch(len(x_train), t.batch_size))
    history = pd.DataFrame(fitted.history)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    return history


def set_bottleneck_statistics(model, x_train: np.ndarray, *, batch_size: int) -> None:
    """Set a DAE-DNN's ``bottleneck_norm`` to the per-unit mean and variance of the
    bottleneck frames of ``x_train`` ``(chunks, frames, n_mfcc)`` (no-op without one):
    the authors standardised the DAE features before the DNN."""
    import keras

    from kerastag.fitting import predict_scores

    if not any(layer.name == "bottleneck_norm" for layer in model.layers):
        return
    encoder = keras.Model(model.input, model.get_layer("dae_bottleneck").output)
    frames = predict_scores(encoder, x_train, batch_size).astype(np.float64)
    frames = frames.reshape(-1, frames.shape[-1])
    layer = model.get_layer("bottleneck_norm")
    layer.set_weights([frames.mean(axis=0).astype(np.float32),
                       frames.var(axis=0).astype(np.float32), np.asarray(len(frames), np.int64)])
    layer.finalize_state()  # the layer computes with tensors made from its weights here


def fit_gmm(config: ExperimentConfig, row: RowConfig, split, *, seed: int):
    """Fit the challenge's GMM baseline on the training split's MFCC frames.

    EM has no early stopping, so the holdout is fitted too: every training-fold chunk, in
    dataset order (k-means picks its starting frames by position), as the challenge
    code did. Returns ``(TagGmms, history)`` with one history line:
    ``loss`` and ``val_loss``, the binary cross-entropy of ``sigmoid(score)`` on the
    training and holdout chunks (a summary for the history plots).
    """
    from kerastag.models.gmm import TagGmms

    family = config.family_of(row).name
    args = family_args(config, family, row)
    unknown = sorted(set(args) - set(GMM_SETTINGS))
    if unknown:
        raise ConfigError(f"model.args.{family}: unknown argument {unknown[0]!r}; "
                          f"valid: {', '.join(GMM_SETTINGS)}")
    _, settings = split_settings(args, GMM_SETTINGS)
    x = np.concatenate([split.x_train, split.x_val])
    y = np.concatenate([split.y_train, split.y_val])
    if split.train_index is not None:  # dataset order: k-means starts from the same frames
        order = np.argsort(np.concatenate([split.train_index, split.val_index]), kind="stable")
        x, y = x[order], y[order]
    try:
        model = TagGmms.fit(x, y, seed=seed % (2 ** 32), **settings)
    except ModelError as exc:
        raise ConfigError(f"rows {row.name}: {exc}") from None
    history = pd.DataFrame({"epoch": [1], "loss": [_side_nll(model, split.x_train, split.y_train)],
                            "val_loss": [_side_nll(model, split.x_val, split.y_val)]})
    return model, history


def _side_nll(model, x: np.ndarray, y: np.ndarray) -> float:
    """Mean over clips and tags of ``softplus(-llr)`` for present, ``softplus(llr)`` for
    absent tags: the binary cross-entropy of ``sigmoid(mean frame LLR)``."""
    if len(x) == 0:
        return float("nan")
    llr = model.predict(x).astype(np.float64)
    signed = np.where(y > 0.5, -llr, llr)
    return float(np.logaddexp(0.0, signed).mean())
