"""The music written is the music read (issue 13): ABC against abc2midi, stave text against
its specification, MusicXML against MuseScore 3.  Each numbered case of the issue has a test
here that failed on the code before it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import mido
import pytest
from music21 import converter

from generate import convert as convert_cmd
from generate.charlstm import data
from generate.charlstm.sampling import write_sample
from generate.midi.io import NoteEvent, notes_to_score
from stave import convert, melody, musicxml, repeats, stavetext
from stave.abc import Piece, for_music21


def abc(body: str, key: str = "C", metre: str = "4/4", length: str = "1/4") -> str:
    return f"X:1\nT:t\nM:{metre}\nL:{length}\nK:{key}\n{body}\n"


def midi_pitches(path: Path) -> list[int]:
    """Note-on pitches of the first track with notes on channel 0 (abc2midi's melody)."""
    mid = mido.MidiFile(str(path))
    for track in mid.tracks:
        now, notes = 0, []
        for msg in track:
            now += msg.time
            if msg.type == "note_on" and msg.velocity and msg.channel == 0:
                notes.append((now, msg.note))
        if notes:
            return [p for _, p in sorted(notes)]
    return []


def abc2midi_pitches(tool: str, text: str, folder: Path) -> list[int]:
    src = folder / "oracle.abc"
    src.write_text(text)
    subprocess.run([tool, str(src), "-o", str(folder / "oracle.mid")], capture_output=True)
    return midi_pitches(folder / "oracle.mid")


def our_pitches(text: str, folder: Path) -> list[int]:
    written = convert.write(convert.from_abc(text), folder / "ours", ("mid",))
    return midi_pitches(written[0])


# 1. ABC accidentals hold to the bar line (in every octave, as abc2midi plays them), into
#    chords, through ties across the bar line, and inline key changes count.
ACCIDENTAL_CASES = [
    "^F F =F F|F4|",
    "^f F f2|_B B b B|",
    "^G2 G2-|G2 G2|",
    "c c [K:F] B B|B ^c/2c/2 [Bc] c|",
    "%abc-1.6\n^F F =F F|F4|",  # abc2midi carries them whatever version a tune names
]


@pytest.mark.parametrize("body", ACCIDENTAL_CASES)
def test_abc_accidentals_are_played_as_abc2midi_plays_them(
    body: str, abc2midi: str, tmp_path: Path
) -> None:
    text = abc(body)
    assert our_pitches(text, tmp_path) == abc2midi_pitches(abc2midi, text, tmp_path)


# Where music21 loses or invents notes that abc2midi plays as written.
PITFALLS = [
    "X:1\nT:t\nM:2/4\nL:1/4\nK:G\nd B|c A::\nG A|B c:|\n",  # a note right before "::"
    'X:1\nT:t\nM:2/4\nL:1/4\nK:G\n">"A2|B ">"c|"^Fine"d2|]\n',  # annotations
    'X:1\nT:t\nM:2/4\nL:1/4\nK:G\n"Em"e "D7"^c|"G"d2|]\n',  # a chord symbol, then a sharp
    "X:1\nT:t\nN bars 3 and 4 are |f2ed|\nM:2/4\nL:1/4\nK:G\nd B|c A|\n",  # header junk
    "X:1\nT:t\nM:6/8\nL:1/8\nK:D\nc2B HA2A|A2f fgf|\n",  # the fermata H
    "X:1\nT:t\nM:4/4\nL:1/8\nK:Gm\nB/2-c/2 d2 d>-c B2|\n",  # a tie between two pitches
]


@pytest.mark.parametrize("text", PITFALLS)
def test_music21_pitfalls_are_read_as_abc2midi_reads_them(
    text: str, abc2midi: str, tmp_path: Path
) -> None:
    assert our_pitches(text, tmp_path) == abc2midi_pitches(abc2midi, text, tmp_path)


def test_abc_accidental_holds_to_the_bar_line_in_stave_text() -> None:
    names = [n.nameWithOctave for n in melody.parse_abc(abc("^F F =F F|F4|")).flatten().notes]
    assert names == ["F#4", "F#4", "F4", "F4", "F4"]
    # Printed as an engraver would: the sharp once, the natural once.
    assert melody.abc_to_stave_text(abc("^F F =F F|F4|")).split()[3:] == [
        "^1+:4",
        "1+:4",
        "=1+:4",
        "1+:4",
        "|",
        "1+:1",
        "|",
    ]


def test_for_music21_names_the_version_and_splits_inline_fields() -> None:
    out = for_music21(abc("B B [K:F] B B|"))
    assert out.startswith("%abc-2.1\n")
    assert "\nK:F\n" in out and "[K:" not in out


# 2. MusicXML from stave text prints exactly the printed accidentals.
def count_accidentals(xml: str) -> int:
    return len(re.findall(r"<accidental[ >]", xml))


def test_musicxml_prints_only_the_printed_accidentals(tmp_path: Path) -> None:
    line = "clef:G2 key:2 1+:4 =1+:4 3+:4 3+:4 | 1+:4 3+:4 |"
    path = musicxml.write_score(musicxml.line_to_score(line), tmp_path / "k", ("musicxml",))[0]
    assert count_accidentals(path.read_text()) == 1
    notes = converter.parse(path).flatten().notes
    assert [n.nameWithOctave for n in notes] == ["F#4", "F4", "C#5", "C#5", "F#4", "C#5"]


def test_musicxml_accidentals_of_200_staves_are_the_printed_ones(tmp_path: Path) -> None:
    """Staves of music21's ABC tunes (written as stave text by ``stave.melody``, which
    prints an accidental only where the key and the bar do not give the pitch)."""
    from generate.charlstm.corpus import load_music21_abc

    tunes = load_music21_abc()[::40]
    printed = written = staves = 0
    for i, tune in enumerate(tunes):
        if staves >= 200:
            break
        try:
            text = melody.abc_to_stave_text(tune.text)
        except musicxml.ConversionError:
            continue
        lines = [stavetext.parse_line(t) for t in text.splitlines()]
        staves += len(lines)
        printed += sum(
            1
            for line in lines
            for t in line
            if isinstance(t, stavetext.Note) and t.accidental is not None
        )
        out = musicxml.write_score(
            musicxml.staves_to_score(lines), tmp_path / f"{i}", ("musicxml",)
        )
        written += count_accidentals(out[0].read_text())
    assert staves >= 200 and printed > 20
    assert written == printed


def test_musicxml_accidentals_of_random_staves_are_the_printed_ones(tmp_path: Path) -> None:
    """The OMR's synthesized staves: random clefs, keys and accidentals, four to a piece."""
    import numpy as np

    from omr.data.synth import random_stave

    rng = np.random.default_rng(1)
    printed = written = 0
    for k in range(25):
        lines = [random_stave(rng)[0] for _ in range(4)]
        printed += sum(
            1
            for line in lines
            for t in line
            if isinstance(t, stavetext.Note) and t.accidental is not None
        )
        score = musicxml.staves_to_score(lines)
        out = musicxml.write_score(score, tmp_path / f"{k}", ("musicxml",))[0]
        written += count_accidentals(out.read_text())
    assert printed > 100
    assert written == printed


# 3. Repeats and endings: played as abc2midi plays them, in our MIDI and in MuseScore.
REPEAT_CASES = [
    "C D | E F :| G A | B c :|",
    "C D | E F || G A | B c :|",
    "|: C D :: E F :|",
    "|: C D |1 E F :|2 G A || B c |",
    "C D |: E F :| G A :|",
    "|: C D |1 E F :|2 G A :|3 B c |",
    "|: C D |1,3 E F :|2 G A :|4 B c |",
    "|: C D |1 E F :|2 G A || B c :|",
    "|: C D |1 E F :|2 G A | B c :|",
    'e|:"G"d2 B|"D"A2 c:||:"C"g2e|=f2d| [1 "G"G2e:| [2"G"G2z||',
    "|:C|D:|E|F||G|A:|",  # once a ":|" is played through, "||" starts a section
    "C|D:|E|]F:|",
    "|:C|D:|E|F||G|A:|B||c:|",
    "|:C|1D:|2F\nK:G\nF G|",  # a key change after a bar with no closing bar line
    "|:C:|\nD:|",  # a music line that starts like a field
]


@pytest.mark.parametrize("body", REPEAT_CASES)
def test_repeats_are_played_as_abc2midi_plays_them(
    body: str, abc2midi: str, tmp_path: Path
) -> None:
    text = abc(body, metre="2/4")
    assert our_pitches(text, tmp_path) == abc2midi_pitches(abc2midi, text, tmp_path)


def test_order_of_parts_is_played_as_abc2midi_plays_it(abc2midi: str, tmp_path: Path) -> None:
    for body in ("P:A\nC D|E F|\nP:B\nG A|B c|", "[P:A] C D|E F|[P:B] G A|B c|"):
        text = f"X:1\nT:t\nM:2/4\nL:1/4\nP:ABA\nK:C\n{body}\n"
        assert our_pitches(text, tmp_path) == abc2midi_pitches(abc2midi, text, tmp_path)
        assert len(our_pitches(text, tmp_path)) == 12


def test_expanded_tune_has_no_repeats_left() -> None:
    out = repeats.expand(abc("|: C D |1 E F :|2 G A |", metre="2/4"))
    body = repeats.split_tune(out)[1]
    assert ":" not in body and "[1" not in body and "|1" not in body
    assert repeats.expand(abc("C D | E F |")) == abc("C D | E F |")


@pytest.mark.slow
@pytest.mark.parametrize("body", [REPEAT_CASES[0], REPEAT_CASES[3], REPEAT_CASES[-1]])
def test_musescore_plays_the_repeats_of_our_musicxml_as_abc2midi(
    body: str, abc2midi: str, mscore3: str, tmp_path: Path
) -> None:
    text = abc(body, metre="2/4")
    xml = convert.write(convert.from_abc(text), tmp_path / "ours", ("musicxml",))[0]
    back = tmp_path / "musescore.mid"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(tmp_path))
    subprocess.run([mscore3, "-o", str(back), str(xml)], capture_output=True, timeout=120, env=env)
    assert midi_pitches(back) == abc2midi_pitches(abc2midi, text, tmp_path)


