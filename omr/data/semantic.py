"""A photo's printed accidentals from its PrIMuS semantic encoding (``NAME.semantic``).

The CPMS photos (``../shared/data/cpms-train``) come with two truths. ``NAME.txt`` is stave
text with every note's place and duration, but it carries no printed accidental at all (not
one in its 14,667 notes); ``NAME.semantic`` names every note with the sharps and flats
printed before it (``note-Eb5_quarter.``), though not the key signature's (``note-F4`` in D
major is an F-sharp) and not printed naturals (the encoding has no natural). Its notes are
the ``.txt``'s, one for one, in the same order and on the same staff steps. So the truth a
sounding pitch is scored against is the ``.txt`` with the semantic's sharps and flats put in
as printed accidentals; a natural a photo prints stays unknown to the truth.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from stave.musicxml import step_pitch
from stave.stavetext import Clef, Note, Token

# note-Bb4_quarter., gracenote-C#5_eighth, note-F##4_half_fermata: name, accidental, octave
NOTE = re.compile(r"(?:grace)?note-([A-G])(##|#|bb|b)?(-?\d+)_")
ALTER = {"#": 1, "##": 2, "b": -1, "bb": -2}


class SemanticError(ValueError):
    """A semantic encoding that does not fit its stave-text truth."""


def semantic_notes(text: str) -> list[tuple[str, int | None]]:
    """Each note of a semantic encoding: its name with octave (``"E5"``) and the sharps or
    flats printed before it (``-1``), None when none is named."""
    out = []
    for word in text.split():
        m = NOTE.match(word)
        if m is not None:
            name, sign, octave = m.groups()
            out.append((f"{name}{octave}", ALTER[sign] if sign else None))
    return out


def with_printed_accidentals(
    staves: Sequence[Sequence[Token]], semantic: str, source: str = ""
) -> list[list[Token]]:
    """``staves`` with every note's printed accidental taken from ``semantic`` where it names
    a sharp or a flat (others keep their own).  ``SemanticError`` when the two do not hold
    the same notes on the same steps."""
    named = semantic_notes(semantic)
    where = f"{source}: " if source else ""
    count = sum(isinstance(t, Note) for stave in staves for t in stave)
    if count != len(named):
        msg = f"{where}the semantic encoding names {len(named)} notes, the truth holds {count}"
        raise SemanticError(msg)
    notes = iter(enumerate(named, 1))
    out = []
    for stave in staves:
        clef, line = "G2", []
        for tok in stave:
            if isinstance(tok, Clef):
                clef = tok.name
            elif isinstance(tok, Note):
                k, (name, alter) = next(notes)
                printed = step_pitch(tok.step, clef).nameWithOctave
                if printed != name:
                    msg = f"{where}note {k} is {printed} in the truth, {name} in the semantic"
                    raise SemanticError(msg)
                if alter is not None:
                    tok = replace(tok, accidental=alter)
            line.append(tok)
        out.append(line)
    return out


def semantic_beside(truth_file: Path) -> Path | None:
    """``NAME.semantic`` beside a truth ``NAME.txt``, if there is one."""
    path = truth_file.with_suffix(".semantic")
    return path if path.is_file() else None


def add_semantic_accidentals(truth_file: Path, staves: list[list[Token]]) -> list[list[Token]]:
    """A truth's staves with the printed sharps and flats of ``NAME.semantic`` beside it
    (``with_printed_accidentals``); unchanged where there is none."""
    path = semantic_beside(truth_file)
    if path is None:
        return staves
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        msg = f"{path}: cannot read ({err})"
        raise SemanticError(msg) from None
    return with_printed_accidentals(staves, text, str(path))
