"""Table 1's baselines on the built-in demo, trained per chunk and per window of frames.

Takes ``experiments/demo.yaml`` (its dataset, seed, folds, slim baseline ``args`` and
training keys), keeps its three network baselines (DAE-DNN, CGRNN, ATT-LOC) and runs them
once per variant into ``--out/<variant>/``, the rows' names (so their seeds) unchanged:

- ``chunks``: ``training.samples: chunks``, one sample per 4 s chunk (the DAE-DNN and
  CGRNN fit the mean over their windows), as kerastag trained them before issue 21;
- ``frame_windows``: the demo's own setting (each window of frames a sample with its
  chunk's tags; ATT-LOC reads whole chunks either way);
- with ``--silence``, also ``frame_windows_s``: frame windows and ``targets:
  tags_and_silence``.

Prints one line per variant and row (average EER, seconds from the row's unit starting
to the next one's) and writes ``--out/summary.json``.

Usage::

    python benchmarks/baseline_samples.py [--out runs/baseline_samples] [--silence]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASELINES = ("dae_dnn", "cgrnn_imd", "attloc_imd")


def variant_config(config, variant: str):
    """The demo config with only its network baselines, trained as ``variant`` says."""
    rows = []
    for row in config.rows:
        if row.name not in BASELINES:
            continue
        training = dict(row.training)
        if variant == "chunks":
            training["samples"] = "chunks"
        targets = "tags_and_silence" if variant == "frame_windows_s" else row.targets
        rows.append(dataclasses.replace(row, training=training, targets=targets))
    return dataclasses.replace(config, name=f"demo_baselines_{variant}", rows=tuple(rows))


def unit_seconds(marks: list[tuple[float, str]], end: float) -> dict[str, float]:
    """Seconds from each ``[k/n] <row> <unit>: training`` log line to the next line of
    that kind (or the end of the run: the table and plots), summed per row."""
    starts = [(at, line.split("] ", 1)[1].split()[0]) for at, line in marks
              if line.startswith("[") and line.endswith(": training")]
    seconds: dict[str, float] = {}
    for (at, row), (after, _) in zip(starts, starts[1:] + [(end, "")]):
        seconds[row] = round(seconds.get(row, 0.0) + after - at, 1)
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "baseline_samples")
    parser.add_argument("--silence", action="store_true",
                        help="also train frame windows with targets: tags_and_silence")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    import pandas as pd

    from kerastag.config import load_config
    from kerastag.runner.run import run_experiment

    demo = load_config(REPO / "experiments" / "demo.yaml")
    summary = {}
    variants = ["chunks", "frame_windows"] + (["frame_windows_s"] if args.silence else [])
    for variant in variants:
        config = variant_config(demo, variant)
        marks: list[tuple[float, str]] = []

        def log(line, marks=marks):
            print(line, flush=True)
            marks.append((time.perf_counter(), line))

        start = time.perf_counter()
        table = pd.read_csv(run_experiment(config, args.out / variant, log=log))
        end = time.perf_counter()
        summary[variant] = {"avg": dict(zip(table["row"], table["avg"])),
                            "unit_s": unit_seconds(marks, end), "wall_s": round(end - start, 1)}
        for row, value in summary[variant]["avg"].items():
            print(f"{variant:16s} {row:12s} avg EER {value:.4f}  "
                  f"{summary[variant]['unit_s'].get(row, float('nan')):.0f} s")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
