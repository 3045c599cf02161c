"""``python -m omr.train``: train the stave recognizer on dataset builds and camera photos.

    python -m omr.train --data data/staves --photos ../shared/data/cpms-train -o runs/omr

Every image goes through the staff finder (as at reading time) and is cached as a crop in
``OUT/crops/`` once.  Whole pieces are held out (for the photos the name before the last
``-``; for builds the ``source`` column of the manifest), chosen by a hash of the name: a
share for validation (which picks ``best.pt``) and as large a share for testing, used for
nothing here; their names go to ``OUT/test-pieces.txt`` for ``omr.evaluate --pieces``.
Checkpoints ``latest.pt`` and ``best.pt`` (by validation symbol error rate) are written
atomically; ``--resume`` continues (with a new ``--lr`` if one is given), Ctrl-C saves and
exits with status 130.  ``--init-from`` starts a new run from a trained recognizer's weights,
carried over to this network's crop shape where that differs (``transfer_state``).

``--model header`` trains the header reader instead (``omr.train_header``): the key and time
signature each stave prints at its start, and the time signatures after bar lines inside
the line (placed by ``--bars-from``'s bar lines), on the same crops and split.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from omr import train_header
from omr.data.training_set import (
    AUGMENT,
    Item,
    items_from_build,
    items_from_photos,
    prepare_crops,
)
from omr.metrics import Counts, score
from omr.model.checkpoint import RecognizerCheckpoint, load_checkpoint, save_checkpoint
from omr.model.decode import greedy
from omr.model.network import Recognizer, RecognizerConfig, transfer_state
from omr.model.vocab import SymbolVocab, related_symbols
from omr.pieces import role
from omr.read.crops import batch
from stave import atomic, distributed
from stave.checkpoint import CheckpointError
from stave.cli import (
    finite_float,
    non_negative_int,
    output_error,
    positive_float,
    positive_int,
)
from stave.devices import DEVICE_HELP, PRECISION_CHOICES, PRECISION_HELP, autocast
from stave.stavetext import StaveTextError, parse_line
from stave.training import (
    Loop,
    LoopConfig,
    LoopState,
    OneOptimizerState,
    Validation,
    check_output_folder,
    save_run,
    writing,
)


@dataclass
class OmrTrainConfig:
    batch_size: int = 16
    learning_rate: float = 1e-3
    max_steps: int | None = None
    minutes: float | None = None
    eval_every: int = 500
    val_fraction: float = 0.1  # of pieces, for validation; as many again for testing
    photo_repeat: int = 4  # photos are few: each is seen this many times per pass
    seed: int = 0
    precision: str = "fp32"  # of the training steps: fp32 or bf16 (autocast)


HEADER_BATCH = 64  # the header reader's defaults: its crops are small
HEADER_LR = 2e-3


def evaluate(
    model: Recognizer, vocab: SymbolVocab, data: list[tuple[np.ndarray, str, str]], size: int = 16
) -> dict[str, float]:
    """SER, pitch SER, full-token SER (headers and bar lines too), sounding-pitch SER (printed
    accidentals too) and the share of staves whose time signature is right, per split
    (greedy decoding)."""
    model.eval()
    sums: dict[str, Counts] = {}
    device = model.head.weight.device
    with torch.no_grad():
        for start in range(0, len(data), size):
            chunk = data[start : start + size]
            images, widths = batch([c for c, _, _ in chunk])
            images = images.to(device).contiguous(memory_format=torch.channels_last)
            out = model(images).float().cpu().numpy()
            lengths = model.output_lengths(widths).tolist()
            for i, (_, truth, split) in enumerate(chunk):
                read = vocab.assemble(greedy(out[i, : lengths[i]]))
                sums[split] = sums.get(split, Counts()) + score([read], [parse_line(truth)])
    model.train()
    result = {}
    for split, c in sums.items():
        result[f"{split}_ser"] = c.rate("symbol_edits", "symbols")
        result[f"{split}_pitch_ser"] = c.rate("pitch_edits", "pitches")
        result[f"{split}_token_ser"] = c.rate("token_edits", "tokens")
        result[f"{split}_sounding_ser"] = c.rate("sounding_edits", "sounding")
        result[f"{split}_time"] = c.rate("times_right", "times") if c.times else 1.0
    return result


TrainSet = list[tuple[np.ndarray, list[int]]]  # crop, encoded truth
ValSet = list[tuple[np.ndarray, str, str]]  # crop, truth, split


class RecognizerTask(OneOptimizerState):
    """The recognizer for ``stave.training.Loop``: batches of crops of similar width (a
    random run of the training set sorted by width), augmented; CTC loss."""

    def __init__(
        self,
        model: Recognizer,
        vocab: SymbolVocab,
        train_set: TrainSet,
        val_set: ValSet,
        config: OmrTrainConfig,
        out: Path,
    ) -> None:
        self.model, self.vocab, self.config, self.out = model, vocab, config, out
        self.train_set, self.val_set = train_set, val_set
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
        # Under torchrun every process draws the same global batch (the same generator) and
        # trains on its share of its rows, the network wrapped in DDP.  Batch norm keeps
        # each process's own statistics on CPUs (gloo); on CUDA it is synchronised.
        self.processes = distributed.current()
        self.rows = distributed.rows(config.batch_size, self.processes)
        self.net: torch.nn.Module = model
        if self.processes.distributed:
            if model.head.weight.device.type == "cuda":
                self.net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
            self.net = DistributedDataParallel(self.net)
        self.rng = np.random.default_rng(config.seed)
        self.order = np.argsort([c.shape[1] for c, _ in train_set])  # similar widths together
        self.history: list[dict[str, float]] = []
        self.last_loss = float("nan")
        self.figures: dict[str, float] = {}  # of the last validation

    def next_batch(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(B, 1, H, W) augmented crops, their widths, the targets flat and their lengths."""
        size = self.config.batch_size
        start = int(self.rng.integers(0, max(1, len(self.order) - size)))
        chosen = self.order[start : start + size]
        images, widths = batch([self.train_set[i][0] for i in chosen])
        # Every process augments the whole batch, so each crop gets the augmentation one
        # process would give it and the random state stays the same on all; it keeps its rows.
        images = torch.stack([AUGMENT(img) for img in images])[self.rows]
        widths = widths[self.rows]
        images = images.contiguous(memory_format=torch.channels_last)
        targets = [self.train_set[i][1] for i in chosen[self.rows]]
        flat = torch.tensor([s for t in targets for s in t])
        lengths = torch.tensor([len(t) for t in targets])
        return images, widths, flat, lengths

    def train_step(self, batch: tuple[Tensor, Tensor, Tensor, Tensor]) -> dict[str, float]:
        images, widths, flat, lengths = batch
        self.model.train()
        with autocast(images.device, self.config.precision):
            scores = self.net(images)
        loss = self.model.loss(scores.float(), widths, flat, lengths)  # CTC in fp32
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.optimizer.step()
        self.last_loss = distributed.mean(loss.detach()).item()
        return {"loss": self.last_loss}

    def validate(self) -> Validation:
        metrics = evaluate(self.model, self.vocab, self.val_set)
        # best.pt: the lowest mean over the splits of the notes' and rests' SER
        splits = {split for _, _, split in self.val_set}
        ser = float(np.mean([metrics[f"{split}_ser"] for split in splits]))
        return Validation(ser, metrics)

    def save(self, loop: Loop[RecognizerTask], validation: Validation, is_best: bool) -> None:
        step, metrics = loop.state.step, validation.figures
        self.figures = metrics
        self.history.append({"step": step, "loss": self.last_loss, **metrics})
        ckpt = RecognizerCheckpoint(
            self.model.config,
            self.vocab,
            {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            loop.state_dict(),
            {
                "metrics": metrics,
                "config": asdict(self.config),
                "step": step,
                "processes": self.processes.world_size,
            },
        )
        save_run(self.out, self.history, metrics, lambda p: save_checkpoint(p, ckpt), is_best)


def upgraded_state(saved: dict[str, Any], seed: int) -> dict[str, Any]:
    """A training state as the one loop saves it, from one saved before there was one loop
    (so runs started then still ``--resume``; they did not keep their random state, and go
    on, as they did then, from a generator seeded by the step)."""
    if "loop" in saved:
        return saved
    st = saved["state"]
    loop = LoopState(step=st["step"], seconds=st["seconds"], best=st["best_ser"])
    rng = np.random.default_rng([seed, st["step"]])
    return {
        "loop": asdict(loop),
        "torch_rng": torch.get_rng_state(),
        "task": {
            "optimizer": saved["optimizer"],
            "rng": rng.bit_generator.state,
            "history": st["history"],
        },
    }


def split_sets(
    pairs: list[tuple[Item, Path]], vocab: SymbolVocab, config: OmrTrainConfig
) -> tuple[TrainSet, ValSet, set[str]]:
    """The cropped items by the role of their piece: training (photos repeated), validation,
    and the names of the test pieces (used for nothing here)."""
    train_set: TrainSet = []
    val_set: ValSet = []
    test_pieces: set[str] = set()
    for item, path in pairs:
        read = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if read is None:
            raise ValueError(f"{path}: unreadable crop (delete the cache folder to rebuild it)")
        crop = np.asarray(read)
        which = role(item.piece, config.val_fraction, config.seed)
        if which == "test":
            test_pieces.add(item.piece)
        elif which == "val":
            val_set.append((crop, item.truth, item.split))
        else:
            encoded = vocab.encode(parse_line(item.truth))
            repeat = config.photo_repeat if item.split == "photo" else 1
            train_set.extend([(crop, encoded)] * repeat)
    return train_set, val_set, test_pieces


def train(
    items: list[Item],
    out: Path,
    config: OmrTrainConfig,
    resume: bool = False,
    new_lr: float | None = None,
    init_from: Path | None = None,
    device: torch.device | str = "cpu",
) -> tuple[dict[str, float], str]:
    """Train into ``out``; returns the last validation figures and why it stopped.
    ``new_lr`` replaces the saved learning rate when resuming; a new run starts from the
    weights of the recognizer ``init_from`` (carried over to this crop shape) if given."""
    vocab = SymbolVocab.default()
    net_config = RecognizerConfig(len(vocab))
    start_from = None if init_from is None or resume else load_checkpoint(init_from)
    head_rows = None
    if start_from is not None and start_from.vocab.symbols != vocab.symbols:
        head_rows = related_symbols(vocab, start_from.vocab)
        unrelated = [s for s, rows in zip(vocab.symbols, head_rows[1:], strict=True) if not rows]
        if len(unrelated) > len(vocab.symbols) // 2:
            raise ValueError(f"{init_from}: a recognizer of another vocabulary")
        if distributed.current().main:
            print(
                f"note: {init_from} reads {len(start_from.vocab)} symbols, this recognizer "
                f"{len(vocab)}: each output starts from the old outputs it stands for (a time "
                "signature's numerator and denominator from the metres that print them)"
                + (f"; {len(unrelated)} from none: {' '.join(unrelated)}" if unrelated else ""),
                file=sys.stderr,
            )
    usable = []
    for item in items:
        try:
            if vocab.covers(parse_line(item.truth)):
                usable.append(item)
        except StaveTextError as err:
            print(f"{item.image}: truth left out ({err})", file=sys.stderr)
    processes = distributed.current()
    distributed.rows(config.batch_size, processes)  # refused now if it does not split
    with distributed.main_first():  # it crops the staves; the others read its crops
        pairs = prepare_crops(usable, out / "crops", net_config.crop)
        train_set, val_set, test_pieces = split_sets(pairs, vocab, config)
        if processes.main:
            with writing(out / "test-pieces.txt"):
                text = "".join(f"{p}\n" for p in sorted(test_pieces))
                atomic.write_text(out / "test-pieces.txt", text)
    if not train_set or not val_set:
        raise ValueError(
            f"need training and validation staves, got {len(train_set)} and {len(val_set)}"
        )
    if processes.main:
        over = f" over {processes.world_size} processes" if processes.distributed else ""
        print(
            f"{len(train_set)} training staves, {len(val_set)} validation staves; "
            f"training on {device}{over}",
            file=sys.stderr,
        )

    torch.manual_seed(config.seed)
    model = Recognizer(net_config)
    if start_from is not None:
        model.load_state_dict(
            transfer_state(start_from.model_state, start_from.config, net_config, head_rows)
        )
    # Channels-last: oneDNN's faster convolutions on the CPU (some 15-20% a step).
    model.to(device)
    model.to(memory_format=torch.channels_last)
    task = RecognizerTask(model, vocab, train_set, val_set, config, out)
    loop = Loop(task, LoopConfig(config.max_steps, config.minutes, config.eval_every), device)
    latest = out / "latest.pt"
    if resume:
        saved = load_checkpoint(latest)
        if saved.vocab.symbols != vocab.symbols:
            raise ValueError(
                f"{latest}: a run of another vocabulary ({len(saved.vocab)} symbols, this "
                f"recognizer {len(vocab)}; time signatures were one symbol per metre before "
                "they were split): start a new run with --init-from it"
            )
        model.load_state_dict(saved.model_state)
        if saved.trainer_state is None:
            raise ValueError(f"{latest} holds no training state to resume")
        loop.load_state_dict(upgraded_state(saved.trainer_state, config.seed))
        distributed.note_resumed_on(
            latest,
            saved.info.get("processes", 1),
            f"the same global batch of {config.batch_size}, split anew (on CPUs batch norm "
            f"sees each process's share)",
        )
        if new_lr is not None:
            task.set_learning_rate(new_lr)
    elif latest.exists():
        raise ValueError(f"{out} already holds a run: pass --resume, or choose another -o")
    reason = loop.run()
    return task.figures, reason


def held_out_fraction(text: str) -> float:
    """A share above 0 and below 0.5: as many pieces again are held out for testing."""
    value = finite_float(text)
    if not 0 < value < 0.5:
        raise argparse.ArgumentTypeError(f"must be above 0 and below 0.5, got {text}")
    return value


def read_items(builds: list[Path], photos: list[Path]) -> list[Item]:
    """The images and truths of dataset builds and photo folders; ``ValueError`` naming the
    folder or file that cannot be read."""
    items: list[Item] = []
    for folder in builds:
        if not (folder / "manifest.csv").is_file():
            raise ValueError(f"{folder}: not a dataset build (no manifest.csv)")
        try:
            items += items_from_build(folder)
        except (OSError, UnicodeDecodeError, KeyError, csv.Error) as err:
            where = getattr(err, "filename", None) or folder / "manifest.csv"
            raise ValueError(f"{where}: cannot read the build ({err})") from err
    for folder in photos:
        if not folder.is_dir():
            raise ValueError(f"{folder}: no such folder of photos")
        try:
            items += items_from_photos(folder)
        except (OSError, UnicodeDecodeError) as err:
            where = getattr(err, "filename", None) or folder
            raise ValueError(f"{where}: cannot read the truth ({err})") from err
    return items


def parser() -> argparse.ArgumentParser:
    defaults = OmrTrainConfig()
    p = argparse.ArgumentParser(
        prog="python -m omr.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model",
        choices=("recognizer", "header"),
        default="recognizer",
        help="what to train: the recognizer, or the header reader that reads each stave's "
        "key and time signature where they are printed (omr.model.header; default: "
        "%(default)s)",
    )
    p.add_argument(
        "--data",
        type=Path,
        nargs="*",
        default=[],
        help="folders built by omr.dataset (default: none)",
    )
    p.add_argument(
        "--photos",
        type=Path,
        nargs="*",
        default=[],
        help="folders of camera photos NAME.jpg with truths NAME.txt, e.g. CPMS (default: none)",
    )
    p.add_argument(
        "-o", "--out", type=Path, default=Path("runs/omr"), help="run folder (default: %(default)s)"
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out (default: a new run)"
    )
    p.add_argument(
        "--init-from",
        type=Path,
        help="start a new run from this recognizer's weights (e.g. the shipped one; "
        "an older crop shape is carried over), or with --model header a header reader's "
        "(default: none)",
    )
    p.add_argument(
        "--bars-from",
        type=Path,
        help="with --model header: the recognizer whose bar lines place the windows where "
        "time signatures inside the line are learned (default: the shipped one)",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        help=f"crops per batch (default: {defaults.batch_size}; the header reader {HEADER_BATCH})",
    )
    p.add_argument(
        "--lr",
        type=positive_float,
        help=f"learning rate (default: {defaults.learning_rate}; on --resume: the run's)",
    )
    p.add_argument(
        "--max-steps",
        type=positive_int,
        help="stop after this many steps in all (default: 20000 when --minutes is not given)",
    )
    p.add_argument(
        "--minutes",
        type=positive_float,
        help="stop after this many minutes in this run (default: no time limit)",
    )
    p.add_argument(
        "--eval-every",
        type=positive_int,
        default=defaults.eval_every,
        help="steps between validations and checkpoints (default: %(default)s)",
    )
    p.add_argument(
        "--val-fraction",
        type=held_out_fraction,
        default=defaults.val_fraction,
        help="share of whole pieces held out for validation, as many again for testing; "
        "below 0.5 (default: %(default)s)",
    )
    p.add_argument(
        "--photo-repeat",
        type=positive_int,
        default=defaults.photo_repeat,
        help="times each training photo is seen per pass (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=non_negative_int,
        default=defaults.seed,
        help="seed for the batches, the augmentation and the initial weights "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--threads", type=positive_int, help="torch CPU threads (default: torch's choice)"
    )
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--precision", choices=PRECISION_CHOICES, default="fp32", help=PRECISION_HELP)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    return distributed.run(
        args.device,
        lambda processes, device: _train_main(p, args, processes, device),
        args.precision,
    )


def _train_main(
    p: argparse.ArgumentParser,
    args: argparse.Namespace,
    processes: distributed.Processes,
    device: torch.device,
) -> int:
    defaults = OmrTrainConfig()
    try:
        items = read_items(args.data, args.photos)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not items:
        p.error("give --data and/or --photos (folders holding images with their truth)")
    header = args.model == "header"
    if args.bars_from is not None and not header:
        p.error("--bars-from is for --model header")
    config = OmrTrainConfig(
        batch_size=args.batch_size or (HEADER_BATCH if header else defaults.batch_size),
        learning_rate=(HEADER_LR if header else defaults.learning_rate)
        if args.lr is None
        else args.lr,
        max_steps=args.max_steps,
        minutes=args.minutes,
        eval_every=args.eval_every,
        val_fraction=args.val_fraction,
        photo_repeat=args.photo_repeat,
        seed=args.seed,
        precision=args.precision,
    )
    if config.max_steps is None and config.minutes is None:
        config.max_steps = 20000
    latest = args.out / "latest.pt"
    try:
        if args.resume and not latest.exists():
            raise ValueError(f"{latest}: nothing to resume")
        if processes.main:
            check_output_folder(args.out)
        if header:
            metrics, reason = train_header.train(
                items,
                args.out,
                LoopConfig(config.max_steps, config.minutes, config.eval_every),
                config.batch_size,
                config.learning_rate,
                config.val_fraction,
                config.photo_repeat,
                config.seed,
                config.precision,
                args.resume,
                args.lr if args.resume else None,
                args.init_from,
                device,
                args.bars_from,
            )
        else:
            metrics, reason = train(
                items,
                args.out,
                config,
                args.resume,
                args.lr if args.resume else None,
                args.init_from,
                device,
            )
    except (ValueError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # inputs are read into ValueErrors: this is an output
        print(f"error: {output_error(err)}", file=sys.stderr)
        if latest.exists():
            print(
                f"the run's last checkpoint {latest} is kept: --resume once the output can "
                "be written",
                file=sys.stderr,
            )
        return 1
    if processes.main:
        print(f"stopped ({reason}); " + " ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    return 130 if reason == "interrupted" else 0


if __name__ == "__main__":
    sys.exit(main())
