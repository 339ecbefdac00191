"""Trace once, train many (:mod:`kerastag.compiled_models`): units of one architecture
trained in one kept compiled model give exactly what units trained in their own give,
and the second unit does not trace again."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kerastag import compiled_models
from kerastag.config import load_config
from kerastag.runner.task import make_task


def write_config(path: Path, dataset: Path, cache: Path, *, reuse: bool, rows: list[str],
                 training: str = "") -> Path:
    path.write_text(
        f"name: reuse\n"
        f"dataset: {{path: {dataset}}}\n"
        f"features: {{cache_dir: {cache}, workers: 1}}\n"
        f"model: {{filters: [4, 4, 4, 8, 8, 8, 8], rnn_units: 4}}\n"
        f"training: {{batch_size: 8, epochs: 2, patience: 1, folds: [0], verbose: 0, "
        f"deterministic: true{training}}}\n"
        f"execution: {{reuse_models: {str(reuse).lower()}}}\n"
        f"rows:\n" + "".join(f"  - {row}\n" for row in rows))
    return path


def traces(function) -> int:
    """Graphs traced so far by every ``tf.function`` inside a Keras step function (Keras
    wraps them in plain closures)."""
    total, seen, stack = 0, set(), [function]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if hasattr(current, "experimental_get_tracing_count"):
            total += current.experimental_get_tracing_count()
            current = current.python_function
        for cell in getattr(current, "__closure__", None) or ():
            contents = cell.cell_contents
            if callable(contents):
                stack.append(contents)
    return total


def train_units(config_path: Path) -> list[dict]:
    """Train every unit as the local engine does (one after another in this process),
    taking each unit's weights, history and predictions before the next unit starts."""
    task = make_task(load_config(config_path))
    data = task.load()
    trained = []
    for unit in task.units(data):
        result = task.train_unit(data, unit)
        trained.append({"model": result.model, "weights": result.model.get_weights(),
                        "history": result.history.copy(), "predictions": result.predictions,
                        "traces": traces(result.model.train_function),
                        "test_traces": traces(result.model.test_function),
                        "predict_traces": traces(result.model.predict_function)})
    return trained


ROWS = ["{mixing: mixup, alpha: 1.5}", "{mixing: samplepairing}"]


@pytest.fixture(scope="module")
def both_ways(chime_demo, tmp_path_factory):
    base = tmp_path_factory.mktemp("reuse")
    runs = {}
    for reuse in (False, True):
        compiled_models.forget()
        config = write_config(base / f"{reuse}.yaml", chime_demo[0], base / "cache",
                              reuse=reuse, rows=ROWS,
                              training=", lr_schedule: plateau, lr_patience: 1, lr_factor: 0.5")
        runs[reuse] = train_units(config)
    compiled_models.forget()
    return runs


def test_reuse_gives_the_same_weights_histories_and_predictions(both_ways):
    fresh, reused = both_ways[False], both_ways[True]
    assert len(fresh) == len(reused) == 2  # two rows on fold 0
    for a, b in zip(fresh, reused):
        assert len(a["weights"]) == len(b["weights"])
        for wa, wb in zip(a["weights"], b["weights"]):
            np.testing.assert_array_equal(wa, wb)
        pd.testing.assert_frame_equal(a["history"], b["history"])
        assert a["predictions"].keys() == b["predictions"].keys()
        for key in a["predictions"]:
            np.testing.assert_array_equal(a["predictions"][key], b["predictions"][key])


def test_units_after_the_first_do_not_trace_again(both_ways):
    fresh, reused = both_ways[False], both_ways[True]
    assert len({id(unit["model"]) for unit in reused}) == 1  # one compiled model for all
    assert len({id(unit["model"]) for unit in fresh}) == 2  # without reuse: one each
    for kind in ("traces", "test_traces", "predict_traces"):
        first = fresh[0][kind]
        assert first >= 1
        assert [unit[kind] for unit in fresh] == [first] * 2  # each model traced its own
        once = reused[0][kind]  # traced for the first unit only (no more than without reuse)
        assert 1 <= once <= first and [unit[kind] for unit in reused] == [once] * 2


def test_a_different_architecture_gets_its_own_model(chime_demo, tmp_path):
    compiled_models.forget()
    config = write_config(tmp_path / "c.yaml", chime_demo[0], tmp_path / "cache", reuse=True,
                          rows=ROWS[:1])
    first = make_task(load_config(config))
    data = first.load()
    a = first.train_unit(data, first.units(data)[0]).model
    wider = config.read_text().replace("rnn_units: 4", "rnn_units: 6")
    (tmp_path / "w.yaml").write_text(wider)
    second = make_task(load_config(tmp_path / "w.yaml"))
    b = second.train_unit(data, second.units(data)[0]).model
    assert a is not b and compiled_models.kept_count() == 2
    compiled_models.forget()


def test_reuse_models_must_be_a_boolean(chime_demo, tmp_path):
    from kerastag.errors import ConfigError

    path = write_config(tmp_path / "c.yaml", chime_demo[0], tmp_path / "cache", reuse=True,
                        rows=ROWS)
    path.write_text(path.read_text().replace("reuse_models: true", "reuse_models: maybe"))
    with pytest.raises(ConfigError, match="execution.reuse_models"):
        load_config(path)


def test_reloaded_models_of_one_architecture_predict_through_one_traced_model(both_ways,
                                                                               tmp_path):
    import keras

    x = np.random.default_rng(0).normal(size=(5, 124, 128)).astype("float32")
    compiled_models.forget()
    served, traced, expected = [], [], []
    for index, unit in enumerate(both_ways[False]):  # two models of one architecture
        path = tmp_path / f"{index}.keras"
        unit["model"].save(path)
        expected.append(keras.saving.load_model(path).predict(x, verbose=0))
        model = compiled_models.reuse_for_inference(keras.saving.load_model(path))
        served.append(model)
        np.testing.assert_array_equal(model.predict(x, verbose=0), expected[-1])
        traced.append(traces(model.predict_function))
    assert served[0] is served[1] and traced[0] == traced[1] >= 1
    assert not np.array_equal(expected[0], expected[1])  # the second unit's weights are used
    compiled_models.forget()


@pytest.mark.parametrize("keep_traces, clears", [(True, 0), (False, 2)])
def test_a_reusing_unit_keeps_tensorflows_cached_functions(chime_demo, tmp_path, monkeypatch,
                                                           keep_traces, clears):
    """clear_session and set_seed each clear the eager context's caches (the kept model's
    instantiated steps) unless the unit reuses; names and seeds are reset either way."""
    import random

    import keras
    from tensorflow.python.eager import context

    from kerastag.fitting import start_unit

    context.ensure_initialized()  # caches exist to be cleared (as in any training process)
    calls = []
    clear = context.pywrap_tfe.TFE_ContextClearCaches
    monkeypatch.setattr(context.pywrap_tfe, "TFE_ContextClearCaches",
                        lambda handle: (calls.append(handle), clear(handle)))
    config = load_config(write_config(tmp_path / "c.yaml", chime_demo[0], tmp_path / "cache",
                                      reuse=True, rows=ROWS))
    keras.layers.Dense(1)  # a name taken before the unit starts
    start_unit(config, 7, keep_traces=keep_traces)
    drawn = random.random()
    random.seed(7)
    assert drawn == random.random()  # seeded by the unit's seed
    assert len(calls) == clears
    assert keras.layers.Dense(1).name == "dense"  # names start afresh
