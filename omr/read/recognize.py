"""Stage 3 of the OMR: stave crops -> stave-text tokens, with a trained recognizer.

The model is loaded once (``StaveReader.load``), folded for inference (``for_inference``),
and reads crops in batches of similar width, so little padding is computed.  Decoding is
greedy (best path) by default, or a CTC prefix beam search.  The key and time signature at
each stave's start are then taken from the header reader (``omr.model.header``), which reads
them where they are printed, where one is loaded (the shipped one by default).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from omr import WEIGHTS_DIR
from omr.geometry import CropShape
from omr.model.checkpoint import RecognizerCheckpoint, load_checkpoint, load_header
from omr.model.decode import beam_search, greedy
from omr.model.header import Header, HeaderReader, decode, strip, with_header
from omr.model.header import for_inference as header_for_inference
from omr.model.network import Recognizer, for_inference
from omr.model.vocab import SymbolVocab
from omr.read.crops import batch, fit_height
from stave.stavetext import Token

WEIGHTS = WEIGHTS_DIR / "recognizer.pt"
HEADER_WEIGHTS = WEIGHTS_DIR / "header.pt"
# What the header reader's reading replaces of the recognizer's (omr.model.header.with_header).
HEADER_FIELDS = ("time",)
# A batch takes a wider crop while its padded area stays within this share of its ink area.
PADDING = 1.25


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
        order = sorted(range(len(ready)), key=lambda i: ready[i].shape[1])
        out: list[tuple[list[Token], float]] = [([], 0.0) for _ in ready]
        headers = self.read_headers(ready)
        with torch.inference_mode():
            for chosen in similar_widths([ready[i].shape[1] for i in order], order, batch_size):
                images, widths = batch([ready[i] for i in chosen])
                images = images.to(self.device).contiguous(memory_format=torch.channels_last)
                log_probs = self.model(images).float().cpu().numpy()  # (B, T, S)
                lengths = self.model.output_lengths(widths).tolist()
                for row, i in enumerate(chosen):
                    lp = log_probs[row, : lengths[row]]
                    ids = beam_search(lp, beam) if beam > 1 else greedy(lp)
                    confidence = float(np.exp(lp.max(axis=1).mean())) if len(lp) else 0.0
                    tokens = self.vocab.assemble(ids)
                    if headers:
                        tokens = with_header(tokens, headers[i], HEADER_FIELDS)
                    out[i] = (tokens, confidence)
        return out

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
