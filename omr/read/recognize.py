"""Stage 3 of the OMR: stave crops -> stave-text tokens, with a trained recognizer.

The model is loaded once (``StaveReader.load``), folded for inference (``for_inference``),
and reads crops in batches of similar width, so little padding is computed.  Decoding is
greedy (best path) by default, or a CTC prefix beam search.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from omr import WEIGHTS_DIR
from omr.geometry import CropShape
from omr.model.checkpoint import RecognizerCheckpoint, load_checkpoint
from omr.model.decode import beam_search, greedy
from omr.model.network import Recognizer, for_inference
from omr.model.vocab import SymbolVocab
from omr.read.crops import batch, fit_height
from stave.stavetext import Token

WEIGHTS = WEIGHTS_DIR / "recognizer.pt"
# A batch takes a wider crop while its padded area stays within this share of its ink area.
PADDING = 1.25


def default_weights() -> Path:
    """The recognizer that ships with the package."""
    return WEIGHTS


class StaveReader:
    """A recognizer ready to read: the network in eval mode and its vocabulary."""

    def __init__(
        self, model: Recognizer, vocab: SymbolVocab, device: torch.device | str = "cpu"
    ) -> None:
        # Channels-last tensors take oneDNN's faster convolutions on the CPU (about twice
        # as fast over the conv blocks); the results are the same.
        self.device = torch.device(device)
        self.model = for_inference(model).to(self.device).to(memory_format=torch.channels_last)
        self.vocab = vocab

    @classmethod
    def load(cls, path: Path | None = None, device: torch.device | str = "cpu") -> StaveReader:
        """The recognizer at ``path`` (default: the shipped one) on ``device``; checkpoints
        are read onto the CPU first, so one saved on any device loads on any other."""
        path = path or default_weights()
        ckpt: RecognizerCheckpoint = load_checkpoint(path)
        return cls(ckpt.build_model(path), ckpt.vocab, device)

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
                    out[i] = (self.vocab.assemble(ids), confidence)
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
