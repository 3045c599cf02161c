"""Sampling the MIDI-event LSTM and the chord GAN (``python -m generate.sample --model
midi-lstm|chord-gan``).

Per sample: ``sample-001.mid``, ``sample-001.musicxml``, a piano-roll picture
``sample-001.png`` and, when FluidSynth and a General MIDI soundfont are installed,
``sample-001.wav``.  The last line printed is ``valid=K/N`` (samples written in full).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from tqdm import tqdm

from generate.checkpoint import DEFAULT_MODEL_WEIGHTS, Checkpoint, CheckpointError, load_model
from generate.convert import output_cause
from generate.midi import plots
from generate.midi.events import ROLL_STEPS_PER_BEAT, events_to_notes, normalize_pitch
from generate.midi.gan import METRES, ChordGAN, metre_name
from generate.midi.io import (
    NoteEvent,
    notes_to_score,
    piano_roll,
    roll_notes,
    write_midi,
)
from generate.midi.lstm import MidiLSTM, MidiSoftmaxLSTM
from generate.sample import add_run_arguments, prepare_output, set_threads
from stave import musicxml
from stave.cli import non_negative_float, positive_int, report_output_error
from stave.convert import render_wav

T = TypeVar("T")

PICTURE_STEPS_PER_BEAT = 4
MODEL_NAMES = {"midi-lstm": "MIDI-event LSTM", "chord-gan": "chord GAN"}


def lstm_pieces(
    model: MidiLSTM | MidiSoftmaxLSTM,
    primers: list[np.ndarray],
    num: int,
    length: int,
    temperature: float,
    seed: int | None,
) -> list[list[NoteEvent]]:
    """``num`` continuations of primers (taken in turn from the data the model was trained
    on, or random notes when there are none), without the primer itself."""
    gen = torch.Generator().manual_seed(seed if seed is not None else int(torch.seed() % 2**31))
    rng = np.random.default_rng(seed)
    pieces = []
    for i in progress(range(num), "generating", "piece"):
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
        events = model.generate(torch.from_numpy(primer), length, temperature, gen).numpy()
        pieces.append(events_to_notes(events))
    return pieces


def gan_pieces(
    gan: ChordGAN, num: int, segments: int, seed: int | None, metre: int | None = None
) -> list[tuple[np.ndarray, list[NoteEvent]]]:
    """``num`` pieces of ``segments`` generated segments each, in bars of ``metre`` (eighths
    per bar; None: the model's first): (roll, notes).  ``ValueError`` for a metre the model
    does not draw."""
    gen = torch.Generator().manual_seed(seed if seed is not None else int(torch.seed() % 2**31))
    out = []
    for _ in range(num):
        flat = gan.generate(segments, gen, metre).numpy().reshape(-1, 88)
        out.append((flat, roll_notes(flat, ROLL_STEPS_PER_BEAT)))
    return out


def add_metre_argument(p: argparse.ArgumentParser) -> None:
    """``--metre``, for the chord GAN (``generate.sample`` and ``generate.evaluate``)."""
    p.add_argument(
        "--metre",
        choices=tuple(METRES),
        help="GAN: the bars it draws, of those the model learned (default: its first; 4/4 "
        "for the shipped model)",
    )


def write_piece(
    base: Path,
    notes: list[NoteEvent],
    title: str,
    source: str = "",
    time_signature: str = "4/4",
) -> str | None:
    """MIDI, MusicXML (a grand staff, in bars of ``time_signature``), picture and (when
    possible) audio; an error message or None.  A file that cannot be written (a full disk,
    a read-only folder) raises ``OSError`` naming it, after removing what was written of
    this piece."""
    if not notes:
        return "no notes"
    try:
        write_midi(base.with_suffix(".mid"), notes, time_signature=time_signature)
        score = notes_to_score(notes, title=title, source=source, time_signature=time_signature)
        musicxml.write_score(score, base, ("musicxml",))
        plots.piano_roll(
            base.with_suffix(".png"),
            piano_roll(notes, PICTURE_STEPS_PER_BEAT),
            PICTURE_STEPS_PER_BEAT,
            title,
        )
        render_wav(base.with_suffix(".mid"), base.with_suffix(".wav"))
    except (musicxml.ConversionError, OSError, ValueError) as err:
        cause = output_cause(err)
        if cause is None:
            return str(err)
        for suffix in (".mid", ".musicxml", ".png", ".wav"):
            base.with_suffix(suffix).unlink(missing_ok=True)
        if cause.filename is None or Path(os.fspath(cause.filename)).name.startswith("."):
            cause.filename = str(base.with_suffix(".*"))
        raise cause from None
    return None


def checkpoint_primers(ckpt: Checkpoint, path: Path) -> list[np.ndarray]:
    """The primers a MIDI-LSTM checkpoint carries (event arrays (T, 3)), checked."""
    primers = ckpt.info.get("primers", [])
    if not isinstance(primers, (list, tuple)):
        raise CheckpointError(f"{path}: info.primers is a {type(primers).__name__}, not a list")
    out = []
    for i, primer in enumerate(primers):
        try:
            array = np.asarray(primer, np.float32)
        except (TypeError, ValueError):
            array = np.zeros((0, 0), np.float32)
        if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] != 3:
            raise CheckpointError(
                f"{path}: info.primers[{i}] is not a list of (pitch, velocity, time) events"
            )
        if not np.isfinite(array).all():
            raise CheckpointError(f"{path}: info.primers[{i}] holds NaN or infinite values")
        out.append(array)
    return out


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("interrupted: the samples written so far are whole", file=sys.stderr)
        return 130


def _main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m generate.sample --model midi-lstm|chord-gan",
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
        "--num", type=positive_int, default=4, help="pieces, at least 1 (default: %(default)s)"
    )
    p.add_argument(
        "--length",
        type=positive_int,
        default=128,
        help="LSTM: notes per piece, at least 1 (default: %(default)s)",
    )
    p.add_argument(
        "--segments",
        type=positive_int,
        default=2,
        help="GAN: segments per piece, at least 1 (default: %(default)s)",
    )
    add_metre_argument(p)
    p.add_argument(
        "--temperature",
        type=non_negative_float,
        default=1.0,
        help="LSTM: sampling temperature, 0 or more (0: always the likeliest; the seed "
        "design: semitones of noise on each predicted pitch; default: %(default)s)",
    )
    p.add_argument(
        "--random-primer",
        action="store_true",
        help="LSTM: prime with random notes (default: primers from the training data)",
    )
    add_run_arguments(p)
    args = p.parse_args(argv)
    set_threads(args.threads)
    path = args.checkpoint or DEFAULT_MODEL_WEIGHTS[args.model]
    try:
        model, ckpt = load_model(path, args.model)
        primers = [] if args.random_primer else checkpoint_primers(ckpt, path)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    time_signature = "4/4"
    if isinstance(model, (MidiLSTM, MidiSoftmaxLSTM)):
        if args.metre is not None:
            print("note: --metre is for the chord GAN only; ignored", file=sys.stderr)
        pieces = lstm_pieces(model, primers, args.num, args.length, args.temperature, args.seed)
    else:
        assert isinstance(model, ChordGAN)
        metre = None if args.metre is None else METRES[args.metre]
        try:
            drawn = gan_pieces(model, args.num, args.segments, args.seed, metre)
        except ValueError as err:  # a metre the model did not learn
            print(f"error: {path}: {err}", file=sys.stderr)
            return 2
        pieces = [n for _, n in drawn]
        time_signature = metre_name(model.config.bar_steps(metre))
    status = prepare_output(args.out, "generate.sample")
    if status is not None:
        return status
    valid = unwritten = 0
    for i, notes in enumerate(progress(pieces, "writing", "piece"), start=1):
        base = args.out / f"sample-{i:03d}"
        seed = "unseeded" if args.seed is None else f"seed {args.seed}"
        title = f"stavegen sample {i}, {MODEL_NAMES[args.model]}, {seed}"
        try:
            error = write_piece(
                base, notes, title, f"stavegen {args.model} ({path.name})", time_signature
            )
        except OSError as err:  # a full disk, a read-only folder: say so, try the next one
            report_output_error(err, base.name)
            unwritten += 1
            continue
        if error:
            print(f"{base.name}: not written ({error})", file=sys.stderr)
        else:
            valid += 1
            print(f"{base}.mid: {len(notes)} notes")
    print(f"valid={valid}/{len(pieces)}")
    return 0 if valid and not unwritten else 1


def progress(items: Sequence[T], desc: str, unit: str) -> Iterator[T]:
    """``items`` with a bar on stderr where stderr is a terminal (none in logs and tests)."""
    return iter(tqdm(items, desc=desc, unit=unit, leave=False, disable=None))


if __name__ == "__main__":
    sys.exit(main())
