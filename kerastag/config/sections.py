"""The sections of an experiment config, as frozen dataclasses that validate themselves.

Every value is checked when the dataclass is made: a name must be in its table of
:mod:`kerastag.names` (an unknown one names the nearest valid one), a number must be in
range (NaN and inf are refused). :mod:`kerastag.config.parse` builds these from YAML.
Relative paths are resolved as :mod:`kerastag.config.paths` says.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Optional

from kerastag import families, names
from kerastag.checks import check_int, check_number
from kerastag.config.execution import ExecutionConfig  # noqa: F401 (re-exported)
from kerastag.config.paths import resolve_data_path, resolve_path
from kerastag.config.feature_sections import (  # noqa: F401 (re-exported)
    ExcerptFeatures, FeaturesConfig, LogMelAFeatures, LogMelImdFeatures, MfccFramesFeatures,
    RowFeatures, check_choice as _check_choice, feature_section)
from kerastag.errors import ConfigError

_FOLDER_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
    """Where the clips are. ``demo: true`` writes the built-in demo there when absent.
    ``development_list`` (CHiME-Home): ``refined``, the official 1,946 chunks and folds,
    or ``raw``, the 4,378 chunks (and folds) the Table 1 baselines' authors trained on;
    the evaluation set is the refined one either way."""

    layout: str = "chime-home"
    path: str = "chime_home"
    demo: bool = False
    demo_clips: Optional[int] = None
    demo_seed: int = 0
    development_list: str = "refined"

    def __post_init__(self):
        _check_choice("dataset.layout", self.layout, names.LAYOUTS)
        _check_choice("dataset.development_list", self.development_list, names.DEVELOPMENT_LISTS)
        if (self.development_list != "refined"
                and "development_list" not in self.declaration().options):
            raise ConfigError(f"dataset.development_list: {self.development_list!r} is a "
                              f"CHiME-Home list; layout {self.layout!r} has none (remove the key)")
        if self.demo_clips is not None:
            check_int("dataset.demo_clips", self.demo_clips, minimum=10, error=ConfigError)
        check_int("dataset.demo_seed", self.demo_seed, minimum=0, error=ConfigError)

    def declaration(self):
        """The layout's :class:`~kerastag.datasets.layout.DatasetLayout` (its folds, options)."""
        from kerastag.datasets.layout import get_layout

        return get_layout(self.layout)



