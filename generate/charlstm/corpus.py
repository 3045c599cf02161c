"""Corpora: where training text comes from, cut into whole pieces (tunes).

Three kinds of text, told apart because sampling ends and exports differently:
``abc`` (tunes starting at ``X:``), ``stave`` (stave text, pieces separated by blank lines)
and ``text`` (anything else, paragraphs separated by blank lines).

Every piece is normalised to have no blank line inside it, so a blank line is always a piece
boundary: the training stream is pieces joined by blank lines.

Files and folders are read as text: files that are not (images, checkpoints, MIDI: by their
suffix, or bytes no text holds) are skipped with a note on stderr.  The kind is detected per
file, and a corpus is of one kind: files of another kind are refused, naming one of them,
unless ``kind`` is given (``text`` reads any file as paragraphs).
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

from stave import stavetext
from stave.abc import (
    X_LINE,
    Piece,
    clean_lines,
    decode_text,
    music21_abc_paths,
    read_text,
    split_abc,
)

Kind = Literal["abc", "stave", "text", "midi"]  # "midi": checkpoints of the MIDI models
KINDS: tuple[Kind, ...] = ("abc", "stave", "text")
SEPARATOR = "\n\n"  # between pieces in a training stream; also where a sample ends

KIND_NAMES = {"abc": "ABC", "stave": "stave text", "text": "plain text", "midi": "MIDI"}

MUSIC21_ABC = "music21-abc"
MUSIC21_STAVE = "music21-stave"
BUILTIN_CORPORA = (MUSIC21_ABC, MUSIC21_STAVE)

# Files that are never text, whatever bytes they start with.
BINARY_SUFFIXES = frozenset(
    (
        *(".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".heic", ".pdf"),
        *(".pt", ".pth", ".ckpt", ".npz", ".npy", ".pkl", ".db", ".sqlite"),
        *(".zip", ".gz", ".bz2", ".xz", ".zst", ".tar", ".7z", ".mxl", ".mscz"),
        *(".mid", ".midi", ".kar", ".wav", ".mp3", ".ogg", ".flac", ".m4a"),
        *(".pyc", ".so", ".dll", ".exe", ".bin"),
    )
)
_CONTROL = bytes(sorted(set(range(32)) - {9, 10, 12, 13, 26} | {127}))  # 26: DOS file end
NOTED_FILES = 5  # skipped files named in a note; the rest are counted


class CorpusError(ValueError):
    """A corpus that cannot be read: missing, empty or undecodable files."""


def split_paragraphs(text: str, source: str) -> list[Piece]:
    """Pieces separated by blank lines (stave text, plain text)."""
    pieces = []
    for i, block in enumerate(re.split(r"\n[ \t]*\n", text)):
        lines = clean_lines(block.split("\n"))
        if lines:
            pieces.append(Piece("\n".join(lines), f"{source}#{i + 1}"))
    return pieces


def detect_kind(text: str) -> Kind:
    if X_LINE.search(text) and re.search(r"^K:", text, re.MULTILINE):
        return "abc"
    if stavetext.is_stave_text(text):
        return "stave"
    return "text"


def split_pieces(text: str, source: str, kind: Kind) -> list[Piece]:
    if kind == "abc":
        return split_abc(text, source)
    if kind == "stave":
        # Comments are for people, not for the model.
        text = "\n".join(line for line in text.split("\n") if not stavetext.is_comment(line))
    return split_paragraphs(text, source)


DOCUMENTATION = ("README", "LICENSE", "LICENCE", "COPYING")  # a folder's own notes, not corpus


def _files(paths: Sequence[Path]) -> list[Path]:
    """The files of ``paths``, folders read recursively; a folder's hidden files and its
    documentation (``README.md``, ``LICENSE``, ...) are left out, the latter with a note."""
    files: list[Path] = []
    docs: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            for f in found:
                if f.name.upper().startswith(DOCUMENTATION):
                    docs.append((f, "documentation"))
                else:
                    files.append(f)
        elif path.is_file():
            files.append(path)
        elif path.exists():  # a pipe or a device: reading it could wait for ever
            raise CorpusError(f"{path}: not a regular file or folder")
        else:
            raise CorpusError(f"{path}: no such file or folder")
    note_skipped("a folder's notes", docs)
    return files


def not_text(path: Path, data: bytes) -> str | None:
    """Why a file is not text (its suffix, NUL or control bytes), or None when it is."""
    suffix = path.suffix.lower()
    if suffix in BINARY_SUFFIXES:
        return f"a {suffix} file"
    if b"\0" in data:
        return "holds NUL bytes"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:  # Latin-1 (old ABC collections) is text; control bytes are not
        controls = len(data) - len(data.translate(None, _CONTROL))
        if controls > len(data) // 100:
            return "neither UTF-8 nor Latin-1 text"
    return None


def note_skipped(what: str, skipped: Sequence[tuple[Path, str]]) -> None:
    """One line on stderr naming the first skipped files and counting the others."""
    if not skipped:
        return
    shown = ", ".join(f"{f} ({why})" for f, why in skipped[:NOTED_FILES])
    more = len(skipped) - NOTED_FILES
    rest = f" and {more} more" if more > 0 else ""
    noun = "file" if len(skipped) == 1 else "files"
    print(f"skipped {len(skipped)} {noun} ({what}): {shown}{rest}", file=sys.stderr)


def read_texts(paths: Sequence[Path]) -> list[tuple[Path, str]]:
    """The text files among ``paths`` (files, folders read recursively) and their text; the
    files that are not text, or hold no text, are named on stderr and left out."""
    files = _files(paths)
    if not files:
        raise CorpusError(f"no files under {', '.join(map(str, paths))}")
    texts: list[tuple[Path, str]] = []
    binary: list[tuple[Path, str]] = []
    empty: list[tuple[Path, str]] = []
    for f in files:
        try:
            raw = f.read_bytes()
        except OSError as err:
            raise CorpusError(f"{f}: cannot read ({err.strerror or err})") from err
        if why := not_text(f, raw):
            binary.append((f, why))
            continue
        text = decode_text(raw)
        if text.strip():
            texts.append((f, text))
        else:
            empty.append((f, "empty"))
    note_skipped("not text", binary)
    note_skipped("no text in them", empty)
    if not texts:
        raise CorpusError(f"no text files under {', '.join(map(str, paths))}")
    return texts


def corpus_kind(texts: Sequence[tuple[Path, str]]) -> Kind:
    """The one kind of every file; ``CorpusError`` naming a file of another kind than the
    first (training on tabs as ABC would drop them, on ABC as text would break sampling)."""
    first, first_kind = texts[0][0], detect_kind(texts[0][1])
    others = [(f, k) for f, t in texts[1:] if (k := detect_kind(t)) != first_kind]
    if others:
        f, k = others[0]
        more = f" (and {len(others) - 1} more files)" if len(others) > 1 else ""
        raise CorpusError(
            f"{f}: {KIND_NAMES[k]}, but {first} is {KIND_NAMES[first_kind]}{more}: a corpus is "
            f"of one kind (leave such files out, or give --kind text to read every file as "
            f"plain text)"
        )
    return first_kind


def load_files(paths: Sequence[Path], kind: Kind | None = None) -> tuple[list[Piece], Kind]:
    """Read files and folders (recursively), skipping files that are not text; the kind is
    detected per file and must be the same for all, unless ``kind`` is given."""
    texts = read_texts(paths)
    if kind is None:
        kind = corpus_kind(texts)
    pieces: list[Piece] = []
    fruitless: list[tuple[Path, str]] = []
    for f, t in texts:
        if kind == "stave" and t.strip() and not stavetext.is_stave_text(t):
            # ABC or prose read as stave text would train a model that writes no stave text
            raise CorpusError(
                f"{f}: not stave text ({KIND_NAMES[detect_kind(t)]}), but --kind stave was "
                "given (leave it out to detect the kind, or give --kind text)"
            )
        found = split_pieces(t, str(f), kind)
        if not found:
            fruitless.append((f, f"no {KIND_NAMES[kind]} piece"))
        pieces.extend(found)
    note_skipped(f"read as {KIND_NAMES[kind]}", fruitless)
    if not pieces:
        raise CorpusError(f"no {KIND_NAMES[kind]} pieces in {', '.join(map(str, paths))}")
    return pieces, kind


def resolved_spec(spec: Sequence[str]) -> list[str]:
    """A corpus spec with its files and folders made absolute (names of built-in corpora kept)."""
    return [s if s in BUILTIN_CORPORA else str(Path(s).resolve()) for s in spec]


def load_music21_abc() -> list[Piece]:
    """Every tune in the ABC files bundled with the installed music21 (about 13,000)."""
    paths = music21_abc_paths()
    if not paths:
        raise CorpusError("the installed music21 has no bundled ABC corpus")
    root = paths[0].parents[1]
    return [p for path in paths for p in split_abc(read_text(path), str(path.relative_to(root)))]


def load_music21_stave(limit: int | None = None, seed: int = 0) -> list[Piece]:
    """Melodies of the bundled ABC tunes converted to stave text (slow: music21 parses each).

    Tunes that music21 cannot parse or that hold no single melody are left out.
    """
    from stave import melody  # music21 is loaded only for this corpus

    tunes = load_music21_abc()
    random.Random(seed).shuffle(tunes)
    pieces: list[Piece] = []
    for tune in tunes:
        if limit is not None and len(pieces) >= limit:
            break
        try:
            text = melody.abc_to_stave_text(tune.text)
        except melody.ConversionError:
            continue
        if text:
            pieces.append(Piece(text, tune.source))
    return pieces


def abc2midi_accepts(abc_file: Path, out_dir: Path, abc2midi: str = "abc2midi") -> tuple[bool, str]:
    """Does abc2midi accept the tune?  It must exit 0, report no error and write a MIDI file.

    Returns the verdict and what abc2midi printed.  ``FileNotFoundError`` when it is not
    installed (Debian package ``abcmidi``).
    """
    mid = out_dir / (abc_file.stem + ".mid")
    mid.unlink(missing_ok=True)  # an earlier tune's MIDI file is no proof of this one
    proc = subprocess.run(
        [abc2midi, str(abc_file), "-o", str(mid)],
        capture_output=True,
        encoding="utf-8",
        errors="replace",  # it echoes the tune's bytes, which need not be UTF-8
        timeout=60,
    )
    output = proc.stdout + proc.stderr
    ok = proc.returncode == 0 and "Error" not in output and mid.exists() and mid.stat().st_size > 0
    return ok, output


def abc2midi_accepts_text(text: str, folder: Path, name: str = "tune") -> bool:
    """``abc2midi_accepts`` for ABC text, written to ``folder/NAME.abc`` first."""
    path = folder / f"{name}.abc"
    path.write_text(text, encoding="utf-8")
    return abc2midi_accepts(path, folder)[0]


def abc2midi_valid(pieces: list[Piece], jobs: int = 2) -> list[Piece]:
    """The ABC pieces ``abc2midi_accepts`` passes (some 7% of music21's corpus fails: bowing
    marks it does not know, hornpipes outside 2/4 and 4/4, ties to nothing, unclosed repeats).
    ``FileNotFoundError`` when abc2midi is not installed."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)

        def accepted(item: tuple[int, Piece]) -> bool:
            return abc2midi_accepts_text(item[1].text, folder, str(item[0]))

        with ThreadPoolExecutor(max(1, jobs)) as pool:
            verdicts = list(pool.map(accepted, enumerate(pieces)))
    return [p for p, ok in zip(pieces, verdicts, strict=True) if ok]


