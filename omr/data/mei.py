"""Stave-text tokens -> MEI, the input Verovio engraves.

The MEI is written from the truth tokens themselves, so the engraving shows exactly what the
truth says: every note at its staff position, an accidental only where the truth prints one,
headers where they stand.  What the truth leaves out (beams, ties, slurs, lyrics, chord
symbols, accents, finger numbers, measure numbers, first-time endings) can be added as
decoration, as printed music has it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np

from omr.data.synth import beat_quarters
from stave import stavetext
from stave.stavetext import Bar, Clef, Duration, Key, Note, Rest, Time, Token

PNAMES = "cdefgab"
ACCID = {2: "x", 1: "s", 0: "n", -1: "f", -2: "ff"}
SYLLABLES = (
    "la",
    "da",
    "Herr",
    "mein",
    "the",
    "and",
    "sing",
    "glo",
    "ri",
    "a",
    "Christ",
    "der",
    "young",
    "old",
    "we're",
    "to",
    "cheer",
    "is",
    "here",
    "mas",
    "bring",
    "ing",
)
CHORDS = ("C", "G", "D", "Am", "Em", "F", "Bb", "E7", "G7", "Dm", "A", "F#m", "B7", "Cmaj7")
ARTICS = ("acc", "stacc", "ten", "marc")


@dataclass(frozen=True)
class Decorations:
    """Marks printed music carries that the stave text leaves out (probabilities per note)."""

    beams: bool = True
    beat_quarters: float = 1.0  # beam groups never cross a beat (1.5 in compound metres)
    ties: float = 0.0
    slurs: float = 0.0
    lyrics: float = 0.0
    chord_symbols: float = 0.0  # per bar
    articulations: float = 0.0
    first_measure: int = 1  # its number is printed when above 1
    final_barline: str = "single"  # "single", "end", "dbl" or "invis" (no closing bar line)
    fingering: float = 0.0  # a finger number over or under the note
    ending: bool = False  # the last bar a first-time ending closed by a repeat sign
    common_time: float = 0.0  # chance a 4/4 or 2/2 is printed as its sign (C, cut C)
    # Each bar beamed by the beat of its own metre (a time signature inside the line changes
    # it); False: every bar by ``beat_quarters``, as builds before the option.
    follow_metre: bool = False


METRE_SIGNS = {(4, 4): "common", (2, 2): "cut"}


def _meter_sign(time: Time, rng: np.random.Generator, deco: Decorations) -> str | None:
    """The sign a time signature is printed as by chance (``Decorations.common_time``), or
    None for its digits (no chance drawn where there is no sign to print)."""
    sign = METRE_SIGNS.get((time.numerator, time.denominator))
    if sign is None or deco.common_time <= 0 or rng.random() >= deco.common_time:
        return None
    return sign


def step_to_pitch(step: int, clef: str) -> tuple[str, int]:
    """Staff step under a clef -> (MEI pname, octave)."""
    number = stavetext.diatonic(step, clef)
    return PNAMES[number % 7], number // 7


def _keysig(fifths: int) -> str:
    return "0" if fifths == 0 else f"{abs(fifths)}{'s' if fifths > 0 else 'f'}"


def _quarters(d: Duration | None) -> float:
    return 1.0 if d is None else d.quarter_length


def _dur_attrs(d: Duration | None) -> str:
    d = d or Duration(4)
    return f' dur="{d.base}"' + (f' dots="{d.dots}"' if d.dots else "")


def _measures(tokens: Sequence[Token]) -> list[list[Token]]:
    """Cut a line at its bar lines; header tokens stay in place."""
    measures: list[list[Token]] = [[]]
    for tok in tokens:
        if isinstance(tok, Bar):
            measures.append([])
        else:
            measures[-1].append(tok)
    return measures


def _beam_groups(items: list[tuple[Token, float]], beat: float) -> list[tuple[int, int]]:
    """(start, end) index ranges of notes to beam: eighths or shorter, inside one beat."""
    groups = []
    i = 0
    while i < len(items):
        tok, start = items[i]
        if not (isinstance(tok, Note) and tok.duration and tok.duration.base >= 8):
            i += 1
            continue
        j = i
        window = int(start / beat + 1e-6)
        while j + 1 < len(items):
            nxt, nstart = items[j + 1]
            if not (isinstance(nxt, Note) and nxt.duration and nxt.duration.base >= 8):
                break
            end = nstart + _quarters(nxt.duration)
            if int(nstart / beat + 1e-6) != window or end > (window + 1) * beat + 1e-6:
                break
            j += 1
        if j > i:
            groups.append((i, j))
        i = j + 1
    return groups


def _header(tokens: Sequence[Token]) -> tuple[str, int, Time | None, int]:
    """The clef, key and time of a line's header, and where its music starts."""
    clef, key, time = "G2", 0, None
    start = 0
    while start < len(tokens) and isinstance(tokens[start], (Clef, Key, Time)):
        tok = tokens[start]
        if isinstance(tok, Clef):
            clef = tok.name
        elif isinstance(tok, Key):
            key = tok.fifths
        elif isinstance(tok, Time):
            time = tok
        start += 1
    return clef, key, time, start


