"""docs/own-data.md, run: every ``kerastag`` command of its ``bash`` blocks, in order, in a
fresh folder, on the generated own-data folders — the end-to-end test of a user's own data.

The configs the guide names are copied from ``experiments/`` with a smaller budget (1-2
epochs, fewer folds or rows, see :data:`SHRINK`); the commands are run as written. After
them, what a user relies on is checked: the dataset's class names in every table, file
and export, ``evaluate`` equal to ``run``, the fine-tuned model's provenance, level 2 and
its files without a test set.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kerastag.cli import main
from kerastag.formats.model_file import read_metadata

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "own-data.md"
TAGGING_CLASSES = ["beep", "chirp", "clink", "knock", "speech"]
CLASSIFICATION_CLASSES = ["bark", "drum", "flute", "phone"]

#: config file -> (training overrides, rows kept (None: all), dataset overrides): the
#: guide's commands on a test budget (one epoch; a row of each kind where the guide's
#: configs have several; two folds for tagging, one for the fine-tuning and its parent).
SHRINK = {
    "demo.yaml": ({"epochs": 1, "folds": [0]}, ["mixup_a1.5"], {"demo_clips": 20}),
    "own_data_tagging.yaml": ({"epochs": 1, "folds": [0, 1]}, ["mixup_a1.5", "dcase2016_gmm"], {}),
    "finetune_own_data.yaml": ({"epochs": 2, "freeze_epochs": 1, "folds": [0]}, None, {}),
    "own_data_classification.yaml": ({"epochs": 1, "batch_size": 64}, ["resnext_logmel_mixup"],
                                     {}),
}


def guide_commands(text: str) -> list[list[str]]:
    """The ``kerastag`` commands of the guide's ``bash`` blocks, as argument lists."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "kerastag":
                commands.append(words[1:])
    return commands


def _shrunk_config(source: Path, target: Path) -> None:
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    training, rows, dataset = SHRINK[source.name]
    config["training"].update(training)
    config["dataset"].update(dataset)
    if rows is not None:
        config["rows"] = [row for row in config["rows"] if _row_id(row) in rows]
    for row in config["rows"]:
        row.get("training", {}).pop("epochs", None)
    target.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def _row_id(row: dict) -> str:
    if "id" in row:
        return row["id"]
    alpha = row.get("alpha")
    return row["mixing"] if alpha is None else f"{row['mixing']}_a{alpha:g}"


def _csv_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle))


@pytest.fixture(scope="module")
def guide_run(tmp_path_factory):
    """The guide's commands run in order in a fresh folder; (folder, commands)."""
    folder = tmp_path_factory.mktemp("guide")
    (folder / "experiments").mkdir()
    commands = guide_commands(GUIDE.read_text(encoding="utf-8"))
    for name in SHRINK:
        _shrunk_config(ROOT / "experiments" / name, folder / "experiments" / name)
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("KERASTAG_CACHE", str(folder / "cache"))
        for args in commands:
            result = runner.invoke(main, args, catch_exceptions=False)
            assert result.exit_code == 0, f"kerastag {shlex.join(args)}:\n{result.output}"
    return folder, commands


@pytest.mark.slow
def test_the_guide_names_each_step_and_only_configs_it_ships(guide_run):
    _, commands = guide_run
    verbs = [args[0] for args in commands]
    for verb in ("data", "run", "evaluate", "predict", "calibrate", "export"):
        assert verb in verbs
    for args in commands:
        for word in args:
            if word.startswith("experiments/"):
                assert word.split("/", 1)[1] in SHRINK, word


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
    metadata = read_metadata(child)
    assert metadata["init_from"]["sha256"] == hashlib.sha256(parent.read_bytes()).hexdigest()
    assert metadata["classes"] == TAGGING_CLASSES


@pytest.mark.slow
def test_classification_stacks_without_a_test_set_and_predicts_with_the_stack(guide_run):
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
