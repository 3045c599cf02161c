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
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torchvision.transforms import v2
from tqdm import tqdm

from generate import atomic
from generate.interrupt import StopOnSignal
from generate.stavetext import StaveTextError, parse_line
from omr.checkpoint import RecognizerCheckpoint, load_checkpoint, save_checkpoint
from omr.crops import CROP_VERSION, CropShape, batch, main_staff_crop
from omr.decode import greedy
from omr.metrics import errors
from omr.recognizer import Recognizer, RecognizerConfig, transfer_state
from omr.vocab import SymbolVocab


@dataclass
class Item:
    image: str
    truth: str
    split: str  # "clean", "synthesized", "real-world", "photo"
    piece: str


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


def items_from_build(folder: Path) -> list[Item]:
    rows = list(csv.DictReader((folder / "manifest.csv").open(encoding="utf-8")))
    out = []
    for r in rows:
        png = folder / r["file"]
        truth = png.with_suffix(".txt").read_text(encoding="utf-8").strip()
        piece = r["source"] if r["source"] != "random" else f"random:{r['file']}"
        out.append(Item(str(png), truth, r["split"], piece))
    return out


def items_from_photos(folder: Path) -> list[Item]:
    out = []
    for jpg in sorted(folder.glob("*.jpg")):
        txt = jpg.with_suffix(".txt")
        if txt.exists():
            piece = jpg.stem.rsplit("-", 1)[0]
            out.append(Item(str(jpg), txt.read_text(encoding="utf-8").strip(), "photo", piece))
    return out


def role(piece: str, fraction: float, seed: int) -> str:
    """ "test", "val" or "train" for a whole piece, by a hash of its name (stable across runs):
    ``fraction`` of the pieces each to testing and to validation."""
    digest = hashlib.sha256(f"{seed}:{piece}".encode()).digest()
    u = int.from_bytes(digest[:4], "big") / 2**32
    return "test" if u < fraction else "val" if u < 2 * fraction else "train"


def _crop(job: tuple[Item, CropShape]) -> np.ndarray | None:
    item, shape = job
    gray = cv2.imread(item.image, cv2.IMREAD_GRAYSCALE)
    return None if gray is None else main_staff_crop(gray, shape)


def prepare_crops(
    items: list[Item], cache: Path, shape: CropShape, jobs: int = 2
) -> list[tuple[Item, Path]]:
    """Crop every image once into ``cache`` (by its path, ``shape`` and ``CROP_VERSION``);
    items whose staff is not found are left out."""
    cache.mkdir(parents=True, exist_ok=True)
    todo: list[tuple[Item, Path]] = []
    done: list[tuple[Item, Path]] = []
    for item in items:
        name = f"{CROP_VERSION}:{shape.height}:{shape.ledger_room}:{item.image}"
        key = hashlib.sha256(name.encode()).hexdigest()[:16]
        path = cache / f"{key}.png"
        (done if path.exists() else todo).append((item, path))
    if todo:
        with get_context("fork").Pool(jobs) as pool:
            for (item, path), crop in tqdm(
                zip(
                    todo, pool.imap(_crop, [(i, shape) for i, _ in todo], chunksize=8), strict=True
                ),
                total=len(todo),
                desc="cropping staves",
            ):
                if crop is None:
                    print(f"{item.image}: no staff found, left out", file=sys.stderr)
                    continue
                ok, buf = cv2.imencode(".png", crop)
                if ok:
                    atomic.write_bytes(path, buf.tobytes())
                    done.append((item, path))
    return [(i, p) for i, p in done if p.exists()]


AUGMENT = v2.Compose(
    [
        v2.RandomAffine(degrees=1.5, translate=(0.01, 0.04), scale=(0.92, 1.05), shear=2, fill=0.0),
        v2.RandomApply([v2.GaussianBlur(5, sigma=(0.1, 1.2))], p=0.3),
        v2.ColorJitter(brightness=0.3, contrast=0.3),
    ]
)


