"""Long CHiME-Home-like recordings with ground-truth sound events (for event detection).

CHiME-Home's chunks are 4 s cut from long recordings of a family's lounge. This module
writes such long recordings: the room of the chunk demo, with sounds of the chunk
demo's bank (:mod:`kerastag.datasets.demo.chime_sounds`, every tag ``c m f v p b o``)
placed at random times with 1-6 s of room between them (an overlap now and then), and
the ground truth of every event in the DCASE format, so a tagger trained on the 4 s demo
chunks can be run over them with a sliding window and scored with
:mod:`kerastag.sed_scores`.

The layout::

    <out>/chime_home_long/
        audio/<recording>.16kHz.wav   mono, 16 kHz, 16-bit PCM
        events.tsv                    filename  onset  offset  event_label  (tab-separated)

How the audio matches the chunks' ``.16kHz.wav`` stream (the right channel of the 48 kHz
stereo mix, resampled 3:1): the mix is rendered at 48 kHz, each sound by the chunk
demo's synthesiser at the chunk demo's level times the right-channel gain of a random
pan position, the room a quiet one that stays put for the whole recording (brown noise at
-50..-42 dBFS RMS plus mains hum at -60..-52 dBFS, harmonics as in the chunk demo's
``_room_background``, which varies more from chunk to chunk); it is brought to 16 kHz by a
streaming version of the same polyphase filter (``dsp.resample_48k_to_16k``), so block
boundaries leave no trace. An event's onset and offset are its first and last sample
above -50 dB of its own peak (the synthesiser's leading and trailing near-silence is
trimmed before it is placed), so the truth covers exactly the sound that was added.

Memory stays bounded whatever the length: the room is generated block by block
(``_BLOCK_SECONDS``) from a stateful filter and a continuous hum, each event is rendered
whole when the timeline reaches it and its remainder carried into the next block, and
every block is written at once with ``soundfile.SoundFile``. The same seed gives the
same bytes; the dataset is written in a temporary sibling folder and renamed into place.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
from scipy import signal
from tqdm import tqdm

from kerastag.checks import check_int, check_number
from kerastag.datasets.demo.chime_home import _TAG_WEIGHTS
from kerastag.datasets.demo.chime_sounds import (
    _CHIME_SOUNDS, CHIME_SECONDS, CHIME_SR_HIGH, CHIME_SR_LOW,
)
from kerastag.datasets.demo.dsp import db_to_gain, to_int16
from kerastag.datasets.demo.staging import check_target_free, staged_dataset
from kerastag.errors import DatasetError
from kerastag.formats.event_list import write_event_list
from kerastag.reference_results import CHIME_HOME_TAGS

LONG_ROOT = "chime_home_long"
AUDIO_DIR = "audio"
EVENTS_FILE = "events.tsv"
DEFAULT_RECORDINGS = 2
DEFAULT_MINUTES = 10.0
MIN_MINUTES = 0.1  # 6 s: room for at least one event
MAX_MINUTES = 24 * 60.0

#: Tags placed as events: all seven. Every synthesiser of the bank makes a bounded sound
#: with an onset and an offset (voices, TV, knocks, 1.8-4 s of broadband noise with
#: fades, beeps/sweeps/clinks); the room itself is the background, not a tag.
EVENT_TAGS = CHIME_HOME_TAGS

_ENTRIES = (AUDIO_DIR, EVENTS_FILE)  # audio first: the order they are renamed into place
_SR = CHIME_SR_HIGH  # the rate the mix is rendered at
_DOWN = CHIME_SR_HIGH // CHIME_SR_LOW  # 3
_BLOCK_SECONDS = 10  # rendered, resampled and written at a time
_TRIM_DB = -50.0  # an event starts/ends where it first/last reaches this level re its peak
_FIRST_GAP_SECONDS = (0.5, 3.0)  # room before the first event
_GAP_SECONDS = (1.0, 6.0)  # room between the end of one event and the next onset
_OVERLAP_PROBABILITY = 0.05  # the next event starts inside this one instead
_OVERLAP_SHARE = (0.25, 0.75)  # ... after this share of this one's length
_BROWN_POLE = 0.99  # as dsp.brown_noise
_HUM_HARMONICS = (1.0, 0.5, 0.3)  # as chime_sounds._room_background's hum


def make_chime_long_demo(out_dir: str | os.PathLike, *, recordings: int = DEFAULT_RECORDINGS,
                         minutes: float = DEFAULT_MINUTES, seed: int = 0,
                         progress: bool = False) -> tuple[Path, Path]:
    """Write long CHiME-Home-like recordings and their events to ``out_dir/chime_home_long``.

    Args:
        out_dir: folder that receives ``chime_home_long/`` (created if missing).
        recordings: number of recordings (>= 1).
        minutes: length of each recording in minutes (0.1 to 1440).
        seed: seed (>= 0); equal seeds give identical bytes.
        progress: show a tqdm bar over the seconds of audio written.

    Returns:
        The dataset root and its ``events.tsv``: tab-separated with the header
        ``filename onset offset event_label``, onset/offset in seconds (3 decimals),
        ``filename`` the wav's name, ``event_label`` the tag letter; rows by recording,
        then onset.

    Raises:
        DatasetError: a bad argument, or ``chime_home_long`` exists and is not empty.
    """
    recordings = check_int("chime_home long demo recordings", recordings, minimum=1,
                           error=DatasetError)
    minutes = check_number("chime_home long demo minutes", minutes, minimum=MIN_MINUTES,
                           maximum=MAX_MINUTES, error=DatasetError)
    seed = check_int("chime_home long demo seed", seed, minimum=0, error=DatasetError)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out}: not a folder")
    root = out / LONG_ROOT
    check_target_free(root, _ENTRIES, "CHiME-Home long demo")
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise DatasetError(f"{root}: exists and is not an empty folder; remove it or choose "
                           "another --out")
    n_low = int(round(minutes * 60 * CHIME_SR_LOW))
    rng = np.random.default_rng(seed)
    plans = [(name, int(rng.integers(2 ** 63))) for name in _recording_names(rng, recordings)]
    with staged_dataset(root, _ENTRIES) as stage, \
            tqdm(total=round(recordings * n_low / CHIME_SR_LOW), unit="s",
                 desc="chime_home long demo", disable=not progress) as bar:
        (stage / AUDIO_DIR).mkdir()
        rows: list[tuple[str, float, float, str]] = []
        for name, recording_seed in plans:
            filename = f"{name}.16kHz.wav"
            events = _write_recording(stage / AUDIO_DIR / filename, recording_seed, n_low, bar)
            rows += [(filename, onset, offset, tag) for onset, offset, tag in events]
        write_event_list(stage / EVENTS_FILE, rows)
    return root, root / EVENTS_FILE


# --------------------------------------------------------------------------- plan


@dataclasses.dataclass(frozen=True)
class _Event:
    """One sound placed on the 48 kHz timeline of a recording."""

    start: int  # first sample at 48 kHz
    tag: str
    audio: np.ndarray  # trimmed, at its level

    @property
    def stop(self) -> int:
        """One past the last sample."""
        return self.start + self.audio.size


def _recording_names(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` distinct names like ``CR_lounge_220110_0731`` (day, month, year, time)."""
    names: list[str] = []
    while len(names) < count:
        day, month, year = rng.integers(1, 29), rng.integers(1, 13), rng.integers(10, 12)
        hour, minute = rng.integers(7, 23), rng.integers(0, 60)
        name = f"CR_lounge_{day:02d}{month:02d}{year:02d}_{hour:02d}{minute:02d}"
        if name not in names:
            names.append(name)
    return names


