"""The ``kerastag`` command line: thin click commands over the library.

Heavy modules (TensorFlow, librosa) are imported inside the commands so that
``kerastag --help`` stays quick. Every :class:`KerastagError` becomes a one-line
``error: ...`` message on stderr and exit status 2 (with ``--verbose``, an error that
wraps an unexpected one, such as TensorFlow's inside a unit's training, is preceded by
the whole traceback). TensorFlow's start-up lines (absl,
oneDNN, CUDA probing on a CPU machine) are silenced unless ``--verbose`` is given.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import traceback
from pathlib import Path

import click

from kerastag import __version__
from kerastag.errors import ConfigError, KerastagError
from kerastag.names import CALIBRATION_CRITERIA, DEMO_LAYOUTS, ENGINES, EXPORT_FORMATS, LAYOUTS



class RegistryChoice(click.Choice):
    """A choice among the names of a table of :mod:`kerastag.names`, read when the command
    runs, so a name a plug-in registers is a valid choice too."""

    def __init__(self, table: dict):
        self.table = table
        super().__init__(list(table))

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(self.table)

    @choices.setter
    def choices(self, _value) -> None:  # click's __init__ sets it; the table is the truth
        pass


LAYOUT_CHOICES = RegistryChoice(LAYOUTS)
DEMO_LAYOUT_CHOICES = click.Choice(list(DEMO_LAYOUTS))


def friendly_errors(command):
    """Turn kerastag errors into one line on stderr and exit status 2."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except KerastagError as exc:
            if _VERBOSE["on"] and exc.__cause__ is not None:
                traceback.print_exception(exc)
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
    return wrapper


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and probe its devices with the process's stderr sent to
    /dev/null: its C++ start-up lines are written there directly, whatever
    ``TF_CPP_MIN_LOG_LEVEL`` says. Python-level errors still surface (raised, not printed).
    With ``--verbose`` the same happens with stderr left as it is."""
    if "tensorflow" in sys.modules:
        return
    if _VERBOSE["on"]:
        import tensorflow as tf

        tf.config.list_physical_devices()
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_VERBOSE = {"on": False}


def needs_tensorflow(command):
    """Import TensorFlow quietly (see :func:`import_tensorflow_quietly`) before ``command``."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        import_tensorflow_quietly()
        return command(*args, **kwargs)
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kerastag")
@click.option("--verbose", is_flag=True,
              help="Keep TensorFlow's start-up and log lines; show the whole traceback of "
                   "an unexpected error.")
def main(verbose):
    """Audio tagging with Keras 3: reproduce DCASE 2016 Task 4 (paper A) and
    DCASE 2018 Task 2 (paper B), on the real datasets or the built-in demo."""
    _VERBOSE["on"] = verbose
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notices


@main.group()
def data():
    """Datasets: make the demo, check a folder, download the real data."""


