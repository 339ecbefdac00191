"""docs/own-data.md, run: every ``kerastag`` command of its ``bash`` blocks up to section 7
(tagging), in order, in a fresh folder, on the generated own-data folder — the end-to-end
test of a user's own data and classes with paper A. Section 8 (classification) runs in
``test_own_data_guide_classification.py``.

The configs the guide names are copied from ``experiments/`` with a smaller budget (see
``GUIDE_SHRINK`` in ``tests/helpers.py``); the commands are run as written. After them,
what a user relies on is checked: the dataset's class names in every table, file and
export, ``evaluate`` equal to ``run``, the fine-tuned model's provenance.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from kerastag.formats.model_file import read_model_info

TAGGING_CLASSES = ["beep", "chirp", "clink", "knock", "speech"]


def _csv_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle))


@pytest.fixture(scope="module")
def guide_run(tmp_path_factory, run_own_data_guide):
    """The guide's tagging commands run in order in a fresh folder; (folder, commands)."""
    folder = tmp_path_factory.mktemp("guide")
    return folder, run_own_data_guide(folder, "tagging")


@pytest.mark.slow
def test_the_guide_names_each_step_and_only_configs_it_ships(guide_run):
    _, commands = guide_run
    verbs = [args[0] for args in commands]
    for verb in ("data", "run", "evaluate", "predict", "calibrate", "export"):
        assert verb in verbs
    configs = [word for args in commands for word in args if word.startswith("experiments/")]
    assert configs == ["experiments/own_data_tagging.yaml", "experiments/demo.yaml",
                       "experiments/finetune_own_data.yaml"]


@pytest.mark.slow
def test_tagging_tables_evaluate_predict_calibrate_and_export_carry_the_classes(guide_run):
    folder, _ = guide_run
    run = folder / "runs" / "own_data_tagging"
    header = _csv_header(run / "table.csv")
    assert [c for c in header if c in TAGGING_CLASSES] == TAGGING_CLASSES
    assert "c" not in header and "child speech" not in (run / "table.md").read_text("utf-8")
    assert (run / "evaluate" / "table.csv").read_bytes() == (run / "table.csv").read_bytes()
    scores = _csv_header(run / "garden_tags.csv")
    assert set(TAGGING_CLASSES) <= set(scores)
    with (run / "garden_tags.csv").open(encoding="utf-8", newline="") as handle:
        files = [row[scores.index("file")] for row in csv.reader(handle)][1:]
    assert files and all(" " in name for name in files)
    events = (run / "kitchen_events.tsv").read_text("utf-8").splitlines()
    labels = {line.split("\t")[3] for line in events[1:]}
    assert labels and labels <= set(TAGGING_CLASSES)
    thresholds = json.loads((run / "thresholds" / "mixup_a1.5.json").read_text("utf-8"))
    assert set(TAGGING_CLASSES) <= set(json.dumps(thresholds).replace('"', " ").split())
    metadata = json.loads((run / "export" / "metadata.json").read_text("utf-8"))
    assert metadata["classes"] == TAGGING_CLASSES


@pytest.mark.slow
def test_the_fine_tuned_model_records_its_parent(guide_run):
    folder, _ = guide_run
    parent = folder / "runs" / "demo" / "models" / "mixup_a1.5" / "fold0.keras"
    child = next((folder / "runs" / "finetune_own_data" / "models").rglob("fold0.keras"))
    info = read_model_info(child)
    assert info.init_from["sha256"] == hashlib.sha256(parent.read_bytes()).hexdigest()
    assert list(info.classes) == TAGGING_CLASSES
