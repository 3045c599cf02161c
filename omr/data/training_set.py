"""The recognizer's training set: images with their truth (dataset builds and camera photos),
each stave cropped once into a cache, as the staff finder cuts it for reading, and the
augmentation its crops get in training (the header reader's too)."""

from __future__ import annotations

import csv
import hashlib
import sys
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np
from torchvision.transforms import v2
from tqdm import tqdm

from omr.data.truth import TruthError, read_truth
from omr.geometry import CropShape
from omr.pieces import build_piece, photo_piece
from omr.read.crops import CROP_VERSION, main_staff_crop
from stave import atomic
from stave.stavetext import write_line

AUGMENT = v2.Compose(
    [
        v2.RandomAffine(degrees=1.5, translate=(0.01, 0.04), scale=(0.92, 1.05), shear=2, fill=0.0),
        v2.RandomApply([v2.GaussianBlur(5, sigma=(0.1, 1.2))], p=0.3),
        v2.ColorJitter(brightness=0.3, contrast=0.3),
    ]
)


@dataclass
class Item:
    image: str
    truth: str
    split: str  # "clean", "synthesized", "real-world", "photo"
    piece: str


def items_from_build(folder: Path) -> list[Item]:
    rows = list(csv.DictReader((folder / "manifest.csv").open(encoding="utf-8")))
    out = []
    for r in rows:
        png = folder / r["file"]
        truth = png.with_suffix(".txt").read_text(encoding="utf-8").strip()
        out.append(Item(str(png), truth, r["split"], build_piece(r)))
    return out


def items_from_photos(folder: Path) -> list[Item]:
    out = []
    for jpg in sorted(folder.glob("*.jpg")):
        txt = jpg.with_suffix(".txt")
        if txt.exists():
            try:
                staves = read_truth(txt)
            except TruthError as err:  # this photo's truth is in doubt: left out, named
                print(f"{err}; left out", file=sys.stderr)
                continue
            truth = "\n".join(write_line(s) for s in staves)
            out.append(Item(str(jpg), truth, "photo", photo_piece(jpg)))
    return out


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
