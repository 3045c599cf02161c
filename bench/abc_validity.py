"""How many sampled ABC tunes abc2midi and music21 accept, beside the corpus's own tunes.

    python bench/abc_validity.py [--checkpoint PATH] [--num 30] [--temperature 0.8] [--seed 0]

Samples ``--num`` tunes from the shipped ABC model (or ``--checkpoint``) with the default
primer twice: within ABC's grammar, as ``generate.sample`` draws them (``samples``), and
without it, the network alone (``free``; the same seed).  Checks each:

- abc2midi, strict: exit 0, no ``Error`` reported, a MIDI file written (issue #18's target:
  at least 97% of 150 tunes, ``--seed 0 1 2 3 4``, at temperature 0.8);
- abc2midi, playable: it wrote a MIDI file holding notes (read back with mido);
- music21: parses, has notes, writes MusicXML and MIDI.

As a baseline in the same run, the same checks on ``--num`` random tunes of the training
corpus (music21's ABC, as the model reads it), or of ``--held-out FILE`` (a prepared
corpus's ``val.txt``), and the ratio of each strict rate to the corpus's.  With several
seeds, each run is printed, then the totals.

Then the tunes' form, samples beside the baseline: repeat signs per tune (``:|`` and
``::``), the share of tunes with first and second endings, and the share of bars (the first
and the last of each tune left out: pickups) that hold exactly their metre, as music21
reads the tune.
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
from pathlib import Path

import mido

from generate.charlstm.corpus import abc2midi_accepts, load_music21_abc
from generate.charlstm.sampling import draw, write_sample
from generate.checkpoint import default_checkpoint, load_char_lstm
from stave.abc import read_text, split_abc
from stave.melody import long_bar


def has_notes(mid: Path) -> bool:
    try:
        return any(m.type == "note_on" and m.velocity > 0 for m in mido.MidiFile(mid))
    except (OSError, ValueError, EOFError):
        return False


def check(texts: list[str], label: str, verbose: bool) -> tuple[int, int, int]:
    strict = playable = music21 = 0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for i, text in enumerate(texts, start=1):
            result = write_sample(text, "abc", out / f"{label}-{i:03d}")
            ok, output = abc2midi_accepts(result.text_path, out)
            strict += ok
            playable += has_notes(out / f"{label}-{i:03d}.mid")
            music21 += result.error is None
            if verbose and not ok:
                first = next((ln for ln in output.splitlines() if "rror" in ln), output[:100])
                print(f"{label} {i}: abc2midi: {first.strip()}")
    return strict, playable, music21


REPEAT = re.compile(r":\||::")
ENDING = re.compile(r"(\[|\|)1")


def form(texts: list[str]) -> tuple[float, float, float]:
    """(repeat signs per tune, share of tunes with endings, share of full bars)."""
    from music21 import converter, meter, stream

    full = bars = 0
    for text in texts:
        if long_bar(text) is not None:  # music21 would take minutes over its metre
            continue
        try:
            score = converter.parse(text, format="abc")
        except Exception:  # a tune music21 cannot read: its bars are not counted
            continue
        parts = list(score.parts) if isinstance(score, stream.Score) else [score]
        for part in parts:
            measures = list(part.getElementsByClass(stream.Measure))[1:-1]
            metre = None
            for m in part.getElementsByClass(stream.Measure):
                metre = m.getElementsByClass(meter.TimeSignature).first() or metre
                if m in measures and metre is not None:
                    bars += 1
                    full += m.duration.quarterLength == metre.barDuration.quarterLength
    n = max(1, len(texts))
    repeats = sum(len(REPEAT.findall(t)) for t in texts) / n
    endings = sum(bool(ENDING.search(t)) for t in texts) / n
    return repeats, endings, full / max(1, bars)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=default_checkpoint("abc"))
    p.add_argument("--num", type=int, default=30, help="tunes per seed (default 30)")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, help="sample among the k likeliest characters only")
    p.add_argument(
        "--seed", type=int, nargs="+", default=[0], help="one run per seed, then the totals"
    )
    p.add_argument("--length", type=int, default=2000)
    p.add_argument("--quiet", action="store_true", help="do not list each rejection")
    p.add_argument("--held-out", type=Path, help="ABC tunes to compare with (a val.txt)")
    args = p.parse_args()

    model, ckpt = load_char_lstm(args.checkpoint)
    pool = (
        split_abc(read_text(args.held_out), str(args.held_out))
        if args.held_out
        else load_music21_abc()
    )
    print(f"checkpoint {args.checkpoint} temperature={args.temperature} top_k={args.top_k}")
    every: dict[str, list[str]] = {"samples": [], "free": [], "corpus": []}
    totals: dict[str, tuple[int, int, int]] = {name: (0, 0, 0) for name in every}
    for seed in args.seed:
        texts = {
            name: draw(
                model,
                ckpt.vocab,
                ckpt.kind,
                args.num,
                args.length,
                args.temperature,
                top_k=args.top_k,
                seed=seed,
                context=ckpt.context,
                grammar=grammar,
                report=lambda line: print(f"note: {line}"),
            )
            for name, grammar in (("samples", True), ("free", False))
        }
        texts["corpus"] = [
            t.text for t in random.Random(seed).sample(pool, min(args.num, len(pool)))
        ]
        rows = {name: check(tunes, name, not args.quiet) for name, tunes in texts.items()}
        print(f"seed {seed}")
        report(texts, rows)
        for name, tunes in texts.items():
            every[name] += tunes
            strict, playable, m21 = rows[name]
            t = totals[name]
            totals[name] = (t[0] + strict, t[1] + playable, t[2] + m21)
    if len(args.seed) > 1:
        print(f"all {len(args.seed)} seeds")
        report(every, totals)


def report(texts: dict[str, list[str]], rows: dict[str, tuple[int, int, int]]) -> None:
    """Print each set's counts (abc2midi strict, playable, music21), each strict rate beside
    the corpus's, and the form of its tunes."""
    for name, (strict, playable, m21) in rows.items():
        n = len(texts[name])
        print(
            f"{name:<8} abc2midi_strict={strict}/{n} ({100 * strict / n:.1f}%) "
            f"abc2midi_playable={playable}/{n} music21={m21}/{n}"
        )
    c = rows["corpus"][0] / len(texts["corpus"])
    for name in ("samples", "free"):
        s = rows[name][0] / len(texts[name])
        print(f"strict ratio {name}/corpus={s / max(1e-9, c):.2f}")
    for name, tunes in texts.items():
        repeats, endings, full = form(tunes)
        print(
            f"{name:<8} repeat_signs_per_tune={repeats:.2f} with_endings={endings:.2f} "
            f"full_bars={full:.3f}"
        )


if __name__ == "__main__":
    main()
