"""ABC as people write it: rewrites of a tune that keep its music (the spellings
``bench/abc_robustness.py`` scores a model on, and ``generate.prepare --augment`` trains it
on).  Each takes a tune's text and returns it rewritten (unchanged where the rewrite does
not apply).

- ``no chords``: chord symbols (``"Am"``) removed, the melody line alone;
- ``X: 1``: a space after every header field's colon (``T: Title``);
- ``fields reordered``: the header's fields after ``X:`` in reverse order, ``K:`` kept last;
- ``L: spelled out``: ``L:1/8`` added where a tune has no ``L:`` (the default it means);
- ``one line``: the music lines joined into one (line breaks are layout in ABC);
- ``spaced bars``: a space on either side of every bar line.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

FIELD = re.compile(r"^([A-Za-z]):\s*(.*)$")


def _header_and_body(tune: str) -> tuple[list[str], list[str]]:
    """The header's lines (``X:`` to ``K:``) and the rest."""
    lines = tune.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("K:"):
            return lines[: i + 1], lines[i + 1 :]
    return lines, []


def no_chords(tune: str) -> str:
    return re.sub(r'"[^"\n]*"', "", tune)


def spaced_fields(tune: str) -> str:
    head, body = _header_and_body(tune)
    head = [FIELD.sub(lambda m: f"{m.group(1)}: {m.group(2)}", line) for line in head]
    return "\n".join(head + body)


def reordered_fields(tune: str) -> str:
    head, body = _header_and_body(tune)
    if len(head) < 3 or not head[0].startswith("X:") or not head[-1].startswith("K:"):
        return tune
    return "\n".join([head[0], *reversed(head[1:-1]), head[-1], *body])


def spelled_length(tune: str) -> str:
    head, body = _header_and_body(tune)
    if any(line.startswith("L:") for line in head) or len(head) < 2:
        return tune
    return "\n".join([*head[:-1], "L:1/8", head[-1], *body])


FIELD_LINE = re.compile(r"^[A-Za-z+]:")  # a field (P:, K:, W:, w:, ...) on a line of its own


def one_line(tune: str) -> str:
    """Each run of music lines joined into one.  A field line stays a line of its own (joined
    into music it would be read as notes), and a line's continuation mark (a ``\\`` at its
    end) goes: in the middle of a line abc2midi refuses it."""
    head, body = _header_and_body(tune)
    lines: list[str] = []
    run: list[str] = []
    for line in body:
        text = line.strip()
        if not text or text.startswith("%"):
            continue
        if FIELD_LINE.match(text):
            lines += [" ".join(run)] if run else []
            lines.append(text)
            run = []
        else:
            run.append(text.removesuffix("\\").rstrip())
    lines += [" ".join(run)] if run else []
    return "\n".join([*head, *lines]) if lines else tune


def spaced_bars(tune: str) -> str:
    head, body = _header_and_body(tune)
    spaced = [re.sub(r"\s*(\|\]|\|\||:\||\|:|\|)\s*", r" \1 ", line).strip() for line in body]
    return "\n".join(head + spaced)


VARIANTS: dict[str, Callable[[str], str]] = {
    "no chords": no_chords,
    "X: 1": spaced_fields,
    "fields reordered": reordered_fields,
    "L: spelled out": spelled_length,
    "one line": one_line,
    "spaced bars": spaced_bars,
}


def varied(tune: str, rng: random.Random, chance: float = 0.5) -> str:
    """``tune`` with each variant applied at ``chance`` (in the order of ``VARIANTS``)."""
    for rewrite in VARIANTS.values():
        if rng.random() < chance:
            tune = rewrite(tune)
    return tune
