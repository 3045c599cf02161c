"""Reading files end to end, the library behind ``python -m omr.extract``: pages loaded and
their staves found in worker processes, recognized in batches, assembled into stave-text
lines with their headers, and written (stave text, MusicXML, a corpus) atomically.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.pool import AsyncResult
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from omr.geometry import CropShape
from omr.read import preview
from omr.read import report as checks
from omr.read.assemble import format_lines, piece_lines
from omr.read.crops import page_staves
from omr.read.load import LoadError, TextPages, find_inputs, load
from omr.read.recognize import StaveReader
from omr.read.staff import unread_groups
from stave import atomic
from stave.cli import output_error
from stave.musicxml import ConversionError, musicxml_bytes, staves_to_score
from stave.stavetext import StaveTextError, Token, parse_line


@dataclass(frozen=True)
class Detail:
    """What a reading keeps beyond the staves' tokens: page pictures with each stave's
    outline (for ``--preview``), and five-line groups left unread (for ``--report``)."""

    pictures: bool = False
    unread: bool = False


PICTURE_WIDTH = 1200  # px: pages are kept for previews at most this wide


@dataclass
class Layout:
    """Where a file's staves were found: each stave's page (0-based), and with ``Detail``
    the page pictures (grey), each picture's size over its page's, each stave's outline in
    its page's picture (4 corners) and the (page, y in page pixels) of groups not read."""

    pages_of: list[int] = field(default_factory=list)
    pictures: list[np.ndarray] = field(default_factory=list)
    scales: list[float] = field(default_factory=list)
    outlines: list[np.ndarray] = field(default_factory=list)
    unread: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class Found:
    """What stages 1-2 made of one file: stave crops page after page, or a text layer's lines."""

    source: Path
    crops: list[np.ndarray] = field(default_factory=list)
    text_lines: list[str] | None = None
    pages: int = 0
    error: str | None = None
    missed: bool = False  # read, but no staff found
    layout: Layout = field(default_factory=Layout)


@dataclass
class FileReading:
    """One file read: its staves as token lines (with headers), or why it failed."""

    source: Path
    lines: list[list[Token]]
    pages: int
    from_text: bool
    error: str | None = None
    # The file was read but no staff found on it (a miss of the staff finder, which an
    # evaluation scores), as against a file that could not be read at all.
    missed: bool = False
    confidence: list[float] = field(default_factory=list)  # per stave (``read_scored``)
    layout: Layout = field(default_factory=Layout)  # as stages 1-2 found it
    # Its MusicXML, made where it was read (``_read_job`` given titles), or why it could not
    # be made; both None where it was not made there.
    musicxml: bytes | None = None
    musicxml_error: str | None = None


