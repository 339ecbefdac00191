"""An unexpected error inside a unit's training (TensorFlow's own errors, a bug) reaches the
user of ``kerastag run`` as one line naming the unit, exit status 2; ``kerastag --verbose``
shows the whole traceback."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from kerastag.cli import main
from kerastag.errors import exception_line
from kerastag.tasks.tagging import task as tagging

TINY = ("name: tiny\ndataset: {{path: {dataset}}}\n"
        "features: {{n_mels: 16, cache_dir: {cache}, workers: 1}}\n"
        "model: {{filters: [4, 4, 4, 4], rnn_units: 4}}\n"
        "training: {{batch_size: 8, epochs: 1, patience: 1, folds: [0], verbose: 0}}\n"
        "rows: [{{mixing: mixup, alpha: 1.5}}]\n")


def _graph_execution_error() -> tf.errors.OpError:
    """A real TensorFlow error out of ``model.fit`` ("Graph execution error: ...")."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    try:
        model.fit(np.zeros((4, 3), "float32"), np.array([0, 1, 5, 1]), verbose=0)
    except tf.errors.OpError as exc:
        return exc
    raise AssertionError("a label outside the classes did not fail")


@pytest.fixture
def failing_run(chime_demo, tmp_path, monkeypatch):
    """A one-unit config whose training raises TensorFlow's error; returns (config, out)."""
    error = _graph_execution_error()

    def train_unit(self, data, unit):
        raise error

    monkeypatch.setattr(tagging.TaggingTask, "train_unit", train_unit)
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY.format(dataset=chime_demo[0], cache=tmp_path / "cache"))
    return config, tmp_path / "out"


#: TensorFlow's own message for the bad label: the loss's kernel or a gather reports it,
#: whichever op of the graph runs first on the machine (thread count, oneDNN).
BAD_LABEL = re.compile(r"(Received a label value of 5 which is outside the valid range of "
                       r"\[0, 2\)|indices\[\d+\] = 5 is not in \[0, 2\))")


def test_tensorflow_message_is_found_below_its_graph_execution_headers():
    line = exception_line(_graph_execution_error())
    assert BAD_LABEL.match(line), line
    wrapped = tf.errors.InvalidArgumentError(None, None, "{{function_node __inference_f_18}} "
                                             "indices[0] = 5 is not in [0, 2)\n\t [[{{node G}}]]")
    assert exception_line(wrapped) == "indices[0] = 5 is not in [0, 2)"
    assert exception_line(RuntimeError("boom\nsecond line")) == "boom"
    assert exception_line(RuntimeError()) == "(no message)"


def test_an_unexpected_error_in_training_is_one_line_naming_the_unit(failing_run):
    config, out = failing_run
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(out)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    prefix = "error: mixup_a1.5 fold0: InvalidArgumentError: "
    assert line.startswith(prefix) and BAD_LABEL.match(line[len(prefix):]), line
    assert not list(out.rglob("*.keras")) and not list(out.rglob("*.npz"))


def test_verbose_shows_the_whole_traceback_then_the_line(failing_run):
    config, out = failing_run
    result = CliRunner().invoke(main, ["--verbose", "run", str(config), "--out", str(out)])
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "Graph execution error:" in result.stderr  # TensorFlow's whole message
    assert "in train_unit" in result.stderr  # the frame that raised
    assert "The above exception was the direct cause" in result.stderr
    last = result.stderr.rstrip().splitlines()[-1]
    prefix = "error: mixup_a1.5 fold0: InvalidArgumentError: "
    assert last.startswith(prefix) and BAD_LABEL.match(last[len(prefix):]), last
