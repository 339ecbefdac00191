"""From YAML (or a run folder's saved config) to the dataclasses of
:mod:`kerastag.config.sections`, and back to plain data.

Every mapping must match its dataclass key for key. An unknown key is a
:class:`ConfigError` that names the key and the nearest valid one; a key that an older
kerastag used names its new spelling; a value of the wrong type names the expected type.
Files that kerastag wrote itself (a run folder's ``config.yaml``, a model's metadata)
are upgraded silently instead (:func:`config_from_run_data`).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from kerastag.config.execution import ExecutionConfig, execution_from_data
from kerastag.config.family_args import check_config_args
from kerastag.config.paths import resolve_path
from kerastag.config.sections import (ExcerptFeatures, ExperimentConfig, FeaturesConfig, RowConfig, RowFeatures,
                                      TrainingConfig,
                                      feature_section)
from kerastag.names import FEATURE_TYPES
from kerastag.errors import ConfigError

#: Keys renamed since kerastag 0.1: section class -> {old key: new key}.
RENAMED_KEYS: dict[type, dict[str, str]] = {
    RowConfig: {"augmentation": "mixing", "input": "features"},
}

#: Keys replaced by a key of another kind: section class -> {old key: what to write}.
REPLACED_KEYS: dict[type, dict[str, str]] = {
    TrainingConfig: {"mixed_precision": "precision: mixed_float16 (or float32)"},
}


def load_config(path: str | os.PathLike) -> ExperimentConfig:
    """Read and validate an experiment YAML file.

    Raises:
        ConfigError: missing file, invalid YAML, unknown key, wrong type or bad value;
            the message starts with the file name.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    raw = read_yaml(path, ConfigError)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    raw.setdefault("name", path.stem)
    raw["source"] = str(path.resolve())
    try:
        return from_dict(ExperimentConfig, raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML itself
    silently keeps the last value)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path, error: type[Exception]) -> Any:
    """A YAML file's data: UTF-8 (a BOM is accepted), no duplicate keys.

    Raises:
        error: naming the file, the line and what is wrong.
    """
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = Path(path).read_bytes()[: exc.start].count(b"\n") + 1
        raise error(f"{path}:{line}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); "
                    f"save the file as UTF-8") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        detail = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
        raise error(f"{path}: invalid YAML{where}: {' '.join(str(detail).split())}") from None


def config_to_dict(config) -> dict:
    """The config as plain YAML-able data (tuples become lists)."""
    def plain(value):
        if isinstance(value, ExecutionConfig):
            return value.to_data()
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                    if f.init}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value
    return plain(config)


def resolved_config(config: ExperimentConfig) -> dict:
    """The config with absolute dataset, cache and ``init_from`` paths, as saved in the run
    folder."""
    data = config_to_dict(config)
    data["dataset"]["path"] = str(config.dataset_path())
    data["features"]["cache_dir"] = str(config.cache_dir())
    for row_data, row in zip(data["rows"], config.rows):  # fine-tuning: absolute too
        if row.init_from is not None:
            row_data["init_from"] = str(config.init_from_of(row))
    if config.model.init_from is not None:
        data["model"]["init_from"] = str(resolve_path(config.model.init_from, config.base_dir))
    data.pop("source", None)
    return data


def config_from_run_data(data: dict) -> ExperimentConfig:
    """A config saved by kerastag (any version) in a run folder, upgraded to today's keys."""
    data = dict(data)
    data["rows"] = [_renamed(RowConfig, row) for row in data.get("rows", [])]
    if "features" in data:
        data["features"] = _upgraded_features(data["features"])
    if isinstance(data.get("training"), dict) and "mixed_precision" in data["training"]:
        training = dict(data["training"])  # written by kerastag 0.2: a bool
        training["precision"] = "mixed_float16" if training.pop("mixed_precision") else "float32"
        data["training"] = training
    return from_dict(ExperimentConfig, data)


def features_from_data(data: dict) -> FeaturesConfig:
    """The features section recorded in a saved model's metadata (any kerastag version)."""
    return from_dict(FeaturesConfig, _upgraded_features(data), "features")


def from_dict(cls, data: Any, where: str = ""):
    """Build dataclass ``cls`` from ``data``, checking keys and types recursively."""
    if cls == FeaturesConfig:
        return _features_section(data, where or "features")
    if cls == ExecutionConfig:
        return execution_from_data(data, where or "execution", _from_fields)
    made = _from_fields(cls, data, where)
    if cls == ExperimentConfig:  # each family's args against its dataclass
        check_config_args(made, _from_fields)
    return made


def _from_fields(cls, data: Any, where: str = ""):
    """``cls`` from a mapping holding exactly its fields (checked, converted)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {_type_name(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            raise ConfigError(_unknown_key_message(cls, _join(where, key), key, fields))
    missing = [name for name, f in fields.items() if name not in data and _required(f)]
    if missing:
        raise ConfigError(f"{_join(where, missing[0])}: required key is missing")
    kwargs = {key: _convert(value, hints[key], _join(where, key)) for key, value in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        if where and "rows[]" in str(exc):
            raise ConfigError(str(exc).replace("rows[]", where, 1)) from None
        raise


def _features_section(data: Any, where: str):
    """A ``features:`` mapping into the dataclass its ``type`` names."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {_type_name(data)}")
    feature_type = data.get("type", "logmel_a")
    if feature_type not in FEATURE_TYPES:
        from kerastag.names import unknown_name

        raise ConfigError(unknown_name(f"{where}.type", feature_type, FEATURE_TYPES))
    return from_dict(feature_section(feature_type), data, where)


def _upgraded_features(data: dict) -> dict:
    """kerastag 0.1 saved every feature key for every type; keep the type's own keys."""
    if not isinstance(data, dict):
        return data
    if data.get("type", "logmel_a") not in FEATURE_TYPES:
        return data
    section = feature_section(data.get("type", "logmel_a"))
    keys = {f.name for f in dataclasses.fields(section)}
    upgraded = {k: v for k, v in data.items() if k in keys}
    if section is ExcerptFeatures and "n_mfcc" not in data and "n_mels" in data:
        upgraded["n_mfcc"] = data["n_mels"]  # 0.1 kept n_mels MFCC coefficients
    return upgraded


def _renamed(cls, data: Any) -> Any:
    if not isinstance(data, dict):
        return data
    renames = RENAMED_KEYS.get(cls, {})
    return {renames.get(key, key): value for key, value in data.items()}


def _convert(value: Any, hint: Any, where: str) -> Any:
    if hint == FeaturesConfig:
        return _features_section(value, where)
    if hint == RowFeatures:
        if value is None or isinstance(value, str):
            return value
        return _features_section(value, where)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], where)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {_type_name(value)} {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {_type_name(value)} {value!r}")
        item = args[0]
        return tuple(_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    return _scalar(value, hint, where)


def _scalar(value: Any, hint: type, where: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    else:
        return value
    raise ConfigError(f"{where}: expected {hint.__name__}, got {_type_name(value)} {value!r}")


def _unknown_key_message(cls, where: str, key: str, fields) -> str:
    replaced = REPLACED_KEYS.get(cls, {}).get(key)
    if replaced:
        return f"{where}: replaced; write {replaced} instead"
    renamed = RENAMED_KEYS.get(cls, {}).get(key)
    if renamed:
        return f"{where}: renamed to {renamed!r} in kerastag 0.2; write {renamed}: instead"
    close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(fields)}"
    return f"{where}: unknown key{hint}"


def _required(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else str(key)


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__