def _note_element(
    tok: Note, xml_id: str, clef: str, rng: np.random.Generator, deco: Decorations
) -> str:
    """A ``<note>``, with a lyric syllable and an articulation by chance."""
    pname, octave = step_to_pitch(tok.step, clef)
    accid = f' accid="{ACCID[tok.accidental]}"' if tok.accidental is not None else ""
    inner = ""
    if rng.random() < deco.lyrics:
        syl = escape(str(rng.choice(SYLLABLES)))
        inner += f'<verse n="1"><syl>{syl}</syl></verse>'
    if rng.random() < deco.articulations:
        inner += f'<artic artic="{rng.choice(ARTICS)}"/>'
    body = f">{inner}</note>" if inner else "/>"
    return (
        f'<note xml:id="{xml_id}" pname="{pname}" oct="{octave}"'
        f"{_dur_attrs(tok.duration)}{accid}{body}"
    )


def _note_controls(
    tok: Note,
    xml_id: str,
    prev_note: tuple[str, Note] | None,
    controls: Sequence[str],
    rng: np.random.Generator,
    deco: Decorations,
) -> list[str]:
    """By chance, a tie or slur from the previous note, a finger number, and a chord symbol
    (one a bar)."""
    made = []
    if prev_note is not None:
        prev_id, prev = prev_note
        if prev.step == tok.step and rng.random() < deco.ties:
            made.append(f'<tie startid="#{prev_id}" endid="#{xml_id}"/>')
        elif rng.random() < deco.slurs:
            made.append(f'<slur startid="#{prev_id}" endid="#{xml_id}"/>')
    if deco.fingering and rng.random() < deco.fingering:
        place = "above" if rng.random() < 0.7 else "below"
        made.append(f'<fing startid="#{xml_id}" place="{place}">{rng.integers(1, 6)}</fing>')
    if rng.random() < deco.chord_symbols and not any("<harm" in c for c in controls):
        chord = escape(str(rng.choice(CHORDS)))
        made.append(f'<harm staff="1" startid="#{xml_id}">{chord}</harm>')
    return made


def _measure_items(
    measure: Sequence[Token], rng: np.random.Generator, deco: Decorations
) -> tuple[list[tuple[Token, float]], list[str]]:
    """A bar's tokens with their offsets in quarters (for beaming), and the header changes at
    its very start, which go in a scoreDef before it."""
    items: list[tuple[Token, float]] = []
    offset = 0.0
    pre_def: list[str] = []
    for tok in measure:
        if isinstance(tok, (Note, Rest)):
            items.append((tok, offset))
            offset += _quarters(tok.duration)
        elif not items and isinstance(tok, Key):
            pre_def.append(f'keysig="{_keysig(tok.fifths)}"')
        elif not items and isinstance(tok, Time):
            pre_def.append(f'meter.count="{tok.numerator}" meter.unit="{tok.denominator}"')
            sign = _meter_sign(tok, rng, deco)
            if sign:
                pre_def.append(f'meter.sym="{sign}"')
        else:
            items.append((tok, offset))
    return items, pre_def


