"""kerastag.loading: stacking per-clip features and the multi-hot targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kerastag.datasets.base import Clip
from kerastag.errors import DatasetError
from kerastag.loading import multi_hot, stack_features


def test_stack_features_stacks_as_float32_in_order():
    arrays = [np.full((3, 2), i, dtype=np.float64) for i in range(4)]
    stacked = stack_features(arrays)
    assert stacked.shape == (4, 3, 2) and stacked.dtype == np.float32
    np.testing.assert_array_equal(stacked[:, 0, 0], [0, 1, 2, 3])


def test_stack_features_refuses_different_shapes_naming_the_place():
    arrays = [np.zeros((124, 128)), np.zeros((124, 128)), np.zeros((93, 128))]
    with pytest.raises(DatasetError) as info:
        stack_features(arrays, where="mixup_a1.5 fold2 training clips")
    message = str(info.value)
    assert message.startswith("mixup_a1.5 fold2 training clips: ")
    assert "(93, 128)" in message and "(124, 128)" in message
    assert "same length" in message


def _clip(clip_id, tags):
    return Clip(clip_id, Path(f"{clip_id}.wav"), tuple(tags), 0, "development")


def test_multi_hot_follows_the_class_order():
    clips = [_clip("a", ("m", "c")), _clip("b", ()), _clip("c", ("o",)), _clip("d", ("c",))]
    y = multi_hot(clips, ("c", "m", "f", "o"))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0]])


def test_multi_hot_of_no_clips_has_the_class_width():
    assert multi_hot([], ("c", "m")).shape == (0, 2)


# --------------------------------------------------------------------------- demo stamps


def _demo_config(tmp_path, name, clips, seed=0):
    from kerastag.config import load_config

    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\ndataset: {{path: {tmp_path / 'demo'}, demo: true, "
                    f"demo_clips: {clips}, demo_seed: {seed}}}\n", encoding="utf-8")
    return load_config(path)


def test_a_written_demo_is_stamped_and_read_again_with_the_same_settings(tmp_path):
    import json

    from kerastag.datasets.demo import DEMO_SOUNDS_VERSION
    from kerastag.loading import prepare_dataset

    first = prepare_dataset(_demo_config(tmp_path, "a", 10))
    stamp = json.loads((tmp_path / "demo" / "kerastag-demo.json").read_text(encoding="utf-8"))
    assert stamp == {"format": "kerastag-demo", "version": 1, "layout": "chime-home",
                     "clips": 10, "seed": 0, "sounds": DEMO_SOUNDS_VERSION}
    again = prepare_dataset(_demo_config(tmp_path, "b", 10))
    assert [c.clip_id for c in again.clips] == [c.clip_id for c in first.clips]


@pytest.mark.parametrize("clips, seed, named", [(12, 0, "demo_clips 12"), (10, 1, "demo_seed 1")])
def test_a_demo_folder_made_with_other_settings_is_refused_in_one_line(tmp_path, clips, seed,
                                                                       named):
    from kerastag.loading import prepare_dataset

    prepare_dataset(_demo_config(tmp_path, "a", 10))
    listing = sorted(p.name for p in (tmp_path / "demo" / "chime_home").iterdir())
    with pytest.raises(DatasetError) as info:
        prepare_dataset(_demo_config(tmp_path, "b", clips, seed))
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(tmp_path / "demo"))
    assert "demo_clips 10, demo_seed 0" in message and named in message
    assert "b.yaml" in message and "delete the folder" in message
    assert sorted(p.name for p in (tmp_path / "demo" / "chime_home").iterdir()) == listing


def test_a_demo_of_an_older_sound_bank_is_refused(tmp_path):
    import json

    from kerastag.loading import prepare_dataset

    prepare_dataset(_demo_config(tmp_path, "a", 10))
    stamp_path = tmp_path / "demo" / "kerastag-demo.json"
    stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
    stamp_path.write_text(json.dumps({**stamp, "sounds": 1}), encoding="utf-8")
    with pytest.raises(DatasetError, match="sounds v1"):
        prepare_dataset(_demo_config(tmp_path, "b", 10))


def test_a_broken_stamp_is_one_line_naming_the_file(tmp_path):
    from kerastag.loading import prepare_dataset

    prepare_dataset(_demo_config(tmp_path, "a", 10))
    (tmp_path / "demo" / "kerastag-demo.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        prepare_dataset(_demo_config(tmp_path, "b", 10))
    assert str(info.value).startswith(str(tmp_path / "demo" / "kerastag-demo.json"))
    assert "\n" not in str(info.value)


def test_an_unstamped_demo_folder_is_used_as_it_is(tmp_path):
    from kerastag.datasets.demo import make_chime_home_demo
    from kerastag.loading import prepare_dataset

    make_chime_home_demo(tmp_path / "demo", clips=10)  # as `kerastag data demo` writes it
    data = prepare_dataset(_demo_config(tmp_path, "b", 12))
    assert len([c for c in data.clips if c.fold is not None]) == 10


def test_an_own_data_demo_is_its_folder_and_gets_no_stamp_in_it(tmp_path):
    from kerastag.config import load_config
    from kerastag.loading import prepare_dataset

    config_path = tmp_path / "own.yaml"
    config_path.write_text(f"name: own\ndataset: {{layout: csv, path: {tmp_path / 'own'}, "
                           f"demo: true, demo_clips: 12}}\n", encoding="utf-8")
    first = prepare_dataset(load_config(config_path))
    assert not (tmp_path / "own" / "kerastag-demo.json").exists()
    again = prepare_dataset(load_config(config_path))  # read as it is, not written again
    assert [c.clip_id for c in again.clips] == [c.clip_id for c in first.clips]
    assert len(first.clips) == 12
