"""Figures written next to checkpoints."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from generate import atomic


def _pyplot() -> Any:
    """matplotlib's pyplot without a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    """A figure as a PNG, written atomically, then closed."""
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    _pyplot().close(fig)


def loss_curve(
    path: Path,
    train_curve: Sequence[tuple[int, float]],
    val_curve: Sequence[tuple[int, float]],
    title: str = "",
) -> None:
    """Training and validation bits per character against step, as a PNG (written atomically)."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if train_curve:
        steps, values = zip(*train_curve, strict=True)
        ax.plot(steps, values, label="train", linewidth=1)
    if val_curve:
        steps, values = zip(*val_curve, strict=True)
        ax.plot(steps, values, "o-", label="validation", markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("bits per character")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)


def curves(
    path: Path,
    series: dict[str, Sequence[tuple[int, float]]],
    ylabel: str,
    title: str = "",
) -> None:
    """Any named curves against step, as a PNG (written atomically)."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for name, points in series.items():
        if points:
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, label=name, linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)


def piano_roll(path: Path, roll: np.ndarray, steps_per_beat: int, title: str = "") -> None:
    """A piano roll (T, 88) as a PNG: time across, keys up (A0 at the bottom)."""
    plt = _pyplot()

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
    _save(fig, path)


def interval_penalty_curve(path: Path, span: int = 14) -> None:
    """The MIDI-event LSTM's pitch loss against the interval of the error, as a PNG."""
    plt = _pyplot()
    import torch

    from generate.midi_lstm import interval_penalty

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
    _save(fig, path)
