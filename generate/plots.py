"""Figures written next to checkpoints."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from generate import atomic


def loss_curve(
    path: Path,
    train_curve: Sequence[tuple[int, float]],
    val_curve: Sequence[tuple[int, float]],
    title: str = "",
) -> None:
    """Training and validation bits per character against step, as a PNG (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
