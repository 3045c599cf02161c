"""``python -m omr.evaluate``: score the recognizer on images whose truth is known.

    python -m omr.evaluate data/test
    python -m omr.evaluate ../shared/data/cpms-train --pieces omr/weights/cpms-test-pieces.txt

Each image ``NAME.png``/``.jpg``/... with a truth ``NAME.txt`` beside it (one stave-text line
per stave) is read as ``omr.extract`` reads it.  Reported per split: symbol error rate and pitch
error rate as ``stave/STAVE-FORMAT.md`` defines them (all of a file's staves joined, so a
missed or extra stave costs its symbols) and the share of files whose stave count is right.
The split of a file is the ``split`` column of ``manifest.csv`` in a folder built by
``omr.dataset``, else the folder's name.  ``--pieces`` keeps only the named pieces (the
manifest's ``source``; for photos the name before the last ``-``): held-out pieces.
The last line printed is ``ser=X pitch_ser=Y staves_right=Z`` over all files.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from omr.metrics import errors
from omr.pieces import build_piece, photo_piece
from omr.read.load import IMAGE_SUFFIXES
from omr.read.pipeline import read_files
from omr.read.recognize import StaveReader
from stave import atomic
from stave.stavetext import Token, parse_line, write_line


@dataclass
class Case:
    image: Path
    truth: list[list[Token]]
    split: str
    piece: str


@dataclass
class Tally:
    files: int = 0
    staves_right: int = 0
    symbol_edits: int = 0
    symbols: int = 0
    pitch_edits: int = 0
    pitches: int = 0

    @property
    def ser(self) -> float:
        return self.symbol_edits / max(1, self.symbols)

    @property
    def pitch_ser(self) -> float:
        return self.pitch_edits / max(1, self.pitches)

    @property
    def staves_share(self) -> float:
        return self.staves_right / max(1, self.files)


def cases(folder: Path, pieces: set[str] | None = None) -> list[Case]:
    """The images under ``folder`` that have a truth, with their split and piece."""
    manifest: dict[str, tuple[str, str]] = {}
    if (folder / "manifest.csv").exists():
        with (folder / "manifest.csv").open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                manifest[row["file"]] = (row["split"], build_piece(row))
    out = []
    for image in sorted(folder.rglob("*")):
        truth_file = image.with_suffix(".txt")
        if image.suffix.lower() not in IMAGE_SUFFIXES or not truth_file.exists():
            continue
        rel = image.relative_to(folder).as_posix()
        split, piece = manifest.get(rel, (folder.name, photo_piece(image)))
        if pieces is not None and piece not in pieces:
            continue
        text = truth_file.read_text(encoding="utf-8")
        truth = [
            parse_line(line, n, str(truth_file))
            for n, line in enumerate(text.splitlines(), 1)
            if line.strip()
        ]
        out.append(Case(image, truth, split, piece))
    return out


def evaluate(
    all_cases: Sequence[Case],
    reader: StaveReader,
    jobs: int = 1,
    beam: int = 0,
    report: Path | None = None,
    progress: bool = True,
) -> dict[str, Tally]:
    """Tallies per split and ``"all"``; ``report`` gets a CSV row per file."""
    tallies: dict[str, Tally] = {}
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(
        ["file", "split", "truth_staves", "read_staves", "symbol_edits", "symbols", "read"]
    )
    by_path = {c.image: c for c in all_cases}
    for reading in read_files([c.image for c in all_cases], reader, jobs, beam, progress):
        case = by_path[reading.source]
        read = [t for line in reading.lines for t in line]
        truth = [t for line in case.truth for t in line]
        se, sn, pe, pn = errors(read, truth)
        for key in (case.split, "all"):
            t = tallies.setdefault(key, Tally())
            t.files += 1
            t.staves_right += len(reading.lines) == len(case.truth)
            t.symbol_edits += se
            t.symbols += sn
            t.pitch_edits += pe
            t.pitches += pn
        writer.writerow(
            [
                str(case.image),
                case.split,
                len(case.truth),
                len(reading.lines),
                se,
                sn,
                reading.error or " / ".join(write_line(line) for line in reading.lines),
            ]
        )
    if report is not None:
        atomic.write_text(report, rows.getvalue())
    return tallies


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m omr.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("folders", type=Path, nargs="+", help="folders of images with NAME.txt truths")
    p.add_argument("--checkpoint", type=Path, help="recognizer weights (default: the shipped ones)")
    p.add_argument("--pieces", type=Path, help="file naming the pieces to keep, one per line")
    p.add_argument("--beam", type=int, default=0, help="CTC beam width (0: greedy decoding)")
    p.add_argument("--jobs", type=int, default=2, help="processes finding staves (%(default)s)")
    p.add_argument("--report", type=Path, help="write a CSV row per file (what was read) here")
    args = p.parse_args(argv)
    pieces = None
    if args.pieces is not None:
        pieces = {ln.strip() for ln in args.pieces.read_text(encoding="utf-8").splitlines()}
        pieces.discard("")
    found: list[Case] = []
    for folder in args.folders:
        if not folder.is_dir():
            p.error(f"{folder}: not a folder")
        found.extend(cases(folder, pieces))
    if not found:
        print("error: no images with NAME.txt truths found", file=sys.stderr)
        return 1
    try:
        reader = StaveReader.load(args.checkpoint)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    tallies = evaluate(found, reader, max(1, args.jobs), args.beam, args.report)
    print(f"{'split':<14}{'files':>7}{'SER':>9}{'pitch SER':>11}{'staves right':>14}")
    for split, t in sorted(tallies.items(), key=lambda kv: (kv[0] == "all", kv[0])):
        print(
            f"{split:<14}{t.files:>7}{100 * t.ser:>8.2f}%{100 * t.pitch_ser:>10.2f}%"
            f"{100 * t.staves_share:>13.1f}%"
        )
    a = tallies["all"]
    print(f"ser={a.ser:.4f} pitch_ser={a.pitch_ser:.4f} staves_right={a.staves_share:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
