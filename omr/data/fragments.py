"""Clean staves' music: one-to-four-bar fragments of real melodies from music21's corpus.

Pieces come from the corpus bundled with music21 (ABC folk tunes, Bach chorales in MusicXML,
Palestrina and Beethoven in Humdrum), each part that is a single melody in a treble, bass,
alto or tenor clef.  Half the fragments are transposed to a random key signature, so every key
from seven flats to seven sharps occurs.  The truth is the stave text of the fragment, made by
``stave.melody`` from the same music21 objects.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from music21 import chord, clef, converter, harmony, interval, pitch, stream

from omr.data.synth import beat_quarters
from stave import melody
from stave.abc import music21_abc_paths, read_text, split_abc
from stave.stavetext import CLEFS, Bar, Clef, Key, Note, Rest, Time, Token

# Share of pieces drawn from each source (the rest of the corpus is small or polyphonic).
SOURCE_MIX: dict[str, float] = {"abc": 0.55, "bach": 0.25, "palestrina": 0.12, "other": 0.08}


@dataclass(frozen=True)
class PieceRef:
    """A piece in music21's corpus: a file, and the tune number within an ABC file."""

    path: str  # relative to music21's corpus folder
    tune: int = 0  # 1-based for ABC collections, 0 for single-piece files

    @property
    def name(self) -> str:
        return f"{self.path}#{self.tune}" if self.tune else self.path


@dataclass
class Fragment:
    piece: str
    tokens: tuple[Token, ...]
    beat_quarters: float  # for beaming: 1.5 in compound metres (``synth.beat_quarters``)
    source: stream.Stream | None = None  # the music21 measures it came from (keep_source)


@functools.cache
def _corpus_root() -> Path:
    return music21_abc_paths()[0].parents[1]


@functools.cache
def catalogue() -> dict[str, list[PieceRef]]:
    """Every usable piece, by source."""
    from music21 import corpus

    root = _corpus_root()
    abc: list[PieceRef] = []
    for path in music21_abc_paths():
        rel = str(path.relative_to(root))
        n = len(split_abc(read_text(path), rel))
        abc.extend(PieceRef(rel, i + 1) for i in range(n))
    xml = [
        str(Path(p).relative_to(root))
        for p in corpus.getPaths(fileExtensions=["mxl", "xml", "musicxml"])
    ]
    krn = [str(Path(p).relative_to(root)) for p in corpus.getPaths(fileExtensions=["krn"])]
    return {
        "abc": abc,
        "bach": [PieceRef(p) for p in xml if p.startswith("bach/")],
        "palestrina": [PieceRef(p) for p in krn if p.startswith("palestrina/")],
        "other": [
            PieceRef(p)
            for p in xml + krn
            if not p.startswith(("bach/", "palestrina/", "demos/", "theoryExercises/"))
        ],
    }


def choose_pieces(count: int, seed: int, exclude: Sequence[str] = ()) -> list[PieceRef]:
    """``count`` distinct pieces drawn by the source mix, deterministically from ``seed``."""
    rng = random.Random(seed)
    cat = {k: list(v) for k, v in catalogue().items()}
    skip = set(exclude)
    pools = {k: [p for p in v if p.name not in skip] for k, v in cat.items()}
    for pool in pools.values():
        rng.shuffle(pool)
    chosen: list[PieceRef] = []
    names, weights = list(SOURCE_MIX), list(SOURCE_MIX.values())
    while len(chosen) < count and any(pools.values()):
        source = rng.choices(names, weights)[0]
        if pools[source]:
            chosen.append(pools[source].pop())
    return chosen


def load_piece(ref: PieceRef) -> stream.Score:
    path = _corpus_root() / ref.path
    if ref.tune:
        tunes = split_abc(read_text(path), ref.path)
        return melody.parse_abc(tunes[ref.tune - 1].text)
    parsed = converter.parse(path)
    if isinstance(parsed, stream.Opus):
        parsed = parsed.scores[0]
    if not isinstance(parsed, stream.Score):
        parsed = stream.Score([parsed])
    return parsed


def _is_melody(part: stream.Stream) -> bool:
    if part.recurse().getElementsByClass(stream.Voice):
        return False
    if any(
        len(c.pitches) > 1 and not isinstance(c, harmony.Harmony)
        for c in part.recurse().getElementsByClass(chord.Chord)
    ):
        return False
    for c in part.recurse().getElementsByClass(clef.Clef):
        if c.octaveChange or f"{c.sign}{c.line}" not in CLEFS:
            return False
    return bool(part.recurse().notes)


