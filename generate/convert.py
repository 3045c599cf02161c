"""``python -m generate.convert FILE... -o OUT``: ABC or stave text to MusicXML, MIDI and
audio, for a corpus of one's own in MuseScore; the same path the samples take.

    python -m generate.convert tunes.abc -o out/          # out/tunes-001.musicxml, .mid, .txt
    python -m generate.convert page.txt reel.abc -o out/ --formats musicxml mid

Per ABC tune: ``NAME-NNN.musicxml`` (repeat signs and endings as written), ``.mid`` (repeats
played as abc2midi plays them), ``.txt`` (its stave text) and, with FluidSynth and a General
MIDI soundfont installed, ``.wav``.  A file of one tune or one stave-text piece is written
as ``NAME.*``.  A piece that does not convert is reported and the rest go on; the last line
printed is ``converted=K/N``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from stave import atomic, convert, stavetext
from stave.abc import read_text, split_abc
from stave.cli import report_output_error
from stave.musicxml import ConversionError

TEXT_FORMATS = ("txt",)


def output_cause(err: BaseException) -> OSError | None:
    """The ``OSError`` behind an error (a ``ConversionError`` raised from a failed write),
    or None when it is not about writing a file."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno is not None:
            return seen
        seen = seen.__cause__  # ``raise ... from``: not errors met while handling another
    return None


def _first_stave_error(text: str, path: Path) -> str:
    """Where a text that looks like stave text first fails to parse (``; line 3 column 9:
    ...``), or nothing when it looks like neither."""
    lines = [ln for ln in text.split("\n") if ln.strip() and not stavetext.is_comment(ln)]
    if not lines or not any(ln.startswith(("clef:", "key:", "time:")) for ln in lines):
        return ""
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip() or stavetext.is_comment(line):
            continue
        try:
            stavetext.parse_line(line, n, str(path))
        except stavetext.StaveTextError as err:
            return f" ({err})"
    return ""


def pieces(path: Path) -> list[tuple[str, str, str]]:
    """(kind, text, name) for each piece of a file: ABC tunes, or stave-text pieces."""
    text = read_text(path)
    stem = path.stem
    if path.suffix.lower() == ".abc" or text.lstrip().startswith("X:"):
        tunes = split_abc(text, str(path))
        if not tunes:
            raise ConversionError(f"{path}: no tune (no X: line followed by music)")
        if len(tunes) == 1:
            return [("abc", tunes[0].text, stem)]
        return [("abc", t.text, f"{stem}-{i:03d}") for i, t in enumerate(tunes, start=1)]
    if not stavetext.is_stave_text(text):
        raise ConversionError(f"{path}: neither ABC nor stave text{_first_stave_error(text, path)}")
    blocks = [b for b in text.split("\n\n") if b.strip()]
    if len(blocks) == 1:
        return [("stave", blocks[0], stem)]
    return [("stave", b, f"{stem}-{i:03d}") for i, b in enumerate(blocks, start=1)]


def convert_piece(kind: str, text: str, base: Path, formats: list[str]) -> list[Path]:
    if kind == "abc":
        music = convert.from_abc(text)
    else:
        music = convert.from_stave_text(text, title=base.name)
    written = convert.write(music, base, [f for f in formats if f != "txt"])
    if "txt" in formats and music.stave_text is not None:
        path = base.with_suffix(".txt")
        try:
            atomic.write_text(path, music.stave_text + "\n")
        except OSError as err:
            for done in written:
                done.unlink(missing_ok=True)
            raise ConversionError(f"cannot write {path.name} ({err})") from err
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m generate.convert",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", type=Path, help="ABC (.abc) or stave-text files")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder (required)")
    p.add_argument(
        "--formats",
        nargs="+",
        choices=(*convert.FORMATS, *TEXT_FORMATS),
        default=[*convert.FORMATS, *TEXT_FORMATS],
        help="what to write (default: all; wav only where FluidSynth is installed)",
    )
    args = p.parse_args(argv)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a file in the way, a read-only place
        if err.filename is None:
            err.filename = str(args.out)
        return report_output_error(err, "generate.convert")
    done = total = 0
    used: set[str] = set()
    for path in args.files:
        try:
            found = pieces(path)
        except OSError as err:  # missing, a folder, a FIFO: named, in words
            total += 1
            print(f"failed: {path}: cannot read ({err.strerror or err})", file=sys.stderr)
            continue
        except ConversionError as err:
            total += 1
            message = str(err)
            print(
                f"failed: {message if message.startswith(str(path)) else f'{path}: {message}'}",
                file=sys.stderr,
            )
            continue
        for kind, text, name in found:
            total += 1
            if name in used:  # a/x.abc and b/x.abc: x and x-2 (or the next free number)
                name = next(
                    f"{name}-{k}" for k in range(2, len(used) + 3) if f"{name}-{k}" not in used
                )
            used.add(name)
            try:
                written = convert_piece(kind, text, args.out / name, args.formats)
            except ConversionError as err:
                cause = output_cause(err)
                if cause is not None:  # a full disk, a read-only folder: say where, go on
                    if cause.filename is None or Path(os.fspath(cause.filename)).name[:1] == ".":
                        cause.filename = str(args.out / name)
                    report_output_error(cause, f"{path} ({name})")
                else:
                    print(f"failed: {path} ({name}): {err}", file=sys.stderr)
                continue
            done += 1
            print(f"{name}: {', '.join(w.name for w in written)}")
    print(f"converted={done}/{total}")
    return 0 if done == total else 1


if __name__ == "__main__":
    sys.exit(main())
