"""Scoring as ``stave/STAVE-FORMAT.md`` defines it.

Symbol error rate (SER): edit distance between the note and rest symbols of output and truth,
over the number of truth symbols.  Headers, bar lines and accidentals are left out; a note
symbol is ``POSITION:DURATION`` (a missing duration counts as ``4``).  Pitch SER uses note
positions alone.

``score`` adds what a player hears and the rest of the page: sounding-pitch SER (the MIDI
pitches as clef, key signature and accidentals held to the bar line make them), full-token
SER (every token but printed accidentals: headers and bar lines too), bar-line errors (a bar
line is right where it follows as many notes and rests as in the truth), and per stave the
key and time signatures and whether it was read entirely right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass

from stave.musicxml import stave_pitches
from stave.stavetext import Bar, Duration, Key, Note, Rest, Time, Token, position_text, write_token


def edit_distance(a: Sequence[object], b: Sequence[object]) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        cur = [i]
        for j, y in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def _symbol(t: Note | Rest) -> str:
    """``3+:8``, ``r:4``: a note's position (its accidental left out) or a rest, and its
    duration (a missing one counts as 4)."""
    where = position_text(t.step) if isinstance(t, Note) else "r"
    return f"{where}:{t.duration or Duration(4)}"


def symbols(tokens: Sequence[Token]) -> list[str]:
    """Note and rest symbols for SER: ``3+:8``, ``r:4`` (missing durations count as 4)."""
    return [_symbol(t) for t in tokens if isinstance(t, Note | Rest)]


def pitches(tokens: Sequence[Token]) -> list[str]:
    return [position_text(t.step) for t in tokens if isinstance(t, Note)]


def durations(tokens: Sequence[Token]) -> list[str]:
    """The duration of each note and rest (``8.``; a missing one counts as 4): what the
    beams, flags, stems and dots say, whatever the position."""
    return [str(t.duration or Duration(4)) for t in tokens if isinstance(t, Note | Rest)]


def errors(output: Sequence[Token], truth: Sequence[Token]) -> tuple[int, int, int, int]:
    """(symbol edits, truth symbols, pitch edits, truth notes) for one stave."""
    s_out, s_truth = symbols(output), symbols(truth)
    p_out, p_truth = pitches(output), pitches(truth)
    return edit_distance(s_out, s_truth), len(s_truth), edit_distance(p_out, p_truth), len(p_truth)


# What a player hears, and the rest of the page (issue 16).  Staves are paired by their
# order; a stave one side lacks counts wholly wrong.


@dataclass
class Counts:
    """Edits and totals of one file or many (they add up with ``+``)."""

    symbol_edits: int = 0  # notes and rests as POSITION:DURATION (the SER)
    symbols: int = 0
    pitch_edits: int = 0  # note positions
    pitches: int = 0
    duration_edits: int = 0  # the durations of notes and rests
    durations: int = 0
    sounding_edits: int = 0  # MIDI pitches as they sound (clef, key, accidentals held)
    sounding: int = 0
    token_edits: int = 0  # every token but printed accidentals
    tokens: int = 0
    bar_edits: int = 0  # bar lines, each placed by the notes and rests before it
    bars: int = 0
    staves: int = 0  # of the truth
    staves_exact: int = 0  # read entirely right, every token and accidental
    keys: int = 0  # staves whose key signature is compared (the truth's, paired)
    keys_right: int = 0
    times: int = 0  # staves where the truth or the reading prints a time signature
    times_right: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    def rate(self, edits: str, total: str) -> float:
        return getattr(self, edits) / max(1, getattr(self, total))


def sounding_pitches(tokens: Sequence[Token]) -> list[int]:
    """The MIDI pitch of each note of a stave as it sounds: clef and position, altered by
    the key signature, then by a printed accidental held to the bar line (as
    ``stave.musicxml`` engraves and MuseScore plays it)."""
    return [p.midi for p in stave_pitches(tokens)]


def full_tokens(tokens: Sequence[Token]) -> list[str]:
    """Every token as text, printed accidentals left out (a missing duration counts as 4)."""
    return [_symbol(t) if isinstance(t, Note | Rest) else write_token(t) for t in tokens]


def bar_places(tokens: Sequence[Token]) -> list[int]:
    """Where each bar line falls: the number of notes and rests before it."""
    places, count = [], 0
    for t in tokens:
        if isinstance(t, Note | Rest):
            count += 1
        elif isinstance(t, Bar):
            places.append(count)
    return places


def _signature(tokens: Sequence[Token], kind: type) -> list[str]:
    return [write_token(t) for t in tokens if isinstance(t, kind)]


def score(read: Sequence[Sequence[Token]], truth: Sequence[Sequence[Token]]) -> Counts:
    """Every measure of one file: its staves joined for the edit distances (so a missed or
    extra stave costs its symbols), paired by order for the per-stave shares."""
    flat_read = [t for line in read for t in line]
    flat_truth = [t for line in truth for t in line]
    c = Counts()
    c.symbol_edits, c.symbols, c.pitch_edits, c.pitches = errors(flat_read, flat_truth)
    d_read, d_truth = durations(flat_read), durations(flat_truth)
    c.duration_edits, c.durations = edit_distance(d_read, d_truth), len(d_truth)
    s_read = [p for line in read for p in sounding_pitches(line)]
    s_truth = [p for line in truth for p in sounding_pitches(line)]
    c.sounding_edits, c.sounding = edit_distance(s_read, s_truth), len(s_truth)
    t_read, t_truth = full_tokens(flat_read), full_tokens(flat_truth)
    c.token_edits, c.tokens = edit_distance(t_read, t_truth), len(t_truth)
    for k, truth_line in enumerate(truth):
        read_line = read[k] if k < len(read) else []
        b_read, b_truth = bar_places(read_line), bar_places(truth_line)
        c.bar_edits += edit_distance(b_read, b_truth)
        c.bars += len(b_truth)
        c.staves += 1
        c.staves_exact += [write_token(t) for t in read_line] == [
            write_token(t) for t in truth_line
        ]
        c.keys += 1
        # a stave with no key token reads as key:0 (STAVE-FORMAT.md); a missed one is wrong
        keys = [_signature(line, Key)[:1] or ["key:0"] for line in (read_line, truth_line)]
        c.keys_right += k < len(read) and keys[0] == keys[1]
        times_read, times_truth = _signature(read_line, Time), _signature(truth_line, Time)
        if times_read or times_truth:
            c.times += 1
            c.times_right += times_read == times_truth
    for read_line in read[len(truth) :]:  # staves read that the truth does not have
        c.bar_edits += len(bar_places(read_line))
        if _signature(read_line, Time):
            c.times += 1
    return c
