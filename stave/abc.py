"""ABC text as tunes: files read whatever their encoding, cut at ``X:``, brought to ABC 2.1.

Both halves read ABC this way: the char-LSTM's corpora (``generate.charlstm.corpus``) and the
OMR's clean staves, engraved from real melodies (``omr.data.fragments``).
"""

from __future__ import annotations

import errno
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

X_LINE = re.compile(r"^X:", re.MULTILINE)
# A field line ("K:G", "w:lyrics"); a music line may start with a note and a repeat ("D:|").
FIELD = re.compile(r"^[A-Za-z]:(?![|:])")
_FIELD = FIELD
_QUOTED = re.compile(r'"([^"\n]*)"')
# A chord symbol as ABC players read one: root, quality, extensions, bass ("Am7", "G/B", "F#m").
_CHORD = re.compile(
    r"\(?[A-G][#b]?(?:m|min|maj|M|dim|aug|sus|\+|o)?[0-9]*"
    r"(?:(?:sus|add|maj)?[0-9]+|[#b][0-9]+)*(?:/[A-Ga-g][#b]?)?\)?"
)


@dataclass(frozen=True)
class Piece:
    text: str  # no blank line inside, no trailing newline
    source: str  # file (and tune number) it came from


def decode_text(data: bytes) -> str:
    """Text from a file's bytes: UTF-8, or Latin-1 where that fails; newlines made ``\\n``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # old ABC collections are often Latin-1
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_bytes(path: Path) -> bytes:
    """A regular file's bytes; ``OSError`` naming it for a folder, FIFO, socket or device
    (reading a FIFO would wait for ever)."""
    mode = path.stat().st_mode  # FileNotFoundError names the file
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    if not stat.S_ISREG(mode):
        raise OSError(errno.EINVAL, "not a regular file (a FIFO, socket or device)", str(path))
    return path.read_bytes()


def read_text(path: Path) -> str:
    return decode_text(read_bytes(path))


def clean_lines(lines: Iterable[str]) -> list[str]:
    """Strip trailing blanks and drop blank lines (a blank line would end the piece)."""
    return [line.rstrip() for line in lines if line.strip()]


def _annotate(match: re.Match[str]) -> str:
    body = match.group(1)
    if not body or body[0] in "^_<>@" or _CHORD.fullmatch(body):
        return match.group(0)
    return f'"^{body}"'


def normalize_abc(lines: list[str]) -> list[str]:
    """Bring a tune's lines to ABC 2.1 where old collections stray, keeping all the music.

    - ``I:`` lines that hold no instruction (Aird's Airs uses ``I: :: ::`` as private markup)
      are dropped;
    - free text in plain quotes in the tune body (``"Fine"``, ``"D.C."``, ``"SEGUE"``), which
      players would read as a chord symbol, becomes an annotation above the staff
      (``"^Fine"``); chord symbols (``"Am7"``, ``"G/B"``) stay as they are.
    """
    out = []
    for line in lines:
        if line.startswith("I:") and not re.match(r"I:\s*[A-Za-z]", line):
            continue
        if not _FIELD.match(line) and '"' in line:
            line = _QUOTED.sub(_annotate, line)
        out.append(line)
    return out


def split_abc(text: str, source: str) -> list[Piece]:
    """Cut an ABC file into tunes, each from its ``X:`` line to the next tune or blank line.

    Text before the first ``X:`` (file header, free comments) is not part of any tune; each
    tune is normalised by ``normalize_abc``.
    """
    pieces = []
    starts = [m.start() for m in X_LINE.finditer(text)]
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        block = text[start:end]
        # A tune ends at the first blank line; what follows it is inter-tune text.
        body = re.split(r"\n[ \t]*\n", block, maxsplit=1)[0]
        lines = normalize_abc(clean_lines(body.split("\n")))
        if len(lines) >= 2:
            pieces.append(Piece("\n".join(lines), f"{source}#{i + 1}"))
    return pieces


def music21_abc_paths() -> list[Path]:
    from music21 import corpus

    return sorted(Path(p) for p in corpus.getPaths(fileExtensions=["abc"]))


# An inline field ("[K:G]", "[M:3/4]") in a tune body; a chord ("[CEG]") never holds a colon.
INLINE_FIELD = re.compile(r"\[([A-Za-z]):([^\]\n]*)\]")
# Inline fields that change how the notes after them read; the others ("[r:remark]",
# "[I:...]") are left out for music21, which would read their text as notes.
_INLINE_KEPT = set("KMLQPV")
_VERSION = re.compile(r"^%abc-\d.*\n?", re.MULTILINE)
_NOTE_THEN_REPEATS = re.compile(r"(?<=[A-Ga-gz,'0-9/])::")  # "A::": music21 loses the A
_TEXT_OR_H = re.compile(r'"[^"]*"|![^!]*!|\[[A-Za-z]:[^\]]*\]|%.*|H')


def for_music21(text: str) -> str:
    """An ABC tune rewritten so that music21 reads its notes as abc2midi plays them.

    - A ``%abc-2.1`` line is put first (in place of any the tune has): music21 carries an
      accidental to the end of the bar only for ABC 2, abc2midi whatever the version.
    - Inline fields in the body become field lines of their own (the line is broken around
      them): music21 reads ``[K:F]`` as a chord and would keep the old key's pitches.
    - The fermata ``H`` is spelt ``!fermata!``: music21 loses the note after an ``H``, and
      a space goes before a ``::`` right after a note, and annotations (``"^Fine"``,
      ``">"``) are left out: music21 loses the note after each; so are header lines that
      are no field.
    """

    def field_line(match: re.Match[str]) -> str:
        name, value = match.group(1), match.group(2).strip()
        return f"\n{name}:{value}\n" if name in _INLINE_KEPT else " "

    lines = []
    in_body = False
    for line in text.split("\n"):
        if not in_body:
            # A header line that is no field is dropped: music21 would read a stray
            # "N bars 13 are |f2ed|" as notes.
            if _FIELD.match(line) or line.startswith(("%", "+:")):
                lines.append(line)
            in_body = line.startswith("K:")
            continue
        if _FIELD.match(line) or line.startswith("%"):
            lines.append(line)
            continue
        line = _TEXT_OR_H.sub(lambda m: "!fermata!" if m.group(0) == "H" else m.group(0), line)
        line = _NOTE_THEN_REPEATS.sub(" ::", line)
        line = _QUOTED.sub(lambda m: "" if m.group(1)[:1] in "^_<>@" else m.group(0), line)
        if INLINE_FIELD.search(line):
            split = INLINE_FIELD.sub(field_line, line).split("\n")
            lines.extend(part for part in split if part.strip())
        else:
            lines.append(line)
    out = "\n".join(lines)
    return "%abc-2.1\n" + _VERSION.sub("", out)
