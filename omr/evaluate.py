"""``python -m omr.evaluate``: score the recognizer on images whose truth is known.

    python -m omr.evaluate data/test
    python -m omr.evaluate ../shared/data/cpms-train --pieces omr/weights/cpms-test-pieces.txt

Each image ``NAME.png``/``.jpg``/... with a truth ``NAME.txt`` beside it (one stave-text line
per stave; with the printed sharps and flats of a ``NAME.semantic`` beside it, as the CPMS
photos have: ``omr.data.semantic``) is read as ``omr.extract`` reads it (the header
reader's time signatures in the recognizer's reading; ``--header none`` scores the
recognizer's own).  Reported per split
(``omr.metrics``), in percent:

- ``SER`` and ``pitch``: symbol and pitch error rates as ``stave/STAVE-FORMAT.md`` defines
  them (all of a file's staves joined, so a missed or extra stave costs its symbols);
- ``duration``: the error rate of the durations of notes and rests alone (what beams, flags,
  stems and dots say);
- ``sounding``: the error rate of the MIDI pitches a player hears (clef, key signature and
  printed accidentals held to the bar line, as MuseScore plays the MusicXML);
- ``tokens``: the full-token error rate (every token, headers and bar lines too, but printed
  accidentals); ``bars``: bar lines wrong (one is right where it follows as many notes and
  rests as in the truth), over the truth's;
- per stave: ``key`` and ``time`` signatures right (time: of the staves where the truth or
  the reading prints one), ``exact``: read entirely right, every token and accidental;
- ``count``: the files whose number of staves read is right.
The split of a file is the ``split`` column of ``manifest.csv`` in a folder built by
``omr.dataset``, else the folder's name.  ``--pieces`` keeps only the named pieces (the
manifest's ``source``; for photos the name before the last ``-``): held-out pieces.
The last line printed is ``ser=X pitch_ser=Y staves_right=Z duration_ser=... sounding_ser=...
token_ser=... bar_ser=... key=... time=... exact=...`` over all files (fractions).

A truth that is no stave text (malformed, not UTF-8, empty) or an image that cannot be read
is reported on stderr and left out of the figures, which say how many were; the exit
status is then 1.  An image read with no staff found on it is scored (every truth symbol an
error).  ``--report`` is checked before the evaluation starts, and the figures are printed
before it is written.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from omr.data.truth import TruthError, read_truth
from omr.extract import add_reader_arguments, load_reader
from omr.metrics import Counts, score
from omr.pieces import build_piece, photo_piece
from omr.read.load import IMAGE_SUFFIXES
from omr.read.pipeline import read_files
from omr.read.recognize import StaveReader
from stave import atomic
from stave.cli import output_error, positive_int, report_output_error
from stave.stavetext import Token, write_line
from stave.training import check_output_folder


@dataclass
class Case:
    image: Path
    truth: list[list[Token]]
    split: str
    piece: str


@dataclass
class Tally:
    files: int = 0
    staves_right: int = 0  # files whose number of staves read is right
    counts: Counts = field(default_factory=Counts)

    @property
    def ser(self) -> float:
        return self.counts.rate("symbol_edits", "symbols")

    @property
    def pitch_ser(self) -> float:
        return self.counts.rate("pitch_edits", "pitches")

    @property
    def duration_ser(self) -> float:
        return self.counts.rate("duration_edits", "durations")

    @property
    def sounding_ser(self) -> float:
        return self.counts.rate("sounding_edits", "sounding")

    @property
    def token_ser(self) -> float:
        return self.counts.rate("token_edits", "tokens")

    @property
    def bar_ser(self) -> float:
        return self.counts.rate("bar_edits", "bars")

    @property
    def key_share(self) -> float:
        return self.counts.rate("keys_right", "keys")

    @property
    def time_share(self) -> float:
        """Of the staves where the truth or the reading prints a time signature (1 where
        none does)."""
        return self.counts.rate("times_right", "times") if self.counts.times else 1.0

    @property
    def exact_share(self) -> float:
        return self.counts.rate("staves_exact", "staves")

    @property
    def staves_share(self) -> float:
        return self.staves_right / max(1, self.files)


class CaseError(ValueError):
    """A truth, manifest or pieces file that cannot be used; the message names it."""


def read_manifest(folder: Path) -> dict[str, tuple[str, str]]:
    """``file -> (split, piece)`` from ``folder/manifest.csv`` (none: an empty dict)."""
    path = folder / "manifest.csv"
    if not path.exists():
        return {}
    manifest: dict[str, tuple[str, str]] = {}
    try:
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            missing = {"file", "split", "source"} - set(reader.fieldnames or ())
            if missing:
                raise CaseError(
                    f"{path}: not an omr.dataset manifest (no column {', '.join(sorted(missing))})"
                )
            for n, row in enumerate(reader, 2):
                if None in row.values() or not row["file"] or not row["split"]:
                    raise CaseError(f"{path}: line {n} is incomplete")
                manifest[row["file"]] = (row["split"], build_piece(row))
    except UnicodeDecodeError:
        raise CaseError(f"{path}: not UTF-8 text") from None
    except csv.Error as err:
        raise CaseError(f"{path}: not a readable CSV file ({err})") from None
    except OSError as err:
        raise CaseError(f"{path}: cannot read ({err.strerror or err})") from None
    return manifest


def read_pieces(path: Path) -> set[str]:
    """The piece names of a ``--pieces`` file, one per line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CaseError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise CaseError(f"{path}: not UTF-8 text") from None
    except OSError as err:
        raise CaseError(f"{path}: cannot read ({err.strerror or err})") from None
    pieces = {ln.strip() for ln in text.splitlines()} - {""}
    if not pieces:
        raise CaseError(f"{path}: names no piece")
    return pieces


