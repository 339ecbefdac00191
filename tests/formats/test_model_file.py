"""kerastag's ``.keras`` files (kerastag.formats.model_file): a Keras archive plus a
``kerastag.json`` member holding what ``kerastag predict`` needs."""

from __future__ import annotations

import json
from pathlib import Path
import zipfile

import keras
import numpy as np
import pytest

from kerastag.errors import ModelError
from kerastag.formats.model_file import (FORMAT, METADATA_MEMBER, VERSION, ModelInfo, load_model,
                                         read_model_info, save_model)

INFO = ModelInfo(task="tagging", family="crnn_attloc", classes=("c", "m", "f"),
                 features={"type": "logmel_a", "n_mels": 8}, chunk_seconds=4.0,
                 row="mixup_a1.5", unit="fold0")


def _tiny_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 8))
    x = keras.layers.GlobalAveragePooling1D()(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid", name="tags")(x))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = _tiny_model()
    path = save_model(model, tmp_path_factory.mktemp("model") / "fold0.keras", INFO)
    return model, path


def test_save_then_read_model_info(saved):
    _, path = saved
    assert path.name == "fold0.keras" and path.is_file()
    assert read_model_info(path) == INFO
    assert [p.name for p in path.parent.iterdir()] == ["fold0.keras"]  # no temporary left


def test_saved_file_is_an_ordinary_keras_archive_with_one_extra_member(saved):
    _, path = saved
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert names.count(METADATA_MEMBER) == 1
        assert {"config.json", "model.weights.h5"} <= set(names)
        document = json.loads(archive.read(METADATA_MEMBER))
    assert document == {"format": FORMAT, "version": VERSION, "task": "tagging",
                        "family": "crnn_attloc", "classes": ["c", "m", "f"],
                        "features": {"type": "logmel_a", "n_mels": 8}, "chunk_seconds": 4.0,
                        "row": "mixup_a1.5", "unit": "fold0"}


def test_load_model_gives_the_same_predictions(saved):
    model, path = saved
    x = np.random.default_rng(0).standard_normal((2, 4, 8)).astype("float32")
    loaded = load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_wrong_suffix_is_refused_and_nothing_written(tmp_path):
    with pytest.raises(ModelError, match=r"model\.h5: model files must end in \.keras"):
        save_model(_tiny_model(), tmp_path / "model.h5", INFO)
    assert list(tmp_path.iterdir()) == []


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="nothing.keras: model file not found"):
        read_model_info(tmp_path / "nothing.keras")


def test_not_a_zip(tmp_path):
    path = tmp_path / "fake.keras"
    path.write_text("this is not a zip archive")
    with pytest.raises(ModelError, match="fake.keras: not a .keras model archive") as info:
        read_model_info(path)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(ModelError, match="not a .keras model archive"):
        load_model(path)


def test_keras_file_without_kerastag_metadata(tmp_path):
    path = tmp_path / "plain.keras"
    _tiny_model().save(path)
    with pytest.raises(ModelError, match=f"plain.keras: not saved by kerastag \\(no {METADATA_MEMBER} inside\\)"):
        read_model_info(path)


