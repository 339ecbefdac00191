"""Shared fixtures: small demo datasets made once per test session."""

import shutil

import pytest


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
