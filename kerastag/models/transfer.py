"""Fine-tuning: a new model starts from the layers of a model kerastag trained before.

The new model is built for the new dataset's classes as usual; then every layer whose
name and weight shapes match the source model's layer of that name takes its trained
weights (a nested backbone model counts as one layer). What stays new:

* the classifier head(s): the ``head_layers`` of the family's declaration
  (:mod:`kerastag.families`; named, so that a source with as many classes as the new
  dataset still gets a fresh head: its units mean the source's classes), and for a family
  declaring none, a layer whose weights differ from
  the source's only where one is sized by the new and the other by the source's number of
  classes;
* ``input_norm``, the input standardisation: it keeps the new training data's per-bin
  mean and variance, so the transferred body sees inputs scaled as it saw in training
  even where the new recordings are louder, quieter or coloured differently.

Any other layer that does not match (absent from the source, or of other shapes: the
row's model settings differ from the source's) is a :class:`ConfigError` naming the
layer, the source file and the row, so a fine-tuning run never trains a half-copied body.

:func:`check_source` compares a source's ``kerastag.json`` (task, family, features) with
the row before anything trains; :func:`provenance` is what a fine-tuned model records.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from pathlib import Path

from kerastag.errors import ConfigError, ModelError
from kerastag.families import family as declared_family
from kerastag.formats.model_file import ModelInfo, read_model_info

#: Layers that keep the new model's own values (see the module docstring).
KEEP_NEW = ("input_norm",)


@dataclasses.dataclass(frozen=True)
class Transfer:
    """What :func:`transfer_weights` did: the layers that took trained weights (the body,
    frozen in the head-only phase) and the names of the new head layers."""

    transferred: tuple
    head: tuple[str, ...]


def check_source(path: Path, *, where: str, task: str, family: str, features) -> ModelInfo:
    """The source's :class:`~kerastag.formats.model_file.ModelInfo`, after checking that
    the row can start from it.

    Args:
        path: the source ``.keras`` file (``init_from``, resolved).
        where: the row, as the message names it, e.g. ``rows[0] 'mixup_a1.5'``.
        task: the row's task (``tagging`` or ``classification``).
        family: the row's model family.
        features: the row's feature spec (a frozen dataclass; equal specs give equal inputs).

    Raises:
        ConfigError: one line naming the source (its task, family, features) and the row
            (its family, features) when they differ, or the file's own problem.
    """
    from kerastag.config import features_from_data

    declared = declared_family(family)
    if not declared.init_from:
        reason = "it has no layers to transfer"
        raise ConfigError(f"{where}: {declared.refusal('init_from', reason)}")
    try:
        info = read_model_info(path)
        source_features = features_from_data(dict(info.features)).spec()
    except (ModelError, ConfigError) as exc:
        raise ConfigError(f"{where}: init_from {exc}") from None
    if str(path).endswith(".gmm.json"):
        raise ConfigError(f"{where}: init_from {path}: fine-tuning needs Keras models; "
                          f"this {info.family} model has no layers to transfer")
    source_family = info.family or family  # older paper-B files: by their layers
    if (info.task, source_family, source_features) != (task, family, features):
        raise ConfigError(
            f"{where} ({task}, {family} on {_describe(features)}): init_from {path} is a "
            f"{info.task} model ({source_family} on {_describe(source_features)}); "
            f"fine-tuning needs the same task, model family and input features")
    return info


def _describe(spec) -> str:
    """``logmel_a (n_mels=40)``: a feature spec's type and the fields that differ from
    its defaults."""
    fields = [f"{f.name}={getattr(spec, f.name)!r}" for f in dataclasses.fields(spec)
              if f.init and f.name != "kind" and f.default is not dataclasses.MISSING
              and getattr(spec, f.name) != f.default]
    kind = getattr(spec, "name", type(spec).__name__)
    return f"{kind} ({', '.join(fields)})" if fields else kind


def transfer_weights(model, source, *, family: str, where: str, source_path: Path) -> Transfer:
    """Copy the source's trained weights into ``model`` layer by layer (in place).

    Args:
        model: the new Keras model, built for the new classes.
        source: the trained Keras model (``init_from``, loaded).
        family: the row's model family (its declaration's ``head_layers``).
        where: the row, as messages name it.
        source_path: the source file, as messages name it.

    Returns:
        The :class:`Transfer`.

    Raises:
        ConfigError: a body layer with no match in the source (the row's model settings
            differ from the source's), or nothing to transfer at all.
    """
    source_layers = {layer.name: layer for layer in source.layers}
    class_sizes = (_classes(model), _classes(source))
    transferred, head = [], []
    for layer in model.layers:
        if not layer.weights or layer.name in KEEP_NEW:
            continue
        if _is_head(layer, source_layers.get(layer.name), family, class_sizes):
            head.append(layer.name)
            continue
        old = source_layers.get(layer.name)
        if old is None or _shapes(old) != _shapes(layer):
            found = "no such layer" if old is None else f"weights {_shapes(old)}"
            raise ConfigError(
                f"{where}: init_from {source_path}: layer {layer.name!r} has weights "
                f"{_shapes(layer)} in the row's model but {found} in the source; build the "
                f"row with the source's model settings (model:, args)")
        layer.set_weights(old.get_weights())
        transferred.append(layer)
    if not transferred:
        raise ConfigError(f"{where}: init_from {source_path}: no layer matches the source")
    return Transfer(tuple(transferred), tuple(head))


def _is_head(layer, old, family: str, class_sizes: tuple[int, int]) -> bool:
    head_layers = declared_family(family).head_layers
    if head_layers:
        return layer.name in head_layers
    if old is None or len(_shapes(old)) != len(_shapes(layer)):
        return False
    pairs = [(n, o) for new, source in zip(_shapes(layer), _shapes(old))
             if len(new) == len(source) for n, o in zip(new, source) if n != o]
    return bool(pairs) and all(pair == class_sizes for pair in pairs)


def _shapes(layer) -> list[tuple[int, ...]]:
    return [tuple(int(d) for d in w.shape) for w in layer.weights]


def _classes(model) -> int:
    return int(model.output_shape[-1])


def load_source(path: Path, where: str):
    """The source Keras model (no optimizer state); a file Keras cannot open names the row."""
    from kerastag.formats.model_file import load_model

    try:
        return load_model(path)
    except ModelError as exc:
        raise ConfigError(f"{where}: init_from {exc}") from None


def init_from_provenance(path: Path | None) -> dict | None:
    """A fine-tuned model's ``init_from`` (:func:`provenance` of its source file); None
    for one trained from scratch."""
    return None if path is None else provenance(path)


def provenance(path: Path) -> dict:
    """``{"path": ..., "sha256": ...}`` of the source model, recorded in ``kerastag.json``."""
    path = Path(path).resolve()
    stat = path.stat()
    return {"path": str(path), "sha256": _sha256(str(path), stat.st_size, stat.st_mtime_ns)}


@functools.lru_cache(maxsize=32)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    """The file's SHA-256 (cached per size and modification time: every unit asks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
