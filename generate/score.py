"""Stave text <-> music21: build a score from stave lines, and read a melody back as stave text.

Pitch = clef + staff position, altered by the key signature and then by a printed accidental
that holds (for that staff position) to the end of the bar, as in engraving.  Reading a melody
back prints an accidental exactly where that rule would otherwise give the wrong pitch, so
``staves -> score -> staves`` keeps every pitch.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from music21 import (
    chord,
    clef,
    converter,
    duration,
    harmony,
    instrument,
    key,
    layout,
    metadata,
    meter,
    note,
    pitch,
    stream,
)

from generate import atomic
from generate.stavetext import (
    Bar,
    Clef,
    Duration,
    Key,
    Note,
    Rest,
    Time,
    Token,
    parse_line,
    split_pieces,
    write_line,
)

# Diatonic note number (music21's diatonicNoteNum) of the bottom staff line, per clef.
BOTTOM_LINE = {
    "G2": pitch.Pitch("E4").diatonicNoteNum,
    "F4": pitch.Pitch("G2").diatonicNoteNum,
    "C3": pitch.Pitch("F3").diatonicNoteNum,
    "C4": pitch.Pitch("D3").diatonicNoteNum,
}
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
    if name not in BOTTOM_LINE:
        raise ConversionError(f"clef {c.sign} on line {c.line} has no stave-text spelling")
    return name


def step_pitch(step: int, clef_name_: str) -> pitch.Pitch:
    """The natural pitch at staff step ``step`` under a clef."""
    p = pitch.Pitch()
    p.diatonicNoteNum = BOTTOM_LINE[clef_name_] + step - 2
    return p


def pitch_step(p: pitch.Pitch, clef_name_: str) -> int:
    return p.diatonicNoteNum - BOTTOM_LINE[clef_name_] + 2


@functools.cache
def _key_alters(fifths: int) -> dict[str, int]:
    """Step name -> alteration under a key signature (e.g. key:-1 -> {"B": -1})."""
    return {
        p.step: int(p.accidental.alter)
        for p in key.KeySignature(fifths).alteredPitches
        if p.accidental is not None
    }


def _key_alter(fifths: int, step_name: str) -> int:
    return _key_alters(fifths).get(step_name, 0)


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
            alter = _key_alter(self.key, p.step)
        if alter or n.accidental is not None:
            p.accidental = pitch.Accidental(alter)
            if n.accidental is not None:
                p.accidental.displayStatus = True  # printed, so engraved as printed
        return p


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
                if first or tok.name != reader.clef:
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
    part.insert(0, instrument.Piano())  # MuseScore wants an instrument on every part
    score = stream.Score()
    score.metadata = metadata.Metadata(title=title or "stavegen", composer="")
    score.insert(0, part)
    return score


def text_to_score(text: str, title: str | None = None, source: str = "") -> stream.Score:
    """The first piece of a stave-text document as a score."""
    pieces = split_pieces(text, source)
    if not pieces:
        raise ConversionError(f"{source or 'stave text'}: no staves")
    return staves_to_score(pieces[0], title)


# -- music21 -> stave text -----------------------------------------------------------------


def _melody_part(s: stream.Stream) -> stream.Stream:
    if isinstance(s, stream.Score):
        parts = list(s.parts)
        if not parts:
            raise ConversionError("the score has no parts")
        return parts[0]
    if isinstance(s, stream.Opus):
        raise ConversionError("an opus holds several pieces; convert each score")
    return s


def _durations(d: duration.Duration) -> list[Duration]:
    """A music21 duration as printed note values (a complex one as tied parts)."""
    if d.isGrace or d.quarterLength == 0:
        return []
    if d.type in TYPE_BASES and d.dots <= 2:
        return [Duration(TYPE_BASES[d.type], d.dots)]
    if d.type == "breve":
        return [Duration(1, 0), Duration(1, 0)]
    if d.type in ("128th", "256th"):
        return [Duration(64, 0)]
    out: list[Duration] = []
    for comp in d.components:
        out.extend(_durations(duration.Duration(type=comp.type, dots=comp.dots)))
    if not out:
        raise ConversionError(f"duration {d.quarterLength} has no printed note value")
    return out


def stream_to_staves(
    s: stream.Stream, bars_per_line: int = DEFAULT_BARS_PER_LINE, follow_breaks: bool = True
) -> list[list[Token]]:
    """A monophonic stream (the first part of a score) as stave lines.

    Lines follow the stream's system breaks where it has them (unless ``follow_breaks`` is
    False), else ``bars_per_line`` bars.
    Each line starts with ``clef:`` and ``key:``; ``time:`` is written where one is printed.
    Chords give their top note; grace notes and chord symbols are left out.
    """
    part = _melody_part(s)
    measures = list(part.getElementsByClass(stream.Measure))
    if not measures:
        part = part.makeMeasures()
        measures = list(part.getElementsByClass(stream.Measure))
    has_breaks = follow_breaks and any(
        sl.isNew for m in measures for sl in m.getElementsByClass(layout.SystemLayout)
    )
    lines: list[list[Token]] = []
    current: list[Token] = []
    clef_now, key_now = "G2", 0
    bars_in_line = 0
    for m in measures:
        # Offsets are taken from the flat stream itself: an element's ``.offset`` follows its
        # active site, which other code (``Stream.measures``, another flatten) can move.
        flat = m.flatten()
        placed = [(float(flat.elementOffset(e)), e) for e in flat]
        placed.sort(key=lambda pe: (pe[0], pe[1].priority, pe[1].classSortOrder))
        elements = [e for _, e in placed]
        at_start = {id(e) for off, e in placed if off == 0}
        # Clef and key changes at the very start of a bar go in the line header when the bar
        # starts a line, else they are written before the bar's first note.
        clef_before, key_before = clef_now, key_now
        for el in elements:
            if id(el) in at_start and isinstance(el, clef.Clef):
                clef_now = clef_name(el)
            elif id(el) in at_start and isinstance(el, key.KeySignature):
                key_now = int(el.sharps)
        new_line = (
            not current
            or (has_breaks and any(sl.isNew for sl in m.getElementsByClass(layout.SystemLayout)))
            or (not has_breaks and bars_in_line >= bars_per_line)
        )
        if new_line:
            if current:
                lines.append(current)
            current = [Clef(clef_now), Key(key_now)]
            bars_in_line = 0
        else:
            if clef_now != clef_before:
                current.append(Clef(clef_now))
            if key_now != key_before:
                current.append(Key(key_now))
        bar_acc: dict[int, int] = {}
        wrote_note = False
        for el in elements:
            if isinstance(el, clef.Clef):
                if id(el) not in at_start:
                    clef_now = clef_name(el)
                    current.append(Clef(clef_now))
            elif isinstance(el, key.KeySignature):
                if id(el) not in at_start:
                    key_now = int(el.sharps)
                    current.append(Key(key_now))
                    bar_acc.clear()
            elif isinstance(el, meter.TimeSignature):
                # Stave text writes metres over a power of two only (an ABC "M:1/3" is not
                # one a score can print); others are left out.
                if el.denominator in (1, 2, 4, 8, 16, 32, 64) and 1 <= el.numerator <= 99:
                    current.append(Time(el.numerator, el.denominator))
            elif isinstance(el, harmony.Harmony):
                continue  # chord symbols ("Am") are not printed notes
            elif isinstance(el, note.Rest):
                for d in _durations(el.duration):
                    current.append(Rest(d))
                    wrote_note = True
            elif isinstance(el, (note.Note, chord.Chord)):
                if isinstance(el, chord.Chord) and not el.pitches:
                    continue
                p = max(el.pitches) if isinstance(el, chord.Chord) else el.pitch
                parts = _durations(el.duration)
                if not parts:
                    continue
                step = pitch_step(p, clef_now)
                alter = round(p.accidental.alter) if p.accidental is not None else 0
                expected = bar_acc.get(step, _key_alter(key_now, p.step))
                acc = None
                if alter != expected:
                    if abs(alter) > 2:
                        raise ConversionError(f"pitch {p.nameWithOctave} is not printable")
                    acc = alter
                    bar_acc[step] = alter
                for i, d in enumerate(parts):
                    current.append(Note(step, acc if i == 0 else None, d))
                wrote_note = True
        if wrote_note:
            current.append(Bar())
            bars_in_line += 1
    if current and any(isinstance(t, (Note, Rest)) for t in current):
        lines.append(current)
    lines = [line for line in lines if any(isinstance(t, (Note, Rest)) for t in line)]
    if not lines:
        raise ConversionError("no notes")
    return lines


def stream_to_stave_text(s: stream.Stream, bars_per_line: int = DEFAULT_BARS_PER_LINE) -> str:
    return "\n".join(write_line(line) for line in stream_to_staves(s, bars_per_line))


def abc_to_stave_text(abc: str, bars_per_line: int = DEFAULT_BARS_PER_LINE) -> str:
    """One ABC tune's melody as stave text; ``ConversionError`` when music21 cannot read it."""
    parsed = parse_abc(abc)
    try:
        return stream_to_stave_text(parsed, bars_per_line)
    except ConversionError:
        raise
    except Exception as err:  # odd scores trip music21 internals in many ways
        raise ConversionError(f"cannot read the melody ({err})") from err