# 4. Short bars are written short, not padded with invisible rests.
def test_short_bars_get_no_invisible_rests(tmp_path: Path) -> None:
    line = "clef:G2 key:0 time:4/4 1:4 | 2:1 | 3:2 |"
    xml = musicxml.write_score(musicxml.line_to_score(line), tmp_path / "s", ("musicxml",))[0]
    text = xml.read_text()
    assert 'print-object="no"' not in text and "<rest" not in text
    pickup = convert.write(convert.from_abc(abc("G|c4|c3:|")), tmp_path / "p", ("musicxml",))
    assert "<rest" not in pickup[0].read_text()


# 5. A clef change at a line's start is engraved before the bar line, as MuseScore draws it.
def test_clef_change_goes_before_the_bar_line_and_reads_back(tmp_path: Path) -> None:
    lines = ["clef:G2 key:0 time:4/4 1:1 | 2:1 |", "clef:F4 key:0 1:1 | 2:1 |"]
    score = musicxml.staves_to_score([stavetext.parse_line(t) for t in lines])
    xml = musicxml.write_score(score, tmp_path / "c", ("musicxml",))[0].read_text()
    measure2 = xml[xml.index('number="2"') : xml.index('number="3"')]
    assert "<sign>F</sign>" in measure2
    assert measure2.index("<note") < measure2.index("<sign>F</sign>")
    assert melody.stream_to_stave_text(score).splitlines() == lines
    pitches = [n.nameWithOctave for n in converter.parse(tmp_path / "c.musicxml").flatten().notes]
    assert pitches == ["E4", "G4", "G2", "B2"]


