"""Each model family's args dataclass (kerastag.config.family_args): its fields and defaults
are the builder's (pinned against the builders' signatures), config loading checks
``model.args.<family>`` and rows' ``args`` against it in one line, and a row whose features
its family does not declare it reads is refused at load."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
from click.testing import CliRunner

from kerastag.config import from_dict
from kerastag.config.sections import ExperimentConfig, ModelConfig
from kerastag.errors import ConfigError
from kerastag.families import FAMILIES, family

#: Builder keywords a config does not set: the model's name, and what training sets.
NOT_CONFIGURABLE = {"name", "input_mean", "input_variance"}


def keyword_defaults(source) -> dict:
    """``{keyword: default}`` of a builder's keyword-only parameters (or a settings dict)."""
    if isinstance(source, dict):
        return dict(source)
    return {p.name: p.default for p in inspect.signature(source).parameters.values()
            if p.kind is p.KEYWORD_ONLY}


def builder_sources(name: str) -> tuple[list, set]:
    """The builder signatures a family's args come from (the first naming a keyword gives
    its default) and the keywords the family fixes itself."""
    from kerastag.models import applications, dcase2016, dpn, networks, resnext, wave
    from kerastag.models.gmm import TagGmms
    from kerastag.tasks.tagging.baselines import DAE_PRETRAINING, GMM_SETTINGS

    wave_front_end = [networks.NETWORKS.get(name), wave.build_wave_model]
    resnext_on_wave = {k: v for k, v in keyword_defaults(resnext.build_resnext).items()
                       if k in wave._RESNEXT_ARGS}
    return {
        "resnext50": (wave_front_end + [resnext.build_resnext], set()),
        "se_resnext50": (wave_front_end + [resnext.build_resnext], {"se"}),
        "dpn68": (wave_front_end + [dpn.build_dpn], {"variant"}),
        "dpn92": (wave_front_end + [dpn.build_dpn], {"variant"}),
        "xception": (wave_front_end + [applications.build_xception], set()),
        "resnet50": (wave_front_end + [applications.build_resnet50], set()),
        "wave_resnext": (wave_front_end + [resnext_on_wave], set()),
        "dae_dnn": ([dcase2016.build_dae_dnn, DAE_PRETRAINING], set()),
        "cgrnn_imd": ([dcase2016.build_cgrnn_imd], set()),
        "attloc_imd": ([dcase2016.build_attloc_imd], set()),
        "dcase2016_gmm": ([TagGmms.fit, GMM_SETTINGS], {"seed"}),
    }[name]


def config_with(task: str, rows: list[dict], **extra) -> ExperimentConfig:
    return from_dict(ExperimentConfig, {"name": "x", "task": task, "rows": rows, **extra})


def load_error(task: str, rows: list[dict], **extra) -> str:
    with pytest.raises(ConfigError) as error:
        config_with(task, rows, **extra)
    message = str(error.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- declarations


def test_every_family_declares_a_frozen_args_dataclass():
    for name, declared in FAMILIES.items():
        args_class = declared.args_class()
        assert dataclasses.is_dataclass(args_class), name
        assert args_class.__dataclass_params__.frozen, name
        assert all(f.default is not dataclasses.MISSING or f.default_factory is not
                   dataclasses.MISSING for f in dataclasses.fields(args_class)), name
    assert family("crnn_attloc").args_class() is ModelConfig
    assert family("crnn_attloc").args_in_model_section
    assert not any(f.args_in_model_section for n, f in FAMILIES.items() if n != "crnn_attloc")


@pytest.mark.parametrize("name", [n for n in FAMILIES if n != "crnn_attloc"])
def test_args_fields_and_defaults_are_the_builders(name):
    sources, fixed = builder_sources(name)
    expected: dict = {}
    for source in sources:
        for keyword, default in keyword_defaults(source).items():
            expected.setdefault(keyword, default)
    for keyword in NOT_CONFIGURABLE | fixed:
        expected.pop(keyword, None)
    declared = {f.name: f.default for f in dataclasses.fields(family(name).args_class())}
    assert declared == expected


# --------------------------------------------------------------------------- config loading


def test_an_unknown_row_arg_names_the_key_path_and_the_nearest_field():
    message = load_error("classification", [
        {"id": "w", "network": "resnext50", "features": "wave", "args": {"bandz": 4}}])
    assert message == "rows[w].args.bandz: unknown key; did you mean 'bands'?"


def test_an_unknown_model_arg_names_the_key_path_and_the_nearest_field():
    message = load_error("tagging", [{"mixing": "none"}],
                         model={"args": {"dae_dnn": {"dae_epoch": 3}}})
    assert message == "model.args.dae_dnn.dae_epoch: unknown key; did you mean 'dae_epochs'?"


def test_a_wrongly_typed_arg_is_one_line():
    message = load_error("tagging", [{"id": "c", "network": "cgrnn_imd",
                                      "args": {"filters": "wide"}}])
    assert message == "rows[c].args.filters: expected int, got str 'wide'"
    message = load_error("classification", [{"network": "dpn68", "features": "mfcc"}],
                         model={"args": {"resnext50": {"blocks": 3}}})
    assert message == "model.args.resnext50.blocks: expected a list, got int 3"


def test_args_reach_the_builder_as_the_config_set_them():
    config = config_with("tagging", [{"network": "dae_dnn",
                                      "args": {"hidden": [64, 32], "dae_epochs": 1}}],
                         model={"args": {"dae_dnn": {"window_hop": 3}}})
    assert config.rows[0].args == {"hidden": [64, 32], "dae_epochs": 1}  # not the defaults
    assert config.model.args == {"dae_dnn": {"window_hop": 3}}


def test_the_crnn_takes_its_arguments_from_the_model_section_only():
    message = load_error("tagging", [{"args": {"filters": [4]}}])
    assert message.startswith("rows[none].args: crnn_attloc takes its arguments from the "
                              "model: section (filters, rnn_units, ")
    assert message.endswith("; remove rows[none].args")


def test_a_bad_arg_in_a_yaml_file_is_one_cli_line(tmp_path):
    from kerastag.cli import main

    config = tmp_path / "bad.yaml"
    config.write_text("name: bad\nrows: [{network: attloc_imd, args: {rnn_unit: 8}}]\n")
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (f"error: {config}: rows[attloc_imd_none].args.rnn_unit: "
                                     f"unknown key; did you mean 'rnn_units'?")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- declared inputs


@pytest.mark.parametrize("task, rows, extra, expected", [
    ("tagging", [{"mixing": "none"}, {"network": "cgrnn_imd", "features": "mfcc_frames"}], {},
     "rows[1]: model.type cgrnn_imd: this family reads logmel_imd, not mfcc_frames"),
    ("tagging", [{"mixing": "none"}], {"features": {"type": "mfcc_frames"}},
     "rows[0]: model.type crnn_attloc: this family reads logmel_a, not mfcc_frames"),
    ("classification", [{"network": "wave_resnext", "features": "logmel"}], {},
     "rows[0]: model.type wave_resnext: this family reads wave, not logmel"),
])
def test_a_row_on_features_its_family_does_not_read_is_refused_at_load(task, rows, extra,
                                                                        expected):
    assert load_error(task, rows, **extra) == expected


def test_declared_inputs_and_defaults_still_load():
    config = config_with("tagging", [{"mixing": "none"}, {"network": "dae_dnn"},
                                     {"network": "cgrnn_imd", "features": {"type": "logmel_imd"}}])
    assert [config.feature_type_of(row) for row in config.rows] == [
        "logmel_a", "mfcc_frames", "logmel_imd"]
