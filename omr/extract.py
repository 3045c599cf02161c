"""``python -m omr.extract``: read sheet music into stave text and MusicXML.

    python -m omr.extract scores/ -o out/
    python -m omr.extract page.pdf photo.jpg --format pitch --jobs 2

For each input file ``NAME`` (images, and PDFs page after page; folders are searched
recursively): ``OUT/NAME.txt`` with one stave-text line per stave in reading order,
``OUT/NAME.musicxml``, and ``OUT/corpus.txt`` with every file's lines (a blank line between
files), ready for ``python -m generate.train --corpus``.  ``--preview`` adds
``OUT/NAME.preview.png`` (each page with its staves outlined and numbered, each stave read
engraved under it); ``--report`` adds ``OUT/report.csv`` (per stave: the recognizer's
confidence, bars that do not fill their time signature; five-line groups not read) and a
warning on stderr for each thing that looks wrong, naming the file and the stave.  A PDF
whose text layer is stave text (like ``ground-truth.pdf`` of ``omr.dataset``) is read as
text, not recognized.

A file that cannot be read (damaged, empty, encrypted, too large, no staff on it, no regular
file) is reported on stderr and the others are still written; the exit status is 1 when any
file failed.  Outputs never collide: inputs that would share a name (``a/x.png`` and
``b/x.png``, ``x.png`` and ``x.PNG``, an input called ``corpus``) are renamed, with a note
saying so.  Every output is written atomically; an output folder that cannot be written (a
file in the way, read-only, disk full) stops the run with one line saying where and why.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from omr.read.pipeline import extract
from omr.read.recognize import HEADER_WEIGHTS, StaveReader
from stave.cli import non_negative_int, positive_int, report_output_error
from stave.devices import DEVICE_HELP
from stave.devices import resolve as resolve_device


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m omr.extract",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", type=Path, nargs="+", help="image and PDF files, or folders of them")
    p.add_argument(
        "-o", "--out", type=Path, default=Path("extracted"), help="output folder (%(default)s)"
    )
    p.add_argument(
        "--format",
        choices=("full", "pitch"),
        default="full",
        help="full stave text, or the original pitch-only labelling (%(default)s)",
    )
    p.add_argument(
        "--jobs",
        type=positive_int,
        default=min(4, os.cpu_count() or 1),
        help="processes finding and reading staves, and writing MusicXML (%(default)s: this "
        "machine's cores, at most 4)",
    )
    p.add_argument(
        "--preview",
        action="store_true",
        help="also OUT/NAME.preview.png: the page with every stave found outlined and "
        "numbered, each stave read engraved under it (default: none)",
    )
    p.add_argument(
        "--report",
        action="store_true",
        help="also OUT/report.csv: each stave's confidence and what looks wrong (bars that "
        "do not fill the time signature, five lines not read), warned of on stderr "
        "(default: none)",
    )
    add_reader_arguments(p)
    return p


def add_reader_arguments(p: argparse.ArgumentParser) -> None:
    """The recognizer's options, shared with ``omr.evaluate``."""
    p.add_argument(
        "--threads",
        type=positive_int,
        help="torch threads of the recognizer (default: torch's choice, one per core)",
    )
    p.add_argument(
        "--beam",
        type=non_negative_int,
        default=0,
        help="CTC beam width (%(default)s: greedy decoding)",
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        help="recognizer weights (default: the shipped omr/weights/recognizer.pt)",
    )
    p.add_argument(
        "--header",
        default="shipped",
        help="header reader weights, which read each stave's time signature where it is "
        "printed: a file, 'shipped' (omr/weights/header.pt) or 'none' to keep the "
        "recognizer's own reading (default: %(default)s)",
    )
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bar (default: shown)")


def header_path(text: str) -> Path | None:
    """``--header``: 'shipped' (the shipped header reader), 'none' (None) or a path."""
    return {"shipped": HEADER_WEIGHTS, "none": None}.get(text, Path(text))


def load_reader(args: argparse.Namespace) -> StaveReader | None:
    """The recognizer ``add_reader_arguments``' options ask for (torch's threads set), or
    None after saying on stderr why it cannot be loaded."""
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return StaveReader.load(
            args.checkpoint, resolve_device(args.device), header_path(args.header)
        )
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    reader = load_reader(args)
    if reader is None:
        return 2
    try:
        summary = extract(
            args.inputs,
            args.out,
            reader,
            args.format,
            args.jobs,
            args.beam,
            not args.quiet,
            args.preview,
            args.report,
        )
    except OSError as err:  # the output folder: a file in the way, read-only, disk full
        return report_output_error(err)
    except KeyboardInterrupt:
        print(
            f"interrupted: the files written in {args.out} are whole; corpus.txt is not written",
            file=sys.stderr,
        )
        return 130
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
