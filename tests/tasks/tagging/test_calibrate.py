"""``kerastag calibrate`` (kerastag.tasks.tagging.calibrate) and the threshold metrics
(kerastag.metrics.eer_threshold / max_f1_threshold) on hand-made scores and on run folders
built by hand (no training: predictions are written directly)."""

from __future__ import annotations

import json
import math
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from kerastag import metrics
from kerastag.cli import main
from kerastag.errors import KerastagError
from kerastag.formats import run_folder
from kerastag.formats.thresholds import CRITERIA, read_thresholds, read_thresholds_table, \
    thresholds_path_for_model
from kerastag.reference_results import CHIME_HOME_TAGS
from kerastag.tasks.tagging.calibrate import calibrate_run

TAGS = list(CHIME_HOME_TAGS)
ROWS = ("mixup_a1.5", "samplepairing")


# ----------------------------------------------------------------- the metrics


def test_eer_threshold_separates_perfectly_separable_scores():
    y = np.array([0, 1, 0, 1, 1, 0])
    s = np.array([0.1, 0.7, 0.3, 0.9, 0.6, 0.2])
    threshold = metrics.eer_threshold(y, s)
    assert threshold == 0.6  # the lowest positive score: every positive, no negative
    assert np.array_equal(s >= threshold, y == 1)
    assert metrics.equal_error_rate(y, s) == 0.0


def test_eer_threshold_hand_computed_interpolation():
    # positives 0.9, 0.6; negatives 0.6, 0.1. ROC (with (0,0) in front): (0,0)@inf,
    # (0,.5)@.9, (.5,1)@.6, (1,1)@.1. The first point past the anti-diagonal is (.5,1);
    # the segment (0,.5)->(.5,1) crosses it at FPR = .25 (the EER), halfway along it,
    # so the threshold is halfway between .9 and .6.
    y, s = [1, 1, 0, 0], [0.9, 0.6, 0.6, 0.1]
    assert metrics.equal_error_rate(y, s) == pytest.approx(0.25)
    assert metrics.eer_threshold(y, s) == pytest.approx(0.75)
    # a crossing at a ROC point: threshold .6 gives FPR = FNR = .5
    assert metrics.eer_threshold([0, 1, 0, 1], [0.2, 0.4, 0.6, 0.8]) == pytest.approx(0.6)


def test_eer_threshold_equalises_the_error_rates_on_many_clips():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 4000)
    s = np.clip(0.35 * y + 0.65 * rng.random(4000), 0, 1)
    threshold = metrics.eer_threshold(y, s)
    tagged = s >= threshold
    fpr, fnr = tagged[y == 0].mean(), (~tagged[y == 1]).mean()
    eer = metrics.equal_error_rate(y, s)
    assert abs(fpr - eer) < 2e-3 and abs(fnr - eer) < 2e-3
    assert s.min() <= threshold <= s.max()


def brute_force_best_f1(y, s):
    best, at = -1.0, None
    for t in sorted(set(s.tolist())):  # ascending: the first best is the lowest threshold
        tagged = s >= t
        tp = np.sum(tagged & (y == 1))
        f1 = 2 * tp / (tagged.sum() + (y == 1).sum())
        if f1 > best + 1e-12:
            best, at = f1, t
    return at


def test_max_f1_threshold_matches_a_brute_force_search():
    y = np.array([1, 0, 1, 0, 1, 1, 0, 0])
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.55, 0.3, 0.2, 0.1])
    assert metrics.max_f1_threshold(y, s) == brute_force_best_f1(y, s) == 0.3
    rng = np.random.default_rng(1)
    for _ in range(20):
        y = rng.integers(0, 2, 30)
        y[:2] = [0, 1]
        s = np.round(np.clip(0.3 * y + 0.7 * rng.random(30), 0, 1), 2)  # with ties
        assert metrics.max_f1_threshold(y, s) == brute_force_best_f1(y, s)


def test_max_f1_ties_go_to_the_lowest_threshold():
    # threshold .8: P=1, R=.5, F1=2/3; threshold .2: P=.5, R=1, F1=2/3
    assert metrics.max_f1_threshold([1, 0, 0, 1], [0.8, 0.5, 0.4, 0.2]) == 0.2


@pytest.mark.parametrize("function", [metrics.eer_threshold, metrics.max_f1_threshold])
def test_thresholds_of_a_tag_without_positives_or_negatives_are_nan(function):
    assert math.isnan(function([0, 0, 0], [0.1, 0.5, 0.9]))
    assert math.isnan(function([1, 1], [0.1, 0.5]))
    with pytest.raises(metrics.MetricError):
        function([0, 1], [0.1, float("nan")])


