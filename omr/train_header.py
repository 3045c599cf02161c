"""Training the header reader (``omr.model.header``): ``python -m omr.train --model header``.

The same images, crops and split as the recognizer's training (``omr.train``): each stave
cropped once into ``OUT/crops/``, whole pieces held out by a hash of their names for
validation and testing.  What is learned is each stave's header as its truth prints it
before the first note (``header_of``): the key, and the time signature or none.  Batches are
drawn at random over the training staves, augmented as the recognizer's are; validation
(which picks ``best.pt``) is the share of staves whose key and time signature are both
read right, averaged over the splits.  Checkpoints, ``--resume``, Ctrl-C and torchrun behave
as in ``omr.train``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from omr.data.training_set import AUGMENT, Item, prepare_crops
from omr.model.checkpoint import HeaderCheckpoint, load_header, save_header
from omr.model.header import HeaderConfig, HeaderReader, header_of, strip, targets
from omr.pieces import role
from stave import distributed
from stave.devices import autocast
from stave.stavetext import StaveTextError, parse_line
from stave.training import (
    Loop,
    LoopConfig,
    OneOptimizerState,
    Validation,
    save_run,
)

Example = tuple[np.ndarray, tuple[int, int, int], str]  # crop, class indices, split


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
        read = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if read is None:
            raise ValueError(f"{path}: unreadable crop (delete the cache folder to rebuild it)")
        example = (np.asarray(read), wanted, item.split)
        if which == "val":
            val_set.append(example)
        else:
            train_set.extend([example] * (photo_repeat if item.split == "photo" else 1))
    return train_set, val_set


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


class HeaderTask(OneOptimizerState):
    """The header reader for ``stave.training.Loop``: random batches of augmented crops'
    starts, the three heads' cross-entropy."""

    def __init__(
        self,
        model: HeaderReader,
        train_set: list[Example],
        val_set: list[Example],
        batch_size: int,
        learning_rate: float,
        seed: int,
        precision: str,
        out: Path,
    ) -> None:
        self.model, self.train_set, self.val_set = model, train_set, val_set
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
        chosen = self.rng.integers(0, len(self.train_set), self.batch_size)
        images = strip([self.train_set[i][0] for i in chosen], self.model.config)
        # Augmented eight at a time (one draw of the recognizer's jitter for each eight):
        # a draw per crop would take as long as the step.
        images = torch.cat([AUGMENT(images[i : i + 8]) for i in range(0, len(images), 8)])
        images = images[self.rows]
        wanted = torch.tensor([self.train_set[i][1] for i in chosen])[self.rows]
        return images, wanted

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
        wrong = 1.0 - float(np.mean([figures[f"{s}_header"] for s in splits]))
        return Validation(wrong, figures)

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
) -> tuple[dict[str, float], str]:
    """Train a header reader into ``out``; returns the last validation figures and why it
    stopped.  ``init_from``: a header reader's checkpoint to start a new run from."""
    config = HeaderConfig()
    start_from = None if init_from is None or resume else load_header(init_from)
    if start_from is not None:
        config = start_from.config
    processes = distributed.current()
    distributed.rows(batch_size, processes)  # refused now if it does not split
    with distributed.main_first():
        pairs = prepare_crops(items, out / "crops", config.crop)
        train_set, val_set = split_examples(pairs, val_fraction, seed, photo_repeat)
    if not train_set or not val_set:
        raise ValueError(
            f"need training and validation staves, got {len(train_set)} and {len(val_set)}"
        )
    if processes.main:
        print(
            f"{len(train_set)} training staves, {len(val_set)} validation staves; "
            f"training the header reader on {device}",
            file=sys.stderr,
        )
    torch.manual_seed(seed)
    model = HeaderReader(config)
    if start_from is not None:
        model.load_state_dict(start_from.model_state)
    model.to(device)
    task = HeaderTask(model, train_set, val_set, batch_size, learning_rate, seed, precision, out)
    loop = Loop(task, loop_config, device)
    latest = out / "latest.pt"
    if resume:
        saved = load_header(latest)
        if saved.config != config:
            raise ValueError(f"{latest}: a header reader of another shape ({saved.config})")
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
