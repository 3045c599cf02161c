"""A corpus prepared once into ``train.txt``, ``val.txt`` and ``meta.json`` (whole pieces split
by seed, the vocabulary fixed), so that training only reads files."""

from __future__ import annotations

import random
import sys
from collections import Counter
from pathlib import Path

from generate.charlstm import corpus, data


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
        outside = Counter(c for p in train for c in p.text if c not in prepared.vocab.index)
        if outside:
            shown = ", ".join(f"{c!r} ({n})" for c, n in outside.most_common(10))
            more = f" and {len(outside) - 10} more" if len(outside) > 10 else ""
            print(
                f"note: {sum(outside.values())} training characters are outside the "
                f"vocabulary of {len(prepared.vocab)} symbols, read as the unknown symbol: "
                f"{shown}{more}",
                file=sys.stderr,
            )
    return prepared