@data.command("demo")
@click.option("--layout", type=DEMO_LAYOUT_CHOICES, required=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write the dataset into.")
@click.option("--clips", type=click.IntRange(min=10), default=None,
              help="Development/training clips (default: the demo's size).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--variant", type=click.Choice(["zenodo", "kaggle"]), default="zenodo", show_default=True,
              help="FSDKaggle2018 only: the Zenodo or the original Kaggle file layout.")
@click.option("--kind", type=click.Choice(["tagging", "classification"]), default="tagging",
              show_default=True,
              help="csv only: multi-label clips for paper A's tagging, or single-label clips "
                   "for paper B's classification.")
@click.option("--long", "long_recordings", is_flag=True,
              help="chime-home only: long 16 kHz recordings with a DCASE event list "
                   "(chime_home_long/audio/*.wav, events.tsv) instead of 4 s chunks.")
@click.option("--minutes", type=float, default=None,
              help="With --long: minutes per recording (default 10).")
@click.option("--recordings", type=int, default=None,
              help="With --long: number of recordings (default 2).")
@friendly_errors
def data_demo(layout, out_dir, clips, seed, variant, kind, long_recordings, minutes, recordings):
    """Write a synthetic dataset in exactly the real LAYOUT (same bytes for the same seed)."""
    from kerastag.datasets import demo
    from kerastag.errors import DatasetError

    if long_recordings:
        if layout != "chime-home":
            raise DatasetError(f"--long: only the chime-home demo has long recordings, not {layout}")
        if clips is not None:
            raise DatasetError("--clips: not with --long (use --recordings and --minutes)")
        kwargs = {key: value for key, value in {"minutes": minutes, "recordings": recordings}.items()
                  if value is not None}
        root, events = demo.make_chime_long_demo(out_dir, seed=seed, progress=True, **kwargs)
        files = sorted((root / "audio").iterdir())
        with open(events, encoding="utf-8") as handle:
            n_events = sum(1 for _ in handle) - 1
        click.echo(f"wrote {len(files)} long recordings with {n_events} events of the chime-home "
                   f"demo to {root} (ground truth: {events})")
        return
    if minutes is not None or recordings is not None:
        raise DatasetError("--minutes/--recordings: only with --long")
    if layout == "chime-home":
        kwargs = {} if clips is None else {"clips": clips}
        root, truth = demo.make_chime_home_demo(out_dir, seed=seed, progress=True, **kwargs)
    elif layout == "csv":
        root, truth = demo.make_own_data_demo(out_dir, clips=clips, seed=seed, kind=kind,
                                              progress=True)
    else:
        kwargs = {} if clips is None else {"clips": clips}
        root, truth = demo.make_fsdkaggle2018_demo(out_dir, seed=seed, variant=variant,
                                                   progress=True, **kwargs)
    click.echo(f"wrote {len(truth)} clips of the {layout} demo to {root}")


@data.command("check")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--layout", type=LAYOUT_CHOICES, default=None, help="Detected when omitted.")
@click.option("--single-label", is_flag=True,
              help="The dataset is for the classification task: every clip (but the test "
                   "set's) needs exactly one label.")
@friendly_errors
def data_check(directory, layout, single_label):
    """Validate a dataset DIRECTORY and print a summary; exit 1 when it has problems.
    Notes (e.g. audio files labels.csv does not list) are printed but are no problem."""
    from kerastag.datasets.check import check_dataset, format_report

    report = check_dataset(directory, layout, progress=sys.stderr.isatty(),
                           single_label=single_label)
    click.echo(format_report(report))
    if not report.ok:
        sys.exit(1)


@data.command("download")
@click.argument("name", type=LAYOUT_CHOICES)
@click.option("--to", "to_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--url", default=None,
              help="Override the source: the archive URL (chime-home) or a base URL the file "
                   "names are appended to (fsdkaggle2018). file:// URLs work too.")
@friendly_errors
def data_download(name, to_dir, url):
    """Download, verify (md5) and unpack dataset NAME (a layout that declares a download
    source); resumes a partial download."""
    from kerastag.datasets.download import download_dataset

    root = download_dataset(name, to_dir, url=url, progress=True)
    click.echo(f"{name} is ready in {root}")


@main.command("features")
@click.argument("config_path", metavar="CONFIG", type=click.Path(path_type=Path))
@friendly_errors
def features_command(config_path):
    """Precompute (and cache) the features experiment CONFIG needs."""
    from kerastag.config import load_config
    from kerastag.loading import compute_features, prepare_dataset

    config = load_config(config_path)
    dataset = prepare_dataset(config)
    types = sorted({row.features for row in config.rows}) if config.task == "classification" else [None]
    for feature_type in types:
        features = config.features.with_type(feature_type) if feature_type else config.features
        result = compute_features(config, dataset.clips, features=features)
        click.echo(f"{len(dataset.clips)} clips: {result.computed} computed, {result.cached} from the "
                   f"cache in {config.cache_dir()} ({features.type})")


@main.command("run")
@click.argument("config_path", metavar="CONFIG", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run folder (default: runs/<config name>/).")
@click.option("--engine", type=RegistryChoice(ENGINES), default=None,
              help="Where units train: 'local' (this process, the default) or 'ray' "
                   "(Ray tasks; overrides execution.engine).")
@click.option("--address", default=None,
              help="Ray cluster to join: 'auto' or HOST:PORT (default: a private Ray here).")
@click.option("--cpus-per-unit", type=float, default=None,
              help="CPUs each unit declares to Ray (execution.ray.cpus_per_unit).")
@click.option("--gpus-per-unit", type=float, default=None,
              help="GPUs each unit declares to Ray; a fraction packs several units per GPU.")
@friendly_errors
@needs_tensorflow
def run_command(config_path, out_dir, engine, address, cpus_per_unit, gpus_per_unit):
    """Train every row of CONFIG over its folds; write the table, models and plots.

    Started again on the same folder, it skips the finished (row, fold) units, whichever
    engine trained them."""
    import dataclasses

    from kerastag.config import ExecutionConfig, from_dict, load_config
    from kerastag.runner.run import default_run_dir, run_experiment

    config = load_config(config_path)
    ray = {key: value for key, value in {"address": address, "cpus_per_unit": cpus_per_unit,
                                         "gpus_per_unit": gpus_per_unit}.items()
           if value is not None}
    if engine is not None or ray:
        execution = config.execution.to_data()
        execution["engine"] = engine or execution["engine"]
        if ray:
            execution["ray"] = {**execution.get("ray", {}), **ray}
        config = dataclasses.replace(config, execution=from_dict(ExecutionConfig, execution,
                                                                 "execution"))
    out_dir = out_dir or default_run_dir(config)
    table = run_experiment(config, out_dir, log=click.echo)
    from kerastag.formats.run_folder import MODELS_DIR, PLOTS_DIR, TABLE_MD

    click.echo(f"table: {table}  (and {TABLE_MD}, {MODELS_DIR}/, {PLOTS_DIR}/)")


@main.command("stack")
@click.argument("run_dir", metavar="RUN_DIR", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder (default: RUN_DIR/stack/).")
@friendly_errors
@needs_tensorflow
def stack_command(run_dir, out_dir):
    """Paper B level 2: XGBoost over a run's out-of-fold predictions + MFCC statistics."""
    from kerastag.tasks.stacking.run import stack_run

    result = stack_run(run_dir, out_dir, log=click.echo)
    click.echo(f"stack: {result.out_dir}")


@main.command("evaluate")
@click.argument("run_dir", metavar="DIR", type=click.Path(path_type=Path))
@friendly_errors
@needs_tensorflow
def evaluate_command(run_dir):
    """Reload every saved model of run DIR and recompute its table from the audio."""
    from kerastag.runner.run import evaluate_run

    csv_path, _ = evaluate_run(run_dir, log=click.echo)
    click.echo(f"table: {csv_path}")


@main.command("predict")
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.argument("paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True)
@click.option("--out", "out_csv", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the scores to this CSV file.")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write a PNG per clip: log-mel, frame-level tag probabilities, attention "
                   "(with --events: a timeline of frame scores and events).")
@click.option("--events", "events_path", type=click.Path(path_type=Path), default=None,
              help="Detect sound events (paper A's CRNN), streaming files of any length; "
                   "write them here in the DCASE format (tab-separated filename, onset, "
                   "offset, event_label).")
@click.option("--scores", "scores_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None,
              help="With --events: also write each file's frame scores to this folder "
                   "(<name>.tsv: onset, offset, one column per tag; what sed_scores_eval "
                   "and score-events read).")
@click.option("--thresholds", "thresholds_path", default=None,
              help="With --events: per-tag thresholds (kerastag calibrate's JSON: its frame "
                   "thresholds if it has them, else its clip ones; or tag,threshold lines), "
                   "or one number for every tag; default: the run's calibrated ones, else 0.5.")
@click.option("--hop", type=float, default=1.0, show_default=True,
              help="With --events: seconds between the starts of the 4 s windows.")
@click.option("--median", type=float, default=0.25, show_default=True,
              help="With --events: median filter over this many seconds of frame scores "
                   "(given, it wins over calibrated frame thresholds' own).")
@click.option("--min-event", type=float, default=0.1, show_default=True,
              help="With --events: drop events shorter than this (seconds; given, it wins "
                   "over calibrated frame thresholds' own).")
@click.option("--min-gap", type=float, default=0.1, show_default=True,
              help="With --events: join events of a tag closer than this (seconds; given, "
                   "it wins over calibrated frame thresholds' own).")
@click.option("--block", type=float, default=30.0, show_default=True,
              help="With --events: seconds of audio read at a time.")
@friendly_errors
@needs_tensorflow
def predict_command(model_path, paths, threshold, out_csv, plot_dir, events_path, scores_dir,
                    thresholds_path, hop, median, min_event, min_gap, block):
    """Tag audio files (or folders of them) with a saved MODEL.keras, or with a paper-B
    stack folder (every level-1 model, then the XGBoost level 2); with --events, find
    when each tag occurs."""
    if events_path is None:
        _refuse_event_options("scores_dir", "thresholds_path", "hop", "median", "min_event",
                              "min_gap", "block")
        from kerastag.predict import predict_files

        frame = predict_files(model_path, paths, threshold=threshold, out_csv=out_csv,
                              plot_dir=plot_dir)
    else:
        from kerastag.predict import predict_events
        from kerastag.tasks.tagging.events import EventSettings

        settings = EventSettings(hop_seconds=hop, block_seconds=block, median_seconds=median,
                                 min_event_seconds=min_event, min_gap_seconds=min_gap,
                                 explicit=_explicit_durations())
        frame, events = predict_events(model_path, paths, out_path=events_path,
                                       thresholds_path=thresholds_path, settings=settings,
                                       out_csv=out_csv, plot_dir=plot_dir, scores_dir=scores_dir,
                                       log=click.echo)
        click.echo(f"events: {events_path} ({len(events)} events)")
        if scores_dir is not None:
            click.echo(f"frame scores: {scores_dir}")
    for record in frame.to_dict("records"):
        click.echo(f"{record['file']}: {record['tags'] or '(no tag)'}")
    if out_csv:
        click.echo(f"scores: {out_csv}")


def _explicit_durations() -> frozenset:
    """The post-processing durations given on the command line (they win over calibrated
    frame thresholds' own)."""
    context = click.get_current_context()
    options = {"median": "median_seconds", "min_event": "min_event_seconds",
               "min_gap": "min_gap_seconds"}
    return frozenset(field for option, field in options.items()
                     if context.get_parameter_source(option) is not click.core.ParameterSource.DEFAULT)


def _refuse_event_options(*names: str) -> None:
    """A one-line error for --events options given on the command line without --events."""
    context = click.get_current_context()
    given = [name for name in names
             if context.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT]
    if given:
        flags = ", ".join("--" + name.replace("_path", "").replace("_dir", "").replace("_", "-")
                          for name in given)
        raise ConfigError(f"{flags} only apply with --events")


@main.command("export")
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=RegistryChoice(EXPORT_FORMATS),
              required=True, help="The artifact: TensorFlow SavedModel, ONNX or LiteRT.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder to write: the artifact and metadata.json.")
@click.option("--thresholds", "thresholds_path", type=click.Path(path_type=Path), default=None,
              help="Per-tag thresholds for metadata.json (a file, or one number for every "
                   "tag; default: the run's calibrated ones).")
@friendly_errors
@needs_tensorflow
def export_command(model_path, fmt, out_dir, thresholds_path):
    """Export a saved MODEL.keras with its feature front end inside: the artifact takes
    raw mono audio at the model's sample rate and returns what predict returns."""
    from kerastag.export import export_model

    export_model(model_path, fmt, out_dir, thresholds_path=thresholds_path, log=click.echo)
    click.echo(f"exported: {out_dir} (metadata.json beside the artifact)")


@main.command("calibrate")
@click.argument("run_dir", metavar="RUN_DIR", type=click.Path(path_type=Path))
@click.option("--criterion", type=click.Choice(CALIBRATION_CRITERIA), default="eer", show_default=True,
              help="Clip thresholds: each tag's at its equal-error point or at its best F1.")
@click.option("--events", "reference", type=click.Path(dir_okay=False, path_type=Path),
              default=None,
              help="Frame thresholds instead: a DCASE reference event list of recordings "
                   "(with --audio); each tag's threshold, hysteresis, median filter and "
                   "minimum event and gap are tuned for event-based F1.")
@click.option("--audio", "audio", type=click.Path(path_type=Path), default=None,
              help="With --events: the folder of the reference's recordings.")
@click.option("--row", "rows", multiple=True,
              help="With --events: calibrate this row only (repeatable; default: every row "
                   "with a frame-level model).")
@click.option("--unit", "units", multiple=True,
              help="With --events: pool these saved models of each row only, e.g. fold0 "
                   "(repeatable; default: all).")
@friendly_errors
@needs_tensorflow
def calibrate_command(run_dir, criterion, reference, audio, rows, units):
    """Per-tag decision thresholds of a paper-A run: clip thresholds from its out-of-fold
    predictions, or (--events) frame decisions tuned on recordings with strong labels.
    Written to RUN_DIR/thresholds/<row>.json (a file keeps the other kind) and a summary."""
    context = click.get_current_context()
    if reference is None:
        given = [f"--{name}" for name in ("audio", "row", "unit")
                 if context.get_parameter_source(name + ("s" if name != "audio" else ""))
                 is not click.core.ParameterSource.DEFAULT]
        if given:
            raise ConfigError(f"{', '.join(given)} only apply with --events")
        from kerastag.tasks.tagging.calibrate import calibrate_run

        written = calibrate_run(run_dir, criterion=criterion, log=click.echo)
    else:
        if context.get_parameter_source("criterion") is not click.core.ParameterSource.DEFAULT:
            raise ConfigError("--criterion is for clip thresholds; --events tunes frame "
                              "decisions for event-based F1")
        if audio is None:
            raise ConfigError("--events needs --audio DIR, the folder of its recordings")
        from kerastag.tasks.tagging.event_calibration import calibrate_events

        written = calibrate_events(run_dir, reference=reference, audio=audio, rows=rows,
                                   units=units, log=click.echo)
    for path in written:
        click.echo(f"thresholds: {path}")


@main.command("score-events")
@click.argument("reference", type=click.Path(path_type=Path))
@click.argument("estimated", type=click.Path(path_type=Path))
@click.option("--collar", type=float, default=0.2, show_default=True,
              help="Event-based onset (and minimum offset) tolerance in seconds.")
@click.option("--length-share", "percentage_of_length", type=float, default=0.5, show_default=True,
              help="Event-based offset tolerance as a share of the reference event's length.")
@click.option("--resolution", type=float, default=1.0, show_default=True,
              help="Segment length in seconds of the segment-based scores.")
@click.option("--thresholds", "thresholds_path", default=None,
              help="ESTIMATED a scores folder: how frames become events (a thresholds file: "
                   "its frame thresholds if it has them; or one number for every tag; "
                   "default 0.5).")
@click.option("--out", "out_json", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write every score to this JSON file.")
@friendly_errors
def score_events_command(reference, estimated, collar, percentage_of_length, resolution,
                         thresholds_path, out_json):
    """Score ESTIMATED sound events against REFERENCE (DCASE event lists: filename, onset,
    offset, event_label; .tsv or .csv) with sed_eval: event-based and segment-based F1/ER.
    ESTIMATED may be a folder of frame scores (predict --events --scores): they are
    decided into events, and PSDS and the best F1 over thresholds are added
    (sed_scores_eval)."""
    from kerastag.sed_scores import format_scores, score_events, score_frame_scores, write_scores

    tolerances = dict(t_collar=collar, percentage_of_length=percentage_of_length,
                      time_resolution=resolution)
    if Path(estimated).is_dir():
        click.echo(f"deciding and scoring the frame scores of {estimated} (the threshold-free "
                   f"sweep takes about half a minute per 20 minutes of audio) ...")
        scores = score_frame_scores(reference, estimated, thresholds=thresholds_path,
                                    **tolerances)
        click.echo(f"decisions: {scores['decisions']}")
    else:
        if thresholds_path is not None:
            raise ConfigError("--thresholds only applies when ESTIMATED is a scores folder")
        scores = score_events(reference, estimated, **tolerances)
    for line in format_scores(scores):
        click.echo(line)
    if out_json:
        write_scores(out_json, scores)
        click.echo(f"scores: {out_json}")


if __name__ == "__main__":
    main()
