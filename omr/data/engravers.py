"""Engravers other than Verovio: MuseScore 3 and LilyPond (Debian packages ``musescore3`` and
``lilypond``), to train and to measure on engravings the builder's own Verovio does not make.

``reengrave`` (``python -m omr.dataset reengrave SRC OUT --engraver musescore``) takes the
staves of a build, writes each truth as MusicXML (``stave.musicxml``), has the engraver draw
it on a page at a resolution drawn from ``DPIS`` (its title and all), trims the page to what
is printed and, for the real-world split, makes it look photographed (``omr.data.degrade``).
A truth that prints no time signature is given a hidden one as long as its bars
(``engraver_score``): without one, MuseScore and LilyPond bar the music in 4/4, LilyPond
printing C, and split longer notes over their own bar lines with ties, none of which is in
the truth.  The result is a build of its own with the source's file names, splits, pieces
and truths (closed by a bar line where MuseScore draws one: ``drawn_truth``), so
``omr.train --data SRC OUT`` holds out the same pieces of both.  A page whose stave the
engraver broke over two systems, or that shows no staff, is left out and counted.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from music21 import meter, stream

from omr.data.build import MANIFEST_COLUMNS, SPLITS, ground_truth_pdf, imap
from omr.data.degrade import DegradeParams, degrade
from omr.read.assemble import bar_lengths, without_pickup
from omr.read.staff import find_staves
from stave import atomic
from stave.musicxml import line_to_score, mark_short_bars, write_score
from stave.stavetext import Note, Rest, Time, parse_line

ENGRAVERS = {"musescore": ("mscore3",), "lilypond": ("musicxml2ly", "lilypond")}
PACKAGES = {"mscore3": "musescore3", "musicxml2ly": "lilypond", "lilypond": "lilypond"}
DPIS = (100, 150, 200, 250, 300)
CHUNK = 40  # staves per engraver run (MuseScore starts in about a second)


class EngraverMissing(RuntimeError):
    """The engraver's programs are not installed; the message names the Debian package."""


def check_installed(engraver: str) -> None:
    missing = [t for t in ENGRAVERS[engraver] if not shutil.which(t)]
    if missing:
        packages = sorted({PACKAGES[t] for t in missing})
        raise EngraverMissing(
            f"{engraver}: {', '.join(missing)} not found (Debian: apt-get install "
            f"{' '.join(packages)})"
        )


