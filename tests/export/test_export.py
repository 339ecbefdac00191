"""``kerastag export`` end to end: a tiny trained tagger (and tiny paper-B networks)
exported to SavedModel, ONNX and LiteRT, each artifact run in a FRESH interpreter by
``kerastag/export/runtimes.py`` with no kerastag imported, compared with what
``kerastag predict`` computes for the same audio; metadata.json; one-line errors.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

import kerastag
from kerastag.cli import main
from kerastag.errors import ModelError

REPO = Path(__file__).resolve().parents[2]
RUNTIMES = REPO / "kerastag" / "export" / "runtimes.py"
TAGS = ["c", "m", "f", "v", "p", "b", "o"]
FORMATS = ("saved_model", "onnx", "litert")

#: Largest |exported artifact - kerastag predict| accepted, per format, for the tagger's
#: clip scores, localization and attention (probabilities / weights in [0, 1]).
#: Measured on this suite's audio (4 s, 4 s, 8 s, 1.5 s): <= 2.4e-7 for every format and
#: output (float32 rounding); the front ends' features differ from numpy by ~1e-5.
TAGGER_TOLERANCE = 1e-5
#: The same for a paper-B network's clip probabilities (untrained tiny ResNeXt on log-mel,
#: tiny wave ResNeXt), 3 s and 0.5 s clips at 44.1 kHz.
CLASSIFIER_TOLERANCE = 1e-5

# The tiny ResNeXt of tests/models/test_networks.py.
TINY_RESNEXT = dict(blocks=(1, 1, 1, 1), cardinality=2, bottleneck_width=2, stem_filters=8)
TINY_FRONT = dict(bands=8, context_kernel=3)

#: A fresh interpreter that runs an export folder with ``runtimes.py`` loaded as a file
#: (``runpy``), one recording per call, and proves that no kerastag module was imported.
RUNNER = """
import runpy, sys
import numpy as np
runtimes = runpy.run_path(sys.argv[1])
run = runtimes["load"](sys.argv[2])
for path in sys.argv[3:]:
    np.savez(path[:-len(".npy")] + ".out.npz", **run(np.load(path)))