# 6. Titles and provenance.
def test_samples_drop_personal_fields_and_name_the_model(tmp_path: Path) -> None:
    text = (
        "X:3\nT:New reel\nZ:Transcribed by Jo Bloggs jo@example.org\nN:from a book\n"
        "B:O'Neill's 1850\nS:Mick Peat\nM:4/4\nL:1/8\nK:D\nABcd efga|]"
    )
    title = "stavegen sample 3, char-LSTM on ABC, T=0.8, seed 1"
    result = write_sample(text, "abc", tmp_path / "s", title, "stavegen char-LSTM (abc.pt)")
    assert result.error is None
    written = (tmp_path / "s.abc").read_text()
    assert "Bloggs" not in written and "@" not in written and "Mick" not in written
    assert "O'Neill" not in written and "ABcd efga" in written
    kept = convert.scrub_abc("X:1\nN:a note\n+:by jo@example.org\nK:C\nB:|\nB2 c2|")
    assert kept == "X:1\nK:C\nB:|\nB2 c2|"  # a "+:" goes with its field; "B:|" is music
    xml = (tmp_path / "s.musicxml").read_text()
    assert "stavegen sample 3, char-LSTM on ABC, T=0.8, seed 1" in xml
    assert "Music21" not in xml and "stavegen char-LSTM (abc.pt)" in xml
    stave = write_sample("clef:G2 key:0 1:4 |", "stave", tmp_path / "t", "stavegen sample 1")
    assert stave.error is None
    assert "<work-title>stavegen sample 1</work-title>" in (tmp_path / "t.musicxml").read_text()


