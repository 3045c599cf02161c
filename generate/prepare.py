"""``python -m generate.prepare``: turn a corpus into ``train.txt``, ``val.txt`` and ``meta.json``.

``generate.train`` runs this itself when given ``--corpus``; run it alone to prepare once and
train several times (``generate.train --data DIR``), or to inspect what the model will see.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from generate.charlstm import corpus
from generate.charlstm.prepare import prepare_corpus
from generate.checkpoint import CheckpointError, load_char_lstm
from stave.cli import finite_float, non_negative_int, positive_int, report_output_error
from stave.training import check_output_folder


def fraction(text: str) -> float:
    """A share strictly between 0 and 1 (of pieces held out for validation)."""
    value = finite_float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be above 0 and below 1, got {text}")
    return value


def add_corpus_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--corpus",
        nargs="+",
        default=[corpus.MUSIC21_ABC],
        help="'music21-abc' (the ABC bundled with music21), 'music21-stave' (its melodies as "
        "stave text), or files and folders: files that are not text are skipped with a note; "
        "all files must be of one kind unless --kind is given (default: music21-abc)",
    )
    p.add_argument(
        "--kind",
        choices=corpus.KINDS,
        help="read every file as this kind; 'text' takes any file as paragraphs "
        "(default: detected per file)",
    )
    p.add_argument(
        "--val-fraction",
        type=fraction,
        default=0.05,
        help="share of whole pieces held out for validation (default: %(default)s)",
    )
    p.add_argument(
        "--max-pieces",
        type=positive_int,
        help="use at most this many pieces, chosen by the seed (default: all)",
    )
    p.add_argument(
        "--abc2midi-only",
        action="store_true",
        help="train only on the ABC tunes abc2midi accepts; validation unchanged "
        "(needs abc2midi; default: off)",
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m generate.prepare", description=__doc__)
    add_corpus_arguments(p)
    p.add_argument(
        "-o", "--out", type=Path, required=True, help="folder to write (required; no default)"
    )
    p.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed for the split (default: 0)"
    )
    p.add_argument(
        "--vocab-from",
        type=Path,
        help="keep this char-LSTM checkpoint's vocabulary, so that it can be fine-tuned on "
        "the data (--data with --init-from); characters outside it are read as unknown "
        "(default: the training text's own)",
    )
    p.add_argument(
        "--augment",
        type=non_negative_int,
        default=0,
        help="ABC: add this many copies of each training tune, respelled as people also "
        "write ABC (chord symbols dropped, header spacing and order, L: spelled out, lines "
        "joined, bars spaced; each at random); validation unchanged (default: 0)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        check_output_folder(args.out)
        vocab = load_char_lstm(args.vocab_from)[1].vocab if args.vocab_from else None
        prepared = prepare_corpus(
            args.corpus,
            args.out,
            args.kind,
            args.val_fraction,
            args.seed,
            args.max_pieces,
            abc2midi_only=args.abc2midi_only,
            vocab=vocab,
            augment=args.augment,
        )
    except (corpus.CorpusError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the corpus is read into CorpusErrors: this is the output
        return report_output_error(err)
    print(f"vocabulary: {len(prepared.vocab)} symbols; kind: {prepared.kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
