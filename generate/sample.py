"""``python -m generate.sample``: draw tunes from a char-LSTM checkpoint and write them out.

N samples are drawn in parallel, the hidden state carried forward.  Each ends at a tune
boundary (ABC: a blank line or the next ``X:``; stave text and plain text: a blank line).
Per sample: ``sample-001.abc`` / ``.txt``, and ``.musicxml``, ``.mid`` and (with FluidSynth)
``.wav`` beside it when it converts.  The last line printed is ``valid=K/N``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from generate.charlstm.corpus import KINDS
from generate.charlstm.data import VocabularyError
from generate.charlstm.sampling import draw, write_sample
from generate.checkpoint import CheckpointError, default_checkpoint, load_char_lstm
from generate.models import add_model_argument, dispatch


def parser() -> argparse.ArgumentParser:
    """The command line of the char-LSTM (``main`` hands the MIDI models' to theirs)."""
    p = argparse.ArgumentParser(
        prog="python -m generate.sample",
        description="Sample tunes from a char-LSTM checkpoint; write text, MusicXML and MIDI "
        "(--model midi-lstm|chord-gan: the MIDI-event LSTM or the chord GAN; see their --help).",
    )
    add_model_argument(p)
    p.add_argument(
        "--checkpoint",
        type=Path,
        help="checkpoint to sample from (default: the shipped model of --kind)",
    )
    p.add_argument(
        "--kind",
        choices=[k for k in KINDS if k != "text"],
        default="abc",
        help="which shipped model to use when no --checkpoint is given (default: %(default)s)",
    )
    p.add_argument("--num", type=int, default=8, help="samples drawn in parallel")
    p.add_argument("--length", type=int, default=2000, help="most characters per sample")
    p.add_argument(
        "--temperature",
        type=float,
        default=0.8,
        help="softmax temperature; near 0 takes the most likely character",
    )
    p.add_argument("--top-k", type=int, help="sample only among the k most likely characters")
    p.add_argument(
        "--prime",
        help="text the samples start with (default: 'X:' for ABC, "
        "'clef:' for stave text); \\n stands for a newline",
    )
    p.add_argument("--seed", type=int, help="random seed (default: unseeded)")
    p.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path("samples"),
        help="output folder (default: %(default)s)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    return dispatch("sample", argv, char_lstm_main)


def char_lstm_main(args_in: list[str]) -> int:
    p = parser()
    args = p.parse_args(args_in)
    if args.num < 1 or args.length < 1:
        p.error("--num and --length must be at least 1")

    path = args.checkpoint or default_checkpoint(args.kind)
    try:
        model, ckpt = load_char_lstm(path)
        prime = None if args.prime is None else args.prime.replace("\\n", "\n")
        start = time.perf_counter()
        texts = draw(
            model,
            ckpt.vocab,
            ckpt.kind,
            args.num,
            args.length,
            args.temperature,
            args.top_k,
            prime,
            args.seed,
            ckpt.context,
        )
        seconds = time.perf_counter() - start
    except (CheckpointError, VocabularyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    chars = sum(len(t) for t in texts)
    print(
        f"{path}: {len(texts)} samples, {chars} characters in {seconds:.2f}s "
        f"({chars / seconds:,.0f} chars/s)",
        file=sys.stderr,
    )
    valid = 0
    corpus_name = {"abc": "ABC", "stave": "stave text"}.get(ckpt.kind, ckpt.kind)
    seed = "unseeded" if args.seed is None else f"seed {args.seed}"
    for i, text in enumerate(texts, start=1):
        title = f"stavegen sample {i}, char-LSTM on {corpus_name}, T={args.temperature:g}, {seed}"
        source = f"stavegen char-LSTM ({path.name})"
        result = write_sample(text, ckpt.kind, args.out / f"sample-{i:03d}", title, source)
        if result.error is None:
            valid += 1
            names = ", ".join(p.name for p in [result.text_path, *result.written])
            print(f"sample {i}: {names}")
        else:
            print(f"sample {i}: {result.text_path.name} does not convert: {result.error}")
    print(f"valid={valid}/{len(texts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
