"""``python -m generate.evaluate --model midi-lstm|chord-gan``: the MuseGAN and MGEval measures
(``generate.midi.metrics``) of generated pieces, beside the same measures of the training data
and of a random baseline with the data's note density and range.

The data row's pitch-class histogram distances (as they are and key-normalised) compare one
half of the data with the other (what two samples of the same music differ by); the other
rows compare with the whole data.  The chord rate is the share of steps of three or more
pitch classes that form a triad or a seventh chord.

What a listener notices: wrong notes (``in-scale``: below about 0.85 a tune sounds out of
key), harmony that is not chords (``chords``: clusters sound like noise), and a tonality
unlike the data's (``PCH key``, the key-normalised histogram distance: which scale degrees
are used, and how often).  ``UPC`` and ``PP`` say how busy the music is; ``QN`` how choppy.
The last lines check the generated row against the targets the project set (``TARGETS``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from generate.checkpoint import DEFAULT_MODEL_WEIGHTS, CheckpointError, load_model
from generate.midi.data import chordified_rolls
from generate.midi.events import ROLL_STEPS_PER_BEAT, event_array
from generate.midi.gan import BAR_STEPS, METRES, ChordGAN
from generate.midi.io import KEYS, NoteEvent, music21_pieces, piano_roll, read_midi_folder
from generate.midi.lstm import MidiLSTM, MidiSoftmaxLSTM
from generate.midi.metrics import Measures, measure
from generate.midi.sample import add_metre_argument, gan_pieces, lstm_pieces
from generate.sample import (
    DEFAULT_THREADS,
    SEED_LIMIT,
    add_threads_argument,
    seed_value,
    set_threads,
)
from stave.cli import non_negative_float, positive_int

STEPS_PER_BEAT = 4  # every roll is measured at sixteenths
# The project's targets for 20 samples: (measure, which way, value, models it applies to).
TARGETS = (
    ("in_scale", ">=", 0.85, ("midi-lstm", "chord-gan")),
    ("key_pch_distance", "<=", 0.10, ("midi-lstm", "chord-gan")),
    ("chords", ">=", 0.60, ("chord-gan",)),
)


def random_notes(
    data: list[list[NoteEvent]], count: int, length: int, seed: int
) -> list[list[NoteEvent]]:
    """Pieces of random pitches in the data's range, with onsets spaced as the data's are."""
    rng = np.random.default_rng(seed)
    pitches = np.array([n.pitch for p in data for n in p])
    deltas = np.concatenate([np.diff([n.start for n in p]) for p in data])
    out = []
    for _ in range(count):
        onsets = np.cumsum(rng.choice(deltas, length))
        notes = [
            NoteEvent(int(rng.integers(pitches.min(), pitches.max() + 1)), 80, float(t), 0.5)
            for t in onsets
        ]
        out.append(notes)
    return out


def _upsample(roll: np.ndarray, from_steps: int) -> np.ndarray:
    return np.repeat(roll, STEPS_PER_BEAT // from_steps, axis=0)


def table(rows: dict[str, Measures]) -> str:
    head = f"{'':<22}" + "".join(f"{h:>11}" for h in Measures.ROW)
    lines = [head]
    for name, m in rows.items():
        lines.append(f"{name:<22}" + "".join(f"{v:>11.3f}" for v in m.row()))
    return "\n".join(lines)


def at_least_two(text: str) -> int:
    """A count of pieces to measure: the data's row compares two halves of them."""
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2, got {value}")
    return value


def usable(pieces: list[list[NoteEvent]], midi_dir: Path | None, files: int) -> None:
    """``EvaluationError`` unless there are two pieces of two notes or more to measure."""
    if len(pieces) >= 2:
        return
    where = f"{midi_dir}" if midi_dir is not None else "music21's Bach chorales"
    found = f"{files} MIDI file(s), " if midi_dir is not None else ""
    raise EvaluationError(
        f"{where}: {found}{len(pieces)} usable piece(s) (of 2 notes or more); "
        "the measures need at least 2"
    )


class EvaluationError(ValueError):
    """Data that cannot be measured; the message names it."""


