"""Model families: one declaration each, registered here, the only family registry.

A :class:`ModelFamily` says what a family is and can do: its builder, where its
arguments come from, the features it reads, its outputs, the tasks it serves and what it
supports (window-wise ``predict``, ``--events``, ``export``, ``init_from``, training one
window of frames at a time, ...). Training, predict, events, export, fine-tuning and config
validation ask the declaration, never the family's name; a family that declares no support
for something is refused in one line saying so (:meth:`ModelFamily.refusal`), e.g.
``model.type dae_dnn: this family declares no export (its input mfcc_frames has no in-graph
front end)``.

Like :mod:`kerastag.names`, this module imports nothing heavy: builders and hooks are
``"package.module:attribute"`` strings resolved on use (:meth:`ModelFamily.hook`), so config
validation and ``kerastag --help`` stay TensorFlow-free. A new family plugs in with one
entry of :data:`FAMILIES` (``docs/architecture.md``, "Add a model family").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Optional

from kerastag.errors import ConfigError
from kerastag.names import resolve, unknown_name

#: What a family's model may output (``outputs``): a clip score per class; frame scores
#: ``(frames, classes)`` (the CRNN's localization); attention weights ``(frames, classes)``.
OUTPUTS = ("clip", "frame_scores", "attention")
#: ``args`` of a family whose arguments are the config's ``model:`` section (the CRNN).
MODEL_SECTION = "kerastag.config.sections:ModelConfig"
#: What a family's clip scores are (``scores``): probabilities in [0, 1] (a tag is present
#: at 0.5 by default), or log-likelihood ratios (present at 0: equally likely).
SCORE_KINDS = {"probabilities": 0.5, "log_likelihood_ratios": 0.0}


@dataclasses.dataclass(frozen=True)
class ModelFamily:
    """One model family (``model.type``, a row's ``network``) and what it supports.

    Attributes:
        name: the family's name in configs and in a model file's ``family``.
        builder: ``"module:attr"`` of ``(input_shape, n_classes, **args) -> model``
            (``input_shape`` without the batch axis).
        tasks: the tasks whose rows may use it (``tagging``, ``classification``).
        args: ``"module:attr"`` of the frozen dataclass of its arguments
            (:mod:`kerastag.config.family_args`): the builder's keyword arguments a config
            may set (``model.args.<name>`` updated by the row's ``args``, checked against
            it at load), with the builder's defaults; or :data:`MODEL_SECTION`: the
            fields of the config's ``model:`` section (the CRNN's).
        settings: None, or ``"module:DICT"`` of settings (and defaults) that are taken out
            of ``args`` for the family's hooks before the builder sees them.
        inputs: the feature types it reads (empty: any the task gives it); a row giving
            it another is refused at load (:meth:`input_refusal`).
        default_input: the ``features:`` section a tagging row of it takes when it names
            none (None: the config's ``features:``).
        stereo: its input is computed from a two-channel file.
        outputs: a subset of :data:`OUTPUTS`, in the model's output order.
        scores: a key of :data:`SCORE_KINDS`.
        keras_model: saved as a ``.keras`` model (False: a format of its own, e.g. the
            GMM's ``.gmm.json``).
        window_predict: ``kerastag predict`` scores a file window by window (4 s windows,
            the maximum over windows) on its declared input.
        frame_model: ``"module:attr"`` of ``(model) -> model`` with outputs ``clip``,
            ``localization`` and ``attention`` for a window batch (``--events``, ``--plot``);
            needs ``frame_scores`` among ``outputs``.
        export: ``kerastag export`` builds a deployable model of it (its input has an
            in-graph front end, :mod:`kerastag.models.frontends`).
        no_export_reason: why not, when ``export`` is False (said in the refusal).
        init_from: a row of it may start from a trained model's layers (fine-tuning).
        head_layers: the layers sized by the classes, kept new in fine-tuning (empty: the
            layers whose shapes differ from the source's only by the class count).
        frame_window_trainer: ``"module:attr"`` of ``(model) -> FrameWindowTrainer``
            (:mod:`kerastag.tasks.tagging.frame_windows`): its chunk score is the mean over
            windows of frames and ``training.samples: frame_windows`` (its default) trains
            one window at a time.
        standardise_input: its builder takes ``input_mean``/``input_variance``, the
            training data's per-bin statistics (saved inside the model).
        pretrain: ``"module:attr"`` of ``(config, row, model, x_train, *, seed,
            frame_windows)`` run before supervised training of a model not fine-tuned
            (the DAE-DNN's auto-encoder).
        fit: ``"module:attr"`` of ``(config, row, split, *, seed) -> (model, history)``
            that replaces building and gradient training (the GMM's EM).
    """

    name: str
    builder: str
    tasks: tuple[str, ...] = ("tagging",)
    args: str = ""
    settings: Optional[str] = None
    inputs: tuple[str, ...] = ()
    default_input: Optional[Mapping] = None
    stereo: bool = False
    outputs: tuple[str, ...] = ("clip",)
    scores: str = "probabilities"
    keras_model: bool = True
    window_predict: bool = True
    frame_model: Optional[str] = None
    export: bool = False
    no_export_reason: str = ""
    init_from: bool = True
    head_layers: tuple[str, ...] = ()
    frame_window_trainer: Optional[str] = None
    standardise_input: bool = False
    pretrain: Optional[str] = None
    fit: Optional[str] = None

    def __post_init__(self):
        unknown = [o for o in self.outputs if o not in OUTPUTS]
        if unknown or "clip" not in self.outputs:
            raise ConfigError(f"model family {self.name}: outputs must hold 'clip' and only "
                              f"{', '.join(OUTPUTS)}, got {list(self.outputs)}")
        if self.frame_model is not None and "frame_scores" not in self.outputs:
            raise ConfigError(f"model family {self.name}: a frame_model needs 'frame_scores' "
                              f"among its outputs")
        if self.scores not in SCORE_KINDS:
            raise ConfigError(unknown_name(f"model family {self.name}: scores", self.scores,
                                           SCORE_KINDS))
        if ":" not in self.args:
            raise ConfigError(f"model family {self.name}: args must be the \"module:attr\" "
                              f"of its arguments' dataclass, got {self.args!r}")
        if self.default_input is not None:
            object.__setattr__(self, "default_input", MappingProxyType(dict(self.default_input)))

    @property
    def args_in_model_section(self) -> bool:
        """Its arguments are the config's ``model:`` section (the CRNN's), not ``args``."""
        return self.args == MODEL_SECTION

    def args_class(self) -> type:
        """The (resolved) dataclass of its arguments."""
        return resolve(self.args)

    @property
    def events(self) -> bool:
        """``predict --events`` (and ``--plot``) work: it has frame scores and a frame model."""
        return self.frame_model is not None

    @property
    def frame_windows(self) -> bool:
        """It can train one window of frames at a time (and does so by default)."""
        return self.frame_window_trainer is not None

    @property
    def decision_threshold(self) -> float:
        """The clip score at which a tag is present when nothing else is given."""
        return SCORE_KINDS[self.scores]

    def hook(self, attribute: str):
        """The resolved ``"module:attr"`` of ``attribute`` (``builder``, ``fit``, ...)."""
        return resolve(getattr(self, attribute))

    def refusal(self, capability: str, reason: str = "") -> str:
        """The one line refusing ``capability``: ``model.type <name>: this family declares
        no <capability> (<reason>)``."""
        return f"model.type {self.name}: this family declares no {capability}" + (
            f" ({reason})" if reason else "")

    def export_refusal(self) -> str:
        """The one line refusing ``kerastag export`` for this family."""
        return self.refusal("export", self.no_export_reason)

    def input_refusal(self, feature_type: str) -> str:
        """The one line refusing a row of it on ``feature_type`` (not among ``inputs``)."""
        return (f"model.type {self.name}: this family reads {', '.join(self.inputs)}, "
                f"not {feature_type}")

    def task_refusal(self, task: str) -> str:
        """The one line refusing a ``task`` row of this family (it serves ``tasks``)."""
        return self.refusal(f"{task} task", f"it serves {', '.join(self.tasks)}")


_DCASE2016 = "kerastag.models.dcase2016"
_ARGS = "kerastag.config.family_args"
#: paper B's networks -> the name of their args dataclass in :data:`_ARGS`.
_PAPER_B_ARGS = {"xception": "XceptionArgs", "resnet50": "ResNet50Args",
                 "resnext50": "ResNeXtArgs", "se_resnext50": "SeResNeXtArgs", "dpn68": "DpnArgs",
                 "dpn92": "DpnArgs", "wave_resnext": "WaveResNeXtArgs"}
_NETWORKS = "kerastag.models.networks:NETWORKS"
_NO_FRONT_END = "its input {} has no in-graph front end"


def _paper_b(name: str) -> ModelFamily:
    """A paper-B level-1 network: classification on log-mel, MFCC or wave excerpts."""
    return ModelFamily(name, f"{_NETWORKS}.{name}", tasks=("classification",),
                       args=f"{_ARGS}:{_PAPER_B_ARGS[name]}",
                       inputs=("wave",) if name == "wave_resnext" else ("logmel", "mfcc", "wave"),
                       export=True, head_layers=("predictions",))


#: Every model family by name: paper A's CRNN, Table 1's baselines, paper B's networks.
FAMILIES: dict[str, ModelFamily] = {
    "crnn_attloc": ModelFamily(
        "crnn_attloc", "kerastag.models.crnn:build_crnn_attloc", args=MODEL_SECTION,
        inputs=("logmel_a",), outputs=("clip", "frame_scores", "attention"),
        frame_model="kerastag.models.crnn:frame_level_model", export=True,
        head_layers=("localization", "attention_scores")),
    **{name: _paper_b(name) for name in _PAPER_B_ARGS},
    "dae_dnn": ModelFamily(
        "dae_dnn", f"{_DCASE2016}:build_dae_dnn", args=f"{_ARGS}:DaeDnnArgs",
        settings="kerastag.tasks.tagging.baselines:DAE_PRETRAINING",
        inputs=("mfcc_frames",), default_input={"type": "mfcc_frames"},
        no_export_reason=_NO_FRONT_END.format("mfcc_frames"), head_layers=("window_probs",),
        frame_window_trainer=f"{_DCASE2016}:dae_dnn_window_trainer", standardise_input=True,
        pretrain="kerastag.tasks.tagging.baselines:pretrain_dae"),
    "cgrnn_imd": ModelFamily(
        "cgrnn_imd", f"{_DCASE2016}:build_cgrnn_imd", args=f"{_ARGS}:CgrnnImdArgs",
        inputs=("logmel_imd",),
        default_input={"type": "logmel_imd"}, stereo=True,
        no_export_reason=_NO_FRONT_END.format("logmel_imd"), head_layers=("clip", "window_probs"),
        frame_window_trainer=f"{_DCASE2016}:cgrnn_window_trainer", standardise_input=True),
    "attloc_imd": ModelFamily(
        "attloc_imd", f"{_DCASE2016}:build_attloc_imd", args=f"{_ARGS}:AttLocImdArgs",
        inputs=("logmel_imd",),
        default_input={"type": "logmel_imd"}, stereo=True,
        no_export_reason=_NO_FRONT_END.format("logmel_imd"),
        head_layers=("localization", "frame_probs"), standardise_input=True),
    "dcase2016_gmm": ModelFamily(
        "dcase2016_gmm", "kerastag.models.gmm:TagGmms", args=f"{_ARGS}:GmmArgs",
        inputs=("mfcc_frames",),
        default_input={"type": "mfcc_frames", "n_mfcc": 14, "include_c0": False, "center": True},
        scores="log_likelihood_ratios", keras_model=False,
        no_export_reason="it is not a Keras model, and " + _NO_FRONT_END.format("mfcc_frames"),
        init_from=False, fit="kerastag.tasks.tagging.baselines:fit_gmm"),
}


def family(name: str, where: str = "model.type") -> ModelFamily:
    """The declaration of ``name``; an unknown name is a ConfigError naming ``where`` and
    every registered family."""
    try:
        return FAMILIES[name]
    except (KeyError, TypeError):
        raise ConfigError(unknown_name(where, name, FAMILIES)) from None


def names_where(predicate) -> list[str]:
    """The registered families whose declaration satisfies ``predicate``, in order."""
    return [name for name, declared in FAMILIES.items() if predicate(declared)]
