"""The MIDI models' data: pieces as event arrays or piano rolls, prepared once into
``OUT/data.npz``; the split into training and validation pieces; random training windows."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from generate.midi.events import ROLL_STEPS_PER_BEAT, event_array
from generate.midi.io import KEYS, NoteEvent, music21_pieces, piano_roll, read_midi_folder
from stave import atomic


def chordified_rolls(limit: int | None = None) -> list[np.ndarray]:
    """The default GAN data: music21's Bach chorales, chordified, as rolls (T, 88)."""
    from music21 import chord, corpus

    rolls = []
    for path in sorted(str(p) for p in corpus.getComposer("bach"))[:limit]:
        try:
            chords = corpus.parse(path).chordify().flatten().getElementsByClass(chord.Chord)
            notes = [
                NoteEvent(p.midi, 80, float(c.offset), float(c.quarterLength))
                for c in chords
                for p in c.pitches
            ]
        except Exception as err:  # a corpus file music21 cannot read: leave it out
            print(f"skipped: {path}: {type(err).__name__}: {err}", file=sys.stderr)
            continue
        if notes:
            rolls.append(piano_roll(notes, ROLL_STEPS_PER_BEAT))
    return rolls


def prepare(
    model: str, out: Path, midi_dir: Path | None, max_pieces: int | None
) -> list[np.ndarray]:
    """The run's data (cached in ``out/data.npz``): event arrays or rolls, one per piece."""
    cache = out / "data.npz"
    if cache.exists():
        with np.load(cache) as z:
            return [z[k] for k in sorted(z.files)]
    if midi_dir is not None:
        pieces = read_midi_folder(midi_dir)[:max_pieces]
        arrays = [
            event_array(p) if model == "midi-lstm" else piano_roll(p, ROLL_STEPS_PER_BEAT)
            for p in pieces
        ]
    elif model == "midi-lstm":
        arrays = [event_array(p) for p in music21_pieces(max_pieces)]
    else:
        arrays = chordified_rolls(max_pieces)
    arrays = [a for a in arrays if len(a) > 1]
    if not arrays:
        raise ValueError("no usable pieces in the data")
    out.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(cache) as tmp, tmp.open("wb") as f:
        named: dict[str, Any] = {f"p{i:05d}": a for i, a in enumerate(arrays)}
        np.savez_compressed(f, **named)
    return arrays


def split(pieces: list[np.ndarray], fraction: float, seed: int) -> tuple[list, list]:
    order = np.random.default_rng(seed).permutation(len(pieces))
    n_val = round(fraction * len(pieces)) if len(pieces) > 1 else 0
    val = [pieces[i] for i in order[:n_val]]
    return [pieces[i] for i in order[n_val:]], val


def event_windows(
    pieces: list[np.ndarray], size: int, length: int, rng: np.random.Generator
) -> torch.Tensor:
    """(size, length + 1, 3) random windows of consecutive events (short pieces padded by
    repeating their end)."""
    out = np.empty((size, length + 1, 3), np.float32)
    weights = np.array([len(p) for p in pieces], float)
    for i, j in enumerate(rng.choice(len(pieces), size, p=weights / weights.sum())):
        p = pieces[j]
        if len(p) <= length + 1:
            p = np.concatenate([p, np.repeat(p[-1:], length + 2 - len(p), axis=0)])
        a = int(rng.integers(0, len(p) - length))
        out[i] = p[a : a + length + 1]
    return torch.from_numpy(out)


def roll_segments(
    rolls: list[np.ndarray], size: int, steps: int, transpose: int, rng: np.random.Generator
) -> torch.Tensor:
    """(size, steps, 88) segments at random times (a time shift), transposed by up to
    ``transpose`` semitones where the notes stay on the keyboard."""
    out = np.zeros((size, steps, KEYS), np.float32)
    usable = [r for r in rolls if len(r) >= steps]
    for i in range(size):
        r = usable[int(rng.integers(len(usable)))]
        a = int(rng.integers(0, len(r) - steps + 1))
        seg = r[a : a + steps]
        shift = int(rng.integers(-transpose, transpose + 1))
        keys = np.flatnonzero(seg.any(axis=0))
        if keys.size and keys.min() + shift >= 0 and keys.max() + shift < KEYS:
            seg = np.roll(seg, shift, axis=1)
        out[i] = seg
    return torch.from_numpy(out)
