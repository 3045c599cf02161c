"""Stave text: parse a line into typed tokens and write it back.

The format is the contract between the OMR and the generators (``stave/STAVE-FORMAT.md``).
This module knows only the text; ``stave.musicxml`` turns tokens into music21 objects.

A stave line is a sequence of tokens separated by single spaces.  ``parse_line`` accepts exactly
the canonical spelling of every token, so ``write_line(parse_line(s)) == s`` for every ``s`` it
accepts; anything else raises :class:`StaveTextError` naming the line and column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

DURATION_BASES = (1, 2, 4, 8, 16, 32, 64)
CLEFS = ("G2", "F4", "C3", "C4")
# Clef geometry, the one copy: the diatonic number (C0 = 0, D0 = 1, ...) of each clef's bottom
# staff line (E4, G2, F3, D3).  Staff position 2 is the bottom line (STAVE-FORMAT.md).
BOTTOM_LINE = {"G2": 4 * 7 + 2, "F4": 2 * 7 + 4, "C3": 3 * 7 + 3, "C4": 3 * 7 + 1}
ACCIDENTALS = {"^^": 2, "^": 1, "=": 0, "_": -1, "__": -2}
ACCIDENTAL_TEXT = {alter: text for text, alter in ACCIDENTALS.items()}
MAX_KEY = 7
# Every character stave text can hold (comments aside): what a model of it must know even
# where its corpus never used one (a C clef, a 64th, a double flat).
ALPHABET = "".join(sorted(set("0123456789+-.:/=^_r| \n" + "clef:keytime" + "".join(CLEFS))))


class StaveTextError(ValueError):
    """Malformed stave text; ``line`` and ``column`` are 1-based."""

    def __init__(self, message: str, line: int = 1, column: int = 1, source: str = "") -> None:
        self.reason = message
        self.line = line
        self.column = column
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}line {line}, column {column}: {message}")


@dataclass(frozen=True)
class Duration:
    """A printed note value: ``base`` 1 (whole) .. 64, with 0-2 augmentation dots."""

    base: int = 4
    dots: int = 0

    @property
    def quarter_length(self) -> float:
        value = 4.0 / self.base
        return value * (2.0 - 0.5**self.dots)

    def __str__(self) -> str:
        return f"{self.base}{'.' * self.dots}"


@dataclass(frozen=True)
class Note:
    """A notehead at staff step ``step`` (2 = bottom line, 3 = first space, ...)."""

    step: int
    accidental: int | None = None  # printed alteration in semitones, None when none is printed
    duration: Duration | None = None  # None: the pitch-only labelling (read as a quarter)

    @property
    def position(self) -> str:
        return position_text(self.step)


@dataclass(frozen=True)
class Rest:
    duration: Duration | None = None


@dataclass(frozen=True)
class Bar:
    pass


@dataclass(frozen=True)
class Clef:
    name: str  # one of CLEFS


@dataclass(frozen=True)
class Key:
    fifths: int  # sharps positive, flats negative


@dataclass(frozen=True)
class Time:
    numerator: int
    denominator: int

    @property
    def quarters(self) -> float:
        """Quarter notes in a full bar."""
        return self.numerator * 4 / self.denominator


Token = Note | Rest | Bar | Clef | Key | Time


def diatonic(step: int, clef: str) -> int:
    """The diatonic number (C0 = 0) of staff position ``step`` under ``clef``."""
    return BOTTOM_LINE[clef] + step - 2


def staff_step(diatonic_number: int, clef: str) -> int:
    """The staff position of a diatonic number (C0 = 0) under ``clef``: ``diatonic``'s inverse."""
    return diatonic_number - BOTTOM_LINE[clef] + 2


def clef_sign(clef: str) -> tuple[str, int]:
    """A clef's sign and the staff line it sits on (1 = bottom): "F4" -> ("F", 4)."""
    return clef[0], int(clef[1])


def position_text(step: int) -> str:
    """Staff step -> label: 2 -> ``1``, 3 -> ``1+``, 1 -> ``0+``, -1 -> ``-1+``."""
    line, space = divmod(step, 2)
    return f"{line}{'+' if space else ''}"


_INT = r"(?:0|[1-9][0-9]*)"
_DURATION = r"(?P<base>1|2|4|8|16|32|64)(?P<dots>\.{0,2})"
_NOTE_RE = re.compile(
    rf"(?P<acc>\^\^|\^|__|_|=)?(?P<neg>-)?(?P<line>{_INT})(?P<plus>\+)?(?::{_DURATION})?"
)
_REST_RE = re.compile(rf"r(?::{_DURATION})?")
_KEY_RE = re.compile(rf"key:(?P<neg>-)?(?P<n>{_INT})")
_TIME_RE = re.compile(r"time:(?P<num>[1-9][0-9]?)/(?P<den>1|2|4|8|16|32|64)")


