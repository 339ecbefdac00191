"""Trace once, train many: one compiled Keras model per architecture in a process.

Keras traces a model's training, evaluation and prediction steps into TensorFlow graphs
the first time they run: seconds per model on a CPU, against about a second for a later
epoch of the demo. The units of a grid differ mostly in their data (the ten CRNN rows of
Table 1 differ only in the input pipeline's mixing), so a process keeps one compiled
model per architecture and trains every unit of that architecture in it.

A unit's model is still built from the unit's seed exactly as without reuse; its state is
then copied into the kept model: every variable (weights, batch-norm statistics, the
input standardisation's statistics and the dropout layers' random-generator state), the
optimizer's variables as they were before any step (iterations, learning rate, slots)
and reset metrics. The traced functions read variables only, so a unit trained in the
kept model gives the same weights, history and predictions as one trained in its own.

The kept model is the unit's until the next unit of its architecture starts in this
process: save or score it before then (the runner does). ``execution.reuse_models:
false`` turns this off. Each process has its own models: a Ray worker keeps them between
the units it runs. ``kerastag evaluate`` and the predictors of clip scores
(:func:`reuse_for_inference`) likewise predict through one kept model per architecture.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json

#: How many architectures a process keeps (the oldest used is dropped beyond it).
MAX_KEPT = 8


@dataclasses.dataclass
class _Kept:
    model: object
    optimizer_state: list | None  # the optimizer's variables before any step; None: inference


_kept: collections.OrderedDict[str, _Kept] = collections.OrderedDict()


def reuse_compiled(model):
    """The process's compiled model of ``model``'s architecture and compile settings,
    holding ``model``'s state and a fresh optimizer; ``model`` itself (kept for the next
    unit) when it is the first of its kind.

    Args:
        model: a freshly built and compiled ``keras.Model`` (not yet trained).

    Returns:
        The ``keras.Model`` to train.
    """
    import keras

    key = _key(model, compiled=True)
    kept = _kept.get(key)
    if kept is None:
        _build_optimizer(model)
        _keep(key, _Kept(model, [keras.ops.convert_to_numpy(v)
                                 for v in _optimizer_variables(model)]))
        return model
    _kept.move_to_end(key)
    copy_state(model, kept.model)
    for variable, value in zip(_optimizer_variables(kept.model), kept.optimizer_state):
        variable.assign(value)
    for metric in kept.model.metrics:
        metric.reset_state()
    kept.model.stop_training = False
    return kept.model


def reuse_for_inference(model):
    """The process's model of ``model``'s architecture holding ``model``'s weights (its
    prediction step traced once for all of them); ``model`` itself the first time, and
    anything that is not a ``keras.Model`` (the GMM baseline's file) unchanged."""
    import keras

    if not isinstance(model, keras.Model):
        return model
    key = _key(model, compiled=False)
    kept = _kept.get(key)
    if kept is None:
        _keep(key, _Kept(model, None))
        return model
    _kept.move_to_end(key)
    copy_state(model, kept.model)
    return kept.model


def copy_state(source, target) -> None:
    """Assign every variable of ``source`` (weights, statistics, random-generator state)
    to the matching variable of ``target``, a model of the same architecture.

    Raises:
        ValueError: the two models' variables differ in number or shape.
    """
    sources, targets = source.variables, target.variables
    if len(sources) != len(targets):
        raise ValueError(f"copy_state: {len(sources)} variables into {len(targets)}")
    for src, dst in zip(sources, targets):
        if tuple(src.shape) != tuple(dst.shape):
            raise ValueError(f"copy_state: {src.path} {tuple(src.shape)} into {dst.path} "
                             f"{tuple(dst.shape)}")
        dst.assign(src)


def forget() -> None:
    """Drop every kept model (tests; freeing memory)."""
    _kept.clear()


def kept_count() -> int:
    """How many compiled models this process keeps."""
    return len(_kept)


def _keep(key: str, kept: _Kept) -> None:
    _kept[key] = kept
    while len(_kept) > MAX_KEPT:
        _kept.popitem(last=False)


def _key(model, *, compiled: bool) -> str:
    """What must be equal for a traced step to serve another model: the architecture
    (layer configs, names, dtypes, input shapes) and, for training, the compile settings
    (optimizer and its schedule, loss, metrics, steps per execution, XLA)."""
    import keras

    parts = {"model": json.loads(model.to_json()),
             "policy": keras.mixed_precision.global_policy().name}
    if compiled:
        parts["compile"] = model.get_compile_config()
    text = json.dumps(parts, sort_keys=True, default=repr)
    return ("train:" if compiled else "predict:") + hashlib.sha256(text.encode()).hexdigest()


def _build_optimizer(model) -> None:
    """Create the optimizer's variables now (Keras does it on the first ``fit``), so that
    their state before any step can be kept."""
    with model.distribute_strategy.scope():
        model.optimizer.build(model.trainable_variables)


def _optimizer_variables(model) -> list:
    optimizer = model.optimizer
    variables = list(optimizer.variables)
    inner = getattr(optimizer, "inner_optimizer", None)  # a mixed-precision loss scaler's
    if inner is not None:
        seen = {id(v) for v in variables}
        variables += [v for v in inner.variables if id(v) not in seen]
    return variables
