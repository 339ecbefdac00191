"""kerastag.fitting's pure parts: unit seeds, the hold-out split, steps per epoch."""

from __future__ import annotations

import numpy as np
import pytest

from kerastag.fitting import holdout_indices, steps_per_epoch, unit_seed


def test_unit_seed_is_pinned_across_processes_and_versions():
    """A resumed run must train a unit with the seed the first run used: crc32, never
    Python's salted hash(). The literal is the value kerastag 0.1 gave this unit."""
    assert unit_seed(0, "mixup_a1.5", "fold0") == 765_273_004
    assert unit_seed(7, "none", "fold3") == unit_seed(7, "none", "fold3")


def test_unit_seed_differs_by_seed_row_and_fold_and_stays_in_range():
    seeds = {unit_seed(base, row, fold) for base in (0, 1, 2)
             for row in ("none", "mixup_a1", "mixup_a1.5", "samplepairing")
             for fold in ("fold0", "fold1", "fold2", "fold3", "fold4", "evaluation")}
    assert len(seeds) == 3 * 4 * 6
    assert all(0 <= seed < 2**31 - 1 for seed in seeds)
    assert unit_seed(0, "row", "fold0") != unit_seed(0, "fold0", "row")


@pytest.mark.parametrize("n, fraction, n_val", [(10, 0.2, 2), (100, 0.1, 10), (7, 0.5, 4),
                                                (3, 0.01, 1), (1, 0.5, 1)])
def test_holdout_sizes(n, fraction, n_val):
    train, val = holdout_indices(n, fraction, seed=0)
    assert len(val) == n_val and len(train) == n - n_val


def test_holdout_is_a_sorted_disjoint_cover_and_seeded():
    train, val = holdout_indices(50, 0.2, seed=3)
    assert not set(train) & set(val)
    assert sorted(set(train) | set(val)) == list(range(50))
    assert list(train) == sorted(train) and list(val) == sorted(val)
    again = holdout_indices(50, 0.2, seed=3)
    np.testing.assert_array_equal(again[0], train)
    np.testing.assert_array_equal(again[1], val)
    other = holdout_indices(50, 0.2, seed=4)
    assert list(other[1]) != list(val)
    assert list(val) != list(range(10)), "the hold-out must be drawn, not the first clips"


@pytest.mark.parametrize("n_clips, batch_size, steps", [(10, 4, 3), (8, 4, 2), (1, 64, 1),
                                                        (0, 4, 1), (44, 44, 1), (45, 44, 2)])
def test_steps_per_epoch_counts_the_last_partial_batch(n_clips, batch_size, steps):
    assert steps_per_epoch(n_clips, batch_size) == steps


def test_grouped_holdout_keeps_each_group_on_one_side_and_matches_the_plain_split_for_singletons():
    sessions = np.repeat(np.arange(12), 5)  # 12 recording sessions of 5 chunks
    train, val = holdout_indices(60, 0.2, seed=7, groups=sessions)
    assert set(sessions[train]).isdisjoint(sessions[val])
    assert len(val) >= 12 and len(val) % 5 == 0 and len(train) + len(val) == 60
    assert np.array_equal(np.sort(np.r_[train, val]), np.arange(60))
    singletons = holdout_indices(50, 0.2, seed=3, groups=np.arange(50).astype(str))
    plain = holdout_indices(50, 0.2, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(singletons, plain))
    one_group = holdout_indices(10, 0.2, seed=0, groups=np.zeros(10))  # cannot stay whole
    assert all(np.array_equal(a, b) for a, b in zip(one_group, holdout_indices(10, 0.2, seed=0)))


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_a_mixed_precision_unit_trains_and_scores_in_float32(precision):
    """``training.precision``: the layers compute in the low-precision type, the clip
    score (what losses and tables read) stays float32, and the policy is per unit."""
    import keras

    from kerastag.config import ExperimentConfig, TrainingConfig
    from kerastag.fitting import predict_scores, start_unit
    from kerastag.models.crnn import build_crnn_attloc

    config = ExperimentConfig(name="p", training=TrainingConfig(precision=precision))
    try:
        start_unit(config, seed=0)
        model = build_crnn_attloc(n_mels=16, n_frames=12, filters=[4], rnn_units=4)
        model.compile(optimizer="adam", loss="binary_crossentropy")
        x = np.random.default_rng(0).standard_normal((8, 12, 16)).astype("float32")
        model.fit(x, (x[:, 0, :7] > 0).astype("float32"), epochs=1, verbose=0)
        assert model.get_layer("block1_conv").compute_dtype == precision.removeprefix("mixed_")
        assert model.get_layer("clip").compute_dtype == "float32"
        scores = predict_scores(model, x, batch_size=4)
        assert scores.dtype == np.float32 and np.isfinite(scores).all()
    finally:
        start_unit(ExperimentConfig(name="p"), seed=0)
    assert keras.mixed_precision.global_policy().name == "float32"


def test_steps_per_execution_reaches_the_compiled_model():
    import keras

    from kerastag.config import ExperimentConfig, TrainingConfig
    from kerastag.fitting import compile_model

    config = ExperimentConfig(name="s", training=TrainingConfig(steps_per_execution=16))
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    compile_model(model, config, loss="mse", metrics=[], steps_per_epoch=4)
    assert model.steps_per_execution == 16
