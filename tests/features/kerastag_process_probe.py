"""A feature spec for the pool-worker test of tests/features/test_features.py.

It lives in its own module, imported by this name from this folder, because the pool's
worker processes import it by name: defined in test_features.py, they would import
``tests.features.test_features``, and tf2onnx and dcase_util each install a top-level
``tests`` package that shadows this project's.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import ClassVar

import numpy as np

from kerastag.features.specs import FeatureSpec


@dataclasses.dataclass(frozen=True)
class ProcessProbe(FeatureSpec):
    """A spec whose features say which process computed them and what it had imported."""

    name: ClassVar[str] = "probe"
    description: ClassVar[str] = "probe"
    sample_rate: int = 16000

    def compute(self, waveform: np.ndarray) -> np.ndarray:
        return np.array([os.getpid(), "tensorflow" in sys.modules], dtype=np.int64)
