"""``data check``'s library side (kerastag.datasets.check): every problem is collected
and names its file, instead of the reader stopping at the first."""

from kerastag.datasets.check import check_dataset


def test_broken_chime_copy_is_reported_with_its_file(chime_copy):
    chunk = (chime_copy / "development_chunks_refined_crossval_dcase2016.csv").read_text() \
        .splitlines()[0].split(",")[1]
    (chime_copy / "chunks" / f"{chunk}.16kHz.wav").unlink()
    report = check_dataset(chime_copy, "chime-home")
    assert not report.ok
    assert any(f"{chunk}.16kHz.wav" in problem and "audio file not found" in problem
               for problem in report.problems), report.problems
