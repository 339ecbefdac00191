"""kerastag.names: the registry's lookups and its "unknown name" message."""

from __future__ import annotations

import pytest

from kerastag import families, names
from kerastag.errors import ModelError


def test_resolve_imports_a_module_attribute():
    assert names.resolve("kerastag.errors:ModelError") is ModelError
    assert names.resolve("kerastag.names:LAYOUTS") is names.LAYOUTS


def test_resolve_indexes_a_dict_attribute_after_a_dot():
    assert names.resolve("kerastag.names:MIXING_MODES.mixup") is names.MIXING_MODES["mixup"]
    assert names.resolve("kerastag.names:MIXING_MODES.none").mix is None


def test_resolve_of_a_missing_target_fails_loudly():
    with pytest.raises(ModuleNotFoundError):
        names.resolve("kerastag.nowhere:thing")
    with pytest.raises(AttributeError):
        names.resolve("kerastag.errors:NoSuchError")
    with pytest.raises(KeyError):
        names.resolve("kerastag.names:MIXING_MODES.cutmix")


def test_unknown_name_suggests_the_nearest_and_lists_every_choice():
    message = names.unknown_name("rows[0].mixing", "mixpu", names.MIXING_MODES)
    assert message == ("rows[0].mixing: unknown value 'mixpu' (did you mean 'mixup'?); "
                       "expected one of none, mixup, samplepairing, mixup_lp, extrapolation")


@pytest.mark.parametrize("value, nearest", [("resnext", "resnext50"), ("dpn96", "dpn92"),
                                            ("mixup-lp", "mixup_lp"), ("chime_home", "chime-home")])
def test_suggest_picks_the_nearest(value, nearest):
    choices = [*families.FAMILIES, *names.MIXING_MODES, *names.LAYOUTS]
    assert names.suggest(value, choices) == f" (did you mean {nearest!r}?)"


def test_nothing_close_gives_no_suggestion():
    message = names.unknown_name("dataset.layout", "zzzz", names.LAYOUTS)
    assert message == ("dataset.layout: unknown value 'zzzz'; "
                       "expected one of chime-home, fsdkaggle2018, csv")


def test_uses_alpha_only_for_the_beta_modes():
    assert [m for m in names.MIXING_MODES if names.uses_alpha(m)] == \
        ["mixup", "mixup_lp", "extrapolation"]


def test_every_export_format_resolves_its_converter_signature_reader_and_runtime():
    assert list(names.EXPORT_FORMATS) == ["saved_model", "onnx", "litert"]
    for entry in names.EXPORT_FORMATS.values():
        for target in (entry.convert, entry.signature, entry.runtime):
            assert callable(names.resolve(target)), target
