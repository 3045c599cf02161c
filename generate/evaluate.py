"""``python -m generate.evaluate FILE...``: bits per character of files under a checkpoint.

Each file is scored from the state a piece starts from in training (after a blank line), as
one stream.  Characters the model never saw count as its unknown symbol, and are reported.
The last line printed is ``bits_per_char=X`` over all files together.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from generate.charlstm.corpus import KINDS, not_text
from generate.charlstm.scoring import file_bits
from generate.checkpoint import CheckpointError, default_checkpoint, load_char_lstm
from generate.models import add_model_argument, dispatch
from generate.sample import DEFAULT_THREADS, add_threads_argument, set_threads
from stave.abc import decode_text, read_bytes


def main(argv: list[str] | None = None) -> int:
    return dispatch("evaluate", argv, char_lstm_main)


def char_lstm_main(args_in: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m generate.evaluate",
        description="Bits per character of text files under a char-LSTM checkpoint "
        "(--model midi-lstm|chord-gan: music measures of those models; see their --help).",
    )
    add_model_argument(p)
    p.add_argument("files", nargs="+", type=Path, help="text files to score")
    p.add_argument(
        "--checkpoint", type=Path, help="checkpoint (default: the shipped model of --kind)"
    )
    add_threads_argument(p, DEFAULT_THREADS)  # one: see generate.sample.DEFAULT_THREADS
    p.add_argument(
        "--kind",
        choices=[k for k in KINDS if k != "text"],
        default="abc",
        help="shipped model to use without --checkpoint (default: %(default)s)",
    )
    args = p.parse_args(args_in)
    set_threads(args.threads)
    path = args.checkpoint or default_checkpoint(args.kind)
    try:
        model, ckpt = load_char_lstm(path)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    total_bits, total_chars, failed = 0.0, 0, 0
    # A bar over the files where stderr is a terminal (none in logs and tests).
    for f in tqdm(args.files, desc="scoring", unit="file", leave=False, disable=None):
        try:
            data = read_bytes(f)
        except OSError as err:
            print(f"{f}: cannot read ({err.strerror})", file=sys.stderr)
            failed += 1
            continue
        if why := not_text(f, data):
            print(f"{f}: skipped, not text ({why})", file=sys.stderr)
            failed += 1
            continue
        text = decode_text(data)
        if not text:
            print(f"{f}: empty, skipped", file=sys.stderr)
            continue
        bits, unknown = file_bits(model, ckpt.vocab, text, ckpt.context)
        total_bits += float(bits.sum(dtype=np.float64))
        total_chars += len(bits)
        note = f" ({unknown} characters outside the vocabulary)" if unknown else ""
        tqdm.write(f"{f}: {len(bits)} chars, {bits.mean(dtype=np.float64):.4f} bits/char{note}")
    if total_chars == 0:
        print("error: nothing to score", file=sys.stderr)
        return 2
    print(f"bits_per_char={total_bits / total_chars:.4f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
