"""Training one model, for any task: seeding, compiling, fitting with early stopping,
the distribution strategy and scoring. What a model *is* belongs to the task."""

from __future__ import annotations

import contextlib
import dataclasses
import zlib

import numpy as np
import pandas as pd

from kerastag.config import ExperimentConfig


def unit_seed(base_seed: int, row_name: str, fold: str) -> int:
    """A seed fixed by the experiment seed, the row and the fold (stable across restarts)."""
    return (base_seed * 1_000_003 + zlib.crc32(f"{row_name}/{fold}".encode())) % (2**31 - 1)


def holdout_indices(n: int, fraction: float, seed: int,
                    groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` into (train, validation) with a seeded ``fraction`` held out.

    Args:
        n: number of items.
        fraction: share held out for validation (at least one item).
        seed: the split's seed.
        groups: ``(n,)`` group of each item (e.g. the recording session of a CHiME-Home
            chunk); a group is held out whole, so no group is on both sides. None (or all
            groups distinct) gives the plain seeded split.

    Returns:
        ``(train, validation)`` sorted index arrays.
    """
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * fraction)))
    if groups is None:
        return np.sort(order[n_val:]), np.sort(order[:n_val])
    groups = np.asarray(groups)
    held = np.zeros(n, dtype=bool)
    for index in order:  # whole groups, in the seeded order, until n_val items are held
        if held.sum() >= n_val:
            break
        same = groups == groups[index]
        if not held[index] and (held | same).sum() < n:
            held |= same
    if not held.any():  # one group holds every item: it cannot be kept whole
        return np.sort(order[n_val:]), np.sort(order[:n_val])
    return np.flatnonzero(~held), np.flatnonzero(held)


def distribution_strategy():
    """MirroredStrategy over all GPUs when there are several, else the default strategy."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


def configure_process(threads: int | None) -> str | None:
    """Thread and GPU-memory settings of the process that trains units; call before any
    TensorFlow op runs (a Ray worker does it on its first unit).

    ``threads`` sets TensorFlow's intra- and inter-op pools (None keeps its defaults:
    every core). Each visible GPU gets memory growth, so units packed onto one GPU by Ray
    take what they use instead of all of it.

    Returns:
        None, or a one-line warning when TensorFlow had already started with other
        threads in this process (they cannot change then; the run goes on with them).
    """
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised: keep what it has
            pass
    if threads is None:
        return None
    current = (tf.config.threading.get_intra_op_parallelism_threads(),
               tf.config.threading.get_inter_op_parallelism_threads())
    if current == (threads, threads):
        return None
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        return (f"execution.threads_per_unit: TensorFlow had already started in this process, "
                f"so its threads stay as they were (intra/inter-op {current[0]}/{current[1]}, "
                f"0 = every core)")
    return None


def start_unit(config: ExperimentConfig, seed: int, *, keep_traces: bool = False) -> None:
    """Fresh Keras state for one unit: names, seeds, precision policy.

    Args:
        keep_traces: keep TensorFlow's cached function instances (a unit trained in a
            kept compiled model, :mod:`kerastag.compiled_models`). Keras' ``clear_session``
            and TensorFlow's ``set_seed`` both drop every instantiated function of the
            process, so the kept model's steps would be re-instantiated and re-optimised
            on their first call (about as long as tracing them: ~3.5 s a unit on the
            demo). What that clearing also does, restarting stateful random kernels,
            concerns no kept model: Keras' random ops are stateless, their state lives in
            the variables copied into the kept model.
    """
    import keras
    import tensorflow as tf

    with _tf_caches_kept(keep_traces):
        keras.backend.clear_session()  # fresh layer names: a unit's model is named as ever
        keras.utils.set_random_seed(seed)
    if config.training.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(config.training.precision)


@contextlib.contextmanager
def _tf_caches_kept(keep: bool):
    """Within it (when ``keep``), TensorFlow's eager context does not clear its caches.

    No public API resets Keras' names and TensorFlow's seed without clearing them, so the
    one call that clears (``TFE_ContextClearCaches``, through which ``clear_session``
    and ``set_seed`` both go) is set aside for the duration."""
    from tensorflow.python.eager import context

    bindings = getattr(context, "pywrap_tfe", None)
    if not keep or not hasattr(bindings, "TFE_ContextClearCaches"):
        yield
        return
    clear = bindings.TFE_ContextClearCaches
    bindings.TFE_ContextClearCaches = lambda handle: None
    try:
        yield
    finally:
        bindings.TFE_ContextClearCaches = clear


def compile_model(model, config: ExperimentConfig, *, loss, metrics, steps_per_epoch: int) -> None:
    """``training.optimizer`` (Adam, or SGD with ``training.momentum``) at the configured
    learning rate (cosine-decayed over all epochs when asked)."""
    import keras

    t = config.training
    rate = t.learning_rate
    if t.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(t.learning_rate,
                                                      decay_steps=max(1, steps_per_epoch * t.epochs))
    model.compile(optimizer=make_optimizer(t, rate), loss=loss, metrics=metrics,
                  steps_per_execution=t.steps_per_execution)


def make_optimizer(training, rate):
    """``training.optimizer`` at ``rate`` (a number or a Keras schedule): Adam, or SGD with
    ``training.momentum``."""
    import keras

    if training.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=training.momentum)
    return keras.optimizers.Adam(rate)


def fit(model, config: ExperimentConfig, train, val, extra_callbacks=()):
    """Fit with early stopping on the validation loss, restoring the best weights;
    ``extra_callbacks`` are added to Keras' fit.

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
    callbacks += list(extra_callbacks)
    fitted = model.fit(train, validation_data=val, epochs=t.epochs, callbacks=callbacks,
                       verbose=t.verbose, shuffle=False)  # the datasets shuffle themselves
    history = pd.DataFrame(fitted.history)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    return model, history


def fine_tune_rate(config: ExperimentConfig) -> float:
    """The learning rate of fine-tuning's second phase: ``training.fine_tune_learning_rate``,
    else a tenth of ``training.learning_rate`` (the head is trained by then; a large step
    would wash out what the transferred body knows)."""
    t = config.training
    return t.fine_tune_learning_rate if t.fine_tune_learning_rate is not None else t.learning_rate / 10


def fit_fine_tuning(model, config: ExperimentConfig, train, val, *, body, recompile,
                    extra_callbacks=()):
    """Fine-tuning in two phases, each early-stopped on its own (restoring its best weights).

    Phase 1 (``training.freeze_epochs`` epochs, at ``learning_rate``): the transferred
    ``body`` layers are frozen (``trainable=False``; a frozen BatchNormalization also runs
    in inference mode, keeping the source's statistics), only the new head(s) learn.
    Phase 2 (the remaining epochs, at :func:`fine_tune_rate`): everything learns. With
    ``freeze_epochs: 0`` it is one ordinary :func:`fit` from the transferred weights.

    Args:
        model: the model with transferred weights, compiled or not.
        body: the transferred layers.
        recompile: ``recompile(model, config)`` compiles the model with the task's loss
            and metrics for ``config`` (its ``training.learning_rate`` and ``epochs`` are
            the phase's); Keras needs it after ``trainable`` changes.

    Returns:
        ``(model, history)``: one history line per epoch of both phases, numbered on, with
        a ``phase`` column (1 or 2).
    """
    t = config.training
    head_epochs = min(t.freeze_epochs, t.epochs)
    phases = [(1, head_epochs, t.learning_rate, False), (2, t.epochs - head_epochs,
                                                          fine_tune_rate(config), True)]
    if head_epochs == 0:
        phases = [(2, t.epochs, t.learning_rate, True)]
    histories = []
    for phase, epochs, rate, trainable in phases:
        if epochs == 0:
            continue
        phase_config = dataclasses.replace(
            config, training=dataclasses.replace(t, epochs=epochs, learning_rate=rate))
        for layer in body:
            layer.trainable = trainable
        with distribution_strategy().scope():
            recompile(model, phase_config)
        model, history = fit(model, phase_config, train, val, extra_callbacks)
        histories.append(history.assign(phase=phase))
    for layer in body:  # the saved model is an ordinary, trainable one
        layer.trainable = True
    history = pd.concat(histories, ignore_index=True)
    history["epoch"] = np.arange(1, len(history) + 1)
    return model, history


def steps_per_epoch(n_clips: int, batch_size: int) -> int:
    return max(1, -(-n_clips // batch_size))


def predict_scores(model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Clip probabilities ``(clips, classes)`` float32 for features ``x``."""
    from kerastag.pipeline import evaluation_dataset

    if len(x) == 0:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    return np.asarray(model.predict(evaluation_dataset(x, batch_size=batch_size), verbose=0),
                      dtype=np.float32)
