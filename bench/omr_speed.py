"""Speed of ``omr.extract`` with the shipped recognizer.

    python bench/omr_speed.py [--staves 120] [--pages 60] [--jobs 2]

1. Single-stave images (the committed sample's 18 staves, repeated to ``--staves`` files):
   staves per second after the model is loaded.  Target (issue 16): >= 50 on 2 cores (issue 4
   asked for 20).
2. A folder of ``--pages`` A4 pages at 300 dpi (2480 x 3508 px PNG), one stave on each at
   printed size: pages per second, model loading included.  Target (issue 16): >= 8 (was 4).

As a baseline in the same run, the same files go through stages 1-2 alone (loading and
staff finding, same processes), and the ratio says what the recognizer and the writing of
text and MusicXML add.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from omr.geometry import CropShape
from omr.read import pipeline
from omr.read.load import find_inputs
from omr.read.recognize import StaveReader

SAMPLE = Path(__file__).resolve().parents[1] / "datasets" / "sample"
STAVES_TARGET = 50.0
PAGES_TARGET = 8.0


def a4_page(stave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A white 300 dpi A4 page with ``stave`` at a printed size (staff space ~ 1.75 mm)."""
    page = np.full((3508, 2480), 255, np.uint8)
    k = min(2100 / stave.shape[1], 1.7)
    s = cv2.resize(stave, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC)
    y = int(rng.integers(300, 3508 - 300 - s.shape[0]))
    page[y : y + s.shape[0], 190 : 190 + s.shape[1]] = s
    return page


def stages_1_2(paths: list[Path], shape: CropShape, jobs: int) -> float:
    start = time.perf_counter()
    found = list(pipeline._found(paths, shape, jobs))
    assert all(f.error is None for f in found), [f.error for f in found if f.error]
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--staves", type=int, default=120, help="single-stave images")
    p.add_argument("--pages", type=int, default=60, help="A4 pages")
    p.add_argument("--jobs", type=int, default=2, help="processes finding staves")
    p.add_argument("--checkpoint", type=Path, help="recognizer (default: the shipped one)")
    args = p.parse_args()
    sample = sorted(SAMPLE.glob("*/*.png"))
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "staves").mkdir()
        (root / "pages").mkdir()
        for i in range(args.staves):
            shutil.copy(sample[i % len(sample)], root / "staves" / f"{i:04d}.png")
        for i in range(args.pages):
            stave = np.asarray(cv2.imread(str(sample[i % len(sample)]), cv2.IMREAD_GRAYSCALE))
            cv2.imwrite(
                str(root / "pages" / f"{i:03d}.png"),
                a4_page(stave, rng),
                [cv2.IMWRITE_PNG_COMPRESSION, 1],
            )

        # 1. Single staves, model loaded first.
        reader = StaveReader.load(args.checkpoint)
        reader.read([np.full((reader.height, 300), 255, np.uint8)])  # warm up
        staves = find_inputs([root / "staves"])
        base = stages_1_2(staves, reader.shape, args.jobs)
        start = time.perf_counter()
        s = pipeline.extract(
            [root / "staves"], root / "out1", reader, jobs=args.jobs, progress=False
        )
        took = time.perf_counter() - start
        assert s.failed == 0 and s.staves == args.staves, s
        rate = args.staves / took
        print(f"single staves: {args.staves} files, jobs={args.jobs}")
        print(
            f"staves_per_s={rate:.1f} (target {STAVES_TARGET:.0f}: ratio "
            f"{rate / STAVES_TARGET:.2f}); stages 1-2 alone {args.staves / base:.1f}/s, "
            f"full/stages-1-2 time ratio {took / base:.2f}"
        )

        # 2. A4 pages, model loading included.
        pages = find_inputs([root / "pages"])
        base = stages_1_2(pages, reader.shape, args.jobs)
        start = time.perf_counter()
        reader = StaveReader.load(args.checkpoint)
        s = pipeline.extract(
            [root / "pages"], root / "out2", reader, jobs=args.jobs, progress=False
        )
        took = time.perf_counter() - start
        assert s.failed == 0 and s.staves == args.pages, s
        rate = args.pages / took
        print(f"A4 pages at 300 dpi: {args.pages} files, jobs={args.jobs}, loading included")
        print(
            f"pages_per_s={rate:.2f} (target {PAGES_TARGET:.0f}: ratio "
            f"{rate / PAGES_TARGET:.2f}); stages 1-2 alone {args.pages / base:.2f}/s, "
            f"full/stages-1-2 time ratio {took / base:.2f}"
        )


if __name__ == "__main__":
    main()
