"""The held-out-piece rule, the one copy: which piece an image shows, and whether that piece
trains, validates or tests.  Images are held out as whole pieces, never stave by stave, so no
test piece is seen in training (``omr.train`` splits by it, ``omr.evaluate --pieces`` keeps
the pieces a run held out)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

Role = Literal["train", "val", "test"]


def build_piece(row: Mapping[str, str]) -> str:
    """The piece of a row of an ``omr.dataset`` manifest: its source, or for random content
    (no source piece) the file itself."""
    return row["source"] if row["source"] != "random" else f"random:{row['file']}"


def photo_piece(image: Path) -> str:
    """The piece of a photo named ``PIECE-N.jpg`` (CPMS): the name before the last ``-``."""
    return image.stem.rsplit("-", 1)[0]


def role(piece: str, fraction: float, seed: int) -> Role:
    """ "test", "val" or "train" for a whole piece, by a hash of its name (stable across runs):
    ``fraction`` of the pieces each to testing and to validation."""
    digest = hashlib.sha256(f"{seed}:{piece}".encode()).digest()
    u = int.from_bytes(digest[:4], "big") / 2**32
    return "test" if u < fraction else "val" if u < 2 * fraction else "train"
