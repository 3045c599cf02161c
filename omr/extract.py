"""``python -m omr.extract``: read sheet music into stave text and MusicXML.

    python -m omr.extract scores/ -o out/
    python -m omr.extract page.pdf photo.jpg --format pitch --jobs 2

For each input file ``NAME`` (images, and PDFs page after page; folders are searched
recursively): ``OUT/NAME.txt`` with one stave-text line per stave in reading order,
``OUT/NAME.musicxml``, and ``OUT/corpus.txt`` with every file's lines (a blank line between
files), ready for ``python -m generate.train --data``.  A PDF whose text layer is stave text
(like ``ground-truth.pdf`` of ``omr.dataset``) is read as text, not recognized.

A file that cannot be read (damaged, empty, encrypted, too large, no staff on it) is reported
on stderr and the others are still written; the exit status is 1 when any file failed.
Every output is written atomically.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from omr.read.pipeline import extract
from omr.read.recognize import StaveReader


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m omr.extract",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", type=Path, nargs="+", help="image and PDF files, or folders of them")
    p.add_argument("-o", "--out", type=Path, default=Path("extracted"), help="output folder")
    p.add_argument(
        "--format",
        choices=("full", "pitch"),
        default="full",
        help="full stave text, or the original pitch-only labelling (%(default)s)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="processes finding staves (%(default)s)",
    )
    p.add_argument("--beam", type=int, default=0, help="CTC beam width (0: greedy decoding)")
    p.add_argument("--checkpoint", type=Path, help="recognizer weights (default: the shipped ones)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    try:
        reader = StaveReader.load(args.checkpoint)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    summary = extract(
        args.inputs, args.out, reader, args.format, max(1, args.jobs), args.beam, not args.quiet
    )
    if summary.files == 0:
        print("error: no images or PDFs among the inputs", file=sys.stderr)
        return 1
    print(
        f"{summary.files - summary.failed}/{summary.files} files read, {summary.staves} staves "
        f"in {summary.seconds:.1f}s; wrote {args.out}/corpus.txt",
    )
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
