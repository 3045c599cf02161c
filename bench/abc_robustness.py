"""Bits per character of ABC tunes as people write them: the same tunes in other spellings.

    python bench/abc_robustness.py FILE.abc [FILE.abc ...] [--checkpoint PATH] [--tunes 100]

Each tune is scored as written (the baseline) and rewritten each way below, by the shipped
ABC model or ``--checkpoint``; each variant's bits per character are printed beside the
baseline's, with their ratio.  The measure is the file as given (issue 18): no variant is
normalised back before scoring.  The variants (``generate.charlstm.variants``):

- ``no chords``: chord symbols (``"Am"``) removed, the melody line alone;
- ``X: 1``: a space after every field's colon in the header (``T: Title``);
- ``fields reordered``: the header's fields after ``X:`` in reverse order, ``K:`` kept last;
- ``L: spelled out``: ``L:1/8`` added where a tune has no ``L:`` (the default it means);
- ``one line``: each tune's music lines joined into one (line breaks are layout in ABC);
- ``spaced bars``: a space on either side of every bar line.
"""

from __future__ import annotations

import argparse
import re
from itertools import pairwise
from pathlib import Path

import numpy as np

from generate.charlstm.scoring import file_bits
from generate.charlstm.variants import VARIANTS
from generate.checkpoint import default_checkpoint, load_char_lstm
from stave.abc import read_text

X_LINE = re.compile(r"^X:", re.MULTILINE)


def raw_tunes(text: str) -> list[str]:
    """Each tune of an ABC file as written: from its ``X:`` line to the first blank line
    (``stave.abc.split_abc`` normalises them; the measure here is the text as given)."""
    starts = [m.start() for m in X_LINE.finditer(text)] + [len(text)]
    tunes = []
    for a, b in pairwise(starts):
        tune = re.split(r"\n[ \t]*\n", text[a:b], maxsplit=1)[0].strip()
        if "\n" in tune:
            tunes.append(tune)
    return tunes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("files", type=Path, nargs="+", help="ABC files whose tunes are scored")
    p.add_argument("--checkpoint", type=Path, help="char-LSTM (default: the shipped ABC model)")
    p.add_argument("--tunes", type=int, default=100, help="tunes scored, every k-th of all")
    args = p.parse_args()
    model, ckpt = load_char_lstm(args.checkpoint or default_checkpoint("abc"))
    tunes = [t for f in args.files for t in raw_tunes(read_text(f))]
    step = max(1, len(tunes) // max(1, args.tunes))
    tunes = tunes[::step][: args.tunes]

    def rate(texts: list[str]) -> tuple[float, int]:
        bits = [file_bits(model, ckpt.vocab, t, ckpt.context)[0] for t in texts]
        joined = np.concatenate(bits)
        return float(joined.mean(dtype=np.float64)), len(joined)

    base, chars = rate(tunes)
    print(f"{len(tunes)} tunes of {len(args.files)} file(s); the {ckpt.kind} model")
    print(f"{'as written':<20}{base:>8.4f} bits/char over {chars:,} chars")
    for name, rewrite in VARIANTS.items():
        changed = [rewrite(t) for t in tunes]
        moved = sum(a != b for a, b in zip(tunes, changed, strict=True))
        value, n = rate(changed)
        print(
            f"{name:<20}{value:>8.4f} bits/char over {n:,} chars, ratio {value / base:.3f} "
            f"({moved} tunes changed)"
        )


if __name__ == "__main__":
    main()
