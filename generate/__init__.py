"""stavegen's generation half: stave text, corpora, the char-LSTM, sampling and export.

From Python, ``generate.sample_music(kind, num=..., seed=...)`` draws samples of a char-LSTM
as text (``generate.api``; imported on first use, so ``import generate`` stays cheap).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from generate.api import sample_music

__all__ = ["WEIGHTS_DIR", "sample_music"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def __getattr__(name: str) -> Any:
    if name == "sample_music":  # from generate.api, imported when first asked for
        from generate import api

        return api.sample_music
    raise AttributeError(f"module 'generate' has no attribute {name!r}")
