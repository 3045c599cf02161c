"""The recognizer on engravers it was not trained on: MuseScore 3 and LilyPond.

    python bench/other_engravers.py BUILD [--count 60] [--dpi 300] [--keep DIR]

Takes the first ``--count`` clean staves of a dataset build (``python -m omr.dataset build``;
use one built with ``--exclude-pieces`` of the training build, so the pieces are unseen),
writes each truth as MusicXML (``stave.musicxml``) and has MuseScore 3 (``mscore3``, full A4
page at 300 dpi, title and all) and LilyPond (``musicxml2ly`` + ``lilypond``, 300 dpi, page
cropped to the music) engrave it.  A truth that prints no time signature goes to both with a
hidden one of its bars' length (``omr.data.engravers.engraver_score``): without one, both
bar the music in 4/4, LilyPond printing C, and split longer notes over their own bar lines
with ties, none of which is in the truth.  ``--as-is`` leaves it out, for comparison.
Each folder is scored like ``omr.evaluate``, beside the
same staves as this project's Verovio pipeline engraved them (the baseline in the same run):
symbol error rate, pitch and duration error rates, time signatures right and the share of
files with the right stave count.
``--keep DIR`` keeps the rendered images to look at the failures.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2

from omr.data.engravers import (
    EngraverMissing,
    check_installed,
    engraver_score,
    hidden_metre,
    lilypond,
    musescore,
    on_white,
)
from omr.evaluate import Case, cases, evaluate
from omr.extract import header_path
from omr.read.recognize import StaveReader
from stave.musicxml import write_score


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("build", type=Path, help="a dataset build (its clean split is used)")
    p.add_argument("--count", type=int, default=60)
    p.add_argument("--checkpoint", type=Path, help="recognizer (default: the shipped one)")
    p.add_argument(
        "--header",
        default="shipped",
        help="header reader: a file, 'shipped' or 'none' (default: %(default)s)",
    )
    p.add_argument("--dpi", type=int, default=300, help="resolution of the engravings")
    p.add_argument("--keep", type=Path, help="keep the rendered pages here")
    p.add_argument(
        "--as-is",
        action="store_true",
        help="give the engravers the truth's MusicXML without a hidden time signature",
    )
    args = p.parse_args()
    try:
        for engraver in ("musescore", "lilypond"):
            check_installed(engraver)
    except EngraverMissing as err:
        raise SystemExit(str(err)) from None
    baseline = [c for c in cases(args.build) if c.split == "clean"][: args.count]
    reader = StaveReader.load(args.checkpoint, header=header_path(args.header))
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        xml_dir = root / "musicxml"
        xml_dir.mkdir(parents=True, exist_ok=True)
        truths = {}
        hidden = 0
        for c in baseline:
            name = f"{c.image.parent.name}-{c.image.stem}"
            line = c.image.with_suffix(".txt").read_text(encoding="utf-8").strip()
            write_score(engraver_score(line, args.as_is), xml_dir / name, ("musicxml",))
            hidden += not args.as_is and hidden_metre(line) is not None
            truths[name] = c
        xmls = sorted(xml_dir.glob("*.musicxml"))
        results = {"verovio (this project)": baseline}
        for engraver, render in (("musescore3", musescore), ("lilypond", lilypond)):
            folder = root / engraver
            folder.mkdir(exist_ok=True)
            results[engraver] = []
            for xml, page in render(xmls, folder, args.dpi).items():
                png = folder / f"{xml.stem}.png"  # on white (MuseScore's page is transparent)
                image = on_white(page)
                if image is None:
                    continue
                cv2.imwrite(str(png), image)
                results[engraver].append(
                    Case(png, truths[xml.stem].truth, engraver, truths[xml.stem].piece)
                )
        print(
            f"{len(baseline)} clean staves of {args.build}; {hidden} of them engraved with a "
            "hidden time signature of their bars' length (they print none)"
        )
        print(
            f"{'engraver':<24}{'pages':>6}{'SER':>9}{'pitch SER':>11}{'duration SER':>14}"
            f"{'time right':>12}{'staves right':>14}"
        )
        base_ser = None
        for engraver, chosen in results.items():
            if not chosen:
                print(f"{engraver:<24}     0  (nothing was engraved)")
                continue
            t = evaluate(chosen, reader, jobs=2, progress=False)["all"]
            base_ser = t.ser if base_ser is None else base_ser
            print(
                f"{engraver:<24}{t.files:>6}{100 * t.ser:>8.2f}%{100 * t.pitch_ser:>10.2f}%"
                f"{100 * t.duration_ser:>13.2f}%{100 * t.time_share:>11.1f}%"
                f"{100 * t.staves_share:>13.1f}%"
                + (f"  (SER ratio to verovio {t.ser / base_ser:.2f})" if base_ser else "")
            )


if __name__ == "__main__":
    main()
