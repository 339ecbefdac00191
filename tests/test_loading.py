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
