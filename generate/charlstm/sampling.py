"""Drawing tunes from a char-LSTM: N samples in parallel, the hidden state carried forward, each
ended at a tune boundary (ABC: a blank line or the next ``X:``; stave text and plain text: a
blank line), and written out as text with MusicXML, MIDI and audio beside it when it
converts."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from generate.charlstm.abc_grammar import AbcChecker
from generate.charlstm.corpus import SEPARATOR, Kind, abc2midi_accepts_text
from generate.charlstm.data import Vocab
from generate.charlstm.model import CharLSTM
from generate.convert import output_cause
from stave import atomic, convert, musicxml

# "X:" and not "X:1": every file of Ryan's Mammoth Collection starts "X:1", so that primer
# pulls samples towards one collection's style; "X:" lets the model pick the number, and
# with it the style, as the corpus has them (bench/abc_validity.py: 15/30 -> 25/30 accepted).
DEFAULT_PRIMERS: dict[Kind, str] = {"abc": "X:", "stave": "clef:", "text": ""}
SUFFIX: dict[Kind, str] = {"abc": ".abc", "stave": ".txt", "text": ".txt"}


def boundaries(kind: Kind) -> list[str]:
    """Strings that end a sample (searched after the primer)."""
    return [SEPARATOR, "\nX:"] if kind == "abc" else [SEPARATOR]


class BoundaryStop:
    """Tells, step by step, which samples have just produced a boundary string."""

    def __init__(self, vocab: Vocab, strings: list[str], batch: int) -> None:
        self.seqs = [torch.from_numpy(vocab.encode(s)) for s in strings]
        self.width = max(len(s) for s in self.seqs)
        self.buffer = torch.full((batch, self.width), -1, dtype=torch.long)  # (B, W) last ids

    def seed(self, ids: Tensor) -> None:
        """Start from the end of the primer (B, T), so a boundary may straddle it."""
        tail = ids[:, -self.width :]
        if tail.size(1) == 0:  # an empty primer: nothing to straddle (and -0: is everything)
            return
        self.buffer[:, -tail.size(1) :] = tail

    def __call__(self, nxt: Tensor) -> Tensor:
        self.buffer = torch.cat([self.buffer[:, 1:], nxt[:, None]], dim=1)
        done = torch.zeros(nxt.size(0), dtype=torch.bool)
        for seq in self.seqs:
            done |= (self.buffer[:, -len(seq) :] == seq).all(dim=1)
        return done


def cut_at_boundary(text: str, kind: Kind, start: int) -> str:
    """``text`` up to the first boundary at or after ``start``, without trailing blanks."""
    ends = [i for b in boundaries(kind) if (i := text.find(b, start)) >= 0]
    return (text[: min(ends)] if ends else text).rstrip()


class AbcGuide:
    """ABC's grammar (``abc_grammar.AbcChecker``) for each of B samples being drawn:
    ``allows`` vets a step's tokens, ``push`` takes the ones drawn.  A sample whose primer
    the grammar refuses is drawn without it, and so is the rest of a sample that reached a
    point where no character is allowed (``given_up`` counts those)."""

    def __init__(self, vocab: Vocab, prime: str, batch: int) -> None:
        self.chars = [vocab.decode([i]) for i in range(len(vocab))]
        self.given_up = 0  # samples the grammar left, with no character allowed
        self.checkers: list[AbcChecker | None] = []
        for _ in range(batch):
            checker = AbcChecker()
            self.checkers.append(checker if checker.feed(prime) else None)

    def allows(self, nxt: Tensor) -> Tensor:
        ids = nxt.tolist()
        return torch.tensor(
            [c is None or c.allows(self.chars[i]) for c, i in zip(self.checkers, ids, strict=True)]
        )

    def push(self, nxt: Tensor) -> None:
        for row, i in enumerate(nxt.tolist()):
            checker = self.checkers[row]
            if checker is not None and not checker.push(self.chars[i]):
                self.checkers[row] = None  # a draw with no allowed token left: no grammar
                self.given_up += 1


@torch.no_grad()
def draw(
    model: CharLSTM,
    vocab: Vocab,
    kind: Kind,
    num: int,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    prime: str | None = None,
    seed: int | None = None,
    context: str = SEPARATOR,
    progress: bool = False,
    grammar: bool = True,
    report: Callable[[str], None] | None = None,
) -> list[str]:
    """``num`` samples, each the primer plus what follows it up to a tune boundary.

    ``context`` is run through the network first and is not part of the samples: the
    checkpoint's ``context`` (a real piece and a blank line) puts the network in the state a
    piece starts from in training.  ``progress``: a bar of the steps (characters per
    sample) on stderr, where stderr is a terminal.  ``grammar``: ABC is drawn within ABC's
    grammar (``AbcGuide``; other kinds have none); ``report`` is told, in a line, when the
    primer is outside it or a sample left it (reached a point with no character allowed).
    """
    # The command line refuses these (stave.cli); a library caller gets a refusal too, not
    # argmax for a negative temperature nor a tensor error for top_k 0.  Temperature 0 (or
    # below 0.001) is argmax, as tests and benchmarks ask for it.
    if not (math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature must be a finite number of 0 or more, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    if num < 1 or length < 1:
        raise ValueError(f"num and length must be at least 1, got {num} and {length}")
    prime = DEFAULT_PRIMERS[kind] if prime is None else prime
    device = model.head.weight.device
    prime_ids = torch.from_numpy(vocab.encode_strict(prime, "the primer")).to(device)
    context_ids = torch.from_numpy(vocab.encode(context)).to(device)
    # A seed gives the same samples again on the same kind of device (CUDA draws its own).
    generator = torch.Generator(device).manual_seed(seed) if seed is not None else None
    model.eval()
    # The context runs once, then its state is copied to every sample.
    _, _, state = model(context_ids[None, :-1])
    state = (state[0].repeat(1, num, 1), state[1].repeat(1, num, 1))  # (L, B, H)
    ids = torch.cat([context_ids[-1:], prime_ids]).repeat(num, 1)  # (B, 1 + len(prime))
    boundary = BoundaryStop(vocab, boundaries(kind), num)
    boundary.seed(ids[:, 1:].cpu())
    guide = AbcGuide(vocab, prime, num) if grammar and kind == "abc" else None
    if guide is not None and report is not None and guide.checkers[0] is None:
        report("the primer is outside ABC's grammar as abc2midi reads it: drawn without it")
    # disable=None: no bar where stderr is not a terminal (logs, tests)
    quiet = None if progress else True
    with tqdm(total=length, unit="char", desc="sampling", leave=False, disable=quiet) as bar:

        def stop(nxt: Tensor) -> Tensor:
            bar.update(1)
            if guide is not None:
                guide.push(nxt.cpu())
            return boundary(nxt.cpu()).to(nxt.device)

        new = model.generate(
            ids,
            length,
            state=state,
            temperature=temperature,
            top_k=top_k,
            banned=torch.tensor([0], device=device),  # the unknown symbol
            stop=stop,
            generator=generator,
            allows=None if guide is None else lambda nxt: guide.allows(nxt.cpu()),
        )  # (B, n)
    if guide is not None and report is not None and guide.given_up:
        report(
            f"{guide.given_up} of {num} samples reached a point where ABC's grammar allowed "
            "no character: drawn on without it from there"
        )
    # A boundary may begin with the primer's last character (a primer ending in a newline).
    start = max(0, len(prime) - 1)
    return [cut_at_boundary(prime + vocab.decode(row.tolist()), kind, start) for row in new]


@dataclass
class SampleResult:
    text_path: Path
    written: list[Path]
    error: str | None  # why the text does not convert (None: it does, or it is plain text)


# Every file a sample command writes per sample, of either model (``sample-001.*``).
SAMPLE_SUFFIXES = (".abc", ".txt", ".musicxml", ".mid", ".wav", ".png")


def convert_sample(text: str, kind: Kind, title: str, source: str) -> convert.Music:
    if kind == "abc":
        named = convert.abc_field(text, "T")
        return convert.from_abc(text, f"{named} ({title})" if named else title, source)
    if kind == "stave":
        return convert.from_stave_text(text, title, source)
    raise musicxml.ConversionError("plain text has no musical reading")


def sample_problem(text: str, kind: Kind, folder: Path, abc2midi: bool = True) -> str | None:
    """Why a sample would not be kept by ``redraw``: it does not convert to music (music21,
    as ``write_sample`` converts it), or, for ABC and with ``abc2midi``, abc2midi refuses it
    strictly (``abc2midi_accepts``; ``folder`` takes its files).  None when it passes;
    plain text always passes."""
    if kind == "text":
        return None
    if kind == "abc":
        text = convert.scrub_abc(text)  # as write_sample writes it
    try:
        convert_sample(text, kind, "stavegen sample", "stavegen")
    except (musicxml.ConversionError, ValueError) as err:
        return str(err).splitlines()[0] if str(err) else repr(err)
    if kind == "abc" and abc2midi:
        try:
            if not abc2midi_accepts_text(text + "\n", folder):
                return "abc2midi refuses it"
        except (OSError, subprocess.SubprocessError) as err:  # hung, not runnable, disk full
            return f"abc2midi failed ({type(err).__name__}: {err})"
    return None


@dataclass
class Redrawn:
    """What ``redraw`` did: samples drawn again, and samples still failing after the last."""

    redrawn: int
    failing: int


def redraw_seed(seed: int, round_: int) -> int:
    """The seed of redraw round ``round_`` (1, 2, ...) of a run seeded ``seed``: fixed by
    both, so a seeded run with redraws is as reproducible as one without."""
    return int(np.random.SeedSequence([seed, round_]).generate_state(1)[0])


def redraw(
    texts: list[str],
    kind: Kind,
    rounds: int,
    again: Callable[[int, int | None], list[str]],
    seed: int | None = None,
) -> Redrawn:
    """Replace, in place, each sample that fails ``sample_problem`` by a new one, ``again(n,
    seed)`` drawing n, for at most ``rounds`` rounds.  ABC is checked by abc2midi where it
    is installed (by music21 only where not).  The samples kept are the model's own draws:
    this chooses among them, it does not change what the model writes."""
    abc2midi = kind == "abc" and shutil.which("abc2midi") is not None
    pending = list(range(len(texts)))
    redrawn = 0
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(rounds + 1):
            pending = [i for i in pending if sample_problem(texts[i], kind, Path(tmp), abc2midi)]
            if not pending or round_ == rounds:
                break
            new = again(len(pending), None if seed is None else redraw_seed(seed, round_ + 1))
            for i, text in zip(pending, new, strict=True):
                texts[i] = text
            redrawn += len(pending)
    return Redrawn(redrawn, len(pending))


def write_sample(
    text: str, kind: Kind, base: Path, title: str = "stavegen sample", source: str = "stavegen"
) -> SampleResult:
    """Write the sample's text, and its MusicXML, MIDI and (with FluidSynth) audio when it
    converts.  ABC is written without the fields that would copy real people's names,
    addresses and books from the corpus (``stave.convert.scrub_abc``).

    A text that does not convert is a result (``error`` says why); a file that cannot be
    written (a full disk, a read-only folder) raises ``OSError`` naming it, after removing
    what was written of this sample, so no half set of files is left."""
    if kind == "abc":
        text = convert.scrub_abc(text)
    text_path = base.with_suffix(SUFFIX[kind])
    try:
        atomic.write_text(text_path, text + "\n")
    except OSError as err:
        raise _named(err, text_path) from None
    if kind == "text":
        return SampleResult(text_path, [], None)
    try:
        written = convert.write(convert_sample(text, kind, title, source), base)
    except (musicxml.ConversionError, ValueError) as err:
        cause = output_cause(err)
        if cause is not None:
            text_path.unlink(missing_ok=True)
            raise _named(cause, base.with_suffix(".*")) from None
        return SampleResult(text_path, [], str(err).splitlines()[0] if str(err) else repr(err))
    return SampleResult(text_path, written, None)


def _named(err: OSError, target: Path) -> OSError:
    """``err`` naming ``target`` where it names no file or only a temporary one."""
    name = err.filename
    if name is None or Path(os.fspath(name)).name.startswith("."):
        err.filename = str(target)
    return err
