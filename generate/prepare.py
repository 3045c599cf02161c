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


def add_corpus_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--corpus",
        nargs="+",
        default=[corpus.MUSIC21_ABC],
        help="'music21-abc' (the ABC bundled with music21), 'music21-stave' (its melodies as "
        "stave text), or files and folders (default: %(default)s)",
    )
    p.add_argument("--kind", choices=corpus.KINDS, help="corpus kind (default: detected)")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.05,
        help="share of whole pieces held out for validation (default: %(default)s)",
    )
    p.add_argument(
        "--max-pieces",
        type=int,
        help="use at most this many pieces, chosen by the seed (default: all)",
    )
    p.add_argument(
        "--abc2midi-only",
        action="store_true",
        help="train only on the ABC tunes abc2midi accepts; validation unchanged (needs abc2midi)",
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m generate.prepare", description=__doc__)
    add_corpus_arguments(p)
    p.add_argument("-o", "--out", type=Path, required=True, help="folder to write")
    p.add_argument("--seed", type=int, default=0, help="seed for the split (default: 0)")
    args = p.parse_args(argv)
    try:
        prepared = prepare_corpus(
            args.corpus,
            args.out,
            args.kind,
            args.val_fraction,
            args.seed,
            args.max_pieces,
            abc2midi_only=args.abc2midi_only,
        )
    except (corpus.CorpusError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"vocabulary: {len(prepared.vocab)} symbols; kind: {prepared.kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
