"""The models ``generate.train``, ``generate.sample`` and ``generate.evaluate`` serve, and the
one place that sends a command line to the right half: the char-LSTM's own ``main`` or the
MIDI models' (``generate.midi.train``, ``.sample``, ``.evaluate``)."""

from __future__ import annotations

import argparse
import importlib

MODEL_CHOICES = ("char-lstm", "midi-lstm", "chord-gan")
MIDI_MODELS = ("midi-lstm", "chord-gan")


def chosen_model(argv: list[str]) -> str:
    """The ``--model`` a command line asks for (``char-lstm`` when it names none)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--model", choices=MODEL_CHOICES, default="char-lstm")
    chosen, _ = pre.parse_known_args(argv)
    return str(chosen.model)


def run_midi_command(command: str, argv: list[str]) -> int | None:
    """Run ``generate.midi.<command>.main(argv)`` when ``argv`` asks for a MIDI model and
    return its exit status; None for the char-LSTM (the caller goes on with its own parser).
    The MIDI half is imported only then, so the char-LSTM commands never load it."""
    if chosen_model(argv) not in MIDI_MODELS:
        return None
    module = importlib.import_module(f"generate.midi.{command}")
    status: int = module.main(argv)
    return status


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        choices=MODEL_CHOICES,
        default="char-lstm",
        help="which generator (%(default)s; midi-lstm|chord-gan: see --model M --help)",
    )
