"""Shared fixtures: small demo datasets made once per test session, the model harness and
the checks of written files (the code lives in ``tests/helpers.py``)."""

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

import kerastag  # noqa: F401  (first, as a user's program: kerastag's TensorFlow defaults apply)


def _load_helpers():
    """``tests/helpers.py`` as a module (test files are imported with
    ``--import-mode=importlib``, so ``tests/`` is not on ``sys.path``)."""
    name = "kerastag_test_helpers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("helpers.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


helpers = _load_helpers()


@pytest.fixture(scope="session")
def chime_demo(tmp_path_factory):
    """(root, truth) of a 20-chunk CHiME-Home demo (+8 evaluation chunks). Do not modify."""
    from kerastag.datasets.demo import make_chime_home_demo

    return make_chime_home_demo(tmp_path_factory.mktemp("chime"), clips=20, seed=1)


@pytest.fixture(scope="session")
def fsd_demo(tmp_path_factory):
    """(root, truth) of a 24-clip FSDKaggle2018 demo, Zenodo layout. Do not modify."""
    from kerastag.datasets.demo import make_fsdkaggle2018_demo

    return make_fsdkaggle2018_demo(tmp_path_factory.mktemp("fsd"), clips=24, seed=1)


@pytest.fixture
def chime_copy(chime_demo, tmp_path):
    """A private copy of the CHiME-Home demo that a test may break."""
    root = tmp_path / "chime_home"
    shutil.copytree(chime_demo[0], root)
    return root


@pytest.fixture(scope="session")
def model_harness():
    """The one model harness of every model family (``tests/helpers.py``):

    - ``round_trip({case: (model, x)}, folder)``: kerastag layers' config round trip,
      ``.keras`` save, reload of all cases in ONE fresh interpreter
      (``load_model(path, safe_mode=True)`` after ``import kerastag``), same outputs
      (atol 1e-5), weights and layer classes; returns the reloaded side;
    - ``reload_in_fresh_process({case: (path, x)}, folder)``: the fresh-interpreter half
      alone, for model files kerastag wrote itself;
    - ``check_layer_config(layer)``: the config round trip of one layer.

    Tests using it start a fresh interpreter: mark them ``slow``.
    """
    return helpers


@pytest.fixture(scope="session")
def train_crnn_row():
    """``train_crnn_row(base, dataset=..., model=..., training=...)``: one paper-A CRNN
    row trained by ``kerastag run`` under ``base``; returns its fold-0 ``.keras`` path."""
    return helpers.train_crnn_row


@pytest.fixture(scope="session")
def run_own_data_guide():
    """``run_own_data_guide(folder, part)``: docs/own-data.md's commands of ``part``
    (``tagging``: sections 1-7, ``classification``: section 8) run in ``folder``."""
    return helpers.run_own_data_guide


@pytest.fixture(scope="session")
def assert_png():
    """``assert_png(path)``: a real PNG with something drawn in it."""
    return helpers.assert_png


@pytest.fixture(scope="session")
def assert_no_temp_files():
    """``assert_no_temp_files(folder)``: no half-written ``.tmp`` file left under it."""
    return helpers.assert_no_temp_files


@pytest.fixture
def no_open_figures():
    """Fails the test if it leaves a matplotlib figure open."""
    yield
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []


@pytest.fixture
def eer_rows():
    """Five paper-A result rows (one with a NaN tag EER), as the tagging task makes them."""
    from kerastag.config import RowConfig
    from kerastag.formats.eer_table import EerRow

    def row(mixing, alpha, per_tag, average, var_1e3):
        name = RowConfig(mixing=mixing, alpha=alpha or 0.0).name
        return EerRow(name=name, model="CRNN", mixing=mixing, alpha=alpha,
                      per_tag=tuple(per_tag), average=average, var_1e3=var_1e3)

    return [
        row("none", None, [.09, .12, .13, .04, .15, .05, .25], .1186, 5.9),
        row("mixup", 1.5, [.11, .13, .12, .03, .11, .02, .21], .1043, 4.3),
        row("samplepairing", None, [.1, .2, .15, .01, .16, .03, .24], .1271, 7.1),
        row("mixup_lp", 1.5, [.12, .13, .12, .02, .12, float("nan"), .25], .1267, 6.6),
        row("extrapolation", 0.7, [.1, .16, .13, .03, .14, .02, .23], .1157, 5.0),
    ]


@pytest.fixture(scope="module", autouse=True)
def _fresh_keras_state_per_module():
    """Drop each test module's Keras graphs and models when it ends: one pytest process
    runs every module, and the graphs of earlier modules otherwise stay alive and slow
    the later ones (the stacking demo took 279 s alone, 352 s at the end of the suite)."""
    yield
    import gc
    import sys

    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()
    gc.collect()


@pytest.fixture(scope="module")
def local_ray():
    """A private Ray on this machine (2 CPUs) for one test module; kerastag's Ray engine
    joins it instead of starting its own. Shut down when the module ends."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def local_threads() -> int:
    """TensorFlow's default intra-op threads here, which the local engine uses; a Ray
    unit given the same count computes the same numbers."""
    import os

    return len(os.sched_getaffinity(0))


#: Test files that take minutes, slowest first. They are collected first, so that with
#: ``pytest -n auto --dist loadfile`` they start at once instead of ending the run alone
#: on one core (the stacking demo alone is ~4 minutes).
SLOW_FILES_FIRST = (
    "tasks/stacking/test_demo_stacking.py",
    "test_own_data_guide.py",
    "test_own_data_guide_classification.py",
    "tasks/tagging/test_table1_rows.py",
    "runner/test_run.py",
    "tasks/tagging/test_events.py",
    "export/test_export.py",
    "tasks/classification/test_task.py",
    "runner/test_ray_engine.py",
    "models/test_networks.py",
)


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        path = item.nodeid.split("::")[0].removeprefix("tests/")
        return SLOW_FILES_FIRST.index(path) if path in SLOW_FILES_FIRST else len(SLOW_FILES_FIRST)

    items.sort(key=rank)  # stable: the order within each file and among the rest is kept
