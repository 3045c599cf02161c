"""The header reader: a stave's key and time signature read where they are printed, at its
start.  No file I/O here.

The recognizer (``omr.model.network``) emits a stave's header in the first frames of its
CTC output, while the glyphs of a time signature stand some 20 frames on, behind the clef
and key: it reads the numerator from its LSTM's memory and takes metres of the same look for
one another (3/8 for 6/8, 9/8 for 6/8, 2/4 for 3/4).  This small CNN looks at the first
``width`` pixels of the same crop (about 26 staff spaces: a clef, seven accidentals and a
time signature fit) and classifies what it sees there: the key signature (-7 to 7 fifths),
the time signature's numerator and its denominator (each, or "none printed").  A column
convolution over the CNN's output, then the strongest response along the width, so the
digits count wherever the key signature has left them.

Inside the line the recognizer's numerators are near guesses too (3, 2 and 6 about as
likely), and some signatures it does not read at all.  A time signature there follows a bar
line (after a change of key, if any), so a reader trained on them (``bar_after`` > 0) also
reads a window of each crop from ``bar_before`` pixels before a bar line the recognizer read
to ``bar_after`` after it (or to the next bar line): its numerator and denominator heads say
which signature is printed there, or none (its key head is not trained on windows: a
window prints no key signature of its own).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from omr.geometry import DEFAULT_CROP, CropShape
from stave.stavetext import Bar, Clef, Key, Note, Rest, Time, Token

NONE = 0  # class 0 of the numerator and the denominator: no time signature printed
KEYS = tuple(range(-7, 8))
NUMERATORS = (NONE, *range(1, 17))
DENOMINATORS = (NONE, 1, 2, 4, 8, 16, 32)


@dataclass
class HeaderConfig:
    height: int = DEFAULT_CROP.height  # crop height in pixels, as the recognizer's
    ledger_room: float = DEFAULT_CROP.ledger_room
    width: int = 192  # pixels read from the crop's left end (26 staff spaces at 96 px)
    channels: list[int] = field(default_factory=lambda: [16, 32, 64, 96])
    columns: int = 192  # features per column after the column convolution
    # The window read after a bar line inside the line (pixels before and after it); 0 and
    # 0: a reader of the stave's start only.
    bar_before: int = 0
    bar_after: int = 0

    @property
    def crop(self) -> CropShape:
        return CropShape(self.height, self.ledger_room)

    @property
    def reads_bars(self) -> bool:
        """Whether this reader was trained on windows after bar lines inside the line."""
        return self.bar_after > 0


@dataclass(frozen=True)
class Header:
    """What a stave's start prints: its key (fifths) and time signature (or None)."""

    key: int
    time: Time | None


