"""Pictures of the MIDI models: piano rolls of samples, and the interval loss's curve."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from generate.midi.loss import interval_penalty
from stave.plots import pyplot, save_figure


def piano_roll(path: Path, roll: np.ndarray, steps_per_beat: int, title: str = "") -> None:
    """A piano roll (T, 88) as a PNG: time across, keys up (A0 at the bottom)."""
    plt = pyplot()

    grid = np.asarray(roll, float).T  # (88, T)
    fig, ax = plt.subplots(figsize=(8, 3), dpi=100)
    ax.imshow(
        grid,
        origin="lower",
        aspect="auto",
        cmap="Greys",
        interpolation="nearest",
        extent=(0, grid.shape[1] / steps_per_beat, 21, 109),
    )
    ax.set_xlabel("beats")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title)
    save_figure(fig, path)


def interval_penalty_curve(path: Path, span: int = 14) -> None:
    """The MIDI-event LSTM's pitch loss against the interval of the error, as a PNG."""
    plt = pyplot()

    d = torch.linspace(-span, span, 40 * span + 1)
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=100)
    ax.plot(d.numpy(), interval_penalty(d).numpy(), label="penalty")
    whole = torch.arange(-span, span + 1, dtype=torch.float32)
    ax.plot(whole.numpy(), interval_penalty(whole).numpy(), "o", markersize=3, label="semitones")
    ax.set_xticks(range(-span, span + 1, 1), minor=True)
    ax.set_xticks([-12, -7, -5, 0, 5, 7, 12])
    ax.set_xlabel("predicted minus true pitch (semitones)")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)
