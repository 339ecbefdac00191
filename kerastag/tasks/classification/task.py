"""Paper B's task: single-label classification of FSDKaggle2018 clips, scored by mAP@3.

Each row is a level-1 model (a network on one input, with or without mixup). It is
trained on random 1.5 s excerpts of the cached whole-clip features, early-stopped on a
seeded holdout of its training clips, and scores whole clips by averaging its
predictions over their excerpts. Units: ``fold0``..``fold4`` give the out-of-fold
probabilities of the training clips; ``full`` (trained on all of them) scores the test
set, and is trained on a dataset without one too (the csv layout), as the model that
``kerastag predict`` and the stack's ``predict RUN/stack`` use on new files; it then
scores no clips, and the test-set table and submissions are skipped with one line
(:data:`NO_TEST_SET`). The level-1 files of ``docs/level1_format.md`` (written by
:mod:`~kerastag.tasks.classification.report`) feed the stacking of level 2.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from kerastag.config import ExcerptFeatures, ExperimentConfig, RowConfig, config_to_dict
from kerastag.datasets.base import Problems, single_label_problems
from kerastag.errors import ConfigError, KerastagError, ModelError
from kerastag.fitting import holdout_indices, unit_seed
from kerastag.formats import run_folder
from kerastag.formats.model_file import ModelInfo
from kerastag.loading import compute_features, prepare_dataset
from kerastag.plots import plot_histories
from kerastag.runner.task import Unit, UnitResult, folds_to_run
from kerastag.tasks.classification import report

#: Said (and noted in ``table.md``) when level 1 runs on a dataset without a test set.
NO_TEST_SET = ("level 1: the dataset has no test set: no test-set mAP@3 (test/table.*) and "
               "no submissions/; the full models are trained on all training clips for predict")


@dataclasses.dataclass
class ClassificationData:
    """Clips, labels and (memory-mapped) features of every input the rows use."""

    classes: tuple[str, ...]
    train_ids: list[str]
    test_ids: list[str]
    train_y: np.ndarray        # (train,) class index
    test_y: np.ndarray         # (test,) class index, -1 where unknown
    folds: np.ndarray          # (train,) 0..4
    weights: np.ndarray        # (train,) loss weight (unverified clips down-weighted)
    groups: np.ndarray         # (train,) held out whole for early stopping (here: the clip)
    features: dict             # feature type -> (train arrays, test arrays)


class ClassificationTask:
    """Level-1 training of paper B's networks over stratified folds plus a full model."""

    def __init__(self, config: ExperimentConfig):
        self.config = config

    # --- data ------------------------------------------------------------------------

    def load(self) -> ClassificationData:
        config = self.config
        self.check_networks()
        self.check_init_from()
        dataset = prepare_dataset(config)
        train = [c for c in dataset.clips if c.subset == "train" or (c.subset != "test" and c.fold is not None)]
        test = [c for c in dataset.clips if c.subset == "test"]
        if not train:
            raise KerastagError(f"{dataset.root}: no training clips")
        single_label_problems(train, Problems(strict=True))  # before any feature or training
        index = {name: i for i, name in enumerate(dataset.classes)}
        weights = np.array([1.0 if c.extra.get("manually_verified", True) else
                            config.training.unverified_weight for c in train], dtype=np.float32)
        features = {}
        for feature_type in sorted({row.features for row in config.rows}):
            spec = self.features_of(feature_type)
            arrays = compute_features(config, train + test, features=spec, mmap=True).arrays
            features[feature_type] = (arrays[: len(train)], arrays[len(train):])
        return ClassificationData(
            classes=dataset.classes,
            train_ids=[c.clip_id for c in train], test_ids=[c.clip_id for c in test],
            train_y=np.array([index[c.tags[0]] for c in train]),
            test_y=np.array([index[c.tags[0]] if c.tags and c.tags[0] in index else -1 for c in test]),
            folds=np.array([c.fold for c in train]), weights=weights, features=features,
            groups=np.array([c.group for c in train]))

    def features_of(self, feature_type: str) -> ExcerptFeatures:
        return self.config.features.with_type(feature_type)

    def units(self, data: ClassificationData) -> list[Unit]:
        """Per row ``fold<k>`` for every fold to run, then ``full`` (with or without a
        test set: it is the model that scores new files)."""
        present = sorted(set(data.folds.tolist()))
        names = [f"fold{k}" for k in folds_to_run(self.config, present)] + ["full"]
        return [Unit(row, name) for row in self.config.rows for name in names]

    # --- one unit --------------------------------------------------------------------

    def train_unit(self, data: ClassificationData, unit: Unit) -> UnitResult:
        import keras

        from kerastag.fitting import compile_model, distribution_strategy, fit, start_unit, steps_per_epoch
        from kerastag.mixing import MixingSpec
        from kerastag.pipeline import evaluation_dataset
        from kerastag.tasks.classification.excerpts import excerpt_dataset

        config, row = self.config, unit.row
        seed = unit_seed(config.seed, row.name, unit.name)
        reuse = config.execution.reuse_models and config.init_from_of(row) is None
        start_unit(config, seed, keep_traces=reuse)
        train_idx = np.flatnonzero(data.folds != (unit.fold if unit.fold is not None else -1))
        keep, held = holdout_indices(len(train_idx), config.training.validation_fraction, seed,
                                     groups=data.groups[train_idx])
        train_idx, val_idx = train_idx[keep], train_idx[held]
        arrays, _ = data.features[row.features]
        length, pad = self._excerpt(row.features), self._pad_value(row.features)
        onehot = np.eye(len(data.classes), dtype=np.float32)
        weights = data.weights[train_idx] if config.training.unverified_weight < 1 else None
        train = excerpt_dataset([arrays[i] for i in train_idx], onehot[data.train_y[train_idx]],
                                length=length, batch_size=config.training.batch_size, seed=seed,
                                mixing=MixingSpec(row.mixing, row.alpha),
                                sample_weights=weights, pad_value=pad)
        x_val = self._fixed_excerpts([arrays[i] for i in val_idx], length, pad, seed)
        val = evaluation_dataset(x_val, onehot[data.train_y[val_idx]], batch_size=config.training.batch_size)

        def compile_for(model, config):
            compile_model(model, config, loss=keras.losses.CategoricalCrossentropy(),
                          metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
                          steps_per_epoch=steps_per_epoch(len(train_idx), config.training.batch_size))

        with distribution_strategy().scope():
            model = self.build_network(row, x_val.shape[1:], len(data.classes))
            compile_for(model, config)
        if config.init_from_of(row) is not None:
            model, history = self.fine_tune(row, model, train, val, compile_for)
        else:
            if reuse:
                from kerastag.compiled_models import reuse_compiled

                model = reuse_compiled(model)
            model, history = fit(model, config, train, val)
        return UnitResult(model, history, self.rescore(data, unit, model))

    def fine_tune(self, row: RowConfig, model, train, val, compile_for):
        """Fit ``model`` from the trained layers of the row's ``init_from`` (see
        :mod:`kerastag.models.transfer`), head first for ``training.freeze_epochs`` epochs."""
        from kerastag.fitting import fit_fine_tuning
        from kerastag.models.transfer import load_source, transfer_weights

        source, where = self.config.init_from_of(row), self._where(row)
        moved = transfer_weights(model, load_source(source, where), family=row.network,
                                 where=where, source_path=source)
        return fit_fine_tuning(model, self.config, train, val, body=moved.transferred,
                               recompile=compile_for)

    def build_network(self, row: RowConfig, input_shape, n_classes: int):
        """The row's network (its family's declared builder, :mod:`kerastag.families`) with
        ``model.args`` for it; a bad argument names the key."""
        build = self.config.family_of(row).hook("builder")
        kwargs = dict(self.config.model.args.get(row.network, {})) | dict(row.args)
        try:
            return build(tuple(int(v) for v in input_shape), n_classes, **kwargs)
        except (TypeError, ModelError) as exc:
            where = f"model.args.{row.network}" + (f" / rows[{row.name}].args" if row.args else "")
            raise ConfigError(f"{where}: {exc}") from None

    def check_networks(self) -> None:
        """Build every row's network once, so a bad argument stops the run before any work."""
        import keras

        for row in self.config.rows:
            self.build_network(row, self.input_shape(row.features), n_classes=2)
        keras.backend.clear_session()

    def check_init_from(self) -> None:
        """Every ``init_from`` is a classification model of the row's network and features
        (read from its ``kerastag.json``), so a mismatch stops the run before any training."""
        from kerastag.models.transfer import check_source

        for row in self.config.rows:
            source = self.config.init_from_of(row)
            if source is not None:
                check_source(source, where=self._where(row), task="classification",
                             family=row.network, features=self.features_of(row.features).spec())

    def _where(self, row: RowConfig) -> str:
        return f"rows[{self.config.rows.index(row)}] {row.name!r}"

    def input_shape(self, feature_type: str) -> tuple[int, ...]:
        """A network's input: ``(mels, frames, 3)`` or ``(samples,)``."""
        if feature_type == "wave":
            return (self._excerpt(feature_type),)
        return (self.features_of(feature_type).spec().bands, self._excerpt(feature_type), 3)

    def rescore(self, data: ClassificationData, unit: Unit, model) -> dict[str, np.ndarray]:
        """Whole-clip probabilities of the clips ``unit`` did not train on (for ``full``
        the test clips: none on a dataset without a test set)."""
        from kerastag.tasks.classification.excerpts import predict_clips

        train_arrays, test_arrays = data.features[unit.row.features]
        if unit.fold is None:
            ids, arrays, y = data.test_ids, test_arrays, data.test_y
        else:
            idx = np.flatnonzero(data.folds == unit.fold)
            ids, arrays, y = [data.train_ids[i] for i in idx], [train_arrays[i] for i in idx], data.train_y[idx]
        feature_type = unit.row.features
        probs = predict_clips(model, arrays, length=self._excerpt(feature_type),
                              hop=self._hop(feature_type), batch_size=self.config.training.batch_size,
                              pad_value=self._pad_value(feature_type))
        return {"clip_ids": np.array(ids, dtype=str), "y_true": np.asarray(y), "probs": probs.astype(np.float32),
                "classes": np.array(data.classes)}

    def model_info(self, data: ClassificationData, unit: Unit) -> ModelInfo:
        from kerastag.models.transfer import init_from_provenance

        feature_type = unit.row.features
        return ModelInfo(
            task="classification", family=unit.row.network, classes=tuple(data.classes),
            features=config_to_dict(self.features_of(feature_type)) | {"cache_dir": None},
            excerpt=int(self._excerpt(feature_type)), hop=int(self._hop(feature_type)),
            pad_value=_pad_value_of(self._pad_value(feature_type)),
            experiment=self.config.name, row=unit.row.name, unit=unit.name,
            init_from=init_from_provenance(self.config.init_from_of(unit.row)))

    # --- results ---------------------------------------------------------------------

    def write_results(self, out_dir: Path, units: list[Unit], predictions: dict, *, log) -> Path:
        """Level-1 files, submissions, tables and plots from the saved predictions."""
        classes = report.class_names(predictions)
        tables = report.row_tables(self.config.rows, units, predictions)
        report.write_level1(out_dir, tables, classes)
        csv_path = report.write_tables(out_dir, tables, classes, self._paper(), log)
        if not any(parts["test"] is not None and parts["test"].fnames.size for parts in tables.values()):
            self._say_no_test_set(out_dir, log)
        plot_histories(run_folder.read_histories(out_dir, [(u.row.name, u.name) for u in units]),
                       run_folder.plots_dir(out_dir))
        return csv_path

    def write_evaluation(self, out_dir: Path, units: list[Unit], predictions: dict, *, log):
        """The out-of-fold table recomputed from reloaded models."""
        tables = report.row_tables(self.config.rows, units, predictions)
        return report.write_evaluation(out_dir, tables, self._paper(), log)

    def follow_up(self) -> str | None:
        """Paper B's level 2 (``stacking``) when the config has a ``stack:`` section."""
        return "stacking" if self.config.stack is not None else None

    @staticmethod
    def _say_no_test_set(out_dir: Path, log) -> None:
        """Print :data:`NO_TEST_SET` and note it under the out-of-fold ``table.md``."""
        from kerastag.fileio import write_text_atomic

        log(NO_TEST_SET)
        _, md_path = run_folder.table_paths(out_dir)
        write_text_atomic(md_path, md_path.read_text(encoding="utf-8") + f"\n- {NO_TEST_SET}.\n")

    def _paper(self) -> dict[str, float] | None:
        return report.paper_numbers(self.config.rows, self.config.dataset.layout)

    # --- helpers ---------------------------------------------------------------------

    def _excerpt(self, feature_type: str) -> int:
        from kerastag.tasks.classification.excerpts import excerpt_length

        f = self.config.features
        return excerpt_length(feature_type, seconds=f.excerpt_seconds, hop_s=f.hop_ms / 1000,
                              sample_rate=f.sample_rate)

    def _hop(self, feature_type: str) -> int:
        f = self.config.features
        per_second = f.sample_rate if feature_type == "wave" else 1000 / f.hop_ms
        return max(1, int(round(f.predict_hop_seconds * per_second)))

    def _pad_value(self, feature_type: str):
        """Padding for short clips: silence's feature value per channel (0 for the wave)."""
        if feature_type == "wave":
            return 0.0
        silence = self.features_of(feature_type).spec().compute(
            np.zeros(self._excerpt("wave"), np.float32))
        return silence.mean(axis=(1, 2)).astype(float).tolist()  # (3,) per channel

    @staticmethod
    def _fixed_excerpts(arrays, length: int, pad, seed: int) -> np.ndarray:
        """One seeded random excerpt per validation clip, fixed for the whole training."""
        from kerastag.tasks.classification.excerpts import random_excerpt, to_model_layout

        rng = np.random.default_rng(seed)
        return np.stack([to_model_layout(random_excerpt(np.asarray(a), length, rng, pad_value=pad))
                         for a in arrays]).astype(np.float32)


def _pad_value_of(pad_value) -> float | tuple[float, ...]:
    """A feature's pad value as a model file records it: a number, or one per channel."""
    values = np.asarray(pad_value, dtype=float)
    return float(values) if values.ndim == 0 else tuple(values.tolist())