def _duration(match: re.Match[str]) -> Duration | None:
    if match.group("base") is None:
        return None
    return Duration(int(match.group("base")), len(match.group("dots")))


def parse_token(text: str) -> Token:
    """Parse one token; raises ``StaveTextError`` (column 1) when it is not canonical."""
    if text == "|":
        return Bar()
    if match := _NOTE_RE.fullmatch(text):
        line = int(match.group("line"))
        if match.group("neg"):
            if line == 0:
                raise StaveTextError(f"'-0' is not a position in {text!r}")
            line = -line
        step = 2 * line + (1 if match.group("plus") else 0)
        acc = match.group("acc")
        return Note(step, ACCIDENTALS[acc] if acc else None, _duration(match))
    if match := _REST_RE.fullmatch(text):
        return Rest(_duration(match))
    if text.startswith("clef:"):
        name = text[5:]
        if name not in CLEFS:
            raise StaveTextError(f"unknown clef {name!r} (expected one of {', '.join(CLEFS)})")
        return Clef(name)
    if match := _KEY_RE.fullmatch(text):
        fifths = int(match.group("n"))
        if match.group("neg"):
            if fifths == 0:
                raise StaveTextError("write key:0, not key:-0")
            fifths = -fifths
        if abs(fifths) > MAX_KEY:
            raise StaveTextError(f"key signature {fifths} is outside -7..7")
        return Key(fifths)
    if match := _TIME_RE.fullmatch(text):
        return Time(int(match.group("num")), int(match.group("den")))
    raise StaveTextError(f"unknown token {text!r}")


def write_token(token: Token) -> str:
    if isinstance(token, Note):
        acc = "" if token.accidental is None else ACCIDENTAL_TEXT[token.accidental]
        dur = "" if token.duration is None else f":{token.duration}"
        return f"{acc}{token.position}{dur}"
    if isinstance(token, Rest):
        return "r" if token.duration is None else f"r:{token.duration}"
    if isinstance(token, Bar):
        return "|"
    if isinstance(token, Clef):
        return f"clef:{token.name}"
    if isinstance(token, Key):
        return f"key:{token.fifths}"
    if isinstance(token, Time):
        return f"time:{token.numerator}/{token.denominator}"
    raise TypeError(f"not a stave-text token: {token!r}")


def parse_line(text: str, line_number: int = 1, source: str = "") -> list[Token]:
    """Parse one stave line (no newline).  An empty line has no tokens."""
    if text == "":
        return []
    tokens: list[Token] = []
    column = 1
    for word in text.split(" "):
        if word == "":
            raise StaveTextError(
                "tokens must be separated by single spaces", line_number, column, source
            )
        try:
            tokens.append(parse_token(word))
        except StaveTextError as err:
            raise StaveTextError(err.reason, line_number, column, source) from None
        column += len(word) + 1
    return tokens


def write_line(tokens: Iterable[Token]) -> str:
    return " ".join(write_token(t) for t in tokens)


def is_comment(line: str) -> bool:
    return line.startswith("%")


def split_pieces(text: str, source: str = "") -> list[list[list[Token]]]:
    """Parse a whole stave-text document: pieces (blank-line separated) of staves of tokens."""
    pieces: list[list[list[Token]]] = []
    current: list[list[Token]] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if is_comment(line):
            continue
        if line.strip() == "":
            if current:
                pieces.append(current)
                current = []
            continue
        current.append(parse_line(line, number, source))
    if current:
        pieces.append(current)
    return pieces


def iter_lines(text: str) -> Iterator[tuple[int, str]]:
    """Non-comment, non-blank lines with their 1-based numbers."""
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if line.strip() and not is_comment(line):
            yield number, line


def is_stave_text(text: str, sample_lines: int = 200) -> bool:
    """True when the first ``sample_lines`` content lines of ``text`` all parse."""
    seen = 0
    for number, line in iter_lines(text):
        try:
            parse_line(line, number)
        except StaveTextError:
            return False
        seen += 1
        if seen >= sample_lines:
            break
    return seen > 0


def pitch_only(tokens: Sequence[Token]) -> list[Token]:
    """The original labelling: note positions alone, no durations, rests, bars or headers."""
    return [Note(t.step) for t in tokens if isinstance(t, Note)]
