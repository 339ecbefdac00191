"""Which files ``predict`` scores and how its outputs name them (kerastag.predict's
expand_inputs, the one place): every format libsndfile reads, unreadable ones named in one
warning, and names relative to the folder given so two ``rec.wav`` stay two."""

import numpy as np
import pytest
import soundfile as sf

from kerastag.audio import AUDIO_EXTENSIONS, load_audio
from kerastag.errors import AudioError
from kerastag.predict import expand_inputs, expand_paths
from kerastag.formats.output_names import output_stems

#: (name, soundfile format, subtype) of files every libsndfile with OGG writes and reads.
READABLE = [("day1/rec.wav", "WAV", "PCM_16"), ("day2/rec.wav", "WAV", "PCM_16"),
            ("b.flac", "FLAC", "PCM_16"), ("c.oga", "OGG", "VORBIS"),
            ("d.opus", "OGG", "OPUS"), ("e.ogg", "OGG", "VORBIS"), ("F.WAV", "WAV", "FLOAT")]


def write_tone(path, fmt="WAV", subtype="PCM_16", rate=48000):
    path.parent.mkdir(parents=True, exist_ok=True)
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(rate // 2) / rate)
    sf.write(path, tone.astype(np.float32), rate, format=fmt, subtype=subtype)
    return path


@pytest.fixture
def recordings(tmp_path):
    root = tmp_path / "recordings"
    for name, fmt, subtype in READABLE:
        write_tone(root / name, fmt, subtype)
    for name in ("g.m4a", "sub/h.aac"):
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_bytes(b"\x00\x00\x00\x20ftypM4A ")
    (root / "notes.txt").write_text("not audio")
    return root


def test_a_folder_gives_every_readable_file_named_relative_to_it(recordings):
    warnings = []
    inputs = expand_inputs([recordings], warn=warnings.append)
    assert [i.key for i in inputs] == ["F.WAV", "b.flac", "c.oga", "d.opus", "day1/rec.wav",
                                       "day2/rec.wav", "e.ogg"]
    assert [i.name for i in inputs] == [i.key for i in inputs]
    assert [i.path for i in inputs] == expand_paths([recordings]) == \
        [recordings / i.key for i in inputs]
    for item in inputs:  # every file picked up is one kerastag reads
        assert load_audio(item.path, sample_rate=16000).shape == (8000,)
    assert warnings == [f"warning: 2 audio file(s) of a format libsndfile cannot read were not "
                        f"scored (convert them, e.g. to FLAC or WAV): {recordings / 'g.m4a'}, "
                        f"{recordings / 'sub' / 'h.aac'}"]
    assert {".opus", ".oga", ".flac", ".mp3"} <= set(AUDIO_EXTENSIONS)


def test_the_unreadable_warning_goes_to_stderr(recordings, capsys):
    expand_inputs([recordings])
    assert capsys.readouterr().err.count("cannot read were not scored") == 1


def test_a_folder_of_only_unreadable_files_warns_then_is_an_error(tmp_path):
    (tmp_path / "a.m4a").write_bytes(b"x")
    warnings = []
    with pytest.raises(AudioError, match="no audio files in"):
        expand_inputs([tmp_path], warn=warnings.append)
    assert len(warnings) == 1


def test_files_named_directly_keep_the_name_as_given(recordings):
    given = [recordings / "day1" / "rec.wav", recordings / "b.flac"]
    inputs = expand_inputs(given)
    assert [i.key for i in inputs] == [str(p) for p in given]
    assert [i.name for i in inputs] == ["rec.wav", "b.flac"]
    # two direct files of one name: named by the path as given everywhere
    twins = [recordings / "day1" / "rec.wav", recordings / "day2" / "rec.wav"]
    assert [i.name for i in expand_inputs(twins)] == [str(p) for p in twins]


def test_two_folders_sharing_a_relative_name_fall_back_to_full_paths(recordings):
    inputs = expand_inputs([recordings / "day1", recordings / "day2"])
    assert [i.key for i in inputs] == [str(recordings / "day1" / "rec.wav"),
                                       str(recordings / "day2" / "rec.wav")]
    assert len(set(output_stems([i.name for i in inputs]))) == 2


def test_output_stems_are_unique_and_made_from_the_relative_path():
    assert output_stems(["day1/rec.wav", "day2/rec.wav", "x.wav"]) == \
        ["day1__rec", "day2__rec", "x"]
    assert output_stems(["rec.wav", "rec.flac", "a b, c.wav"]) == \
        ["rec.wav", "rec.flac", "a b, c"]
    assert output_stems(["/data/x.wav", "../up/y.wav"]) == ["data__x", "up__y"]


def test_every_predictor_takes_the_names_predict_passes():
    import inspect

    from kerastag.names import PREDICTORS, resolve

    for task, where in PREDICTORS.items():
        assert "names" in inspect.signature(resolve(where)).parameters, task
