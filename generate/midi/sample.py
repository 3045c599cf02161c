"""Sampling the MIDI-event LSTM and the chord GAN (``python -m generate.sample --model
midi-lstm|chord-gan``).

Per sample: ``sample-001.mid``, ``sample-001.musicxml``, a piano-roll picture
``sample-001.png`` and, when FluidSynth and a General MIDI soundfont are installed,
``sample-001.wav``.  The last line printed is ``valid=K/N`` (samples written in full).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from generate.checkpoint import DEFAULT_MODEL_WEIGHTS, CheckpointError, load_model
from generate.midi import plots
from generate.midi.events import ROLL_STEPS_PER_BEAT, events_to_notes, normalize_pitch
from generate.midi.gan import ChordGAN
from generate.midi.io import (
    NoteEvent,
    notes_to_score,
    piano_roll,
    roll_notes,
    write_midi,
)
from generate.midi.lstm import MidiLSTM
from stave import musicxml
from stave.convert import render_wav

PICTURE_STEPS_PER_BEAT = 4
MODEL_NAMES = {"midi-lstm": "MIDI-event LSTM", "chord-gan": "chord GAN"}


def lstm_pieces(
    model: MidiLSTM,
    primers: list[np.ndarray],
    num: int,
    length: int,
    pitch_noise: float,
    seed: int | None,
) -> list[list[NoteEvent]]:
    """``num`` continuations of primers (taken in turn from the data the model was trained
    on, or random notes when there are none), without the primer itself."""
    gen = torch.Generator().manual_seed(seed if seed is not None else int(torch.seed() % 2**31))
    rng = np.random.default_rng(seed)
    pieces = []
    for i in range(num):
        if primers:
            primer = np.asarray(primers[i % len(primers)], np.float32)
        else:
            primer = np.stack(
                [
                    normalize_pitch(rng.integers(55, 80, 8)),
                    np.full(8, 80 / 127),
                    np.full(8, 0.0625),
                ],
                1,
            ).astype(np.float32)
        events = model.generate(torch.from_numpy(primer), length, pitch_noise, gen).numpy()
        pieces.append(events_to_notes(events))
    return pieces


def gan_pieces(
    gan: ChordGAN, num: int, segments: int, seed: int | None
) -> list[tuple[np.ndarray, list[NoteEvent]]]:
    """``num`` pieces of ``segments`` generated segments each: (roll, notes)."""
    gen = torch.Generator().manual_seed(seed if seed is not None else int(torch.seed() % 2**31))
    out = []
    for _ in range(num):
        roll = gan.generate(segments, gen).numpy().reshape(-1, gan.config.steps, 88)
        flat = roll.reshape(-1, 88)
        out.append((flat, roll_notes(flat, ROLL_STEPS_PER_BEAT)))
    return out


def write_piece(base: Path, notes: list[NoteEvent], title: str, source: str = "") -> str | None:
    """MIDI, MusicXML (a grand staff), picture and (when possible) audio; an error message
    or None."""
    if not notes:
        return "no notes"
    try:
        write_midi(base.with_suffix(".mid"), notes)
        score = notes_to_score(notes, title=title, source=source)
        musicxml.write_score(score, base, ("musicxml",))
        plots.piano_roll(
            base.with_suffix(".png"),
            piano_roll(notes, PICTURE_STEPS_PER_BEAT),
            PICTURE_STEPS_PER_BEAT,
            title,
        )
        render_wav(base.with_suffix(".mid"), base.with_suffix(".wav"))
    except (musicxml.ConversionError, OSError, ValueError) as err:
        return str(err)
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m generate.sample --model midi-lstm|chord-gan",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", choices=("midi-lstm", "chord-gan"), required=True)
    p.add_argument("--checkpoint", type=Path, help="default: the shipped one of --model")
    p.add_argument("--num", type=int, default=4, help="pieces")
    p.add_argument("--length", type=int, default=128, help="LSTM: notes per piece")
    p.add_argument("--segments", type=int, default=2, help="GAN: segments per piece")
    p.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="LSTM: semitones of noise on each predicted pitch (0: the network's own choice)",
    )
    p.add_argument("--random-primer", action="store_true", help="LSTM: prime with random notes")
    p.add_argument("--seed", type=int)
    p.add_argument("-o", "--out", type=Path, default=Path("samples"))
    args = p.parse_args(argv)
    if args.num < 1 or args.length < 1 or args.segments < 1:
        p.error("--num, --length and --segments must be at least 1")
    path = args.checkpoint or DEFAULT_MODEL_WEIGHTS[args.model]
    try:
        model, ckpt = load_model(path, args.model)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if isinstance(model, MidiLSTM):
        primers = [] if args.random_primer else list(ckpt.info.get("primers", []))
        pieces = lstm_pieces(model, primers, args.num, args.length, args.temperature, args.seed)
    else:
        assert isinstance(model, ChordGAN)
        pieces = [n for _, n in gan_pieces(model, args.num, args.segments, args.seed)]
    args.out.mkdir(parents=True, exist_ok=True)
    valid = 0
    for i, notes in enumerate(pieces, start=1):
        base = args.out / f"sample-{i:03d}"
        seed = "unseeded" if args.seed is None else f"seed {args.seed}"
        title = f"stavegen sample {i}, {MODEL_NAMES[args.model]}, {seed}"
        error = write_piece(base, notes, title, f"stavegen {args.model} ({path.name})")
        if error:
            print(f"{base.name}: not written ({error})", file=sys.stderr)
        else:
            valid += 1
            print(f"{base}.mid: {len(notes)} notes")
    print(f"valid={valid}/{len(pieces)}")
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main())
