"""``python -m generate.sample``: draw tunes from a char-LSTM checkpoint and write them out.

N samples are drawn in parallel, the hidden state carried forward.  Each ends at a tune
boundary (ABC: a blank line or the next ``X:``; stave text and plain text: a blank line).
Per sample: ``sample-001.abc`` / ``.txt``, and ``.musicxml``, ``.mid`` and (with FluidSynth)
``.wav`` beside it when it converts.  The last line printed is ``valid=K/N``.  With
``--redraw ROUNDS`` a sample that does not convert, or ABC that abc2midi refuses, is drawn
again (``generate.charlstm.sampling.redraw``), seeded by ``--seed`` and the round.  ABC is
drawn within ABC's grammar as abc2midi reads it (``generate.charlstm.abc_grammar``): a
character that would break it is taken out and the character drawn again from the rest;
``--no-grammar`` draws from the network alone.

A run owns the ``sample-NNN.*`` files of its output folder: those of an earlier run there are
removed (and counted on stderr) before the new ones are written, so one run's ``.abc`` never
sits beside another run's ``.mid``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
from pathlib import Path

import torch

from generate.charlstm.corpus import KINDS
from generate.charlstm.data import VocabularyError
from generate.charlstm.sampling import SAMPLE_SUFFIXES, draw, redraw, write_sample
from generate.checkpoint import CheckpointError, default_checkpoint, load_char_lstm
from generate.models import add_model_argument, dispatch
from stave import devices
from stave.cli import (
    folder_problem,
    non_negative_int,
    positive_float,
    positive_int,
    report_output_error,
)
from stave.devices import DEVICE_HELP, DeviceError

SEED_LIMIT = 2**32  # numpy and torch both take seeds below this

# Sampling runs one step of a small network at a time: the work per step is too small to
# share among threads, and where the cores are busy, threads that wait on each other make it
# slower by ten times or more.  `generate.sample --num 4 --seed 1`, 7 runs each on a 2-core
# machine at load 3-5: one thread 426-800 chars/s (median 684), two (torch's default there)
# 59-1,209 (median 117).  Scoring (generate.evaluate) fares the same: 5,800-9,700 chars/s
# on one thread, 650-1,190 on two.  One thread is the default of both; --threads N for more.
DEFAULT_THREADS = 1


def seed_value(text: str) -> int:
    """A random seed: a whole number from 0 to 2**32 - 1."""
    value = non_negative_int(text)
    if value >= SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"must be below {SEED_LIMIT}, got {value}")
    return value


def add_threads_argument(p: argparse.ArgumentParser, default: int = DEFAULT_THREADS) -> None:
    """``--threads N``: torch's CPU threads."""
    p.add_argument(
        "--threads",
        type=positive_int,
        default=default,
        metavar="N",
        help="CPU threads for the network, at least 1; more help only on idle cores "
        "(default: %(default)s)",
    )


def set_threads(threads: int) -> None:
    torch.set_num_threads(threads)


_SAMPLE_NAME = re.compile(r"^sample-\d{3,}$")


def remove_earlier_samples(out: Path) -> list[Path]:
    """Delete the ``sample-NNN.*`` outputs (``SAMPLE_SUFFIXES``) an earlier run left in
    ``out``, so that this run's files are never mixed with them; returns what was removed."""
    removed: list[Path] = []
    if not out.is_dir():
        return removed
    for path in sorted(out.iterdir()):
        if path.suffix in SAMPLE_SUFFIXES and _SAMPLE_NAME.match(path.stem) and path.is_file():
            path.unlink()
            removed.append(path)
    return removed


