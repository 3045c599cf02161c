"""Stage 3 of the OMR: stave crops -> stave-text tokens, with a trained recognizer.

The model is loaded once (``StaveReader.load``), folded for inference (``for_inference``),
and reads crops in batches of similar width, so little padding is computed.  Decoding is
greedy (best path) by default, or a CTC prefix beam search.  The key and time signature at
each stave's start are then taken from the header reader (``omr.model.header``), which reads
them where they are printed, where one is loaded (the shipped one by default).  A header
reader trained on bar windows also reads the time signature after each bar line inside the
line where the recognizer sees one may be (``BAR_GATE``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from omr import WEIGHTS_DIR
from omr.geometry import CropShape
from omr.model.checkpoint import RecognizerCheckpoint, load_checkpoint, load_header
from omr.model.decode import beam_search, greedy_path
from omr.model.header import (
    Header,
    HeaderReader,
    bar_window,
    decode,
    strip,
    with_bar_times,
    with_header,
)
from omr.model.header import for_inference as header_for_inference
from omr.model.network import Recognizer, for_inference
from omr.model.vocab import SymbolVocab
from omr.read.crops import batch, fit_height
from stave.stavetext import Bar, Note, Rest, Time, Token

WEIGHTS = WEIGHTS_DIR / "recognizer.pt"
HEADER_WEIGHTS = WEIGHTS_DIR / "header.pt"
# What the header reader's reading replaces of the recognizer's (omr.model.header.with_header).
HEADER_FIELDS = ("time",)
# A batch takes a wider crop while its padded area stays within this share of its ink area.
PADDING = 1.25
# A bar line inside the line has its window read where the recognizer gives a time
# signature's symbols more than this probability in the steps that follow it (a change of
# key may stand between).  On 24,568 bar lines of training staves, 99.1% of those followed
# by a time signature pass, and 2.4% of the rest.
BAR_GATE = 1e-4
BAR_GATE_STEPS = 30


def default_weights() -> Path:
    """The recognizer that ships with the package."""
    return WEIGHTS


class StaveReader:
    """A recognizer ready to read: the network in eval mode and its vocabulary, and the
    header reader that reads each stave's key and time signature, if one is given."""

    def __init__(
        self,
        model: Recognizer,
        vocab: SymbolVocab,
        device: torch.device | str = "cpu",
        header: HeaderReader | None = None,
    ) -> None:
        # Channels-last tensors take oneDNN's faster convolutions on the CPU (about twice
        # as fast over the conv blocks); the results are the same.
        self.device = torch.device(device)
        self.model = for_inference(model).to(self.device).to(memory_format=torch.channels_last)
        self.vocab = vocab
        if header is not None and header.config.crop != model.config.crop:
            raise ValueError(
                f"the header reader reads crops of {header.config.crop}, the recognizer "
                f"{model.config.crop}: train one for this recognizer, or read without one"
            )
        self.header = None if header is None else header_for_inference(header).to(self.device)
        symbols = ["<blank>", *vocab.symbols]  # as the network's output indices
        self.bar_id = symbols.index("|") if "|" in symbols else None  # None: no bar windows
        self.time_ids = [i for i, s in enumerate(symbols) if s.startswith("time:")]

    @classmethod
    def load(
        cls,
        path: Path | None = None,
        device: torch.device | str = "cpu",
        header: Path | None = HEADER_WEIGHTS,
    ) -> StaveReader:
        """The recognizer at ``path`` (default: the shipped one) on ``device``, with the
        header reader at ``header`` (default: the shipped one; None: the key and time
        signature as the recognizer reads them).  The shipped header reader is left out,
        with a note, beside a recognizer of another crop shape.  Checkpoints are read onto
        the CPU first, so one saved on any device loads on any other."""
        path = path or default_weights()
        ckpt: RecognizerCheckpoint = load_checkpoint(path)
        model = ckpt.build_model(path)
        reader = None
        if header is not None:
            saved = load_header(header)
            reader = saved.build_model(header)
            if header == HEADER_WEIGHTS and saved.config.crop != model.config.crop:
                print(
                    f"note: {path} reads crops of another shape than the shipped header "
                    "reader: keys and time signatures are the recognizer's own",
                    file=sys.stderr,
                )
                reader = None
        return cls(model, ckpt.vocab, device, reader)

    @property
    def reads_times(self) -> bool:
        """Whether the header reader reads every time signature where it is printed (at the
        stave's start and after bar lines): then they are not fitted to the bars read
        (``omr.read.assemble.piece_lines``), which on the sets it was measured on only made
        right ones wrong."""
        return self.header is not None and self.header.config.reads_bars and self.bar_id is not None

    @property
    def height(self) -> int:
        return self.model.config.height

    @property
    def shape(self) -> CropShape:
        """How staves must be cut out for this recognizer (as it was trained)."""
        return self.model.config.crop

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """A staff crop (any height) scaled to the network's input height."""
        return image if image.shape[0] == self.height else fit_height(image, self.height)

    def read(
        self, crops: Sequence[np.ndarray], beam: int = 0, batch_size: int = 32
    ) -> list[list[Token]]:
        """Tokens for each crop, in the order given.  ``beam`` > 1 decodes by prefix beam
        search of that width, otherwise greedily."""
        return [tokens for tokens, _ in self.read_scored(crops, beam, batch_size)]

    def read_scored(
        self, crops: Sequence[np.ndarray], beam: int = 0, batch_size: int = 32
    ) -> list[tuple[list[Token], float]]:
        """``read``, each crop's tokens with a confidence: the probability of the network's
        best CTC path, per frame (its geometric mean over the frames, 0 to 1)."""
        ready = [self.prepare(c) for c in crops]
        out: list[tuple[list[Token], float]] = [([], 0.0) for _ in ready]
        headers = self.read_headers(ready)
        windows: list[tuple[int, int, np.ndarray]] = []  # crop, bar line (from 0), window
        for i, lp in self.log_probs(ready, batch_size):
            path, steps = greedy_path(lp)
            ids = beam_search(lp, beam) if beam > 1 else path
            confidence = float(np.exp(lp.max(axis=1).mean())) if len(lp) else 0.0
            tokens = self.vocab.assemble(ids)
            if headers:
                tokens = with_header(tokens, headers[i], HEADER_FIELDS)
            out[i] = (tokens, confidence)
            if self.header is not None and self.reads_times:
                for bar, x, end in self.bars_to_read(lp, path, steps, tokens):
                    windows.append((i, bar, bar_window(ready[i], x, end, self.header.config)))
        times: dict[int, dict[int, Time | None]] = {}
        after_bars = self.read_headers([w for *_, w in windows])
        for (i, bar, _), header in zip(windows, after_bars, strict=True):
            times.setdefault(i, {})[bar] = header.time
        for i, read in times.items():
            out[i] = (with_bar_times(out[i][0], read), out[i][1])
        return out

    @torch.inference_mode()
    def log_probs(
        self, ready: Sequence[np.ndarray], batch_size: int = 32
    ) -> Iterator[tuple[int, np.ndarray]]:
        """The network's (T, S) log-probabilities for each crop (``prepare``d), with its
        index in ``ready``: in batches of similar width, narrowest first."""
        order = sorted(range(len(ready)), key=lambda i: ready[i].shape[1])
        for chosen in similar_widths([ready[i].shape[1] for i in order], order, batch_size):
            images, widths = batch([ready[i] for i in chosen])
            images = images.to(self.device).contiguous(memory_format=torch.channels_last)
            log_probs = self.model(images).float().cpu().numpy()  # (B, T, S)
            lengths = self.model.output_lengths(widths).tolist()
            for row, i in enumerate(chosen):
                yield i, log_probs[row, : lengths[row]]

    def bars_to_read(
        self,
        log_probs: np.ndarray,
        path: list[int],
        steps: list[int],
        tokens: list[Token],
        gate: float = BAR_GATE,
    ) -> list[tuple[int, int, int]]:
        """The bar lines inside the line (after its first note or rest) after which a time
        signature may be printed (the recognizer's time signature symbols more likely than
        ``gate`` in the ``BAR_GATE_STEPS`` steps from it), by the greedy ``path`` (symbol ids
        and the steps they start at): each one's number among the bar lines of ``tokens``,
        its column in the crop, and the next one's (or the crop's end).  Nothing where the path
        and the tokens do not have as many bar lines (a beam search read another number of
        them; where it read as many but others, a window may stand at another bar line)."""
        if self.bar_id is None:
            return []
        at = [t for s, t in zip(path, steps, strict=True) if s == self.bar_id]
        if not at or len(at) != sum(isinstance(t, Bar) for t in tokens):
            return []
        first = next((k for k, t in enumerate(tokens) if isinstance(t, Note | Rest)), None)
        if first is None:
            return []
        before = sum(isinstance(t, Bar) for t in tokens[:first])
        chance = np.exp(log_probs[:, self.time_ids]).sum(axis=1)
        factor = self.model.config.width_factor
        ends = [*at[1:], len(log_probs)]
        return [
            (n, t * factor, end * factor)
            for n, (t, end) in enumerate(zip(at, ends, strict=True))
            if n >= before and (gate <= 0 or chance[t : t + BAR_GATE_STEPS].max() > gate)
        ]

    def read_headers(self, crops: Sequence[np.ndarray], batch_size: int = 64) -> list[Header]:
        """The header reader's key and time signature of each crop (of the network's
        height); nothing without a header reader."""
        if self.header is None:
            return []
        out: list[Header] = []
        with torch.inference_mode():
            for start in range(0, len(crops), batch_size):
                images = strip(crops[start : start + batch_size], self.header.config)
                out += decode(self.header(images.to(self.device)))
        return out


def similar_widths(widths: Sequence[int], items: Sequence[int], most: int) -> list[list[int]]:
    """``items`` (sorted by their ``widths``, ascending) in batches of at most ``most``, each
    closed before the padding to its widest item would pass ``PADDING`` times its area."""
    batches: list[list[int]] = []
    area = 0
    for width, item in zip(widths, items, strict=True):
        if (
            batches
            and len(batches[-1]) < most
            and (len(batches[-1]) + 1) * width <= PADDING * (area + width)
        ):
            batches[-1].append(item)
            area += width
        else:
            batches.append([item])
            area = width
    return batches
