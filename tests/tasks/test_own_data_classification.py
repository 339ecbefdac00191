"""Paper B end to end on a user's own single-label folder (csv layout, no test set).

A generated ``labels.csv`` folder of four word-named classes (synthetic tones and noise,
some clips at 22.05 kHz, some in sub-folders, one name with a space) runs through level 1
and level 2: the level-1 files and tables name the classes, the ``full`` models are
trained, ``stack/`` is fitted out of fold and on all clips, ``predict RUN/stack`` names
the classes, and the missing test set is said in one line.
"""

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

from kerastag.cli import main
from kerastag.tasks.classification.task import NO_TEST_SET as LEVEL1_NO_TEST_SET
from kerastag.tasks.stacking.report import NO_TEST_SET

CLASSES = ("bell", "drum", "horn", "whistle")
ROWS = ("rx_logmel", "rx_logmel_mixup")
TINY = "{blocks: [1], cardinality: 1, bottleneck_width: 2, stem_filters: 4}"  # one stage: fast


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def sound(name: str, rate: int, rng: np.random.Generator, seconds: float = 1.0) -> np.ndarray:
    """A second of one class's sound: a bell's decaying 880 Hz tone, a drum's noise bursts,
    a horn's 220 Hz harmonics, a whistle's 2.5 kHz tone; a little noise on every clip."""
    t = np.arange(int(seconds * rate)) / rate
    if name == "bell":
        wave = np.sin(2 * np.pi * 880 * t) * np.exp(-3 * t)
    elif name == "drum":
        wave = rng.standard_normal(t.size) * (np.mod(t, 0.25) < 0.05)
    elif name == "horn":
        wave = sum(np.sin(2 * np.pi * 220 * k * t) / k for k in (1, 2, 3))
    else:
        wave = np.sin(2 * np.pi * 2500 * t)
    wave = 0.3 * wave / np.max(np.abs(wave)) + 0.01 * rng.standard_normal(t.size)
    return wave.astype(np.float32)


def write_own_folder(root, clips_per_class: int = 5) -> list[str]:
    """``root/labels.csv`` + audio: half the clips at 22.05 kHz, the horns in ``horn/``,
    the first bell named with a space. The CSV gives two folds (``fold`` column), so
    level 1 trains 3 units a row (fold0, fold1, full): the test's time budget.
    Returns the filenames as listed."""
    rng = np.random.default_rng(0)
    lines, names = ["filename,labels,fold"], []
    for c, name in enumerate(CLASSES):
        for i in range(clips_per_class):
            rate = 22050 if (i + c) % 2 else 16000
            fname = f"{name} {i}.wav" if (name, i) == ("bell", 0) else f"{name}_{i}.wav"
            if name == "horn":
                fname = f"horn/{fname}"
            (root / fname).parent.mkdir(parents=True, exist_ok=True)
            sf.write(root / fname, sound(name, rate, rng), rate)
            lines.append(f"{fname},{name},{i % 2}")
            names.append(fname)
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return names


def own_config(path, data, cache):
    path.write_text(
        "name: own_b\ntask: classification\nseed: 0\n"
        f"dataset: {{layout: csv, path: {data}}}\n"
        f"features: {{type: logmel, n_mels: 32, excerpt_seconds: 0.5, predict_hop_seconds: 0.5,"
        f" cache_dir: {cache}, workers: 1}}\n"
        f"model: {{args: {{resnext50: {TINY}}}}}\n"
        "training: {batch_size: 32, epochs: 1, patience: 1, verbose: 0}\n"  # one batch an epoch
        "rows:\n"
        f"  - {{id: {ROWS[0]}, network: resnext50, features: logmel, mixing: none}}\n"
        f"  - {{id: {ROWS[1]}, network: resnext50, features: logmel, mixing: mixup, alpha: 3.0}}\n"
        "stack: {seed: 0, n_jobs: 1}\n")
    return path


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("own_b")
    data = base / "my sounds"
    data.mkdir()
    fnames = write_own_folder(data)
    result = invoke("run", own_config(base / "own.yaml", data, base / "cache"), "--out", base / "out")
    assert result.exit_code == 0, result.output
    return base, fnames, result.output


