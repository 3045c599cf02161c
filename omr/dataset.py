"""``python -m omr.dataset build OUT``: clean, synthesized and real-world staves with truth.

    OUT/clean/00000.png + 00000.txt      engraved fragments of real melodies
    OUT/synthesized/...                  random content engraved
    OUT/real-world/...                   clean and synthesized staves made to look photographed
    OUT/manifest.csv                     file, split, source piece, engraving settings
    OUT/pieces.txt                       the corpus pieces used (hold them out as wholes)
    OUT/ground-truth.pdf                 every truth, one per text line, in manifest order
    OUT/contact-sheet.png                with --contact-sheet

Each ``.txt`` holds exactly one stave-text line.  Every item is drawn from its own generator
seeded by (seed, split, index), so a seed gives the same bytes whatever ``--jobs`` is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from omr.data.build import DEFAULT_COUNTS, build, contact_sheet


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m omr.dataset",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build a dataset")
    b.add_argument("out", type=Path, help="output folder")
    b.add_argument(
        "--clean", type=int, default=DEFAULT_COUNTS["clean"], help="clean staves (%(default)s)"
    )
    b.add_argument(
        "--synth",
        type=int,
        default=DEFAULT_COUNTS["synthesized"],
        help="synthesized staves (%(default)s)",
    )
    b.add_argument(
        "--real",
        type=int,
        default=DEFAULT_COUNTS["real-world"],
        help="real-world staves (%(default)s)",
    )
    b.add_argument("--seed", type=int, default=0, help="seed (%(default)s)")
    b.add_argument("--jobs", type=int, default=1, help="worker processes (%(default)s)")
    b.add_argument("--contact-sheet", action="store_true", help="also write contact-sheet.png")
    b.add_argument(
        "--exclude-pieces",
        type=Path,
        action="append",
        default=[],
        help="pieces.txt of another build: use none of its pieces (for a held-out test set)",
    )
    s = sub.add_parser("contact-sheet", help="write contact-sheet.png for an existing build")
    s.add_argument("out", type=Path)
    args = p.parse_args(argv)
    if args.command == "contact-sheet":
        contact_sheet(args.out)
        return 0
    counts = {"clean": args.clean, "synthesized": args.synth, "real-world": args.real}
    if min(counts.values()) < 0:
        p.error("counts must not be negative")
    exclude = [
        line.strip()
        for f in args.exclude_pieces
        for line in f.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    written = build(args.out, counts, args.seed, max(1, args.jobs), args.contact_sheet, exclude)
    return 0 if sum(written.values()) == sum(counts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
