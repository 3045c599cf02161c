"""MIDI in and out, note events and piano rolls: the data of the MIDI-event LSTM and the GAN.

Times are in beats (quarter notes).  MIDI files are read with mido; the default data is MIDI
made at run time from music21's bundled corpus (never downloaded).  A file that cannot be read
raises ``MidiError`` naming it; reading a folder reports such files and goes on.
"""

from __future__ import annotations

import copy
import io
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
from tqdm import tqdm

from stave import atomic
from stave.midi import Sound, sounds_midi

LOWEST, KEYS = 21, 88  # A0 and the 88 keys of a piano: roll column k is MIDI pitch 21 + k
TICKS_PER_BEAT = 480


class MidiError(ValueError):
    """A MIDI file that cannot be read; the message names the file."""


@dataclass(frozen=True)
class NoteEvent:
    pitch: int  # MIDI 0..127
    velocity: int  # 1..127
    start: float  # beats
    duration: float  # beats


def _unreadable(name: str, err: Exception) -> MidiError:
    """The error for a file mido cannot parse, always with a reason (mido raises a bare
    ``EOFError`` for a file that ends too soon)."""
    if isinstance(err, EOFError):
        reason = "it ends too soon: empty, cut short, or a track longer than the file"
    else:
        reason = str(err).strip() or type(err).__name__
    return MidiError(f"{name}: not a readable MIDI file ({reason})")


def read_midi(path: Path) -> list[NoteEvent]:
    """Every note of a MIDI file (all tracks and channels), by start time then pitch."""
    try:
        mid = mido.MidiFile(str(path))
    except FileNotFoundError:
        raise MidiError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise MidiError(f"{path}: a folder, not a MIDI file") from None
    except PermissionError:
        raise MidiError(f"{path}: cannot read (permission denied)") from None
    except (OSError, EOFError, ValueError, KeyError, IndexError) as err:
        raise _unreadable(str(path), err) from None
    return _notes(mid, str(path))


def read_midi_bytes(data: bytes, name: str = "<bytes>") -> list[NoteEvent]:
    try:
        mid = mido.MidiFile(file=io.BytesIO(data))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as err:
        raise _unreadable(name, err) from None
    return _notes(mid, name)


def _notes(mid: mido.MidiFile, name: str) -> list[NoteEvent]:
    if mid.type == 2:
        raise MidiError(f"{name}: MIDI type 2 (independent sequences) is not supported")
    per_beat = mid.ticks_per_beat or TICKS_PER_BEAT
    notes: list[NoteEvent] = []
    for track in mid.tracks:
        now = 0
        sounding: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for msg in track:
            now += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                sounding.setdefault((msg.channel, msg.note), []).append((now, msg.velocity))
            elif msg.type in ("note_off", "note_on"):
                started = sounding.get((msg.channel, msg.note))
                if started:
                    t0, vel = started.pop(0)
                    if now > t0:
                        notes.append(NoteEvent(msg.note, vel, t0 / per_beat, (now - t0) / per_beat))
    notes.sort(key=lambda n: (n.start, n.pitch))
    return notes


def midi_files(folder: Path) -> list[Path]:
    """The MIDI files (``.mid``, ``.midi``) under ``folder``, recursively, in order."""
    return sorted(
        p for p in Path(folder).rglob("*") if p.suffix.lower() in (".mid", ".midi") and p.is_file()
    )


def read_midi_folder(folder: Path, progress: bool = True) -> list[list[NoteEvent]]:
    """Every readable MIDI file under ``folder`` (recursively); the others are reported on
    stderr and skipped.  ``progress``: a progress bar over the files."""
    pieces = []
    bar = tqdm(midi_files(folder), desc="reading MIDI", unit="file", disable=not progress)
    for path in bar:
        try:
            notes = read_midi(path)
        except MidiError as err:
            tqdm.write(f"skipped: {err}", file=sys.stderr)
            continue
        if notes:
            pieces.append(notes)
        else:
            tqdm.write(f"skipped: {path}: no notes", file=sys.stderr)
    return pieces


