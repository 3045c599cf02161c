"""Objective measures of generated music on piano rolls (the MuseGAN and MGEval measures).

All take binary rolls (T, 88) at ``steps_per_beat`` steps a beat, bars of ``beats_per_bar``:

- used pitch classes per bar (UPC): distinct pitch classes in a bar, over the non-empty bars;
- qualified-note rate (QN): share of notes at least an eighth long (MuseGAN counts notes
  shorter than a 32nd unqualified at its 24 steps a beat; our models write sixteenths at the
  finest, so an eighth is the shortest length that is not a single step: compare the rates
  at four steps a beat);
- empty-bar rate (EB): share of bars with no note;
- polyphony (PP): share of time steps where more than two pitches sound (MuseGAN's
  "polyphonicity");
- in-scale rate: share of notes in the major scale (of twelve) that holds most of the notes;
- pitch-class histogram distance: total-variation distance between the set's pitch-class
  histogram and a reference set's (0 = the same distribution, 1 = disjoint), as MGEval
  compares distributions;
- the same, key-normalised: each piece's histogram turned so that the tonic of its
  best-fitting major scale is C before the pieces are summed (music in many keys, as the
  chorales, compared by its scale degrees, not by which keys it happens to be in);
- chord rate: of the time steps where three or more pitch classes sound, the share whose
  pitch classes form a triad (major, minor, diminished, augmented) or a seventh chord
  (dominant, major, minor, half-diminished, diminished; or one of these without its fifth,
  as four-part writing often leaves it out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from generate.midi.io import LOWEST

MAJOR = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], bool)

# Chords as intervals above the root, in semitones.
TRIADS = ((0, 4, 7), (0, 3, 7), (0, 3, 6), (0, 4, 8))
SEVENTHS = ((0, 4, 7, 10), (0, 4, 7, 11), (0, 3, 7, 10), (0, 3, 6, 10), (0, 3, 6, 9))


def _chord_sets() -> frozenset[frozenset[int]]:
    shapes = [*TRIADS, *SEVENTHS, *((r, third, sev) for r, third, _, sev in SEVENTHS)]
    return frozenset(
        frozenset((root + i) % 12 for i in shape) for shape in shapes for root in range(12)
    )


CHORDS = _chord_sets()


@dataclass
class Measures:
    upc: float
    qualified: float
    empty_bars: float
    polyphony: float
    in_scale: float
    chords: float  # of the steps with three or more pitch classes (nan: none has)
    pch_distance: float = float("nan")
    key_pch_distance: float = float("nan")

    ROW = ("UPC", "QN", "EB", "PP", "in-scale", "chords", "PCH dist.", "PCH key")

    def row(self) -> list[float]:
        return [
            self.upc,
            self.qualified,
            self.empty_bars,
            self.polyphony,
            self.in_scale,
            self.chords,
            self.pch_distance,
            self.key_pch_distance,
        ]


def _notes(roll: np.ndarray) -> list[tuple[int, int, int]]:
    """(key, start step, length) of each run of a held key."""
    on = np.asarray(roll, bool)
    pad = np.zeros((1, on.shape[1]), bool)
    change = np.diff(np.vstack([pad, on, pad]).astype(np.int8), axis=0)
    out = []
    for k in range(on.shape[1]):
        starts, ends = np.flatnonzero(change[:, k] == 1), np.flatnonzero(change[:, k] == -1)
        out += [(k, int(a), int(b - a)) for a, b in zip(starts, ends, strict=True)]
    return out


def _counts(roll: np.ndarray) -> np.ndarray:
    """Note onsets per pitch class (C = 0) of one roll."""
    hist = np.zeros(12)
    for k, _, _ in _notes(roll):
        hist[(LOWEST + k) % 12] += 1
    return hist


def best_major(counts: np.ndarray) -> int:
    """The tonic (0 = C) of the major scale holding most of these pitch-class counts."""
    return int(np.argmax([counts[np.roll(MAJOR, t)].sum() for t in range(12)]))


def pitch_class_histogram(rolls: Sequence[np.ndarray], key_normalised: bool = False) -> np.ndarray:
    """Normalized counts of note onsets per pitch class (C = 0); ``key_normalised``: each
    roll's counts turned first so that its best-fitting major scale is C major."""
    hist = np.zeros(12)
    for roll in rolls:
        counts = _counts(roll)
        hist += np.roll(counts, -best_major(counts)) if key_normalised else counts
    return hist / max(1.0, hist.sum())


def chord_rate(rolls: Sequence[np.ndarray]) -> float:
    """Of the steps where three or more pitch classes sound, the share forming a chord of
    ``CHORDS`` (nan where no step has three)."""
    full = formed = 0
    for roll in rolls:
        on = np.asarray(roll, bool)
        for step in on:
            classes = frozenset(int((LOWEST + k) % 12) for k in np.flatnonzero(step))
            if len(classes) >= 3:
                full += 1
                formed += classes in CHORDS
    return formed / full if full else float("nan")


def measure(
    rolls: Sequence[np.ndarray],
    steps_per_beat: int,
    beats_per_bar: int = 4,
    reference: Sequence[np.ndarray] | None = None,
) -> Measures:
    """The measures over a set of rolls (averaged over bars, notes or steps of all of them)."""
    bar = steps_per_beat * beats_per_bar
    eighth = steps_per_beat / 2
    upc, bars, empty, steps, poly, notes, qualified, in_scale = [], 0, 0, 0, 0, 0, 0, 0
    for roll in rolls:
        roll = np.asarray(roll, bool)
        for a in range(0, len(roll) - bar + 1, bar):
            chunk = roll[a : a + bar]
            bars += 1
            keys = np.flatnonzero(chunk.any(axis=0))
            if keys.size == 0:
                empty += 1
            else:
                upc.append(len({(LOWEST + k) % 12 for k in keys}))
        counts = roll.sum(axis=1)
        steps += len(roll)
        poly += int((counts > 2).sum())
        found = _notes(roll)
        notes += len(found)
        qualified += sum(length >= eighth for _, _, length in found)
        pcs = np.array([(LOWEST + k) % 12 for k, _, _ in found], int)
        if pcs.size:
            fits = [np.isin(pcs, np.flatnonzero(np.roll(MAJOR, t))).sum() for t in range(12)]
            in_scale += int(max(fits))
    result = Measures(
        upc=float(np.mean(upc)) if upc else 0.0,
        qualified=qualified / max(1, notes),
        empty_bars=empty / max(1, bars),
        polyphony=poly / max(1, steps),
        in_scale=in_scale / max(1, notes),
        chords=chord_rate(rolls),
    )
    if reference is not None:
        for name, normalised in (("pch_distance", False), ("key_pch_distance", True)):
            ours = pitch_class_histogram(rolls, normalised)
            theirs = pitch_class_histogram(reference, normalised)
            setattr(result, name, 0.5 * float(np.abs(ours - theirs).sum()))
    return result
