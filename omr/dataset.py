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
from stave.cli import non_negative_int, positive_int, report_output_error


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
        "--clean",
        type=non_negative_int,
        default=DEFAULT_COUNTS["clean"],
        help="clean staves (%(default)s)",
    )
    b.add_argument(
        "--synth",
        type=non_negative_int,
        default=DEFAULT_COUNTS["synthesized"],
        help="synthesized staves (%(default)s)",
    )
    b.add_argument(
        "--real",
        type=non_negative_int,
        default=DEFAULT_COUNTS["real-world"],
        help="real-world staves (%(default)s)",
    )
    b.add_argument("--seed", type=non_negative_int, default=0, help="seed (%(default)s)")
    b.add_argument("--jobs", type=positive_int, default=1, help="worker processes (%(default)s)")
    b.add_argument(
        "--contact-sheet",
        action="store_true",
        help="also write contact-sheet.png (default: not written)",
    )
    b.add_argument(
        "--exclude-pieces",
        type=Path,
        action="append",
        default=[],
        help="pieces.txt of another build: use none of its pieces (for a held-out test set; "
        "may be given more than once; default: none)",
    )
    s = sub.add_parser("contact-sheet", help="write contact-sheet.png for an existing build")
    s.add_argument("out", type=Path, help="a folder built by omr.dataset build")
    args = p.parse_args(argv)
    try:
        if args.command == "contact-sheet":
            if not (args.out / "manifest.csv").is_file():
                print(f"error: {args.out}: no manifest.csv (not a built dataset)", file=sys.stderr)
                return 2
            contact_sheet(args.out)
            return 0
        counts = {"clean": args.clean, "synthesized": args.synth, "real-world": args.real}
        exclude = []
        for f in args.exclude_pieces:
            try:
                exclude += [ln.strip() for ln in f.read_text(encoding="utf-8").splitlines()]
            except (OSError, UnicodeDecodeError) as err:
                why = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
                print(f"error: {f}: cannot read ({why})", file=sys.stderr)
                return 2
        if args.out.exists() and not args.out.is_dir():
            print(f"error: cannot write {args.out}: a file is in the way", file=sys.stderr)
            return 2
        written = build(
            args.out, counts, args.seed, args.jobs, args.contact_sheet, [e for e in exclude if e]
        )
    except OSError as err:  # read-only, disk full
        return report_output_error(err)
    return 0 if sum(written.values()) == sum(counts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
