"""Paper A's result table (kerastag.formats.eer_table): CSV round trip, the markdown
comparison with the paper, the printed table and its errors."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from kerastag.errors import KerastagError
from kerastag.formats import eer_table
from kerastag.formats.eer_table import EerRow
from kerastag.reference_results import CHIME_HOME_TAGS


def test_eer_csv_columns_and_round_trip(tmp_path, eer_rows, assert_no_temp_files):
    rows = eer_rows
    csv_path, md_path = eer_table.write_eer_table(rows, tmp_path)
    assert csv_path == tmp_path / "table.csv" and md_path == tmp_path / "table.md"
    with csv_path.open(newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == ["row", "model", "augmentation", "alpha", *CHIME_HOME_TAGS, "avg",
                        "var_1e3"]
    assert [line[0] for line in lines[1:]] == [row.name for row in rows]
    assert lines[1][3] == "" and lines[2][3] == "1.5"
    assert lines[2][4] == "0.1100" and lines[4][9] == "nan"
    back = eer_table.read_eer_table(csv_path)
    assert [r.name for r in back] == [r.name for r in rows]
    for ours, read in zip(rows, back):
        assert (read.model, read.mixing, read.alpha) == (
            ours.model, ours.mixing, ours.alpha)
        np.testing.assert_allclose(read.per_tag, ours.per_tag, atol=5e-5)
        assert read.average == pytest.approx(ours.average, abs=5e-5)
        assert read.var_1e3 == pytest.approx(ours.var_1e3, abs=5e-5)
    assert math.isnan(back[3].per_tag[5])
    assert_no_temp_files(tmp_path)


def test_markdown_has_paper_numbers_and_difference(tmp_path, eer_rows):
    _, md_path = eer_table.write_eer_table(eer_rows, tmp_path)
    text = md_path.read_text(encoding="utf-8")
    mixup_line = next(line for line in text.splitlines() if line.startswith("| mixup_a1.5 "))
    cells = [cell.strip() for cell in mixup_line.strip("|").split("|")]
    # avg 0.1043 vs paper .10 -> +0.0043; var 4.3 vs paper 4.11 -> +0.1900
    assert cells[-6:] == ["0.1043", "0.10", "+0.0043", "4.3000", "4.11", "+0.1900"]
    paper_line = text.splitlines()[text.splitlines().index(mixup_line) + 1]
    assert paper_line.startswith("| ↳ paper")
    assert "| 0.10 | 0.14 | 0.11 | 0.03 | 0.10 | 0.01 | 0.20 |" in paper_line
    extrapolation_line = next(line for line in text.splitlines()
                              if line.startswith("| extrapolation_a0.7 "))
    assert extrapolation_line.count("—") == 4
    assert "| nan |" in text
    assert "Legend" in text


def test_tables_without_a_row_column_still_read(tmp_path, eer_rows):
    """Tables of kerastag 0.1/0.2 had no ``row`` column; the name is derived."""
    csv_path, _ = eer_table.write_eer_table(eer_rows, tmp_path)
    old = "\n".join(line.split(",", 1)[1] for line in csv_path.read_text().splitlines()) + "\n"
    csv_path.write_text(old)
    back = eer_table.read_eer_table(csv_path)
    assert [r.name for r in back] == [r.name for r in eer_rows]
    assert back[1].per_tag == pytest.approx(eer_rows[1].per_tag, abs=5e-5)


def test_baseline_rows_are_named_and_the_challenge_average_is_shown(tmp_path):
    rows = [EerRow(name=name, model=model, mixing=variant, alpha=None, per_tag=(.2,) * 7,
                   average=.2, var_1e3=1.0)
            for name, model, variant in (("cgrnn_imd", "CGRNN", "IMD"),
                                         ("dcase2016_gmm", "MFCC-GMM", "-"))]
    csv_path, md_path = eer_table.write_eer_table(rows, tmp_path)
    assert [line.split(",")[0] for line in csv_path.read_text().splitlines()[1:]] == [
        "cgrnn_imd", "dcase2016_gmm"]
    lines = md_path.read_text(encoding="utf-8").splitlines()
    cgrnn = next(line for line in lines if line.startswith("| cgrnn_imd "))
    assert [c.strip() for c in cgrnn.strip("|").split("|")][-6:-3] == ["0.2000", "0.13", "+0.0700"]
    gmm = next(line for line in lines if line.startswith("| dcase2016_gmm "))
    assert [c.strip() for c in gmm.strip("|").split("|")][-6:] == [
        "0.2000", "0.21", "-0.0100", "1.0000", "—", "—"]
    assert not lines[lines.index(gmm) + 1].startswith("| ↳ paper")  # no per-tag values


def test_read_eer_table_errors(tmp_path):
    with pytest.raises(KerastagError, match="not found"):
        eer_table.read_eer_table(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("model,alpha,avg\nCRNN,1,0.1\n")
    with pytest.raises(KerastagError, match="header"):
        eer_table.read_eer_table(bad)
    bad.write_text("model,augmentation,alpha,c,avg,var_1e3\nCRNN,mixup,1,x,0.1,2\n")
    with pytest.raises(KerastagError, match="bad.csv:2"):
        eer_table.read_eer_table(bad)


def test_write_eer_table_rejects_wrong_tag_count(tmp_path):
    row = EerRow(name="mixup_a1", model="CRNN", mixing="mixup", alpha=1.0, per_tag=(.1, .2),
                 average=.15, var_1e3=1.0)
    with pytest.raises(KerastagError, match="2 per-tag values for 7 tags"):
        eer_table.write_eer_table([row], tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_format_eer_table(eer_rows):
    text = eer_table.format_eer_table(eer_rows)
    lines = text.splitlines()
    assert len(lines) == 2 + len(eer_rows)
    assert lines[0].split()[:2] == ["row", "c"]
    assert "mixup_a1.5" in lines[3] and "+0.0043" in lines[3]
    assert "—" in lines[-1]


def test_own_classes_round_trip_with_their_names_and_no_paper(tmp_path):
    """A table of a dataset's own classes: its header names them, the reader takes them
    from the header (also from a table without the ``row`` column), and table.md and the
    printout have no paper columns, even for a row that is in Table 1."""
    tags = ("beep", "chirp", "click", "dog bark")
    rows = [EerRow(name="mixup_a1.5", model="CRNN", mixing="mixup", alpha=1.5,
                   per_tag=(.1, .2, float("nan"), .3), average=.2, var_1e3=10.0)]
    csv_path, md_path = eer_table.write_eer_table(rows, tmp_path, tags=tags, paper=False)
    assert csv_path.read_text().splitlines()[0] == (
        "row,model,augmentation,alpha,beep,chirp,click,dog bark,avg,var_1e3")
    table = eer_table.read_eer(csv_path)
    assert table.tags == tags and table.rows[0].name == "mixup_a1.5"
    assert math.isnan(table.rows[0].per_tag[2])
    text = md_path.read_text(encoding="utf-8")
    assert text.startswith("# EER per class\n")
    assert "| mixup_a1.5 | CRNN | mixup | 1.5 | 0.1000 | 0.2000 | nan | 0.3000 | 0.2000 | " \
           "10.0000 |" in text
    assert "paper" not in text and "↳" not in text and "Δ" not in text
    assert "beep, chirp, click, dog bark" in text
    printed = eer_table.format_eer_table(rows, tags=tags, paper=False)
    assert printed.splitlines()[0].split()[-2:] == ["avg", "var1e3"] and "paper" not in printed
    old = "\n".join(line.split(",", 1)[1] for line in csv_path.read_text().splitlines()) + "\n"
    csv_path.write_text(old)
    assert eer_table.read_eer(csv_path).tags == tags


def test_chime_home_letters_without_the_paper_flag_keep_the_comparison(tmp_path, eer_rows):
    """The default (``paper=None``) is the comparison exactly when the tags are CHiME-Home's."""
    _, md_default = eer_table.write_eer_table(eer_rows, tmp_path / "a")
    _, md_chime = eer_table.write_eer_table(eer_rows, tmp_path / "b", tags=CHIME_HOME_TAGS,
                                            paper=True)
    assert md_default.read_text(encoding="utf-8") == md_chime.read_text(encoding="utf-8")
    assert eer_table.read_eer(tmp_path / "a" / "table.csv").tags == CHIME_HOME_TAGS
