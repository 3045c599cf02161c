"""The MIDI models' data: pieces as event arrays or piano rolls, prepared once into
``OUT/data.npz``; the split into training and validation pieces; random training windows.

``data.npz`` records what it was made from (``data_source``, and the files' names, sizes and
times or music21's version), so that a new run in a folder where an earlier one failed never
trains on that run's data: it is reused only when it was made from the same inputs.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from generate.midi.events import PITCH_CENTRE, PITCH_SCALE, ROLL_STEPS_PER_BEAT, event_array
from generate.midi.gan import BAR_STEPS, METRES, VOICES
from generate.midi.io import (
    KEYS,
    LOWEST,
    NoteEvent,
    midi_files,
    music21_pieces,
    piano_roll,
    read_midi_folder,
)
from stave import atomic
from stave.training import writing

RECORD_KEY = "source"  # data.npz's record of its inputs; the pieces are p00000, p00001, ...


def chordified_rolls(limit: int | None = None, progress: bool = True) -> list[np.ndarray]:
    """The default GAN data: music21's Bach chorales, chordified, as rolls (T, 88)."""
    from music21 import chord, corpus

    rolls = []
    paths = sorted(str(p) for p in corpus.getComposer("bach"))[:limit]
    for path in tqdm(paths, desc="Bach chorales", unit="piece", disable=not progress):
        try:
            chords = corpus.parse(path).chordify().flatten().getElementsByClass(chord.Chord)
            notes = [
                NoteEvent(p.midi, 80, float(c.offset), float(c.quarterLength))
                for c in chords
                for p in c.pitches
            ]
        except Exception as err:  # a corpus file music21 cannot read: leave it out
            tqdm.write(f"skipped: {path}: {type(err).__name__}: {err}", file=sys.stderr)
            continue
        if notes:
            rolls.append(piano_roll(notes, ROLL_STEPS_PER_BEAT))
    return rolls


SILENT = KEYS  # a voice's value at a step where it does not sound


SUNG = ("soprano", "alto", "tenor", "bass")  # the four voices, top first


def sung_parts(names: Sequence[str]) -> list[int] | None:
    """Which of a score's parts (by their names) are its four sung voices, soprano first: all
    of them in a score of four parts; in a score with instruments too (horns, trumpets,
    timpani, strings: 39 of the 404 chorales used have more than four parts), the
    one part whose name begins with each voice's name.  None where a voice has no part or
    more than one (``Soprano 1``, ``Soprano 2``)."""
    if len(names) == VOICES:
        return list(range(VOICES))
    chosen = []
    for voice in SUNG:
        # A name may list the instruments doubling the voice on further lines: "Bass" and
        # "Bass\rContinuo" are the bass, "Bassoon" and "Basso continuo" are not.
        matches = [i for i, n in enumerate(names) if re.match(rf"{voice}\b", n.strip().lower())]
        if len(matches) != 1:
            return None
        chosen.append(matches[0])
    return chosen


# The corpus's other four-part vocal music (``--corpus four-part``): Palestrina's mass
# movements for soprano, alto, tenor and bass in 4/2 or 3/2, their note values halved so that
# a bar of 4/2 is one of 4/4 (its quarters eighths), as the chorales' bars are drawn.
HALVED = {"4/2": "4/4", "3/2": "3/4"}
CORPORA = ("chorales", "four-part")


def chorale_voices(
    limit: int | None = None, key_normalised: bool = True, progress: bool = True
) -> list[np.ndarray]:
    """The voice GAN's data: music21's Bach chorales in 4/4 or in 3/4, each as (bars,
    eighths per bar, 4) uint8, the key (0-87, ``SILENT`` for none) each of its four sung
    voices (``sung_parts``) sounds at each eighth, soprano first; a pickup is preceded by
    silence, and the last bar is filled with it.  ``key_normalised``: each chorale
    transposed by the fewest semitones that take its key signature to none (C major or A
    minor).  Chorales that change metre or are in another (6 of them) are left out."""
    from music21 import corpus

    paths = sorted(str(p) for p in corpus.getComposer("bach"))[:limit]
    return _voices(paths, "Bach chorales", key_normalised, progress, halved=False)


def palestrina_voices(
    limit: int | None = None, key_normalised: bool = True, progress: bool = True
) -> list[np.ndarray]:
    """Palestrina's four-part mass movements in music21's corpus whose parts are named
    Soprano, Alto, Tenor and Bass (329: 290 in 4/2, 39 in 3/2), as ``chorale_voices`` gives
    the chorales, note values halved (``HALVED``)."""
    from music21 import corpus

    # music21's own metadata, without parsing; the number itself (typed as text, but "4"
    # finds nothing)
    found = corpus.search(VOICES, "numberOfParts")  # type: ignore[arg-type]
    paths = sorted(str(r.sourcePath) for r in found if str(r.sourcePath).startswith("palestrina"))
    return _voices(paths[:limit], "Palestrina", key_normalised, progress, halved=True)