def cases(
    folder: Path, pieces: set[str] | None = None, problems: list[str] | None = None
) -> list[Case]:
    """The images under ``folder`` that have a truth, with their split and piece.  A truth
    that cannot be used is left out, with why in ``problems`` (raised when it is None);
    a bad manifest raises ``CaseError``."""
    manifest = read_manifest(folder)
    out = []
    for image in sorted(folder.rglob("*")):
        truth_file = image.with_suffix(".txt")
        if image.suffix.lower() not in IMAGE_SUFFIXES or not truth_file.exists():
            continue
        rel = image.relative_to(folder).as_posix()
        split, piece = manifest.get(rel, (folder.name, photo_piece(image)))
        if pieces is not None and piece not in pieces:
            continue
        try:
            truth = read_truth(truth_file)
        except TruthError as err:
            if problems is None:
                raise CaseError(str(err)) from None
            problems.append(str(err))
            continue
        out.append(Case(image, truth, split, piece))
    return out


def evaluate(
    all_cases: Sequence[Case],
    reader: StaveReader,
    jobs: int = 1,
    beam: int = 0,
    rows: list[list[object]] | None = None,
    progress: bool = True,
    unreadable: list[str] | None = None,
) -> dict[str, Tally]:
    """Tallies per split and ``"all"``; ``rows`` gets a row per file (``write_report``).
    Images that cannot be read are left out and listed in ``unreadable``; an image read with
    no staff found on it counts every truth symbol as an error."""
    unreadable = [] if unreadable is None else unreadable
    rows = [] if rows is None else rows
    tallies: dict[str, Tally] = {}
    by_path = {c.image: c for c in all_cases}
    for reading in read_files([c.image for c in all_cases], reader, jobs, beam, progress):
        case = by_path[reading.source]
        if reading.error is not None and not reading.missed:
            # A file that cannot be read is no measure of the recognizer: left out, reported.
            unreadable.append(reading.error)
            tqdm.write(f"failed: {reading.error} (left out of the figures)", file=sys.stderr)
            continue
        counts = score(reading.lines, case.truth)
        for key in (case.split, "all"):
            t = tallies.setdefault(key, Tally())
            t.files += 1
            t.staves_right += len(reading.lines) == len(case.truth)
            t.counts = t.counts + counts
        rows.append(
            [
                str(case.image),
                case.split,
                len(case.truth),
                len(reading.lines),
                counts.symbol_edits,
                counts.symbols,
                counts.sounding_edits,
                counts.token_edits,
                counts.staves_exact,
                reading.error or " / ".join(write_line(line) for line in reading.lines),
            ]
        )
    return tallies


