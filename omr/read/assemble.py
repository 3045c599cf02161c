"""Stage 4 of the OMR: recognized staves -> stave-text lines and a score.

Every stave line starts with ``clef:`` and ``key:`` (they are printed on every staff line,
STAVE-FORMAT.md).  Where the recognizer missed one, the clef or key in force at the end of the
previous stave of the same piece is written (``clef:G2 key:0`` before the first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from stave.stavetext import Clef, Key, Token, pitch_only, write_line


@dataclass(frozen=True)
class Context:
    """The clef and key in force: what a stave without its own header continues with."""

    clef: Clef = field(default_factory=lambda: Clef("G2"))
    key: Key = field(default_factory=lambda: Key(0))


def with_header(tokens: Sequence[Token], context: Context) -> tuple[list[Token], Context]:
    """The stave's tokens starting ``clef:`` ``key:``, and the context it leaves in force."""
    body = list(tokens)
    clef, key = context.clef, context.key
    # The leading clef and key, in either order (a key read before the clef is still this
    # stave's key).
    seen: set[type] = set()
    while body and isinstance(body[0], Clef | Key) and type(body[0]) not in seen:
        head = body.pop(0)
        seen.add(type(head))
        if isinstance(head, Clef):
            clef = head
        elif isinstance(head, Key):
            key = head
    line: list[Token] = [clef, key, *body]
    for tok in body:  # changes inside the line hold for the next stave
        if isinstance(tok, Clef):
            clef = tok
        elif isinstance(tok, Key):
            key = tok
    return line, Context(clef, key)


def piece_lines(staves: Sequence[Sequence[Token]]) -> list[list[Token]]:
    """Staves of one piece, in reading order, each with its header."""
    context = Context()
    out = []
    for stave in staves:
        line, context = with_header(stave, context)
        out.append(line)
    return out


def format_line(tokens: Sequence[Token], fmt: str = "full") -> str:
    """A stave as a line of text: ``full`` stave text or the original ``pitch`` labelling."""
    if fmt == "pitch":
        return write_line(pitch_only(tokens))
    if fmt != "full":
        raise ValueError(f"unknown format {fmt!r} (full or pitch)")
    return write_line(tokens)
