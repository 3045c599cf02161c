"""The MIDI-event LSTM's codec: notes as events (pitch, velocity, time since the previous note),
normalized as the network reads and writes them, and back."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from generate.midi.io import NoteEvent

PITCH_CENTRE, PITCH_SCALE = 60.0, 12.0  # the network reads and writes (pitch - C4) in octaves
VELOCITY_SCALE = 127.0
DELTA_SCALE = 4.0  # beats: a whole bar of 4/4 is 1.0
ROLL_STEPS_PER_BEAT = 2  # the GAN's rolls: eighth notes


def normalize_pitch(midi: np.ndarray | float) -> np.ndarray | float:
    return (np.asarray(midi, np.float32) - PITCH_CENTRE) / PITCH_SCALE


def midi_pitch(normalized: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(normalized) * PITCH_SCALE + PITCH_CENTRE), 0, 127)


def event_array(notes: Sequence[NoteEvent], top_first: bool = False) -> np.ndarray:
    """(N, 3) float32: pitch, velocity, time since the previous note, normalized.  Notes
    are in order of time; notes starting together are in the order given, or with
    ``top_first`` from the highest down (a melody, then its harmony under it)."""
    if top_first:
        notes = sorted(notes, key=lambda n: (n.start, -n.pitch))
    starts = np.array([n.start for n in notes])
    delta = np.diff(starts, prepend=starts[0] if len(starts) else 0.0)
    return np.stack(
        [
            normalize_pitch(np.array([n.pitch for n in notes])),
            np.array([n.velocity for n in notes]) / VELOCITY_SCALE,
            np.clip(delta, 0, DELTA_SCALE) / DELTA_SCALE,
        ],
        axis=1,
    ).astype(np.float32)


def events_to_notes(events: np.ndarray, start: float = 0.0) -> list[NoteEvent]:
    """Normalized events -> notes; each note lasts until the next onset (a sixteenth at least,
    a beat after the last one)."""
    pitch = midi_pitch(events[:, 0]).astype(int)
    vel = np.clip(np.round(events[:, 1] * VELOCITY_SCALE), 1, 127).astype(int)
    onsets = start + np.cumsum(events[:, 2] * DELTA_SCALE)
    following = np.array([o for o in sorted(set(onsets.tolist()))] + [np.inf])
    notes = []
    for p, v, t in zip(pitch, vel, onsets, strict=True):
        nxt = following[np.searchsorted(following, t, side="right")]
        dur = 1.0 if not np.isfinite(nxt) else max(0.25, float(nxt - t))
        notes.append(NoteEvent(int(p), int(v), float(t), dur))
    return notes
