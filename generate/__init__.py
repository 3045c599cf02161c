"""stavegen's generation half: stave text, corpora, the char-LSTM, sampling and export."""

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
