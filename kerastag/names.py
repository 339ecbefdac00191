"""Every name kerastag knows, in one TensorFlow-free place.

Config validation, the CLI's choices and the builders all read these tables, so a name is
spelled once. Each table maps a name to where its implementation lives
(``"package.module:attribute"``), resolved only when used (:func:`resolve`): reading
this module imports nothing heavy, so ``kerastag --help`` and config loading stay fast.

Adding an entry is how a new task, feature type, dataset layout, mixing mode, engine or
export format plugs in (a model family is declared in :mod:`kerastag.families`;
``docs/architecture.md`` has the recipes); a test may add one for its own duration with
``monkeypatch.setitem``. The CLI reads the tables when a command runs, so a plug-in's name
is a valid ``--layout``, ``--engine`` or ``--format``.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from collections.abc import Iterable

#: ``task:`` of a config -> the class implementing :class:`kerastag.runner.task.Task`.
TASKS: dict[str, str] = {
    "tagging": "kerastag.tasks.tagging.task:TaggingTask",
    "classification": "kerastag.tasks.classification.task:ClassificationTask",
}

#: Stages that run on a finished run folder after its task (named by
#: ``Task.follow_up()``): paper B's level-2 stacking.
STAGES: dict[str, str] = {
    "stacking": "kerastag.tasks.stacking.run:stack_run",
}

#: The ``task`` recorded in a saved model (or ``stacking`` for a stack folder) ->
#: the function that scores audio files with it (see :mod:`kerastag.predict`).
PREDICTORS: dict[str, str] = {
    "tagging": "kerastag.tasks.tagging.predict:predict_files",
    "classification": "kerastag.tasks.classification.predict:predict_files",
    "stacking": "kerastag.tasks.stacking.predict:predict_files",
}

#: The scores CSV's own columns around the one-per-class columns (``predict --out``);
#: a dataset's class may not take one of these names.
SCORES_COLUMNS: tuple[str, ...] = ("file", "tags")

#: ``dataset.layout`` -> its declaration, a :class:`kerastag.datasets.layout.DatasetLayout`
#: (reader, detection rule, audio formats, folds, download source); a plug-in may put the
#: declaration itself here instead of ``"module:attribute"``.
LAYOUTS: dict[str, object] = {
    "chime-home": "kerastag.datasets.chime_home:DECLARATION",
    "fsdkaggle2018": "kerastag.datasets.fsdkaggle2018:DECLARATION",
    "csv": "kerastag.datasets.csv_layout:DECLARATION",
}

#: Layouts with a built-in demo generator.
DEMO_LAYOUTS: dict[str, str] = {
    "chime-home": "kerastag.datasets.demo:make_chime_home_demo",
    "fsdkaggle2018": "kerastag.datasets.demo:make_fsdkaggle2018_demo",
    "csv": "kerastag.datasets.demo:make_own_data_demo",
}

#: Feature type (``features.type``, a paper-B row's ``features``) -> its config section,
#: a frozen dataclass with a ``type`` key whose ``spec()`` builds the feature definition
#: (a :class:`kerastag.features.FeatureSpec`).
FEATURE_TYPES: dict[str, str] = {
    "logmel_a": "kerastag.config.sections:LogMelAFeatures",
    "logmel": "kerastag.config.sections:ExcerptFeatures",
    "mfcc": "kerastag.config.sections:ExcerptFeatures",
    "wave": "kerastag.config.sections:ExcerptFeatures",
    "mfcc_frames": "kerastag.config.sections:MfccFramesFeatures",
    "logmel_imd": "kerastag.config.sections:LogMelImdFeatures",
}

#: The feature types a paper-B row may take (clip-level excerpts).
EXCERPT_FEATURE_TYPES: tuple[str, ...] = ("logmel", "mfcc", "wave")

#: Model families (``model.type``, a row's ``network``) are declared in
#: :mod:`kerastag.families`, the only family registry.

#: ``training.samples``: one sample per chunk (4 s window; a frame-window family fits the
#: mean over its windows), or every window of frames a sample carrying its chunk's tags.
SAMPLES = ("chunks", "frame_windows")
#: ``training.optimizer``.
OPTIMIZERS = ("adam", "sgd")
#: ``rows[].targets``: the dataset's tags, or the tags and CHiME-Home's ``S`` (silence /
#: background) as one more output, as the authors of Table 1's baselines trained them.
TARGETS = ("tags", "tags_and_silence")
#: The output a ``tags_and_silence`` row adds after the dataset's tags.
SILENCE_TARGET = "S"
#: ``dataset.development_list`` (CHiME-Home): the refined 1,946 chunks, or the raw 4,378.
DEVELOPMENT_LISTS = ("refined", "raw")


@dataclasses.dataclass(frozen=True)
class MixingMode:
    """What a sample-mixing mode needs (the formulas are in :mod:`kerastag.mixing`).

    Attributes:
        uses_alpha: its strength is ``alpha`` (Beta(alpha, alpha)); ``alpha == 0`` then
            means no mixing, and the row's name carries the alpha.
        mixes_labels: the labels (and sample weights) are mixed, so they must be floating.
        mix: ``"module:function"`` of ``(x_i, x_j, y_i, y_j, lam) -> (x, y)`` on
            batch tensors, ``lam`` shaped to broadcast over ``x``.
    """

    uses_alpha: bool
    mixes_labels: bool
    mix: str | None


#: ``rows[].mixing`` -> the mode (paper A's four, and none).
MIXING_MODES: dict[str, MixingMode] = {
    "none": MixingMode(uses_alpha=False, mixes_labels=False, mix=None),
    "mixup": MixingMode(uses_alpha=True, mixes_labels=True, mix="kerastag.mixing:mixup"),
    "samplepairing": MixingMode(uses_alpha=False, mixes_labels=False,
                                mix="kerastag.mixing:samplepairing"),
    "mixup_lp": MixingMode(uses_alpha=True, mixes_labels=False, mix="kerastag.mixing:mixup_lp"),
    "extrapolation": MixingMode(uses_alpha=True, mixes_labels=False,
                                mix="kerastag.mixing:extrapolation"),
}

VALIDATION_MODES = ("holdout", "test_fold")
PROTOCOLS = ("crossval", "evaluation")
INPUT_NORMS = ("dataset", "batchnorm", "none")
LR_SCHEDULES = ("none", "plateau", "cosine")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass(frozen=True)
class EngineEntry:
    """An engine that trains a run's units (``execution.engine``).

    Attributes:
        engine: ``"module:Class"`` of a :class:`kerastag.runner.engines.Engine`, made as
            ``Class(settings, threads=...)``.
        settings: ``"module:Dataclass"`` of its ``execution.<name>`` section, which
            validates its keys when the config is loaded (keep its module TensorFlow-free).
    """

    engine: str
    settings: str


#: ``execution.engine`` / ``--engine`` -> the engine: this process, one unit after another,
#: or Ray tasks.
ENGINES: dict[str, EngineEntry] = {
    "local": EngineEntry(engine="kerastag.runner.engines:LocalEngine",
                         settings="kerastag.config.execution:LocalSettings"),
    "ray": EngineEntry(engine="kerastag.runner.ray_engine:RayEngine",
                       settings="kerastag.config.execution:RaySettings"),
}


@dataclasses.dataclass(frozen=True)
class ExportFormat:
    """What ``kerastag export --format NAME`` writes and how a deployment runs it.

    Attributes:
        artifact: the file (or folder) name of the artifact inside the export folder.
        convert: ``"module:function"`` of ``(deployed keras.Model, artifact Path) -> None``,
            writing the artifact (the model takes ``(batch, samples)`` float32 audio).
        signature: ``"module:function"`` of ``(artifact Path) -> {"inputs": [...],
            "outputs": [...]}`` read back from the written artifact (entries ``name``,
            ``shape`` with ``None`` for free sizes, ``dtype``).
        runtime: ``"module:function"`` of ``(artifact Path, signature, threads) ->
            run(audio) -> {output name: array}`` in the format's own runtime.
        requires: modules the converter imports (checked before anything is written).
        unrolled_recurrence: the tagger's recurrent layers are unrolled over the window's
            frames first (a runtime without a loop op: LiteRT).
    """

    artifact: str
    convert: str
    signature: str
    runtime: str
    requires: tuple[str, ...] = ()
    unrolled_recurrence: bool = False


#: ``kerastag export --format`` -> the format (:mod:`kerastag.export`).
EXPORT_FORMATS: dict[str, ExportFormat] = {
    "saved_model": ExportFormat(
        artifact="saved_model", convert="kerastag.export.converters:saved_model",
        signature="kerastag.export.signatures:saved_model_signature",
        runtime="kerastag.export.runtimes:LOADERS.saved_model"),
    "onnx": ExportFormat(
        artifact="model.onnx", convert="kerastag.export.converters:onnx",
        signature="kerastag.export.signatures:onnx_signature",
        runtime="kerastag.export.runtimes:LOADERS.onnx", requires=("tf2onnx", "onnx")),
    "litert": ExportFormat(
        artifact="model.tflite", convert="kerastag.export.converters:litert",
        signature="kerastag.export.signatures:litert_signature",
        runtime="kerastag.export.runtimes:LOADERS.litert", unrolled_recurrence=True),
}
#: ``kerastag calibrate --criterion``: a tag's threshold at the equal-error point of its
#: ROC curve (:func:`kerastag.metrics.eer_threshold`) or at its best F1
#: (:func:`kerastag.metrics.max_f1_threshold`).
CALIBRATION_CRITERIA = ("eer", "f1")


def uses_alpha(mode: str) -> bool:
    """True when mixing ``mode`` is parametrised by ``alpha``."""
    return MIXING_MODES[mode].uses_alpha


def resolve(target: str):
    """Import ``"package.module:attr[.key]"`` and return the attribute (``.key``
    indexes a dict attribute)."""
    module_name, _, attribute = target.partition(":")
    value = importlib.import_module(module_name)
    name, _, key = attribute.partition(".")
    value = getattr(value, name)
    return value[key] if key else value


def suggest(value: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the nearest of ``choices``, or an empty string."""
    close = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_name(what: str, value: object, choices: Iterable[str]) -> str:
    """The message for a name that is not in a table: the nearest and every valid one."""
    choices = list(choices)
    return f"{what}: unknown value {value!r}{suggest(value, choices)}; expected one of {', '.join(choices)}"
