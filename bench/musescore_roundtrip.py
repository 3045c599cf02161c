"""Is the MusicXML stavegen writes the music of the stave text, as MuseScore 3 reads it?

    python bench/musescore_roundtrip.py                    # 200 staves of each source
    python bench/musescore_roundtrip.py --staves 50 --sources sampled

For each piece: stave text -> MusicXML (``stave.musicxml``) -> MuseScore 3 opens it and
exports MusicXML again (``mscore3 -o back.musicxml``) -> music21 reads both.  Counted:
the accidentals the stave text prints, the ``<accidental>`` elements of our MusicXML, and the
pieces whose notes (pitch and duration, in order) MuseScore keeps.  Sources: ``melodies``
(music21's ABC tunes as stave text, which prints accidentals wherever the key and the bar
do not give the pitch), ``sampled`` (staves the shipped stave-text model writes) and
``read`` (staves the OMR reads from the CPMS camera photos in ``--photos``) and
``synthesized`` (the OMR's random training staves, dense with accidentals and clefs).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from music21 import converter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stave import melody, musicxml, stavetext  # noqa: E402


def melodies(staves: int) -> list[str]:
    from generate.charlstm.corpus import load_music21_abc

    out: list[str] = []
    count = 0
    for tune in load_music21_abc()[::25]:
        if count >= staves:
            break
        try:
            text = melody.abc_to_stave_text(tune.text)
        except musicxml.ConversionError:
            continue
        out.append(text)
        count += len(text.splitlines())
    return out


def sampled(staves: int) -> list[str]:
    from generate.charlstm.sampling import draw
    from generate.checkpoint import default_checkpoint, load_char_lstm

    model, ckpt = load_char_lstm(default_checkpoint("stave"))
    out: list[str] = []
    count, seed = 0, 0
    while count < staves:
        for text in draw(model, ckpt.vocab, "stave", 16, 1500, 0.8, seed=seed):
            try:
                musicxml.text_to_score(text)
            except (musicxml.ConversionError, stavetext.StaveTextError):
                continue
            out.append(text)
            count += len(text.splitlines())
        seed += 1
    return out


def read(staves: int, photos: Path) -> list[str]:
    """Staves the OMR reads (``omr.extract``, shipped recognizer) from camera photos."""
    from omr.read.pipeline import extract
    from omr.read.recognize import StaveReader

    files = sorted(photos.glob("*.jpg"))
    files = files[:: max(1, len(files) // staves)][:staves]  # spread over all pieces
    with tempfile.TemporaryDirectory() as tmp:
        extract(files, Path(tmp), StaveReader.load(), jobs=2, progress=False)
        return [
            t
            for f in sorted(Path(tmp).glob("*.txt"))
            if f.name != "corpus.txt"
            if (t := f.read_text().strip())
        ]


def synthesized(staves: int) -> list[str]:
    """The OMR's synthesized staves (``omr.data.synth``): random clefs, keys, durations
    and accidentals, the hardest case for printing exactly the printed ones; 4 a piece."""
    import numpy as np

    from omr.data.synth import random_stave

    rng = np.random.default_rng(0)
    lines = [stavetext.write_line(random_stave(rng)[0]) for _ in range(staves)]
    return ["\n".join(lines[k : k + 4]) for k in range(0, len(lines), 4)]


def notes(path: Path) -> list[tuple[str, float]]:
    score = converter.parse(path)
    return [
        (" ".join(p.nameWithOctave for p in n.pitches), float(n.quarterLength))
        for n in score.flatten().notes
    ]


def check(pieces: list[str], folder: Path) -> tuple[int, int, int, int, int]:
    """(staves, printed accidentals, MusicXML accidentals, pieces kept, pieces)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(folder))
    staves = printed = written = kept = 0
    for i, text in enumerate(pieces):
        lines = [stavetext.parse_line(t) for t in text.splitlines()]
        staves += len(lines)
        printed += sum(
            1
            for line in lines
            for t in line
            if isinstance(t, stavetext.Note) and t.accidental is not None
        )
        ours = musicxml.write_score(
            musicxml.staves_to_score(lines), folder / f"p{i}", ("musicxml",)
        )[0]
        written += len(re.findall(r"<accidental[ >]", ours.read_text()))
        back = folder / f"p{i}-back.musicxml"
        subprocess.run(
            ["mscore3", "-o", str(back), str(ours)], capture_output=True, env=env, timeout=120
        )
        if back.exists() and notes(back) == notes(ours):
            kept += 1
        elif back.exists():
            print(
                f"piece {i}: MuseScore changed the notes; first line: {text.splitlines()[0][:80]}"
            )
        else:
            print(f"piece {i}: MuseScore wrote nothing")
    return staves, printed, written, kept, len(pieces)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--staves", type=int, default=200, help="staves per source")
    p.add_argument(
        "--sources",
        nargs="+",
        choices=("melodies", "synthesized", "sampled", "read"),
        default=["melodies", "synthesized", "sampled", "read"],
    )
    p.add_argument(
        "--photos",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "cpms-train",
        help="camera photos for the 'read' source (default: %(default)s)",
    )
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for source in args.sources:
            if source == "melodies":
                pieces = melodies(args.staves)
            elif source == "synthesized":
                pieces = synthesized(args.staves)
            elif source == "sampled":
                pieces = sampled(args.staves)
            else:
                pieces = read(args.staves, args.photos)
            staves, printed, written, kept, total = check(pieces, Path(tmp))
            print(
                f"{source}: staves={staves} printed_accidentals={printed} "
                f"musicxml_accidentals={written} musescore_kept={kept}/{total}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
