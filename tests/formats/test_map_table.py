"""Paper B's result table (kerastag.formats.map_table): CSV and markdown with the paper."""

from __future__ import annotations

import csv

from kerastag.formats import map_table
from kerastag.formats.map_table import MapRow


def test_write_map_table(tmp_path, assert_no_temp_files):
    rows = [MapRow("stack", 0.9712, 0.9501), MapRow("resnext_logmel_mixup", 0.9601, 0.94),
            MapRow("wave_resnext", 0.9, 0.87)]
    paper = {"stack": 0.977, "resnext_logmel_mixup": 0.967}
    csv_path, md_path = map_table.write_map_table(rows, tmp_path, paper=paper)
    with csv_path.open(newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == ["model", "map3", "accuracy"]
    assert lines[1] == ["stack", "0.9712", "0.9501"]
    text = md_path.read_text(encoding="utf-8")
    assert "| stack | 0.9712 | 0.9501 | 0.977 | -0.0058 |" in text
    assert "| wave_resnext | 0.9000 | 0.8700 | — | — |" in text
    _, md_plain = map_table.write_map_table(rows, tmp_path / "plain")
    assert "paper" not in md_plain.read_text(encoding="utf-8")
    assert_no_temp_files(tmp_path)