REPORT_COLUMNS = [
    "file", "split", "truth_staves", "read_staves", "symbol_edits", "symbols",
    "sounding_edits", "token_edits", "staves_exact", "read",
]  # fmt: skip


def write_report(path: Path, rows: Sequence[Sequence[object]]) -> None:
    """The rows of ``evaluate`` as CSV, atomically."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    writer.writerows(rows)
    atomic.write_text(path, text.getvalue())


COLUMNS = (
    ("SER", "ser"), ("pitch", "pitch_ser"), ("duration", "duration_ser"),
    ("sounding", "sounding_ser"),
    ("tokens", "token_ser"), ("bars", "bar_ser"), ("key", "key_share"),
    ("time", "time_share"), ("exact", "exact_share"), ("count", "staves_share"),
)  # fmt: skip


def table(tallies: dict[str, Tally]) -> str:
    """The figures per split, ``all`` last: error rates and shares in percent."""
    lines = [f"{'split':<14}{'files':>6}" + "".join(f"{h:>10}" for h, _ in COLUMNS)]
    for split, t in sorted(tallies.items(), key=lambda kv: (kv[0] == "all", kv[0])):
        cells = "".join(f"{100 * getattr(t, attr):>9.2f}%" for _, attr in COLUMNS)
        lines.append(f"{split:<14}{t.files:>6}{cells}")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m omr.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("folders", type=Path, nargs="+", help="folders of images with NAME.txt truths")
    p.add_argument(
        "--pieces",
        type=Path,
        help="file naming the pieces to keep, one per line (default: every piece)",
    )
    p.add_argument(
        "--jobs",
        type=positive_int,
        default=2,
        help="processes finding and reading staves (%(default)s)",
    )
    p.add_argument(
        "--report",
        type=Path,
        help="write a CSV row per file (what was read) here (default: none written)",
    )
    add_reader_arguments(p)
    return p


def _report_problem(report: Path) -> str | None:
    """Why ``report`` cannot be written, found before a long evaluation (or None): its
    folder is made and a file tried there."""
    if report.is_dir():
        return f"{report}: is a folder"
    try:
        check_output_folder(report.parent)
    except OSError as err:
        return f"{output_error(err)} (for {report})"
    return None


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.report is not None and (problem := _report_problem(args.report)):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    problems: list[str] = []
    found: list[Case] = []
    try:
        pieces = None if args.pieces is None else read_pieces(args.pieces)
        for folder in args.folders:
            if not folder.is_dir():
                raise CaseError(f"{folder}: not a folder")
            found.extend(cases(folder, pieces, problems))
    except CaseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"failed: {problem} (left out)", file=sys.stderr)
    if not found:
        print("error: no images with usable NAME.txt truths found", file=sys.stderr)
        return 1
    reader = load_reader(args)
    if reader is None:
        return 2
    unreadable: list[str] = []
    rows: list[list[object]] = []
    tallies = evaluate(found, reader, args.jobs, args.beam, rows, not args.quiet, unreadable)
    if not tallies:
        print("error: none of the images could be read", file=sys.stderr)
        return 1
    print(table(tallies))
    left_out = len(problems) + len(unreadable)
    if left_out:
        print(f"{left_out} files left out: their truth or image could not be read (see above)")
    a = tallies["all"]
    print(
        f"ser={a.ser:.4f} pitch_ser={a.pitch_ser:.4f} staves_right={a.staves_share:.4f} "
        f"duration_ser={a.duration_ser:.4f} sounding_ser={a.sounding_ser:.4f} "
        f"token_ser={a.token_ser:.4f} bar_ser={a.bar_ser:.4f} key={a.key_share:.4f} "
        f"time={a.time_share:.4f} exact={a.exact_share:.4f}"
    )
    if args.report is not None:
        try:
            write_report(args.report, rows)
        except OSError as err:
            return report_output_error(err)
    return 1 if left_out else 0


if __name__ == "__main__":
    sys.exit(main())
