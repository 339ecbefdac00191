"""Helpers shared by the tests; ``conftest.py`` loads this file and hands it out as fixtures.

The model harness (:func:`round_trip`) is the one check every model family goes through
(paper A's CRNN, each paper-B network, the custom layers): every kerastag layer of the
model survives ``get_config`` -> ``from_config`` and Keras (de)serialisation, and the model
saved to ``.keras`` and reloaded in a FRESH interpreter, with
``keras.saving.load_model(path, safe_mode=True)`` after a bare ``import kerastag`` and no
``custom_objects``, gives the same outputs and weights and the same layer classes.

Run as a script (``python helpers.py MANIFEST``) this file is that fresh interpreter: it
imports ``kerastag`` and nothing else of the project. Nothing here imports TensorFlow at
module level, so loading it costs the test session nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"



# --- the own-data guide, run --------------------------------------------------------------

#: docs/own-data.md's config files -> (training overrides, rows kept (None: all), dataset
#: overrides): the guide's commands on a test budget (one epoch; a row of each kind where
#: the guide's configs have several; two folds for tagging, one for the fine-tuning and
#: its parent).
GUIDE_SHRINK = {
    "demo.yaml": ({"epochs": 1, "folds": [0]}, ["mixup_a1.5"], {"demo_clips": 20}),
    "own_data_tagging.yaml": ({"epochs": 1, "folds": [0, 1]}, ["mixup_a1.5", "dcase2016_gmm"], {}),
    "finetune_own_data.yaml": ({"epochs": 2, "freeze_epochs": 1, "folds": [0]}, None, {}),
    "own_data_classification.yaml": ({"epochs": 1, "batch_size": 64}, ["resnext_logmel_mixup"],
                                     {}),
}
#: The guide's last section (classification) needs nothing of the ones before it, so its
#: commands run in a test file of their own, beside the tagging sections'.
GUIDE_CLASSIFICATION_HEADING = "\n## 8."


def guide_commands(text: str) -> list[list[str]]:
    """The ``kerastag`` commands of a markdown text's ``bash`` blocks, as argument lists."""
    import re
    import shlex

    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "kerastag":
                commands.append(words[1:])
    return commands


def own_data_guide_part(part: str) -> list[list[str]]:
    """The commands of docs/own-data.md's ``tagging`` sections (1-7) or its
    ``classification`` section (8)."""
    text = (REPO_ROOT / "docs" / "own-data.md").read_text(encoding="utf-8")
    tagging, heading, classification = text.partition(GUIDE_CLASSIFICATION_HEADING)
    assert heading, f"docs/own-data.md has no section {GUIDE_CLASSIFICATION_HEADING.strip()!r}"
    return guide_commands(tagging if part == "tagging" else heading + classification)


def run_own_data_guide(folder: Path, part: str) -> list[list[str]]:
    """Run the commands of one part of docs/own-data.md in ``folder``, in order, with the
    configs it names copied there on the test budget (:data:`GUIDE_SHRINK`); each must
    exit 0. Returns the commands."""
    import shlex

    import pytest
    from click.testing import CliRunner

    from kerastag.cli import main

    (folder / "experiments").mkdir(exist_ok=True)
    for name in GUIDE_SHRINK:
        _shrunk_config(REPO_ROOT / "experiments" / name, folder / "experiments" / name)
    commands = own_data_guide_part(part)
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("KERASTAG_CACHE", str(folder / "cache"))
        for args in commands:
            result = runner.invoke(main, args, catch_exceptions=False)
            assert result.exit_code == 0, f"kerastag {shlex.join(args)}:\n{result.output}"
    return commands


def _shrunk_config(source: Path, target: Path) -> None:
    import yaml

    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    training, rows, dataset = GUIDE_SHRINK[source.name]
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


# --- a trained CRNN ------------------------------------------------------------------------


