"""A music21 score played into a MIDI file, as abc2midi plays ABC (our own writer, with mido:
music21's MIDI export fails on some corpus tunes and drops grace notes).

- every part on its own track and channel, piano; tied notes (in chords too) sound once;
- grace notes sound, an eighth of a beat each, taken from the note they lead to;
- the tempo is the score's first metronome mark, else 120 quarter notes a minute (abc2midi's
  default).  Repeats are not expanded here: play a score written out without them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import mido
from music21 import chord, note, pitch, stream, tempo

TICKS_PER_BEAT = 480
DEFAULT_BPM = 120.0
GRACE_BEATS = 0.125


@dataclass(frozen=True)
class Sound:
    start: float  # beats
    duration: float  # beats
    pitch: int
    velocity: int = 80


def part_sounds(part: stream.Stream) -> list[Sound]:
    """What one part plays, by start time: a tied note (in a chord too) sounds once."""
    out: list[Sound] = []
    flat = part.flatten()
    open_ties: dict[int, int] = {}  # MIDI pitch -> index in ``out`` of the note it continues
    graces: list[note.NotRest] = []
    for el in flat.notesAndRests:
        if el.duration.isGrace:
            if isinstance(el, note.NotRest):
                graces.append(el)
            continue
        start = float(flat.elementOffset(el))
        length = float(el.quarterLength)
        if length <= 0:
            continue
        if graces:  # grace notes take their time from the note (or rest) they lead to
            each = min(GRACE_BEATS, length / (2 * len(graces)))
            for g in graces:
                out.extend(Sound(start, each, p.midi) for p in _pitches(g))
                start += each
                length -= each
            graces = []
        for p, tie in _tied_pitches(el):
            held = open_ties.pop(p.midi, None)
            if held is not None and abs(out[held].start + out[held].duration - start) < 1e-6:
                old = out[held]
                out[held] = Sound(old.start, old.duration + length, old.pitch, old.velocity)
                index = held
            else:
                out.append(Sound(start, length, p.midi))
                index = len(out) - 1
            if tie in ("start", "continue"):
                open_ties[p.midi] = index
    return sorted(out, key=lambda s: (s.start, s.pitch))


def _tied_pitches(el: note.GeneralNote) -> list[tuple[pitch.Pitch, str | None]]:
    """The pitches an element sounds, each with its tie type (a chord's ties are its own or
    its notes')."""
    if isinstance(el, chord.Chord):
        whole = el.tie.type if el.tie is not None else None
        return [(n.pitch, n.tie.type if n.tie is not None else whole) for n in el.notes]
    if isinstance(el, note.Note):
        return [(el.pitch, el.tie.type if el.tie is not None else None)]
    return []


def _pitches(el: note.NotRest) -> list:
    if isinstance(el, chord.Chord):
        return list(el.pitches)
    return [el.pitch] if isinstance(el, note.Note) else []


def score_bpm(score: stream.Stream) -> float:
    marks = list(score.flatten().getElementsByClass(tempo.MetronomeMark))
    bpm = marks[0].getQuarterBPM() if marks else None
    return float(bpm) if bpm else DEFAULT_BPM


def sounds_midi(
    tracks: list[list[Sound]], bpm: float = DEFAULT_BPM, time_signature: str | None = None
) -> bytes:
    """A type-1 MIDI file: one track (and channel) per list of sounds; ``time_signature``
    (e.g. ``"3/4"``) is written at the start where given."""
    mid = mido.MidiFile(ticks_per_beat=TICKS_PER_BEAT)
    for channel, sounds in enumerate(tracks):
        track = mido.MidiTrack()
        mid.tracks.append(track)
        if channel == 0:
            track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
            if time_signature is not None:
                top, bottom = (int(x) for x in time_signature.split("/"))
                track.append(
                    mido.MetaMessage("time_signature", numerator=top, denominator=bottom, time=0)
                )
        ch = channel if channel < 9 else channel + 1  # channel 10 is drums
        track.append(mido.Message("program_change", channel=ch, program=0, time=0))
        events: list[tuple[int, int, int, int]] = []  # (tick, off first, pitch, velocity)
        for s in sounds:
            on = round(s.start * TICKS_PER_BEAT)
            off = max(on + 1, round((s.start + s.duration) * TICKS_PER_BEAT))
            events.append((on, 1, s.pitch, s.velocity))
            events.append((off, 0, s.pitch, 0))
        events.sort()
        now = 0
        for tick, _, pitch_, vel in events:
            kind = "note_on" if vel else "note_off"
            track.append(mido.Message(kind, channel=ch, note=pitch_, velocity=vel, time=tick - now))
            now = tick
        track.append(mido.MetaMessage("end_of_track", time=0))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def score_midi(score: stream.Score) -> bytes:
    parts: list[stream.Stream] = list(score.parts) or [score]
    return sounds_midi([part_sounds(p) for p in parts], score_bpm(score))
