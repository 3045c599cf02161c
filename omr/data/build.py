"""The dataset builder: clean, synthesized and real-world staves with their truth, written
as ``python -m omr.dataset build OUT`` lays them out (see that module for the layout).

Each ``.txt`` holds exactly one stave-text line.  Every item is drawn from its own generator
seeded by (seed, split, index), so a seed gives the same bytes whatever ``--jobs`` is.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
from tqdm import tqdm

from omr.data import fragments, synth
from omr.data.degrade import DegradeParams, degrade
from omr.data.engrave import Engraving, EngravingError, EngravingSettings, engrave
from omr.data.mei import Decorations, staves_to_mei
from stave import atomic
from stave.stavetext import Token, write_line

T = TypeVar("T")
R = TypeVar("R")
SPLITS = ("clean", "synthesized", "real-world")
SPLIT_IDS = {name: i for i, name in enumerate(SPLITS)}
DEFAULT_COUNTS = {"clean": 300, "synthesized": 2790, "real-world": 200}
FRAGMENTS_PER_PIECE = 3


@dataclass(frozen=True)
class Variety:
    """What a build shows beyond older builds' staves (each 0, none drawn: the same staves
    as a build before these existed, for the same seed)."""

    # per bar after the first of a random stave: a new metre (and then every stave's bars
    # beamed by their own metre, as older builds did not)
    metre_changes: float = 0.0
    common_time: float = 0.0  # a 4/4 or 2/2 printed as its sign (C, cut C), any stave


@dataclass(frozen=True)
class Job:
    split: str
    index: int
    seed: int
    source: str  # corpus piece, or "random"
    tokens: tuple[Token, ...]
    beat: float
    variety: Variety = Variety()


@dataclass
class Rendered:
    job: Job
    png: bytes
    truth: str
    settings: dict[str, object]


def _rng(seed: int, split: str, index: int, salt: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, SPLIT_IDS[split], index, salt])


def decorations(rng: np.random.Generator, beat: float) -> Decorations:
    """Marks real pages carry and the truth leaves out, drawn at random."""
    return Decorations(
        beams=rng.random() < 0.85,
        beat_quarters=beat,
        ties=float(rng.uniform(0, 0.5)),
        slurs=float(rng.uniform(0, 0.15)) if rng.random() < 0.5 else 0.0,
        lyrics=float(rng.uniform(0.3, 0.9)) if rng.random() < 0.35 else 0.0,
        chord_symbols=float(rng.uniform(0.1, 0.4)) if rng.random() < 0.2 else 0.0,
        articulations=float(rng.uniform(0, 0.15)) if rng.random() < 0.3 else 0.0,
        first_measure=int(rng.integers(2, 80)) if rng.random() < 0.4 else 1,
        final_barline=str(rng.choice(["single", "single", "single", "end", "dbl"])),
        fingering=float(rng.uniform(0.1, 0.4)) if rng.random() < 0.15 else 0.0,
        ending=rng.random() < 0.1,
    )


def _engrave(
    tokens: Sequence[Token],
    beat: float,
    rng: np.random.Generator,
    tight: bool = False,
    variety: Variety = Variety(),
) -> tuple[Engraving, dict[str, object]]:
    """Engrave with random settings; ``tight`` crops close to the staff, as photos are."""
    settings = EngravingSettings.sample(rng, margins=(1.0, 2.5) if tight else (1.5, 3.5))
    deco = replace(
        decorations(rng, beat),
        common_time=variety.common_time,
        follow_metre=variety.metre_changes > 0,
    )
    engraving = engrave(staves_to_mei(tokens, rng, deco), settings)
    return engraving, {"engraving": settings.as_dict(), "decorations": deco.__dict__}


def render(job: Job) -> Rendered:
    """One stave: engrave (and for real-world, degrade) it; PNG bytes and its truth."""
    rng = _rng(job.seed, job.split, job.index)
    engraving, settings = _engrave(
        job.tokens, job.beat, rng, tight=job.split == "real-world", variety=job.variety
    )
    image = engraving.image
    if job.split == "real-world":
        # Neighbouring staves and the page's other side come from random staves of their own,
        # engraved only when the drawn degradation shows them.
        params = DegradeParams.sample(rng)
        wanted = (params.neighbour_top > 0, params.neighbour_bottom > 0, params.bleed > 0)
        others: list[np.ndarray | None] = []
        for salt, want in zip((1, 2, 3), wanted, strict=True):
            if not want:
                others.append(None)
                continue
            tokens, beat = synth.random_stave(_rng(job.seed, job.split, job.index, salt))
            other = _engrave(tokens, beat, _rng(job.seed, job.split, job.index, salt + 10))[0]
            others.append(_same_page(other, engraving))
        image, params = degrade(
            image, rng, params, above=others[0], below=others[1], through=others[2]
        )
        settings["degradation"] = params.as_dict()
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise EngravingError("PNG encoding failed")
    return Rendered(job, buf.tobytes(), write_line(job.tokens), settings)


def _same_page(other: Engraving, main: Engraving) -> np.ndarray:
    """Another stave at the main stave's scale, as the next staff on its page."""
    k = main.staff_space / other.staff_space
    return cv2.resize(other.image, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)


