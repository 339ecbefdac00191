"""The ``Examples`` of the API a user calls from Python run as doctests, as librosa's do:
every documented output is what the code prints today, and each listed function keeps
its example."""

from __future__ import annotations

import doctest
import importlib

import pytest

FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS

#: Module -> the objects whose docstrings must hold a running example (no model built).
WITHOUT_MODELS = {
    "kerastag.features.specs": ["LogMelA", "TimeFrequencyB", "Wave"],
    "kerastag.audio": ["load_audio"],
    "kerastag.metrics": ["equal_error_rate", "eer_per_tag", "summarize_eer", "eer_threshold",
                         "max_f1_threshold", "true_label_rank", "map_at_3",
                         "map_at_3_per_class", "top_k_indices", "top_k_labels", "accuracy"],
    "kerastag.formats.event_list": ["write_event_list"],
}
#: The model builders' examples (small Keras models: a few seconds each).
BUILDING_MODELS = {
    "kerastag.models.crnn": ["build_crnn_attloc", "frame_level_model"],
    "kerastag.models.networks": ["build_network"],
    "kerastag.models.dcase2016": ["build_dae_dnn", "build_cgrnn_imd", "build_attloc_imd"],
}


def run_examples(module_name: str, required: list[str]) -> None:
    """Run every docstring example of the module; fail with doctest's report."""
    module = importlib.import_module(module_name)
    tests = [test for test in doctest.DocTestFinder().find(module) if test.examples]
    documented = {test.name[len(module_name) + 1:] for test in tests}
    missing = sorted(set(required) - documented)
    assert not missing, f"{module_name}: no Examples in the docstring of {', '.join(missing)}"
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


@pytest.mark.parametrize("module_name", sorted(WITHOUT_MODELS))
def test_examples_run(module_name):
    run_examples(module_name, WITHOUT_MODELS[module_name])


@pytest.mark.slow
@pytest.mark.parametrize("module_name", sorted(BUILDING_MODELS))
def test_model_builder_examples_run(module_name):
    run_examples(module_name, BUILDING_MODELS[module_name])


def test_a_wrong_output_fails(tmp_path, monkeypatch):
    """The runner above reports an example whose printed output differs."""
    module = tmp_path / "wrong_example.py"
    module.write_text('def f():\n    """\n    >>> 1 + 1\n    3\n    """\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(AssertionError, match=r"Expected:\s+3\s+Got:\s+2"):
        run_examples("wrong_example", ["f"])
    with pytest.raises(AssertionError, match="no Examples in the docstring of g"):
        run_examples("wrong_example", ["g"])
