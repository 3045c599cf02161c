"""The reader on photographed pages with several staves.

    python bench/photo_pages.py BUILD [--pages 20] [--keep DIR]

Each page stacks 3 to 6 clean staves of a dataset build (use one built with
``--exclude-pieces`` of the training build) at one scale, with the gaps of a printed page,
and is then photographed the way the real-world split is (``omr.data.degrade``: perspective, curl,
light, shadow, blur, noise, JPEG).  Its truth is the staves' lines in order.  Scored like
``omr.evaluate`` (SER, pitch SER, share of pages whose stave count is right), beside the same
pages unphotographed (the baseline in the same run).  ``--keep DIR`` keeps the pages.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import cv2
import numpy as np

from omr.data.degrade import DegradeParams, degrade
from omr.evaluate import Case, cases, evaluate
from omr.read.recognize import StaveReader
from omr.read.staff import find_staves


def stack(images: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Staves one under another on white paper, each scaled to the first one's staff space
    (a printed page has one staff size; the build's staves have many)."""
    spaces = [
        max((s.page_space for s in find_staves(im)), default=im.shape[0] / 10) for im in images
    ]
    scaled = [
        cv2.resize(im, None, fx=spaces[0] / sp, fy=spaces[0] / sp, interpolation=cv2.INTER_AREA)
        for im, sp in zip(images, spaces, strict=True)
    ]
    h = max(s.shape[0] for s in scaled)
    width = max(s.shape[1] for s in scaled) + 2 * int(0.08 * h)
    gap = int(rng.uniform(0.1, 0.5) * h)
    page = np.full((len(scaled) * (h + gap) + gap, width), 255, np.uint8)
    y = gap
    for s in scaled:
        x = int(0.08 * h)
        page[y : y + s.shape[0], x : x + s.shape[1]] = s
        y += s.shape[0] + gap
    return page


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("build", type=Path, help="a dataset build (its clean split is used)")
    p.add_argument("--pages", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", type=Path, help="recognizer (default: the shipped one)")
    p.add_argument("--keep", type=Path, help="keep the pages here")
    args = p.parse_args()
    clean = [c for c in cases(args.build) if c.split == "clean"]
    rng = np.random.default_rng(args.seed)
    reader = StaveReader.load(args.checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        flat, photo = root / "flat", root / "photo"
        flat.mkdir(parents=True, exist_ok=True)
        photo.mkdir(exist_ok=True)
        chosen: dict[str, list[Case]] = {"flat": [], "photo": []}
        for i in range(args.pages):
            picks = [clean[j] for j in rng.choice(len(clean), int(rng.integers(3, 7)), False)]
            images = [np.asarray(cv2.imread(str(c.image), cv2.IMREAD_GRAYSCALE)) for c in picks]
            page = stack(images, rng)
            truth = [line for c in picks for line in c.truth]
            text = "".join(c.image.with_suffix(".txt").read_text() for c in picks)
            params = dataclasses.replace(
                DegradeParams.sample(rng), neighbour_top=0.0, neighbour_bottom=0.0
            )
            shot, _ = degrade(page, rng, params)
            for kind, folder, img in (("flat", flat, page), ("photo", photo, shot)):
                cv2.imwrite(str(folder / f"{i:03d}.png"), img)
                (folder / f"{i:03d}.txt").write_text(text)
                chosen[kind].append(Case(folder / f"{i:03d}.png", truth, kind, str(i)))
        staves = sum(len(c.truth) for c in chosen["flat"])
        print(f"{args.pages} pages, {staves} staves from {args.build}")
        print(f"{'pages':<10}{'files':>6}{'SER':>9}{'pitch SER':>11}{'staves right':>14}")
        for kind, chosen_cases in chosen.items():
            t = evaluate(chosen_cases, reader, jobs=2, progress=False)["all"]
            print(
                f"{kind:<10}{t.files:>6}{100 * t.ser:>8.2f}%{100 * t.pitch_ser:>10.2f}%"
                f"{100 * t.staves_share:>13.1f}%"
            )


if __name__ == "__main__":
    main()