def test_piano_roll_scores_are_a_grand_staff() -> None:
    notes = [NoteEvent(42, 80, 0, 1), NoteEvent(66, 80, 0, 1), NoteEvent(72, 80, 1, 1)]
    score = notes_to_score(notes, title="stavegen sample 1, chord GAN, seed 0", source="x")
    upper, lower = score.parts
    # sounding pitches; their spelling follows the key music21 finds in the notes
    assert [p.midi for p in upper.flatten().pitches] == [66, 72]
    assert [p.midi for p in lower.flatten().pitches] == [42]
    assert lower.flatten().getElementsByClass("Clef").first().sign == "F"
    assert score.metadata.title == "stavegen sample 1, chord GAN, seed 0"


@pytest.mark.slow
def test_piano_roll_notes_all_reach_musescore(mscore3: str, tmp_path: Path) -> None:
    """Notes struck while longer ones still sound in the same staff take voices of their
    own, so MuseScore plays every note as written; naturals are printed only where needed."""
    from generate.midi.io import staff_voices, write_midi
    from generate.midi.sample import write_piece

    notes = [
        NoteEvent(72, 80, 0, 3),  # C5 held for the bar ...
        NoteEvent(76, 80, 0, 1),
        NoteEvent(74, 80, 1, 0.5),  # ... while D5 and E5 are struck above it
        NoteEvent(76, 80, 1.5, 1.5),
        NoteEvent(72, 80, 3, 1),  # C5 struck again
        NoteEvent(66, 80, 3, 1),  # F#4 ...
        NoteEvent(65, 80, 4, 2),  # ... then F4, which needs a natural
        NoteEvent(48, 80, 0, 6),  # C3 across the bar line
        NoteEvent(55, 80, 2, 1),
    ]
    assert staff_voices(notes[:7]) == [
        [(0.0, 3.0, [72]), (3.0, 1.0, [66, 72]), (4.0, 2.0, [65])],
        [(0.0, 1.0, [76]), (1.0, 0.5, [74]), (1.5, 1.5, [76])],
    ]
    assert write_piece(tmp_path / "s", notes, "voices", time_signature="3/4") is None
    xml = (tmp_path / "s.musicxml").read_text()
    assert xml.count("<accidental>natural</accidental>") == 1
    assert xml.count("<accidental>sharp</accidental>") == 1
    back = tmp_path / "back.mid"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(tmp_path))
    subprocess.run([mscore3, "-o", str(back), str(tmp_path / "s.musicxml")], timeout=120, env=env)
    write_midi(tmp_path / "ours.mid", notes)

    def heard(path: Path) -> list[tuple[float, int, float]]:
        from generate.midi.io import read_midi

        return sorted((n.start, n.pitch, round(n.duration, 2)) for n in read_midi(path))

    assert heard(back) == heard(tmp_path / "ours.mid") == heard(tmp_path / "s.mid")


# 7. The stave-text vocabulary holds every character of the format.
def test_stave_vocabulary_holds_every_clef(tmp_path: Path) -> None:
    pieces = [Piece("clef:G2 key:0 1:4 |", "a"), Piece("clef:G2 key:1 2:8 |", "b")]
    prepared = data.prepare(pieces[:1], pieces[1:], "stave", tmp_path, "test")
    for c in "CFG0123456789":
        assert c in prepared.vocab.index