imported = sorted(name for name in sys.modules if name.split(".")[0] == "kerastag")
assert not imported, imported
print("tensorflow" in sys.modules)
"""


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, *fragments):
    """Exit status 2 and a single ``error: ...`` line on stderr holding every fragment
    (stdout may hold the "exporting ..." progress line before it)."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def run_in_runtime(folder: Path, waves: dict, work: Path) -> tuple[dict, bool]:
    """``{case: {output: array}}`` of the export ``folder`` on each wave (one call each)
    in a fresh interpreter, and whether that interpreter imported TensorFlow."""
    work.mkdir(parents=True, exist_ok=True)
    paths = []
    for case, wave in waves.items():
        paths.append(work / f"{case}.npy")
        np.save(paths[-1], np.asarray(wave, np.float32)[None])  # (1, samples)
    done = subprocess.run([sys.executable, "-c", RUNNER, str(RUNTIMES), str(folder),
                           *map(str, paths)], capture_output=True, text=True, cwd=work,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    outputs = {case: dict(np.load(work / f"{case}.out.npz")) for case in waves}
    return outputs, done.stdout.strip().splitlines()[-1] == "True"


def write_wav(path: Path, wave: np.ndarray, rate: int) -> Path:
    sf.write(path, wave, rate, subtype="FLOAT")  # the same float32 samples read back
    return path


def export(model: Path, fmt: str, out: Path, *extra):
    result = invoke("export", model, "--format", fmt, "--out", out, *extra)
    assert result.exit_code == 0, result.output
    assert f"exported: {out}" in result.output
    return out


# ------------------------------------------------------------------ a tiny paper-A tagger


@pytest.fixture(scope="module")
def tagger(chime_demo, tmp_path_factory, train_crnn_row) -> Path:
    """A tiny CRNN trained 2 epochs on fold 0 of the CHiME-Home demo by ``kerastag run``."""
    return train_crnn_row(
        tmp_path_factory.mktemp("export_run"), dataset=f"{{path: {chime_demo[0]}}}",
        model="{filters: [4, 4, 4, 8, 8, 8, 8], rnn_units: 4}",
        training="{batch_size: 8, epochs: 2, patience: 1, folds: [0], verbose: 0, "
                 "deterministic: true}")


@pytest.fixture(scope="module")
def tagger_audio(chime_demo, tmp_path_factory) -> dict:
    """``{case: (wav path, float32 samples)}`` at 16 kHz: two demo chunks (4 s), both end
    to end (8 s: two windows) and 1.5 s of one (one zero-padded window)."""
    folder = tmp_path_factory.mktemp("tagger_audio")
    chunks = sorted((chime_demo[0] / "chunks").glob("*.16kHz.wav"))[:2]
    first, second = (sf.read(path, dtype="float32")[0] for path in chunks)
    waves = {"chunk0": first, "chunk1": second, "long_8s": np.concatenate([first, second]),
             "short_1.5s": first[:24000]}
    return {case: (write_wav(folder / f"{case}.wav", wave, 16000), wave)
            for case, wave in waves.items()}


@pytest.fixture(scope="module")
def predicted(tagger, tagger_audio) -> dict:
    """What ``kerastag predict`` computes: ``{case: {clip, localization, attention}}``."""
    from kerastag.tasks.tagging.predict import load_tagger, predict_clip

    _, frame_model, info, spec = load_tagger(tagger)
    results = {}
    for case, (path, _) in tagger_audio.items():
        clip = predict_clip(frame_model, spec, path, info.chunk_seconds)
        results[case] = {"clip": clip.scores, "localization": clip.localization,
                         "attention": clip.attention}
    return results


def max_differences(outputs: dict, expected: dict) -> dict:
    """``{output: max |exported - predict|}`` over every case (batch of one each)."""
    worst = {}
    for case, want in expected.items():
        for name, value in want.items():
            got = outputs[case][name]
            assert got.shape == (1,) + np.shape(value), (case, name, got.shape)
            difference = float(np.max(np.abs(got[0].astype(np.float64) - value)))
            worst[name] = max(worst.get(name, 0.0), difference)
    return worst


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_exported_tagger_runs_without_kerastag_and_matches_predict(
        fmt, tagger, tagger_audio, predicted, tmp_path):
    folder = export(tagger, fmt, tmp_path / "export")
    outputs, used_tensorflow = run_in_runtime(
        folder, {case: wave for case, (_, wave) in tagger_audio.items()}, tmp_path / "run")
    worst = max_differences(outputs, predicted)
    print(f"{fmt}: max |export - predict| = {worst}")
    assert max(worst.values()) <= TAGGER_TOLERANCE, worst
    assert used_tensorflow == (fmt == "saved_model")  # ONNX / LiteRT deploy without it
    assert outputs["long_8s"]["localization"].shape == (1, 2 * 124, 7)
    assert outputs["short_1.5s"]["localization"].shape == (1, 124, 7)

    metadata = json.loads((folder / "metadata.json").read_text())
    assert sorted(p.name for p in folder.iterdir()) == sorted(["metadata.json", metadata["artifact"]])
    assert metadata["format"] == "kerastag-export" and metadata["export_format"] == fmt
    assert metadata["kerastag_version"] == kerastag.__version__
    assert metadata["task"] == "tagging" and metadata["family"] == "crnn_attloc"
    assert metadata["classes"] == TAGS
    assert metadata["sample_rate"] == 16000 and metadata["window_seconds"] == 4.0
    assert metadata["frame_hop_seconds"] == 512 / 16000
    assert metadata["features"]["name"] == "logmel_a"
    assert metadata["thresholds"] is None and metadata["frame_decisions"] is None
    assert metadata["signature"]["inputs"] == [
        {"name": "audio", "shape": [None, None], "dtype": "float32"}]
    shapes = {o["name"]: o["shape"] for o in metadata["signature"]["outputs"]}
    assert shapes == {"clip": [None, 7], "localization": [None, None, 7],
                      "attention": [None, None, 7]}
    assert set(metadata["outputs"]) == {"clip", "localization", "attention"}
    assert not list(tmp_path.glob(".export.*")), "temporary folder left behind"


@pytest.mark.slow
def test_runtimes_script_writes_every_output(tagger, tagger_audio, tmp_path):
    """``python runtimes.py EXPORT_DIR AUDIO.npy OUT.npz`` as documented, and a batch of
    two recordings of one length scored recording by recording; thresholds from
    ``--thresholds`` in metadata.json, replacing an earlier export in --out."""
    from kerastag.decisions import FrameDecision
    from kerastag.formats.thresholds import FrameThresholds, write_thresholds

    values = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    decisions = tuple(FrameDecision(high=v, low=v / 2) for v in values)
    thresholds = write_thresholds(tmp_path / "th.json", TAGS, values, criterion="eer",
                                  row="mixup_a1.5", source=None,
                                  frame=FrameThresholds(decisions=decisions))
    out = tmp_path / "export"
    out.mkdir()
    (out / "metadata.json").write_text('{"format": "kerastag-export"}')  # an earlier export
    (out / "stale.bin").write_bytes(b"old")
    export(tagger, "onnx", out, "--thresholds", thresholds)
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["thresholds"] == dict(zip(TAGS, values))
    assert metadata["frame_decisions"] == {t: d.as_dict() for t, d in zip(TAGS, decisions)}
    assert not (out / "stale.bin").exists()

    chunk0, chunk1 = tagger_audio["chunk0"][1], tagger_audio["chunk1"][1]
    np.save(tmp_path / "batch.npy", np.stack([chunk0, chunk1]))
    done = subprocess.run([sys.executable, str(RUNTIMES), str(out), str(tmp_path / "batch.npy"),
                           str(tmp_path / "out.npz")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    batch = np.load(tmp_path / "out.npz")
    assert sorted(batch.files) == ["attention", "clip", "localization"]
    assert batch["clip"].shape == (2, 7) and batch["localization"].shape == (2, 124, 7)
    single, _ = run_in_runtime(out, {"chunk1": chunk1}, tmp_path / "single")
    np.testing.assert_allclose(batch["clip"][1], single["chunk1"]["clip"][0], atol=1e-6)


# ------------------------------------------------------------------ paper-B networks


def save_classifier(path: Path, model, feature_type: str, *, excerpt: int, hop: int,
                    pad_value, classes) -> Path:
    """``model`` saved as ``kerastag run`` saves a paper-B unit (task.metadata's keys)."""
    from kerastag.formats.model_file import ModelInfo, save_model

    values = np.asarray(pad_value, dtype=float)
    pad = float(values) if values.ndim == 0 else tuple(values.tolist())
    return save_model(model, path, ModelInfo(
        task="classification", family="resnext50", classes=tuple(classes),
        features={"type": feature_type, "cache_dir": None}, excerpt=excerpt, hop=hop,
        pad_value=pad, experiment="tiny", row=feature_type, unit="fold0"))


def soften(model, scale: float = 1e-2) -> None:
    """Scale the untrained output layer down: unnormalised dB inputs saturate the
    softmax into one-hot probabilities, which any export would match exactly."""
    dense = model.get_layer("predictions")
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel * scale, bias])


@pytest.fixture(scope="module")
def classifier_audio(fsd_demo, tmp_path_factory) -> dict:
    """``{case: (wav path, samples)}`` at 44.1 kHz: 3 s and 0.5 s of a demo clip."""
    folder = tmp_path_factory.mktemp("classifier_audio")
    clips = sorted((fsd_demo[0] / "FSDKaggle2018.audio_train").glob("*.wav"),
                   key=lambda p: p.stat().st_size)
    wave, rate = sf.read(clips[-1], dtype="float32")
    assert rate == 44100 and len(wave) >= 3 * rate
    waves = {"clip_3s": wave[: 3 * rate], "clip_0.5s": wave[rate: rate + rate // 2]}
    return {case: (write_wav(folder / f"{case}.wav", w, rate), w) for case, w in waves.items()}


def classifier_differences(model_path: Path, folder: Path, audio: dict, work: Path) -> float:
    from kerastag.tasks.classification.predict import classification_probs

    cases = list(audio)
    expected, _ = classification_probs(model_path, [audio[c][0] for c in cases])
    assert expected.min() > 1e-3, expected  # not saturated: a comparison that can fail
    outputs, _ = run_in_runtime(folder, {c: audio[c][1] for c in cases}, work)
    return max(float(np.max(np.abs(outputs[c]["probabilities"][0] - expected[k])))
               for k, c in enumerate(cases))


@pytest.fixture(scope="module")
def resnext_model(tmp_path_factory) -> tuple[Path, list]:
    """An untrained tiny ResNeXt-50 on paper B's log-mel, saved as kerastag saves one."""
    import keras

    from kerastag.models.networks import build_network

    keras.utils.set_random_seed(0)
    classes = ["Bark", "Cello", "Flute", "Meow", "Applause"]
    model = build_network("resnext50", (64, 150, 3), len(classes), **TINY_RESNEXT)
    soften(model)
    path = save_classifier(tmp_path_factory.mktemp("resnext") / "resnext.keras", model,
                           "logmel", excerpt=150, hop=50, pad_value=[-100.0, 0.0, 0.0],
                           classes=classes)
    return path, classes


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "saved_model"])
def test_exported_resnext_on_logmel_matches_classification_probs(
        fmt, resnext_model, classifier_audio, tmp_path):
    path, classes = resnext_model
    folder = export(path, fmt, tmp_path / fmt)
    worst = classifier_differences(path, folder, classifier_audio, tmp_path / "run")
    print(f"resnext50 logmel {fmt}: max |export - classification_probs| = {worst:.3g}")
    assert worst <= CLASSIFIER_TOLERANCE, (fmt, worst)
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["task"] == "classification" and metadata["classes"] == classes
    assert metadata["sample_rate"] == 44100 and metadata["window_seconds"] == pytest.approx(1.5)
    assert metadata["features"]["name"] == "logmel" and metadata["thresholds"] is None
    assert metadata["signature"]["inputs"] == [
        {"name": "audio", "shape": [None, None], "dtype": "float32"}]
    assert metadata["signature"]["outputs"] == [
        {"name": "probabilities", "shape": [None, len(classes)], "dtype": "float32"}]


@pytest.mark.slow
def test_exported_wave_resnext_to_litert_matches_classification_probs(classifier_audio, tmp_path):
    import keras

    from kerastag.models.networks import build_network

    keras.utils.set_random_seed(0)
    classes = ["Bark", "Cello", "Flute"]
    model = build_network("wave_resnext", (66150,), len(classes), **TINY_RESNEXT, **TINY_FRONT)
    path = save_classifier(tmp_path / "wave.keras", model, "wave", excerpt=66150, hop=22050,
                           pad_value=0.0, classes=classes)
    folder = export(path, "litert", tmp_path / "litert")
    worst = classifier_differences(path, folder, classifier_audio, tmp_path / "run")
    print(f"wave_resnext litert: max |export - classification_probs| = {worst:.3g}")
    assert worst <= CLASSIFIER_TOLERANCE, worst


# ------------------------------------------------------------------ bad input


@pytest.fixture(scope="module")
def baseline_model(tmp_path_factory) -> Path:
    """A Table 1 baseline (DAE-DNN on MFCC frames) as kerastag saves one."""
    import keras

    from kerastag.formats.model_file import ModelInfo, save_model

    inputs = keras.Input((5, 24))
    outputs = keras.layers.Dense(7, activation="sigmoid")(keras.layers.Flatten()(inputs))
    return save_model(keras.Model(inputs, outputs),
                      tmp_path_factory.mktemp("baseline") / "dae.keras",
                      ModelInfo(task="tagging", family="dae_dnn", classes=tuple(TAGS),
                                features={"type": "mfcc_frames"}, chunk_seconds=4.0))


@pytest.fixture(scope="module")
def small_classifier(tmp_path_factory) -> Path:
    """A tiny paper-B classifier on log-mel windows (builds a deploy model in a second)."""
    import keras

    inputs = keras.Input((64, 150, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    return save_classifier(tmp_path_factory.mktemp("small") / "small.keras", model, "logmel",
                           excerpt=150, hop=50, pad_value=[-100.0, 0.0, 0.0],
                           classes=["a", "b", "c"])


def test_unsupported_format_is_refused_by_the_cli(tmp_path):
    result = invoke("export", tmp_path / "m.keras", "--format", "tflite", "--out", tmp_path / "x")
    assert result.exit_code == 2
    assert "'tflite' is not one of 'saved_model', 'onnx', 'litert'" in result.output
    assert not (tmp_path / "x").exists()


def test_unsupported_format_is_a_model_error_naming_the_formats(tmp_path):
    from kerastag.export import export_model

    with pytest.raises(ModelError) as error:
        export_model(tmp_path / "m.keras", "tflite", tmp_path / "x")
    message = str(error.value)
    assert "'tflite'" in message and "saved_model, onnx, litert" in message
    assert "\n" not in message and not (tmp_path / "x").exists()


def test_a_table1_baseline_is_refused_naming_its_family(baseline_model, tmp_path):
    result = invoke("export", baseline_model, "--format", "onnx", "--out", tmp_path / "x")
    one_line_error(result, "model.type dae_dnn: this family declares no export (its input "
                   "mfcc_frames has no in-graph front end)", str(baseline_model))
    assert not (tmp_path / "x").exists()
    assert not list(tmp_path.glob(".x.*"))


def test_a_model_without_kerastag_metadata_is_refused(tmp_path):
    missing = tmp_path / "nowhere.keras"
    one_line_error(invoke("export", missing, "--format", "onnx", "--out", tmp_path / "x"),
                   str(missing))
    not_a_model = tmp_path / "notes.keras"
    not_a_model.write_text("not a keras archive")
    one_line_error(invoke("export", not_a_model, "--format", "litert", "--out", tmp_path / "x"),
                   str(not_a_model))
    assert not (tmp_path / "x").exists()


def test_out_must_be_empty_or_an_earlier_export(small_classifier, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    result = invoke("export", small_classifier, "--format", "saved_model", "--out", busy)
    one_line_error(result, str(busy), "not a kerastag export")
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
    assert (busy / "keep.txt").read_text() == "mine"

    foreign = tmp_path / "foreign"  # someone else's metadata.json: not an export of ours
    foreign.mkdir()
    (foreign / "metadata.json").write_text('{"name": "my dataset"}')
    (foreign / "data.csv").write_text("1,2")
    one_line_error(invoke("export", small_classifier, "--format", "onnx", "--out", foreign),
                   str(foreign), "not a kerastag export")
    assert sorted(p.name for p in foreign.iterdir()) == ["data.csv", "metadata.json"]

    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    one_line_error(invoke("export", small_classifier, "--format", "onnx", "--out", a_file),
                   str(a_file), "must be a folder")
    assert a_file.read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "file.txt", "foreign"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_failed_export_leaves_nothing_behind(fmt, small_classifier, tmp_path, monkeypatch):
    """The converter fails: one line naming the format, no temporary sibling folder, and
    an earlier export in --out kept as it was."""
    import keras

    def explode(self, *args, **kwargs):
        raise RuntimeError("converter exploded\nwith a traceback-like second line")

    monkeypatch.setattr(keras.Model, "export", explode)
    fresh = tmp_path / "fresh"
    line = one_line_error(invoke("export", small_classifier, "--format", fmt, "--out", fresh),
                          f"the {fmt} converter cannot hold this model",
                          "RuntimeError: converter exploded")
    assert "second line" not in line
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "metadata.json").write_text('{"format": "kerastag-export"}')
    one_line_error(invoke("export", small_classifier, "--format", fmt, "--out", earlier), fmt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier"]  # no .fresh.*.tmp
    assert [p.name for p in earlier.iterdir()] == ["metadata.json"]
    assert (earlier / "metadata.json").read_text() == '{"format": "kerastag-export"}'


def test_a_missing_converter_says_which_extra_to_install(small_classifier, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tf2onnx" else real(name, *a))
    one_line_error(invoke("export", small_classifier, "--format", "onnx", "--out", tmp_path / "x"),
                   "export to onnx needs tf2onnx", "kerastag[export]")
    assert not (tmp_path / "x").exists()
