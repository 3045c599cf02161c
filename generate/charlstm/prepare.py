"""A corpus prepared once into ``train.txt``, ``val.txt`` and ``meta.json`` (whole pieces split
by seed, the vocabulary fixed), so that training only reads files."""

from __future__ import annotations

import random
import sys
from collections import Counter
from pathlib import Path

from generate.charlstm import corpus, data, variants
from stave import atomic
from stave.training import writing


def _abc2midi_kept(pieces: list[corpus.Piece], what: str) -> list[corpus.Piece]:
    """The pieces abc2midi accepts (``--abc2midi-only``), with a line on stderr saying how many
    of ``what`` were kept."""
    try:
        kept = corpus.abc2midi_valid(pieces)
    except FileNotFoundError as err:
        raise corpus.CorpusError("--abc2midi-only needs abc2midi (Debian package abcmidi)") from err
    print(f"abc2midi accepts {len(kept)} of {len(pieces)} {what}; kept those", file=sys.stderr)
    return kept


def prepare_corpus(
    spec: list[str],
    out: Path,
    kind: corpus.Kind | None = None,
    val_fraction: float = 0.05,
    seed: int = 0,
    max_pieces: int | None = None,
    vocab: data.Vocab | None = None,
    abc2midi_only: bool = False,
    augment: int = 0,
) -> data.Prepared:
    """Load the corpus, split it by whole pieces, write the prepared files into ``out``.

    ``vocab``: keep this vocabulary (fine-tuning) instead of building one from the text.
    ``abc2midi_only``: train only on the ABC tunes abc2midi accepts (validation unchanged).
    ``augment``: add this many copies of each training tune (ABC), each spelled as people
    also write ABC (``generate.charlstm.variants.varied``, seeded); validation unchanged.
    """
    parts, found_kind = corpus.load_parts(spec, kind, max_pieces, seed)
    labelled = [(name, p) for name, pieces in parts for p in pieces]
    if max_pieces is not None and len(labelled) > max_pieces:
        labelled = random.Random(seed).sample(labelled, max_pieces)
    pieces = [p for _, p in labelled]
    # Each part gives its share of whole pieces to validation, so that a mixed corpus is
    # validated on every part (OUT/val-PART.txt beside val.txt).
    train, val, val_parts = [], [], {}
    files = [p for n, p in labelled if n not in corpus.BUILTIN_CORPORA]
    for name, _ in parts:
        mine = [p for n, p in labelled if n == name]
        if len(parts) > 1 and len(mine) < 2:
            raise corpus.CorpusError(f"{name}: {len(mine)} piece(s); each part needs 2 or more")
        part_train, part_val = corpus.split_train_val(mine, val_fraction, seed)
        if found_kind == "abc" and name in corpus.BUILTIN_CORPORA and len(parts) > 1:
            # After the split, so that a built-in corpus holds out the tunes it holds out
            # alone (those a model trained on it alone was validated on).
            kept_train = corpus.tunes_not_in(part_train, files)
            kept_val = corpus.tunes_not_in(part_val, files)
            dropped = len(part_train) + len(part_val) - len(kept_train) - len(kept_val)
            if dropped:
                print(
                    f"note: {dropped} tune(s) of {name} left out: the files hold a tune of "
                    "the same title, metre and key",
                    file=sys.stderr,
                )
            part_train, part_val = kept_train, kept_val
        train += part_train
        val += part_val
        val_parts[name] = part_val
    if abc2midi_only:  # after the split, so that the validation tunes stay the same
        if found_kind != "abc":
            raise corpus.CorpusError(
                f"--abc2midi-only is for ABC corpora, this one is {found_kind}"
            )
        train = _abc2midi_kept(train, "training tunes")
    if augment:
        if found_kind != "abc":
            raise corpus.CorpusError(f"--augment is for ABC corpora, this one is {found_kind}")
        rng = random.Random(seed)
        copies = [
            corpus.Piece(variants.varied(p.text, rng), f"{p.source}~{k + 1}")
            for k in range(augment)
            for p in train
        ]
        copies = [c for c in copies if c.text.strip()]
        if abc2midi_only:  # a respelling abc2midi refuses would teach what was filtered out
            copies = _abc2midi_kept(copies, "respelled copies")
        print(f"augmented: {len(copies)} respelled copies of the training tunes", file=sys.stderr)
        train = train + copies
    print(
        f"corpus {' '.join(spec)}: {len(pieces)} pieces ({found_kind}), "
        f"{len(train)} train / {len(val)} validation -> {out}",
        file=sys.stderr,
    )
    prepared = data.prepare(train, val, found_kind, out, " ".join(spec), vocab)
    if len(parts) > 1:
        for name, part_val in val_parts.items():
            path = out / f"val-{name}.txt"
            with writing(path):
                atomic.write_text(path, corpus.SEPARATOR.join(p.text for p in part_val))
            print(f"held out: {len(part_val)} pieces of {name} -> {path}", file=sys.stderr)
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
