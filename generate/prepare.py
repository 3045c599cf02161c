"""``python -m generate.prepare``: turn a corpus into ``train.txt``, ``val.txt`` and ``meta.json``.

``generate.train`` runs this itself when given ``--corpus``; run it alone to prepare once and
train several times (``generate.train --data DIR``), or to inspect what the model will see.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from generate import corpus, data


def prepare_corpus(
    spec: list[str],
    out: Path,
    kind: corpus.Kind | None = None,
    val_fraction: float = 0.05,
    seed: int = 0,
    max_pieces: int | None = None,
    vocab: data.Vocab | None = None,
    abc2midi_only: bool = False,
) -> data.Prepared:
    """Load the corpus, split it by whole pieces, write the prepared files into ``out``.

    ``vocab``: keep this vocabulary (fine-tuning) instead of building one from the text.
    ``abc2midi_only``: train only on the ABC tunes abc2midi accepts (validation unchanged).
    """
    pieces, found_kind = corpus.load(spec, kind, max_pieces, seed)
    if max_pieces is not None and len(pieces) > max_pieces:
        pieces = random.Random(seed).sample(pieces, max_pieces)
    train, val = corpus.split_train_val(pieces, val_fraction, seed)
    if abc2midi_only:  # after the split, so that the validation tunes stay the same
        if found_kind != "abc":
            raise corpus.CorpusError(
                f"--abc2midi-only is for ABC corpora, this one is {found_kind}"
            )
        try:
            kept = corpus.abc2midi_valid(train)
        except FileNotFoundError as err:
            raise corpus.CorpusError(
                "--abc2midi-only needs abc2midi (Debian package abcmidi)"
            ) from err
        print(
            f"abc2midi accepts {len(kept)} of {len(train)} training tunes; kept those",
            file=sys.stderr,
        )
        train = kept
    print(
        f"corpus {' '.join(spec)}: {len(pieces)} pieces ({found_kind}), "
        f"{len(train)} train / {len(val)} validation -> {out}",
        file=sys.stderr,
    )
    prepared = data.prepare(train, val, found_kind, out, " ".join(spec), vocab)
    if vocab is not None:
        unknown = sum(1 for p in train for c in p.text if c not in prepared.vocab.index)
        if unknown:
            print(f"{unknown} training characters are outside the vocabulary", file=sys.stderr)
    return prepared


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