class HeaderReader(nn.Module):
    """(B, 1, H, width) ink-bright crops -> logits of the key, numerator and denominator."""

    def __init__(self, config: HeaderConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        layers: list[nn.Module] = [
            nn.Conv2d(1, c[0], 3, stride=2, padding=1, bias=False),  # 7.4 px a staff space
            nn.BatchNorm2d(c[0]),
            nn.ReLU(inplace=True),
        ]
        for c_in, c_out in itertools.pairwise(c):
            layers += [
                nn.MaxPool2d(2),
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
        self.cnn = nn.Sequential(*layers)
        rows = config.height // 2 // 2 ** (len(c) - 1)
        self.column = nn.Conv1d(c[-1] * rows, config.columns, 3, padding=1)
        self.key = nn.Linear(config.columns, len(KEYS))
        self.numerator = nn.Linear(config.columns, len(NUMERATORS))
        self.denominator = nn.Linear(config.columns, len(DENOMINATORS))

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        f = self.cnn(images)
        b, c, h, w = f.shape
        f = torch.relu(self.column(f.reshape(b, c * h, w))).amax(dim=2)
        return self.key(f), self.numerator(f), self.denominator(f)

    def loss(self, images: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy of the three heads; ``targets`` (B, 3) class indices."""
        ce = nn.functional.cross_entropy
        key, num, den = self(images)
        return ce(key, targets[:, 0]) + ce(num, targets[:, 1]) + ce(den, targets[:, 2])


def for_inference(model: HeaderReader) -> HeaderReader:
    """A copy for reading only (eval mode), each batch norm folded into its convolution."""
    fast = copy.deepcopy(model).eval()
    layers: list[nn.Module] = []
    for block in fast.cnn:
        if isinstance(block, nn.BatchNorm2d):
            conv = layers.pop()
            assert isinstance(conv, nn.Conv2d)
            layers.append(fuse_conv_bn_eval(conv, block))
        else:
            layers.append(block)
    fast.cnn = nn.Sequential(*layers)
    return fast


def header_of(tokens: Sequence[Token]) -> Header:
    """The key and time signature a stave prints before its first note or rest (the truth
    a header reader learns; key 0 where none is written)."""
    key, time = 0, None
    for tok in tokens:
        if isinstance(tok, Note | Rest):
            break
        if isinstance(tok, Key):
            key = tok.fifths
        elif isinstance(tok, Time):
            time = tok
    return Header(key, time)


def targets(header: Header) -> tuple[int, int, int] | None:
    """Class indices of a header (key, numerator, denominator); None where a class set
    does not hold it (a key beyond 7 fifths, a numerator over 16)."""
    if header.key not in KEYS:
        return None
    if header.time is None:
        return KEYS.index(header.key), 0, 0
    if header.time.numerator not in NUMERATORS or header.time.denominator not in DENOMINATORS:
        return None
    return (
        KEYS.index(header.key),
        NUMERATORS.index(header.time.numerator),
        DENOMINATORS.index(header.time.denominator),
    )


def strip(crops: Sequence[np.ndarray], config: HeaderConfig) -> Tensor:
    """Crops (grey, uint8, the config's height) -> (B, 1, H, width) ink-bright floats: each
    crop's first ``width`` columns, padded with paper where it is narrower."""
    out = torch.zeros(len(crops), 1, config.height, config.width)
    for i, c in enumerate(crops):
        w = min(config.width, c.shape[1])
        out[i, 0, :, :w] = torch.from_numpy(1.0 - c[:, :w].astype(np.float32) / 255.0)
    return out


def bar_window(crop: np.ndarray, x: int, end: int, config: HeaderConfig) -> np.ndarray:
    """The columns of ``crop`` where a time signature after a bar line at column ``x`` is
    printed: from ``config.bar_before`` before it to ``config.bar_after`` after it, or to
    ``end`` (the next bar line) where that comes first, so that a short bar does not show
    the next one's signature."""
    stop = max(0, min(x + config.bar_after, end))
    return crop[:, max(0, x - config.bar_before) : stop]


def decode(logits: tuple[Tensor, Tensor, Tensor]) -> list[Header]:
    """The likeliest header of each row; no time signature unless both of its heads read
    one."""
    key, num, den = (t.argmax(dim=1).tolist() for t in logits)
    out = []
    for k, n, d in zip(key, num, den, strict=True):
        time = Time(NUMERATORS[n], DENOMINATORS[d]) if n != NONE and d != NONE else None
        out.append(Header(KEYS[k], time))
    return out


def with_header(tokens: Sequence[Token], header: Header, fields: Sequence[str]) -> list[Token]:
    """The recognizer's tokens with the header reader's ``fields`` ("key", "time") put in
    place of what it read before the first note or rest: a time signature read there is
    replaced (or taken out where the header reader sees none), a key replaced.  With
    ``"time"``, a note with no duration before the first one with a duration and before
    the first bar line is a glyph of the header misread (the digits or the common-time sign
    of a time signature read as a notehead) and is taken out; a reading with no duration at
    all (the pitch-only labelling) keeps its notes."""
    timed = next(
        (i for i, t in enumerate(tokens) if isinstance(t, Note | Rest) and t.duration),
        None,
    )
    bar = next((i for i, t in enumerate(tokens) if isinstance(t, Bar)), len(tokens))
    kept = [
        t
        for i, t in enumerate(tokens)
        if "time" not in fields
        or timed is None
        or i >= min(timed, bar)
        or not (isinstance(t, Note) and t.duration is None)
    ]
    start = next((i for i, t in enumerate(kept) if isinstance(t, Note | Rest)), len(kept))
    head, body = kept[:start], kept[start:]
    if "key" in fields:
        if any(isinstance(t, Key) for t in head):
            head = [Key(header.key) if isinstance(t, Key) else t for t in head]
        else:
            at = next((i + 1 for i, t in enumerate(head) if isinstance(t, Clef)), 0)
            head.insert(at, Key(header.key))
    if "time" in fields:
        head = [t for t in head if not isinstance(t, Time)]
        if header.time is not None:  # after the clef and key, before a bar line
            at = max((i + 1 for i, t in enumerate(head) if isinstance(t, Clef | Key)), default=0)
            head.insert(at, header.time)
    return head + body


def with_bar_times(tokens: Sequence[Token], read: dict[int, Time | None]) -> list[Token]:
    """The tokens with the time signature after bar lines put as ``read`` says: for the
    ``n``-th bar line (from 0) in ``read``, the time signature the recognizer read right after
    it (after a change of clef or key) is replaced by ``read[n]``, or taken out where that is
    None; other bar lines keep what follows them, and so does a time signature read after a
    note with no bar line before it (a bar line missed)."""
    out: list[Token] = []
    bars = -1
    after: Time | None = None  # the time signature still to place after the current bar
    placing = False
    for tok in tokens:
        if placing and not isinstance(tok, Clef | Key | Time):
            if after is not None:
                out.append(after)
            placing = False
        if isinstance(tok, Bar):
            bars += 1
            out.append(tok)
            placing = bars in read
            after = read.get(bars)
            continue
        if placing and isinstance(tok, Time):
            continue  # the recognizer's own reading here is replaced
        out.append(tok)
    if placing and after is not None:
        out.append(after)
    return out
