"""Peak memory of ``omr.extract`` on a long PDF of engraved music.

    python bench/pdf_memory.py [--pages 120]

A PDF of ``--pages`` A4 pages (a sample stave on each, rasterized at 300 dpi when read) is
read by ``omr.extract`` in a fresh process, whose peak resident memory is printed.  Beside
it, in the same run: the same command on a 1-page PDF (what loading Python, torch and the
recognizer costs), and the old way of reading a PDF, every page rendered and held at once
(``list(load(pdf))``).  Pages are streamed when the long PDF's peak stays near the 1-page
one whatever the page count (target: at most 1.5 times it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
from fpdf import FPDF

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "datasets" / "sample"
TARGET = 1.5

MEASURE = """
import json, resource, sys
mode, pdf, out = sys.argv[1:4]
if mode == "extract":
    from omr import extract
    status = extract.main([pdf, "-o", out, "--quiet", "--jobs", "1"])
else:  # the recognizer loaded as extract loads it, then every page rendered and kept
    from pathlib import Path
    from omr.read.load import load
    from omr.read.recognize import StaveReader
    reader = StaveReader.load()
    pages = list(load(Path(pdf)))
    status = 0 if pages else 1
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
print(json.dumps({"status": status, "peak_mb": peak}))
"""


def music_pdf(path: Path, pages: int) -> Path:
    names = sorted((SAMPLE / "clean").glob("*.png"))
    pdf = FPDF(unit="pt", format="A4")
    for i in range(pages):
        pdf.add_page()
        for j in range(4):  # four staves a page, printed at one size, as a part has them
            name = names[(4 * i + j) % len(names)]
            image = cv2.imread(str(name), cv2.IMREAD_GRAYSCALE)
            assert image is not None, name
            width = image.shape[1]
            pdf.image(str(name), x=40, y=80 + 180 * j, w=width * 0.6)
    path.write_bytes(bytes(pdf.output()))
    return path


def measure(mode: str, pdf: Path, out: Path) -> float:
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, mode, str(pdf), str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["status"] not in (0, 1):
        raise SystemExit(f"{mode} on {pdf} failed: {proc.stderr}")
    return float(result["peak_mb"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--pages", type=int, default=120, help="pages of the long PDF (%(default)s)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        one = music_pdf(tmp / "one.pdf", 1)
        many = music_pdf(tmp / "many.pdf", args.pages)
        base = measure("extract", one, tmp / "o1")
        long = measure("extract", many, tmp / "o2")
        staves = len((tmp / "o2" / "many.txt").read_text().splitlines())
        held = measure("hold", many, tmp / "o3")
    ratio = long / base
    print(f"omr.extract, 1-page PDF:             peak {base:,.0f} MB")
    print(f"omr.extract, {args.pages}-page PDF:  peak {long:,.0f} MB ({staves} staves read)")
    print(f"every page held at once (old way):   peak {held:,.0f} MB")
    print(
        f"long/1-page = {ratio:.2f} (target <= {TARGET}: "
        f"{'met' if ratio <= TARGET else 'NOT met'}); held/streamed = {held / long:.2f}"
    )


if __name__ == "__main__":
    main()
