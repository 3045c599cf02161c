"""Speed of ``python -m omr.dataset build`` on the default mix.

    python bench/dataset_speed.py [--scale 0.1] [--jobs 2]

Builds the default mix (300 clean / 2,790 synthesized / 200 real-world) scaled by ``--scale``
into a temporary folder, corpus reading included, and prints staves per second.  As a
baseline in the same run it times the bare engraving (Verovio + resvg) of the same number of
synthesized staves in one process, and prints both ratios.  Target (issue 3): >= 20 staves/s
on 2 cores for the default mix.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from omr.data import build as dataset
from omr.data import synth
from omr.data.engrave import EngravingSettings, engrave
from omr.data.mei import staves_to_mei

TARGET = 20.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--scale", type=float, default=0.1, help="share of the default counts")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    counts = {k: max(1, round(v * args.scale)) for k, v in dataset.DEFAULT_COUNTS.items()}
    total = sum(counts.values())
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        dataset.build(Path(tmp) / "ds", counts, args.seed, args.jobs)
        build_s = time.perf_counter() - start
    n_bare = counts["synthesized"]
    start = time.perf_counter()
    for i in range(n_bare):
        rng = np.random.default_rng([args.seed, i])
        tokens, _ = synth.random_stave(rng)
        engrave(staves_to_mei(tokens, rng), EngravingSettings.sample(rng))
    bare_rate = n_bare / (time.perf_counter() - start)
    rate = total / build_s
    print(f"mix {counts} = {total} staves, jobs={args.jobs}")
    print(f"build_staves_per_s={rate:.1f} (target {TARGET:.0f}: ratio {rate / TARGET:.2f})")
    print(
        f"bare_engraving_staves_per_s={bare_rate:.1f} (1 process) build/bare={rate / bare_rate:.2f}"
    )


if __name__ == "__main__":
    main()
