"""How many sampled ABC tunes abc2midi and music21 accept.

    python bench/abc_validity.py [--checkpoint PATH] [--num 30] [--temperature 0.8] [--seed 0]

Samples ``--num`` tunes from the shipped ABC model (or ``--checkpoint``), writes each, and
checks it with abc2midi (exit 0, no error reported, a MIDI file written) and with music21
(parses, has notes, writes MusicXML).  Target (issue 2): at least 90% of 30 at 0.8 for abc2midi.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from generate.checkpoint import default_checkpoint, load_checkpoint
from generate.evaluate import abc2midi_accepts
from generate.model import CharLSTM
from generate.sample import draw, write_sample


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=default_checkpoint("abc"))
    p.add_argument("--num", type=int, default=30)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--length", type=int, default=2000)
    args = p.parse_args()

    ckpt = load_checkpoint(args.checkpoint)
    model = ckpt.build_model()
    assert isinstance(model, CharLSTM)
    texts = draw(
        model, ckpt.vocab, ckpt.kind, args.num, args.length, args.temperature, seed=args.seed
    )
    by_abc2midi = by_music21 = 0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for i, text in enumerate(texts, start=1):
            result = write_sample(text, ckpt.kind, out / f"sample-{i:03d}")
            ok, output = abc2midi_accepts(result.text_path, out)
            by_abc2midi += ok
            by_music21 += result.error is None
            if not ok:
                first = next((ln for ln in output.splitlines() if "rror" in ln), output[:100])
                print(f"sample {i}: abc2midi rejects: {first.strip()}")
            if result.error is not None:
                print(f"sample {i}: music21 rejects: {result.error[:120]}")
    n = len(texts)
    print(f"checkpoint {args.checkpoint} temperature={args.temperature} seed={args.seed}")
    print(
        f"abc2midi_accepted={by_abc2midi}/{n} ({100 * by_abc2midi / n:.0f}%) "
        f"music21_converted={by_music21}/{n} ({100 * by_music21 / n:.0f}%)"
    )


if __name__ == "__main__":
    main()
