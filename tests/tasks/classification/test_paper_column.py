"""Paper B's published mAP@3 is set beside a run's only on FSDKaggle2018: a run on a
user's own csv dataset gets no paper column, in the level-1 tables and in evaluate's."""

from __future__ import annotations

import numpy as np

from kerastag.config import RowConfig
from kerastag.formats.level1_csv import Level1Table
from kerastag.tasks.classification import report

ROWS = (RowConfig(network="resnext50", features="logmel", mixing="mixup", alpha=3.0),
        RowConfig(network="wave_resnext", features="wave", mixing="mixup", alpha=3.0))


def _tables() -> report.RowTables:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=8)
    table = Level1Table(fnames=np.array([f"c{i}.wav" for i in range(8)]),
                        folds=np.arange(8) % 2, labels=np.arange(8) % 4, probs=probs)
    return {row.name: {"oof": table, "test": None} for row in ROWS}


def test_the_paper_numbers_belong_to_fsdkaggle2018_only():
    assert report.paper_numbers(ROWS, "fsdkaggle2018") == {ROWS[0].name: 0.967}
    assert report.paper_numbers(ROWS, "csv") is None
    assert report.paper_numbers(ROWS, "chime-home") is None


def test_an_own_dataset_table_has_no_paper_column(tmp_path, assert_png):
    classes = ["bark", "bell", "horn", "rain"]
    lines = []
    csv_path = report.write_tables(tmp_path / "own", _tables(), classes,
                                   report.paper_numbers(ROWS, "csv"), lines.append)
    markdown = (tmp_path / "own" / "table.md").read_text(encoding="utf-8")
    assert csv_path.read_text().splitlines()[0] == "model,map3,accuracy"
    assert "paper" not in markdown.lower() and "0.967" not in markdown
    assert_png(tmp_path / "own" / "plots" / "map3_per_class.png")
    report.write_tables(tmp_path / "fsd", _tables(), classes,
                        report.paper_numbers(ROWS, "fsdkaggle2018"), lines.append)
    fsd = (tmp_path / "fsd" / "table.md").read_text(encoding="utf-8")
    assert "Paper B" in fsd and "0.967" in fsd
    evaluated, _ = report.write_evaluation(tmp_path / "evaluate", _tables(), None, lines.append)
    assert "paper" not in (evaluated.parent / "table.md").read_text(encoding="utf-8").lower()