def musescore(xmls: Sequence[Path], out: Path, dpi: int = 300) -> dict[Path, Path]:
    """Every MusicXML engraved by one MuseScore 3 run (a conversion job): each score's first
    page as a PNG in ``out``, by score."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(out))
    job = [{"in": str(x), "out": str(out / f"{x.stem}.png")} for x in xmls]
    (out / "job.json").write_text(json.dumps(job))
    subprocess.run(
        ["mscore3", "-r", str(dpi), "-j", str(out / "job.json")],
        env=env,
        capture_output=True,
        timeout=60 + 10 * len(xmls),
        check=False,
    )
    made = {}
    for x in xmls:
        page = out / f"{x.stem}-1.png"  # MuseScore numbers the pages it writes
        if page.exists():
            made[x] = page
    return made


def lilypond(xmls: Sequence[Path], out: Path, dpi: int = 300) -> dict[Path, Path]:
    """Every MusicXML through ``musicxml2ly`` and ``lilypond`` (the page cropped to the
    music), by score."""
    made = {}
    out = out.resolve()  # lilypond runs in ``out``: every path it is given must be absolute
    for x in xmls:
        ly = out / f"{x.stem}.ly"
        subprocess.run(
            ["musicxml2ly", "--no-beaming", "-o", str(ly), str(x.resolve())],
            capture_output=True,
            timeout=60,
            check=False,
        )
        if not ly.exists():
            continue
        subprocess.run(
            [
                "lilypond",
                "--png",
                f"-dresolution={dpi}",
                "-dcrop",
                "-o",
                str(out / x.stem),
                str(ly),
            ],
            capture_output=True,
            timeout=120,
            check=False,
            cwd=out,
        )
        for candidate in (out / f"{x.stem}.cropped.png", out / f"{x.stem}.png"):
            if candidate.exists():
                made[x] = candidate
                break
    return made


RUNNERS = {"musescore": musescore, "lilypond": lilypond}


def on_white(path: Path) -> np.ndarray | None:
    """An engraver's PNG (grey, colour, or with a transparent page) as grey ink on white."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        return None
    if image.ndim == 2:
        return np.asarray(image, np.uint8)
    gray = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_BGR2GRAY)
    if image.shape[2] == 4:  # ink over paper: grey * alpha + white * (1 - alpha), in integers
        alpha = image[..., 3].astype(np.uint16)
        gray = (255 - ((255 - gray.astype(np.uint16)) * alpha + 127) // 255).astype(np.uint8)
    return gray


def trim(gray: np.ndarray, margin: int) -> np.ndarray | None:
    """The page cut to what is printed on it, ``margin`` pixels of paper around; None for
    a blank page."""
    ys, xs = np.nonzero(gray < 160)
    if ys.size == 0:
        return None
    h, w = gray.shape
    top, bottom = max(0, ys.min() - margin), min(h, ys.max() + 1 + margin)
    left, right = max(0, xs.min() - margin), min(w, xs.max() + 1 + margin)
    return gray[top:bottom, left:right]


@dataclass(frozen=True)
class Stave:
    """One stave of the source build: its file (``split/NNNNN.png``), split, source, truth."""

    file: str
    split: str
    source: str
    truth: str


@dataclass(frozen=True)
class Chunk:
    engraver: str
    dpi: int
    seed: int
    staves: tuple[Stave, ...]


def drawn_truth(engraver: str, truth: str) -> str:
    """The truth of what ``engraver`` draws of the stave ``truth``: MuseScore closes the
    last bar with a bar line whether the stave text has one or not."""
    if engraver == "musescore" and not truth.rstrip().endswith("|"):
        return f"{truth.rstrip()} |"
    return truth


def _rng(seed: int, stave: Stave) -> np.random.Generator:
    return np.random.default_rng([seed, *stave.file.encode()])


@dataclass(frozen=True)
class Result:
    """A stave engraved (``png``), left out because the engraver did not draw it as one stave
    (``left_out``), or failed (``failed``), with a line saying why."""

    stave: Stave
    png: bytes | None = None
    settings: dict[str, object] = field(default_factory=dict)
    left_out: str = ""
    failed: str = ""


def hidden_metre(line: str) -> meter.TimeSignature | None:
    """For a truth that prints no time signature at its start, a hidden one as long as most
    of its bars before any printed later (``bar_lengths``; the first left out where it is
    shorter than the longest, a pickup, as ``fit_time`` does); None where the truth prints
    one before its music or has no whole bar before one."""
    tokens = parse_line(line)
    at = next((i for i, t in enumerate(tokens) if isinstance(t, Time)), len(tokens))
    if at < len(tokens) and not any(isinstance(t, Note | Rest) for t in tokens[:at]):
        return None  # printed before the music: the engravers get it
    lengths = without_pickup(bar_lengths(tokens[:at]))
    if not lengths:
        return None
    quarters = Counter(lengths).most_common(1)[0][0]
    for unit in (4, 8, 16, 32, 64, 128, 256):
        count = quarters * unit / 4
        if abs(count - round(count)) < 1e-9 and round(count) > 0:
            metre = meter.TimeSignature(f"{round(count)}/{unit}")
            metre.style.hideObjectOnPrint = True  # MusicXML print-object="no"
            return metre
    return None


def engraver_score(line: str, as_is: bool = False) -> stream.Score:
    """A truth line as the score an engraver is given: with its ``hidden_metre`` where it
    prints no time signature, so the engraver bars it as the truth does (``as_is``: the
    plain ``line_to_score``)."""
    score = line_to_score(line)
    metre = None if as_is else hidden_metre(line)
    part = score.parts.first()
    first = None if part is None else part.getElementsByClass(stream.Measure).first()
    if metre is not None and part is not None and first is not None:
        first.insert(0, metre)
        mark_short_bars(part)
    return score


def engrave_chunk(chunk: Chunk) -> list[Result]:
    """Each stave of the chunk engraved, or why not.  Staves the engraver's run drew no page
    for (it stopped or timed out midway) are engraved again one at a time; whatever fails
    fails for its own stave only."""
    out: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="stavegen-engrave-") as tmp:
        folder = Path(tmp)
        xmls: dict[Path, Stave] = {}
        for k, stave in enumerate(chunk.staves):
            try:
                score = engraver_score(stave.truth)
                (xml,) = write_score(score, folder / f"s{k:04d}", ("musicxml",), whole_bars=True)
            except Exception as err:  # music21 fails in many ways; report the stave, go on
                out.append(Result(stave, failed=f"no MusicXML ({type(err).__name__}: {err})"))
                continue
            xmls[xml] = stave
        pages = _run(chunk.engraver, list(xmls), folder, chunk.dpi)
        if len(xmls) > 1:
            for xml in [x for x in xmls if x not in pages]:
                pages.update(_run(chunk.engraver, [xml], folder, chunk.dpi))
        for xml, stave in xmls.items():
            if xml not in pages:
                out.append(Result(stave, failed=f"{chunk.engraver} drew no page"))
                continue
            try:
                out.append(_finish(chunk, stave, pages[xml]))
            except Exception as err:  # OpenCV and the degradation: report the stave, go on
                out.append(Result(stave, failed=f"{type(err).__name__}: {err}"))
    return out