def test_shipped_stave_model_knows_the_c_clef() -> None:
    from generate.checkpoint import default_checkpoint, load_char_lstm

    _, ckpt = load_char_lstm(default_checkpoint("stave"))
    for c in stavetext.ALPHABET:
        assert c in ckpt.vocab.index, repr(c)


# Audio and the command.
def test_wav_is_written_at_a_normal_loudness(fluidsynth: str, tmp_path: Path) -> None:
    written = convert.write(convert.from_abc(abc("C D E F|G4|")), tmp_path / "w")
    wav = tmp_path / "w.wav"
    assert wav in written
    assert -1.5 < convert.wav_peak_dbfs(wav) < -0.5


def test_convert_command_writes_each_tune_and_reports_bad_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tunes = tmp_path / "tunes.abc"
    tunes.write_text(abc("C D E F|G4|") + "\n" + abc("|: c d e f :|", key="G"))
    stave_file = tmp_path / "page.txt"
    stave_file.write_text("clef:F4 key:-1 1:2 2:2 |\n")
    broken = tmp_path / "broken.txt"
    broken.write_text("this is no music\n")
    out = tmp_path / "out"
    args = [str(tunes), str(stave_file), str(broken), "-o", str(out), "--formats", "musicxml"]
    assert convert_cmd.main([*args, "mid", "txt"]) == 1
    lines = capsys.readouterr()
    assert lines.out.strip().splitlines()[-1] == "converted=3/4"
    assert "broken.txt" in lines.err
    for name in ("tunes-001", "tunes-002", "page"):
        assert (out / f"{name}.musicxml").exists() and (out / f"{name}.mid").exists()
    assert (out / "tunes-002.txt").read_text().startswith("clef:G2 key:1")
    assert len(midi_pitches(out / "tunes-002.mid")) == 8  # the repeat is played


def test_convert_command_never_overwrites_one_output_with_another(tmp_path: Path) -> None:
    for folder, name, body in (("a", "x", "C4|"), ("a", "x-2", "D4|"), ("b", "x", "E4|")):
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / f"{name}.abc").write_text(abc(body))
    files = [tmp_path / "a" / "x.abc", tmp_path / "a" / "x-2.abc", tmp_path / "b" / "x.abc"]
    out = tmp_path / "out"
    assert convert_cmd.main([*map(str, files), "-o", str(out), "--formats", "mid"]) == 0
    heard = sorted(midi_pitches(p)[0] for p in out.glob("*.mid"))
    assert heard == [60, 62, 64]


def test_convert_command_reports_an_abc_file_without_tunes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.abc"
    empty.write_text("% nothing here\n")
    assert convert_cmd.main([str(empty), "-o", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    assert "no tune" in captured.err and "converted=0/1" in captured.out


@pytest.mark.slow
def test_musescore_round_trip_keeps_every_pitch_and_duration(mscore3: str, tmp_path: Path) -> None:
    """Our MusicXML, opened by MuseScore 3 and exported again, holds the same notes."""
    lines = [
        "clef:G2 key:2 time:3/4 1+:4 =1+:8 ^2:8 3+:4 | _4:2. | r:4 5:8. 4+:16 |",
        "clef:F4 key:-3 3:2 =3:4 | 3:4 r:8 ^^2:8 2:4 | __5:4 -1:4 6+:4 |",
        "clef:C3 key:0 time:4/4 1:4 2:4 | clef:G2 3:1 |",
    ]
    score = musicxml.staves_to_score([stavetext.parse_line(t) for t in lines])
    ours = musicxml.write_score(score, tmp_path / "ours", ("musicxml",))[0]
    back = tmp_path / "back.musicxml"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(tmp_path))
    subprocess.run([mscore3, "-o", str(back), str(ours)], capture_output=True, timeout=120, env=env)

    def notes(path: Path) -> list[tuple[str, float]]:
        flat = converter.parse(path).flatten()
        return [(n.nameWithOctave, float(n.quarterLength)) for n in flat.notes]

    expected = [(n.nameWithOctave, float(n.quarterLength)) for n in score.flatten().notes]
    assert notes(ours) == expected
    assert notes(back) == expected
