"""The sections of an experiment config, as frozen dataclasses that validate themselves.

Every value is checked when the dataclass is made: a name must be in its table of
:mod:`kerastag.names` (an unknown one names the nearest valid one), a number must be in
range (NaN and inf are refused). :mod:`kerastag.config.parse` builds these from YAML.
Relative paths are resolved as :mod:`kerastag.config.paths` says.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path
from typing import Optional, Union

from kerastag import names
from kerastag.checks import check_int, check_number
from kerastag.config.paths import resolve_data_path, resolve_path
from kerastag.errors import ConfigError, FeatureError
from kerastag.features.dcase2016 import LogMelImd, MfccFrames
from kerastag.features.specs import LogMelA, TimeFrequencyB, Wave

_FOLDER_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
    """Where the clips are. ``demo: true`` writes the built-in demo there when absent."""

    layout: str = "chime-home"
    path: str = "chime_home"
    demo: bool = False
    demo_clips: Optional[int] = None
    demo_seed: int = 0

    def __post_init__(self):
        _check_choice("dataset.layout", self.layout, names.LAYOUTS)
        if self.demo_clips is not None:
            check_int("dataset.demo_clips", self.demo_clips, minimum=10, error=ConfigError)
        check_int("dataset.demo_seed", self.demo_seed, minimum=0, error=ConfigError)


def _spec_checked(section, spec_class: type) -> None:
    """Run ``spec_class``'s checks on the section's values; a FeatureError becomes a
    ConfigError naming the ``features.`` key."""
    try:
        spec_class.__post_init__(section)
    except FeatureError as exc:
        message = re.sub(r"^feature \w+: (\w+): ", r"features.\1: ", str(exc))
        raise ConfigError(re.sub(r"^feature \w+: ", "features: ", message)) from None


def _spec_of(section, spec_class: type):
    """The spec of ``spec_class`` with the section's values of its fields."""
    return spec_class(**{f.name: getattr(section, f.name) for f in dataclasses.fields(spec_class)
                         if f.init})


@dataclasses.dataclass(frozen=True)
class LogMelAFeatures(LogMelA):
    """``type: logmel_a``, paper A's log-mel of the whole 4 s chunk.

    Keys: every field of :class:`kerastag.features.LogMelA` (``sample_rate``, ``n_fft``,
    ``hop_length``, ``n_mels``, ``fmin``, ``fmax``, ``log_offset``, with its defaults),
    then ``type``, ``cache_dir`` (where features are cached) and ``workers`` (extraction
    processes; default: all cores).
    """

    type: str = "logmel_a"
    cache_dir: Optional[str] = None
    workers: Optional[int] = None

    def __post_init__(self):
        _check_choice("features.type", self.type, ("logmel_a",))
        _spec_checked(self, LogMelA)
        _check_workers(self.workers)

    def spec(self) -> LogMelA:
        """The feature definition."""
        return _spec_of(self, LogMelA)


@dataclasses.dataclass(frozen=True)
class ExcerptFeatures(TimeFrequencyB):
    """``type: logmel``, ``mfcc`` or ``wave``: paper B's whole-clip features, trained on
    random excerpts.

    Keys: every field of :class:`kerastag.features.TimeFrequencyB` but ``kind``
    (``sample_rate`` 44100, ``frame_ms``, ``hop_ms``, ``n_mels`` 64, ``n_mfcc`` 64,
    ``mfcc_bands``, ``fmin``, ``fmax`` (default ``sample_rate / 2``), ``top_db``,
    ``delta_width``), then ``type``, ``excerpt_seconds`` (a random window of that length
    is a training example), ``predict_hop_seconds`` (whole clips are scored by averaging
    windows this far apart), ``cache_dir`` and ``workers``. ``wave`` uses only
    ``sample_rate``. A paper-B row picks its own type (``rows[].features``); the other
    settings are shared.
    """

    kind: str = dataclasses.field(default="logmel", init=False)  # follows ``type``
    type: str = "logmel"
    excerpt_seconds: float = 1.5
    predict_hop_seconds: float = 0.5
    cache_dir: Optional[str] = None
    workers: Optional[int] = None

    def __post_init__(self):
        _check_choice("features.type", self.type, names.EXCERPT_FEATURE_TYPES)
        object.__setattr__(self, "kind", "mfcc" if self.type == "mfcc" else "logmel")
        _spec_checked(self, TimeFrequencyB)
        for key in ("excerpt_seconds", "predict_hop_seconds"):
            check_number(f"features.{key}", getattr(self, key), above=0, error=ConfigError)
        _check_workers(self.workers)

    def with_type(self, feature_type: str) -> "ExcerptFeatures":
        """The same settings for another of paper B's feature types."""
        return dataclasses.replace(self, type=feature_type)

    def spec(self) -> TimeFrequencyB | Wave:
        """The feature definition: :class:`~kerastag.features.TimeFrequencyB` or
        :class:`~kerastag.features.Wave`."""
        if self.type == "wave":
            return Wave(sample_rate=self.sample_rate)
        return _spec_of(self, TimeFrequencyB)


