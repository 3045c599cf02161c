"""The crop geometry, the one copy: how tall a stave crop is and how much room it keeps for
ledger lines.  The recognizer's config records the two figures of the network it trained
(``RecognizerConfig.crop``); the staff finder and the crops take them from there."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CropShape:
    """How staves are cut out for a recognizer."""

    # Pixels: staves are 13 staff spaces tall (4.5 kept above and below), 7.4 px each, so
    # beams and flags of short notes stand apart.
    height: int = 96
    # Staff spaces above the top line and below the bottom line: notes on a fourth ledger
    # line stay whole.
    ledger_room: float = 4.5


DEFAULT_CROP = CropShape()
