"""The CHiME-Home reader (kerastag.datasets.chime_home) on the demo dataset."""

from kerastag.datasets.chime_home import read_chime_home


def test_chime_reader_returns_exactly_what_the_demo_wrote(chime_demo):
    root, truth = chime_demo
    dataset = read_chime_home(root.parent)  # the parent folder works too
    got = {(c.clip_id, frozenset(c.tags), c.fold, c.subset) for c in dataset.clips}
    refined = [t for t in truth if not t.extra.get("raw_only")]  # raw-list-only chunks are not read
    assert got == {(t.clip_id, frozenset(t.tags), t.fold, t.subset) for t in refined}
    assert dataset.classes == ("c", "m", "f", "v", "p", "b", "o")
    clip = dataset.clips[0]
    assert clip.path.name.endswith(".16kHz.wav") and clip.extra["path_48k"].name.endswith(".48kHz.wav")


def test_chunks_carry_their_recording_session_as_holdout_group(chime_demo):
    from kerastag.datasets.chime_home import read_chime_home, recording_session

    assert recording_session("CR_lounge_220110_0731.s0_chunk27") == "CR_lounge_220110_0731"
    clips = read_chime_home(chime_demo[0]).clips
    assert all(clip.group == clip.clip_id.split(".")[0] for clip in clips)
    assert len({clip.group for clip in clips}) < len(clips)  # sessions hold several chunks