def corpus_voices(
    which: str, limit: int | None = None, key_normalised: bool = True, progress: bool = True
) -> list[np.ndarray]:
    """The voice GAN's data of ``which`` of ``CORPORA``: the chorales, or the chorales and
    Palestrina's movements (``limit``: of each)."""
    pieces = chorale_voices(limit, key_normalised, progress)
    if which == "four-part":
        pieces += palestrina_voices(limit, key_normalised, progress)
    return pieces


def _voices(
    paths: list[str], desc: str, key_normalised: bool, progress: bool, halved: bool
) -> list[np.ndarray]:
    """The four-part pieces of ``paths`` (corpus paths) as bars of voices (see
    ``chorale_voices``); with ``halved``, only pieces of four parts named for the voices,
    in a metre of ``HALVED``, their note values halved."""
    from music21 import corpus, key, meter, stream

    pieces = []
    for path in tqdm(paths, desc=desc, unit="piece", disable=not progress):
        try:
            score = corpus.parse(path)
            metres = {
                m.ratioString for m in score.recurse().getElementsByClass(meter.TimeSignature)
            }
            names = [p.partName or "" for p in score.parts]
            chosen = sung_parts(names)
            if halved:  # in its own names, top first
                named = [n.strip().lower() for n in names] == list(SUNG)
                chosen = chosen if named else None
                metres = {HALVED.get(m, m + " (not halved)") for m in metres}
            if chosen is None or len(metres) != 1 or next(iter(metres)) not in METRES:
                continue
            bar = METRES[next(iter(metres))]
            scale = ROLL_STEPS_PER_BEAT / (2 if halved else 1)  # steps per quarter
            parts = [score.parts[i] for i in chosen]
            signature = parts[0].recurse().getElementsByClass(key.KeySignature).first()
            shift = 0
            if key_normalised and signature is not None:
                shift = -((signature.sharps * 7) % 12)  # semitones down to C
                shift += 12 if shift < -6 else 0  # the nearer way
            bar_one = parts[0].getElementsByClass(stream.Measure).first()
            # A pickup bar is preceded by the rest of its bar (music21 numbers it 0 or 1).
            pad = float(bar_one.paddingLeft) if bar_one is not None else 0.0
            steps = int(np.ceil((float(score.highestTime) + pad) * scale))
            steps = -(-steps // bar) * bar  # whole bars
            voices = np.full((steps, VOICES), SILENT, np.uint8)
            for v, part in enumerate(parts):
                for n in part.flatten().notes:
                    top = max(p.midi for p in n.pitches) + shift
                    start = float(n.offset) + pad
                    # Halves round up, so a note half a step long after one on the step
                    # does not take the step from it.
                    a = int(np.floor(start * scale + 0.5))
                    b = max(a + 1, int(np.floor((start + float(n.quarterLength)) * scale + 0.5)))
                    if LOWEST <= top < LOWEST + KEYS:
                        voices[a:b, v] = top - LOWEST
        except Exception as err:  # a corpus file music21 cannot read: leave it out
            tqdm.write(f"skipped: {path}: {type(err).__name__}: {err}", file=sys.stderr)
            continue
        pieces.append(voices.reshape(-1, bar, VOICES))
    return pieces


def voice_bars(voices: np.ndarray) -> np.ndarray:
    """A chorale of ``chorale_voices`` as (bars, eighths per bar, 4); one prepared before
    there were metres, (T, 4) in 4/4, as its whole bars of 4/4 (the segments a run of then
    drew, so that it resumes drawing the same)."""
    if voices.ndim == 3:
        return voices
    return voices[: len(voices) // BAR_STEPS * BAR_STEPS].reshape(-1, BAR_STEPS, VOICES)


def voice_roll(voices: np.ndarray) -> np.ndarray:
    """(T, 4) voices -> (T, 88) binary piano roll (a key sounds when any voice has it)."""
    roll = np.zeros((len(voices), KEYS + 1), np.uint8)
    np.put_along_axis(roll, voices.astype(np.int64), 1, axis=1)
    return roll[:, :KEYS]


PIECES = {  # what a run's data.npz holds, by model and network design
    ("midi-lstm", "seed"): "events",  # notes in order of time, then pitch upwards
    ("midi-lstm", "softmax"): "events top first",  # notes in order of time, then downwards
    ("chord-gan", "seed"): "rolls",  # chordified
    ("chord-gan", "voices"): "voices",
}


def data_source(
    model: str,
    midi_dir: Path | None,
    max_pieces: int | None,
    arch: str = "seed",
    key_normalised: bool = False,
    corpus: str = "chorales",
) -> dict[str, Any]:
    """What a run's data is made from: which kind of pieces (``PIECES``), of which MIDI
    folder (absolute; None: the Bach chorales of music21), at most how many pieces, and
    (voices only) whether each is transposed to no key signature and, where it is not the
    chorales alone, which of ``CORPORA``."""
    source = {
        "pieces": PIECES[model, arch],
        "midi_dir": None if midi_dir is None else str(Path(midi_dir).resolve()),
        "max_pieces": max_pieces,
    }
    if source["pieces"] == "voices":
        source["key_normalised"] = key_normalised
        if corpus != "chorales":  # the records of runs on the chorales alone, as they were
            source["corpus"] = corpus
    return source


def _inputs(midi_dir: Path | None, kind: str) -> list[Any]:
    """What the data is read from, as far as it can change: each MIDI file's name, size and
    modification time, or music21's version for its corpus (for the voice GAN, with a mark
    of how its parts are chosen: a data.npz without it is made again for a new run)."""
    if midi_dir is None:
        import music21

        if kind == "voices":  # a data.npz from before the sung parts were picked by name,
            # or before the chorales in 3/4 were kept, is made again
            return ["music21", music21.__version__, "sung parts by name, bars of 4/4 and 3/4"]
        return ["music21", music21.__version__]
    return [
        [str(f.relative_to(midi_dir)), f.stat().st_size, f.stat().st_mtime_ns]
        for f in midi_files(midi_dir)
    ]


def _read_cache(cache: Path) -> tuple[list[np.ndarray], dict[str, Any] | None]:
    """The pieces of ``data.npz`` and its record (None in one written before records)."""
    try:
        with np.load(cache) as z:
            arrays = [z[k] for k in sorted(z.files) if k != RECORD_KEY]
            record = json.loads(str(z[RECORD_KEY])) if RECORD_KEY in z.files else None
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{cache}: damaged prepared data ({err}); delete it") from err
    return arrays, record


def _described(source: dict[str, Any]) -> str:
    where = source["midi_dir"] or "the Bach chorales of music21"
    if source.get("corpus") == "four-part":
        where += " and Palestrina's four-part movements"
    limit = "" if source["max_pieces"] is None else f", at most {source['max_pieces']} pieces"
    keys = ", transposed to C major or A minor" if source.get("key_normalised") else ""
    return f"{source['pieces']} of {where}{limit}{keys}"


def prepare(
    model: str,
    out: Path,
    midi_dir: Path | None,
    max_pieces: int | None,
    resume: bool = False,
    progress: bool = True,
    arch: str = "seed",
    key_normalised: bool = False,
    corpus: str = "chorales",
) -> list[np.ndarray]:
    """The run's data (cached in ``out/data.npz``): event arrays or rolls, one per piece.

    A resumed run reads its ``data.npz`` back (``ValueError`` when it was made from other
    data than the run's); a new run reuses one only when it was made from the same inputs,
    and makes it again otherwise.
    """
    cache = out / "data.npz"
    source = data_source(model, midi_dir, max_pieces, arch, key_normalised, corpus)
    kind = source["pieces"]
    if kind == "voices" and midi_dir is not None:
        raise ValueError(
            "the voice GAN reads four-part chorales from music21's corpus, not MIDI files "
            "(a MIDI file does not say which voice a note is in): use --arch seed with --midi-dir"
        )
    if midi_dir is not None and not Path(midi_dir).is_dir():
        raise ValueError(f"{midi_dir}: no such folder of MIDI files")
    if cache.exists():
        arrays, record = _read_cache(cache)
        if resume:
            if record is not None and record["source"] != source:
                raise ValueError(
                    f"{cache} holds {_described(record['source'])}, the run was trained on "
                    f"{_described(source)}"
                )
            return arrays
        if record == {"source": source, "inputs": _inputs(midi_dir, kind)}:
            print(f"reusing {cache}: made from the same inputs", file=sys.stderr)
            return arrays
        print(f"making {cache} again: it was made from other inputs", file=sys.stderr)
    elif resume:
        print(f"{cache} is missing: making it again from {_described(source)}", file=sys.stderr)
    if midi_dir is not None:
        if not midi_files(midi_dir):
            raise ValueError(f"{midi_dir}: no MIDI files (.mid, .midi) in it")
        pieces = read_midi_folder(midi_dir, progress)[:max_pieces]
        arrays = [
            event_array(p, kind == "events top first")
            if model == "midi-lstm"
            else piano_roll(p, ROLL_STEPS_PER_BEAT)
            for p in pieces
        ]
    elif model == "midi-lstm":
        arrays = [
            event_array(p, kind == "events top first") for p in music21_pieces(max_pieces, progress)
        ]
    elif kind == "voices":
        arrays = corpus_voices(corpus, max_pieces, key_normalised, progress)
    else:
        arrays = chordified_rolls(max_pieces, progress)
    arrays = [a for a in arrays if len(a) > 1]
    if not arrays:
        raise ValueError(f"no usable pieces in {_described(source)} (each needs two notes)")
    record = {"source": source, "inputs": _inputs(midi_dir, kind)}
    with writing(cache):
        out.mkdir(parents=True, exist_ok=True)
        with atomic.atomic_path(cache) as tmp, tmp.open("wb") as f:
            named: dict[str, Any] = {f"p{i:05d}": a for i, a in enumerate(arrays)}
            named[RECORD_KEY] = np.array(json.dumps(record))
            np.savez_compressed(f, **named)
    return arrays


def split(pieces: list[np.ndarray], fraction: float, seed: int) -> tuple[list, list]:
    order = np.random.default_rng(seed).permutation(len(pieces))
    n_val = round(fraction * len(pieces)) if len(pieces) > 1 else 0
    val = [pieces[i] for i in order[:n_val]]
    return [pieces[i] for i in order[n_val:]], val


def event_windows(
    pieces: list[np.ndarray],
    size: int,
    length: int,
    rng: np.random.Generator,
    transpose: int = 0,
) -> torch.Tensor:
    """(size, length + 1, 3) random windows of consecutive events (short pieces padded by
    repeating their end), each transposed by up to ``transpose`` semitones where its notes
    stay on the keyboard."""
    out = np.empty((size, length + 1, 3), np.float32)
    weights = np.array([len(p) for p in pieces], float)
    for i, j in enumerate(rng.choice(len(pieces), size, p=weights / weights.sum())):
        p = pieces[j]
        if len(p) <= length + 1:
            p = np.concatenate([p, np.repeat(p[-1:], length + 2 - len(p), axis=0)])
        a = int(rng.integers(0, len(p) - length))
        out[i] = p[a : a + length + 1]
        if transpose:
            shift = int(rng.integers(-transpose, transpose + 1))
            keys = out[i, :, 0] * PITCH_SCALE + PITCH_CENTRE + shift
            if keys.min() >= LOWEST and keys.max() < LOWEST + KEYS:
                out[i, :, 0] += shift / PITCH_SCALE
    return torch.from_numpy(out)


def roll_segments(
    rolls: list[np.ndarray], size: int, steps: int, transpose: int, rng: np.random.Generator
) -> torch.Tensor:
    """(size, steps, 88) segments at random times (a time shift), transposed by up to
    ``transpose`` semitones where the notes stay on the keyboard."""
    out = np.zeros((size, steps, KEYS), np.float32)
    usable = [r for r in rolls if len(r) >= steps]
    for i in range(size):
        r = usable[int(rng.integers(len(usable)))]
        a = int(rng.integers(0, len(r) - steps + 1))
        seg = r[a : a + steps]
        shift = int(rng.integers(-transpose, transpose + 1))
        keys = np.flatnonzero(seg.any(axis=0))
        if keys.size and keys.min() + shift >= 0 and keys.max() + shift < KEYS:
            seg = np.roll(seg, shift, axis=1)
        out[i] = seg
    return torch.from_numpy(out)


def voice_segments(
    pieces: list[np.ndarray],
    size: int,
    steps: int,
    transpose: int,
    rng: np.random.Generator,
    metre: int = BAR_STEPS,
) -> torch.Tensor:
    """(size, steps, 88) rolls of ``steps // 8`` bars of the four-part pieces in ``metre``
    (eighths per bar), each starting on a bar line and followed by silence to ``steps``
    where the bars are shorter than 4/4's, transposed by up to ``transpose`` semitones where
    the notes stay on the keyboard."""
    n = steps // BAR_STEPS  # bars
    out = np.zeros((size, steps, KEYS), np.float32)
    usable = [b for v in pieces for b in [voice_bars(v)] if b.shape[1] == metre and len(b) >= n]
    if not usable:
        raise ValueError(f"no piece has {n} bars of {metre} eighths")
    for i in range(size):
        v = usable[int(rng.integers(len(usable)))]
        a = int(rng.integers(0, len(v) - n + 1))
        roll = voice_roll(v[a : a + n].reshape(-1, VOICES))
        shift = int(rng.integers(-transpose, transpose + 1)) if transpose else 0
        keys = np.flatnonzero(roll.any(axis=0))
        if shift and keys.size and keys.min() + shift >= 0 and keys.max() + shift < KEYS:
            roll = np.roll(roll, shift, axis=1)
        out[i, : len(roll)] = roll
    return torch.from_numpy(out)
