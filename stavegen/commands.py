"""``stavegen COMMAND [ARGS...]``: every stavegen command under one name.

    stavegen read scores/ -o out/           # python -m omr.extract scores/ -o out/
    stavegen sample --num 4 --seed 1        # python -m generate.sample --num 4 --seed 1
    stavegen sample --help                  # that command's own options

Each command hands its arguments unchanged to the ``main`` of the module it stands for, so
``stavegen NAME ARGS`` does exactly what ``python -m MODULE ARGS`` does (same options, output
and exit status); only the name in its usage and error lines reads ``stavegen NAME``.  A
command's module is imported only when it runs: the list below costs no torch import.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from stavegen import __version__


@dataclass(frozen=True)
class Command:
    name: str
    module: str  # its ``main(argv) -> int`` runs the command
    summary: str


GROUPS: tuple[tuple[str, tuple[Command, ...]], ...] = (
    (
        "reading sheet music (omr)",
        (
            Command("read", "omr.extract", "images and PDFs -> stave text, MusicXML"),
            Command("dataset", "omr.dataset", "build stave images with their truth"),
            Command("omr-train", "omr.train", "train the stave recognizer"),
            Command("omr-evaluate", "omr.evaluate", "score the recognizer on known truth"),
            Command("omr-ship", "omr.ship", "a trained recognizer's weights, to commit"),
        ),
    ),
    (
        "writing music (generate)",
        (
            Command("sample", "generate.sample", "draw tunes: ABC/stave text, MusicXML, MIDI"),
            Command("train", "generate.train", "train a generator (char-LSTM, MIDI models)"),
            Command("evaluate", "generate.evaluate", "bits per character of files; MIDI measures"),
            Command("convert", "generate.convert", "ABC or stave text -> MusicXML, MIDI, audio"),
            Command("prepare", "generate.prepare", "a corpus -> train.txt, val.txt, meta.json"),
            Command("ship", "generate.ship", "a trained generator's weights, to commit"),
        ),
    ),
)
COMMANDS: dict[str, Command] = {c.name: c for _, group in GROUPS for c in group}


def usage() -> str:
    """The list of commands, as ``stavegen --help`` prints it."""
    rows = [
        "usage: stavegen COMMAND [ARGS...]",
        "       stavegen COMMAND --help      (that command's own options)",
        "",
        "Read printed sheet music into stave text and learn to write more of it. Each command",
        "is the module beside it run as `python -m MODULE ARGS...`, with the same arguments.",
    ]
    for title, group in GROUPS:
        rows += ["", f"{title}:"]
        rows += [f"  {c.name:<14}{c.module:<19}{c.summary}" for c in group]
    rows += [
        "",
        "options:",
        "  -h, --help        this list (also: stavegen help [COMMAND])",
        f"  --version         the version (stavegen {__version__})",
    ]
    return "\n".join(rows) + "\n"


def suggestion(word: str) -> str:
    """`` (did you mean ...?)`` for a command typed by its module's name or misspelt."""
    by_module = {c.module: c.name for c in COMMANDS.values()}
    by_module.update({c.module.split(".")[1]: c.name for c in COMMANDS.values()})
    if word in by_module:  # omr.extract, extract, generate.train, ...
        return f" (did you mean {by_module[word]!r}?)"
    close = difflib.get_close_matches(word, COMMANDS, n=2)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


@contextmanager
def named(prog: str, module: str) -> Iterator[None]:
    """While a command runs, the argument parsers its module names ``python -m MODULE``
    (and ``python -m MODULE --model ...``) are named ``stavegen NAME`` instead, so its
    usage, help and error lines say what the user typed.  The modules keep their own
    ``prog=``; argparse's constructor is wrapped for the length of the command only."""
    old = f"python -m {module}"
    original = argparse.ArgumentParser.__init__

    def init(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if self.prog == old or self.prog.startswith(old + " "):
            self.prog = prog + self.prog[len(old) :]

    setattr(argparse.ArgumentParser, "__init__", init)  # noqa: B010 (mypy refuses assigning a method)
    try:
        yield
    finally:
        setattr(argparse.ArgumentParser, "__init__", original)  # noqa: B010


def run(command: Command, argv: list[str]) -> int:
    """``python -m MODULE ARGV`` in this process: the module's ``main(argv)``'s status."""
    module = importlib.import_module(command.module)
    with named(f"stavegen {command.name}", command.module):
        status = module.main(argv)
    return int(status or 0)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        sys.stderr.write(usage())
        sys.stderr.write("stavegen: error: a command is required\n")
        return 2
    first, rest = args[0], args[1:]
    if first in ("-h", "--help") or (first == "help" and not rest):
        sys.stdout.write(usage())
        return 0
    if first == "--version":
        print(f"stavegen {__version__}")
        return 0
    if first == "help":  # stavegen help sample == stavegen sample --help
        first, rest = rest[0], ["--help"]
    command = COMMANDS.get(first)
    if command is None:
        what = "option" if first.startswith("-") else "command"
        print(
            f"stavegen: error: unknown {what} {first!r}{suggestion(first)}; "
            "`stavegen --help` lists the commands",
            file=sys.stderr,
        )
        return 2
    try:
        return run(command, rest)
    except KeyboardInterrupt:
        print(f"stavegen {command.name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
