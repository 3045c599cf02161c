"""ABC and stave text to MusicXML, MIDI, audio (and stave text): the one path every writer
uses (``python -m generate.convert``, samples, ``omr.extract``).

A piece is converted into two scores: the one **engraved** (MusicXML: repeat signs and
endings as printed, accidentals as printed) and the one **played** (MIDI and audio: repeats
and endings written out as abc2midi plays them, ``stave.repeats``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import wave
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from music21 import metadata, stream

from stave import atomic, melody, musicxml, repeats
from stave.abc import FIELD

FORMATS = ("musicxml", "mid", "wav")
PEAK_DBFS = -1.0
SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/default.sf2",
)
# ABC fields that name real people, books and recordings (transcriber, notes, book,
# source, history, discography, file URL): left out of what a model writes.
PERSONAL_FIELDS = "ZNBSHDF"
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


@dataclass
class Music:
    engraved: stream.Score  # MusicXML
    played: stream.Score  # MIDI, audio
    stave_text: str | None = None  # stave text of the engraved score (ABC input)


def set_credits(score: stream.Score, title: str, source: str = "") -> None:
    """Title and source (as the composer line), never music21's defaults."""
    md = score.metadata or metadata.Metadata()
    md.title = title
    md.movementName = title
    md.composer = source
    score.metadata = md


def abc_field(text: str, name: str) -> str | None:
    """The first ``name:`` field of a tune (``T`` title, ``C`` composer)."""
    m = re.search(rf"^{name}:\s*(.+)$", text, re.MULTILINE)
    return m.group(1).strip() if m else None


def from_abc(text: str, title: str | None = None, source: str | None = None) -> Music:
    """One ABC tune; ``ConversionError`` when music21 cannot read it.  The title and source
    default to the tune's ``T:`` and ``C:`` fields."""
    engraved = melody.parse_abc(text)
    header, body = repeats.split_tune(text)
    if repeats.needs_expanding(text):
        played = melody.parse_abc(repeats.expand(text))
        in_order = repeats.part_order(header) is None
        if not (in_order and repeats.mark_repeats(engraved.parts[0], repeats.structure(body))):
            # An order of parts (P:ABA), or music21's bars and ours do not line up: engrave
            # it written out, so that what MuseScore plays is still what abc2midi plays.
            engraved = melody.parse_abc(repeats.expand(text))
    else:
        played = engraved
    for score in {id(s): s for s in (engraved, played)}.values():
        for part in score.parts:
            musicxml.mark_short_bars(part)
        set_credits(
            score,
            title or abc_field(text, "T") or "untitled",
            abc_field(text, "C") or "" if source is None else source,
        )
    try:
        stave = melody.stream_to_stave_text(engraved)
    except (musicxml.ConversionError, RecursionError):  # a tune with no stave text
        stave = None
    return Music(engraved, played, stave)


def from_stave_text(text: str, title: str = "untitled", source: str = "") -> Music:
    """The first piece of a stave-text document."""
    score = musicxml.text_to_score(text, title)
    set_credits(score, title, source)
    return Music(score, score, None)


def write(music: Music, base: Path, formats: Iterable[str] = FORMATS) -> list[Path]:
    """Write ``base.musicxml``, ``base.mid`` and (when FluidSynth and a General MIDI
    soundfont are installed) ``base.wav``; all or none.  Returns the paths written."""
    formats = list(formats)
    written: list[Path] = []
    try:
        if "musicxml" in formats:
            written += musicxml.write_score(music.engraved, base, ("musicxml",))
        if "mid" in formats or "wav" in formats:
            mid = musicxml.write_score(music.played, base, ("mid",))[0]
            written.append(mid)
            if "wav" in formats and render_wav(mid, base.with_suffix(".wav")):
                written.append(base.with_suffix(".wav"))
            if "mid" not in formats:
                mid.unlink()
                written.remove(mid)
    except (musicxml.ConversionError, OSError, subprocess.SubprocessError, ValueError) as err:
        for done in written:
            done.unlink(missing_ok=True)
        if isinstance(err, musicxml.ConversionError):
            raise
        raise musicxml.ConversionError(f"cannot write {base.name} ({err})") from err
    return written


def soundfont() -> Path | None:
    return next((Path(p) for p in SOUNDFONTS if Path(p).exists()), None)


def render_wav(
    midi_path: Path, wav_path: Path, peak_dbfs: float = PEAK_DBFS, rate: int = 44100
) -> bool:
    """Audio through FluidSynth at ``rate`` samples a second, its loudest sample at
    ``peak_dbfs``; False (nothing written) when FluidSynth or a soundfont is missing."""
    fluidsynth = shutil.which("fluidsynth")
    font = soundfont()
    if fluidsynth is None or font is None:
        return False
    with atomic.atomic_path(wav_path) as tmp:
        subprocess.run(
            [
                fluidsynth,
                "-ni",
                "-T",
                "wav",
                "-F",
                str(tmp),
                "-r",
                str(rate),
                str(font),
                str(midi_path),
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        normalize_wav(tmp, peak_dbfs)
    return True


def normalize_wav(path: Path, peak_dbfs: float = PEAK_DBFS) -> None:
    """Scale 16-bit PCM so that its loudest sample sits at ``peak_dbfs`` (FluidSynth's
    default gain leaves a solo melody some 20 dB quieter than music is played)."""
    with wave.open(str(path), "rb") as w:
        params = w.getparams()
        frames = w.readframes(params.nframes)
    if params.sampwidth != 2:
        return
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float64)
    peak = np.abs(samples).max() if samples.size else 0.0
    if peak == 0:
        return
    target = 32767 * 10 ** (peak_dbfs / 20)
    out = np.clip(np.round(samples * (target / peak)), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setparams(params)
        w.writeframes(out.tobytes())


def wav_peak_dbfs(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    peak = float(np.abs(samples.astype(np.int32)).max()) if samples.size else 0.0
    return 20 * np.log10(peak / 32768) if peak else float("-inf")


def scrub_abc(text: str) -> str:
    """A sampled ABC tune without the fields that name real people or books (``Z:``,
    ``N:``, ``B:``, ``S:``, ..., with their ``+:`` continuations), free comments, or e-mail
    addresses; the music is kept."""
    kept = []
    dropping = False
    for line in text.split("\n"):
        if line.startswith("+:"):  # continues the field before it
            if dropping:
                continue
        elif FIELD.match(line):
            dropping = line[0] in PERSONAL_FIELDS
            if dropping:
                continue
        if line.startswith("%") and not line.startswith("%%"):
            continue
        kept.append(_EMAIL.sub("", line))
    return "\n".join(kept)