def load(
    spec: Sequence[str], kind: Kind | None = None, limit: int | None = None, seed: int = 0
) -> tuple[list[Piece], Kind]:
    """A corpus by name (``music21-abc``, ``music21-stave``), by files and folders, or both
    (see ``load_parts``), as one list of pieces.

    ``limit`` only saves work for ``music21-stave`` (conversion stops once it has enough);
    callers cut other corpora themselves.
    """
    parts, found = load_parts(spec, kind, limit, seed)
    return [p for _, pieces in parts for p in pieces], found


def load_parts(
    spec: Sequence[str], kind: Kind | None = None, limit: int | None = None, seed: int = 0
) -> tuple[list[tuple[str, list[Piece]]], Kind]:
    """A corpus as its parts, each (name, pieces): every built-in corpus named in ``spec``
    is a part of that name, and the files and folders in it are one part, named after
    their common folder (or the one file or folder given).  All parts must be of one kind.

    A part alone is read as it is read unmixed (the same pieces in the same order), so its
    split into training and validation pieces is the same too (``tunes_not_in`` then
    takes out the tunes two parts share).
    """
    paths = [Path(s) for s in spec if s not in BUILTIN_CORPORA]
    parts: list[tuple[str, list[Piece], Kind]] = []
    for name in dict.fromkeys(s for s in spec if s in BUILTIN_CORPORA):
        if name == MUSIC21_ABC:
            parts.append((name, load_music21_abc(), "abc"))
        else:
            parts.append((name, load_music21_stave(limit, seed), "stave"))
    if paths:
        pieces, found = load_files(paths, kind)
        where = paths[0] if len(paths) == 1 else Path(os.path.commonpath(paths))
        parts.append((where.stem or "files", pieces, found))
    kinds = {k for _, _, k in parts}
    if len(kinds) > 1:
        shown = ", ".join(f"{n} is {KIND_NAMES[k]}" for n, _, k in parts)
        raise CorpusError(f"a corpus is of one kind: {shown}")
    return [(n, p) for n, p, _ in parts], parts[0][2]