def prepare_output(out: Path, command: str) -> int | None:
    """Make the output folder and clear an earlier run's samples from it; the exit status
    (after a one-line error) when that cannot be done, else None."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        removed = remove_earlier_samples(out)
    except OSError as err:
        if err.filename is None:
            err.filename = str(out)
        return report_output_error(err, command)
    if removed:
        print(f"{out}: removed {len(removed)} files of an earlier run's samples", file=sys.stderr)
    return None


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
    p.add_argument(
        "--num",
        type=positive_int,
        default=8,
        help="samples drawn in parallel, at least 1 (default: %(default)s)",
    )
    p.add_argument(
        "--length",
        type=positive_int,
        default=2000,
        help="most characters per sample, at least 1 (default: %(default)s)",
    )
    p.add_argument(
        "--temperature",
        type=positive_float,
        default=0.8,
        help="softmax temperature, above 0; below 0.001 takes the most likely character "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--top-k",
        type=positive_int,
        help="sample only among the k most likely characters, k at least 1 "
        "(default: all characters)",
    )
    p.add_argument(
        "--prime",
        help="text the samples start with, '' for none (default: 'X:' for ABC, "
        "'clef:' for stave text, none for plain text); \\n stands for a newline",
    )
    p.add_argument(
        "--redraw",
        type=non_negative_int,
        default=0,
        metavar="ROUNDS",
        help="draw again, for at most ROUNDS rounds, each sample that does not convert to "
        "music, or (ABC, where abc2midi is installed) that abc2midi refuses; the samples "
        "kept are still the model's own (default: %(default)s, every draw kept)",
    )
    p.add_argument(
        "--no-grammar",
        dest="grammar",
        action="store_false",
        help="ABC: draw from the network alone; by default a character that would break "
        "ABC's grammar as abc2midi reads it is drawn again from the other characters (a "
        "primer outside the grammar turns it off for the run, with a note)",
    )
    add_run_arguments(p)
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    return p


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """``--seed``, ``--threads`` and ``-o``, as every sampler takes them."""
    p.add_argument(
        "--seed",
        type=seed_value,
        help=f"random seed, 0 to {SEED_LIMIT - 1} (default: unseeded)",
    )
    add_threads_argument(p, DEFAULT_THREADS)
    p.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path("samples"),
        help="output folder; an earlier run's sample-NNN files there are removed "
        "(default: %(default)s)",
    )


def main(argv: list[str] | None = None) -> int:
    return dispatch("sample", argv, char_lstm_main)


def char_lstm_main(args_in: list[str]) -> int:
    args = parser().parse_args(args_in)
    set_threads(args.threads)
    path = args.checkpoint or default_checkpoint(args.kind)
    try:
        device = devices.resolve(args.device)
        model, ckpt = load_char_lstm(path)
    except (CheckpointError, DeviceError) as err:  # before anything is made
        print(f"error: {err}", file=sys.stderr)
        return 2
    model.to(device)
    if problem := folder_problem(args.out):  # said before sampling, nothing made
        return report_output_error(problem, "generate.sample")
    try:
        prime = None if args.prime is None else args.prime.replace("\\n", "\n")

        def drawn(num: int, seed: int | None, progress: bool = False) -> list[str]:
            return draw(
                model,
                ckpt.vocab,
                ckpt.kind,
                num,
                args.length,
                args.temperature,
                args.top_k,
                prime,
                seed,
                ckpt.context,
                progress=progress,
                grammar=args.grammar,
                report=lambda line: print(f"note: {line}", file=sys.stderr),
            )

        start = time.perf_counter()
        texts = drawn(args.num, args.seed, progress=True)
        seconds = time.perf_counter() - start
        chars = sum(len(t) for t in texts)
        if args.redraw and ckpt.kind == "text":
            print("note: --redraw checks music; plain text is kept as drawn", file=sys.stderr)
        elif args.redraw:
            if ckpt.kind == "abc" and shutil.which("abc2midi") is None:
                print(
                    "note: abc2midi is not installed: redraws check music21 only", file=sys.stderr
                )
            done = redraw(texts, ckpt.kind, args.redraw, drawn, args.seed)
            print(
                f"redrawn: {done.redrawn} draws over {args.redraw} round(s) at most; "
                f"{done.failing} sample(s) still failing",
                file=sys.stderr,
            )
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except VocabularyError as err:  # a primer the model cannot read
        print(f"error: {path}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing written", file=sys.stderr)
        return 130
    threads = torch.get_num_threads()
    print(
        f"{path}: {len(texts)} samples, {chars} characters in {seconds:.2f}s "
        f"({chars / max(seconds, 1e-9):,.0f} chars/s, {threads} thread{'s' * (threads != 1)})",
        file=sys.stderr,
    )
    status = prepare_output(args.out, "generate.sample")
    if status is not None:
        return status
    valid = unwritten = 0
    corpus_name = {"abc": "ABC", "stave": "stave text"}.get(ckpt.kind, ckpt.kind)
    seed = "unseeded" if args.seed is None else f"seed {args.seed}"
    for i, text in enumerate(texts, start=1):
        title = f"stavegen sample {i}, char-LSTM on {corpus_name}, T={args.temperature:g}, {seed}"
        source = f"stavegen char-LSTM ({path.name})"
        try:
            result = write_sample(text, ckpt.kind, args.out / f"sample-{i:03d}", title, source)
        except OSError as err:  # a full disk, a read-only folder: say so, try the next one
            report_output_error(err, f"sample {i}")
            unwritten += 1
            continue
        if result.error is None:
            valid += 1
            names = ", ".join(p.name for p in [result.text_path, *result.written])
            print(f"sample {i}: {names}")
        else:
            print(f"sample {i}: {result.text_path.name} does not convert: {result.error}")
    print(f"valid={valid}/{len(texts)}")
    return 1 if unwritten else 0


if __name__ == "__main__":
    sys.exit(main())
