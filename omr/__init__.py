"""stavegen's optical music recognition half: reading pages (``omr.read``), the recognizer
(``omr.model``), its training data (``omr.data``), and the commands extract, dataset, train,
evaluate and ship."""

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