@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The model family and its arguments.

    ``type``: a family of :data:`kerastag.families.FAMILIES` (paper A: ``crnn_attloc``).
    ``filters`` ... ``input_norm`` are the CRNN's: ``input_norm: dataset`` standardises
    each mel bin with the training folds' mean and variance (saved in the model),
    ``batchnorm`` is the authors' input BatchNorm, ``none`` feeds the log-mel as it is.
    ``fused_blocks`` builds the CRNN's conv blocks for speed with the same function (no
    conv bias before the BatchNorm, a fused BatchNorm kernel, the ELU after the pooling;
    see :func:`kerastag.models.crnn.build_crnn_attloc`); ``false`` is the plain Keras
    layering of earlier versions. ``args`` maps a family to extra builder
    arguments (widths, depths: see :mod:`kerastag.models.networks`), e.g.
    ``{resnext50: {cardinality: 8}}``, checked against the family's args dataclass
    (:mod:`kerastag.config.family_args`). ``init_from``: a ``.keras`` model trained by
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
        _check_choice("model.type", self.type, families.FAMILIES)
        for network, kwargs in self.args.items():
            _check_choice("model.args", network, families.FAMILIES)
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
    (default ``learning_rate / 10``). ``optimizer``: ``adam`` or ``sgd`` (with
    ``momentum``; the DAE-DNN authors' SGD: ``learning_rate: 0.005``, momentum 0.9).
    ``samples`` (paper A): ``chunks`` fits one sample per 4 s chunk; ``frame_windows``
    makes every window of frames of a family scored over windows (``dae_dnn``,
    ``cgrnn_imd``: those declaring a ``frame_window_trainer``, :mod:`kerastag.families`)
    a sample carrying its chunk's tags, shuffled across chunks, ``batch_size`` windows a
    batch, the windows ``frame_window_hop`` frames apart (default: the family's authors',
    DAE-DNN 7, CGRNN 10). Default (null): ``frame_windows`` for those families,
    ``chunks`` otherwise.
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
    optimizer: str = "adam"
    momentum: float = 0.9
    samples: Optional[str] = None
    frame_window_hop: Optional[int] = None

    def __post_init__(self):
        _check_choice("training.optimizer", self.optimizer, names.OPTIMIZERS)
        check_number("training.momentum", self.momentum, minimum=0, below=1, error=ConfigError)
        if self.samples is not None:
            _check_choice("training.samples", self.samples, names.SAMPLES)
        if self.frame_window_hop is not None:
            check_int("training.frame_window_hop", self.frame_window_hop, minimum=1,
                      error=ConfigError)
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
        for index, fold in enumerate(self.folds or ()):  # the layout's count: ExperimentConfig
            check_int(f"training.folds[{index}]", fold, minimum=0, error=ConfigError)


@dataclasses.dataclass(frozen=True)
class RowConfig:
    """One row of the result table.

    Paper A: a sample-``mixing`` mode and its ``alpha``; the model is the config's
    ``model:`` unless the row names a ``network`` (a Table 1 baseline: ``dae_dnn``,
    ``cgrnn_imd``, ``attloc_imd``, ``dcase2016_gmm``), whose input is then its own
    (its declaration's ``default_input``, :mod:`kerastag.families`) unless ``features``
    names a type or gives a whole section (``{type: logmel_imd, n_mels: 64}``).
    Paper B: also a ``network`` and the ``features`` it takes (``logmel``, ``mfcc`` or
    ``wave``); ``id`` names the row (default: derived from the other fields); ``args`` are
    builder arguments for this row only, over ``model.args.<network>`` (e.g. a wave front
    end's ``bands``). ``model`` is the model column of the table (default ``CRNN`` for
    paper A rows, the network for paper B's); ``variant`` is Table 1's augmentation column
    for a row without mixing (``IMD`` for the spatial baselines); ``in_table_1: false``
    marks a row the paper's Table 1 does not have (the challenge baseline); ``training``
    overrides keys of the ``training:`` section for this row only (a baseline's own
    epochs and batch size, e.g. ``{epochs: 31, batch_size: 100}``); ``init_from`` a
    ``.keras`` model to fine-tune (over ``model.init_from``). ``targets`` (paper A):
    ``tags`` (the dataset's), or ``tags_and_silence``: one more output, ``S``, set for a
    CHiME-Home chunk whose majority vote holds ``S`` (as the baselines' authors trained);
    the tables report the tags either way.
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
    targets: str = "tags"

    def __post_init__(self):
        _check_choice("rows[].mixing", self.mixing, names.MIXING_MODES)
        _check_choice("rows[].targets", self.targets, names.TARGETS)
        check_number("rows[].alpha", self.alpha, minimum=0, error=ConfigError)
        if self.network is not None:
            _check_choice("rows[].network", self.network, families.FAMILIES)
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
            self._check_task(row, f"rows[{index}]")
            self._check_input(row, f"rows[{index}]")
            self._check_samples(row, f"rows[{index}]")
            if row.targets != "tags" and self.task != "tagging":
                raise ConfigError(f"rows[{index}].targets: {row.targets!r} is for the tagging "
                                  f"task (CHiME-Home's silence label); remove it")
        row_names = [row.name for row in self.rows]
        dupes = sorted({n for n in row_names if row_names.count(n) > 1})
        if dupes:
            raise ConfigError(f"rows: duplicate row {dupes[0]!r}")
        self._check_folds()

    def _check_folds(self) -> None:
        """Every fold a training section names is one of the dataset layout's."""
        n_folds = self.dataset.declaration().n_folds
        sections = [("training", self.training)] + [
            (f"rows[{index}].training", self.training_of(row)) for index, row in enumerate(self.rows)]
        for where, training in sections:
            for index, fold in enumerate(training.folds or ()):
                check_int(f"{where}.folds[{index}]", fold, minimum=0, maximum=n_folds - 1,
                          error=ConfigError)

    def family_of(self, row: RowConfig) -> families.ModelFamily:
        """The declaration of the row's model family: its ``network``, else ``model.type``."""
        return families.family(row.network or self.model.type)

    def _check_task(self, row: RowConfig, where: str) -> None:
        """A row's family serves the config's task (checked for the tasks families declare)."""
        declared = self.family_of(row)
        served = {task for family in families.FAMILIES.values() for task in family.tasks}
        if self.task in served and self.task not in declared.tasks:
            raise ConfigError(f"{where}: {declared.task_refusal(self.task)}")

    def feature_type_of(self, row: RowConfig) -> str:
        """The type of the features the row's model reads: the row's, else its family's
        ``default_input``, else the config's ``features:``."""
        default = self.family_of(row).default_input
        return row.feature_type or (default["type"] if default else self.features.type)

    def _check_input(self, row: RowConfig, where: str) -> None:
        """The row's features are among those its family declares it reads (if any)."""
        declared, feature_type = self.family_of(row), self.feature_type_of(row)
        if declared.inputs and feature_type not in declared.inputs:
            raise ConfigError(f"{where}: {declared.input_refusal(feature_type)}")

    def _check_samples(self, row: RowConfig, where: str) -> None:
        """The row's training keys are valid, and ``samples: frame_windows`` only on a
        family scored over windows of frames."""
        declared = self.family_of(row)
        if (self.training_of(row, where=f"{where}.training").samples == "frame_windows"
                and not declared.frame_windows):
            frame_window_families = families.names_where(lambda f: f.frame_windows)
            raise ConfigError(f"{where}.training.samples: 'frame_windows' needs a family "
                              f"scored over windows of frames "
                              f"({', '.join(frame_window_families)}); {declared.name} reads "
                              f"the whole chunk, so use 'chunks'")

    def samples_of(self, row: RowConfig) -> str:
        """The row's ``training.samples``; by default ``frame_windows`` for a family
        declaring a frame-window trainer (:mod:`kerastag.families`), else ``chunks``."""
        default = "frame_windows" if self.family_of(row).frame_windows else "chunks"
        return self.training_of(row).samples or default

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


def _type_name(value) -> str:
    return "null" if value is None else type(value).__name__
