"""kerastag's ``.keras`` files (kerastag.formats.model_file): a Keras archive plus a
``kerastag.json`` member holding what ``kerastag predict`` needs."""

from __future__ import annotations

import json
import zipfile

import keras
import numpy as np
import pytest

from kerastag.errors import ModelError
from kerastag.formats.model_file import METADATA_MEMBER, load_model, read_metadata, save_model

METADATA = {"task": "tagging", "classes": ["c", "m", "f"],
            "features": {"type": "logmel_a", "n_mels": 8}, "row": "mixup_a1.5", "unit": "fold0"}


def _tiny_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 8))
    x = keras.layers.GlobalAveragePooling1D()(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid", name="tags")(x))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = _tiny_model()
    path = save_model(model, tmp_path_factory.mktemp("model") / "fold0.keras", METADATA)
    return model, path


def test_save_then_read_metadata(saved):
    _, path = saved
    assert path.name == "fold0.keras" and path.is_file()
    assert read_metadata(path) == METADATA
    assert [p.name for p in path.parent.iterdir()] == ["fold0.keras"]  # no temporary left


def test_saved_file_is_an_ordinary_keras_archive_with_one_extra_member(saved):
    _, path = saved
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert names.count(METADATA_MEMBER) == 1
        assert {"config.json", "model.weights.h5"} <= set(names)
        assert json.loads(archive.read(METADATA_MEMBER))["classes"] == ["c", "m", "f"]


def test_load_model_gives_the_same_predictions(saved):
    model, path = saved
    x = np.random.default_rng(0).standard_normal((2, 4, 8)).astype("float32")
    loaded = load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_wrong_suffix_is_refused_and_nothing_written(tmp_path):
    with pytest.raises(ModelError, match=r"model\.h5: model files must end in \.keras"):
        save_model(_tiny_model(), tmp_path / "model.h5", METADATA)
    assert list(tmp_path.iterdir()) == []


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="nothing.keras: model file not found"):
        read_metadata(tmp_path / "nothing.keras")


def test_not_a_zip(tmp_path):
    path = tmp_path / "fake.keras"
    path.write_text("this is not a zip archive")
    with pytest.raises(ModelError, match="fake.keras: not a .keras model archive") as info:
        read_metadata(path)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(ModelError, match="not a .keras model archive"):
        load_model(path)


def test_keras_file_without_kerastag_metadata(tmp_path):
    path = tmp_path / "plain.keras"
    _tiny_model().save(path)
    with pytest.raises(ModelError, match=f"plain.keras: not saved by kerastag \\(no {METADATA_MEMBER} inside\\)"):
        read_metadata(path)


def test_archive_with_metadata_but_no_model_is_a_one_line_model_error(tmp_path):
    path = tmp_path / "broken.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(METADATA_MEMBER, json.dumps(METADATA))
    with pytest.raises(ModelError, match="broken.keras: cannot load model") as info:
        load_model(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("member, expected", [
    (b"{not json", "its kerastag.json is not valid JSON"),
    (b"\xff\xfe", "its kerastag.json is not valid JSON"),
    (b"[1, 2]", "its kerastag.json is not a JSON object"),
    (b'{"classes": []}', "its metadata lacks task"),
])
def test_damaged_metadata_is_a_one_line_model_error(tmp_path, member, expected):
    path = tmp_path / "damaged.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(METADATA_MEMBER, member)
    with pytest.raises(ModelError) as info:
        read_metadata(path, required=("task",))
    assert str(info.value).startswith(f"{path}: {expected}") and "\n" not in str(info.value)
    from kerastag.predict import predict_files

    wav = tmp_path / "a.wav"
    wav.write_bytes(b"RIFF")
    with pytest.raises(ModelError, match="damaged.keras: its (kerastag.json|metadata)"):
        predict_files(path, [wav])