def music21_pieces(limit: int | None = None, progress: bool = True) -> list[list[NoteEvent]]:
    """The default data: music21's bundled Bach chorales made into MIDI at run time and read
    back through mido, as any MIDI file is."""
    from music21 import corpus
    from music21.midi import translate

    paths = sorted(str(p) for p in corpus.getComposer("bach"))
    pieces = []
    for path in tqdm(paths[:limit], desc="Bach chorales", unit="piece", disable=not progress):
        try:
            score = corpus.parse(path)
            data = translate.streamToMidiFile(score).writestr()
            notes = read_midi_bytes(data, path)
        except Exception as err:  # a corpus file music21 cannot parse or export: leave it out
            tqdm.write(f"skipped: {path}: {type(err).__name__}: {err}", file=sys.stderr)
            continue
        if notes:
            pieces.append(notes)
    return pieces


def write_midi(
    path: Path,
    notes: Iterable[NoteEvent],
    tempo_bpm: float = 100.0,
    time_signature: str | None = None,
) -> None:
    """One-track MIDI file of ``notes`` (piano), written atomically, with ``time_signature``
    (e.g. ``"3/4"``) where given."""
    sounds = [Sound(n.start, n.duration, n.pitch, n.velocity) for n in notes]
    atomic.write_bytes(path, sounds_midi([sounds], tempo_bpm, time_signature))


def piano_roll(
    notes: Sequence[NoteEvent], steps_per_beat: int, length: int | None = None
) -> np.ndarray:
    """Binary roll (T, 88): step t, key k sounds when a note of pitch 21 + k covers it."""
    end = max((n.start + n.duration for n in notes), default=0.0)
    t_len = length if length is not None else int(np.ceil(end * steps_per_beat))
    roll = np.zeros((t_len, KEYS), np.uint8)
    for n in notes:
        k = n.pitch - LOWEST
        if 0 <= k < KEYS:
            a = round(n.start * steps_per_beat)
            b = max(a + 1, round((n.start + n.duration) * steps_per_beat))
            roll[a : min(b, t_len), k] = 1
    return roll


def roll_notes(roll: np.ndarray, steps_per_beat: int, velocity: int = 80) -> list[NoteEvent]:
    """Notes from a binary roll (T, 88): each run of a key held on is one note."""
    notes = []
    on = np.asarray(roll, bool)
    padded = np.vstack([np.zeros((1, on.shape[1]), bool), on, np.zeros((1, on.shape[1]), bool)])
    change = np.diff(padded.astype(np.int8), axis=0)  # +1 at an onset, -1 after the end
    for k in range(on.shape[1]):
        starts = np.flatnonzero(change[:, k] == 1)
        ends = np.flatnonzero(change[:, k] == -1)
        for a, b in zip(starts, ends, strict=True):
            notes.append(
                NoteEvent(LOWEST + k, velocity, a / steps_per_beat, (b - a) / steps_per_beat)
            )
    notes.sort(key=lambda n: (n.start, n.pitch))
    return notes


MIDDLE_C = 60


MAX_VOICES = 4  # MusicXML staves in MuseScore hold four voices


def staff_voices(
    notes: Sequence[NoteEvent], steps_per_beat: int = 4
) -> list[list[tuple[float, float, list[int]]]]:
    """One staff's notes as voices of chords that do not overlap: ``(start, length,
    pitches)`` in beats, quantized to ``1/steps_per_beat``.  Notes that start and end
    together make one chord; a chord goes to the first voice that is free when it starts,
    so a note struck while a longer one sounds gets a voice of its own (at most
    ``MAX_VOICES``: past that, the voice that frees first is cut short where the chord
    starts, so every note is still struck)."""
    step = 1 / steps_per_beat
    chords: dict[tuple[float, float], set[int]] = {}
    for n in notes:
        start = round(n.start * steps_per_beat) * step
        length = max(step, round(n.duration * steps_per_beat) * step)
        chords.setdefault((start, length), set()).add(n.pitch)
    voices: list[list[tuple[float, float, list[int]]]] = []
    for (start, length), pitches in sorted(chords.items(), key=lambda c: (c[0][0], -c[0][1])):
        chord_ = (start, length, sorted(pitches))
        free = [v for v in voices if v[-1][0] + v[-1][1] <= start]
        if free:
            free[0].append(chord_)
        elif len(voices) < MAX_VOICES:
            voices.append([chord_])
        else:  # every voice busy: cut short the one that would free first
            v = min(voices, key=lambda v: v[-1][0] + v[-1][1])
            last_start, _, last_pitches = v[-1]
            if last_start == start:  # same start, another length: one chord of both
                v[-1] = (start, length, sorted({*last_pitches, *pitches}))
            else:
                v[-1] = (last_start, start - last_start, last_pitches)
                v.append(chord_)
    return voices


