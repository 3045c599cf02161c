"""music21 melodies (and ABC tunes, read by music21 as abc2midi plays them) as stave text: the
way back from a score.

Reading a melody prints an accidental exactly where the engraving rule of ``stave.musicxml``
(key signature, then a printed accidental held to the bar line) would otherwise give the
wrong pitch, so ``staves -> score -> staves`` keeps every pitch.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

from music21 import (
    chord,
    clef,
    converter,
    duration,
    harmony,
    key,
    layout,
    meter,
    note,
    pitch,
    stream,
)

from stave.abc import FIELD, INLINE_FIELD, for_music21
from stave.musicxml import (
    DEFAULT_BARS_PER_LINE,
    TYPE_BASES,
    ConversionError,
    clef_name,
    key_alter,
    pitch_step,
)
from stave.stavetext import Bar, Clef, Duration, Key, Note, Rest, Time, Token, write_line


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
        if comp.type not in TYPE_BASES and comp.type not in ("breve", "128th", "256th"):
            # e.g. "inexpressible": no note value; recursing on it would never end
            raise ConversionError(f"duration {d.quarterLength} has no printed note value")
        out.extend(_durations(duration.Duration(type=comp.type, dots=comp.dots)))
    if not out:
        raise ConversionError(f"duration {d.quarterLength} has no printed note value")
    return out


@dataclass
class _Running:
    """The clef and key in force while a melody is read bar by bar."""

    clef: str = "G2"
    key: int = 0


def _bar_elements(m: stream.Measure) -> tuple[list[object], set[int], list[clef.Clef]]:
    """A bar's elements in order, the ids of those at its very start, and the clefs after its
    last note (a change engraved before the next bar's bar line belongs to that bar)."""
    # Offsets are taken from the flat stream itself: an element's ``.offset`` follows its
    # active site, which other code (``Stream.measures``, another flatten) can move.
    flat = m.flatten()
    placed = [(float(flat.elementOffset(e)), e) for e in flat]
    placed.sort(key=lambda pe: (pe[0], pe[1].priority, pe[1].classSortOrder))
    end = max(
        (off + float(e.quarterLength) for off, e in placed if isinstance(e, note.GeneralNote)),
        default=0.0,
    )
    trailing = [e for off, e in placed if isinstance(e, clef.Clef) and end > 0 and off >= end]
    kept = [(off, e) for off, e in placed if not any(e is t for t in trailing)]
    return [e for _, e in kept], {id(e) for off, e in kept if off == 0}, trailing


def _note_tokens(
    el: note.Note | chord.Chord, run: _Running, bar_acc: dict[int, int]
) -> list[Token]:
    """A note (a chord: its top note) as printed: an accidental only where the key and the
    bar's accidentals so far would give another pitch; tied parts for a complex duration."""
    if isinstance(el, chord.Chord) and not el.pitches:
        return []
    p = max(el.pitches) if isinstance(el, chord.Chord) else el.pitch
    parts = _durations(el.duration)
    if not parts:
        return []
    step = pitch_step(p, run.clef)
    alter = round(p.accidental.alter) if p.accidental is not None else 0
    expected = bar_acc.get(step, key_alter(run.key, p.step))
    acc = None
    if alter != expected:
        if abs(alter) > 2:
            raise ConversionError(f"pitch {p.nameWithOctave} is not printable")
        acc = alter
        bar_acc[step] = alter
    return [Note(step, acc if i == 0 else None, d) for i, d in enumerate(parts)]


def _bar_tokens(
    elements: list[object], at_start: set[int], run: _Running
) -> tuple[list[Token], bool]:
    """A bar's tokens (clef and key changes at its very start are the caller's), and whether
    it holds a note or rest."""
    out: list[Token] = []
    bar_acc: dict[int, int] = {}
    wrote_note = False
    for el in elements:
        if isinstance(el, clef.Clef):
            if id(el) not in at_start:
                run.clef = clef_name(el)
                out.append(Clef(run.clef))
        elif isinstance(el, key.KeySignature):
            if id(el) not in at_start:
                run.key = int(el.sharps)
                out.append(Key(run.key))
                bar_acc.clear()
        elif isinstance(el, meter.TimeSignature):
            # Stave text writes metres over a power of two only (an ABC "M:1/3" is not
            # one a score can print); others are left out.
            if el.denominator in (1, 2, 4, 8, 16, 32, 64) and 1 <= el.numerator <= 99:
                out.append(Time(el.numerator, el.denominator))
        elif isinstance(el, harmony.Harmony):
            continue  # chord symbols ("Am") are not printed notes
        elif isinstance(el, note.Rest):
            for d in _durations(el.duration):
                out.append(Rest(d))
                wrote_note = True
        elif isinstance(el, (note.Note, chord.Chord)):
            tokens = _note_tokens(el, run, bar_acc)
            out.extend(tokens)
            wrote_note = wrote_note or bool(tokens)
    return out, wrote_note


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
    run = _Running()
    bars_in_line = 0
    carried: list[clef.Clef] = []
    for m in measures:
        elements, at_start, trailing = _bar_elements(m)
        elements = [*carried, *elements]
        at_start |= {id(c) for c in carried}
        carried = trailing
        # Clef and key changes at the very start of a bar go in the line header when the bar
        # starts a line, else they are written before the bar's first note.
        clef_before, key_before = run.clef, run.key
        for el in elements:
            if id(el) in at_start and isinstance(el, clef.Clef):
                run.clef = clef_name(el)
            elif id(el) in at_start and isinstance(el, key.KeySignature):
                run.key = int(el.sharps)
        new_line = (
            not current
            or (has_breaks and any(sl.isNew for sl in m.getElementsByClass(layout.SystemLayout)))
            or (not has_breaks and bars_in_line >= bars_per_line)
        )
        if new_line:
            if current:
                lines.append(current)
            current = [Clef(run.clef), Key(run.key)]
            bars_in_line = 0
        else:
            if run.clef != clef_before:
                current.append(Clef(run.clef))
            if run.key != key_before:
                current.append(Key(run.key))
        tokens, wrote_note = _bar_tokens(elements, at_start, run)
        current.extend(tokens)
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


# music21 builds a time signature's beat hierarchy in a time that grows with the square of
# its beats: 0.06 s for 64/4, 15 s for 1000/4, minutes for a sampled "M:48444/4".
LONGEST_BAR = 64  # beats an M: field may give


def metre_beats(value: str) -> int:
    """The beats of an M: field's value as music21 reads it: "2+3+2/8" adds up (7), but in
    brackets or with blanks between digits it joins them ("(3+3+2)/8" is 332/8, "1 000/4"
    1000/4); 0 for C, C| and none."""
    top = value.split("/", 1)[0] if "/" in value else ""
    if not re.search(r"\d", top):
        return 0
    if "(" in top or not re.fullmatch(r"\s*\d+(?:\s*\+\s*\d+)*\s*", top):
        return int("".join(re.findall(r"\d", top)))
    return sum(int(n) for n in re.findall(r"\d+", top))


def long_bar(abc: str) -> str | None:
    """Why music21 must not be given this ABC, for a metre of more than ``LONGEST_BAR``
    beats (M: lines and inline [M:...] fields in music lines); None when it may."""
    for line in abc.splitlines():
        text = line.lstrip()
        if FIELD.match(text):
            values = [text[2:]] if text[0] == "M" else []
        else:  # a music line: its inline fields, outside comments and quoted text
            music = re.sub(r'"[^"]*"', "", text.split("%", 1)[0])
            values = [value for name, value in INLINE_FIELD.findall(music) if name == "M"]
        for value in values:
            beats = metre_beats(value.split("%", 1)[0])
            if beats > LONGEST_BAR:
                return (
                    f"M:{value.strip()}: a bar of {beats} beats as music21 reads it; stavegen "
                    f"reads at most {LONGEST_BAR} (music21 takes minutes over such a metre)"
                )
    return None


def parse_abc(abc: str) -> stream.Score:
    """An ABC tune as a music21 score, with a clear error when music21 cannot read it.

    The notes are those abc2midi plays: the tune goes through ``stave.abc.for_music21``
    first (accidentals held to the bar line, inline key changes), and a note tied from
    another takes its pitch, across a bar line too (music21 would read it afresh).
    """
    if (problem := long_bar(abc)) is not None:
        raise ConversionError(problem)
    try:
        parsed = converter.parse(for_music21(abc), format="abc")
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
    for part in parsed.parts:
        _carry_into_chords(part)
        _hold_tied_pitches(part)
        for p in part.pitches:  # engraved as the ABC writes them: only the written ones
            if p.accidental is not None and p.accidental.displayStatus is not True:
                p.accidental.displayStatus = False
    return parsed


def _carry_into_chords(part: stream.Part) -> None:
    """Carry a bar's accidentals into its chords, as into its notes (music21 does the notes
    only): a chord pitch without an accidental of its own takes the bar's last one for its
    step name."""
    for m in part.getElementsByClass(stream.Measure):
        carried: dict[str, pitch.Accidental] = {}
        for el in m.flatten().notes:
            pitches = [el.pitch] if isinstance(el, note.Note) else list(el.pitches)
            for p in pitches:
                acc = p.accidental
                if acc is not None and acc.displayStatus is True:
                    carried[p.step] = acc
                elif isinstance(el, chord.Chord) and p.step in carried:
                    held = pitch.Accidental(carried[p.step].name)
                    held.displayStatus = False
                    p.accidental = held


def _hold_tied_pitches(part: stream.Part) -> None:
    """Give each note tied from the one before it (in chords too) that note's pitch, across
    a bar line too (music21 reads it afresh); a tie between two staff steps is dropped."""
    previous: list[note.Note] = []  # the notes sounding just before, tied on or not
    for el in part.flatten().notesAndRests:
        notes = list(el.notes) if isinstance(el, chord.Chord) else [el]
        notes = [n for n in notes if isinstance(n, note.Note)]
        if isinstance(el, chord.Chord) and el.tie is not None:
            for n in notes:
                n.tie = n.tie or copy.deepcopy(el.tie)
        tied = [p for p in previous if p.tie is not None and p.tie.type in ("start", "continue")]
        for n in notes:
            same = [p for p in tied if p.pitch.diatonicNoteNum == n.pitch.diatonicNoteNum]
            if same and n.pitch.alter != same[0].pitch.alter:
                held = same[0].pitch.accidental
                n.pitch.accidental = None if held is None else copy.deepcopy(held)
                if n.pitch.accidental is not None:
                    n.pitch.accidental.displayStatus = False  # held by the tie, not printed
            elif not same and tied and len(notes) == 1 and len(previous) == 1:
                # "B-c": to a player (and abc2midi) a slur; as a tie, the second note
                # would be merged into the first.
                previous[0].tie = None
                if n.tie is not None and n.tie.type == "stop":
                    n.tie = None
        if isinstance(el, chord.Chord):  # written back: chord pitches are copies
            for n, p in zip(el.notes, el.pitches, strict=True):
                p.accidental = n.pitch.accidental
        previous = notes if not isinstance(el, note.Rest) else []