def _transpose_to_key(part: stream.Stream, fifths_now: int, target: int) -> stream.Stream:
    """Transpose so the key signature becomes ``target`` (by fifths, within a tritone)."""
    p = pitch.Pitch("C4")
    for _ in range(abs(target - fifths_now)):
        p = p.transpose("P5" if target > fifths_now else "-P5")
    while p.midi - 60 > 6:
        p.octave = (p.octave or 4) - 1
    while p.midi - 60 < -6:
        p.octave = (p.octave or 4) + 1
    return part.transpose(interval.Interval(pitch.Pitch("C4"), p), inPlace=False)


def _join(bars: Sequence[list[Token]]) -> tuple[Token, ...]:
    """One-bar stave lines joined into one line; repeated headers dropped, changes kept."""
    out: list[Token] = list(bars[0])
    clef_now = next(t for t in bars[0] if isinstance(t, Clef))
    key_now = next(t for t in bars[0] if isinstance(t, Key))
    for bar in bars[1:]:
        for tok in bar:
            if isinstance(tok, Clef):
                if tok != clef_now:
                    out.append(tok)
                clef_now = tok
            elif isinstance(tok, Key):
                if tok != key_now:
                    out.append(tok)
                key_now = tok
            else:
                out.append(tok)
    return tuple(out)


def _sounding_measures(part: stream.Stream) -> list[stream.Measure]:
    """The measures ``stream_to_staves`` writes a bar for: those with a note or rest."""
    return [
        m
        for m in part.getElementsByClass(stream.Measure)
        if any(not n.duration.isGrace and n.quarterLength > 0 for n in m.recurse().notesAndRests)
    ]


def piece_fragments(
    ref: PieceRef, count: int, seed: int, keep_source: bool = False
) -> list[Fragment]:
    """Up to ``count`` fragments of one piece (from its melodic parts); none if unusable.

    With ``keep_source`` each fragment also carries the music21 measures it was cut from
    (with the clef, key and time in force), so its truth can be checked against them.
    """
    rng = random.Random(f"{seed}:{ref.name}")
    try:
        parsed = load_piece(ref)
    except Exception:  # music21 fails in many ways on odd corpus files
        return []
    parts = [p for p in (parsed.parts or [parsed]) if _is_melody(p)]
    if not parts:
        return []
    out: list[Fragment] = []
    for _ in range(count * 3):
        if len(out) >= count:
            break
        part: stream.Stream = rng.choice(parts)
        transposed = rng.random() < 0.5
        try:
            if transposed:
                keys = part.recurse().getElementsByClass("KeySignature")
                now = int(keys[0].sharps) if keys else 0
                part = _transpose_to_key(part, now, rng.randint(-7, 7))
            bars = melody.stream_to_staves(part, bars_per_line=1, follow_breaks=False)
        except Exception:  # music21 and unprintable pitches: try another
            continue
        bars = [b for b in bars if any(isinstance(t, (Note, Rest)) for t in b)]
        if not bars:
            continue
        k = rng.randint(1, 4)
        start = rng.randrange(max(1, len(bars) - k + 1))
        tokens = _join(bars[start : start + k])
        if not any(isinstance(t, Bar) for t in tokens):
            continue
        doubles = any(isinstance(t, Note) and t.accidental in (-2, 2) for t in tokens)
        if transposed and doubles and rng.random() < 0.8:
            continue  # transposing chromatic music spells double sharps real music rarely has
        time = next(
            (t for b in reversed(bars[: start + 1]) for t in reversed(b) if isinstance(t, Time)),
            None,
        )
        source = None
        if keep_source:
            measures = _sounding_measures(part)
            if len(measures) != len(bars):
                continue  # cannot tell which measures the bars came from: no checkable source
            first = part.getElementsByClass(stream.Measure).index(measures[start])
            last = part.getElementsByClass(stream.Measure).index(
                measures[start + len(bars[start : start + k]) - 1]
            )
            source = part.measures(first, last + 1, indicesNotNumbers=True)  # end exclusive
        out.append(Fragment(ref.name, tokens, beat_quarters(time), source))
    return out