def tunes_not_in(pieces: Sequence[Piece], others: Sequence[Piece]) -> list[Piece]:
    """The ABC tunes of ``pieces`` that no tune of ``others`` has the title, metre and key
    of (music21 bundles a few tunes of the Nottingham Music Database, for one)."""
    taken = {_tune_identity(p.text) for p in others} - {None}
    return [p for p in pieces if _tune_identity(p.text) not in taken]


def _field(text: str, name: str) -> str:
    found = re.search(rf"^{name}:[ \t]*(.*?)[ \t]*$", text, re.MULTILINE)
    return found.group(1).casefold() if found else ""


def _tune_identity(text: str) -> tuple[str, str, str] | None:
    """An ABC tune's title, metre and key (None for a tune with no title)."""
    title = _field(text, "T")
    return (title, _field(text, "M"), _field(text, "K")) if title else None


def split_train_val(
    pieces: Sequence[Piece], val_fraction: float = 0.05, seed: int = 0
) -> tuple[list[Piece], list[Piece]]:
    """Whole pieces to validation, chosen by a seeded shuffle; at least one each side."""
    if len(pieces) < 2:
        raise CorpusError(f"need at least 2 pieces to split off validation, got {len(pieces)}")
    order = list(range(len(pieces)))
    random.Random(seed).shuffle(order)
    n_val = min(max(1, round(len(pieces) * val_fraction)), len(pieces) - 1)
    val_idx = set(order[:n_val])
    train = [p for i, p in enumerate(pieces) if i not in val_idx]
    val = [p for i, p in enumerate(pieces) if i in val_idx]
    return train, val