@dataclasses.dataclass(frozen=True)
class MfccFramesFeatures(MfccFrames):
    """``type: mfcc_frames``, per-frame MFCC of the whole chunk (the DAE-DNN's and the
    challenge GMM baseline's input).

    Keys: every field of :class:`kerastag.features.MfccFrames` (``sample_rate``,
    ``frame_ms``, ``hop_ms``, ``n_mels``, ``n_mfcc``, ``include_c0``, ``fmin``, ``fmax``,
    ``window``, ``center``, ``top_db``), then ``type``, ``cache_dir`` and ``workers``.
    """

    type: str = "mfcc_frames"
    cache_dir: Optional[str] = None
    workers: Optional[int] = None

    def __post_init__(self):
        _check_choice("features.type", self.type, ("mfcc_frames",))
        _spec_checked(self, MfccFrames)
        _check_workers(self.workers)

    def spec(self) -> MfccFrames:
        """The feature definition."""
        return _spec_of(self, MfccFrames)


@dataclasses.dataclass(frozen=True)
class LogMelImdFeatures(LogMelImd):
    """``type: logmel_imd``, 40-band log-mel and the interaural magnitude difference of
    the chunk's 48 kHz stereo file resampled to 16 kHz (the CGRNN's and ATT-LOC's input).

    Keys: every field of :class:`kerastag.features.LogMelImd` (``sample_rate``,
    ``n_fft``, ``hop_length``, ``n_mels``, ``fmin``, ``fmax``, ``log_offset``), then
    ``type``, ``cache_dir`` and ``workers``.
    """

    type: str = "logmel_imd"
    cache_dir: Optional[str] = None
    workers: Optional[int] = None

    def __post_init__(self):
        _check_choice("features.type", self.type, ("logmel_imd",))
        _spec_checked(self, LogMelImd)
        _check_workers(self.workers)

    def spec(self) -> LogMelImd:
        """The feature definition."""
        return _spec_of(self, LogMelImd)


#: A ``features:`` section: the dataclass :data:`kerastag.names.FEATURE_TYPES` registers
#: for its ``type`` key (these four, or one a user added).
FeaturesConfig = Union[LogMelAFeatures, ExcerptFeatures, MfccFramesFeatures, LogMelImdFeatures]

#: A row's ``features``: a feature type (its section's defaults) or a whole section.
RowFeatures = Optional[Union[str, FeaturesConfig]]


