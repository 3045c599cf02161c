"""Training the header reader (``omr.model.header``): ``python -m omr.train --model header``.

The same images, crops and split as the recognizer's training (``omr.train``): each stave
cropped once into ``OUT/crops/``, whole pieces held out by a hash of their names for
validation and testing.  What is learned is each stave's header as its truth prints it
before the first note (``header_of``): the key, and the time signature or none.  Batches are
drawn at random over the training staves, augmented as the recognizer's are; validation
(which picks ``best.pt``) is the share of staves whose key and time signature are both
read right, averaged over the splits.  Checkpoints, ``--resume``, Ctrl-C and torchrun behave
as in ``omr.train``.

It also learns the time signatures inside the line, from windows after bar lines
(``omr.model.header.bar_window``).  The bar lines are where a recognizer (``--bars-from``,
the shipped one by default) reads them on each crop; each read bar line that lines up with
one of the truth's (``difflib`` over the tokens) is labelled with the time signature the
truth prints after it, or none.  Windows with a signature, and those without that the
reader would look at (``BAR_GATE``), are all kept, with a sample of the others; each batch
takes as many windows as header crops, half of them with a signature.  They are found once
per run folder (``OUT/bars.json``).  Validation adds the share of windows read right.
"""

from __future__ import annotations

import difflib
import json
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from omr.data.training_set import AUGMENT, Item, prepare_crops
from omr.model.checkpoint import HeaderCheckpoint, load_header, save_header
from omr.model.decode import greedy_path
from omr.model.header import (
    DENOMINATORS,
    NUMERATORS,
    HeaderConfig,
    HeaderReader,
    bar_window,
    header_of,
    strip,
    targets,
)
from omr.pieces import role
from omr.read.recognize import StaveReader, default_weights
from stave import atomic, distributed
from stave.devices import autocast
from stave.stavetext import Bar, Clef, Key, StaveTextError, Time, Token, parse_line, write_token
from stave.training import (
    Loop,
    LoopConfig,
    OneOptimizerState,
    Validation,
    save_run,
)

Example = tuple[np.ndarray, tuple[int, int, int], str]  # crop, class indices, split
# The window read after a bar line (pixels before and after it), for a new reader.
BAR_BEFORE, BAR_AFTER = 8, 88
UNSEEN_SHARE = 0.08  # of the windows without a signature that the reader would not look at
NO_KEY = -100  # a window's key class: not learned (cross-entropy's ignored index)


def split_examples(
    pairs: list[tuple[Item, Path]], val_fraction: float, seed: int, photo_repeat: int
) -> tuple[list[Example], list[Example]]:
    """Training and validation examples by the role of their piece (test pieces left out),
    each crop with the classes of its truth's header; truths whose header the classes do
    not hold are left out."""
    train_set: list[Example] = []
    val_set: list[Example] = []
    for item, path in pairs:
        which = role(item.piece, val_fraction, seed)
        if which == "test":
            continue
        try:
            wanted = targets(header_of(parse_line(item.truth)))
        except StaveTextError:
            continue
        if wanted is None:
            continue
        example = (_read(path), wanted, item.split)
        if which == "val":
            val_set.append(example)
        else:
            train_set.extend([example] * (photo_repeat if item.split == "photo" else 1))
    return train_set, val_set


def time_after(tokens: list[Token], bar: int) -> Time | None:
    """The time signature printed after the bar line ``tokens[bar]`` (after a change of clef
    or key), or None."""
    for tok in tokens[bar + 1 :]:
        if not isinstance(tok, Clef | Key):
            return tok if isinstance(tok, Time) else None
    return None


