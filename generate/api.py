"""Sampling from Python: ``generate.sample_music`` (what ``python -m generate.sample`` draws,
returned as text rather than written).

    from generate import sample_music
    tunes = sample_music("abc", num=4, seed=1)        # the shipped ABC model
    pieces = sample_music("stave", num=2, temperature=0.5)
    mine = sample_music(checkpoint="runs/mine/best.pt", prime="X:1\\nT:Reel\\n")

Each sample is the primer and what follows it up to a tune boundary (ABC: a blank line or the
next ``X:``; stave text and plain text: a blank line), drawn as ``generate.sample`` draws it
(the checkpoint's warm-up piece first, the samples in parallel), so the same arguments and
seed give the texts ``generate.sample`` writes.  ABC comes without the fields that would copy
real people and books from the corpus (``stave.convert.scrub_abc``), as the command writes
it.  ``stave.convert.from_abc`` / ``from_stave_text`` turn a sample into scores.

A checkpoint that cannot be used raises ``CheckpointError``, a primer with a character the
model never saw ``VocabularyError``, an unusable argument ``ValueError`` (all three are
``ValueError``s, the first two naming the file or the character).  Models are loaded once per
checkpoint and kept.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path

from generate.charlstm.corpus import KINDS, Kind
from generate.charlstm.model import CharLSTM
from generate.checkpoint import (
    DEFAULT_WEIGHTS,
    Checkpoint,
    CheckpointError,
    load_char_lstm,
)

__all__ = ["CheckpointError", "sample_music"]


@lru_cache(maxsize=4)
def _model(resolved: str, mtime_ns: int, given: str) -> tuple[CharLSTM, Checkpoint]:
    """One loaded char-LSTM per checkpoint file (a rewritten file is loaded again); errors
    name the file as it was given."""
    return load_char_lstm(Path(given))


def model(checkpoint: str | os.PathLike[str]) -> tuple[CharLSTM, Checkpoint]:
    """The char-LSTM of a checkpoint file and the checkpoint, loaded once."""
    path = Path(checkpoint)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        mtime = -1  # load_char_lstm names the file and the problem
    return _model(str(path.resolve()), mtime, str(path))


def _whole(value: object, what: str, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{what} must be a whole number of at least {least}, got {value!r}")


def sample_music(
    kind: Kind | None = None,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    num: int = 1,
    length: int = 2000,
    temperature: float = 0.8,
    top_k: int | None = None,
    prime: str | None = None,
    seed: int | None = None,
    redraw: int = 0,
    grammar: bool = True,
) -> list[str]:
    """``num`` samples of a char-LSTM as text.

    ``kind``: the shipped model to use, ``"abc"`` (default) or ``"stave"``; with a
    ``checkpoint`` it may be left out (the checkpoint's kind, ``"text"`` among them) or must
    match.  ``length``: most characters drawn per sample; ``temperature`` (above 0; near 0
    takes the most likely character); ``top_k``: sample among the k most likely characters;
    ``prime``: the text samples start with (default: ``"X:"`` for ABC, ``"clef:"`` for stave
    text, nothing for plain text); ``seed``: the same seed gives the same samples;
    ``redraw``: rounds in which a sample that does not convert to music, or ABC that
    abc2midi refuses (where it is installed), is drawn again (``--redraw``); ``grammar``:
    ABC is drawn within ABC's grammar as abc2midi reads it (False: the network alone,
    ``--no-grammar``).
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    _whole(num, "num", 1)
    _whole(length, "length", 1)
    _whole(redraw, "redraw", 0)
    if not isinstance(grammar, bool):
        raise ValueError(f"grammar must be True or False, got {grammar!r}")
    if top_k is not None:
        _whole(top_k, "top_k", 1)
    if prime is not None and not isinstance(prime, str):
        raise ValueError(f"prime must be text, got {type(prime).__name__}")
    if seed is not None:
        _whole(seed, "seed", 0)
        if seed >= 2**32:
            raise ValueError(f"seed must be below 2**32, got {seed}")
    if checkpoint is not None and not isinstance(checkpoint, str | os.PathLike):
        raise ValueError(f"checkpoint must be a path, got {type(checkpoint).__name__}")
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not (math.isfinite(temperature) and temperature > 0)
    ):
        raise ValueError(f"temperature must be a finite number above 0, got {temperature!r}")
    if checkpoint is None:
        chosen = kind or "abc"
        if chosen not in DEFAULT_WEIGHTS:
            shipped = ", ".join(DEFAULT_WEIGHTS)
            raise ValueError(
                f"no shipped model for kind {chosen!r} (shipped: {shipped}); give a checkpoint"
            )
        checkpoint = DEFAULT_WEIGHTS[chosen]
    network, ckpt = model(checkpoint)
    if kind is not None and ckpt.kind != kind:
        raise CheckpointError(f"{checkpoint}: a model of {ckpt.kind!r}, not of {kind!r}")

    from generate.charlstm import sampling
    from stave.convert import scrub_abc

    def drawn(n: int, with_seed: int | None) -> list[str]:
        return sampling.draw(
            network,
            ckpt.vocab,
            ckpt.kind,
            n,
            length,
            float(temperature),
            top_k,
            prime,
            with_seed,
            ckpt.context,
            grammar=grammar,
        )

    texts = drawn(num, seed)
    if redraw:
        sampling.redraw(texts, ckpt.kind, redraw, drawn, seed)
    return [scrub_abc(t) for t in texts] if ckpt.kind == "abc" else texts
