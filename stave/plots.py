"""Figures written next to checkpoints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stave import atomic


def pyplot() -> Any:
    """matplotlib's pyplot without a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> None:
    """A figure as a PNG, written atomically, then closed."""
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    pyplot().close(fig)


def loss_curve(
    path: Path,
    train_curve: Sequence[tuple[int, float]],
    val_curve: Sequence[tuple[int, float]],
    title: str = "",
) -> None:
    """Training and validation bits per character against step, as a PNG (written atomically)."""
    plt = pyplot()

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
    if ax.get_legend_handles_labels()[0]:  # no curve yet (a run of a few steps): no legend
        ax.legend()
    save_figure(fig, path)


def curves(
    path: Path,
    series: Mapping[str, Sequence[tuple[int, float]]],
    ylabel: str,
    title: str = "",
) -> None:
    """Any named curves against step, as a PNG (written atomically)."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for name, points in series.items():
        if points:
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, label=name, linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # no curve yet (a run of a few steps): no legend
        ax.legend()
    save_figure(fig, path)
