"""Bits per character: how well a char-LSTM predicts a text (validation, ``generate.evaluate``)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from generate.charlstm.corpus import SEPARATOR
from generate.charlstm.data import Vocab
from generate.charlstm.model import CharLSTM

LN2 = math.log(2.0)


@torch.no_grad()
def char_bits(
    model: CharLSTM,
    tokens: np.ndarray,
    rows: int = 16,
    chunk: int = 256,
    progress: bool = False,
) -> np.ndarray:
    """Bits for each of ``tokens[1:]`` given everything before it, hidden state carried.

    The stream is cut into ``rows`` contiguous rows scored in parallel, each starting from a
    zero state (a long file scores quickly; inputs under 1,024 characters use one row).
    ``progress``: a progress bar over the chunks (a validation pass takes a minute on a CPU).
    """
    n = len(tokens) - 1
    if n < 1:
        raise ValueError("need at least 2 characters to score")
    was_training = model.training
    model.eval()
    rows = max(1, min(rows, n // 1024))
    row_len = -(-n // rows)  # ceil
    x = np.zeros(rows * row_len, dtype=np.int64)
    y = np.full(rows * row_len, -100, dtype=np.int64)  # -100: padding, ignored
    x[:n] = tokens[:-1]
    y[:n] = tokens[1:]
    xs = torch.from_numpy(x).view(rows, row_len)
    ys = torch.from_numpy(y).view(rows, row_len)
    bits = torch.empty(rows, row_len)
    state = model.initial_state(rows)
    device = model.head.weight.device
    starts = tqdm(
        range(0, row_len, chunk),
        desc="validation",
        unit="chunk",
        leave=False,
        dynamic_ncols=True,
        mininterval=1,
        disable=not progress,
    )
    for start in starts:
        cols = slice(start, start + chunk)
        logits, _, state = model(xs[:, cols].to(device), state)  # (R, W, V)
        nats = nn.functional.cross_entropy(
            logits.transpose(1, 2), ys[:, cols].to(device), reduction="none"
        )  # (R, W)
        bits[:, cols] = (nats / LN2).float().cpu()
    model.train(was_training)
    return bits.reshape(-1)[:n].numpy()


def bits_per_char(
    model: CharLSTM, tokens: np.ndarray, skip: int = 0, progress: bool = False
) -> float:
    """Mean bits per character of ``tokens[1 + skip:]`` (``skip``: context not scored)."""
    bits = char_bits(model, tokens, progress=progress)[skip:]
    if len(bits) == 0:
        raise ValueError("nothing to score")
    return float(bits.mean(dtype=np.float64))


def file_bits(
    model: CharLSTM, vocab: Vocab, text: str, context: str = SEPARATOR
) -> tuple[np.ndarray, int]:
    """Bits of each character of ``text`` read after ``context``, and how many were unknown."""
    tokens = vocab.encode(context + text)
    unknown = int((tokens[len(context) :] == 0).sum())
    return char_bits(model, tokens)[len(context) - 1 :], unknown