def parse_abc(abc: str) -> stream.Score:
    """An ABC tune as a music21 score, with a clear error when music21 cannot read it."""
    try:
        parsed = converter.parse(abc, format="abc")
    except Exception as err:  # music21's ABC reader raises many types on bad input
        raise ConversionError(f"music21 cannot read the ABC ({err})") from err
    if isinstance(parsed, stream.Opus):
        scores = list(parsed.scores)
        if not scores:
            raise ConversionError("no tune in the ABC")
        parsed = scores[0]
    if not isinstance(parsed, stream.Score):
        parsed = stream.Score([parsed])
    if not parsed.flatten().notes:
        raise ConversionError("the ABC holds no notes")
    return parsed


def write_score(
    score: stream.Score, base: Path, formats: Iterable[str] = ("musicxml", "mid")
) -> list[Path]:
    """Write ``base.musicxml`` / ``base.mid``, all or none; returns the paths written.

    Each file is written atomically; if a later format fails, the earlier ones are removed,
    so a score that does not convert leaves no partial set of files behind.
    """
    written: list[Path] = []
    for fmt in formats:
        path = base.with_suffix(f".{fmt}")
        try:
            with atomic.atomic_path(path) as tmp:
                score.write("midi" if fmt == "mid" else fmt, fp=tmp)
        except Exception as err:  # music21 raises many types while exporting odd scores
            for done in written:
                done.unlink(missing_ok=True)
            raise ConversionError(f"cannot write {path.name} ({err})") from err
        written.append(path)
    return written


def line_to_score(line: str) -> stream.Score:
    """A single stave line as a score (convenience for tests and the OMR)."""
    return staves_to_score([parse_line(line)])