def key_spelling(key_):  # (music21 key.Key) -> dict[int, pitch.Pitch]
    """How each of the 12 pitch classes is spelled in a key: its scale's notes, then the
    usual chromatic ones (in major the raised 1st, 2nd, 4th and 5th and the lowered 7th; in
    minor the raised 7th, 6th, 4th and 3rd and the lowered 2nd)."""
    from music21 import pitch

    altered = (
        [(1, 1), (2, 1), (4, 1), (5, 1), (7, -1)]
        if key_.mode == "major"
        else [(7, 1), (6, 1), (4, 1), (3, 1), (2, -1)]
    )
    out: dict[int, pitch.Pitch] = {}
    for degree, alter in [(d, 0) for d in range(1, 8)] + altered:
        scale_pitch = key_.pitchFromDegree(degree)
        p = pitch.Pitch(scale_pitch.step)
        p.accidental = pitch.Accidental(scale_pitch.alter + alter)
        out.setdefault(p.pitchClass, p)
    return out


def spelled(midi: int, spelling):  # (int, dict[int, pitch.Pitch]) -> pitch.Pitch
    """MIDI pitch ``midi`` spelled as ``spelling`` spells its pitch class (``key_spelling``);
    no accidental is marked on a natural, so only the key and the bar decide what is shown."""
    p = copy.deepcopy(spelling[midi % 12])  # (transpose(0) would spell it anew)
    p.octave = midi // 12 - 1
    p.octave += (midi - p.midi) // 12  # B-sharp and C-flat belong to the octave beside
    if p.accidental is not None and p.accidental.alter == 0:
        p.accidental = None
    return p


def notes_to_score(
    notes: Sequence[NoteEvent],
    steps_per_beat: int = 4,
    title: str = "",
    source: str = "",
    time_signature: str = "4/4",
):  # -> stream.Score
    """A piano score for MusicXML: a grand staff, treble from middle C up and bass below,
    each staff in as many voices as it needs (``staff_voices``: chords where notes start
    and end together), times quantized to ``1/steps_per_beat`` of a beat, in bars of
    ``time_signature`` (beats of a quarter), under the key signature of the key music21
    finds in the notes (Krumhansl-Schmuckler), every pitch spelled in that key."""
    from music21 import chord, clef, instrument, key, layout, meter, note, stream

    from stave.convert import set_credits

    heard: stream.Stream = stream.Stream(
        [note.Note(n.pitch, quarterLength=max(n.duration, 0.25)) for n in notes]
    )
    key_ = heard.analyze("key") if notes else None
    spelling = key_spelling(key_) if key_ is not None else None
    bar = meter.TimeSignature(time_signature).barDuration.quarterLength
    voices_of = {
        treble: staff_voices([n for n in notes if (n.pitch >= MIDDLE_C) == treble], steps_per_beat)
        for treble in (True, False)
    }
    end = max((c[0] + c[1] for vs in voices_of.values() for v in vs for c in v), default=0.0)
    end = max(bar, -(-end // bar) * bar)  # whole bars, the same in both staves
    staves = []
    for treble in (True, False):
        part = stream.PartStaff()
        part.insert(0, instrument.Piano())
        part.append(clef.TrebleClef() if treble else clef.BassClef())
        if key_ is not None:
            part.append(key.KeySignature(key_.sharps))
        part.append(meter.TimeSignature(time_signature))
        voices = voices_of[treble]
        for number, chords in enumerate(voices or [[]], start=1):
            voice = stream.Voice(id=str(number))
            now = 0.0
            for start, length, pitches in [*chords, (end, 0.0, [])]:
                if start > now:  # the gap until the next chord: a rest, shown in voice 1
                    rest = note.Rest(quarterLength=start - now)
                    rest.style.hideObjectOnPrint = number > 1
                    voice.insert(now, rest)
                if pitches:
                    ps = [spelled(m, spelling) for m in pitches] if spelling else pitches
                    el = note.Note(ps[0]) if len(ps) == 1 else chord.Chord(ps)
                    el.quarterLength = length
                    voice.insert(start, el)
                now = max(now, start + length)
            part.insert(0, voice)
        staves.append(part)
    score = stream.Score(staves)
    score.insert(0, layout.StaffGroup(staves, symbol="brace", barTogether=True))
    score = score.makeNotation()
    set_credits(score, title or "stavegen sample", source)
    return score
