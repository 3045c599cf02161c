"""``python -m generate.train``: train the char-LSTM on ABC, stave text or any text.

Writes into OUT: ``data/`` (the prepared corpus), ``latest.pt`` and ``best.pt`` (atomic),
``loss.png``.  ``--resume`` continues from ``latest.pt`` exactly; Ctrl-C (or SIGTERM) finishes
the step in progress, saves ``latest.pt`` and exits with status 130.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from generate.charlstm import corpus, data
from generate.charlstm.model import CharLSTMConfig
from generate.charlstm.train import TrainConfig, TrainError, train
from generate.models import add_model_argument, dispatch
from generate.prepare import add_corpus_arguments


def parser() -> argparse.ArgumentParser:
    """The command line of the char-LSTM (``main`` hands the MIDI models' to theirs)."""
    defaults = TrainConfig()
    net = CharLSTMConfig(vocab_size=0)
    p = argparse.ArgumentParser(
        prog="python -m generate.train",
        description="Train the char-LSTM on ABC, stave text or any text "
        "(--model midi-lstm|chord-gan: the MIDI-event LSTM or the chord GAN; see their --help).",
    )
    add_model_argument(p)
    add_corpus_arguments(p)
    p.add_argument(
        "--data",
        type=Path,
        help="train on a folder written by generate.prepare instead of --corpus",
    )
    p.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path("runs/charlstm"),
        help="run folder for data, checkpoints and plots (default: %(default)s)",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument(
        "--init-from",
        type=Path,
        help="start from this checkpoint's network and vocabulary (fine-tuning)",
    )
    p.add_argument("--embed-dim", type=int, default=net.embed_dim, help="embedding size")
    p.add_argument("--hidden-size", type=int, default=net.hidden_size, help="LSTM units per layer")
    p.add_argument("--layers", type=int, default=net.num_layers, help="LSTM layers")
    p.add_argument("--dropout", type=float, default=net.dropout, help="dropout probability")
    p.add_argument(
        "--batch-size", type=int, default=defaults.batch_size, help="parallel streams per batch"
    )
    p.add_argument(
        "--seq-len", type=int, default=defaults.seq_len, help="characters per truncated-BPTT window"
    )
    p.add_argument("--lr", type=float, default=defaults.learning_rate, help="Adam learning rate")
    p.add_argument("--clip", type=float, default=defaults.grad_clip, help="gradient-norm clip")
    p.add_argument("--max-steps", type=int, help="stop after this many steps in all")
    p.add_argument("--epochs", type=float, help="stop after this many epochs in all")
    p.add_argument("--minutes", type=float, help="stop after this many minutes in this run")
    p.add_argument(
        "--eval-every",
        type=int,
        default=defaults.eval_every,
        help="steps between validations and checkpoints",
    )
    p.add_argument("--seed", type=int, default=defaults.seed, help="seed for split, order, init")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    return p


def main(argv: list[str] | None = None) -> int:
    return dispatch("train", argv, char_lstm_main)


def char_lstm_main(args_in: list[str]) -> int:
    p = parser()
    args = p.parse_args(args_in)

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.max_steps is None and args.epochs is None and args.minutes is None:
        args.epochs = 10.0
    config = TrainConfig(
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        learning_rate=args.lr,
        grad_clip=args.clip,
        max_steps=args.max_steps,
        epochs=args.epochs,
        minutes=args.minutes,
        eval_every=args.eval_every,
        seed=args.seed,
    )
    model_config = {
        "embed_dim": args.embed_dim,
        "hidden_size": args.hidden_size,
        "num_layers": args.layers,
        "dropout": args.dropout,
    }
    start = time.monotonic()
    try:
        loop, reason = train(
            args.out,
            args.corpus,
            model_config,
            config,
            args.resume,
            args.kind,
            args.val_fraction,
            args.max_pieces,
            args.data,
            args.init_from,
            args.abc2midi_only,
        )
    except (TrainError, corpus.CorpusError, data.VocabularyError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    st = loop.state
    print(
        f"stopped ({reason}) at step {st.step}, epoch {loop.task.epoch}; "
        f"best val_bpc={st.best:.4f}; this run {time.monotonic() - start:.0f}s; "
        f"checkpoints in {args.out}",
        file=sys.stderr,
    )
    if reason == "interrupted":
        print(f"resume with: python -m generate.train -o {args.out} --resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
