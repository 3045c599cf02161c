"""``python -m generate.sample``: draw tunes from a char-LSTM checkpoint and write them out.

N samples are drawn in parallel, the hidden state carried forward.  Each ends at a tune
boundary (ABC: a blank line or the next ``X:``; stave text and plain text: a blank line).
Per sample: ``sample-001.abc`` / ``.txt``, and ``.musicxml`` + ``.mid`` beside it when it
converts.  The last line printed is ``valid=K/N``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from music21 import stream
from torch import Tensor

from generate.charlstm.corpus import KINDS, SEPARATOR, Kind
from generate.charlstm.data import Vocab, VocabularyError
from generate.charlstm.model import CharLSTM
from generate.checkpoint import CheckpointError, default_checkpoint, load_char_lstm
from generate.models import add_model_argument, run_midi_command
from stave import atomic, melody, musicxml

# "X:" and not "X:1": every file of Ryan's Mammoth Collection starts "X:1", so that primer
# pulls samples towards one collection's style; "X:" lets the model pick the number, and
# with it the style, as the corpus has them (bench/abc_validity.py: 15/30 -> 25/30 accepted).
DEFAULT_PRIMERS: dict[Kind, str] = {"abc": "X:", "stave": "clef:", "text": ""}
SUFFIX: dict[Kind, str] = {"abc": ".abc", "stave": ".txt", "text": ".txt"}


def boundaries(kind: Kind) -> list[str]:
    """Strings that end a sample (searched after the primer)."""
    return [SEPARATOR, "\nX:"] if kind == "abc" else [SEPARATOR]


class BoundaryStop:
    """Tells, step by step, which samples have just produced a boundary string."""

    def __init__(self, vocab: Vocab, strings: list[str], batch: int) -> None:
        self.seqs = [torch.from_numpy(vocab.encode(s)) for s in strings]
        self.width = max(len(s) for s in self.seqs)
        self.buffer = torch.full((batch, self.width), -1, dtype=torch.long)  # (B, W) last ids

    def seed(self, ids: Tensor) -> None:
        """Start from the end of the primer (B, T), so a boundary may straddle it."""
        tail = ids[:, -self.width :]
        self.buffer[:, -tail.size(1) :] = tail

    def __call__(self, nxt: Tensor) -> Tensor:
        self.buffer = torch.cat([self.buffer[:, 1:], nxt[:, None]], dim=1)
        done = torch.zeros(nxt.size(0), dtype=torch.bool)
        for seq in self.seqs:
            done |= (self.buffer[:, -len(seq) :] == seq).all(dim=1)
        return done


def cut_at_boundary(text: str, kind: Kind, start: int) -> str:
    """``text`` up to the first boundary at or after ``start``, without trailing blanks."""
    ends = [i for b in boundaries(kind) if (i := text.find(b, start)) >= 0]
    return (text[: min(ends)] if ends else text).rstrip()


@torch.no_grad()
def draw(
    model: CharLSTM,
    vocab: Vocab,
    kind: Kind,
    num: int,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    prime: str | None = None,
    seed: int | None = None,
    context: str = SEPARATOR,
) -> list[str]:
    """``num`` samples, each the primer plus what follows it up to a tune boundary.

    ``context`` is run through the network first and is not part of the samples: the
    checkpoint's ``context`` (a real piece and a blank line) puts the network in the state a
    piece starts from in training.
    """
    prime = DEFAULT_PRIMERS[kind] if prime is None else prime
    prime_ids = torch.from_numpy(vocab.encode_strict(prime, "the primer"))
    context_ids = torch.from_numpy(vocab.encode(context))
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    model.eval()
    # The context runs once, then its state is copied to every sample.
    _, _, state = model(context_ids[None, :-1])
    state = (state[0].repeat(1, num, 1), state[1].repeat(1, num, 1))  # (L, B, H)
    ids = torch.cat([context_ids[-1:], prime_ids]).repeat(num, 1)  # (B, 1 + len(prime))
    stop = BoundaryStop(vocab, boundaries(kind), num)
    stop.seed(ids[:, 1:])
    new = model.generate(
        ids,
        length,
        state=state,
        temperature=temperature,
        top_k=top_k,
        banned=torch.tensor([0]),  # the unknown symbol
        stop=stop,
        generator=generator,
    )  # (B, n)
    # A boundary may begin with the primer's last character (a primer ending in a newline).
    start = max(0, len(prime) - 1)
    return [cut_at_boundary(prime + vocab.decode(row.tolist()), kind, start) for row in new]


@dataclass
class SampleResult:
    text_path: Path
    written: list[Path]
    error: str | None


def convert(text: str, kind: Kind) -> stream.Score:
    if kind == "abc":
        return melody.parse_abc(text)
    if kind == "stave":
        return musicxml.text_to_score(text)
    raise musicxml.ConversionError("plain text has no musical reading")


def write_sample(text: str, kind: Kind, base: Path) -> SampleResult:
    """Write the sample's text, and its MusicXML and MIDI when it converts."""
    text_path = base.with_suffix(SUFFIX[kind])
    atomic.write_text(text_path, text + "\n")
    if kind == "text":
        return SampleResult(text_path, [], None)
    try:
        written = musicxml.write_score(convert(text, kind), base)
    except (musicxml.ConversionError, ValueError) as err:
        return SampleResult(text_path, [], str(err).splitlines()[0] if str(err) else repr(err))
    return SampleResult(text_path, written, None)


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
    args_in = sys.argv[1:] if argv is None else list(argv)
    if (status := run_midi_command("sample", args_in)) is not None:
        return status
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
    for i, text in enumerate(texts, start=1):
        result = write_sample(text, ckpt.kind, args.out / f"sample-{i:03d}")
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
