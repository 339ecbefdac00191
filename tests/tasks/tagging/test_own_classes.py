"""Paper A's tagging task on a user's own multi-label csv dataset: the dataset's classes
name the table, the plot, ``evaluate``, ``predict`` (with and without ``--events``),
``calibrate`` and ``export`` metadata; paper A's numbers and CHiME-Home's tag letters
appear nowhere; IMD rows and classes too rare for the folds are named before training."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

from kerastag.cli import main

RATE = 16000
CLASSES = ("beep", "chirp", "click")


def _sound(name: str, rng: np.random.Generator, seconds: float) -> np.ndarray:
    """One second-scale event of a class: a tone, a rising sweep, or a click train."""
    t = np.arange(int(seconds * RATE)) / RATE
    if name == "beep":
        return 0.4 * np.sin(2 * np.pi * rng.uniform(900, 1100) * t)
    if name == "chirp":
        start, stop = rng.uniform(300, 500), rng.uniform(2500, 3500)
        return 0.4 * np.sin(2 * np.pi * (start * t + (stop - start) * t ** 2 / (2 * seconds)))
    clicks = np.zeros_like(t)
    clicks[:: int(RATE / rng.uniform(8, 12))] = 0.9
    return clicks


def write_own_dataset(root, classes=CLASSES, *, clips=30, seed=0, folds=2) -> list[tuple]:
    """``root/labels.csv`` (``filename,labels,fold``) and ``clips`` 4 s 16 kHz WAVs: quiet
    noise plus one or two of ``classes`` at random times; every class in every fold.

    Returns:
        ``(filename, labels)`` per clip.
    """
    rng = np.random.default_rng(seed)
    (root / "audio").mkdir(parents=True)
    listed = []
    for index in range(clips):
        first = classes[index % len(classes)]
        others = [c for c in classes if c != first]
        labels = [first] + ([others[rng.integers(len(others))]] if rng.random() < 0.3 else [])
        audio = 0.01 * rng.standard_normal(4 * RATE)
        for label in labels:
            onset = int(rng.uniform(0, 2.5) * RATE)
            event = _sound(label, rng, 1.5)
            audio[onset:onset + len(event)] += event
        name = f"audio/clip{index:02d}.wav"
        sf.write(root / name, audio.astype(np.float32), RATE)
        listed.append((name, " ".join(labels), (index // len(classes)) % folds))
    with (root / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "labels", "fold"])
        writer.writerows(listed)
    return listed


def own_config(base, dataset, rows) -> object:
    path = base / "own.yaml"
    path.write_text(
        f"name: own\nseed: 0\n"
        f"dataset: {{layout: csv, path: {dataset}}}\n"
        f"features: {{cache_dir: {base / 'cache'}, workers: 1}}\n"
        f"model: {{filters: [4, 4, 4, 8, 8, 8, 8], rnn_units: 4}}\n"
        f"training: {{batch_size: 8, epochs: 1, patience: 1, verbose: 0, deterministic: true}}\n"
        f"rows:\n" + "".join(f"  - {row}\n" for row in rows))
    return path


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    """(dataset, run folder, output) of a CRNN row, the DAE-DNN and the MFCC-GMM on a
    3-class csv dataset, 2 folds."""
    base = tmp_path_factory.mktemp("own")
    dataset = base / "sounds"
    write_own_dataset(dataset)
    config = own_config(base, dataset, [
        "{mixing: mixup, alpha: 1.0}",
        "{id: dae_dnn, network: dae_dnn, model: DAE-DNN, variant: '-', training: {folds: [0]},"
        " args: {dae_hidden: 16, bottleneck: 8, hidden: [16], context: 31, dae_epochs: 1}}",
        "{id: dcase2016_gmm, network: dcase2016_gmm, model: MFCC-GMM, variant: '-',"
        " in_table_1: false, training: {folds: [0]}}"])
    result = invoke("run", config, "--out", base / "out")
    assert result.exit_code == 0, result.output
    return dataset, base / "out", result.output


@pytest.mark.slow
def test_the_table_and_plot_name_the_dataset_classes_without_the_paper(own_run, assert_png):
    from kerastag.formats.eer_table import read_eer

    _, out, output = own_run
    table = read_eer(out / "table.csv")
    assert table.tags == CLASSES
    assert [row.name for row in table.rows] == ["mixup_a1", "dae_dnn", "dcase2016_gmm"]
    header = (out / "table.csv").read_text().splitlines()[0]
    assert header == "row,model,augmentation,alpha,beep,chirp,click,avg,var_1e3"
    markdown = (out / "table.md").read_text(encoding="utf-8")
    assert "| row | model | augmentation | alpha | beep | chirp | click | avg | var ×1e-3 |" \
        in markdown
    for paper_only in ("paper", "Table 1", "child speech", "Δ", "↳"):
        assert paper_only not in markdown
    assert "paper" not in output and "Δavg" not in output
    assert_png(out / "plots" / "eer_per_class.png")
    assert not (out / "plots" / "eer_vs_paper.png").exists()
    for row in table.rows:  # every class has a defined EER on both folds
        assert all(0.0 <= value <= 1.0 for value in row.per_tag), row
    gmm = table.rows[2]  # EM to convergence: the GMM learns these sounds even here
    assert gmm.average < 0.3, table.rows


@pytest.mark.slow
def test_evaluate_gives_the_identical_table(own_run):
    _, out, _ = own_run
    result = invoke("evaluate", out)
    assert result.exit_code == 0, result.output
    assert (out / "evaluate" / "table.csv").read_text() == (out / "table.csv").read_text()
    assert "paper" not in (out / "evaluate" / "table.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_predict_calibrate_and_export_carry_the_classes(own_run, tmp_path):
    dataset, out, _ = own_run
    model = out / "models" / "mixup_a1" / "fold0.keras"
    scores = tmp_path / "scores.csv"
    result = invoke("predict", model, dataset / "audio" / "clip00.wav",
                    dataset / "audio" / "clip01.wav", "--out", scores)
    assert result.exit_code == 0, result.output
    assert list(pd.read_csv(scores).columns) == ["file", *CLASSES, "tags"]

    result = invoke("calibrate", out)
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "thresholds" / "mixup_a1.json").read_text())
    assert saved["classes"] == list(CLASSES) and set(saved["clip"]["thresholds"]) == set(CLASSES)
    summary = (out / "thresholds" / "thresholds.csv").read_text().splitlines()[0]
    assert summary == "row,criterion,beep,chirp,click"

    events = tmp_path / "events.tsv"
    result = invoke("predict", model, dataset / "audio" / "clip00.wav", "--events", events)
    assert result.exit_code == 0, result.output
    from kerastag.sed_scores import read_event_list

    estimated = read_event_list(events)
    assert set(estimated["event_label"]) <= set(CLASSES)
    name = estimated["filename"].iloc[0] if len(estimated) else "clip00.wav"
    reference = tmp_path / "reference.tsv"
    reference.write_text(f"filename\tonset\toffset\tevent_label\n{name}\t0.5\t2.0\tbeep\n"
                         f"{name}\t2.0\t3.5\tclick\n")
    result = invoke("score-events", reference, events, "--out", tmp_path / "scores.json")
    assert result.exit_code == 0, result.output
    scored = json.loads((tmp_path / "scores.json").read_text())
    assert {"beep", "click"} <= set(scored["labels"]) <= set(CLASSES)
    assert set(scored["class_event_f1"]) == set(scored["labels"])

    result = invoke("export", model, "--format", "saved_model", "--out", tmp_path / "export")
    assert result.exit_code == 0, result.output
    exported = json.loads((tmp_path / "export" / "metadata.json").read_text())
    assert exported["classes"] == list(CLASSES)
    assert list(exported["thresholds"]) == list(CLASSES)  # the calibrated ones of the run


def write_own_recording(path, rate=22050, seconds=40.0, seed=5) -> list[tuple]:
    """A long recording of the own classes at another sample rate than the clips': an
    event every 5 s; returns its reference events ``(filename, onset, offset, label)``."""
    import librosa

    rng = np.random.default_rng(seed)
    audio = 0.01 * rng.standard_normal(int(seconds * rate))
    events = []
    for k, onset in enumerate(np.arange(1.0, seconds - 3, 5.0)):
        label = CLASSES[k % len(CLASSES)]
        sound = librosa.resample(_sound(label, rng, 1.5), orig_sr=RATE, target_sr=rate)
        first = int(onset * rate)
        audio[first:first + len(sound)] += sound
        events.append((path.name, round(float(onset), 3), round(float(onset) + 1.5, 3), label))
    sf.write(path, audio.astype(np.float32), rate)
    return events


@pytest.mark.slow
def test_events_scores_and_strong_label_calibration_on_own_classes(own_run, tmp_path):
    """The event workflow on a user's own classes and sample rate: frame scores written,
    frame thresholds tuned on an own annotated recording (a bad reference refused with
    nothing written), predict preferring them, export carrying them, score-events on the
    scores folder with PSDS per own class."""
    from kerastag.formats.thresholds import read_threshold_file
    from kerastag.sed_scores import score_events

    _, out, _ = own_run
    model = out / "models" / "mixup_a1" / "fold0.keras"
    audio = tmp_path / "long"
    audio.mkdir()
    reference = tmp_path / "reference.tsv"
    rows = write_own_recording(audio / "kitchen.wav")
    pd.DataFrame(rows, columns=["filename", "onset", "offset", "event_label"]).to_csv(
        reference, sep="\t", index=False)
    result = invoke("predict", model, audio, "--events", tmp_path / "before.tsv",
                    "--scores", tmp_path / "scores")
    assert result.exit_code == 0, result.output
    header = (tmp_path / "scores" / "kitchen.tsv").read_text().splitlines()[0]
    assert header == "onset\toffset\tbeep\tchirp\tclick"

    bad = tmp_path / "bad.tsv"
    bad.write_text("filename\tonset\toffset\tevent_label\nkitchen.wav\t1.0\t2.0\tzz\n")
    result = invoke("calibrate", out, "--events", bad, "--audio", audio)
    assert result.exit_code == 2, result.output
    assert "are not the model's tags (beep, chirp, click)" in result.output
    assert not (out / "thresholds" / "events.csv").exists()  # nothing written

    result = invoke("calibrate", out, "--events", reference, "--audio", audio,
                    "--row", "mixup_a1")
    assert result.exit_code == 0, result.output
    found = read_threshold_file(out / "thresholds" / "mixup_a1.json", CLASSES)
    assert found.frame is not None
    saved = json.loads((out / "thresholds" / "mixup_a1.json").read_text())
    assert list(saved["frame"]["decisions"]) == list(CLASSES)
    assert set(pd.read_csv(out / "thresholds" / "events.csv")["tag"]) == set(CLASSES)

    result = invoke("predict", model, audio, "--events", tmp_path / "after.tsv")
    assert result.exit_code == 0, result.output
    assert "frame thresholds of" in result.output
    result = invoke("score-events", reference, tmp_path / "scores", "--thresholds",
                    out / "thresholds" / "mixup_a1.json", "--out", tmp_path / "s.json")
    assert result.exit_code == 0, result.output
    scored = json.loads((tmp_path / "s.json").read_text())
    assert scored["labels"] == list(CLASSES) and set(scored["class_psds1"]) == set(CLASSES)
    assert scored["decisions"].startswith("frame thresholds of")
    # the same decisions from the scores folder and from predict give the same events
    assert score_events(reference, tmp_path / "after.tsv", labels=list(CLASSES))["event_f1"] \
        == scored["event_f1"]
    result = invoke("export", model, "--format", "saved_model", "--out", tmp_path / "export")
    assert result.exit_code == 0, result.output
    exported = json.loads((tmp_path / "export" / "metadata.json").read_text())
    assert list(exported["frame_decisions"]) == list(CLASSES)


def test_seven_own_classes_do_not_get_chime_home_letters(tmp_path):
    """Seven classes of a csv dataset, named as CHiME-Home's letters or not: the table
    has their names and no paper, the plot no paper bars."""
    from kerastag.formats.eer_table import EerRow, format_eer_table, write_eer_table
    from kerastag.reference_results import CHIME_HOME_TAGS, compares_with_paper_a
    from kerastag.tasks.tagging.plots import plot_eer

    seven = ("bird", "car", "cat", "dog", "music", "rain", "speech")
    row = EerRow(name="mixup_a1.5", model="CRNN", mixing="mixup", alpha=1.5,
                 per_tag=(.1, .2, .3, .1, .2, .3, .1), average=.19, var_1e3=7.0)
    assert not compares_with_paper_a("csv", seven)
    assert not compares_with_paper_a("csv", CHIME_HOME_TAGS)
    assert compares_with_paper_a("chime-home", CHIME_HOME_TAGS)
    write_eer_table([row], tmp_path, tags=seven, paper=compares_with_paper_a("csv", seven))
    assert (tmp_path / "table.csv").read_text().splitlines()[0] == (
        "row,model,augmentation,alpha,bird,car,cat,dog,music,rain,speech,avg,var_1e3")
    markdown = (tmp_path / "table.md").read_text(encoding="utf-8")
    assert "child speech" not in markdown and "↳" not in markdown and "paper" not in markdown
    printed = format_eer_table([row], tags=seven, paper=False)
    assert printed.splitlines()[0].split() == ["row", *seven, "avg", "var1e3"]
    write_eer_table([row], tmp_path / "letters", tags=CHIME_HOME_TAGS, paper=False)
    assert "child speech" not in (tmp_path / "letters" / "table.md").read_text(encoding="utf-8")
    plot_eer([row], tmp_path / "eer.png", tags=seven, paper=False)


def test_a_seven_class_csv_task_writes_its_own_names(tmp_path):
    """The tagging task's tables take the classes its dataset has, not CHiME-Home's."""
    from kerastag.config import load_config
    from kerastag.runner.task import Unit
    from kerastag.tasks.tagging.task import TaggingTask

    seven = ("bird", "car", "cat", "dog", "music", "rain", "speech")
    dataset = tmp_path / "seven"
    write_own_dataset(dataset, seven, clips=14)
    task = TaggingTask(load_config(own_config(tmp_path, dataset, ["{mixing: mixup, alpha: 1.5}"])))
    assert task.load().classes == seven and task.classes == seven
    rng = np.random.default_rng(0)
    y = np.tile(np.eye(7, dtype=np.float32), (2, 1))
    predictions = {Unit(task.config.rows[0], f"fold{k}"): {
        "clip_ids": np.arange(7), "y_true": y[:7], "scores": rng.random((7, 7))}
        for k in (0, 1)}
    for unit in predictions:  # the histories a run saves beside its predictions
        history = tmp_path / "out" / "histories" / unit.row.name / f"{unit.name}.csv"
        history.parent.mkdir(parents=True, exist_ok=True)
        history.write_text("epoch,loss,val_loss\n1,0.7,0.69\n")
    lines = []
    csv_path = task.write_results(tmp_path / "out", list(predictions), predictions,
                                  log=lines.append)
    assert csv_path.read_text().splitlines()[0].split(",")[4:11] == list(seven)
    assert "paper" not in "\n".join(lines) and "paper" not in (
        tmp_path / "out" / "table.md").read_text(encoding="utf-8")
    assert (tmp_path / "out" / "plots" / "eer_per_class.png").is_file()


def refused_at_load(tmp_path, row: str):
    """(config path, pytest's ExceptionInfo) of a 6-clip own dataset whose second row the
    tagging task's load refuses with a DatasetError."""
    from kerastag.config import load_config
    from kerastag.errors import DatasetError
    from kerastag.tasks.tagging.task import TaggingTask

    dataset = tmp_path / "sounds"
    write_own_dataset(dataset, clips=6)
    config = own_config(tmp_path, dataset, ["{mixing: mixup, alpha: 1.0}", row])
    with pytest.raises(DatasetError) as info:
        TaggingTask(load_config(config)).load()
    return config, info


def test_an_imd_row_on_a_mono_dataset_is_refused_at_load(tmp_path):
    config, info = refused_at_load(tmp_path, "{id: cgrnn_imd, network: cgrnn_imd, model: CGRNN, variant: IMD}")
    message = str(info.value)
    assert message.startswith("row 'cgrnn_imd' (cgrnn_imd): features logmel_imd: needs each "
                              "clip's 48k file") and "'csv'" in message
    assert not (tmp_path / "cache").exists()  # refused before any feature was extracted
    result = invoke("run", config, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "row 'cgrnn_imd'" in result.output
    assert not (tmp_path / "out").exists()


def test_a_tags_and_silence_row_on_a_dataset_without_silence_is_refused_at_load(tmp_path):
    config, info = refused_at_load(tmp_path, "{id: gmm, network: dcase2016_gmm, targets: tags_and_silence}")
    assert str(info.value) == (
        f"row 'gmm': targets: tags_and_silence needs each clip's silence annotation "
        f"(CHiME-Home's 'S' in a chunk's majorityvote), which dataset.layout 'csv' at "
        f"{tmp_path / 'sounds'} does not have; use targets: tags")
    assert not (tmp_path / "cache").exists()  # refused before any feature was extracted


def test_a_class_too_rare_for_the_folds_is_named_by_data_check_and_run(tmp_path):
    from kerastag.config import load_config
    from kerastag.runner.task import Unit
    from kerastag.tasks.tagging.task import TaggingData, TaggingTask

    dataset = tmp_path / "sounds"
    write_own_dataset(dataset, clips=12)
    labels = dataset / "labels.csv"
    lines = labels.read_text().splitlines()
    lines[1] = lines[1].split(",")[0] + ",beep rare,0"  # one clip of 'rare', in fold 0
    labels.write_text("\n".join(lines) + "\n")

    result = invoke("data", "check", dataset)
    assert result.exit_code == 0, result.output
    assert "problems: none" in result.output
    note = next(line for line in result.output.splitlines() if "'rare'" in line)
    assert "class 'rare' (1 clips) does not fit the folds: no clip of it in fold 1" in note
    assert "no clip of it to train on when testing fold 0" in note
    assert not any("'beep'" in line for line in result.output.splitlines())

    task = TaggingTask(load_config(own_config(tmp_path, dataset, ["{mixing: none}"])))
    y = np.array([[1, 1], [0, 0], [1, 0], [0, 0]], np.float32)
    data = TaggingData(["a", "b", "c", "d"], {}, y, np.array([0, 0, 1, 1]), ("beep", "rare"),
                       np.arange(4))
    units = [Unit(task.config.rows[0], "fold0"), Unit(task.config.rows[0], "fold1")]
    notes = task.notes(data, units)
    assert len(notes) == 1 and notes[0].startswith("class 'rare' (1 clips) does not fit")
    assert "no clip of it in fold1" in notes[0]


def test_run_logs_the_rare_class_before_training(tmp_path, monkeypatch):
    """``kerastag run`` prints the notes of the task before any unit trains."""
    from kerastag.config import load_config
    from kerastag.errors import KerastagError
    from kerastag.runner import run as runner
    from kerastag.tasks.tagging.task import TaggingTask

    dataset = tmp_path / "sounds"
    write_own_dataset(dataset, clips=12)
    labels = dataset / "labels.csv"
    lines = labels.read_text().splitlines()
    lines[1] = lines[1].split(",")[0] + ",beep rare,0"
    labels.write_text("\n".join(lines) + "\n")
    trained = []

    def refuse_training(task, data, unit):
        trained.append(unit)
        raise KerastagError("stop after the notes")

    monkeypatch.setattr(TaggingTask, "train_unit", refuse_training)
    log = []
    config = load_config(own_config(tmp_path, dataset, ["{mixing: none}"]))
    with pytest.raises(KerastagError, match="stop after the notes"):
        runner.run_experiment(config, tmp_path / "out", log=log.append)
    first_training = next(i for i, line in enumerate(log) if line.endswith(": training"))
    rare = [i for i, line in enumerate(log) if line.startswith("note: class 'rare'")]
    assert rare and rare[0] < first_training and len(trained) == 1
