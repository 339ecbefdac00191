"""The arguments a config may give each model family: one frozen dataclass per family.

A family's declaration (:mod:`kerastag.families`) names its dataclass (``args``). Its
fields are the builder's keyword arguments a config may set (``model.args.<family>``, a
row's ``args``), with the builder's own defaults (``tests/test_families.py`` compares them
with the builders' signatures); what training sets itself (``input_mean``,
``input_variance``) and the model's ``name`` are not among them. Config loading checks a
mapping against the dataclass (:func:`check_config_args`): an unknown key names the
nearest field, a wrong type the expected one. The builder still receives only the keys
the config set, so a default lives in one place, the builder. The CRNN's arguments are
the ``model:`` section itself (:class:`kerastag.config.sections.ModelConfig`).

This module is TensorFlow-free.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from kerastag.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class WaveFrontEndArgs:
    """A paper-B network's learned wave front end (:func:`kerastag.models.wave.build_wave_model`),
    used on a ``wave`` row; ``input_kind`` (``time_frequency`` or ``wave``) states the input."""

    bands: int = 32
    kernel_sizes: tuple[int, ...] = (11, 51, 101)
    strides: tuple[int, ...] = (1, 5, 10)
    hop: int = 450
    context_kernel: int = 11
    input_kind: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class HeadArgs:
    """Every paper-B network's head and starting weights (a ``.weights.h5`` path)."""

    dropout: float = 0.0
    weights: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class SeResNeXtArgs(WaveFrontEndArgs, HeadArgs):
    """``se_resnext50`` (:func:`kerastag.models.resnext.build_resnext` with ``se=True``)."""

    blocks: tuple[int, ...] = (3, 4, 6, 3)
    cardinality: int = 32
    bottleneck_width: int = 4
    stem_filters: int = 64
    se_ratio: int = 16


@dataclasses.dataclass(frozen=True)
class ResNeXtArgs(SeResNeXtArgs):
    """``resnext50``: as ``se_resnext50``, ``se`` adding the squeeze-excitation blocks."""

    se: bool = False


@dataclasses.dataclass(frozen=True)
class WaveResNeXtArgs(SeResNeXtArgs):
    """``wave_resnext`` (:func:`kerastag.models.wave.build_wave_resnext`): wave input only."""


@dataclasses.dataclass(frozen=True)
class DpnArgs(WaveFrontEndArgs, HeadArgs):
    """``dpn68`` / ``dpn92`` (:func:`kerastag.models.dpn.build_dpn`); None: the variant's."""

    init_features: Optional[int] = None
    stem_kernel: Optional[int] = None
    k_r: Optional[int] = None
    groups: Optional[int] = None
    k_sec: Optional[tuple[int, ...]] = None
    inc_sec: Optional[tuple[int, ...]] = None
    base_width: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class XceptionArgs(WaveFrontEndArgs, HeadArgs):
    """``xception`` (:func:`kerastag.models.applications.build_xception`): smaller maps
    are resized to ``min_size``."""

    min_size: int = 71


@dataclasses.dataclass(frozen=True)
class ResNet50Args(WaveFrontEndArgs, HeadArgs):
    """``resnet50`` (:func:`kerastag.models.applications.build_resnet50`)."""

    min_size: int = 32


@dataclasses.dataclass(frozen=True)
class DaeDnnArgs:
    """``dae_dnn`` (:func:`kerastag.models.dcase2016.build_dae_dnn`) and its auto-encoder's
    pretraining (:data:`kerastag.tasks.tagging.baselines.DAE_PRETRAINING`, ``dae_*`` and
    ``fine_tune_dae``; ``dae_learning_rate`` None: ``training.learning_rate``)."""

    dae_context: int = 7
    dae_hidden: int = 500
    bottleneck: int = 24
    context: int = 91
    noise_frames: int = 6
    hidden: tuple[int, ...] = (1000, 500)
    input_dropout: float = 0.1
    dropout: float = 0.2
    window_hop: int = 1
    bottleneck_norm: bool = True
    dae_epochs: int = 100
    dae_corruption: float = 0.1
    fine_tune_dae: bool = False
    dae_learning_rate: Optional[float] = None


@dataclasses.dataclass(frozen=True)
class AttLocImdArgs:
    """``attloc_imd`` (:func:`kerastag.models.dcase2016.build_attloc_imd`)."""

    n_mels: int = 40
    filters: int = 128
    mel_kernel: int = 30
    imd_kernel: int = 200
    rnn_units: int = 128
    rnn_layers: int = 3
    dense_units: int = 500
    dropout: float = 0.2


@dataclasses.dataclass(frozen=True)
class CgrnnImdArgs(AttLocImdArgs):
    """``cgrnn_imd`` (:func:`kerastag.models.dcase2016.build_cgrnn_imd`): also its window
    of frames (None: the whole chunk) and the hop between windows when scoring."""

    window: Optional[int] = 33
    window_hop: int = 10


@dataclasses.dataclass(frozen=True)
class GmmArgs:
    """``dcase2016_gmm`` (:meth:`kerastag.models.gmm.TagGmms.fit`, the challenge's EM)."""

    n_components: int = 8
    covariance: str = "diag"
    max_iter: int = 100
    tol: float = 1e-3
    reg_covar: float = 1e-3


def check_config_args(config, from_fields) -> None:
    """Check every ``model.args.<family>`` and every row's ``args`` of ``config`` (an
    :class:`~kerastag.config.sections.ExperimentConfig`) against the family's args
    dataclass, with ``from_fields(cls, data, where)`` (the parser's key and type checks,
    :mod:`kerastag.config.parse`). Nothing is converted: the builder gets the mappings as
    they are.

    Raises:
        ConfigError: one line naming the key path: an unknown key (with the nearest
            field), a wrong type, or any key for a family whose arguments are the
            ``model:`` section.
    """
    from kerastag.families import family

    for name, data in config.model.args.items():
        check_family_args(family(name), data, f"model.args.{name}", from_fields)
    for row in config.rows:
        check_family_args(config.family_of(row), row.args, f"rows[{row.name}].args",
                          from_fields)


def check_family_args(declared, data: dict, where: str, from_fields) -> None:
    """Check one mapping of ``declared``'s arguments (see :func:`check_config_args`)."""
    if not data:
        return
    args_class = declared.args_class()
    if declared.args_in_model_section:
        fields = [f.name for f in dataclasses.fields(args_class) if f.name not in ("type", "args")]
        raise ConfigError(f"{where}: {declared.name} takes its arguments from the model: "
                          f"section ({', '.join(fields)}); remove {where}")
    from_fields(args_class, data, where)