def _piece_fragments(args: tuple[fragments.PieceRef, int]) -> list[fragments.Fragment]:
    ref, seed = args
    return fragments.piece_fragments(ref, FRAGMENTS_PER_PIECE, seed)


def imap(fn: Callable[[T], R], items: Sequence[T], jobs: int, desc: str) -> Iterator[R]:
    bar = tqdm(total=len(items), desc=desc, unit="it", dynamic_ncols=True, mininterval=1)
    if jobs <= 1:
        for item in items:
            yield fn(item)
            bar.update()
    else:
        with get_context("fork").Pool(jobs) as pool:
            for result in pool.imap(fn, items, chunksize=4):
                yield result
                bar.update()
    bar.close()


def plan_fragments(
    count: int, seed: int, jobs: int, exclude: Sequence[str] = ()
) -> list[fragments.Fragment]:
    """``count`` fragments from distinct pieces (none of ``exclude``), a few per piece, in a
    seeded order."""
    if count <= 0:
        return []
    out: list[fragments.Fragment] = []
    used: list[str] = list(exclude)
    attempt = 0
    while len(out) < count:
        want = -(-(count - len(out)) // FRAGMENTS_PER_PIECE) + 4
        refs = fragments.choose_pieces(want, seed + 1000 * attempt, exclude=used)
        if not refs:
            raise RuntimeError(f"music21's corpus gave only {len(out)} fragments, {count} asked")
        used.extend(r.name for r in refs)
        for frs in imap(_piece_fragments, [(r, seed) for r in refs], jobs, "reading pieces"):
            out.extend(frs)
        attempt += 1
    return out[:count]


def plan(
    counts: dict[str, int],
    seed: int,
    jobs: int,
    exclude: Sequence[str] = (),
    variety: Variety = Variety(),
) -> list[Job]:
    """The jobs of a build: clean from real pieces, synthesized from random content, and
    real-world half from further pieces, half random.  No piece of ``exclude`` is used."""
    changes = variety.metre_changes
    n_real = counts["real-world"]
    real_clean = n_real // 2
    frags = plan_fragments(counts["clean"] + real_clean, seed, jobs, exclude)
    jobs_out = [
        Job("clean", i, seed, f.piece, f.tokens, f.beat_quarters, variety)
        for i, f in enumerate(frags[: counts["clean"]])
    ]
    for i in range(counts["synthesized"]):
        tokens, beat = synth.random_stave(_rng(seed, "synthesized", i, 99), changes)
        jobs_out.append(Job("synthesized", i, seed, "random", tuple(tokens), beat, variety))
    for i in range(n_real):
        if i < real_clean:
            f = frags[counts["clean"] + i]
            jobs_out.append(Job("real-world", i, seed, f.piece, f.tokens, f.beat_quarters, variety))
        else:
            tokens, beat = synth.random_stave(_rng(seed, "real-world", i, 99), changes)
            jobs_out.append(Job("real-world", i, seed, "random", tuple(tokens), beat, variety))
    return jobs_out


def ground_truth_pdf(lines: Sequence[str]) -> bytes:
    """Every truth on a text line of its own, in Courier on pages wide enough never to wrap."""
    from fpdf import FPDF

    size, lead, margin, per_page = 7.0, 9.0, 18.0, 80
    width = margin * 2 + 0.6 * size * max((len(s) for s in lines), default=10)
    pdf = FPDF(unit="pt", format=(max(300.0, width), margin * 2 + lead * per_page))
    pdf.set_auto_page_break(False)
    pdf.set_font("Courier", size=size)
    for start in range(0, max(1, len(lines)), per_page):
        pdf.add_page()
        for k, line in enumerate(lines[start : start + per_page]):
            pdf.text(margin, margin + lead * (k + 1), line)
    return bytes(pdf.output())


def read_ground_truth_pdf(path: Path) -> list[str]:
    """The lines of a ground-truth PDF, through pdfplumber (the path ``omr.extract`` takes)."""
    import pdfplumber

    out: list[str] = []
    with pdfplumber.open(path) as pdf:
        for page in pdf.pages:
            text = page.extract_text(x_tolerance=1.5, y_tolerance=2) or ""
            out.extend(line for line in text.split("\n") if line.strip())
    return out


def contact_sheet(out: Path, per_split: int = 6, width: int = 1100) -> np.ndarray:
    """A grid of samples from each split with their truths printed under them."""
    rows: list[np.ndarray] = []
    for split in SPLITS:
        files = sorted((out / split).glob("*.png"))[:per_split]
        if not files:
            continue
        title = np.full((34, width, 3), 255, np.uint8)
        cv2.putText(title, split, (8, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (160, 40, 0), 2)
        rows.append(title)
        for f in files:
            read = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if read is None:
                raise FileNotFoundError(f"{f}: unreadable")
            img = cv2.resize(read, (width, max(1, int(read.shape[0] * width / read.shape[1]))))
            truth = f.with_suffix(".txt").read_text(encoding="utf-8").strip()
            chunks = [truth[i : i + 150] for i in range(0, len(truth), 150)] or [""]
            text = np.full((16 * len(chunks) + 6, width, 3), 255, np.uint8)
            for k, chunk in enumerate(chunks):
                cv2.putText(
                    text, chunk, (6, 14 + 16 * k), cv2.FONT_HERSHEY_PLAIN, 0.9, (0, 0, 180), 1
                )
            rows.extend([img, text, np.full((6, width, 3), 200, np.uint8)])
    if not rows:
        raise FileNotFoundError(f"{out}: no staves to show")
    sheet = np.vstack(rows)
    ok, buf = cv2.imencode(".png", sheet)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    atomic.write_bytes(out / "contact-sheet.png", buf.tobytes())
    return sheet


@dataclass(frozen=True)
class Shard:
    """Part ``index`` (1-based) of ``count``: every ``count``-th job of the plan, from the
    ``index``-th on, so each part holds some of every split."""

    index: int = 1
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ValueError(f"shard {self.index}/{self.count}: need 1 <= K <= N")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``K/N`` as ``--shard`` takes it."""
        try:
            k, n = (int(x) for x in text.split("/"))
        except ValueError:
            raise ValueError(f"{text!r} is not K/N (e.g. 2/4)") from None
        return cls(k, n)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


SHARD_FILE = "shard.json"


def build(
    out: Path,
    counts: dict[str, int],
    seed: int = 0,
    jobs: int = 1,
    sheet: bool = False,
    exclude: Sequence[str] = (),
    shard: Shard = Shard(),
    variety: Variety = Variety(),
) -> dict[str, int]:
    """Build the dataset into ``out``; returns the staves written per split.  No piece named
    in ``exclude`` is used (a test set beside a training build).  ``variety``: metre
    changes and metre signs (none by default, as older builds).

    A stave that fails is reported on stderr and left out (its index stays free); the others
    are written.  ``written`` summing to less than ``counts`` tells the caller.

    With ``shard`` K/N only that part of the plan is rendered (machine K of N), into a folder
    that is a dataset of its own, with ``shard.json`` saying what it is part of; ``merge``
    puts the N parts together into the dataset one build makes.
    """
    start = time.perf_counter()
    for split in SPLITS:  # first: an output that cannot be written fails before the work
        (out / split).mkdir(parents=True, exist_ok=True)
    work = plan(counts, seed, jobs, exclude, variety)[shard.index - 1 :: shard.count]
    manifest = io.StringIO()
    writer = csv.writer(manifest, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    truths: list[str] = []
    written = dict.fromkeys(SPLITS, 0)
    failed = 0
    for result in imap(_render_safe, work, jobs, "engraving"):
        if isinstance(result, str):
            failed += 1
            print(result, file=sys.stderr)
            continue
        name = f"{result.job.split}/{result.job.index:05d}"
        atomic.write_bytes(out / f"{name}.png", result.png)
        atomic.write_text(out / f"{name}.txt", result.truth + "\n")
        writer.writerow(
            [
                f"{name}.png",
                result.job.split,
                result.job.source,
                json.dumps(result.settings, sort_keys=True),
            ]
        )
        truths.append(result.truth)
        written[result.job.split] += 1
    atomic.write_text(out / "manifest.csv", manifest.getvalue())
    pieces = sorted({j.source for j in work if j.source != "random"})
    atomic.write_text(out / "pieces.txt", "".join(p + "\n" for p in pieces))
    atomic.write_bytes(out / "ground-truth.pdf", ground_truth_pdf(truths))
    if shard.count > 1:
        about = {
            "shard": shard.index,
            "of": shard.count,
            "seed": seed,
            "counts": counts,
            "exclude": sorted(set(exclude)),
            "variety": asdict(variety),
            "written": written,
        }
        atomic.write_text(out / SHARD_FILE, json.dumps(about, indent=1, sort_keys=True) + "\n")
    if sheet:
        contact_sheet(out)
    seconds = time.perf_counter() - start
    total = sum(written.values())
    part = f" (shard {shard})" if shard.count > 1 else ""
    print(
        f"{out}{part}: "
        + ", ".join(f"{k} {v}" for k, v in written.items())
        + f"; {failed} failed; {seconds:.1f}s ({total / max(seconds, 1e-9):.1f} staves/s)",
        file=sys.stderr,
    )
    return written


MANIFEST_COLUMNS = ["file", "split", "source", "settings"]


class MergeError(ValueError):
    """Shard folders that do not make one dataset; the message says which and why."""


def merge(out: Path, shards: Sequence[Path], sheet: bool = False) -> dict[str, int]:
    """The dataset one build makes, from the N folders ``build(..., shard=K/N)`` made
    (K = 1..N, the same seed, counts and exclusions): files copied, the manifest in the
    one build's order, ``pieces.txt`` and ``ground-truth.pdf`` made again."""
    where = {Path(f).resolve() for f in shards}
    if len(where) != len(shards):
        raise MergeError("a shard folder is given twice")
    if Path(out).resolve() in where:
        raise MergeError(f"{out}: is one of the shards; merge into another folder")
    if (Path(out) / SHARD_FILE).exists():
        raise MergeError(f"{out}: holds a shard ({SHARD_FILE}); merge into another folder")
    abouts = []
    for folder in shards:
        try:
            about = json.loads((folder / SHARD_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MergeError(f"{folder}: no {SHARD_FILE} (not a shard of a build)") from None
        except (OSError, ValueError) as err:
            raise MergeError(f"{folder / SHARD_FILE}: unreadable ({err})") from None
        abouts.append(about)
    first = abouts[0]
    for folder, about in zip(shards, abouts, strict=True):
        for key in ("of", "seed", "counts", "exclude", "variety"):
            default = asdict(Variety()) if key == "variety" else None  # shards made before
            if about.get(key, default) != first.get(key, default):
                raise MergeError(
                    f"{folder}: {key} {about.get(key)!r} differs from {shards[0]}'s "
                    f"{first.get(key)!r}: not parts of one build"
                )
    have = sorted(a["shard"] for a in abouts)
    if have != list(range(1, first["of"] + 1)):
        raise MergeError(f"shards {have} given; a build in {first['of']} needs each of 1..N once")
    rows: list[dict[str, str]] = []
    for folder in shards:
        with (folder / "manifest.csv").open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                rows.append({**row, "_from": str(folder)})
    rows.sort(key=lambda r: (SPLIT_IDS[r["split"]], r["file"]))
    for split in SPLITS:
        (out / split).mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    truths = []
    written = dict.fromkeys(SPLITS, 0)
    for row in rows:
        src = Path(row["_from"]) / row["file"]
        for suffix in (".png", ".txt"):
            atomic.write_bytes(
                out / Path(row["file"]).with_suffix(suffix), src.with_suffix(suffix).read_bytes()
            )
        truths.append(src.with_suffix(".txt").read_text(encoding="utf-8").rstrip("\n"))
        writer.writerow([row[c] for c in MANIFEST_COLUMNS])
        written[row["split"]] += 1
    atomic.write_text(out / "manifest.csv", text.getvalue())
    pieces = sorted(
        {
            line.strip()
            for folder in shards
            for line in (folder / "pieces.txt").read_text(encoding="utf-8").splitlines()
            if line.strip()
        }
    )
    atomic.write_text(out / "pieces.txt", "".join(p + "\n" for p in pieces))
    atomic.write_bytes(out / "ground-truth.pdf", ground_truth_pdf(truths))
    if sheet:
        contact_sheet(out)
    print(
        f"{out}: merged {len(shards)} shards: " + ", ".join(f"{k} {v}" for k, v in written.items()),
        file=sys.stderr,
    )
    return written


def _render_safe(job: Job) -> Rendered | str:
    """``render``, with a failure reported as a line of text so the build goes on."""
    try:
        return render(job)
    except Exception as err:  # Verovio, resvg and OpenCV fail in many ways; report, go on
        kind = "cannot engrave" if isinstance(err, EngravingError) else type(err).__name__
        return f"{job.split}/{job.index:05d}: {kind} ({err}): {write_line(job.tokens)}"
