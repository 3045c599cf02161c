"""Scoring as ``stave/STAVE-FORMAT.md`` defines it.

Symbol error rate (SER): edit distance between the note and rest symbols of output and truth,
over the number of truth symbols.  Headers, bar lines and accidentals are left out; a note
symbol is ``POSITION:DURATION`` (a missing duration counts as ``4``).  Pitch SER uses note
positions alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from stave.stavetext import Duration, Note, Rest, Token, position_text


def edit_distance(a: Sequence[object], b: Sequence[object]) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        cur = [i]
        for j, y in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def symbols(tokens: Sequence[Token]) -> list[str]:
    """Note and rest symbols for SER: ``3+:8``, ``r:4`` (missing durations count as 4)."""
    out = []
    for t in tokens:
        if isinstance(t, Note):
            out.append(f"{position_text(t.step)}:{t.duration or Duration(4)}")
        elif isinstance(t, Rest):
            out.append(f"r:{t.duration or Duration(4)}")
    return out


def pitches(tokens: Sequence[Token]) -> list[str]:
    return [position_text(t.step) for t in tokens if isinstance(t, Note)]


def errors(output: Sequence[Token], truth: Sequence[Token]) -> tuple[int, int, int, int]:
    """(symbol edits, truth symbols, pitch edits, truth notes) for one stave."""
    s_out, s_truth = symbols(output), symbols(truth)
    p_out, p_truth = pitches(output), pitches(truth)
    return edit_distance(s_out, s_truth), len(s_truth), edit_distance(p_out, p_truth), len(p_truth)