def data_pieces(midi_dir: Path | None, limit: int) -> list[list[NoteEvent]]:
    """The data's pieces (unreadable files reported and skipped), checked to be usable."""
    if midi_dir is None:
        pieces = [n for n in music21_pieces(limit) if len(n) >= 2]
        usable(pieces, None, 0)
        return pieces
    if not midi_dir.is_dir():
        raise EvaluationError(f"{midi_dir}: no such folder")
    files = sum(1 for f in midi_dir.rglob("*") if f.suffix.lower() in (".mid", ".midi"))
    pieces = [n for n in read_midi_folder(midi_dir) if len(n) >= 2][:limit]
    usable(pieces, midi_dir, files)
    return pieces


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m generate.evaluate --model midi-lstm|chord-gan",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model", choices=("midi-lstm", "chord-gan"), required=True, help="which generator"
    )
    p.add_argument(
        "--checkpoint", type=Path, help="checkpoint (default: the shipped one of --model)"
    )
    p.add_argument(
        "--midi-dir",
        type=Path,
        help="folder of MIDI files the model was trained on (default: music21's Bach chorales)",
    )
    p.add_argument(
        "--max-pieces",
        type=at_least_two,
        default=60,
        help="data pieces to measure, at least 2 (default: %(default)s)",
    )
    p.add_argument(
        "--num",
        type=positive_int,
        default=20,
        help="pieces to generate, at least 1 (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=seed_value,
        default=0,
        help=f"random seed, 0 to {SEED_LIMIT - 1} (default: %(default)s)",
    )
    p.add_argument(
        "--temperature",
        type=non_negative_float,
        default=1.0,
        help="LSTM: sampling temperature (the seed design: semitones of noise on each "
        "pitch), as generate.sample's (default: %(default)s)",
    )
    add_metre_argument(p)
    add_threads_argument(p, DEFAULT_THREADS)
    args = p.parse_args(argv)
    set_threads(args.threads)
    path = args.checkpoint or DEFAULT_MODEL_WEIGHTS[args.model]
    try:
        model, _ = load_model(path, args.model)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    beats = 4  # per bar of the generated pieces
    if isinstance(model, ChordGAN):
        try:
            metre = model.config.bar_steps(None if args.metre is None else METRES[args.metre])
        except ValueError as err:  # a metre the GAN did not learn
            print(f"error: {path}: {err}", file=sys.stderr)
            return 2
        beats = metre // ROLL_STEPS_PER_BEAT
    elif args.metre is not None:
        print("note: --metre is for the chord GAN only; ignored", file=sys.stderr)
    try:
        if isinstance(model, (MidiLSTM, MidiSoftmaxLSTM)):
            data_notes = data_pieces(args.midi_dir, args.max_pieces)
            data = [piano_roll(n, STEPS_PER_BEAT) for n in data_notes]
            top_first = isinstance(model, MidiSoftmaxLSTM)  # as the design was trained
            primers = [event_array(n, top_first)[:16] for n in data_notes]
            made = lstm_pieces(model, primers, args.num, 128, args.temperature, args.seed)
            generated = [piano_roll(n, STEPS_PER_BEAT) for n in made]
            baseline = [
                piano_roll(n, STEPS_PER_BEAT)
                for n in random_notes(data_notes, args.num, 128, args.seed)
            ]
        else:
            assert isinstance(model, ChordGAN)
            if args.midi_dir:
                notes = data_pieces(args.midi_dir, args.max_pieces)
                coarse = [piano_roll(n, ROLL_STEPS_PER_BEAT) for n in notes]
            else:
                coarse = [r for r in chordified_rolls(args.max_pieces) if r.any()]
                if len(coarse) < 2:
                    usable([], None, 0)
            data = [_upsample(r, ROLL_STEPS_PER_BEAT) for r in coarse[: args.max_pieces]]
            generated = [
                _upsample(r, ROLL_STEPS_PER_BEAT)
                for r, _ in gan_pieces(model, args.num, 2, args.seed, metre)
            ]
            density = float(np.mean([r.mean() for r in coarse]))
            steps = 2 * model.config.steps // BAR_STEPS * metre
            baseline = [
                _upsample(
                    (rng.random((steps, KEYS)) < density).astype(np.uint8), ROLL_STEPS_PER_BEAT
                )
                for _ in range(args.num)
            ]
    except EvaluationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    half = len(data) // 2
    rows = {
        "training data": measure(data[:half], STEPS_PER_BEAT, reference=data[half:]),
        args.model: measure(generated, STEPS_PER_BEAT, beats, reference=data),
        "random baseline": measure(baseline, STEPS_PER_BEAT, beats, reference=data),
    }
    print(f"{len(data)} data pieces, {len(generated)} generated, {len(baseline)} random")
    print(table(rows))
    made_row = rows[args.model]
    for name, way, value, models in TARGETS:
        if args.model not in models:
            continue
        got = getattr(made_row, name)
        met = got >= value if way == ">=" else got <= value
        print(f"target {name} {way} {value:g}: {got:.3f} ({'met' if met else 'not met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
