"""The recognizer's output symbols: stave-text tokens, with notes split in three.

A note ``^3+:8.`` is read as the symbols ``^``, ``3+``, ``:8.`` (accidental, position,
duration), so that about a hundred symbols cover every note instead of thousands of
combinations; a time signature ``time:6/8`` as what is printed, its numerator ``time:6/``
over its denominator ``time:/8``, so each digit is learned from every metre that shows it;
rests (``r:8``), bar lines, clefs and keys are one symbol each.  (Recognizers trained before
the time signature was split hold one symbol per metre, ``time:6/8``; their vocabulary is
read from their checkpoint and decodes as before.)  ``assemble`` turns
a decoded symbol sequence back into tokens, dropping what does not fit together.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from stave.stavetext import (
    ACCIDENTAL_TEXT,
    ACCIDENTALS,
    CLEFS,
    DURATION_BASES,
    Bar,
    Clef,
    Duration,
    Key,
    Note,
    Rest,
    Time,
    Token,
    parse_token,
    position_text,
)

MIN_STEP, MAX_STEP = -10, 24  # seven ledger lines below the staff to seven above
NUMERATORS = range(1, 13)
DENOMINATORS = (1, 2, 4, 8, 16)
DURATIONS = [Duration(b, d) for b in DURATION_BASES for d in range(3)]


def numerator_symbol(n: int) -> str:
    return f"time:{n}/"


def denominator_symbol(d: int) -> str:
    return f"time:/{d}"


def _symbols() -> list[str]:
    out = ["|"]
    out += [f"clef:{c}" for c in CLEFS]
    out += [f"key:{k}" for k in range(-7, 8)]
    out += [numerator_symbol(n) for n in NUMERATORS]
    out += [denominator_symbol(d) for d in DENOMINATORS]
    out += list(ACCIDENTALS)
    out += [position_text(s) for s in range(MIN_STEP, MAX_STEP + 1)]
    out += [f":{d}" for d in DURATIONS]
    out += ["r"] + [f"r:{d}" for d in DURATIONS]
    return out


@dataclass(frozen=True)
class SymbolVocab:
    symbols: tuple[str, ...]  # index 0 is the CTC blank, not listed here

    @classmethod
    def default(cls) -> SymbolVocab:
        return cls(tuple(_symbols()))

    def __len__(self) -> int:
        return len(self.symbols) + 1  # with the blank

    @functools.cached_property
    def index(self) -> dict[str, int]:  # built once: encoding looks it up per symbol
        return {s: i + 1 for i, s in enumerate(self.symbols)}

    def encode(self, tokens: Sequence[Token]) -> list[int]:
        """Token sequence -> symbol ids; raises ``KeyError`` for what the vocabulary lacks."""
        index = self.index
        ids: list[int] = []
        for tok in tokens:
            if isinstance(tok, Note):
                if tok.accidental is not None:
                    ids.append(index[ACCIDENTAL_TEXT[tok.accidental]])
                ids.append(index[position_text(tok.step)])
                if tok.duration is not None:
                    ids.append(index[f":{tok.duration}"])
            elif isinstance(tok, Rest):
                ids.append(index["r" if tok.duration is None else f"r:{tok.duration}"])
            elif isinstance(tok, Bar):
                ids.append(index["|"])
            elif isinstance(tok, Clef):
                ids.append(index[f"clef:{tok.name}"])
            elif isinstance(tok, Key):
                ids.append(index[f"key:{tok.fifths}"])
            elif isinstance(tok, Time):
                whole = f"time:{tok.numerator}/{tok.denominator}"
                if whole in index:  # a recognizer of one symbol per metre
                    ids.append(index[whole])
                else:
                    ids.append(index[numerator_symbol(tok.numerator)])
                    ids.append(index[denominator_symbol(tok.denominator)])
        return ids

    def covers(self, tokens: Sequence[Token]) -> bool:
        try:
            self.encode(tokens)
        except KeyError:
            return False
        return True

    def assemble(self, ids: Sequence[int]) -> list[Token]:
        """Symbol ids -> tokens.  A position makes a note (with the accidental just before
        it and the duration just after it); a numerator and the denominator right after it
        make a time signature; a lone accidental, duration, numerator or denominator is
        dropped."""
        tokens: list[Token] = []
        accidental: int | None = None
        last_note: int | None = None  # index in tokens of a note still open for a duration
        numerator: int | None = None  # a time signature's numerator waiting for its denominator
        for i in ids:
            if i <= 0 or i > len(self.symbols):
                continue
            sym = self.symbols[i - 1]
            if sym.startswith("time:/"):
                if numerator is not None:
                    tokens.append(Time(numerator, int(sym[len("time:/") :])))
                numerator, accidental, last_note = None, None, None
                continue
            numerator = None
            if sym.startswith("time:") and sym.endswith("/"):
                numerator = int(sym[len("time:") : -1])
                accidental, last_note = None, None
                continue
            if sym in ACCIDENTALS:
                accidental = ACCIDENTALS[sym]
                last_note = None
                continue
            if sym.startswith(":"):
                if last_note is not None:
                    note = tokens[last_note]
                    assert isinstance(note, Note)
                    tokens[last_note] = Note(note.step, note.accidental, parse_duration(sym[1:]))
                last_note = None
                continue
            tok = parse_token(sym)
            if isinstance(tok, Note):
                tokens.append(Note(tok.step, accidental, None))
                last_note = len(tokens) - 1
            else:
                tokens.append(tok)
                last_note = None
            accidental = None
        return tokens


def parse_duration(text: str) -> Duration:
    dots = len(text) - len(text.rstrip("."))
    return Duration(int(text.rstrip(".")), dots)


def related_symbols(new: SymbolVocab, old: SymbolVocab) -> list[list[int]]:
    """For each output of a recognizer of vocabulary ``new`` (the blank first), the outputs of
    one of vocabulary ``old`` that it is or stands for, to start its weights from: the same
    symbol; a numerator or denominator the one-symbol-per-metre times that print it; none
    for a symbol ``old`` has no relative of."""
    old_index = old.index
    rows: list[list[int]] = [[0]]
    for sym in new.symbols:
        if sym in old_index:
            rows.append([old_index[sym]])
        elif sym.startswith("time:/"):
            rows.append([i for s, i in old_index.items() if _whole_time(s, den=sym[6:])])
        elif sym.startswith("time:") and sym.endswith("/"):
            rows.append([i for s, i in old_index.items() if _whole_time(s, num=sym[5:-1])])
        else:
            rows.append([])
    return rows


def _whole_time(sym: str, num: str | None = None, den: str | None = None) -> bool:
    if not sym.startswith("time:") or sym.endswith("/") or sym.startswith("time:/"):
        return False
    n, _, d = sym[len("time:") :].partition("/")
    return (num is None or n == num) and (den is None or d == den)
