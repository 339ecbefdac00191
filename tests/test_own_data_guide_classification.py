"""docs/own-data.md, section 8, run: classification of one's own single-label clips with
paper B and stacking, every ``kerastag`` command of the section in order in a fresh
folder (the configs on the test budget of ``GUIDE_SHRINK`` in ``tests/helpers.py``).
Sections 1-7 run in ``test_own_data_guide.py``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

CLASSIFICATION_CLASSES = ["bark", "drum", "flute", "phone"]


@pytest.fixture(scope="module")
def guide_run(tmp_path_factory, run_own_data_guide):
    """The guide's classification commands run in order in a fresh folder; (folder, commands)."""
    folder = tmp_path_factory.mktemp("guide_classification")
    return folder, run_own_data_guide(folder, "classification")


def _csv_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle))


@pytest.mark.slow
def test_the_section_checks_single_label_and_runs_its_config(guide_run):
    _, commands = guide_run
    assert ["data", "check", "data/my_clips", "--layout", "csv", "--single-label"] in commands
    assert ["run", "experiments/own_data_classification.yaml"] in commands


@pytest.mark.slow
def test_classification_stacks_scores_the_test_fold_and_predicts_with_the_stack(guide_run):
    folder, _ = guide_run
    run = folder / "runs" / "own_data_classification"
    assert (run / "table.csv").is_file() and (run / "stack" / "table.csv").is_file()
    level1 = _csv_header(next((run / "level1").glob("*.oof.csv")))
    assert [c for c in level1 if c in CLASSIFICATION_CLASSES] == CLASSIFICATION_CLASSES
    predicted = (run / "garden_classes.csv").read_text("utf-8")
    assert any(name in predicted for name in CLASSIFICATION_CLASSES)
    with (run / "stack" / "submission.csv").open(encoding="utf-8", newline="") as handle:
        submission = list(csv.reader(handle))
    assert len(submission) == 1 + 8  # every sixth of the 48 clips is a test clip
    assert all(set(row[1].split()) <= set(CLASSIFICATION_CLASSES) for row in submission[1:])