def _plan_events(rng: np.random.Generator, n_samples: int) -> Iterator[_Event]:
    """Yield the events of one recording in onset order, each rendered when reached.

    Args:
        rng: source of every choice (tags, times, levels, the synthesisers' seeds).
        n_samples: length of the recording at 48 kHz; every event ends within it.
    """
    cursor = int(rng.uniform(*_FIRST_GAP_SECONDS) * _SR)
    busy_until = 0
    excluded: str | None = None
    while True:
        event = _render_event(rng, cursor, excluded)
        if event.stop > n_samples:
            return
        yield event
        busy_until = max(busy_until, event.stop)
        if rng.random() < _OVERLAP_PROBABILITY:
            cursor = event.start + int(rng.uniform(*_OVERLAP_SHARE) * event.audio.size)
            excluded = event.tag  # two overlapping events of one tag would read as one
        else:
            cursor = busy_until + int(rng.uniform(*_GAP_SECONDS) * _SR)
            excluded = None


def _render_event(rng: np.random.Generator, start: int, excluded: str | None) -> _Event:
    """Draw a tag (not ``excluded``), level and pan; synthesise, scale and trim the sound."""
    tags = [tag for tag in EVENT_TAGS if tag != excluded]
    weights = np.array([_TAG_WEIGHTS[tag] for tag in tags])
    tag = tags[int(rng.choice(len(tags), p=weights / weights.sum()))]
    synth, (low_db, high_db) = _CHIME_SOUNDS[tag]
    gain = db_to_gain(rng.uniform(low_db, high_db))
    pan = rng.uniform(0.25, 0.75)  # as chime_sounds._spatialise: the right channel's gain
    gain *= np.sin(pan * np.pi / 2) * np.sqrt(2)
    sound = synth(np.random.default_rng(int(rng.integers(2 ** 63))), CHIME_SECONDS * _SR, _SR)
    return _Event(start, tag, _trim(sound * gain))


def _trim(sound: np.ndarray) -> np.ndarray:
    """``sound`` from its first to its last sample at or above ``_TRIM_DB`` re its peak."""
    magnitude = np.abs(sound)
    loud = np.flatnonzero(magnitude >= magnitude.max() * db_to_gain(_TRIM_DB))
    return sound[loud[0]:loud[-1] + 1].copy()