def find_bars(
    pairs: list[tuple[Item, Path]], reader: StaveReader, seed: int, size: int = 32
) -> dict[str, list[tuple[int, int, int, int]]]:
    """For each one-stave crop (by its file name in the crop cache), the windows to learn
    from: (column of the bar line, column of the next, numerator, denominator), 0 and 0
    where no time signature is printed after it.  Bar lines the recognizer reads at the
    line's start or that do not line up with the truth's are left out, and windows without
    a signature that ``reader`` would not look at are kept at ``UNSEEN_SHARE``."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[tuple[int, int, int, int]]] = {path.name: [] for _, path in pairs}
    truths: dict[int, list[Token]] = {}
    for n, (item, _) in enumerate(pairs):
        if "\n" not in item.truth:
            try:
                truths[n] = parse_line(item.truth)
            except StaveTextError:
                continue
    kept = list(truths)
    crops = [reader.prepare(_read(pairs[n][1])) for n in kept]
    for k, lp in tqdm(reader.log_probs(crops, size), total=len(crops), desc="finding bar lines"):
        out[pairs[kept[k]][1].name] = _labelled(reader, lp, truths[kept[k]], rng)
    return out


def _labelled(
    reader: StaveReader, lp: np.ndarray, truth: list[Token], rng: np.random.Generator
) -> list[tuple[int, int, int, int]]:
    """``find_bars`` for one crop, from the recognizer's (T, S) log-probabilities ``lp``.
    The bar lines are numbered in its plain greedy reading (at reading time the header
    reader's changes before the first note come first; they add or take away no bar line,
    but a misread digit taken out there can make one more bar line count as inside the
    line here: one more window to learn from)."""
    path, steps = greedy_path(lp)
    tokens = reader.vocab.assemble(path)
    looked_at = {n for n, _, _ in reader.bars_to_read(lp, path, steps, tokens)}
    everywhere = reader.bars_to_read(lp, path, steps, tokens, gate=0.0)
    read_bars = [k for k, t in enumerate(tokens) if isinstance(t, Bar)]
    matcher = difflib.SequenceMatcher(
        None, [write_token(t) for t in tokens], [write_token(t) for t in truth], autojunk=False
    )
    lined_up = {
        block.a + d: block.b + d
        for block in matcher.get_matching_blocks()
        for d in range(block.size)
    }
    out = []
    for n, x, end in everywhere:
        k = lined_up.get(read_bars[n])
        if k is None or not isinstance(truth[k], Bar):
            continue
        time = time_after(truth, k)
        if time is None:
            if n in looked_at or rng.random() < UNSEEN_SHARE:
                out.append((x, end, 0, 0))
        elif time.numerator in NUMERATORS and time.denominator in DENOMINATORS:
            out.append((x, end, time.numerator, time.denominator))
    return out


def _bars(
    pairs: list[tuple[Item, Path]],
    cache: Path,
    bars_from: Path | None,
    seed: int,
    config: HeaderConfig,
    device: torch.device | str = "cpu",
) -> dict[str, list[tuple[int, int, int, int]]]:
    """``find_bars``, kept in ``cache`` for the run's other processes and its resumes, with
    the recognizer that found them; a cache from another recognizer is refused, and crops
    it does not hold yet (other ``--data``) are added to it."""
    shipped = bars_from is None or bars_from.resolve() == default_weights().resolve()
    source = "shipped" if shipped or bars_from is None else str(bars_from.resolve())
    cached: dict[str, list[tuple[int, int, int, int]]] = {}
    if cache.exists():
        try:
            saved = json.loads(cache.read_text(encoding="utf-8"))
            found_by, bars = saved["recognizer"], saved["bars"]
            cached = {k: [(x, e, n, d) for x, e, n, d in v] for k, v in bars.items()}
        except (ValueError, TypeError, KeyError) as err:
            raise ValueError(
                f"{cache}: damaged ({err!r}); delete it to find the bar lines again"
            ) from None
        if found_by != source:
            raise ValueError(
                f"{cache}: bar lines found by the recognizer {found_by}, not {source}: "
                "delete it to find them again, or give the same --bars-from"
            )
    todo = [(item, path) for item, path in pairs if path.name not in cached]
    if not todo:
        return cached
    reader = StaveReader.load(bars_from, device=device, header=None)
    if reader.shape != config.crop:
        raise ValueError(
            f"the recognizer {source} reads crops of {reader.shape}, the header reader "
            f"{config.crop}: give --bars-from a recognizer of the same crop shape"
        )
    found = cached | find_bars(todo, reader, seed)
    atomic.write_text(cache, json.dumps({"recognizer": source, "bars": found}))
    return found


def bar_examples(
    pairs: list[tuple[Item, Path]],
    bars: dict[str, list[tuple[int, int, int, int]]],
    val_fraction: float,
    seed: int,
    config: HeaderConfig,
) -> tuple[list[Example], list[Example]]:
    """Training and validation windows (test pieces left out), with the class indices of
    what is printed after the bar line (the key not learned)."""
    train_set: list[Example] = []
    val_set: list[Example] = []
    for item, path in pairs:
        found = bars.get(path.name)
        which = role(item.piece, val_fraction, seed)
        if not found or which == "test":
            continue
        crop = _read(path)
        for x, end, num, den in found:
            wanted = (NO_KEY, NUMERATORS.index(num), DENOMINATORS.index(den))
            example = (bar_window(crop, x, end, config), wanted, item.split)
            (val_set if which == "val" else train_set).append(example)
    return train_set, val_set


def _read(path: Path) -> np.ndarray:
    read = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if read is None:
        raise ValueError(f"{path}: unreadable crop (delete the cache folder to rebuild it)")
    return np.asarray(read)


def accuracy(model: HeaderReader, data: list[Example], size: int = 256) -> dict[str, float]:
    """Per split, the share of staves whose key, whose time signature, and whose both are
    read right."""
    model.eval()
    right: dict[str, list[tuple[bool, bool]]] = {}
    device = model.key.weight.device
    with torch.no_grad():
        for start in range(0, len(data), size):
            chunk = data[start : start + size]
            logits = model(strip([c for c, _, _ in chunk], model.config).to(device))
            wanted = torch.tensor([t for _, t, _ in chunk], device=device)
            got = torch.stack([x.argmax(dim=1) for x in logits], dim=1)
            key = (got[:, 0] == wanted[:, 0]).tolist()
            time = ((got[:, 1:] == wanted[:, 1:]).all(dim=1)).tolist()
            for (_, _, split), k, t in zip(chunk, key, time, strict=True):
                right.setdefault(split, []).append((k, t))
    model.train()
    out: dict[str, float] = {}
    for split, rows in sorted(right.items()):
        out[f"{split}_key"] = float(np.mean([k for k, _ in rows]))
        out[f"{split}_time"] = float(np.mean([t for _, t in rows]))
        out[f"{split}_header"] = float(np.mean([k and t for k, t in rows]))
    return out


def window_accuracy(model: HeaderReader, data: list[Example], size: int = 256) -> float:
    """The share of windows whose time signature, or none, is read right (a signature is
    read where both of its heads read one)."""
    model.eval()
    right: list[bool] = []
    device = model.key.weight.device
    with torch.no_grad():
        for start in range(0, len(data), size):
            chunk = data[start : start + size]
            _, num, den = model(strip([c for c, _, _ in chunk], model.config).to(device))
            for n, d, (_, (_, want_n, want_d), _) in zip(
                num.argmax(dim=1).tolist(), den.argmax(dim=1).tolist(), chunk, strict=True
            ):
                none = n == 0 or d == 0
                right.append(none if want_n == 0 else (n, d) == (want_n, want_d))
    model.train()
    return float(np.mean(right)) if right else float("nan")


class HeaderTask(OneOptimizerState):
    """The header reader for ``stave.training.Loop``: random batches of augmented crops'
    starts, the three heads' cross-entropy."""

    def __init__(
        self,
        model: HeaderReader,
        train_set: list[Example],
        val_set: list[Example],
        windows: tuple[list[Example], list[Example]],
        batch_size: int,
        learning_rate: float,
        seed: int,
        precision: str,
        out: Path,
    ) -> None:
        self.model, self.train_set, self.val_set = model, train_set, val_set
        self.windows_with = [w for w in windows[0] if w[1][1] != 0]
        self.windows_without = [w for w in windows[0] if w[1][1] == 0]
        self.val_windows = windows[1]
        self.batch_size, self.precision, self.out = batch_size, precision, out
        self.optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
        self.processes = distributed.current()
        self.rows = distributed.rows(batch_size, self.processes)
        self.net: torch.nn.Module = model
        if self.processes.distributed:
            if model.key.weight.device.type == "cuda":
                self.net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
            self.net = DistributedDataParallel(self.net)
        self.rng = np.random.default_rng(seed)
        self.history: list[dict[str, float]] = []
        self.last_loss = float("nan")
        self.figures: dict[str, float] = {}

    def next_batch(self) -> tuple[Tensor, Tensor]:
        chosen = [
            self.train_set[i] for i in self.rng.integers(0, len(self.train_set), self.batch_size)
        ]
        if self.windows_with and self.windows_without:  # as many windows, half with a signature
            half = self.batch_size // 2
            windows = [
                self.windows_with[i] for i in self.rng.integers(0, len(self.windows_with), half)
            ]
            windows += [
                self.windows_without[i]
                for i in self.rng.integers(0, len(self.windows_without), self.batch_size - half)
            ]
            # in turn, so that every process's share holds both kinds
            turns = zip(windows[:half], windows[half : 2 * half], strict=True)
            chosen += [w for pair in turns for w in pair]
            chosen += windows[2 * half :]
        images = strip([c for c, _, _ in chosen], self.model.config)
        # Augmented eight at a time (one draw of the recognizer's jitter for each eight):
        # a draw per crop would take as long as the step.
        images = torch.cat([AUGMENT(images[i : i + 8]) for i in range(0, len(images), 8)])
        # This process's share of the header crops, and the same share of the windows.
        rows = list(range(self.batch_size))[self.rows]
        if len(chosen) > self.batch_size:
            rows += [self.batch_size + i for i in rows]
        wanted = torch.tensor([t for _, t, _ in chosen])
        return images[rows], wanted[rows]

    def train_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, float]:
        images, wanted = batch
        self.model.train()
        with autocast(images.device, self.precision):
            logits = self.net(images)
        ce = torch.nn.functional.cross_entropy
        loss = sum(ce(x.float(), wanted[:, i]) for i, x in enumerate(logits))
        assert isinstance(loss, Tensor)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.last_loss = distributed.mean(loss.detach()).item()
        return {"loss": self.last_loss}

    def validate(self) -> Validation:
        figures = accuracy(self.model, self.val_set)
        splits = {split for _, _, split in self.val_set}
        right = [figures[f"{s}_header"] for s in splits]
        if self.val_windows:
            figures["bar_windows"] = window_accuracy(self.model, self.val_windows)
            right.append(figures["bar_windows"])
        return Validation(1.0 - float(np.mean(right)), figures)

    def save(self, loop: Loop[HeaderTask], validation: Validation, is_best: bool) -> None:
        step, figures = loop.state.step, validation.figures
        self.figures = figures
        self.history.append({"step": step, "loss": self.last_loss, **figures})
        ckpt = HeaderCheckpoint(
            self.model.config,
            {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            loop.state_dict(),
            {"metrics": figures, "step": step, "processes": self.processes.world_size},
        )
        save_run(self.out, self.history, figures, lambda p: save_header(p, ckpt), is_best)


def train(
    items: list[Item],
    out: Path,
    loop_config: LoopConfig,
    batch_size: int,
    learning_rate: float,
    val_fraction: float,
    photo_repeat: int,
    seed: int,
    precision: str = "fp32",
    resume: bool = False,
    new_lr: float | None = None,
    init_from: Path | None = None,
    device: torch.device | str = "cpu",
    bars_from: Path | None = None,
) -> tuple[dict[str, float], str]:
    """Train a header reader into ``out``; returns the last validation figures and why it
    stopped.  ``init_from``: a header reader's checkpoint to start a new run from (one that
    read only the stave's start learns the bar windows too).  ``bars_from``: the recognizer
    that finds the bar lines (default: the shipped one)."""
    config = HeaderConfig(bar_before=BAR_BEFORE, bar_after=BAR_AFTER)
    latest = out / "latest.pt"
    saved = load_header(latest) if resume else None
    start_from = None if init_from is None or resume else load_header(init_from)
    if saved is not None:
        config = saved.config  # as the run was started
    elif start_from is not None:
        config = start_from.config
        if not config.reads_bars:
            config = replace(config, bar_before=BAR_BEFORE, bar_after=BAR_AFTER)
    processes = distributed.current()
    distributed.rows(batch_size, processes)  # refused now if it does not split
    with distributed.main_first():
        pairs = prepare_crops(items, out / "crops", config.crop)
        train_set, val_set = split_examples(pairs, val_fraction, seed, photo_repeat)
        windows: tuple[list[Example], list[Example]] = ([], [])
        if config.reads_bars:
            found = _bars(pairs, out / "bars.json", bars_from, seed, config, device)
            windows = bar_examples(pairs, found, val_fraction, seed, config)
    kinds = {w[1][1] != 0 for w in windows[0]}
    if config.reads_bars and kinds != {True, False}:
        what = "with" if True not in kinds else "without"
        if saved is not None:
            raise ValueError(f"{out}: the run reads bar windows, but none {what} a signature")
        if processes.main:
            print(
                f"note: no window after a bar line inside the line {what} a time signature "
                "in the training staves: a reader of each stave's start only",
                file=sys.stderr,
            )
        config = replace(config, bar_before=0, bar_after=0)
        windows = ([], [])
    if not train_set or not val_set:
        raise ValueError(
            f"need training and validation staves, got {len(train_set)} and {len(val_set)}"
        )
    if processes.main:
        with_sig = sum(w[1][1] != 0 for w in windows[0])
        print(
            f"{len(train_set)} training staves, {len(val_set)} validation staves; "
            f"{len(windows[0])} training windows after bar lines ({with_sig} with a time "
            f"signature), {len(windows[1])} validation windows; "
            f"training the header reader on {device}",
            file=sys.stderr,
        )
    torch.manual_seed(seed)
    model = HeaderReader(config)
    if start_from is not None:
        model.load_state_dict(start_from.model_state)
    model.to(device)
    task = HeaderTask(
        model, train_set, val_set, windows, batch_size, learning_rate, seed, precision, out
    )
    loop = Loop(task, loop_config, device)
    if saved is not None:
        model.load_state_dict(saved.model_state)
        if saved.trainer_state is None:
            raise ValueError(f"{latest} holds no training state to resume")
        loop.load_state_dict(saved.trainer_state)
        distributed.note_resumed_on(
            latest, saved.info.get("processes", 1), f"the same global batch of {batch_size}"
        )
        if new_lr is not None:
            task.set_learning_rate(new_lr)
    elif latest.exists():
        raise ValueError(f"{out} already holds a run: pass --resume, or choose another -o")
    reason = loop.run()
    return task.figures, reason
