"""``python -m omr.dataset build OUT``: clean, synthesized and real-world staves with truth.

    OUT/clean/00000.png + 00000.txt      engraved fragments of real melodies
    OUT/synthesized/...                  random content engraved
    OUT/real-world/...                   clean and synthesized staves made to look photographed
    OUT/manifest.csv                     file, split, source piece, engraving settings
    OUT/pieces.txt                       the corpus pieces used (hold them out as wholes)
    OUT/ground-truth.pdf                 every truth, one per text line, in manifest order
    OUT/contact-sheet.png                with --contact-sheet

``reengrave SRC OUT --engraver musescore|lilypond`` engraves a build's staves again with
another engraver (MuseScore 3, LilyPond), at 100 to 300 dpi, titles and all, into a build of
its own with the same names, pieces and truths (``omr.data.engravers``).

Each ``.txt`` holds exactly one stave-text line.  Every item is drawn from its own generator
seeded by (seed, split, index), so a seed gives the same bytes whatever ``--jobs`` is, and
whatever the machines: ``build OUT_K --shard K/N`` on machine K of N (the same seed and
counts) builds every N-th stave, and ``merge OUT OUT_1 ... OUT_N`` gives the files, manifest
and truths one build gives.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from omr.data.build import (
    DEFAULT_COUNTS,
    SPLITS,
    MergeError,
    Shard,
    Variety,
    build,
    contact_sheet,
    merge,
)
from omr.data.engravers import ENGRAVERS, EngraverMissing, reengrave
from stave.cli import non_negative_int, positive_int, probability, report_output_error


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
    b.add_argument(
        "--metre-changes",
        type=probability,
        default=0.0,
        metavar="P",
        help="chance that a bar of a random stave (synthesized, and real-world from random "
        "content) starts in a new metre, its time signature printed there (default: "
        "%(default)s, as builds before the option)",
    )
    b.add_argument(
        "--common-time",
        type=probability,
        default=0.0,
        metavar="P",
        help="chance that a 4/4 or 2/2 is printed as its sign, C or cut C (its truth stays "
        "time:4/4, time:2/2; default: %(default)s, as builds before the option)",
    )
    b.add_argument(
        "--shard",
        type=_shard,
        default=Shard(),
        metavar="K/N",
        help="build part K of N (machine K of N; default: the whole build): the same seed "
        "and counts on N machines, then 'merge', give the dataset one build gives",
    )
    m = sub.add_parser("merge", help="put the N shard folders of a build together")
    m.add_argument("out", type=Path, help="output folder")
    m.add_argument("shards", type=Path, nargs="+", help="the folders of shards 1/N ... N/N")
    m.add_argument(
        "--contact-sheet",
        action="store_true",
        help="also write contact-sheet.png (default: not written)",
    )
    r = sub.add_parser(
        "reengrave",
        help="the staves of a build engraved by MuseScore 3 or LilyPond, as a build of its own",
    )
    r.add_argument("source", type=Path, help="a folder built by omr.dataset build")
    r.add_argument("out", type=Path, help="output folder")
    r.add_argument(
        "--engraver", choices=sorted(ENGRAVERS), required=True, help="the engraver to use"
    )
    r.add_argument(
        "--count", type=positive_int, help="staves to engrave, chosen at random (default: all)"
    )
    r.add_argument(
        "--splits",
        nargs="+",
        choices=SPLITS,
        default=list(SPLITS),
        help="the source's splits to take (default: all)",
    )
    r.add_argument("--seed", type=non_negative_int, default=0, help="seed (%(default)s)")
    r.add_argument(
        "--jobs", type=positive_int, default=1, help="engraver runs at once (%(default)s)"
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
        if args.command == "reengrave":
            return _reengrave(args)
        if args.command == "merge":
            try:
                merge(args.out, args.shards, args.contact_sheet)
            except MergeError as err:
                print(f"error: {err}", file=sys.stderr)
                return 2
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
            args.out,
            counts,
            args.seed,
            args.jobs,
            args.contact_sheet,
            [e for e in exclude if e],
            args.shard,
            Variety(args.metre_changes, args.common_time),
        )
    except OSError as err:  # read-only, disk full
        return report_output_error(err)
    planned = len(range(args.shard.index - 1, sum(counts.values()), args.shard.count))
    return 0 if sum(written.values()) == planned else 1


def _reengrave(args: argparse.Namespace) -> int:
    if not (args.source / "manifest.csv").is_file():
        print(f"error: {args.source}: no manifest.csv (not a built dataset)", file=sys.stderr)
        return 2
    try:
        written, _, failed = reengrave(
            args.source, args.out, args.engraver, args.count, args.splits, args.seed, args.jobs
        )
    except (EngraverMissing, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    # a stave drawn over two systems is left out by design; a failure is an error
    return 1 if failed or not written else 0


def _shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


if __name__ == "__main__":
    sys.exit(main())
