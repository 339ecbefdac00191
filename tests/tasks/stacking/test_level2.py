"""Paper B's level-2 stacking on synthetic level-1 files (docs/level1_format.md)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import scipy.stats

from kerastag.errors import FeatureError, KerastagError, ModelError
from kerastag.formats.level1_csv import FLOAT_FORMAT, read_level1
from kerastag.formats.level2_model import load_level2
from kerastag.metrics import map_at_3
from kerastag.tasks.stacking import level2
from kerastag.tasks.stacking.level2 import fit_level2, nested_cv_probs, predict_level2
from kerastag.tasks.stacking.meta_features import feature_names, meta_features, resolve_mfcc_stats
from kerastag.tasks.stacking.mfcc_statistics import STAT_NAMES, mfcc_statistics
from kerastag.tasks.stacking.report import NO_TEST_SET, run_stacking

CLASSES = ["Bark", "Cello", "Drum", "Flute", "Laughter", "Meow"]  # sorted, as level 1
C = len(CLASSES)
N_TRAIN, N_TEST, N_FOLDS, N_MFCC = 120, 60, 5, 4
MODELS = ("a_lowclasses", "b_shifted", "c_weak")


# ----------------------------------------------------------------- synthetic level 1


def _peaked(peaks: np.ndarray, rng, strength: float = 0.7) -> np.ndarray:
    """Rows that put ``strength`` on ``peaks`` and spread the rest at random."""
    probs = (1 - strength) * rng.dirichlet(np.ones(C), size=peaks.size)
    probs[np.arange(peaks.size), peaks] += strength
    return probs


def _model_probs(name: str, y: np.ndarray, rng) -> np.ndarray:
    """Three complementary models: none alone is good, together they are."""
    random_peaks = rng.integers(0, C, y.size)
    if name == "a_lowclasses":  # right on classes 0-2, uninformative on 3-5
        flat = rng.dirichlet(np.full(C, 5.0), size=y.size)
        return np.where((y < 3)[:, None], _peaked(y, rng), flat)
    if name == "b_shifted":  # confidently predicts the next class (a consistent bias)
        return _peaked(np.where(rng.random(y.size) < 0.85, (y + 1) % C, random_peaks), rng)
    return _peaked(np.where(rng.random(y.size) < 0.45, y, random_peaks), rng)  # c_weak


def _truth(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.arange(C), rng.integers(0, C, N_TRAIN - C)])
    folds = rng.permutation(np.arange(N_TRAIN) % N_FOLDS)
    y_test = rng.integers(0, C, N_TEST)
    fnames = np.array([f"{h:08x}.wav" for h in rng.choice(16**6, N_TRAIN, replace=False)])
    test_fnames = np.array([f"t{h:07x}.wav" for h in rng.choice(16**6, N_TEST, replace=False)])
    return {"y": y, "folds": folds, "fnames": fnames, "y_test": y_test,
            "test_fnames": test_fnames,
            "oof": {m: _model_probs(m, y, rng) for m in MODELS},
            "test": {m: _model_probs(m, y_test, rng) for m in MODELS},
            "mfcc_train": rng.normal(size=(N_TRAIN, 4 * N_MFCC)),
            "mfcc_test": rng.normal(size=(N_TEST, 4 * N_MFCC))}


def _write_csv(path, header, rows) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _write_level1(run_dir, truth: dict, *, models=MODELS, test_labels: bool = True,
                  shuffle: bool = False, classes=None) -> None:
    """Write level1/<row>.oof.csv, <row>.test.csv and classes.json (sorted by fname)."""
    level1 = run_dir / "level1"
    level1.mkdir(parents=True, exist_ok=True)
    (level1 / "classes.json").write_text(json.dumps(CLASSES))
    train_order = np.argsort(truth["fnames"])
    test_order = np.argsort(truth["test_fnames"])
    if shuffle:
        train_order = np.random.default_rng(5).permutation(train_order)
    for m in models:
        cols = list(classes or CLASSES)
        oof = [[truth["fnames"][i], int(truth["folds"][i]), CLASSES[truth["y"][i]],
                *(repr(float(p)) for p in truth["oof"][m][i])] for i in train_order]
        _write_csv(level1 / f"{m}.oof.csv", ["fname", "fold", "label", *cols], oof)
        test = [[truth["test_fnames"][i], CLASSES[truth["y_test"][i]] if test_labels else "",
                 *(repr(float(p)) for p in truth["test"][m][i])] for i in test_order]
        _write_csv(level1 / f"{m}.test.csv", ["fname", "label", *cols], test)


def _mfcc_dict(truth: dict) -> dict:
    stats = dict(zip(truth["fnames"], truth["mfcc_train"]))
    stats.update(zip(truth["test_fnames"], truth["mfcc_test"]))
    return stats


@pytest.fixture(scope="module")
def truth():
    return _truth()


@pytest.fixture
def run_dir(tmp_path, truth):
    _write_level1(tmp_path / "run", truth)
    return tmp_path / "run"


@pytest.fixture(scope="module")
def stacked(tmp_path_factory, truth):
    """One full run_stacking on the synthetic run (module-scoped: six XGBoost fits)."""
    run = tmp_path_factory.mktemp("stacked") / "run"
    _write_level1(run, truth)
    return run_stacking(run, mfcc_stats=_mfcc_dict(truth), seed=0, n_jobs=1)


# ------------------------------------------------------------------- MFCC statistics


def test_mfcc_statistics_matches_numpy_and_scipy():
    mfcc = np.random.default_rng(1).gamma(2.0, size=(5, 40)).astype(np.float32)
    stats = mfcc_statistics(mfcc)
    m = mfcc.astype(np.float64)
    assert stats.shape == (20,)
    np.testing.assert_allclose(stats[0:5], m.max(axis=1))
    np.testing.assert_allclose(stats[5:10], m.min(axis=1))
    np.testing.assert_allclose(stats[10:15], m.var(axis=1))
    np.testing.assert_allclose(stats[15:20], scipy.stats.skew(m, axis=1), rtol=1e-10)
    assert np.all(stats[15:20] > 0)  # gamma rows are right-skewed


def test_mfcc_statistics_edge_cases_are_finite():
    silent = np.full((3, 150), -417.3, dtype=np.float32)  # constant rows (a silent clip)
    silent[1] = 0.0
    stats = mfcc_statistics(silent)
    assert np.all(np.isfinite(stats))
    np.testing.assert_array_equal(stats[6:], 0.0)  # variance and skewness
    np.testing.assert_allclose(stats[:3], [-417.3, 0.0, -417.3], rtol=1e-6)
    single = mfcc_statistics(np.array([[1.5], [-2.0]]))
    np.testing.assert_array_equal(single, [1.5, -2.0, 1.5, -2.0, 0, 0, 0, 0])
    np.testing.assert_array_equal(mfcc_statistics(np.zeros((64, 0))), np.zeros(256))


def test_mfcc_statistics_rejects_bad_input():
    with pytest.raises(FeatureError, match="coefficients, frames"):
        mfcc_statistics(np.zeros((3, 64, 10)))
    with pytest.raises(FeatureError, match="NaN or inf"):
        mfcc_statistics(np.array([[0.0, np.inf]]))


def test_feature_names_order():
    names = feature_names(["m1", "m2"], ["Bark", "Meow"], 2)
    assert names == ["m1:Bark", "m1:Meow", "m2:Bark", "m2:Meow",
                     "mfcc_max_0", "mfcc_max_1", "mfcc_min_0", "mfcc_min_1",
                     "mfcc_var_0", "mfcc_var_1", "mfcc_skew_0", "mfcc_skew_1"]
    assert STAT_NAMES == ("max", "min", "var", "skew")


# ------------------------------------------------------------------- reading level 1


def test_read_level1_keeps_fold_label_and_probability_alignment(tmp_path, truth):
    _write_level1(tmp_path / "run", truth, shuffle=True)  # rows in random order
    level1 = read_level1(tmp_path / "run")
    assert level1.model_order == MODELS
    assert level1.classes == tuple(CLASSES)
    order = np.argsort(truth["fnames"])
    np.testing.assert_array_equal(level1.train_fnames, truth["fnames"][order])
    np.testing.assert_array_equal(level1.train_folds, truth["folds"][order])
    np.testing.assert_array_equal(level1.train_labels, truth["y"][order])
    assert level1.oof_probs.shape == (3, N_TRAIN, C)
    for k, m in enumerate(MODELS):
        np.testing.assert_array_equal(level1.oof_probs[k], truth["oof"][m][order])
    test_order = np.argsort(truth["test_fnames"])
    np.testing.assert_array_equal(level1.test_labels, truth["y_test"][test_order])
    np.testing.assert_array_equal(level1.test_probs[2], truth["test"]["c_weak"][test_order])


def test_read_level1_rows_argument_sets_model_order(run_dir):
    level1 = read_level1(run_dir, rows=["c_weak", "a_lowclasses"])
    assert level1.model_order == ("c_weak", "a_lowclasses")
    assert level1.oof_probs.shape == (2, N_TRAIN, C)


def test_unknown_test_labels_read_as_minus_one(tmp_path, truth):
    _write_level1(tmp_path / "run", truth, test_labels=False)
    assert np.all(read_level1(tmp_path / "run").test_labels == -1)


def test_missing_oof_file_names_the_row(run_dir):
    (run_dir / "level1" / "b_shifted.oof.csv").unlink()
    with pytest.raises(KerastagError, match=r"row 'b_shifted'.*b_shifted\.oof\.csv") as err:
        read_level1(run_dir, rows=list(MODELS))
    assert "\n" not in str(err.value)


def test_missing_test_file_names_the_row(run_dir):
    (run_dir / "level1" / "c_weak.test.csv").unlink()
    with pytest.raises(KerastagError, match=r"row 'c_weak'.*test-set file.*c_weak\.test") as err:
        read_level1(run_dir)
    assert "header-only on a dataset without a test set" in str(err.value)


def test_different_class_list_names_the_model(tmp_path, truth):
    _write_level1(tmp_path / "run", truth)
    other = ["Bark", "Cello", "Drum", "Flute", "Laughter", "Purr"]
    _write_level1(tmp_path / "run", truth, models=("b_shifted",), classes=other)
    with pytest.raises(KerastagError, match=r"row 'b_shifted'.*class columns.*'Purr'"):
        read_level1(tmp_path / "run")


def test_different_training_clips_name_the_model(run_dir):
    path = run_dir / "level1" / "c_weak.oof.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")  # one clip fewer
    with pytest.raises(KerastagError, match=r"row 'c_weak'.*same training clips"):
        read_level1(run_dir)


def test_duplicate_fname_is_an_error(run_dir):
    path = run_dir / "level1" / "a_lowclasses.oof.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines + [lines[1]]) + "\n")
    clip = lines[1].split(",")[0]
    with pytest.raises(KerastagError, match=rf"row 'a_lowclasses'.*clip '{clip}' more than once"):
        read_level1(run_dir)


def test_folds_that_differ_between_models_are_an_error(run_dir, truth):
    path = run_dir / "level1" / "c_weak.oof.csv"
    rows = list(csv.reader(path.open()))
    rows[1][1] = str((int(rows[1][1]) + 1) % N_FOLDS)
    _write_csv(path, rows[0], rows[1:])
    with pytest.raises(KerastagError, match=rf"row 'c_weak'.*clip '{rows[1][0]}' fold"):
        read_level1(run_dir)


# ------------------------------------------------------------------- meta-features


def test_meta_features_width_columns_and_row_order(run_dir, truth):
    level1 = read_level1(run_dir)
    mf = resolve_mfcc_stats(_mfcc_dict(truth), level1)
    X, X_test, names = meta_features(level1, *mf)
    assert X.shape == (N_TRAIN, 3 * C + 4 * N_MFCC)
    assert X_test.shape == (N_TEST, 3 * C + 4 * N_MFCC)
    assert len(names) == X.shape[1] and names[C] == "b_shifted:Bark"
    assert names[3 * C] == "mfcc_max_0" and names[-1] == f"mfcc_skew_{N_MFCC - 1}"
    clip = int(np.argsort(truth["fnames"])[7])  # the 8th clip in sorted-fname order
    np.testing.assert_array_equal(X[7, C:2 * C], truth["oof"]["b_shifted"][clip])
    np.testing.assert_array_equal(X[7, 3 * C:], truth["mfcc_train"][clip])
    test_clip = int(np.argsort(truth["test_fnames"])[3])
    np.testing.assert_array_equal(X_test[3, :C], truth["test"]["a_lowclasses"][test_clip])


def test_mfcc_mapping_missing_clip_is_an_error(run_dir, truth):
    stats = _mfcc_dict(truth)
    missing = truth["test_fnames"][0]
    del stats[missing]
    with pytest.raises(KerastagError, match=rf"no entry for clip '{missing}'"):
        resolve_mfcc_stats(stats, read_level1(run_dir))


# ------------------------------------------------------------------------- level 2


def test_fit_level2_handles_a_class_absent_from_training():
    import xgboost

    rng = np.random.default_rng(3)
    X = rng.normal(size=(90, 5))
    y = rng.choice([0, 1, 3, 4, 5], size=90)  # class 2 absent
    model = fit_level2(X, y, n_classes=C, seed=0, n_jobs=1)
    probs = model.predict_proba(X)
    assert probs.shape == (90, C)
    assert probs[:, 2].max() < 0.01
    native = xgboost.train({"objective": "multi:softprob", "num_class": C, "max_depth": 3,
                            "learning_rate": 0.1, "tree_method": "hist", "seed": 0, "nthread": 1},
                           xgboost.DMatrix(X, label=y), num_boost_round=100)
    np.testing.assert_array_equal(probs, native.predict(xgboost.DMatrix(X)))


def test_nested_cv_never_trains_on_the_predicted_fold(monkeypatch):
    rng = np.random.default_rng(4)
    folds = np.arange(60) % 5
    X = np.column_stack([np.arange(60.0), rng.normal(size=(60, 3))])  # column 0 = clip id
    y = np.arange(60) % C
    calls = []
    real_fit = fit_level2

    class Recorder:
        def __init__(self, model, train_ids):
            self.model, self.train_ids = model, train_ids

        def predict_proba(self, X_pred):
            calls.append((self.train_ids, X_pred[:, 0].astype(int)))
            return self.model.predict_proba(X_pred)

    def fit(X_fit, y_fit, **kwargs):
        return Recorder(real_fit(X_fit, y_fit, **kwargs), X_fit[:, 0].astype(int))

    monkeypatch.setattr(level2, "fit_level2", fit)
    probs = nested_cv_probs(X, y, folds, seed=0, n_classes=C, n_jobs=1)
    assert probs.shape == (60, C) and len(calls) == 5
    predicted = np.concatenate([ids for _, ids in calls])
    np.testing.assert_array_equal(np.sort(predicted), np.arange(60))  # each clip once
    for train_ids, pred_ids in calls:
        assert len(set(folds[pred_ids])) == 1
        assert folds[pred_ids][0] not in set(folds[train_ids])


def test_nested_cv_score_is_honest_on_a_memorisation_trap():
    """Random features and labels: only training on a clip's own fold could score well."""
    rng = np.random.default_rng(6)
    X = rng.normal(size=(150, 20))
    y = rng.integers(0, C, 150)
    folds = np.arange(150) % 5
    leaky = fit_level2(X, y, n_classes=C, n_jobs=1).predict_proba(X)
    assert map_at_3(y, leaky) > 0.9  # the trap works: a leak would be obvious
    honest = nested_cv_probs(X, y, folds, seed=0, n_classes=C, n_jobs=1)
    assert map_at_3(y, honest) < 0.5  # chance is (1 + 1/2 + 1/3) / 6 = 0.31