# ------------------------------------------------------------- a run by hand


def make_run(folder, *, task="tagging", protocol="crossval", folds=3, rows=ROWS,
             finished=True, seed=0, extra_training=""):
    """A tagging run folder as ``kerastag run`` leaves it, minus models and histories."""
    folder.mkdir(parents=True, exist_ok=True)
    if task == "classification":
        body = ("task: classification\nfeatures: {type: logmel}\n"
                "rows:\n  - {network: resnext50, features: logmel}\n")
        rows = ("resnext50_logmel",)
    else:
        body = "rows:\n  - {mixing: mixup, alpha: 1.5}\n  - {mixing: samplepairing}\n"
    (folder / "config.yaml").write_text(
        f"name: handmade\ndataset: {{path: {folder / 'no_dataset'}}}\n"
        f"training: {{protocol: {protocol}{extra_training}}}\n{body}")
    rng = np.random.default_rng(seed)
    pooled = {}
    for row in rows:
        ys, ss = [], []
        units = [f"fold{k}" for k in range(folds)] + ["evaluation"]
        for unit in units:
            n = 40
            y = (rng.random((n, len(TAGS))) < 0.4).astype(np.float32)
            y[:, -1] = 0  # tag 'o' never occurs: it keeps the default
            s = np.clip(0.4 * y + 0.6 * rng.random(y.shape), 0, 1).astype(np.float32)
            if unit == "evaluation":
                s = 1.0 - s  # would change every threshold if it were pooled
            else:
                ys.append(y)
                ss.append(s)
            run_folder.write_predictions(
                run_folder.unit_paths(folder, row, unit)["predictions"],
                {"clip_ids": np.array([f"{unit}_{i}" for i in range(n)]), "y_true": y,
                 "scores": s})
        pooled[row] = (np.concatenate(ys), np.concatenate(ss))
    if finished:
        (folder / "table.csv").write_text("row\n")
    return pooled


