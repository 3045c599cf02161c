"""Reading sheet music from Python: ``omr.read_music`` (what ``python -m omr.extract`` does for
one file, returned rather than written).

    from omr import read_music
    reading = read_music("page.png")          # or a PDF, a numpy array, a PIL image
    print(reading.text)                       # one stave-text line per stave
    reading.score().write("musicxml", "page.musicxml")

A file is read as ``omr.extract`` reads it (``omr.read.pipeline.find``: every page, a PDF's
stave-text layer as text), so ``reading.text`` is what ``omr.extract`` writes to
``NAME.txt``.  An in-memory image is one page: a numpy array of 8-bit grey (H, W), colour
(H, W, 3) in RGB order (``channels="bgr"`` for OpenCV's), or with alpha (H, W, 4); or a PIL
image (its current frame), converted to grey as a file of the same pixels would be.

A file or image that cannot be read, or with no staff on it, raises ``LoadError`` (a
``ValueError``) naming it; a checkpoint that is not a recognizer raises ``CheckpointError``
(also a ``ValueError``).  The recognizer is loaded once per checkpoint and kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image

from omr.read import load as _load
from omr.read.assemble import format_lines, piece_lines
from omr.read.crops import stave_crops
from omr.read.load import MAX_PIXELS, LoadError
from omr.read.pipeline import find
from omr.read.recognize import StaveReader, default_weights
from stave.stavetext import Token, parse_line

if TYPE_CHECKING:
    from music21 import stream

__all__ = ["LoadError", "Reading", "read_music"]

Source = str | os.PathLike[str] | np.ndarray | Image.Image


@dataclass(frozen=True)
class Reading:
    """What was read from one file or image: its staves in reading order, page after page,
    each a line of stave-text tokens starting ``clef:`` and ``key:``."""

    name: str  # the file, or the name given to an in-memory image
    lines: list[list[Token]]
    pages: int  # pages or frames looked at (0 for a PDF read from its text layer)
    from_text: bool = False  # a PDF whose text layer is stave text: read, not recognized

    @property
    def text(self) -> str:
        """One stave-text line per stave, each ending in a newline (``omr.extract``'s
        ``NAME.txt``)."""
        return self.format("full")

    def format(self, fmt: Literal["full", "pitch"] = "full") -> str:
        """The lines as text: ``full`` stave text or the original ``pitch`` labelling
        (``omr.extract --format``)."""
        return format_lines(self.lines, fmt)

    def score(self, title: str | None = None) -> stream.Score:
        """A music21 score of the staves (one system per stave), as ``omr.extract`` writes
        its MusicXML; ``title`` defaults to the file's stem.  Built on each call."""
        from stave.musicxml import staves_to_score

        return staves_to_score(self.lines, title=title or Path(self.name).stem)


@lru_cache(maxsize=4)
def _reader(resolved: str, mtime_ns: int, given: str) -> StaveReader:
    """One loaded recognizer per checkpoint file (a rewritten file is loaded again); errors
    name the file as it was given."""
    return StaveReader.load(Path(given))


def reader(checkpoint: str | os.PathLike[str] | None = None) -> StaveReader:
    """The recognizer of ``checkpoint`` (default: the shipped one), loaded once."""
    path = Path(checkpoint) if checkpoint is not None else default_weights()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        mtime = -1  # StaveReader.load names the file and the problem
    return _reader(str(path.resolve()), mtime, str(path))


def read_music(
    source: Source,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    beam: int = 0,
    channels: Literal["rgb", "bgr"] = "rgb",
    name: str | None = None,
) -> Reading:
    """Read one image or PDF (a path) or one in-memory image into stave-text lines.

    ``checkpoint``: recognizer weights (default: the shipped ones); ``beam``: CTC beam width
    (0: greedy decoding, as ``omr.extract``); ``channels``: the order of a 3- or 4-channel
    array's colours; ``name``: what an in-memory image is called in errors and as the
    score's title (default ``"<image>"``).
    """
    if isinstance(beam, bool) or not isinstance(beam, int) or beam < 0:
        raise ValueError(f"beam must be a whole number of 0 or more, got {beam!r}")
    if isinstance(source, str | os.PathLike):
        return _read_file(Path(source), reader(checkpoint), beam)
    label = name or "<image>"
    gray = to_grey(source, label, channels)
    return _read_page(gray, label, reader(checkpoint), beam)


def _read_file(path: Path, stave_reader: StaveReader, beam: int) -> Reading:
    try:
        found = find(path, stave_reader.shape)
    except LoadError:
        raise
    except Exception as err:  # OpenCV on a pathological image, as omr.extract reports it
        raise LoadError(path, f"cannot process ({type(err).__name__}: {err})") from err
    if found.error is not None:
        raise LoadError(path, found.error.removeprefix(f"{path}: "))
    if found.text_lines is not None:
        return Reading(str(path), [parse_line(t) for t in found.text_lines], 0, True)
    tokens = stave_reader.read(found.crops, beam=beam)
    return Reading(str(path), piece_lines(tokens, fit=not stave_reader.reads_times), found.pages)


def to_grey(
    image: np.ndarray | Image.Image, label: str, channels: Literal["rgb", "bgr"] = "rgb"
) -> np.ndarray:
    """An in-memory image as 8-bit grey on white (H, W), converted as ``omr.read.load``
    converts a file's pixels; ``LoadError`` naming ``label`` for what cannot be one."""
    where = Path(label)
    if isinstance(image, Image.Image):
        pil = image
    elif isinstance(image, np.ndarray):
        if channels not in ("rgb", "bgr"):
            raise ValueError(f"channels must be 'rgb' or 'bgr', got {channels!r}")
        if image.dtype != np.uint8:
            raise LoadError(where, f"array of {image.dtype}; expected uint8 (0-255)")
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        if image.ndim == 2:
            pil = Image.fromarray(np.ascontiguousarray(image), "L")
        elif image.ndim == 3 and image.shape[2] in (3, 4):
            if channels == "bgr":  # OpenCV's order: BGR, BGRA
                image = image[:, :, [2, 1, 0, 3][: image.shape[2]]]
            mode = "RGB" if image.shape[2] == 3 else "RGBA"
            pil = Image.fromarray(np.ascontiguousarray(image), mode)
        else:
            raise LoadError(
                where, f"array of shape {image.shape}; expected (H, W), (H, W, 3) or (H, W, 4)"
            )
    else:
        raise TypeError(
            f"cannot read a {type(image).__name__}: give a path, a numpy array or a PIL image"
        )
    w, h = pil.size
    if w * h > MAX_PIXELS:
        raise LoadError(
            where, f"image of {w} x {h} pixels is too large (limit {MAX_PIXELS:,} pixels)"
        )
    gray = _load.to_grey(pil)
    if min(gray.shape) < 8:
        raise LoadError(where, f"image of {gray.shape[1]} x {gray.shape[0]} pixels is too small")
    return gray


def _read_page(gray: np.ndarray, label: str, stave_reader: StaveReader, beam: int) -> Reading:
    try:
        crops = stave_crops(gray, stave_reader.shape)
    except Exception as err:  # OpenCV on a pathological image, as omr.extract reports it
        raise LoadError(Path(label), f"cannot process ({type(err).__name__}: {err})") from err
    if not crops:
        raise LoadError(Path(label), "no staff found in the image")
    tokens = stave_reader.read(crops, beam=beam)
    return Reading(label, piece_lines(tokens, fit=not stave_reader.reads_times), 1)