def train_crnn_row(base: Path, *, dataset: str, model: str, training: str,
                   row: str = "{mixing: mixup, alpha: 1.5}") -> Path:
    """Train one paper-A CRNN row with ``kerastag run`` under ``base``; its fold-0 model.

    ``dataset``, ``model`` and ``training`` are the YAML flow mappings of those sections;
    the row must train fold 0 and be named ``mixup_a1.5`` unless ``row`` says otherwise.
    """
    from click.testing import CliRunner

    from kerastag.cli import main

    config = Path(base) / "row.yaml"
    config.write_text(
        f"name: row\nseed: 0\ndataset: {dataset}\n"
        f"features: {{cache_dir: {Path(base) / 'cache'}, workers: 1}}\n"
        f"model: {model}\ntraining: {training}\nrows:\n  - {row}\n")
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(Path(base) / "out")])
    assert result.exit_code == 0, result.output
    return next((Path(base) / "out" / "models").glob("*/fold0.keras"))


# --- small assertions ------------------------------------------------------------------------

def assert_png(path: Path) -> None:
    """``path`` is a real PNG with something drawn in it."""
    data = Path(path).read_bytes()
    assert len(data) > 1000, f"{path}: only {len(data)} bytes"
    assert data[:8] == PNG_SIGNATURE, f"{path}: not a PNG"


def assert_no_temp_files(folder: Path) -> None:
    """No half-written file (``.tmp`` in the name) was left under ``folder``."""
    assert [p.name for p in Path(folder).rglob("*") if ".tmp" in p.name] == []


# --- the model harness -----------------------------------------------------------------------

def outputs_of(model, x) -> dict[str, np.ndarray]:
    """Inference outputs of ``model`` on ``x`` as ``{name: array}`` (``"output"`` for a
    single tensor, the output keys for a dict, ``"0"``, ``"1"``, ... for a list)."""
    import keras

    out = model(x, training=False)
    if isinstance(out, Mapping):
        items = out.items()
    elif isinstance(out, (list, tuple)):
        items = ((str(i), value) for i, value in enumerate(out))
    else:
        items = [("output", out)]
    return {str(key): np.asarray(keras.ops.convert_to_numpy(value)) for key, value in items}


def weight_sums(model) -> np.ndarray:
    """``sum |w|`` of every weight of ``model``, in ``model.weights`` order."""
    import keras

    return np.array([np.abs(keras.ops.convert_to_numpy(w)).sum() for w in model.weights],
                    dtype=np.float64)


def layer_classes(model) -> dict[str, str]:
    """``{path of layer: "module.Class"}`` for every layer, nested models included."""
    found: dict[str, str] = {}

    def walk(layer, prefix):
        for child in getattr(layer, "layers", ()):
            name = f"{prefix}{child.name}"
            found[name] = f"{type(child).__module__}.{type(child).__qualname__}"
            walk(child, name + "/")

    walk(model, "")
    return found


def custom_layers(model) -> list:
    """Every layer of ``model`` (nested models included) whose class is kerastag's."""
    layers = []

    def walk(layer):
        for child in getattr(layer, "layers", ()):
            if type(child).__module__.startswith("kerastag."):
                layers.append(child)
            walk(child)

    walk(model)
    return layers


def check_layer_config(layer) -> None:
    """``get_config`` -> ``from_config`` gives the same class and config, and Keras'
    serialisation finds the class by its registered ``kerastag>`` name."""
    import keras

    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert type(clone) is type(layer)
    assert clone.get_config() == config, f"{layer.name}: config changes on a round trip"
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == f"kerastag>{type(layer).__name__}", serialized
    restored = keras.saving.deserialize_keras_object(json.loads(json.dumps(serialized)))
    assert type(restored) is type(layer)
    assert restored.get_config() == config