def fake_model(path, classes):
    """A ``.keras`` name holding only the ``kerastag.json`` member (what read_model_info
    reads), as a file from before versions were written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("kerastag.json", json.dumps({"task": "tagging", "classes": classes,
                                                   "features": {"type": "logmel_a"}}))


@pytest.mark.parametrize("criterion", CRITERIA)
def test_calibrate_pools_the_folds_and_writes_each_row(tmp_path, criterion, assert_no_temp_files):
    run = tmp_path / "run"
    pooled = make_run(run)
    lines = []
    written = calibrate_run(run, criterion=criterion, log=lines.append)
    assert written == [run / "thresholds" / f"{row}.json" for row in ROWS] + [
        run / "thresholds" / "thresholds.csv"]
    function = {"eer": metrics.eer_threshold, "f1": metrics.max_f1_threshold}[criterion]
    for row in ROWS:
        y, s = pooled[row]
        expected = [function(y[:, k], s[:, k]) for k in range(len(TAGS) - 1)] + [0.5]
        document = json.loads((run / "thresholds" / f"{row}.json").read_text())
        assert document["format"] == "kerastag-thresholds" and document["version"] == 2
        assert document["clip"]["criterion"] == criterion and document["row"] == row
        assert document["classes"] == TAGS and document["source"] == str(run.resolve())
        np.testing.assert_allclose(read_thresholds(written[ROWS.index(row)], TAGS), expected)
        assert any(line.startswith(f"{row}: {criterion} thresholds from 3 folds (120 clips): c=")
                   for line in lines), lines
        assert f"note: {row}: tag 'o' has no positive" in "\n".join(lines)
        # kerastag predict finds the row's file beside any of its models
        model = run / "models" / row / "fold0.keras"
        assert thresholds_path_for_model(model) == run / "thresholds" / f"{row}.json"
    classes, table = read_thresholds_table(written[-1])
    assert classes == TAGS and list(table) == list(ROWS)
    assert table[ROWS[0]][0] == criterion
    np.testing.assert_allclose(table[ROWS[0]][1], read_thresholds(written[0], TAGS), atol=1e-6)
    assert_no_temp_files(run)


def test_the_tags_come_from_a_saved_model_of_the_row(tmp_path):
    run = tmp_path / "run"
    make_run(run)
    renamed = [f"tag{k}" for k in range(len(TAGS))]
    for row in ROWS:
        fake_model(run / "models" / row / "fold0.keras", renamed)
    calibrate_run(run, log=lambda line: None)
    document = json.loads((run / "thresholds" / f"{ROWS[0]}.json").read_text())
    assert document["classes"] == renamed and list(document["clip"]["thresholds"]) == renamed


def test_a_model_with_other_tags_than_the_scores_is_refused(tmp_path):
    run = tmp_path / "run"
    make_run(run)
    fake_model(run / "models" / ROWS[0] / "fold0.keras", ["a", "b"])
    with pytest.raises(KerastagError, match="scores have 7 tags but the row's model has 2"):
        calibrate_run(run, log=lambda line: None)
    assert not (run / "thresholds").exists()


def test_a_row_of_log_likelihood_scores_is_skipped_with_a_note(tmp_path):
    run = tmp_path / "run"
    make_run(run)
    for unit in ("fold0", "fold1", "fold2"):
        path = run_folder.unit_paths(run, ROWS[1], unit)["predictions"]
        saved = run_folder.read_predictions(path)
        run_folder.write_predictions(path, saved | {"scores": saved["scores"] * 40 - 20})
    lines = []
    written = calibrate_run(run, log=lines.append)
    assert written == [run / "thresholds" / f"{ROWS[0]}.json",
                       run / "thresholds" / "thresholds.csv"]
    assert f"note: {ROWS[1]}: scores are not probabilities" in "\n".join(lines)


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_prints_where_the_files_went(tmp_path):
    run = tmp_path / "run"
    make_run(run)
    result = cli("calibrate", run, "--criterion", "f1")
    assert result.exit_code == 0, result.output
    assert f"thresholds: {run / 'thresholds' / 'mixup_a1.5.json'}" in result.output
    assert f"thresholds: {run / 'thresholds' / 'thresholds.csv'}" in result.output
    assert "mixup_a1.5: f1 thresholds from 3 folds" in result.output


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def break_run(case, run):
    if case == "missing":
        return run / "absent", ["absent", "not a kerastag run folder (no config.yaml)"]
    if case == "bad_yaml":
        make_run(run)
        (run / "config.yaml").write_text("name: [unclosed\n")
        return run, ["config.yaml", "not valid YAML", "line 2"]
    if case == "classification":
        make_run(run, task="classification")
        return run, ["classification", "single-label", "meaningless"]
    if case == "evaluation":
        make_run(run, protocol="evaluation")
        return run, ["protocol 'evaluation'", "no out-of-fold predictions", "kerastag run"]
    if case == "unfinished":
        make_run(run, finished=False)
        return run, ["unfinished run", "kerastag run"]
    if case == "no_predictions":
        make_run(run, rows=ROWS[:1])
        return run, [str(run / "predictions" / ROWS[1]), "no out-of-fold predictions",
                     "kerastag run"]
    if case == "missing_fold":
        make_run(run, folds=2, extra_training=", folds: [0, 1, 2]")
        return run, [str(run / "predictions" / ROWS[0] / "fold2.npz"), "not found",
                     "fold 2 of row 'mixup_a1.5' is unfinished", "kerastag run"]
    if case == "model_without_predictions":
        make_run(run)
        fake_model(run / "models" / ROWS[1] / "fold3.keras", TAGS)
        return run, ["fold3.npz: not found", "fold 3 of row 'samplepairing' is unfinished"]
    if case == "damaged_predictions":
        make_run(run)
        path = run_folder.unit_paths(run, ROWS[1], "fold1")["predictions"]
        path.write_bytes(b"not a zip")
        return run, [str(path), "unreadable predictions file (not a numpy .npz archive)"]
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing", "bad_yaml", "classification", "evaluation",
                                  "unfinished", "no_predictions", "missing_fold",
                                  "model_without_predictions", "damaged_predictions"])
def test_cli_one_line_errors_and_nothing_written(tmp_path, case):
    run, fragments = break_run(case, tmp_path / "run")
    result = cli("calibrate", run)
    assert_one_line_error(result, *fragments)
    assert not (run / "thresholds").exists()  # a later row's problem stops the first too


def test_unknown_criterion(tmp_path):
    run = tmp_path / "run"
    make_run(run)
    with pytest.raises(KerastagError, match="unknown criterion 'auc'; expected one of eer, f1"):
        calibrate_run(run, criterion="auc")
    result = cli("calibrate", run, "--criterion", "auc")
    assert result.exit_code == 2 and "auc" in result.output


def test_cli_choices_are_the_formats_criteria():
    command = main.commands["calibrate"]
    option = next(p for p in command.params if p.name == "criterion")
    assert tuple(option.type.choices) == CRITERIA
