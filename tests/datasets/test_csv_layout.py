"""The generic CSV layout (kerastag.datasets.csv_layout): one ``labels.csv`` + audio."""

from kerastag.datasets import read_dataset
from kerastag.datasets.check import check_dataset


def test_csv_layout_assigns_stratified_folds(chime_demo, tmp_path):
    root, truth = chime_demo
    lines = ["filename,labels"]
    for t in truth:
        if t.tags:
            lines.append(f"chunks/{t.clip_id}.16kHz.wav,{' '.join(t.tags)}")
    own = tmp_path / "own"
    (own / "chunks").mkdir(parents=True)
    for t in truth:
        if t.tags:
            src = root / "chunks" / f"{t.clip_id}.16kHz.wav"
            (own / "chunks" / src.name).write_bytes(src.read_bytes())
    (own / "labels.csv").write_text("\n".join(lines) + "\n")
    dataset = read_dataset(own)
    assert dataset.layout == "csv"
    assert len(dataset.clips) == len(lines) - 1
    assert {c.fold for c in dataset.clips} == {0, 1, 2, 3, 4}
    assert read_dataset(own).clips == dataset.clips  # seeded: the same folds every time
    assert check_dataset(own).problems == []
