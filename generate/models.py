"""The models ``generate.train``, ``generate.sample`` and ``generate.evaluate`` serve, and the
one place that sends a command line to the right half: the char-LSTM's own ``main`` or the
MIDI models' (``generate.midi.train``, ``.sample``, ``.evaluate``)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

from generate.checkpoint import MODELS

MODEL_CHOICES = tuple(MODELS)  # the model types a checkpoint may hold
MIDI_MODELS = tuple(m for m in MODEL_CHOICES if m != "char-lstm")


def chosen_model(argv: list[str]) -> str:
    """The ``--model`` a command line asks for (``char-lstm`` when it names none)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--model", choices=MODEL_CHOICES, default="char-lstm")
    chosen, _ = pre.parse_known_args(argv)
    return str(chosen.model)


def dispatch(
    command: str, argv: list[str] | None, char_lstm_main: Callable[[list[str]], int]
) -> int:
    """Run a command line (``sys.argv`` when ``argv`` is None): ``generate.midi.<command>``'s
    ``main`` when it asks for a MIDI model, else ``char_lstm_main``; returns the exit status.
    The MIDI half is imported only then, so the char-LSTM commands never load it."""
    args = sys.argv[1:] if argv is None else list(argv)
    if chosen_model(args) not in MIDI_MODELS:
        return char_lstm_main(args)
    module = importlib.import_module(f"generate.midi.{command}")
    status: int = module.main(args)
    return status


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        choices=MODEL_CHOICES,
        default="char-lstm",
        help="which generator (default: %(default)s; midi-lstm|chord-gan: see --model M --help)",
    )
