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


def test_every_stream_the_layout_declares_is_checked(chime_copy):
    """CHiME-Home declares its 48 kHz stereo files too: a mono one is a problem naming it."""
    import numpy as np
    import soundfile as sf

    chunk = (chime_copy / "development_chunks_refined_crossval_dcase2016.csv").read_text() \
        .splitlines()[0].split(",")[1]
    clean = check_dataset(chime_copy, "chime-home")
    assert clean.ok and len(clean.durations) == 2 * len(clean.dataset.clips)
    sf.write(chime_copy / "chunks" / f"{chunk}.48kHz.wav", np.zeros(4 * 48000, np.float32), 48000)
    report = check_dataset(chime_copy, "chime-home")
    assert [problem for problem in report.problems if f"{chunk}.48kHz.wav" in problem], \
        report.problems
    assert not [problem for problem in report.problems if ".16kHz.wav" in problem]