def test_archive_with_metadata_but_no_model_is_a_one_line_model_error(tmp_path):
    path = tmp_path / "broken.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(METADATA_MEMBER, json.dumps(INFO.to_dict()))
    with pytest.raises(ModelError, match="broken.keras: cannot load model") as info:
        load_model(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("member, expected", [
    (b"{not json", "its kerastag.json is not valid JSON"),
    (b"\xff\xfe", "its kerastag.json is not valid JSON"),
    (b"[1, 2]", "its kerastag.json is not a JSON object"),
    (b'{"classes": []}', "its kerastag.json lacks task, features"),
])
def test_damaged_metadata_is_a_one_line_model_error(tmp_path, member, expected):
    path = tmp_path / "damaged.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(METADATA_MEMBER, member)
    with pytest.raises(ModelError) as info:
        read_model_info(path)
    assert str(info.value).startswith(f"{path}: {expected}") and "\n" not in str(info.value)
    from kerastag.predict import predict_files

    wav = tmp_path / "a.wav"
    wav.write_bytes(b"RIFF")
    with pytest.raises(ModelError, match="damaged.keras: its (kerastag.json|metadata)"):
        predict_files(path, [wav])


# --- versions: every reader takes a ModelInfo, whatever version wrote the file -------------

V1 = Path(__file__).with_name("model_files_v1")


def _write_member(path, document) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(METADATA_MEMBER, json.dumps(document))
    return path


def test_a_file_written_before_versions_is_read_as_version_1():
    """crnn.keras: a whole model file kerastag wrote before kerastag.json had a version."""
    info = read_model_info(V1 / "crnn.keras")
    assert info == ModelInfo(
        task="tagging", family="crnn_attloc", classes=tuple("cmfvpbo"),
        features={"cache_dir": None, "fmax": 8000.0, "fmin": 0.0, "hop_length": 512,
                  "log_offset": 1e-08, "n_fft": 1024, "n_mels": 8, "sample_rate": 16000,
                  "type": "logmel_a", "workers": 1},
        chunk_seconds=4.0, experiment="fixture_a", row="mixup_a1.5", unit="fold0")


@pytest.mark.parametrize("name, task, family, extra", [
    ("resnext50.kerastag.json", "classification", "resnext50",
     {"excerpt": 150, "hop": 100}),
    ("gmm.kerastag.json", "tagging", "dcase2016_gmm", {"chunk_seconds": 4.0}),
])
def test_version_1_metadata_of_each_kind_reads(tmp_path, name, task, family, extra):
    document = json.loads((V1 / name).read_text())
    assert "format" not in document and "version" not in document
    info = read_model_info(_write_member(tmp_path / "m.keras", document))
    assert (info.task, info.family, info.classes) == (task, family, tuple(document["classes"]))
    assert {key: getattr(info, key) for key in extra} == extra
    assert read_model_info(save_model(_tiny_model(), tmp_path / "again.keras", info)) == info


def test_a_0_1_file_gets_the_family_and_window_0_1_had(tmp_path):
    """0.1 wrote no family (paper A's CRNN was its only tagger) and, for paper B, neither."""
    tagging = {"task": "tagging", "classes": ["c"], "features": {"type": "logmel_a"},
               "experiment": "old", "row": "mixup_a1.5", "unit": "fold0"}
    info = read_model_info(_write_member(tmp_path / "a.keras", tagging))
    assert (info.family, info.chunk_seconds) == ("crnn_attloc", 4.0)
    paper_b = {"task": "classification", "classes": ["x", "y"], "features": {"type": "logmel"},
               "excerpt": 150, "hop": 100, "pad_value": [-100.0, 0.0, 0.0]}
    old = read_model_info(_write_member(tmp_path / "b.keras", paper_b))
    assert old.family is None
    assert read_model_info(save_model(_tiny_model(), tmp_path / "b2.keras", old)) == old
    wave = paper_b | {"features": {"type": "wave"}, "pad_value": 0.0}
    assert read_model_info(_write_member(tmp_path / "w.keras", wave)).pad_value == 0.0


def test_the_v1_crnn_file_scores_audio_through_predict(chime_demo):
    from kerastag.predict import predict_files

    wav = sorted((chime_demo[0] / "chunks").glob("*.16kHz.wav"))[0]
    frame = predict_files(V1 / "crnn.keras", [wav])
    assert list(frame.columns) == ["file", *"cmfvpbo", "tags"]
    assert frame[list("cmfvpbo")].to_numpy().min() >= 0.0


@pytest.mark.parametrize("change, expected", [
    ({"version": 3}, "written by a newer kerastag (kerastag-model version 3); this kerastag "
                     "reads versions up to 2: upgrade kerastag"),
    ({"version": 1}, "its kerastag.json has version 1; expected a whole number 2..2"),
    ({"format": "other"}, "its kerastag.json is not a kerastag-model document"),
    ({"colour": "red"}, "its kerastag.json has unknown key(s) colour for kerastag-model version 2; "
                        "the file is damaged or edited, save the model again"),
    ({"chunk_seconds": None}, "its kerastag.json lacks chunk_seconds (a tagging model needs it)"),
    ({"chunk_seconds": "4"}, "its kerastag.json: chunk_seconds is '4'; expected a positive number"),
    ({"classes": "cmf"}, "its kerastag.json: classes must be a list of class names"),
    ({"features": {"n_mels": 8}}, "its kerastag.json: features must be a feature section with a type"),
    ({"family": 3}, "its kerastag.json: family is 3; expected a name"),
    ({"task": "classification", "chunk_seconds": None, "excerpt": 150, "hop": 100,
      "pad_value": ["a"]}, "its kerastag.json: pad_value must be a number or a list of numbers "
                           "(one per channel)"),
])
def test_bad_metadata_of_a_versioned_file_is_one_line(tmp_path, change, expected):
    document = {key: value for key, value in (INFO.to_dict() | change).items() if value is not None}
    path = _write_member(tmp_path / "bad.keras", document)
    with pytest.raises(ModelError) as info:
        read_model_info(path)
    assert str(info.value) == f"{path}: {expected}"
    assert "\n" not in str(info.value)
