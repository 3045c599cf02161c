"""Do stavegen's MIDI files of ABC tunes play the notes abc2midi plays?

    python bench/abc_oracle.py                       # 30 held-out tunes of music21's corpus
    python bench/abc_oracle.py --num 100 --source nottingham
    python bench/abc_oracle.py --tune FILE.abc       # one file, every difference shown

For each tune, both MIDI files are read back with mido and their melody compared as the
sequence of (onset, pitch) (chords: every note; abc2midi's accompaniment track from chord
symbols is left out).  Prints one line per tune that differs and, last,
``same_pitches=K/N same_timing=K/N``.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import mido

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generate.charlstm import corpus  # noqa: E402
from stave import abc as abc_text  # noqa: E402
from stave import convert, musicxml  # noqa: E402

NOTTINGHAM = ROOT.parent / "shared" / "data" / "nottingham-train"


def melody_notes(path: Path) -> list[tuple[float, int]]:
    """(onset in beats, pitch) of the first track that holds notes on channel 0 (abc2midi's
    melody; music21's one part), by onset then pitch."""
    mid = mido.MidiFile(str(path))
    for track in mid.tracks:
        now = 0
        notes = []
        for msg in track:
            now += msg.time
            if msg.type == "note_on" and msg.velocity > 0 and msg.channel == 0:
                notes.append((now / mid.ticks_per_beat, msg.note))
        if notes:
            # abc2midi staggers a chord's notes by 10 ticks in written order: notes within
            # a twentieth of a beat of the first are one onset, sorted by pitch
            notes.sort()
            start = notes[0][0]
            grouped = []
            for t, p in notes:
                start = start if t - start < 0.05 else t
                grouped.append((start, p))
            return sorted(grouped)
    return []


def musescore_midi(musicxml_file: Path, out: Path) -> Path:
    """MuseScore 3 plays a MusicXML file into MIDI (repeats as it reads them)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    subprocess.run(
        ["mscore3", "-o", str(out), str(musicxml_file)], capture_output=True, timeout=120, env=env
    )
    return out


def compare(text: str, folder: Path, name: str, musescore: bool = False) -> tuple[bool, bool, str]:
    """(same pitch sequence, same onsets too, what differs); with ``musescore``, MuseScore's
    playing of stavegen's MusicXML is compared with abc2midi instead of stavegen's MIDI."""
    abc_file = folder / f"{name}.abc"
    abc_file.write_text(text + "\n", encoding="utf-8")
    theirs = folder / f"{name}-abc2midi.mid"
    subprocess.run(["abc2midi", str(abc_file), "-o", str(theirs)], capture_output=True, timeout=60)
    if not theirs.exists():
        return False, False, "abc2midi wrote nothing"
    try:
        formats = ("musicxml",) if musescore else ("mid",)
        ours = convert.write(convert.from_abc(text), folder / f"{name}-ours", formats)[0]
    except musicxml.ConversionError as err:
        return False, False, f"stavegen: {err}"
    if musescore:
        ours = musescore_midi(ours, folder / f"{name}-musescore.mid")
        if not ours.exists():
            return False, False, "MuseScore wrote nothing"
    return same_notes(melody_notes(theirs), melody_notes(ours))


def same_notes(a: list[tuple[float, int]], b: list[tuple[float, int]]) -> tuple[bool, bool, str]:
    pa, pb = [p for _, p in a], [p for _, p in b]
    if pa == pb:
        t0a, t0b = a[0][0], b[0][0]
        pairs = zip(a, b, strict=True)
        same_time = all(abs((x - t0a) - (y - t0b)) < 0.02 for (x, _), (y, _) in pairs)
        return True, same_time, "" if same_time else "onsets differ"
    diffs = (k for k, (x, y) in enumerate(zip(pa, pb, strict=False)) if x != y)
    i = next(diffs, min(len(pa), len(pb)))
    return (
        False,
        False,
        (
            f"abc2midi {len(pa)} notes, stavegen {len(pb)}; first difference at note {i}: "
            f"{pa[i : i + 6]} vs {pb[i : i + 6]}"
        ),
    )


def tunes(source: str, num: int, seed: int) -> list[abc_text.Piece]:
    if source == "music21-val":
        # The 5% of music21's tunes the shipped ABC model was validated on (never trained on).
        _, val = corpus.split_train_val(corpus.load_music21_abc(), 0.05, 0)
        pool = val
    else:
        pool = [
            p
            for f in sorted(NOTTINGHAM.glob("*.abc"))
            for p in abc_text.split_abc(abc_text.read_text(f), f.name)
        ]
    return random.Random(seed).sample(pool, min(num, len(pool)))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--source", choices=("music21-val", "nottingham"), default="music21-val")
    p.add_argument("--num", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tune", type=Path, help="one ABC file instead")
    p.add_argument(
        "--musescore",
        action="store_true",
        help="compare MuseScore 3's playing of stavegen's MusicXML with abc2midi instead",
    )
    args = p.parse_args()
    chosen = (
        [abc_text.Piece(abc_text.read_text(args.tune).strip(), str(args.tune))]
        if args.tune
        else tunes(args.source, args.num, args.seed)
    )
    same = timed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, tune in enumerate(chosen):
            ok, ok_time, why = compare(tune.text, Path(tmp), f"t{i}", args.musescore)
            same += ok
            timed += ok_time
            if not ok_time:
                print(f"{tune.source}: {why}")
    print(f"same_pitches={same}/{len(chosen)} same_timing={timed}/{len(chosen)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