def reload_in_fresh_process(cases: Mapping[str, tuple[str | os.PathLike, np.ndarray]],
                            folder: str | os.PathLike) -> dict[str, dict]:
    """Load each ``(path, x)`` in ONE new interpreter and run it on ``x``.

    The interpreter imports ``kerastag`` (which registers its layers) and loads every
    file with ``keras.saving.load_model(path, safe_mode=True)``, no ``custom_objects``.

    Returns:
        ``{case: {"outputs": {name: array}, "weights": array, "classes": {layer: class}}}``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"result": str(folder / "reloaded.npz"), "cases": {}}
    for case, (path, x) in cases.items():
        manifest["cases"][case] = {"model": str(path), "x": str(folder / f"{case}_x.npz")}
        _save_inputs(folder / f"{case}_x.npz", x)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, __file__, str(folder / "manifest.json")], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"fresh interpreter failed:\n{done.stderr[-4000:]}"
    classes = json.loads((folder / "reloaded_classes.json").read_text())
    with np.load(manifest["result"]) as saved:
        arrays = {key: saved[key] for key in saved.files}
    results = {}
    for case in cases:
        prefix = f"{case}/outputs/"
        results[case] = {
            "outputs": {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)},
            "weights": arrays[f"{case}/weights"],
            "classes": classes[case],
        }
    return results


def round_trip(models: Mapping[str, tuple[object, np.ndarray]], folder: str | os.PathLike, *,
               atol: float = 1e-5) -> dict[str, dict]:
    """The model harness: config round trip of every kerastag layer, then ``.keras``
    save -> reload in one fresh interpreter -> same outputs (``atol``), weights, classes.

    Args:
        models: ``{case: (built model, input batch)}``; cases become file names; the
            batch is an array, or a list of arrays for a model with several inputs.
        folder: where the ``.keras`` files and inputs are written.

    Returns:
        ``{case: {"expected": outputs before saving, "outputs", "weights", "classes"}}``
        (the reloaded side) for further assertions.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    expected, files = {}, {}
    for case, (model, x) in models.items():
        for layer in custom_layers(model):
            check_layer_config(layer)
        expected[case] = (outputs_of(model, x), weight_sums(model), layer_classes(model))
        path = folder / f"{case}.keras"
        model.save(path)
        files[case] = (path, x)
    reloaded = reload_in_fresh_process(files, folder)
    for case, (outputs, weights, classes) in expected.items():
        got = reloaded[case]
        assert sorted(got["outputs"]) == sorted(outputs), case
        for name, value in outputs.items():
            np.testing.assert_allclose(got["outputs"][name], value, atol=atol,
                                       err_msg=f"{case}: output {name!r} after reloading")
        np.testing.assert_allclose(got["weights"], weights, rtol=1e-6,
                                   err_msg=f"{case}: weights after reloading")
        assert got["classes"] == classes, f"{case}: layer classes differ after reloading"
        got["expected"] = outputs
    return reloaded


def _save_inputs(path: Path, x) -> None:
    """One input array, or a list of them (a model with several inputs)."""
    if isinstance(x, (list, tuple)):
        np.savez(path, **{f"x{i}": np.asarray(item) for i, item in enumerate(x)})
    else:
        np.savez(path, single=np.asarray(x))


def _load_inputs(path: str):
    with np.load(path) as saved:
        if "single" in saved.files:
            return saved["single"]
        return [saved[f"x{i}"] for i in range(len(saved.files))]


def _reload_main(manifest_path: str) -> None:
    """The fresh interpreter's side of :func:`reload_in_fresh_process`."""
    import keras

    import kerastag  # noqa: F401  (the only kerastag import: it registers the layers)

    manifest = json.loads(Path(manifest_path).read_text())
    arrays, classes = {}, {}
    for case, entry in manifest["cases"].items():
        model = keras.saving.load_model(entry["model"], safe_mode=True)
        x = _load_inputs(entry["x"])
        for name, value in outputs_of(model, x).items():
            arrays[f"{case}/outputs/{name}"] = value
        arrays[f"{case}/weights"] = weight_sums(model)
        classes[case] = layer_classes(model)
    np.savez(manifest["result"], **arrays)
    Path(manifest["result"]).with_name("reloaded_classes.json").write_text(json.dumps(classes))


if __name__ == "__main__":
    _reload_main(sys.argv[1])