def _run(engraver: str, xmls: list[Path], folder: Path, dpi: int) -> dict[Path, Path]:
    try:
        return RUNNERS[engraver](xmls, folder, dpi)
    except (OSError, subprocess.SubprocessError):  # timed out, or could not start
        return {}


def _finish(chunk: Chunk, stave: Stave, png: Path) -> Result:
    """The engraver's page trimmed, checked to hold one stave, and for the real-world split
    photographed."""
    rng = _rng(chunk.seed, stave)
    gray = on_white(png)
    page = None if gray is None else trim(gray, int(rng.uniform(0.05, 0.3) * chunk.dpi))
    if page is None:
        return Result(stave, failed=f"{chunk.engraver}'s page is unreadable or blank")
    found = len(find_staves(page))
    if found != 1:
        return Result(stave, left_out=f"{chunk.engraver} drew {found} staves, not one")
    settings: dict[str, object] = {"engraver": chunk.engraver, "dpi": chunk.dpi}
    image = page
    if stave.split == "real-world":
        params = dataclasses.replace(
            DegradeParams.sample(rng), neighbour_top=0.0, neighbour_bottom=0.0, bleed=0.0
        )
        image, params = degrade(page, rng, params)
        settings["degradation"] = params.as_dict()
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        return Result(stave, failed="PNG encoding failed")
    drawn = dataclasses.replace(stave, truth=drawn_truth(chunk.engraver, stave.truth))
    return Result(drawn, buf.tobytes(), settings)


def read_build(source: Path) -> list[Stave]:
    """The staves of a build, as its manifest lists them, with their truths."""
    with (source / "manifest.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        Stave(
            r["file"],
            r["split"],
            r["source"],
            (source / r["file"]).with_suffix(".txt").read_text(encoding="utf-8").strip(),
        )
        for r in rows
    ]


def reengrave(
    source: Path,
    out: Path,
    engraver: str,
    count: int | None = None,
    splits: Sequence[str] = SPLITS,
    seed: int = 0,
    jobs: int = 1,
) -> tuple[int, int, int]:
    """``count`` staves of the build ``source`` (of ``splits``, chosen by ``seed``; all when
    None) engraved by ``engraver`` into the build ``out``; returns how many were written, left
    out (not drawn as one stave) and failed.  ``ValueError`` when ``out`` is ``source`` or
    holds a build already."""
    check_installed(engraver)
    if out.resolve() == source.resolve():
        raise ValueError(f"{out}: is the source build; engrave into another folder")
    if (out / "manifest.csv").exists():
        raise ValueError(f"{out}: holds a build already; engrave into another folder")
    staves = [s for s in read_build(source) if s.split in splits]
    rng = np.random.default_rng([seed, 7])
    order = rng.permutation(len(staves))[: len(staves) if count is None else count]
    chosen = sorted((staves[i] for i in order), key=lambda s: s.file)
    chunks = [
        Chunk(engraver, int(rng.choice(DPIS)), seed, tuple(chosen[i : i + CHUNK]))
        for i in range(0, len(chosen), CHUNK)
    ]
    for split in splits:
        (out / split).mkdir(parents=True, exist_ok=True)
    manifest = io.StringIO()
    writer = csv.writer(manifest, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    written: list[Stave] = []
    left_out, failed = 0, 0
    desc = f"engraving with {engraver} ({len(chosen)} staves, chunks of {CHUNK})"
    for results in imap(engrave_chunk, chunks, jobs, desc):
        for r in results:
            if r.png is None:
                left_out += bool(r.left_out)
                failed += bool(r.failed)
                print(f"{r.stave.file}: {r.left_out or r.failed}", file=sys.stderr)
                continue
            atomic.write_bytes(out / r.stave.file, r.png)
            atomic.write_text((out / r.stave.file).with_suffix(".txt"), r.stave.truth + "\n")
            settings = json.dumps(r.settings, sort_keys=True)
            writer.writerow([r.stave.file, r.stave.split, r.stave.source, settings])
            written.append(r.stave)
    atomic.write_text(out / "manifest.csv", manifest.getvalue())
    pieces = sorted({s.source for s in written if s.source != "random"})
    atomic.write_text(out / "pieces.txt", "".join(p + "\n" for p in pieces))
    atomic.write_bytes(out / "ground-truth.pdf", ground_truth_pdf([s.truth for s in written]))
    print(
        f"{out}: {len(written)} staves engraved by {engraver}; {left_out} left out (not drawn "
        f"as one stave), {failed} failed",
        file=sys.stderr,
    )
    return len(written), left_out, failed