def feature_section(feature_type: str) -> type:
    """The config section dataclass of ``feature_type``."""
    _check_choice("features.type", feature_type, names.FEATURE_TYPES)
    return names.resolve(names.FEATURE_TYPES[feature_type])


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The model family and its arguments.

    ``type``: a family of :data:`kerastag.names.MODEL_FAMILIES` (paper A: ``crnn_attloc``).
    ``filters`` ... ``input_norm`` are the CRNN's: ``input_norm: dataset`` standardises
    each mel bin with the training folds' mean and variance (saved in the model),
    ``batchnorm`` is the authors' input BatchNorm, ``none`` feeds the log-mel as it is.
    ``fused_blocks`` builds the CRNN's conv blocks for speed with the same function (no
    conv bias before the BatchNorm, a fused BatchNorm kernel, the ELU after the pooling;
    see :func:`kerastag.models.crnn.build_crnn_attloc`); ``false`` is the plain Keras
    layering of earlier versions. ``args`` maps a paper-B network to extra builder
    arguments (widths, depths: see :mod:`kerastag.models.networks`), e.g.
    ``{resnext50: {cardinality: 8}}``. ``init_from``: a ``.keras`` model trained by
    kerastag whose matching layers start every row (fine-tuning; a row's own wins).
    """

    type: str = "crnn_attloc"
    args: dict = dataclasses.field(default_factory=dict)
    filters: tuple[int, ...] = (8, 16, 32, 64, 64, 64, 64)
    rnn_units: int = 64
    gated_rnn: bool = False
    dropout: float = 0.1
    input_norm: str = "dataset"
    fused_blocks: bool = True
    init_from: Optional[str] = None

    def __post_init__(self):
        _check_choice("model.type", self.type, names.MODEL_FAMILIES)
        for network, kwargs in self.args.items():
            _check_choice("model.args", network, names.MODEL_FAMILIES)
            if not isinstance(kwargs, dict):
                raise ConfigError(f"model.args.{network}: expected a mapping of builder "
                                  f"arguments, got {_type_name(kwargs)}")
        _check_choice("model.input_norm", self.input_norm, names.INPUT_NORMS)
        if not self.filters:
            raise ConfigError("model.filters: expected positive integers, got []")
        for index, value in enumerate(self.filters):
            check_int(f"model.filters[{index}]", value, minimum=1, error=ConfigError)
        check_int("model.rnn_units", self.rnn_units, minimum=1, error=ConfigError)
        check_number("model.dropout", self.dropout, minimum=0, below=1, error=ConfigError)


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
    down-weighting). ``precision``: Keras' dtype policy, ``float32``, ``mixed_float16``
    (fast on a CUDA GPU) or ``mixed_bfloat16``; outputs and losses stay float32.
    ``steps_per_execution``: training steps Keras runs per call into the compiled graph
    (16 or more keeps a fast GPU from waiting on Python between small batches; the
    numbers do not change, per-batch callbacks see every n-th batch). ``verbose`` is
    Keras' fit verbosity. Fine-tuning (``init_from``): the first ``freeze_epochs`` epochs
    train only the new head(s), the rest the whole network at ``fine_tune_learning_rate``
    (default ``learning_rate / 10``).
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
    precision: str = "float32"
    steps_per_execution: int = 1
    verbose: int = 1
    freeze_epochs: int = 0
    fine_tune_learning_rate: Optional[float] = None

    def __post_init__(self):
        check_int("training.freeze_epochs", self.freeze_epochs, minimum=0, error=ConfigError)
        if self.fine_tune_learning_rate is not None:
            check_number("training.fine_tune_learning_rate", self.fine_tune_learning_rate,
                         above=0, error=ConfigError)
        check_int("training.batch_size", self.batch_size, minimum=1, error=ConfigError)
        check_int("training.epochs", self.epochs, minimum=1, error=ConfigError)
        check_number("training.learning_rate", self.learning_rate, above=0, error=ConfigError)
        check_int("training.patience", self.patience, minimum=0, error=ConfigError)
        check_int("training.lr_patience", self.lr_patience, minimum=0, error=ConfigError)
        _check_choice("training.validation", self.validation, names.VALIDATION_MODES)
        _check_choice("training.protocol", self.protocol, names.PROTOCOLS)
        _check_choice("training.lr_schedule", self.lr_schedule, names.LR_SCHEDULES)
        _check_choice("training.precision", self.precision, names.PRECISIONS)
        check_int("training.steps_per_execution", self.steps_per_execution, minimum=1,
                  error=ConfigError)
        check_number("training.lr_factor", self.lr_factor, above=0, below=1, error=ConfigError)
        check_number("training.unverified_weight", self.unverified_weight, minimum=0, maximum=1,
                     error=ConfigError)
        check_number("training.validation_fraction", self.validation_fraction, above=0, below=1,
                     error=ConfigError)
        for index, fold in enumerate(self.folds or ()):
            check_int(f"training.folds[{index}]", fold, minimum=0, maximum=4, error=ConfigError)


@dataclasses.dataclass(frozen=True)
class ExecutionConfig:
    """Where and how the units of a run train (never part of what a run *is*: a run
    started on one engine resumes on the other).

    ``engine``: ``local`` trains the units one after another in this process; ``ray``
    schedules each unfinished unit as a Ray task. ``address``: the Ray cluster to join
    (``auto`` = the one ``ray start`` made on this machine, or ``HOST:PORT``); None starts
    a private Ray on this machine. ``cpus_per_unit`` / ``gpus_per_unit``: the resources
    a unit declares to Ray (fractions of a GPU let several units share one).
    ``threads_per_unit``: TensorFlow's intra-op threads in the process that trains a unit
    (None: ``ceil(cpus_per_unit)`` under Ray, TensorFlow's default locally).
    ``max_retries``: how often Ray restarts a unit whose worker died.
    """

    engine: str = "local"
    address: Optional[str] = None
    cpus_per_unit: float = 1.0
    gpus_per_unit: float = 0.0
    threads_per_unit: Optional[int] = None
    max_retries: int = 2

    def __post_init__(self):
        _check_choice("execution.engine", self.engine, names.ENGINES)
        check_number("execution.cpus_per_unit", self.cpus_per_unit, above=0, error=ConfigError)
        check_number("execution.gpus_per_unit", self.gpus_per_unit, minimum=0, error=ConfigError)
        if self.gpus_per_unit > 1 and self.gpus_per_unit != int(self.gpus_per_unit):
            raise ConfigError(f"execution.gpus_per_unit: above 1 it must be a whole number of "
                              f"GPUs, got {self.gpus_per_unit}")
        if self.threads_per_unit is not None:
            check_int("execution.threads_per_unit", self.threads_per_unit, minimum=1,
                      error=ConfigError)
        check_int("execution.max_retries", self.max_retries, minimum=0, error=ConfigError)
        if self.address is not None and not self.address.strip():
            raise ConfigError("execution.address: expected 'auto' or HOST:PORT, got an empty string")

    def unit_threads(self) -> int | None:
        """TensorFlow intra-op threads for one unit (None: TensorFlow's default)."""
        if self.threads_per_unit is not None:
            return self.threads_per_unit
        return max(1, math.ceil(self.cpus_per_unit)) if self.engine == "ray" else None


@dataclasses.dataclass(frozen=True)
class RowConfig:
    """One row of the result table.

    Paper A: a sample-``mixing`` mode and its ``alpha``; the model is the config's
    ``model:`` unless the row names a ``network`` (a Table 1 baseline: ``dae_dnn``,
    ``cgrnn_imd``, ``attloc_imd``, ``dcase2016_gmm``), whose input is then its own
    (:data:`kerastag.names.FAMILY_INPUTS`) unless ``features`` names a type or gives a
    whole section (``{type: logmel_imd, n_mels: 64}``).
    Paper B: also a ``network`` and the ``features`` it takes (``logmel``, ``mfcc`` or
    ``wave``); ``id`` names the row (default: derived from the other fields); ``args`` are
    builder arguments for this row only, over ``model.args.<network>`` (e.g. a wave front
    end's ``bands``). ``model`` is the model column of the table (default ``CRNN`` for
    paper A rows, the network for paper B's); ``variant`` is Table 1's augmentation column
    for a row without mixing (``IMD`` for the spatial baselines); ``in_table_1: false``
    marks a row the paper's Table 1 does not have (the challenge baseline); ``training``
    overrides keys of the ``training:`` section for this row only (a baseline's own
    epochs and batch size, e.g. ``{epochs: 31, batch_size: 100}``); ``init_from`` a
    ``.keras`` model to fine-tune (over ``model.init_from``).
    """

    mixing: str = "none"
    alpha: float = 0.0
    model: Optional[str] = None
    network: Optional[str] = None
    features: RowFeatures = None
    variant: Optional[str] = None
    in_table_1: bool = True
    training: dict = dataclasses.field(default_factory=dict, hash=False)
    id: Optional[str] = None
    args: dict = dataclasses.field(default_factory=dict, hash=False)
    init_from: Optional[str] = None

    def __post_init__(self):
        _check_choice("rows[].mixing", self.mixing, names.MIXING_MODES)
        check_number("rows[].alpha", self.alpha, minimum=0, error=ConfigError)
        if self.network is not None:
            _check_choice("rows[].network", self.network, names.MODEL_FAMILIES)
        if isinstance(self.features, str):
            _check_choice("rows[].features", self.features, names.FEATURE_TYPES)
        if self.id is not None and not _FOLDER_SAFE.fullmatch(self.id):
            raise ConfigError(f"rows[].id: expected letters, digits, '.', '_' or '-', got {self.id!r}")

    @property
    def name(self) -> str:
        """Folder-safe row id: ``none``, ``mixup_a1.5``, ``resnext50_logmel_mixup_a3``, ..."""
        if self.id:
            return self.id
        mixing = f"{self.mixing}_a{self.alpha:g}" if names.uses_alpha(self.mixing) else self.mixing
        prefix = "_".join(part for part in (self.network, self.feature_type) if part)
        return f"{prefix}_{mixing}" if prefix else mixing

    @property
    def feature_type(self) -> str | None:
        """The type of the row's ``features`` (None: the config's or the network's)."""
        return self.features if isinstance(self.features, str) or self.features is None \
            else self.features.type

    @property
    def display_model(self) -> str:
        """The model column of the table (``CRNN`` for paper A rows)."""
        return self.model or self.network or "CRNN"

    @property
    def table_alpha(self) -> float | None:
        """The alpha column of the table: None for modes without one."""
        return self.alpha if names.uses_alpha(self.mixing) else None


@dataclasses.dataclass(frozen=True)
class StackConfig:
    """Paper B's level 2: XGBoost (2018's defaults: learning_rate 0.1; max_depth 3) over the rows'
    out-of-fold probabilities and the clips' MFCC statistics. ``n_jobs``: XGBoost threads
    (default: all cores)."""

    seed: int = 0
    n_jobs: Optional[int] = None

    def __post_init__(self):
        check_int("stack.seed", self.seed, minimum=0, error=ConfigError)
        if self.n_jobs is not None:
            check_int("stack.n_jobs", self.n_jobs, minimum=1, error=ConfigError)


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """A whole experiment: one dataset, one feature, one model, several table rows."""

    name: str
    task: str = "tagging"
    dataset: DatasetConfig = dataclasses.field(default_factory=DatasetConfig)
    features: FeaturesConfig = dataclasses.field(default_factory=LogMelAFeatures)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    rows: tuple[RowConfig, ...] = dataclasses.field(default_factory=lambda: (RowConfig(),))
    seed: int = 0
    stack: Optional[StackConfig] = None
    execution: ExecutionConfig = dataclasses.field(default_factory=ExecutionConfig)
    source: Optional[str] = None  # the YAML file this came from (set by load_config)

    def __post_init__(self):
        if not _FOLDER_SAFE.fullmatch(self.name):
            raise ConfigError(f"name: expected letters, digits, '.', '_' or '-' (a folder "
                              f"name under runs/), got {self.name!r}")
        _check_choice("task", self.task, names.TASKS)
        check_int("seed", self.seed, minimum=0, error=ConfigError)
        if not self.rows:
            raise ConfigError("rows: expected at least one row")
        if self.task == "classification":
            for index, row in enumerate(self.rows):
                if row.network is None or row.features is None:
                    raise ConfigError(f"rows[{index}]: a classification row needs 'network' and 'features'")
                if row.feature_type not in names.EXCERPT_FEATURE_TYPES or not isinstance(row.features, str):
                    raise ConfigError(names.unknown_name(f"rows[{index}].features", row.features,
                                                         names.EXCERPT_FEATURE_TYPES))
        for index, row in enumerate(self.rows):
            self.training_of(row, where=f"rows[{index}].training")
        row_names = [row.name for row in self.rows]
        dupes = sorted({n for n in row_names if row_names.count(n) > 1})
        if dupes:
            raise ConfigError(f"rows: duplicate row {dupes[0]!r}")

    def training_of(self, row: RowConfig, where: str = "rows[].training") -> TrainingConfig:
        """The ``training:`` section with ``row.training``'s overrides (checked)."""
        if not isinstance(row.training, dict):
            raise ConfigError(f"{where}: expected a mapping of training keys, got "
                              f"{_type_name(row.training)}")
        valid = [f.name for f in dataclasses.fields(TrainingConfig)]
        for key in row.training:
            if key not in valid:
                raise ConfigError(f"{where}.{key}: unknown key{names.suggest(key, valid)}; "
                                  f"valid keys: {', '.join(valid)}")
        try:
            return dataclasses.replace(self.training, **row.training)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    def init_from_of(self, row: RowConfig) -> Path | None:
        """The model the row fine-tunes (``rows[].init_from``, else ``model.init_from``),
        resolved against the YAML file's folder; None: trained from scratch."""
        path = row.init_from or self.model.init_from
        return None if path is None else resolve_path(path, self.base_dir)

    @property
    def base_dir(self) -> Path:
        return Path(self.source).resolve().parent if self.source else Path.cwd()

    def dataset_path(self) -> Path:
        """The dataset folder, resolved as :mod:`kerastag.config.paths` says."""
        return resolve_data_path(self.dataset.path, self.base_dir)

    def cache_dir(self) -> Path:
        """Feature cache: ``features.cache_dir``, else ``$KERASTAG_CACHE``, else ~/.cache/kerastag."""
        if self.features.cache_dir:
            return resolve_path(self.features.cache_dir, self.base_dir)
        env = os.environ.get("KERASTAG_CACHE")
        return Path(env).expanduser() if env else Path.home() / ".cache" / "kerastag"


def _check_choice(key: str, value: str, choices) -> None:
    if value not in choices:
        raise ConfigError(names.unknown_name(key, value, choices))


def _check_workers(workers) -> None:
    if workers is not None:
        check_int("features.workers", workers, minimum=1, error=ConfigError)


def _type_name(value) -> str:
    return "null" if value is None else type(value).__name__
