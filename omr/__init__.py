"""stavegen's optical music recognition half: reading pages (``omr.read``), the recognizer
(``omr.model``), its training data (``omr.data``), and the commands extract, dataset, train,
evaluate and ship.

From Python, ``omr.read_music(path_or_image)`` reads one image or PDF into stave text and a
music21 score (``omr.api``; imported on first use, so ``import omr`` stays cheap).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omr.api import Reading, read_music

__all__ = ["WEIGHTS_DIR", "Reading", "read_music"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

_API = {"Reading", "read_music"}  # from omr.api, imported when first asked for


def __getattr__(name: str) -> Any:
    if name in _API:
        from omr import api

        return getattr(api, name)
    raise AttributeError(f"module 'omr' has no attribute {name!r}")