def evaluate(
    model: Recognizer, vocab: SymbolVocab, data: list[tuple[np.ndarray, str, str]], size: int = 16
) -> dict[str, float]:
    """SER and pitch SER per split (greedy decoding)."""
    model.eval()
    sums: dict[str, list[int]] = {}
    with torch.no_grad():
        for start in range(0, len(data), size):
            chunk = data[start : start + size]
            images, widths = batch([c for c, _, _ in chunk])
            out = model(images.contiguous(memory_format=torch.channels_last)).numpy()
            lengths = model.output_lengths(widths).tolist()
            for i, (_, truth, split) in enumerate(chunk):
                read = vocab.assemble(greedy(out[i, : lengths[i]]))
                e = errors(read, parse_line(truth))
                acc = sums.setdefault(split, [0, 0, 0, 0])
                for k in range(4):
                    acc[k] += e[k]
    model.train()
    result = {}
    for split, (se, sn, pe, pn) in sums.items():
        result[f"{split}_ser"] = se / max(1, sn)
        result[f"{split}_pitch_ser"] = pe / max(1, pn)
    return result


def train(
    items: list[Item],
    out: Path,
    config: OmrTrainConfig,
    resume: bool = False,
    new_lr: float | None = None,
    init_from: Path | None = None,
) -> tuple[dict[str, float], str]:
    """Train into ``out``; returns the last validation figures and why it stopped.
    ``new_lr`` replaces the saved learning rate when resuming; a new run starts from the
    weights of the recognizer ``init_from`` (carried over to this crop shape) if given."""
    vocab = SymbolVocab.default()
    net_config = RecognizerConfig(len(vocab))
    start_from = None if init_from is None or resume else load_checkpoint(init_from)
    if start_from is not None and start_from.vocab.symbols != vocab.symbols:
        raise ValueError(f"{init_from}: a recognizer of another vocabulary")
    usable = []
    for item in items:
        try:
            if vocab.covers(parse_line(item.truth)):
                usable.append(item)
        except StaveTextError as err:
            print(f"{item.image}: truth left out ({err})", file=sys.stderr)
    shape = CropShape(net_config.height, net_config.ledger_room)
    pairs = prepare_crops(usable, out / "crops", shape)
    train_set: list[tuple[np.ndarray, list[int]]] = []
    val_set: list[tuple[np.ndarray, str, str]] = []
    test_pieces: set[str] = set()
    for item, path in pairs:
        read = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if read is None:
            raise OSError(f"{path}: unreadable crop (delete the cache folder to rebuild it)")
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
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out / "test-pieces.txt", "".join(f"{p}\n" for p in sorted(test_pieces)))
    if not train_set or not val_set:
        raise ValueError(
            f"need training and validation staves, got {len(train_set)} and {len(val_set)}"
        )
    print(f"{len(train_set)} training staves, {len(val_set)} validation staves", file=sys.stderr)

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = Recognizer(net_config)
    if start_from is not None:
        model.load_state_dict(transfer_state(start_from.model_state, start_from.config, net_config))
    # Channels-last: oneDNN's faster convolutions on the CPU (some 15-20% a step).
    model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    state: dict[str, Any] = {"step": 0, "best_ser": float("inf"), "history": [], "seconds": 0.0}
    latest, best = out / "latest.pt", out / "best.pt"
    if resume:
        saved = load_checkpoint(latest)
        model.load_state_dict(saved.model_state)
        assert saved.trainer_state is not None
        optimizer.load_state_dict(saved.trainer_state["optimizer"])
        if new_lr is not None:
            for group in optimizer.param_groups:
                group["lr"] = new_lr
        state = saved.trainer_state["state"]
        rng = np.random.default_rng([config.seed, state["step"]])
    elif latest.exists():
        raise ValueError(f"{out} already holds a run: pass --resume, or choose another -o")

    def save(metrics: dict[str, float]) -> None:
        ckpt = RecognizerCheckpoint(
            net_config,
            vocab,
            {k: v.detach().clone() for k, v in model.state_dict().items()},
            {"optimizer": optimizer.state_dict(), "state": state},
            {"metrics": metrics, "config": asdict(config), "step": state["step"]},
        )
        save_checkpoint(latest, ckpt)
        ser = float(
            np.mean([v for k, v in metrics.items() if k.endswith("_ser") and "pitch" not in k])
        )
        if ser < state["best_ser"]:
            state["best_ser"] = ser
            save_checkpoint(best, ckpt)
        atomic.write_text(out / "history.json", json.dumps(state["history"], indent=1))

    order = np.argsort([c.shape[1] for c, _ in train_set])  # similar widths batch together
    model.train()
    reason = "budget"
    metrics: dict[str, float] = {}
    bar = tqdm(total=config.max_steps, initial=state["step"], unit="step")
    with StopOnSignal(minutes=config.minutes) as stop:
        while config.max_steps is None or state["step"] < config.max_steps:
            if why := stop.why():
                reason = why
                break
            t0 = time.perf_counter()
            start = int(rng.integers(0, max(1, len(order) - config.batch_size)))
            chosen = order[start : start + config.batch_size]
            images, widths = batch([train_set[i][0] for i in chosen])
            images = torch.stack([AUGMENT(img) for img in images])
            images = images.contiguous(memory_format=torch.channels_last)
            targets = [train_set[i][1] for i in chosen]
            flat = torch.tensor([s for t in targets for s in t])
            lengths = torch.tensor([len(t) for t in targets])
            loss = model.loss(model(images), widths, flat, lengths)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            state["step"] += 1
            state["seconds"] += time.perf_counter() - t0
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
            if state["step"] % config.eval_every == 0:
                metrics = evaluate(model, vocab, val_set)
                state["history"].append({"step": state["step"], "loss": loss.item(), **metrics})
                print(
                    f"\nstep {state['step']}: "
                    + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()),
                    file=sys.stderr,
                )
                save(metrics)
    bar.close()
    metrics = evaluate(model, vocab, val_set)
    state["history"].append({"step": state["step"], **metrics})
    save(metrics)
    return metrics, reason