# --------------------------------------------------------------------------- streaming audio


class _Room:
    """A quiet room (one channel) for a whole recording, block by block.

    Brown noise from a stateful leaky integrator (started in its stationary state, scaled
    by its theoretical RMS rather than each block's) plus a hum computed from the absolute
    sample index: consecutive blocks join without a seam.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        stationary_rms = 1.0 / math.sqrt(1.0 - _BROWN_POLE ** 2)
        self._noise_gain = db_to_gain(rng.uniform(-50, -42)) / stationary_rms
        self._period = _SR // (50 if rng.random() < 0.7 else 60)
        self._phase = rng.uniform(0, 2 * np.pi)
        cycle_rms = math.sqrt(sum(a * a for a in _HUM_HARMONICS) / 2)
        self._hum_gain = db_to_gain(rng.uniform(-60, -52)) / cycle_rms
        self._state = np.array([_BROWN_POLE * stationary_rms * rng.standard_normal()])

    def render(self, start: int, n: int) -> np.ndarray:
        """Samples ``start .. start + n`` at 48 kHz (blocks must be asked for in order)."""
        noise, self._state = signal.lfilter([1.0], [1.0, -_BROWN_POLE],
                                            self._rng.standard_normal(n), zi=self._state)
        noise *= self._noise_gain
        phase = 2 * np.pi * ((start + np.arange(n)) % self._period) / self._period + self._phase
        for k, amplitude in enumerate(_HUM_HARMONICS, start=1):
            noise += (self._hum_gain * amplitude) * np.cos(k * phase)
        return noise


class _Decimator:
    """``dsp.resample_48k_to_16k`` (``resample_poly(x, 1, 3)``) of a stream, block by block.

    ``resample_poly``'s output ``k`` is sample ``3k + 30`` of the signal filtered by its
    61-tap Kaiser low-pass; each block is filtered with the last 60 input samples of the
    one before, and :meth:`flush` feeds the 30 zeros after the end. The concatenated
    output equals ``resample_poly`` of the whole signal (up to float rounding).
    """

    _TAPS = signal.firwin(2 * 10 * _DOWN + 1, 1.0 / _DOWN, window=("kaiser", 5.0))
    _DELAY = 10 * _DOWN

    def __init__(self) -> None:
        self._history = np.zeros(self._TAPS.size - 1)
        self._seen = 0  # input samples so far

    def process(self, block: np.ndarray) -> np.ndarray:
        """The 16 kHz samples that ``block`` (a multiple of 3 samples) completes."""
        if block.size % _DOWN:
            raise ValueError("blocks must be a multiple of 3 samples")
        extended = np.concatenate([self._history, block])
        filtered = signal.upfirdn(self._TAPS, extended, 1, _DOWN)
        # filtered[k] is the filter's output at input sample seen - 60 + 3k.
        first = max(self._seen, self._DELAY)
        lead = self._history.size // _DOWN
        out = filtered[lead + (first - self._seen) // _DOWN:lead + block.size // _DOWN]
        self._history = extended[-self._history.size:]
        self._seen += block.size
        return out

    def flush(self) -> np.ndarray:
        """The last 10 samples (the filter's delay)."""
        return self.process(np.zeros(self._DELAY))


def _write_recording(path: Path, seed: int, n_low: int, bar: tqdm,
                     ) -> list[tuple[float, float, str]]:
    """Render one recording block by block into ``path``.

    Returns:
        ``(onset, offset, tag)`` of each event in onset order, in seconds rounded to the
        millisecond (an offset never past the end of the file).
    """
    plan_rng, room_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    n_high = n_low * _DOWN
    block = _BLOCK_SECONDS * _SR
    last_ms = math.floor(n_high / _SR * 1000) / 1000
    room, decimator = _Room(room_rng), _Decimator()
    events = _plan_events(plan_rng, n_high)
    upcoming = next(events, None)
    active: list[_Event] = []
    truth: list[tuple[float, float, str]] = []
    with sf.SoundFile(str(path), "w", samplerate=CHIME_SR_LOW, channels=1, subtype="PCM_16",
                      format="WAV") as out:
        for start in range(0, n_high, block):
            stop = min(n_high, start + block)
            mix = room.render(start, stop - start)
            while upcoming is not None and upcoming.start < stop:
                active.append(upcoming)
                truth.append((round(upcoming.start / _SR, 3),
                              min(round(upcoming.stop / _SR, 3), last_ms), upcoming.tag))
                upcoming = next(events, None)
            for event in active:
                lo, hi = max(start, event.start), min(stop, event.stop)
                if hi > lo:
                    mix[lo - start:hi - start] += event.audio[lo - event.start:hi - event.start]
            active = [event for event in active if event.stop > stop]
            out.write(to_int16(decimator.process(mix)))
            bar.update((stop - start) / _SR)
        out.write(to_int16(decimator.flush()))
    return truth
