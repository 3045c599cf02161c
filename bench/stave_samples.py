"""Does the stave-text model write music that measures like its corpus?

    python bench/stave_samples.py VAL.txt [--checkpoint PATH] [--num 100] [--temperature 0.8]

Samples ``--num`` pieces from the shipped stave-text model (or ``--checkpoint``) and measures
them beside the held-out melodies in ``VAL.txt`` (stave text, pieces separated by blank
lines: a prepared corpus's ``val.txt``, which the model did not train on), the baseline:

- staff position: the mean and the spread (standard deviation) of the notes' staff steps
  (2 = the bottom line, 10 = the top line; below 0 or above 12 is on ledger lines);
- durations: the share of notes of each printed value, and the total-variation distance
  between the samples' shares and the melodies' (0 = the same, 1 = disjoint);
- scale: the share of notes (sounding pitch: clef, key and accidentals applied) in the
  major scale that holds most of each piece's notes.

Each sample figure is printed with its ratio to the melodies'; the issue's target is within
10% on each (for durations: a distance of at most 0.10).  Samples that are not stave text
are counted and left out.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from generate.charlstm.sampling import draw
from generate.checkpoint import default_checkpoint, load_char_lstm
from stave.musicxml import stave_pitches
from stave.stavetext import Note, StaveTextError, split_pieces

MAJOR = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], bool)


@dataclass
class Figures:
    pieces: int
    notes: int
    mean_step: float
    spread: float
    in_scale: float
    durations: Counter[str]

    def shares(self) -> dict[str, float]:
        total = sum(self.durations.values()) or 1
        return {k: v / total for k, v in self.durations.items()}


def figures(texts: list[str]) -> tuple[Figures, int]:
    """The measures over pieces of stave text, and how many texts did not parse."""
    steps: list[int] = []
    durations: Counter[str] = Counter()
    fitting = notes = pieces = bad = 0
    for text in texts:
        try:
            parsed = split_pieces(text)
        except StaveTextError:
            bad += 1
            continue
        for piece in parsed:
            classes: list[int] = []
            for line in piece:
                for tok in line:
                    if isinstance(tok, Note):
                        steps.append(tok.step)
                        durations[str(tok.duration or "4")] += 1
                classes += [p.pitchClass for p in stave_pitches(line)]
            if classes:
                pieces += 1
                counts = np.bincount(classes, minlength=12)
                fitting += max(int(counts[np.roll(MAJOR, t)].sum()) for t in range(12))
                notes += len(classes)
    found = Figures(
        pieces,
        notes,
        float(np.mean(steps)) if steps else float("nan"),
        float(np.std(steps)) if steps else float("nan"),
        fitting / max(1, notes),
        durations,
    )
    return found, bad


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("val", type=Path, help="held-out melodies in stave text (a val.txt)")
    p.add_argument("--checkpoint", type=Path, default=default_checkpoint("stave"))
    p.add_argument("--num", type=int, default=100, help="samples (default: %(default)s)")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--length", type=int, default=1500, help="characters at most per sample")
    args = p.parse_args()

    model, ckpt = load_char_lstm(args.checkpoint)
    if ckpt.kind != "stave":
        p.error(f"{args.checkpoint} is a {ckpt.kind} model, not a stave-text one")
    held, bad_held = figures(args.val.read_text(encoding="utf-8").split("\n\n"))
    texts = draw(
        model,
        ckpt.vocab,
        "stave",
        args.num,
        args.length,
        args.temperature,
        seed=args.seed,
        context=ckpt.context,
    )
    made, bad = figures(texts)
    print(
        f"held-out melodies: {held.pieces} pieces, {held.notes} notes"
        + (f" ({bad_held} unreadable)" if bad_held else "")
    )
    print(
        f"samples: {made.pieces} of {args.num} pieces with notes, {made.notes} notes, "
        f"{bad} not stave text; checkpoint {args.checkpoint}, temperature {args.temperature}"
    )
    print(f"{'':<16}{'held out':>10}{'samples':>10}{'ratio':>8}")
    for name, a, b in (
        ("mean step", held.mean_step, made.mean_step),
        ("step spread", held.spread, made.spread),
        ("in one scale", held.in_scale, made.in_scale),
    ):
        print(f"{name:<16}{a:>10.3f}{b:>10.3f}{b / a:>8.3f}")
    ours, theirs = made.shares(), held.shares()
    values = sorted(set(ours) | set(theirs), key=lambda v: (-theirs.get(v, 0), v))
    distance = 0.5 * sum(abs(ours.get(v, 0) - theirs.get(v, 0)) for v in values)
    shown = ", ".join(f"{v}: {theirs.get(v, 0):.2f}/{ours.get(v, 0):.2f}" for v in values[:8])
    print(f"durations (held out/samples) {shown}")
    print(f"duration_distance={distance:.3f}")


if __name__ == "__main__":
    main()
