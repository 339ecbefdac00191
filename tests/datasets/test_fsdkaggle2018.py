"""The FSDKaggle2018 reader (kerastag.datasets.fsdkaggle2018): Zenodo and Kaggle layouts."""

from kerastag.datasets import read_dataset
from kerastag.datasets.check import check_dataset
from kerastag.datasets.demo import make_fsdkaggle2018_demo
from kerastag.datasets.fsdkaggle2018 import read_fsdkaggle2018


def test_fsd_reader_returns_exactly_what_the_demo_wrote(fsd_demo):
    root, truth = fsd_demo
    dataset = read_dataset(root)  # layout detected
    assert dataset.layout == "fsdkaggle2018"
    got = {(c.clip_id, c.tags, c.subset) for c in dataset.clips}
    assert got == {(t.clip_id, t.tags, t.subset) for t in truth}
    train = dataset.subset("train")
    assert {c.fold for c in train} == {0, 1, 2, 3, 4}
    assert dataset.classes == tuple(sorted({c.tags[0] for c in train}))
    verified = {t.clip_id: t.extra["manually_verified"] for t in truth if t.subset == "train"}
    assert all(c.extra["manually_verified"] == verified[c.clip_id] for c in train)
    assert {c.extra["usage"] for c in dataset.subset("test")} <= {"Public", "Private"}


def test_fsd_kaggle_layout(tmp_path):
    root, truth = make_fsdkaggle2018_demo(tmp_path, clips=10, seed=2, variant="kaggle")
    dataset = read_fsdkaggle2018(root)
    assert len(dataset.subset("train")) == 10
    assert {c.clip_id for c in dataset.subset("test")} == {t.clip_id for t in truth if t.subset == "test"}
    report = check_dataset(root, "fsdkaggle2018")
    assert report.problems == [] and len(report.durations) == len(truth)
