"""The char-LSTM against a small causal transformer: same data, same parameter count, same
CPU minutes, bits per character on the same held-out text.

    python bench/char_transformer.py --data PREPARED [--minutes 10] [--threads 2]
    python bench/char_transformer.py --corpus music21-abc ../shared/data/nottingham-train

``--data``: a folder ``generate.prepare`` wrote (``train.txt``, ``val.txt``, ``meta.json``);
``--corpus``: a corpus spec as ``generate.prepare`` takes it, prepared into a temporary
folder first.  The baseline is the project's char-LSTM (the reference network: embedding
512, three LSTM layers of 256; truncated backpropagation through time, batches of 64 x 128,
Adam at 2e-3, as ``generate.train``); the transformer (``generate.charlstm.transformer``,
nanoGPT's design, four layers, context 256) is sized to the same parameter count and trained
on random windows of the training text with AdamW.  Each trains for ``--minutes`` of wall
time on this machine, one after the other; both are scored on the first ``--val-chars``
characters of ``val.txt``, the LSTM with its state carried along the text, the transformer
with up to 256 characters of context.  The last line is the ratio.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from generate.charlstm.corpus import SEPARATOR
from generate.charlstm.data import Prepared, TBPTTBatches, load_prepared
from generate.charlstm.model import CharLSTM, CharLSTMConfig
from generate.charlstm.prepare import prepare_corpus
from generate.charlstm.scoring import bits_per_char
from generate.charlstm.transformer import CharTransformer, CharTransformerConfig


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def matched_transformer(vocab_size: int, target: int) -> CharTransformerConfig:
    """Four layers, width the multiple of 16 whose parameter count is nearest ``target``."""
    best = None
    for width in range(64, 1025, 16):
        config = CharTransformerConfig(vocab_size, n_embd=width)
        with torch.device("meta"):
            n = parameters(CharTransformer(config))
        if best is None or abs(n - target) < abs(best[0] - target):
            best = (n, config)
    assert best is not None
    return best[1]


def step(model: nn.Module, opt: torch.optim.Optimizer, loss: torch.Tensor | None) -> None:
    """One optimizer step, gradients clipped to norm 1 (as generate.train does)."""
    assert loss is not None
    opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


def train_lstm(prepared: Prepared, minutes: float, seed: int) -> tuple[CharLSTM, int]:
    torch.manual_seed(seed)
    model = CharLSTM(CharLSTMConfig(len(prepared.vocab)))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    batches = TBPTTBatches(prepared.train, prepared.vocab, 64, 128, seed)
    steps, end = 0, time.perf_counter() + 60 * minutes
    model.train()
    epoch = 0
    while time.perf_counter() < end:
        state = None
        for x, y in batches.epoch(epoch):
            _, loss, state = model(x, state, y)
            state = (state[0].detach(), state[1].detach())
            step(model, opt, loss)
            steps += 1
            if time.perf_counter() >= end:
                break
        epoch += 1
    return model, steps


def train_transformer(
    prepared: Prepared, config: CharTransformerConfig, minutes: float, seed: int
) -> tuple[CharTransformer, int]:
    torch.manual_seed(seed)
    model = CharTransformer(config)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
        lr=1e-3,
        betas=(0.9, 0.99),
    )
    text = SEPARATOR.join(prepared.train) + SEPARATOR
    tokens = torch.from_numpy(prepared.vocab.encode(text))
    rng = np.random.default_rng(seed)
    size, batch = config.block_size, 32
    steps, end = 0, time.perf_counter() + 60 * minutes
    model.train()
    while time.perf_counter() < end:
        starts = rng.integers(0, len(tokens) - size - 1, batch)
        x = torch.stack([tokens[s : s + size] for s in starts])
        y = torch.stack([tokens[s + 1 : s + size + 1] for s in starts])
        lr = 1e-3 * min(1.0, (steps + 1) / 100)  # a short warm-up
        for group in opt.param_groups:
            group["lr"] = lr
        _, loss = model(x, y)
        step(model, opt, loss)
        steps += 1
    return model, steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--data", type=Path, help="a prepared corpus folder")
    where.add_argument("--corpus", nargs="+", help="a corpus spec, prepared first")
    p.add_argument("--minutes", type=float, default=10.0, help="training minutes, each model")
    p.add_argument("--val-chars", type=int, default=200_000, help="held-out characters scored")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.corpus:
            prepared = prepare_corpus(args.corpus, Path(tmp))
        else:
            prepared = load_prepared(args.data)
    val = prepared.vocab.encode(SEPARATOR.join(prepared.val))[: args.val_chars]
    chars = sum(len(t) for t in prepared.train)
    print(f"training text {chars:,} characters, {len(val):,} held out; {args.threads} threads")

    lstm, lstm_steps = train_lstm(prepared, args.minutes, args.seed)
    lstm_bits = bits_per_char(lstm, val)
    target = parameters(lstm)
    config = matched_transformer(len(prepared.vocab), target)
    transformer, tf_steps = train_transformer(prepared, config, args.minutes, args.seed)
    tf_bits = float(transformer.char_bits(torch.from_numpy(val)).mean())
    for name, model, steps, bits in (
        ("char-LSTM", lstm, lstm_steps, lstm_bits),
        (f"transformer (width {config.n_embd})", transformer, tf_steps, tf_bits),
    ):
        print(
            f"{name:<26} {parameters(model):>10,} parameters {steps:>6} steps "
            f"{args.minutes:g} min: {bits:.4f} bits/char"
        )
    if not math.isfinite(tf_bits / lstm_bits):
        raise SystemExit("no figures")
    print(f"transformer/LSTM bits per char ratio={tf_bits / lstm_bits:.3f}")


if __name__ == "__main__":
    main()