def staves_to_mei(
    tokens: Sequence[Token], rng: np.random.Generator | None = None, deco: Decorations | None = None
) -> str:
    """One stave line as an MEI document with a single staff."""
    deco = deco or Decorations()
    rng = rng or np.random.default_rng(0)
    clef, key, time, start = _header(tokens)  # the line's header goes in the staffDef
    shape, line = stavetext.clef_sign(clef)
    keysig = _keysig(key)
    meter = f' meter.count="{time.numerator}" meter.unit="{time.denominator}"' if time else ""
    sign = _meter_sign(time, rng, deco) if time else None
    meter += f' meter.sym="{sign}"' if sign else ""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<mei xmlns="http://www.music-encoding.org/ns/mei" meiversion="5.0">',
        "<meiHead><fileDesc><titleStmt><title/></titleStmt><pubStmt/></fileDesc></meiHead>",
        "<music><body><mdiv><score>",
        f'<scoreDef><staffGrp><staffDef n="1" lines="5" clef.shape="{shape}" '
        f'clef.line="{line}" keysig="{keysig}"{meter}/></staffGrp></scoreDef>',
        "<section>",
    ]
    beat = deco.beat_quarters
    measures = _measures(tokens[start:])
    if not measures[-1]:
        measures.pop()  # the line ends with a bar line
        closed = True
    else:
        closed = False
    note_id = 0
    prev_note: tuple[str, Note] | None = None
    for m_index, measure in enumerate(measures):
        n = deco.first_measure + m_index
        last = m_index == len(measures) - 1
        right = deco.final_barline if last and closed else ("invis" if last else "single")
        # a first-time ending over the last bar, closed by a repeat sign (a bar line in the
        # truth: stave text writes repeats as bar lines)
        ending = deco.ending and last and closed and len(measures) > 1
        if ending:
            right = "rptend"
            out.append('<ending n="1" label="1.">')
        layer: list[str] = []
        controls: list[str] = []
        items, pre_def = _measure_items(measure, rng, deco)
        if pre_def:
            out.append(f"<scoreDef {' '.join(pre_def)}/>")
        if deco.follow_metre:
            beat = next((beat_quarters(t) for t in reversed(measure) if isinstance(t, Time)), beat)
        groups = _beam_groups(items, beat) if deco.beams else []
        starts = {s: e for s, e in groups}
        ends = {e for _, e in groups}
        for i, (tok, _) in enumerate(items):
            if i in starts:
                layer.append("<beam>")
            if isinstance(tok, Clef):
                s, ln = stavetext.clef_sign(tok.name)
                layer.append(f'<clef shape="{s}" line="{ln}"/>')
                clef = tok.name
            elif isinstance(tok, Key):
                layer.append(f'<keySig sig="{_keysig(tok.fifths)}"/>')
            elif isinstance(tok, Time):
                sign = _meter_sign(tok, rng, deco)
                sym = f' sym="{sign}"' if sign else ""
                layer.append(f'<meterSig count="{tok.numerator}" unit="{tok.denominator}"{sym}/>')
            elif isinstance(tok, Rest):
                layer.append(f"<rest{_dur_attrs(tok.duration)}/>")
                prev_note = None
            elif isinstance(tok, Note):
                note_id += 1
                xml_id = f"n{note_id}"
                layer.append(_note_element(tok, xml_id, clef, rng, deco))
                controls.extend(_note_controls(tok, xml_id, prev_note, controls, rng, deco))
                prev_note = (xml_id, tok)
            if i in ends:
                layer.append("</beam>")
        # A number printed at the start of the stave, as on a page's later staves.
        mnum = f"<mNum>{n}</mNum>" if m_index == 0 and n > 1 else ""
        out.append(
            f'<measure n="{n}" right="{right}">{mnum}<staff n="1"><layer n="1">'
            + "".join(layer)
            + "</layer></staff>"
            + "".join(controls)
            + "</measure>"
        )
        if ending:
            out.append("</ending>")
    out.append("</section></score></mdiv></body></music></mei>")
    return "\n".join(out)