# --------------------------------------------------------------------- run_stacking


def test_stack_beats_every_single_model_and_the_average(stacked):
    scores = {row.name: row.map3 for row in stacked.oof_rows}
    assert list(scores) == [*MODELS, "average", "stack"]
    best = max(scores[m] for m in MODELS)
    assert stacked.best_single == max(MODELS, key=scores.get)
    assert scores["stack"] >= best + 0.1
    assert scores["stack"] > scores["average"]
    test_scores = {row.name: row.map3 for row in stacked.test_rows}
    assert test_scores["stack"] > max(test_scores[m] for m in MODELS)


def test_run_stacking_writes_tables_plot_and_metadata(stacked):
    out = stacked.out_dir
    assert out == stacked.level1.run_dir / "stack"
    with open(out / "table.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [r["model"] for r in table] == [*MODELS, "average", "stack"]
    stack_row = next(r for r in stacked.oof_rows if r.name == "stack")
    assert float(table[-1]["map3"]) == pytest.approx(stack_row.map3, abs=1e-4)
    md = (out / "table.md").read_text()
    assert "0.977" in md and "0.967" in md and "training clips, out of fold" in md
    assert (out / "test" / "table.csv").is_file()
    assert (out / "map_per_class.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads((out / "level2_meta.json").read_text())
    assert meta["model_order"] == list(MODELS) and meta["classes"] == CLASSES
    assert meta["feature_names"] == stacked.feature_names and meta["seed"] == 0
    assert json.loads((out / "level2.json").read_text())["learner"]  # XGBoost's JSON


def test_submission_lists_the_stacks_top_three(stacked):
    with open(stacked.out_dir / "submission.csv") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["fname", "label"]
    assert [r[0] for r in rows[1:]] == sorted(stacked.level1.test_fnames.tolist())
    top = np.argsort(-stacked.stack_test_probs, axis=1, kind="stable")[:, :3]
    for (_, labels), best in zip(rows[1:], top):
        assert labels.split(" ") == [CLASSES[j] for j in best]


def test_saved_level2_reproduces_test_predictions_exactly(stacked, truth):
    model, meta = load_level2(stacked.out_dir)
    level1 = read_level1(stacked.level1.run_dir)
    mf = resolve_mfcc_stats(_mfcc_dict(truth), level1)
    _, X_test, names = meta_features(level1, *mf)
    assert names == meta["feature_names"]
    probs = predict_level2(model, meta, X_test)
    assert np.array_equal(probs, stacked.stack_test_probs)
    written = np.loadtxt(stacked.out_dir / "stack.test.csv", delimiter=",", skiprows=1,
                         usecols=range(2, 2 + C))
    assert np.array_equal(written, np.vectorize(lambda p: float(FLOAT_FORMAT % p))(probs))
    with pytest.raises(KerastagError, match=r"shape \(clips, 34\)"):
        predict_level2(model, meta, X_test[:, :-1])


def test_run_stacking_without_test_labels_and_with_a_callable(tmp_path, truth):
    _write_level1(tmp_path / "run", truth, test_labels=False, models=MODELS[:2])
    calls = []

    def stats(split, fnames):
        calls.append((split, list(fnames)))
        source = {"train": (truth["fnames"], truth["mfcc_train"]),
                  "test": (truth["test_fnames"], truth["mfcc_test"])}[split]
        lookup = dict(zip(*source))
        return np.array([lookup[f] for f in fnames])

    result = run_stacking(tmp_path / "run", tmp_path / "out", mfcc_stats=stats, n_jobs=1)
    assert [c[0] for c in calls] == ["train", "test"]
    assert calls[0][1] == sorted(truth["fnames"].tolist())
    assert result.test_rows is None and not (tmp_path / "out" / "test").exists()
    assert (tmp_path / "out" / "submission.csv").is_file()
    assert len(result.feature_names) == 2 * C + 4 * N_MFCC


def test_run_stacking_without_a_test_set_fits_out_of_fold_and_on_every_clip(tmp_path, truth):
    no_test = truth | {"test_fnames": truth["test_fnames"][:0], "y_test": truth["y_test"][:0],
                       "test": {m: p[:0] for m, p in truth["test"].items()}}
    _write_level1(tmp_path / "run", no_test)  # header-only <row>.test.csv, as level 1 writes
    result = run_stacking(tmp_path / "run", mfcc_stats=_mfcc_dict(no_test), n_jobs=1,
                          paper_reference=False)
    out = result.out_dir
    assert [row.name for row in result.oof_rows] == [*MODELS, "average", "stack"]
    assert result.test_rows is None and result.stack_oof_probs.shape == (N_TRAIN, C)
    assert not (out / "submission.csv").exists() and not (out / "test").exists()
    assert "submission" not in result.files
    stack_test = (out / "stack.test.csv").read_text()
    assert stack_test == ",".join(["fname", "label", *CLASSES]) + "\n"
    markdown = (out / "table.md").read_text()
    assert markdown.rstrip().endswith(f"- {NO_TEST_SET}.")
    assert "0.977" not in markdown and "paper mAP@3" not in markdown
    model, meta = load_level2(out)  # fitted on all training clips
    assert meta["n_train_clips"] == N_TRAIN
    level1 = read_level1(tmp_path / "run")
    X_train, X_test, _ = meta_features(level1, *resolve_mfcc_stats(_mfcc_dict(no_test), level1))
    assert X_test.shape == (0, X_train.shape[1])
    assert predict_level2(model, meta, X_train).shape == (N_TRAIN, C)


def test_load_level2_missing_model_is_an_error(tmp_path):
    (tmp_path / "level2_meta.json").write_text(json.dumps(
        {"format": "kerastag-level2", "model_order": [], "classes": [],
         "feature_names": []}))
    with pytest.raises(ModelError, match=r"missing model file .*level2\.json"):
        load_level2(tmp_path)


def test_level2_uses_the_2018_default_learning_rate():
    """Paper B's "default parameters" were XGBoost's of 2018: eta 0.1, not today's 0.3."""
    model = fit_level2(np.random.default_rng(0).normal(size=(30, 4)), np.arange(30) % 3,
                       n_classes=3, seed=0, n_jobs=1)
    config = json.loads(model.get_booster().save_config())
    assert float(config["learner"]["gradient_booster"]["tree_train_param"]["learning_rate"]) == pytest.approx(0.1)
    assert float(config["learner"]["gradient_booster"]["tree_train_param"]["max_depth"]) == 3
