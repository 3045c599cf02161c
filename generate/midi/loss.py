"""The MIDI-event LSTM's interval-aware pitch loss: shaped by musical interval, not distance.

A smooth curve with a period of twelve semitones, zero at the unison, low at the octave and at
the fourth and fifth (+-5, +-7), middling at thirds and sixths, high at seconds, the tritone
and sevenths, plus a small term growing with the distance so that the right octave is still
preferred.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

# Consonant interval classes (semitones, modulo the octave) and how much of the penalty of a wrong
# pitch they take away: unison and octave all of it, fourth and fifth most, thirds and
# sixths half; seconds, the tritone and sevenths none (penalty 1).
WELLS = ((0, 1.0), (5, 0.8), (7, 0.8), (3, 0.45), (4, 0.5), (8, 0.5), (9, 0.45))
WELL_WIDTH = 0.5  # semitones (standard deviation of each well)
OCTAVE_WEIGHT = 0.05  # per squared octave of distance: the right octave is still preferred
_RADIANS = 2 * np.pi / 12  # one semitone on the circle of the octave


def consonance(semitones: Tensor) -> Tensor:
    """The wells of ``interval_penalty`` without its octave term: 1 at the unison and the
    octaves, 0.8 at fourths and fifths, about half at thirds and sixths, near 0 at seconds,
    the tritone and sevenths (any shape)."""
    if not semitones.is_floating_point():
        semitones = semitones.float()
    kappa = 1.0 / (WELL_WIDTH * _RADIANS) ** 2  # von Mises concentration for that width
    wells = torch.zeros_like(semitones)
    for interval, depth in WELLS:
        wells = wells + depth * torch.exp(
            kappa * (torch.cos((semitones - interval) * _RADIANS) - 1)
        )
    return wells


def interval_penalty(semitones: Tensor) -> Tensor:
    """The pitch penalty for a prediction ``semitones`` away from the truth (any shape).

    1 minus a well at each consonant interval class, repeating every octave (a fourth up is
    a fifth down): each well a von Mises bump (the periodic Gaussian) ``WELL_WIDTH``
    semitones wide; plus ``OCTAVE_WEIGHT`` per squared octave.  Smooth everywhere, lowest at
    the truth, low at consonances."""
    if not semitones.is_floating_point():
        semitones = semitones.float()
    return 1 - consonance(semitones) + OCTAVE_WEIGHT * (semitones / 12) ** 2
