"""Paper B's task: single-label classification of FSDKaggle2018 clips, scored by mAP@3.

Each row is a level-1 model (a network on one input, with or without mixup). It is
trained on random 1.5 s excerpts of the cached whole-clip features, early-stopped on a
seeded holdout of its training clips, and scores whole clips by averaging its
predictions over their excerpts. Units: ``fold0``..``fold4`` give the out-of-fold
probabilities of the training clips; ``full`` (trained on all of them) scores the test
set. The level-1 files of ``docs/level1_format.md`` feed the stacking of level 2.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from kerastag.config import ExperimentConfig, FeatureConfig, RowConfig
from kerastag.errors import ConfigError, KerastagError
from kerastag.experiment import Unit, UnitResult, check_folds, load_histories
from kerastag.fileio import atomic_path, write_text_atomic
from kerastag.prepare import compute_features, prepare_dataset


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
    features: dict             # input kind -> (train arrays, test arrays)


class ClassificationTask:
    """Level-1 training of paper B's networks over stratified folds plus a full model."""

    def __init__(self, config: ExperimentConfig):
        self.config = config

    # --- data ------------------------------------------------------------------------

    def load(self) -> ClassificationData:
        config = self.config
        self.check_networks()
        dataset = prepare_dataset(config)
        train = [c for c in dataset.clips if c.subset == "train" or (c.subset != "test" and c.fold is not None)]
        test = [c for c in dataset.clips if c.subset == "test"]
        if not train:
            raise KerastagError(f"{dataset.root}: no training clips")
        index = {name: i for i, name in enumerate(dataset.classes)}
        weights = np.array([1.0 if c.extra.get("manually_verified", True) else
                            config.training.unverified_weight for c in train], dtype=np.float32)
        features = {}
        for kind in sorted({row.input for row in config.rows}):
            spec = self.input_features(kind)
            arrays = compute_features(config, train + test, features=spec, mmap=True).arrays
            features[kind] = (arrays[: len(train)], arrays[len(train):])
        return ClassificationData(
            classes=dataset.classes,
            train_ids=[c.clip_id for c in train], test_ids=[c.clip_id for c in test],
            train_y=np.array([index[c.tags[0]] for c in train]),
            test_y=np.array([index[c.tags[0]] if c.tags and c.tags[0] in index else -1 for c in test]),
            folds=np.array([c.fold for c in train]), weights=weights, features=features)

    def input_features(self, kind: str) -> FeatureConfig:
        return self.config.features.with_type(kind)

    def units(self, data: ClassificationData) -> list[Unit]:
        present = sorted(set(data.folds.tolist()))
        names = [f"fold{k}" for k in check_folds(self.config, present)]
        if data.test_ids:
            names.append("full")
        return [Unit(row, name) for row in self.config.rows for name in names]

    # --- one unit --------------------------------------------------------------------

    def train_unit(self, data: ClassificationData, unit: Unit) -> UnitResult:
        import keras

        from kerastag.excerpts import excerpt_dataset
        from kerastag.mixing import MixingSpec
        from kerastag.pipeline import evaluation_dataset
        from kerastag.training import (compile_model, distribution_strategy, fit, holdout_indices,
                                       start_unit, steps_per_epoch, unit_seed)

        config, row = self.config, unit.row
        seed = unit_seed(config.seed, row.name, unit.name)
        start_unit(config, seed)
        train_idx = np.flatnonzero(data.folds != (unit.fold if unit.fold is not None else -1))
        keep, held = holdout_indices(len(train_idx), config.training.validation_fraction, seed)
        train_idx, val_idx = train_idx[keep], train_idx[held]
        arrays, _ = data.features[row.input]
        length, pad = self._excerpt(row.input), self._pad_value(row.input)
        onehot = np.eye(len(data.classes), dtype=np.float32)
        weights = data.weights[train_idx] if config.training.unverified_weight < 1 else None
        train = excerpt_dataset([arrays[i] for i in train_idx], onehot[data.train_y[train_idx]],
                                length=length, batch_size=config.training.batch_size, seed=seed,
                                mixing=MixingSpec(row.augmentation, row.alpha),
                                sample_weights=weights, pad_value=pad)
        x_val = self._fixed_excerpts([arrays[i] for i in val_idx], length, pad, seed)
        val = evaluation_dataset(x_val, onehot[data.train_y[val_idx]], batch_size=config.training.batch_size)
        with distribution_strategy().scope():
            model = self.build_network(row, x_val.shape[1:], len(data.classes))
            compile_model(model, config, loss=keras.losses.CategoricalCrossentropy(),
                          metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
                          steps_per_epoch=steps_per_epoch(len(train_idx), config.training.batch_size))
        model, history = fit(model, config, train, val)
        return UnitResult(model, history, self.rescore(data, unit, model))

    def build_network(self, row: RowConfig, input_shape, n_classes: int):
        """The row's network with ``model.args`` for it; a bad argument names the key."""
        from kerastag.models.paper_b import build_network

        kwargs = dict(self.config.model.args.get(row.network, {})) | dict(row.args)
        from kerastag.errors import ModelError

        try:
            return build_network(row.network, tuple(int(v) for v in input_shape), n_classes, **kwargs)
        except (TypeError, ModelError) as exc:
            where = f"model.args.{row.network}" + (f" / rows[{row.name}].args" if row.args else "")
            raise ConfigError(f"{where}: {exc}") from None

    def check_networks(self) -> None:
        """Build every row's network once, so a bad argument stops the run before any work."""
        import keras

        for row in self.config.rows:
            self.build_network(row, self.input_shape(row.input), n_classes=2)
        keras.backend.clear_session()

    def input_shape(self, kind: str) -> tuple[int, ...]:
        """A network's input: ``(mels, frames, 3)`` or ``(samples,)``."""
        if kind == "wave":
            return (self._excerpt(kind),)
        return (self.config.features.n_mels, self._excerpt(kind), 3)

    def rescore(self, data: ClassificationData, unit: Unit, model) -> dict[str, np.ndarray]:
        """Whole-clip probabilities of the clips ``unit`` did not train on."""
        from kerastag.excerpts import predict_clips

        train_arrays, test_arrays = data.features[unit.row.input]
        if unit.fold is None:
            ids, arrays, y = data.test_ids, test_arrays, data.test_y
        else:
            idx = np.flatnonzero(data.folds == unit.fold)
            ids, arrays, y = [data.train_ids[i] for i in idx], [train_arrays[i] for i in idx], data.train_y[idx]
        kind = unit.row.input
        probs = predict_clips(model, arrays, length=self._excerpt(kind), hop=self._hop(kind),
                              batch_size=self.config.training.batch_size, pad_value=self._pad_value(kind))
        return {"clip_ids": np.array(ids), "y_true": np.asarray(y), "probs": probs.astype(np.float32),
                "classes": np.array(data.classes)}

    def metadata(self, data: ClassificationData, unit: Unit) -> dict:
        from kerastag.config import config_to_dict

        kind = unit.row.input
        return {
            "task": "classification",
            "classes": list(data.classes),
            "features": config_to_dict(self.input_features(kind)) | {"cache_dir": None},
            "excerpt": self._excerpt(kind),
            "hop": self._hop(kind),
            "pad_value": np.asarray(self._pad_value(kind)).tolist(),
            "experiment": self.config.name,
            "row": unit.row.name,
            "unit": unit.name,
        }

    # --- results ---------------------------------------------------------------------

    def write_results(self, out_dir: Path, units: list[Unit], predictions: dict, *, log) -> Path:
        """Tables, level-1 files, submissions and plots from the saved predictions."""
        from kerastag.reporting import plot_histories

        classes = self._classes(predictions)
        level1 = self._write_level1(out_dir, units, predictions, classes)
        csv_path = self._write_tables(out_dir, level1, classes, log)
        plot_histories(load_histories(out_dir, units), out_dir / "plots")
        return csv_path

    def write_evaluation(self, out_dir: Path, units: list[Unit], predictions: dict, *, log):
        classes = self._classes(predictions)
        level1 = self._level1_frames(units, predictions, classes)
        rows = self._map_rows(level1, "oof", classes)
        from kerastag.reporting import write_map_table

        csv_path, _ = write_map_table(rows, out_dir, paper=self._paper())
        for row in rows:
            log(f"{row.name}: mAP@3 {row.map3:.4f}  accuracy {row.accuracy:.4f}")
        return csv_path, rows

    @staticmethod
    def _classes(predictions: dict) -> list[str]:
        return [str(c) for c in next(iter(predictions.values()))["classes"]]

    def _level1_frames(self, units, predictions, classes) -> dict[str, dict[str, pd.DataFrame]]:
        """Per row: the out-of-fold frame (every training clip once) and the test frame."""
        frames: dict[str, dict[str, pd.DataFrame]] = {}
        for row in self.config.rows:
            oof, test = [], None
            for unit in (u for u in units if u.row == row):
                p = predictions[unit]
                frame = pd.DataFrame(p["probs"], columns=classes)
                frame.insert(0, "label", [classes[i] if i >= 0 else "" for i in p["y_true"]])
                frame.insert(0, "fname", p["clip_ids"])
                if unit.fold is None:
                    test = frame.sort_values("fname", ignore_index=True)
                else:
                    frame.insert(1, "fold", unit.fold)
                    oof.append(frame)
            frames[row.name] = {"oof": pd.concat(oof).sort_values("fname", ignore_index=True),
                                "test": test}
        return frames

    def _write_level1(self, out_dir, units, predictions, classes):
        frames = self._level1_frames(units, predictions, classes)
        folder = out_dir / "level1"
        for name, parts in frames.items():
            _write_csv(parts["oof"], folder / f"{name}.oof.csv")
            if parts["test"] is not None:
                _write_csv(parts["test"], folder / f"{name}.test.csv")
                _write_csv(submission(parts["test"], classes), out_dir / "submissions" / f"{name}.csv")
        write_text_atomic(folder / "classes.json", json.dumps(classes, indent=1))
        return frames

    def _write_tables(self, out_dir, level1, classes, log) -> Path:
        from kerastag.metrics import map_at_3_per_class
        from kerastag.reporting import plot_map_per_class, write_map_table

        rows = self._map_rows(level1, "oof", classes)
        csv_path, _ = write_map_table(rows, out_dir, paper=self._paper())
        for row in rows:
            log(f"{row.name}: mAP@3 {row.map3:.4f}  accuracy {row.accuracy:.4f}  (5-fold, training clips)")
        test_rows = self._map_rows(level1, "test", classes)
        if test_rows:
            write_map_table(test_rows, out_dir / "test", paper=self._paper())
            for row in test_rows:
                log(f"{row.name}: mAP@3 {row.map3:.4f}  accuracy {row.accuracy:.4f}  (test set)")
        per_class = {}
        for name, parts in level1.items():
            true, probs = _labels_and_probs(parts["oof"], classes)
            per_class[name] = map_at_3_per_class(true, probs, len(classes))
        plot_map_per_class(per_class, classes, out_dir / "plots" / "map3_per_class.png")
        return csv_path

    def _map_rows(self, level1, part: str, classes) -> list:
        from kerastag.metrics import accuracy, map_at_3
        from kerastag.reporting import MapRow

        rows = []
        for name, parts in level1.items():
            frame = parts[part]
            if frame is None or (frame["label"] == "").any():
                continue
            true, probs = _labels_and_probs(frame, classes)
            rows.append(MapRow(name=name, map3=map_at_3(true, probs), accuracy=accuracy(true, probs)))
        return rows

    def _paper(self) -> dict[str, float]:
        """The paper's single-model number beside its best single model (ResNeXt, log-mel, mixup)."""
        from kerastag.paper import PAPER_B_MAP3

        return {row.name: PAPER_B_MAP3["best_single_resnext"] for row in self.config.rows
                if row.network == "resnext50" and row.input == "logmel" and row.augmentation == "mixup"}

    # --- helpers ---------------------------------------------------------------------

    def _excerpt(self, kind: str) -> int:
        from kerastag.excerpts import excerpt_length

        f = self.config.features
        return excerpt_length(kind, seconds=f.excerpt_seconds, hop_s=f.hop_ms / 1000, sr=f.sample_rate)

    def _hop(self, kind: str) -> int:
        f = self.config.features
        per_second = f.sample_rate if kind == "wave" else 1000 / f.hop_ms
        return max(1, int(round(f.predict_hop_seconds * per_second)))

    def _pad_value(self, kind: str):
        """Padding for short clips: silence's feature value per channel (0 for the wave)."""
        if kind == "wave":
            return 0.0
        from kerastag.prepare import feature_spec

        silence = feature_spec(self.input_features(kind)).compute(np.zeros(self._excerpt("wave"), np.float32))
        return silence.mean(axis=(1, 2)).astype(float).tolist()  # (3,) per channel

    @staticmethod
    def _fixed_excerpts(arrays, length: int, pad, seed: int) -> np.ndarray:
        """One seeded random excerpt per validation clip, fixed for the whole training."""
        from kerastag.excerpts import random_excerpt, to_model_layout

        rng = np.random.default_rng(seed)
        return np.stack([to_model_layout(random_excerpt(np.asarray(a), length, rng, pad_value=pad))
                         for a in arrays]).astype(np.float32)


def submission(test: pd.DataFrame, classes) -> pd.DataFrame:
    """Kaggle submission: ``fname,label`` with the three most probable labels."""
    from kerastag.metrics import top_k_labels

    probs = test[list(classes)].to_numpy()
    return pd.DataFrame({"fname": test["fname"],
                         "label": [" ".join(labels) for labels in top_k_labels(probs, classes, k=3)]})


def _labels_and_probs(frame: pd.DataFrame, classes) -> tuple[np.ndarray, np.ndarray]:
    index = {name: i for i, name in enumerate(classes)}
    return frame["label"].map(index).to_numpy(), frame[list(classes)].to_numpy()


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
