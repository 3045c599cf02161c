"""Stave text -> music21 score -> MusicXML and MIDI files (the way back is ``stave.melody``).

Pitch = clef + staff position, altered by the key signature and then by a printed accidental
that holds (for that staff position) to the end of the bar, as in engraving.  The helpers
both directions share (clef objects, staff steps, key alterations, note values) live here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from music21 import (
    clef,
    duration,
    instrument,
    key,
    layout,
    metadata,
    meter,
    note,
    pitch,
    stream,
)
from music21.musicxml import m21ToXml

from stave import atomic
from stave.stavetext import (
    CLEFS,
    Bar,
    Clef,
    Duration,
    Key,
    Note,
    Rest,
    Time,
    Token,
    diatonic,
    parse_line,
    split_pieces,
    staff_step,
)

BASE_TYPES = {
    1: "whole",
    2: "half",
    4: "quarter",
    8: "eighth",
    16: "16th",
    32: "32nd",
    64: "64th",
}
TYPE_BASES = {t: b for b, t in BASE_TYPES.items()}
DEFAULT_BARS_PER_LINE = 4


class ConversionError(ValueError):
    """Music that cannot be turned into stave text or a score."""


def clef_object(name: str) -> clef.Clef:
    return {
        "G2": clef.TrebleClef,
        "F4": clef.BassClef,
        "C3": clef.AltoClef,
        "C4": clef.TenorClef,
    }[name]()


def clef_name(c: clef.Clef) -> str:
    name = f"{c.sign}{c.line}"
    if name not in CLEFS:
        raise ConversionError(f"clef {c.sign} on line {c.line} has no stave-text spelling")
    return name


def step_pitch(step: int, clef_name_: str) -> pitch.Pitch:
    """The natural pitch at staff step ``step`` under a clef."""
    p = pitch.Pitch()
    p.diatonicNoteNum = diatonic(step, clef_name_) + 1  # music21 counts from C0 = 1
    return p


def pitch_step(p: pitch.Pitch, clef_name_: str) -> int:
    return staff_step(p.diatonicNoteNum - 1, clef_name_)


@functools.cache
def key_alters(fifths: int) -> dict[str, int]:
    """Step name -> alteration under a key signature (e.g. key:-1 -> {"B": -1})."""
    return {
        p.step: int(p.accidental.alter)
        for p in key.KeySignature(fifths).alteredPitches
        if p.accidental is not None
    }


def key_alter(fifths: int, step_name: str) -> int:
    return key_alters(fifths).get(step_name, 0)


def _duration(d: Duration | None) -> duration.Duration:
    if d is None:
        return duration.Duration(1.0)
    return duration.Duration(type=BASE_TYPES[d.base], dots=d.dots)


@dataclass
class _Reader:
    """Running state while stave tokens become music21 objects."""

    clef: str = "G2"
    key: int = 0
    bar_accidentals: dict[int, int] = field(default_factory=dict)

    def pitch_of(self, n: Note) -> pitch.Pitch:
        p = step_pitch(n.step, self.clef)
        if n.accidental is not None:
            alter = n.accidental
            self.bar_accidentals[n.step] = alter
        elif n.step in self.bar_accidentals:
            alter = self.bar_accidentals[n.step]
        else:
            alter = key_alter(self.key, p.step)
        if alter or n.accidental is not None:
            p.accidental = pitch.Accidental(alter)
            # Engraved exactly as printed: music21 would otherwise print one on almost every
            # note of a piece that has an accidental anywhere.
            p.accidental.displayStatus = n.accidental is not None
        return p


def stave_pitches(tokens: Sequence[Token]) -> list[pitch.Pitch]:
    """The pitch of each note of one stave as ``staves_to_score`` reads it (a stave starts
    with no accidentals held; a bar line or a new key clears them)."""
    reader, out = _Reader(), []
    for tok in tokens:
        if isinstance(tok, Clef):
            reader.clef = tok.name
        elif isinstance(tok, Key):
            if tok.fifths != reader.key:
                reader.bar_accidentals.clear()
            reader.key = tok.fifths
        elif isinstance(tok, Bar):
            reader.bar_accidentals.clear()
        elif isinstance(tok, Note):
            out.append(reader.pitch_of(tok))
    return out


def staves_to_score(staves: Sequence[Sequence[Token]], title: str | None = None) -> stream.Score:
    """One piece (a list of stave lines) as a one-part music21 score, a system per stave."""
    reader = _Reader()
    part = stream.Part()
    number = 1
    measure = stream.Measure(number=number)
    pending_system_break = False
    first = True
    n_notes = 0

    def close() -> None:
        nonlocal measure, number, pending_system_break
        if pending_system_break:
            measure.insert(0, layout.SystemLayout(isNew=True))
            pending_system_break = False
        part.append(measure)
        number += 1
        measure = stream.Measure(number=number)
        reader.bar_accidentals.clear()

    for line_index, tokens in enumerate(staves):
        if line_index > 0:
            if measure.notesAndRests:
                close()
            pending_system_break = True
        for tok in tokens:
            if isinstance(tok, Clef):
                previous = part.getElementsByClass(stream.Measure).last()
                if not first and tok.name != reader.clef and previous and not measure.notesAndRests:
                    # A change at a bar's start goes at the end of the bar before, as
                    # engravers (and MuseScore's own MusicXML) put it: MuseScore would
                    # otherwise draw it after the old clef and key at a line's start.
                    previous.insert(previous.highestTime, clef_object(tok.name))
                elif first or tok.name != reader.clef:
                    measure.append(clef_object(tok.name))
                reader.clef = tok.name
            elif isinstance(tok, Key):
                if first or tok.fifths != reader.key:
                    measure.append(key.KeySignature(tok.fifths))
                    reader.bar_accidentals.clear()
                reader.key = tok.fifths
            elif isinstance(tok, Time):
                measure.append(meter.TimeSignature(f"{tok.numerator}/{tok.denominator}"))
            elif isinstance(tok, Note):
                n = note.Note(reader.pitch_of(tok))
                n.duration = _duration(tok.duration)
                measure.append(n)
                n_notes += 1
            elif isinstance(tok, Rest):
                r = note.Rest()
                r.duration = _duration(tok.duration)
                measure.append(r)
            elif isinstance(tok, Bar) and measure.notesAndRests:
                close()
            first = False
    if measure.notesAndRests:
        close()
    if n_notes == 0 and not any(m.notesAndRests for m in part.getElementsByClass(stream.Measure)):
        raise ConversionError("the piece holds no notes or rests")
    first_measure = part.getElementsByClass(stream.Measure).first()
    if first_measure is not None:
        if not first_measure.getElementsByClass(clef.Clef):
            first_measure.insert(0, clef.TrebleClef())
        if not first_measure.getElementsByClass(key.KeySignature):
            first_measure.insert(0, key.KeySignature(0))
    mark_short_bars(part)
    # Every accidental is shown or hidden as printed (``_Reader.pitch_of``).  music21 sees
    # that for itself where a pitch is altered, but on a stave with none it runs its own
    # accidental pass, building the key's scale bar by bar, to change nothing: an eighth of
    # the time of writing the stave's MusicXML (``bench/omr_speed.py``).
    part.streamStatus.accidentals = True
    part.insert(0, instrument.Piano())  # MuseScore wants an instrument on every part
    score = stream.Score()
    score.metadata = metadata.Metadata(title=title or "untitled", composer="")
    score.insert(0, part)
    return score


def mark_short_bars(part: stream.Part) -> None:
    """Mark bars that hold less than their metre as short (a pickup, a bar cut by a repeat)
    so that MusicXML writes them as they are: music21 would fill each with an invisible
    rest, which MuseScore plays as a silent beat the MIDI does not have."""
    metre: meter.TimeSignature | None = None
    for m in part.getElementsByClass(stream.Measure):
        found = m.getElementsByClass(meter.TimeSignature).first()
        metre = found or metre
        if metre is None:
            continue
        short = metre.barDuration.quarterLength - m.duration.quarterLength
        if short > 0:
            if m is part.getElementsByClass(stream.Measure).first():
                m.paddingLeft = short
            else:
                m.paddingRight = short


def text_to_score(text: str, title: str | None = None, source: str = "") -> stream.Score:
    """The first piece of a stave-text document as a score."""
    pieces = split_pieces(text, source)
    if not pieces:
        raise ConversionError(f"{source or 'stave text'}: no staves")
    return staves_to_score(pieces[0], title)


def musicxml_bytes(score: stream.Score) -> bytes:
    """MusicXML of a score whose measures are whole, as ``staves_to_score`` builds them
    (every bar holds its notes and rests end to end; a short bar is marked as such).

    music21's ``write`` first copies the score and fills every gap in every bar with hidden
    rests, guessing a metre for each bar without a time signature: about half the time of
    writing a stave (``bench/omr_speed.py``), for nothing on such a score.  This notates the
    score in place (beams, accidentals shown, ties) as ``write`` does, then exports it; the
    file is the same (``tests/test_musicxml.py``).
    """
    score.makeNotation(inPlace=True)
    exporter = m21ToXml.ScoreExporter(score, makeNotation=True)
    exporter.parse()
    return exporter.asBytes()


def write_score(
    score: stream.Score,
    base: Path,
    formats: Iterable[str] = ("musicxml", "mid"),
    whole_bars: bool = False,
) -> list[Path]:
    """Write ``base.musicxml`` / ``base.mid``, all or none; returns the paths written.

    Each file is written atomically; if a later format fails, the earlier ones are removed,
    so a score that does not convert leaves no partial set of files behind.  ``whole_bars``:
    the score is one of ``staves_to_score``, written faster by ``musicxml_bytes`` (and
    notated in place).
    """
    written: list[Path] = []
    for fmt in formats:
        path = base.with_suffix(f".{fmt}")
        try:
            if fmt == "mid":
                from stave.midi import score_midi  # mido only where MIDI is written

                atomic.write_bytes(path, score_midi(score))
            elif fmt == "musicxml" and whole_bars:
                atomic.write_bytes(path, musicxml_bytes(score))
            else:
                with atomic.atomic_path(path) as tmp:
                    score.write(fmt, fp=tmp)
        except Exception as err:  # music21 raises many types while exporting odd scores
            for done in written:
                done.unlink(missing_ok=True)
            raise ConversionError(f"cannot write {path.name} ({err})") from err
        written.append(path)
    return written


def line_to_score(line: str) -> stream.Score:
    """A single stave line as a score (convenience for tests and the OMR)."""
    return staves_to_score([parse_line(line)])