@pytest.mark.slow
def test_level1_files_and_tables_name_the_own_classes(own_run):
    base, fnames, output = own_run
    out = base / "out"
    assert json.loads((out / "level1" / "classes.json").read_text()) == list(CLASSES)
    for row in ROWS:
        oof = pd.read_csv(out / "level1" / f"{row}.oof.csv")
        assert list(oof.columns) == ["fname", "fold", "label", *CLASSES]
        assert sorted(oof["fname"]) == sorted(fnames)
        assert {f: l for f, l in zip(oof["fname"], oof["label"])} == {f: f.split("/")[-1].split("_")[0].split(" ")[0] for f in fnames}
        np.testing.assert_allclose(oof[list(CLASSES)].sum(axis=1), 1.0, atol=1e-4)
        test = pd.read_csv(out / "level1" / f"{row}.test.csv")  # no test set: header only
        assert list(test.columns) == ["fname", "label", *CLASSES] and test.empty
        assert sorted(set(oof["fold"])) == [0, 1]
        for unit in ("fold0", "fold1", "full"):
            assert (out / "models" / row / f"{unit}.keras").is_file()
    table = pd.read_csv(out / "table.csv")
    assert table["model"].tolist() == list(ROWS) and table["map3"].between(0, 1).all()
    assert not (out / "test").exists() and not (out / "submissions").exists()
    assert LEVEL1_NO_TEST_SET in (out / "table.md").read_text()
    assert output.count(LEVEL1_NO_TEST_SET) == 1


@pytest.mark.slow
def test_stack_is_fitted_out_of_fold_and_on_every_clip(own_run):
    base, fnames, output = own_run
    stack = base / "out" / "stack"
    table = pd.read_csv(stack / "table.csv")
    assert table["model"].tolist() == [*ROWS, "average", "stack"]
    assert table["map3"].between(0, 1).all()
    oof = pd.read_csv(stack / "stack.oof.csv")
    assert sorted(oof["fname"]) == sorted(fnames) and list(oof.columns[3:]) == list(CLASSES)
    meta = json.loads((stack / "level2_meta.json").read_text())
    assert meta["classes"] == list(CLASSES) and meta["n_train_clips"] == len(fnames)
    assert meta["n_mfcc"] > 0
    assert not (stack / "submission.csv").exists()
    markdown = (stack / "table.md").read_text()
    assert NO_TEST_SET in markdown
    assert "paper mAP@3" not in markdown and "0.977" not in markdown  # no FSDKaggle2018 numbers
    assert output.count(NO_TEST_SET) == 1  # said once, by level 2


@pytest.mark.slow
def test_predict_with_the_stack_and_a_full_model_names_the_classes(own_run, tmp_path):
    base, _, _ = own_run
    rng = np.random.default_rng(1)
    new = tmp_path / "new.wav"
    sf.write(new, sound("whistle", 44100, rng), 44100)
    for model in (base / "out" / "stack", base / "out" / "models" / ROWS[0] / "full.keras"):
        result = invoke("predict", model, new, "--out", tmp_path / "p.csv")
        assert result.exit_code == 0, result.output
        frame = pd.read_csv(tmp_path / "p.csv")
        assert list(frame.columns) == ["file", *CLASSES, "tags"]
        assert frame["file"].tolist() == [str(new)]
        labels = frame["tags"][0].split()
        assert len(labels) == 3 and set(labels) <= set(CLASSES)
        np.testing.assert_allclose(frame[list(CLASSES)].sum(axis=1), 1.0, atol=2e-3)


@pytest.mark.slow
def test_predict_with_a_stack_whose_full_model_is_gone_is_one_line(own_run, tmp_path):
    base, _, _ = own_run
    full = base / "out" / "models" / ROWS[1] / "full.keras"
    new = tmp_path / "new.wav"
    sf.write(new, sound("bell", 16000, np.random.default_rng(2)), 16000)
    full.rename(tmp_path / "full.keras")
    try:
        result = invoke("predict", base / "out" / "stack", new)
    finally:
        (tmp_path / "full.keras").rename(full)
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {base / 'out' / 'stack'}: level-1 model {full} not found; the stack scores "
        f"new files with each row's full model (run the config again with kerastag run to "
        f"train it)")


@pytest.mark.slow
def test_kerastag_stack_on_the_run_repeats_level2(own_run, tmp_path):
    base, _, _ = own_run
    result = invoke("stack", base / "out", "--out", tmp_path / "again")
    assert result.exit_code == 0, result.output
    assert NO_TEST_SET in result.output
    assert (tmp_path / "again" / "table.csv").read_text() == (base / "out" / "stack" / "table.csv").read_text()
    assert not (tmp_path / "again" / "submission.csv").exists()
