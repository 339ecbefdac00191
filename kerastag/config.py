"""Experiment configs: YAML files loaded into frozen, validated dataclasses.

Every mapping in the YAML must match a dataclass below key for key. An unknown key is a
:class:`ConfigError` that names the key and the nearest valid one; a value of the wrong
type names the key and the expected type.

Paths: a relative ``dataset.path`` or ``features.cache_dir`` is resolved against the
folder of the YAML file; when nothing exists there and the environment variable
``KERASTAG_DATA`` is set, a relative dataset path is looked up under that folder instead.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Optional

import yaml

from kerastag.errors import ConfigError

MIXING_MODES = ("none", "mixup", "samplepairing", "mixup_lp", "extrapolation")
LAYOUTS = ("chime-home", "fsdkaggle2018", "csv")
VALIDATION_MODES = ("holdout", "test_fold")
PROTOCOLS = ("crossval", "evaluation")
INPUT_NORMS = ("dataset", "batchnorm", "none")
FEATURE_TYPES = ("logmel_a", "logmel", "mfcc", "wave")
PAPER_B_INPUTS = ("logmel", "mfcc", "wave")
TASKS = ("tagging", "classification")
LR_SCHEDULES = ("none", "plateau", "cosine")
NETWORK_NAMES = ("crnn_attloc", "xception", "resnet50", "resnext50", "se_resnext50", "dpn68",
                 "dpn92", "wave_resnext")


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
    """Where the clips are. ``demo: true`` writes the built-in demo there when absent."""

    layout: str = "chime-home"
    path: str = "chime_home"
    demo: bool = False
    demo_clips: Optional[int] = None
    demo_seed: int = 0

    def __post_init__(self):
        _check_choice("dataset.layout", self.layout, LAYOUTS)
        if self.demo_clips is not None and self.demo_clips < 10:
            raise ConfigError(f"dataset.demo_clips: expected at least 10, got {self.demo_clips}")


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """Input features.

    ``type: logmel_a`` (paper A): log-mel of the whole 4 s chunk, Hamming ``n_fft``,
    ``hop_length``, ``n_mels`` bins from ``fmin`` to ``fmax``; defaults 16 kHz, 1024, 512,
    128, 0-8000 Hz. ``logmel``/``mfcc``/``wave`` (paper B): whole-clip 3-channel log-mel or
    MFCC (+delta, delta-delta of ``delta_width``) with ``frame_ms`` frames every ``hop_ms``,
    ``n_mels`` (default 64) bins, or the raw wave; a random ``excerpt_seconds`` window of
    it is a training example, and whole clips are scored by averaging the predictions of
    windows every ``predict_hop_seconds``. ``sample_rate`` defaults to 16000 for paper A
    and 44100 for paper B. Rows of a paper-B config may each pick their own ``input``.
    """

    type: str = "logmel_a"
    sample_rate: Optional[int] = None
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: Optional[int] = None
    fmin: float = 0.0
    fmax: Optional[float] = None
    frame_ms: float = 80.0
    hop_ms: float = 10.0
    delta_width: int = 9
    excerpt_seconds: float = 1.5
    predict_hop_seconds: float = 0.5
    cache_dir: Optional[str] = None
    workers: Optional[int] = None

    def __post_init__(self):
        _check_choice("features.type", self.type, FEATURE_TYPES)
        paper_a = self.type == "logmel_a"
        _set_default(self, "sample_rate", 16000 if paper_a else 44100)
        _set_default(self, "n_mels", 128 if paper_a else 64)
        _set_default(self, "fmax", 8000.0 if paper_a else self.sample_rate / 2)
        for key in ("sample_rate", "n_fft", "hop_length", "n_mels", "frame_ms", "hop_ms",
                    "delta_width", "excerpt_seconds", "predict_hop_seconds"):
            _check_positive(f"features.{key}", getattr(self, key))
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ConfigError(
                f"features.fmin/fmax: expected 0 <= fmin < fmax <= sample_rate/2, "
                f"got fmin={self.fmin}, fmax={self.fmax}, sample_rate={self.sample_rate}")

    def with_type(self, feature_type: str) -> "FeatureConfig":
        """The same settings for another paper-B input (``logmel``, ``mfcc``, ``wave``)."""
        return dataclasses.replace(self, type=feature_type)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The paper-A CRNN with attention and localization heads.

    ``input_norm``: ``dataset`` standardises each mel bin with the training folds' mean
    and variance (saved in the model); ``batchnorm`` is the authors' input BatchNorm;
    ``none`` feeds the log-mel as it is. ``args`` maps a paper-B network name to extra
    builder arguments (widths, depths: see ``kerastag.models.paper_b``), e.g.
    ``{resnext50: {cardinality: 8}}``; ``filters`` ... ``input_norm`` are the CRNN's.
    """

    type: str = "crnn_attloc"
    args: dict = dataclasses.field(default_factory=dict)
    filters: tuple[int, ...] = (8, 16, 32, 64, 64, 64, 64)
    rnn_units: int = 64
    gated_rnn: bool = False
    dropout: float = 0.1
    input_norm: str = "dataset"

    def __post_init__(self):
        _check_choice("model.type", self.type, NETWORK_NAMES)
        for network, kwargs in self.args.items():
            _check_choice("model.args", network, NETWORK_NAMES)
            if not isinstance(kwargs, dict):
                raise ConfigError(f"model.args.{network}: expected a mapping of builder "
                                  f"arguments, got {_type_name(kwargs)}")
        _check_choice("model.input_norm", self.input_norm, INPUT_NORMS)
        if not self.filters or any(f < 1 for f in self.filters):
            raise ConfigError(f"model.filters: expected positive integers, got {list(self.filters)}")
        _check_positive("model.rnn_units", self.rnn_units)
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"model.dropout: expected 0 <= dropout < 1, got {self.dropout}")


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Optimisation and the evaluation protocol.

    ``validation``: ``holdout`` takes a seeded ``validation_fraction`` of the training
    folds for early stopping (honest); ``test_fold`` uses the held-out test fold, as the
    authors' code did (optimistic). ``protocol``: ``crossval`` scores each official fold;
    ``evaluation`` trains on the whole development set and scores the evaluation set.
    ``deterministic`` turns on TensorFlow's op determinism, so a resumed run reproduces
    an uninterrupted one exactly (slower on a GPU). ``lr_schedule``: ``plateau`` multiplies
    the learning rate by ``lr_factor`` after ``lr_patience`` epochs without a better
    validation loss, ``cosine`` decays it to 0 over ``epochs``. ``unverified_weight`` is the
    loss weight of FSDKaggle2018 clips whose label was not manually verified (1 = no
    down-weighting). ``mixed_precision`` trains in float16 (GPU). ``verbose`` is Keras'
    fit verbosity.
    """

    batch_size: int = 44
    epochs: int = 100
    learning_rate: float = 0.001
    patience: int = 20
    validation: str = "holdout"
    validation_fraction: float = 0.1
    protocol: str = "crossval"
    folds: Optional[tuple[int, ...]] = None
    deterministic: bool = False
    lr_schedule: str = "none"
    lr_factor: float = 0.5
    lr_patience: int = 3
    unverified_weight: float = 1.0
    mixed_precision: bool = False
    verbose: int = 1

    def __post_init__(self):
        for key in ("batch_size", "epochs", "learning_rate"):
            _check_positive(f"training.{key}", getattr(self, key))
        if self.patience < 0:
            raise ConfigError(f"training.patience: expected >= 0, got {self.patience}")
        _check_choice("training.validation", self.validation, VALIDATION_MODES)
        _check_choice("training.protocol", self.protocol, PROTOCOLS)
        _check_choice("training.lr_schedule", self.lr_schedule, LR_SCHEDULES)
        if not 0 < self.lr_factor < 1:
            raise ConfigError(f"training.lr_factor: expected between 0 and 1, got {self.lr_factor}")
        if not 0 <= self.unverified_weight <= 1:
            raise ConfigError(
                f"training.unverified_weight: expected between 0 and 1, got {self.unverified_weight}")
        if not 0 < self.validation_fraction < 1:
            raise ConfigError(
                f"training.validation_fraction: expected between 0 and 1, got {self.validation_fraction}")
        if self.folds is not None and any(not 0 <= k <= 4 for k in self.folds):
            raise ConfigError(f"training.folds: expected folds in 0..4, got {list(self.folds)}")


@dataclasses.dataclass(frozen=True)
class RowConfig:
    """One row of the result table.

    Paper A: a sample-mixing ``augmentation`` and its ``alpha`` (the model is the config's).
    Paper B: also a ``network`` and an ``input`` (``logmel``, ``mfcc`` or ``wave``); ``id``
    names the row (default: derived from the other fields); ``args`` are builder arguments
    for this row only, over ``model.args.<network>`` (e.g. a wave front end's ``bands``).
    """

    augmentation: str = "none"
    alpha: float = 0.0
    model: Optional[str] = None
    network: Optional[str] = None
    input: Optional[str] = None
    id: Optional[str] = None
    args: dict = dataclasses.field(default_factory=dict, hash=False)

    def __post_init__(self):
        _check_choice("rows[].augmentation", self.augmentation, MIXING_MODES)
        if self.alpha < 0:
            raise ConfigError(f"rows[].alpha: expected alpha >= 0, got {self.alpha}")
        if self.network is not None:
            _check_choice("rows[].network", self.network, NETWORK_NAMES)
        if self.input is not None:
            _check_choice("rows[].input", self.input, PAPER_B_INPUTS)
        if self.id is not None and not _FOLDER_SAFE.fullmatch(self.id):
            raise ConfigError(f"rows[].id: expected letters, digits, '.', '_' or '-', got {self.id!r}")

    @property
    def name(self) -> str:
        """Folder-safe row id: ``none``, ``mixup_a1.5``, ``resnext50_logmel_mixup_a3``, ..."""
        if self.id:
            return self.id
        mixing = self.augmentation if self.augmentation in ("none", "samplepairing") \
            else f"{self.augmentation}_a{self.alpha:g}"
        prefix = "_".join(part for part in (self.network, self.input) if part)
        return f"{prefix}_{mixing}" if prefix else mixing

    @property
    def display_model(self) -> str:
        """The model column of the table (``CRNN`` for paper A rows)."""
        return self.model or self.network or "CRNN"


@dataclasses.dataclass(frozen=True)
class StackConfig:
    """Paper B's level 2: XGBoost (default parameters, max_depth 3) over the rows'
    out-of-fold probabilities and the clips' MFCC statistics. ``n_jobs``: XGBoost threads
    (default: all cores)."""

    seed: int = 0
    n_jobs: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """A whole experiment: one dataset, one feature, one model, several table rows."""

    name: str
    task: str = "tagging"
    dataset: DatasetConfig = dataclasses.field(default_factory=DatasetConfig)
    features: FeatureConfig = dataclasses.field(default_factory=FeatureConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    rows: tuple[RowConfig, ...] = dataclasses.field(default_factory=lambda: (RowConfig(),))
    seed: int = 0
    stack: Optional["StackConfig"] = None
    source: Optional[str] = None  # the YAML file this came from (set by load_config)

    def __post_init__(self):
        _check_choice("task", self.task, TASKS)
        if not self.rows:
            raise ConfigError("rows: expected at least one row")
        if self.task == "classification":
            for index, row in enumerate(self.rows):
                if row.network is None or row.input is None:
                    raise ConfigError(f"rows[{index}]: a classification row needs 'network' and 'input'")
        names = [row.name for row in self.rows]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"rows: duplicate row {dupes[0]!r}")

    @property
    def base_dir(self) -> Path:
        return Path(self.source).resolve().parent if self.source else Path.cwd()

    def dataset_path(self) -> Path:
        """The dataset folder, resolved as the module docstring says."""
        return resolve_data_path(self.dataset.path, self.base_dir)

    def cache_dir(self) -> Path:
        """Feature cache: ``features.cache_dir``, else ``$KERASTAG_CACHE``, else ~/.cache/kerastag."""
        if self.features.cache_dir:
            return _resolve(self.features.cache_dir, self.base_dir)
        env = os.environ.get("KERASTAG_CACHE")
        return Path(env).expanduser() if env else Path.home() / ".cache" / "kerastag"


def resolve_data_path(path: str, base_dir: Path) -> Path:
    """Resolve a dataset path against ``base_dir``, then under ``$KERASTAG_DATA``."""
    candidate = _resolve(path, base_dir)
    data_root = os.environ.get("KERASTAG_DATA")
    if not candidate.exists() and data_root and not Path(path).expanduser().is_absolute():
        alternative = Path(data_root).expanduser() / path
        if alternative.exists():
            return alternative.resolve()
    return candidate


def _resolve(path: str, base_dir: Path) -> Path:
    p = Path(os.path.expandvars(path)).expanduser()
    return p if p.is_absolute() else (base_dir / p).resolve()


# --- loading ---------------------------------------------------------------------------


def load_config(path: str | os.PathLike) -> ExperimentConfig:
    """Read and validate an experiment YAML file.

    Raises:
        ConfigError: missing file, invalid YAML, unknown key, wrong type or bad value;
            the message starts with the file name.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"{path}: invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    raw.setdefault("name", path.stem)
    raw["source"] = str(path.resolve())
    try:
        return from_dict(ExperimentConfig, raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def config_to_dict(config) -> dict:
    """The config as plain YAML-able data (tuples become lists)."""
    def plain(value):
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value
    return plain(config)


def from_dict(cls, data: Any, where: str = ""):
    """Build dataclass ``cls`` from ``data``, checking keys and types recursively."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {_type_name(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            raise ConfigError(_unknown_key_message(_join(where, key), key, fields))
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


def _convert(value: Any, hint: Any, where: str) -> Any:
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


def _unknown_key_message(where: str, key: str, fields) -> str:
    close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(fields)}"
    return f"{where}: unknown key{hint}"


def _required(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else str(key)


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _check_choice(key: str, value: str, choices) -> None:
    if value not in choices:
        close = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{key}: unknown value {value!r}{hint}; expected one of {', '.join(choices)}")


_FOLDER_SAFE = re.compile(r"[A-Za-z0-9._-]+")


def _set_default(instance, key: str, value) -> None:
    """Fill a ``None`` field of a frozen dataclass with its derived default."""
    if getattr(instance, key) is None:
        object.__setattr__(instance, key, value)


def _check_positive(key: str, value) -> None:
    if value <= 0:
        raise ConfigError(f"{key}: expected a positive number, got {value}")