def main(argv: list[str] | None = None) -> int:
    defaults = OmrTrainConfig()
    p = argparse.ArgumentParser(
        prog="python -m omr.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", type=Path, nargs="*", default=[], help="folders built by omr.dataset")
    p.add_argument(
        "--photos",
        type=Path,
        nargs="*",
        default=[],
        help="folders of camera photos NAME.jpg with truths NAME.txt (e.g. CPMS)",
    )
    p.add_argument("-o", "--out", type=Path, default=Path("runs/omr"), help="run folder")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument(
        "--init-from",
        type=Path,
        help="start a new run from this recognizer's weights (e.g. the shipped one; "
        "an older crop shape is carried over)",
    )
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument(
        "--lr", type=float, help=f"learning rate ({defaults.learning_rate}; on --resume: kept)"
    )
    p.add_argument("--max-steps", type=int, help="stop after this many steps in all")
    p.add_argument("--minutes", type=float, help="stop after this many minutes in this run")
    p.add_argument("--eval-every", type=int, default=defaults.eval_every)
    p.add_argument(
        "--val-fraction",
        type=float,
        default=defaults.val_fraction,
        help="share of whole pieces held out",
    )
    p.add_argument(
        "--photo-repeat",
        type=int,
        default=defaults.photo_repeat,
        help="times each training photo is seen per pass (%(default)s)",
    )
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--threads", type=int, help="torch CPU threads")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    items = [i for d in args.data for i in items_from_build(d)]
    items += [i for d in args.photos for i in items_from_photos(d)]
    if not items:
        p.error("give --data and/or --photos")
    config = OmrTrainConfig(
        batch_size=args.batch_size,
        learning_rate=defaults.learning_rate if args.lr is None else args.lr,
        max_steps=args.max_steps,
        minutes=args.minutes,
        eval_every=args.eval_every,
        val_fraction=args.val_fraction,
        photo_repeat=max(1, args.photo_repeat),
        seed=args.seed,
    )
    if config.max_steps is None and config.minutes is None:
        config.max_steps = 20000
    try:
        metrics, reason = train(
            items, args.out, config, args.resume, args.lr if args.resume else None, args.init_from
        )
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"stopped ({reason}); " + " ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    return 130 if reason == "interrupted" else 0


if __name__ == "__main__":
    sys.exit(main())
