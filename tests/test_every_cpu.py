"""Every CPU: paper B's grouped-convolution networks train without TensorFlow's oneDNN
kernels, and ``import kerastag`` turns those kernels on unless the user said otherwise.

TensorFlow enables oneDNN by itself only on AVX-512 VNNI/AMX-class CPUs; elsewhere its own
CPU kernels have no gradient for a grouped convolution. ``TF_ENABLE_ONEDNN_OPTS=0`` in a
fresh interpreter reproduces such a CPU on any machine, so these tests catch a regression
on every CI runner.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerastag.models import layers
from kerastag.models.layers import GroupedConv2D

REPO = Path(__file__).resolve().parents[1]


def _fresh_python(code: str, onednn: str | None, *args: str, timeout: int = 600) -> str:
    """Run ``code`` (with ``args``) in a fresh interpreter importing this checkout, with
    ``TF_ENABLE_ONEDNN_OPTS`` set to ``onednn`` (None: unset); returns its stdout."""
    env = {key: value for key, value in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"}
    if onednn is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = onednn
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _value_and_grads(layer, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(layer(x) ** 2)
    return [loss, *tape.gradient(loss, [x, *layer.trainable_variables])]


@pytest.mark.parametrize("strides, padding, dilation", [(1, "same", 1), (2, "valid", 1),
                                                        (1, "same", 2)])
def test_per_group_convolution_equals_the_grouped_kernel(strides, padding, dilation, monkeypatch):
    """The oneDNN-off formulation: same weights (one kernel variable, same layout), same
    outputs and gradients as the native grouped kernel and as Keras' Conv2D."""
    x = tf.constant(np.random.default_rng(0).standard_normal((2, 9, 11, 8)).astype("float32"))
    kwargs = dict(strides=strides, padding=padding, dilation_rate=dilation, groups=4, use_bias=True)
    reference = keras.layers.Conv2D(12, 3, **kwargs)
    grouped = GroupedConv2D(12, 3, **kwargs)
    reference.build(x.shape)
    grouped.build(x.shape)
    grouped.set_weights(reference.get_weights())
    assert [w.shape for w in grouped.weights] == [(3, 3, 2, 12), (12,)]
    native = _value_and_grads(grouped, x) if layers.grouped_gradient_is_native() else None
    monkeypatch.setattr(layers, "grouped_gradient_is_native", lambda: False)
    per_group = _value_and_grads(grouped, x)
    for ours, theirs in zip(per_group, _value_and_grads(reference, x)):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-4)
    for ours, theirs in zip(per_group, native or []):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-5)


TRAIN_EACH_GROUPED_NETWORK = """
    import json, sys
    from pathlib import Path
    import keras, numpy as np
    import kerastag
    from kerastag.models.layers import grouped_gradient_is_native
    from kerastag.models.networks import build_network

    TINY = dict(blocks=(1, 1, 1, 1), cardinality=2, bottleneck_width=2, stem_filters=8)
    TINY_DPN = dict(init_features=8, k_r=8, groups=2, k_sec=(1, 1, 1, 1), inc_sec=(2, 2, 2, 2),
                    base_width=8)
    FRONT = dict(bands=8, context_kernel=3)
    CASES = {"resnext50": ((32, 48, 3), TINY), "se_resnext50": ((32, 48, 3), dict(TINY, se_ratio=4)),
             "dpn68": ((32, 48, 3), TINY_DPN), "wave_resnext": ((8820,), dict(TINY, **FRONT))}
    rng = np.random.default_rng(0)
    losses = {}
    for name, (shape, kwargs) in CASES.items():
        keras.utils.set_random_seed(0)
        model = build_network(name, shape, 5, **kwargs)
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        x = rng.standard_normal((2, *shape)).astype("float32")
        history = model.fit(x, keras.utils.to_categorical([0, 1], 5), epochs=1, verbose=0)
        losses[name] = history.history["loss"][0]
        if name == "resnext50":
            out = Path(sys.argv[1])
            model.save(out / "resnext.keras")
            np.save(out / "x.npy", x)
            np.save(out / "y.npy", model.predict(x, verbose=0))
    print(json.dumps({"native": grouped_gradient_is_native(), "losses": losses}))
"""


@pytest.mark.slow
def test_grouped_networks_train_with_onednn_off_and_their_models_load_anywhere(tmp_path):
    """One training step of ResNeXt, SE-ResNeXt, DPN and Wave-ResNeXt in a fresh interpreter
    with TF_ENABLE_ONEDNN_OPTS=0 (TensorFlow's default on AMD, older Intel, ARM); the saved
    ResNeXt reloads in this process (whatever its oneDNN) with the same outputs."""
    stdout = _fresh_python(TRAIN_EACH_GROUPED_NETWORK, "0", str(tmp_path))
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["native"] is False  # the per-group formulation was used
    assert set(result["losses"]) == {"resnext50", "se_resnext50", "dpn68", "wave_resnext"}
    assert all(np.isfinite(loss) for loss in result["losses"].values()), result
    reloaded = keras.saving.load_model(tmp_path / "resnext.keras")
    np.testing.assert_allclose(reloaded.predict(np.load(tmp_path / "x.npy"), verbose=0),
                               np.load(tmp_path / "y.npy"), rtol=1e-4, atol=1e-5)


ONEDNN_STATE = """
    import os
    import kerastag
    import tensorflow as tf
    from tensorflow.python.util import _pywrap_util_port
    print(os.environ["TF_ENABLE_ONEDNN_OPTS"], _pywrap_util_port.IsMklEnabled())
"""


@pytest.mark.slow
@pytest.mark.parametrize("users_setting, expected", [(None, "1 True"), ("0", "0 False"),
                                                     ("1", "1 True")])
def test_import_kerastag_turns_onednn_on_unless_the_user_said_otherwise(users_setting, expected):
    assert _fresh_python(ONEDNN_STATE, onednn=users_setting).split()[-2:] == expected.split()
