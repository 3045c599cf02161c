"""A stave image's truth, read from its file: one stave-text line per stave (blank lines
passed over), with the printed sharps and flats of a ``NAME.semantic`` beside it put in
(``omr.data.semantic``: the CPMS photos' ``.txt`` truths carry none).  Read alike by the
evaluation (``omr.evaluate``) and by training on photos (``omr.data.training_set``)."""

from __future__ import annotations

from pathlib import Path

from omr.data.semantic import SemanticError, add_semantic_accidentals
from stave.stavetext import StaveTextError, Token, parse_line


class TruthError(ValueError):
    """A truth file that cannot be used; the message names it and says why."""


def read_truth(truth_file: Path) -> list[list[Token]]:
    """A truth file's staves; ``TruthError`` naming the file when it cannot be read, is not
    UTF-8 stave text, holds no stave, or its ``.semantic`` does not fit it."""
    if not truth_file.is_file():
        raise TruthError(f"{truth_file}: not a regular file")
    try:
        text = truth_file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise TruthError(
            f"{truth_file}: truth is not UTF-8 text (byte 0x{err.object[err.start]:02x} "
            f"at offset {err.start})"
        ) from None
    except OSError as err:
        raise TruthError(f"{truth_file}: cannot read ({err.strerror or err})") from None
    try:
        truth = [
            parse_line(line.strip(), n, str(truth_file))
            for n, line in enumerate(text.splitlines(), 1)
            if line.strip()
        ]
    except StaveTextError as err:
        raise TruthError(f"truth is not stave text: {err}") from None
    if not truth:
        raise TruthError(f"{truth_file}: empty truth (no stave-text line)")
    try:
        return add_semantic_accidentals(truth_file, truth)
    except SemanticError as err:
        raise TruthError(str(err)) from None