def find(path: Path, shape: CropShape, detail: Detail = Detail()) -> Found:
    """Load a file and crop every stave on it as ``shape`` says (stages 1 and 2)."""
    try:
        loaded = load(path)
    except LoadError as err:
        return Found(path, error=str(err))
    if isinstance(loaded, TextPages):
        return Found(path, text_lines=loaded.lines)
    found = Found(path)
    crops, layout = found.crops, found.layout
    try:
        for index, page in enumerate(loaded):  # a PDF's pages are rendered one at a time
            staves, page_crops = page_staves(page.image, shape)
            crops.extend(page_crops)
            layout.pages_of.extend([index] * len(page_crops))
            if detail.pictures:
                scale = min(1.0, PICTURE_WIDTH / page.image.shape[1])
                layout.scales.append(scale)
                layout.pictures.append(
                    cv2.resize(page.image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                    if scale < 1
                    else page.image.copy()
                )
                layout.outlines.extend(
                    s.outline(page.image.shape, shape.ledger_room) * scale for s in staves
                )
            if detail.unread:
                layout.unread.extend((index, y) for y in unread_groups(page.image, staves))
            del page, staves
    except LoadError as err:  # a page of a PDF that cannot be rendered
        return Found(path, error=str(err))
    if not crops:
        if len(loaded) > 1:
            where = f"on any of its {len(loaded)} pages"
        else:
            where = "on its page" if path.suffix.lower() == ".pdf" else "in the image"
        found.error, found.missed = f"{path}: no staff found {where}", True
    found.pages = len(loaded)
    return found


def _find_job(args: tuple[Path, CropShape, Detail]) -> Found:
    try:
        return find(*args)
    except Exception as err:  # OpenCV on a pathological image: report the file, go on
        return Found(args[0], error=f"{args[0]}: cannot process ({type(err).__name__}: {err})")


def _worker() -> None:
    """A worker process: Ctrl-C is the main process's to handle (it stops the pool), and
    torch takes one thread (the processes share the cores)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)


def _found(
    paths: Sequence[Path], shape: CropShape, jobs: int, detail: Detail = Detail()
) -> Iterator[Found]:
    if jobs <= 1 or len(paths) <= 1:  # in this process: its torch threads are left alone
        yield from (_find_job((p, shape, detail)) for p in paths)
        return
    with get_context("fork").Pool(jobs, initializer=_worker) as pool:
        yield from pool.imap(_find_job, [(p, shape, detail) for p in paths], chunksize=1)


BATCH_STAVES = 32  # on a GPU: staves of consecutive files read in one pass of the recognizer
FILES_PER_JOB = 4  # consecutive files a worker finds and reads at a time (on the CPU)


def _read_found(
    found: Sequence[Found], reader: StaveReader, beam: int, together: bool = False
) -> list[FileReading]:
    """Files as stages 1-2 found them, read.  Each file's staves are read in passes of
    their own, so what is read of a file does not depend on the files read beside it nor
    on ``--jobs`` (the BiLSTM reads a crop's padding to a batch's widest one; on the CPU a
    pass per single-stave file costs no more a stave).  ``together``: the staves of all the
    files in shared passes (on a GPU, where one pass per file would leave it idle)."""
    if together:
        scored = iter(reader.read_scored([c for f in found for c in f.crops], beam=beam))
        per_file = [[next(scored) for _ in f.crops] for f in found]
    else:
        per_file = [reader.read_scored(f.crops, beam=beam) if f.crops else [] for f in found]
    out = []
    for f, mine in zip(found, per_file, strict=True):
        if f.error is not None:
            out.append(
                FileReading(f.source, [], f.pages, False, f.error, f.missed, layout=f.layout)
            )
        elif f.text_lines is not None:
            out.append(FileReading(f.source, [parse_line(t) for t in f.text_lines], 0, True))
        else:
            out.append(
                FileReading(
                    f.source,
                    piece_lines([tokens for tokens, _ in mine], fit=not reader.reads_times),
                    f.pages,
                    False,
                    confidence=[c for _, c in mine],
                    layout=f.layout,
                )
            )
    return out


_READER: StaveReader | None = None  # a reading worker's recognizer (inherited by fork)


def _reading_worker(reader: StaveReader) -> None:
    global _READER
    _worker()
    _READER = reader


def _read_job(args: tuple[list[Path], Detail, int, list[str] | None]) -> list[FileReading]:
    """In a reading worker: find the staves of a few files and read them; given their
    titles, make each one's MusicXML too (the work is then all in the reading workers)."""
    paths, detail, beam, titles = args
    assert _READER is not None, "a reading worker without its recognizer"
    readings = _read_found([_find_job((p, _READER.shape, detail)) for p in paths], _READER, beam)
    for reading, title in zip(readings, titles, strict=True) if titles is not None else ():
        if reading.error is None:
            reading.musicxml, reading.musicxml_error = musicxml_of(
                format_lines(reading.lines), title
            )
    return readings


def _readings(
    paths: Sequence[Path],
    reader: StaveReader,
    jobs: int,
    beam: int,
    detail: Detail,
    titles: Sequence[str] | None = None,
) -> Iterator[FileReading]:
    """Each file read, in the order given.  On the CPU with ``jobs`` > 1, worker processes
    each find and read a few consecutive files at a time, so the recognizer's work is shared
    out as well (in one process beside the finders it was the slowest stage).  Otherwise
    the staves are found in ``jobs`` processes and read in this one: file by file on the
    CPU, ``BATCH_STAVES`` of consecutive files at a time on a GPU (which stays with this
    process).  On the CPU, what is read is the same whatever ``jobs``.  ``titles`` (one a
    path): on the CPU with ``jobs`` > 1, the reading workers make each file's MusicXML as
    well (``musicxml_of``); elsewhere none is made here."""
    on_cpu = reader.device.type == "cpu"
    if jobs > 1 and len(paths) > 1 and on_cpu:
        size = max(1, min(FILES_PER_JOB, len(paths) // jobs))
        chunks = [
            (
                list(paths[i : i + size]),
                detail,
                beam,
                None if titles is None else list(titles[i : i + size]),
            )
            for i in range(0, len(paths), size)
        ]
        with get_context("fork").Pool(
            jobs, initializer=_reading_worker, initargs=(reader,)
        ) as pool:
            for readings in pool.imap(_read_job, chunks, chunksize=1):
                yield from readings
        return
    pending: list[Found] = []
    for found in _found(paths, reader.shape, jobs, detail):
        pending.append(found)
        if not on_cpu and found.crops and sum(len(f.crops) for f in pending) < BATCH_STAVES:
            continue  # a file whose staves wait for more to fill the GPU's batch
        yield from _read_found(pending, reader, beam, together=not on_cpu)
        pending.clear()
    yield from _read_found(pending, reader, beam, together=not on_cpu)


def read_files(
    paths: Sequence[Path],
    reader: StaveReader,
    jobs: int = 1,
    beam: int = 0,
    progress: bool = True,
    detail: Detail = Detail(),
    titles: Sequence[str] | None = None,
) -> Iterator[FileReading]:
    """Read each file, in the order given, staff finding and the recognizer shared out over
    ``jobs`` processes (see ``_readings``; ``titles``: MusicXML made there too)."""
    bar = tqdm(total=len(paths), unit="file", disable=not progress)
    staves = 0
    try:
        for reading in _readings(paths, reader, jobs, beam, detail, titles):
            bar.update()
            staves += len(reading.lines) if not reading.from_text else 0
            bar.set_postfix(staves=staves, refresh=False)
            yield reading
    finally:
        bar.close()


# Outputs ``NAME.txt`` and ``NAME.musicxml``: a name's last part must leave room for the
# longest suffix within the 255 bytes a file name may hold.
NAME_BYTES = 255 - len(".musicxml")
RESERVED = ("corpus",)  # OUT/corpus.txt holds every file's lines


def _short(part: str) -> str:
    """A path part cut to ``NAME_BYTES`` bytes, a hash of the whole keeping it unique."""
    data = part.encode("utf-8", "surrogateescape")
    if len(data) <= NAME_BYTES:
        return part
    digest = hashlib.sha1(data).hexdigest()[:10]
    cut = data[: NAME_BYTES - 11 - 8].decode("utf-8", "ignore")  # 8: room for "-N"
    return f"{cut}-{digest}"


def output_plan(paths: Sequence[Path], roots: Sequence[Path]) -> list[tuple[str, str | None]]:
    """Output name per input, and why it is not the input's own name (or None).

    The name is the input's path under the folder it was found in, without its suffix
    (``a/b.png`` -> ``a/b``).  No two inputs ever share a name (compared without case, as
    macOS and Windows file systems do): inputs that would are named by their paths from
    their common folder (``a/x.png``, ``b/x.png`` -> ``a/x``, ``b/x``), then by their
    suffixes (``x.png``, ``x.pdf`` -> ``x_png``, ``x_pdf``), then numbered (``x``, ``x-2``).
    ``corpus`` is taken by ``corpus.txt``; names too long for the file system are cut short
    with a hash of the whole.
    """
    natural = []
    for path in paths:
        base = path.name
        for root in roots:
            if root.is_dir() and path.is_relative_to(root):
                base = str(path.relative_to(root))
                break
        natural.append(Path(base).with_suffix("").as_posix())
    names = list(natural)

    def groups() -> list[list[int]]:
        by_key: dict[str, list[int]] = {}
        for i, n in enumerate(names):
            by_key.setdefault(n.casefold(), []).append(i)
        return [idxs for idxs in by_key.values() if len(idxs) > 1]

    for idxs in groups():  # mirror the paths from the group's common folder
        where = [paths[i].absolute().parent for i in idxs]
        common = Path(os.path.commonpath(where))
        for i in idxs:
            mirrored = (paths[i].absolute().parent / paths[i].stem).relative_to(common)
            names[i] = mirrored.as_posix()
    for idxs in groups():  # then tell formats apart
        if len({paths[i].suffix.casefold() for i in idxs}) > 1:
            for i in idxs:
                names[i] = f"{names[i]}_{paths[i].suffix.lower().lstrip('.')}"
    names = ["/".join(_short(part) for part in n.split("/")) for n in names]
    taken = {r.casefold() for r in RESERVED}
    for i, n in enumerate(names):  # then number what still collides
        k = 2
        while names[i].casefold() in taken:
            names[i] = f"{n}-{k}"
            k += 1
        taken.add(names[i].casefold())
    plan: list[tuple[str, str | None]] = []
    for i, n in enumerate(names):
        why = None
        if n != natural[i]:
            if len(natural[i].encode("utf-8", "surrogateescape")) > NAME_BYTES:
                why = "its name is too long for the file system"
            elif natural[i].casefold() in RESERVED:
                why = f"{natural[i]}.txt is the corpus"
            else:
                why = "another input has the same name"
        plan.append((n, why))
    return plan


def output_names(paths: Sequence[Path], roots: Sequence[Path]) -> list[str]:
    """The names of ``output_plan``."""
    return [name for name, _ in output_plan(paths, roots)]


def musicxml_of(text: str, title: str) -> tuple[bytes | None, str | None]:
    """MusicXML of stave-text lines, or why it cannot be made."""
    try:
        lines = [parse_line(t) for t in text.splitlines()]
        return musicxml_bytes(staves_to_score(lines, title=title)), None
    except (ConversionError, StaveTextError) as err:
        return None, str(err)
    except Exception as err:  # music21 on an odd score: report the file, go on
        return None, f"cannot write MusicXML ({type(err).__name__}: {err})"


def save_musicxml(made: tuple[bytes | None, str | None], base: Path) -> str | None:
    """``BASE.musicxml`` written from ``musicxml_of``'s result; why not, or None."""
    data, error = made
    if data is None:
        return error
    try:
        atomic.write_bytes(base.with_suffix(".musicxml"), data)
    except OSError as err:  # a folder in the way, a full disk: said as for the text
        return output_error(err)
    return None


def _title(name: str) -> str:
    """The title a file's MusicXML carries: its output name's last part, as text."""
    return Path(name).name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def write_musicxml(text: str, title: str, base: Path) -> str | None:
    """``BASE.musicxml`` from stave-text lines; why it could not be written, or None."""
    return save_musicxml(musicxml_of(text, title), base)


@dataclass
class ExtractSummary:
    files: int
    failed: int
    staves: int
    pages: int
    seconds: float


def extract(
    inputs: Sequence[Path],
    out: Path,
    reader: StaveReader,
    fmt: str = "full",
    jobs: int = 1,
    beam: int = 0,
    progress: bool = True,
    preview: bool = False,
    report: bool = False,
) -> ExtractSummary:
    """Read every input and write ``OUT/NAME.txt``, ``OUT/NAME.musicxml`` and
    ``OUT/corpus.txt``; failures are reported on stderr and counted.  ``preview``: also
    ``OUT/NAME.preview.png`` (``omr.read.preview``); ``report``: ``OUT/report.csv`` and
    warnings on stderr (``omr.read.report``)."""
    start = time.perf_counter()
    paths = find_inputs(list(inputs))
    plan = output_plan(paths, inputs)
    for path, (name, why) in zip(paths, plan, strict=True):
        if why is not None:
            print(f"note: {path} is written as {out / name}.* ({why})", file=sys.stderr)
    names = iter(name for name, _ in plan)
    titles = [_title(name) for name, _ in plan]
    out.mkdir(parents=True, exist_ok=True)
    corpus: list[str] = []
    failed = staves = pages = 0
    # MusicXML (music21, ~5 ms a stave): on the CPU with ``jobs`` > 1 the reading workers
    # make it (``_read_job``) and this process writes it; on a GPU, which reads here, worker
    # processes of their own write it while this one reads.
    writers = (
        get_context("fork").Pool(jobs, initializer=_worker)
        if jobs > 1 and len(paths) > 1 and reader.device.type != "cpu"
        else None
    )
    writing: list[tuple[Path, AsyncResult[str | None] | str | None]] = []
    report_rows: list[list[object]] = []
    detail = Detail(pictures=preview, unread=report)
    try:
        for reading in read_files(paths, reader, jobs, beam, progress, detail, titles):
            name = next(names)  # read_files keeps the order of the paths
            if preview and (reading.error is None or reading.missed):
                _write_preview(reading, out / f"{name}.preview.png")
            if report:
                report_rows.extend(_report(reading))
            if reading.error is not None:
                failed += 1
                tqdm.write(f"failed: {reading.error}", file=sys.stderr)
                continue
            text = format_lines(reading.lines, fmt)
            target = out / f"{name}.txt"
            try:
                atomic.write_text(target, text)
            except OSError as err:  # this output (a folder in its way, a full disk): go on
                failed += 1
                tqdm.write(f"failed: {reading.source}: {output_error(err)}", file=sys.stderr)
                continue
            corpus.append(text)
            staves += len(reading.lines)
            pages += reading.pages
            # MusicXML from everything read (clefs, keys, durations), whatever --format
            # the text is written in: the pitch-only labelling would engrave every stave
            # in treble clef and C major, in quarters.
            result: AsyncResult[str | None] | str | None
            if reading.musicxml is not None or reading.musicxml_error is not None:
                result = save_musicxml((reading.musicxml, reading.musicxml_error), out / name)
            else:
                full = text if fmt == "full" else format_lines(reading.lines)
                job = (full, _title(name), out / name)
                result = (
                    writers.apply_async(write_musicxml, job) if writers else write_musicxml(*job)
                )
            writing.append((reading.source, result))
        for source, result in writing:
            error = result.get() if isinstance(result, AsyncResult) else result
            if error is not None:
                failed += 1
                tqdm.write(f"failed: {source}: {error} (stave text written)", file=sys.stderr)
    except BaseException:  # Ctrl-C: stop the writers now, do not wait for their queue
        if writers is not None:
            writers.terminate()
            writers.join()
            writers = None
            # What the killed writers had half written (their temporary files) goes.
            for folder in {(out / name).parent for name, _ in plan}:
                atomic.remove_leftovers(folder)
        raise
    finally:
        if writers is not None:
            writers.close()
            writers.join()
    atomic.write_text(out / "corpus.txt", "\n".join(corpus))
    if report:
        atomic.write_text(out / "report.csv", checks.csv_text(report_rows))
    return ExtractSummary(len(paths), failed, staves, pages, time.perf_counter() - start)


def _write_preview(reading: FileReading, target: Path) -> None:
    """``target``, the preview of one file read (its failure is reported, not raised)."""
    layout = reading.layout
    image = preview.picture(
        layout.pictures,
        list(zip(layout.pages_of, layout.outlines, strict=False)),
        reading.lines,
        reading.confidence,
        layout.unread,
        layout.scales,
        note=reading.error or "",
    )
    try:
        atomic.write_bytes(target, preview.png(image))
    except OSError as err:
        tqdm.write(f"failed: {reading.source}: {output_error(err)}", file=sys.stderr)


def _report(reading: FileReading) -> list[list[object]]:
    """The report's rows of one file, its warnings said on stderr."""
    pages = [page + 1 for page in reading.layout.pages_of]
    rows, warnings = checks.rows(
        str(reading.source), pages, reading.confidence, reading.lines, reading.layout.unread
    )
    for warning in warnings:
        tqdm.write(f"warning: {warning}", file=sys.stderr)
    return rows
