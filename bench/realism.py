"""How close the real-world split looks to real camera photos of staves (CPMS).

    python bench/realism.py BUILD [--photos ../shared/data/cpms-train] [--limit 300]

For the photos, the real-world split and (for reference) the clean split, prints the median
(and 10th-90th percentile) of simple image statistics: size, brightness of paper and ink,
contrast, colour warmth, sharpness, noise and the share of dark pixels.  The mix in
``omr/data/degrade.py`` was tuned by comparing these.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np


def stats(path: Path) -> dict[str, float]:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(path)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    h, w = gray.shape
    scale = 160.0 / h  # compare at the photos' typical height
    small = cv2.resize(gray, (max(8, round(w * scale)), 160), interpolation=cv2.INTER_AREA)
    p2, p50, p98 = np.percentile(small, [2, 50, 98])
    lap = cv2.Laplacian(small, cv2.CV_32F)
    smooth = cv2.GaussianBlur(small, (0, 0), 1.0)
    b, _, r = (float(c) for c in cv2.mean(img)[:3])
    return {
        "aspect w/h": w / h,
        "paper (p98)": float(p98),
        "median": float(p50),
        "ink (p2)": float(p2),
        "contrast": float(p98 - p2),
        "warmth r-b": r - b,
        "sharpness": float(np.abs(lap).mean() / max(1.0, p98 - p2) * 100),
        "noise": float(np.median(np.abs(small - smooth))),
        "dark share %": float((small < (p2 + p98) / 2).mean() * 100),
        "light range": float(np.ptp(cv2.blur(small, (31, 31)))),
    }


def summary(files: list[Path]) -> dict[str, tuple[float, float, float]]:
    rows = [stats(f) for f in files]
    return {k: tuple(np.percentile([r[k] for r in rows], [10, 50, 90])) for k in rows[0]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("build", type=Path, help="a folder written by python -m omr.dataset build")
    p.add_argument("--photos", type=Path, default=Path("../shared/data/cpms-train"))
    p.add_argument("--limit", type=int, default=300)
    args = p.parse_args()
    sets = {
        "photos": sorted(args.photos.glob("*.jpg"))[
            :: max(1, len(list(args.photos.glob("*.jpg"))) // args.limit)
        ],
        "real-world": sorted((args.build / "real-world").glob("*.png"))[: args.limit],
        "clean": sorted((args.build / "clean").glob("*.png"))[: args.limit],
    }
    results = {name: summary(files) for name, files in sets.items() if files}
    names = list(results)
    print(f"{'statistic':<14}" + "".join(f"{n + f' ({len(sets[n])})':>26}" for n in names))
    for key in next(iter(results.values())):
        cells = ""
        for n in names:
            lo, mid, hi = results[n][key]
            cells += f"{mid:>10.2f} [{lo:.1f}-{hi:.1f}]".rjust(26)
        print(f"{key:<14}{cells}")


if __name__ == "__main__":
    main()
