from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from music21 import meter, note, stream

from generate.charlstm.corpus import load_music21_abc, split_abc
from omr.data.synth import random_stave
from stave import melody, musicxml
from stave.stavetext import Bar, Clef, Duration, Key, Note, Rest, Time, parse_line, write_line
from tests.conftest import TINY_ABC, open_in_musescore

EXAMPLE = (
    "clef:G2 key:1 time:3/4 2:2 2:8 3:8 3+:8 | 4:4 3+:8 3:8 2+:8 2:8 | "
    "1+:4 1+:8 2:8 2+:8 3:8 3+:8 4+:8 | 4:2. |"
)


def notes(sc) -> list[tuple[str, float]]:
    return [
        (n.nameWithOctave, float(n.quarterLength)) for n in sc.flatten().notesAndRests if n.isNote
    ]


def test_spec_example_sounds_as_written() -> None:
    got = notes(musicxml.line_to_score(EXAMPLE))
    assert got[:6] == [("G4", 2.0), ("G4", 0.5), ("B4", 0.5), ("C5", 0.5), ("D5", 1.0), ("C5", 0.5)]
    assert got[-2:] == [("E5", 0.5), ("D5", 3.0)]  # 4+ is E5; the final 4:2. a dotted half
    assert melody.stream_to_stave_text(musicxml.line_to_score(EXAMPLE)) == EXAMPLE


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("clef:F4 key:0 1 1+ 5 5+", ["G2", "A2", "A3", "B3"]),
        ("clef:C3 key:0 1 3", ["F3", "C4"]),
        ("clef:C4 key:0 1 3", ["D3", "A3"]),
        ("clef:G2 key:0 0 -1+ 6 6+", ["C4", "B3", "A5", "B5"]),
        ("1 2", ["E4", "G4"]),  # no header: clef:G2 key:0
    ],
)
def test_clefs_and_ledger_lines(line: str, expected: list[str]) -> None:
    assert [p for p, _ in notes(musicxml.line_to_score(line))] == expected


def test_key_signature_and_accidentals_hold_to_the_bar_line() -> None:
    sc = musicxml.line_to_score("clef:G2 key:-1 3 =3 3 1+ | 3 ^1+ 1+ 1 | 1+")
    assert [p for p, _ in notes(sc)] == ["B-4", "B4", "B4", "F4", "B-4", "F#4", "F#4", "E4", "F4"]


def test_musicxml_shows_the_accidentals_printed_and_no_others() -> None:
    """F sharp printed, held to the bar line, then F in the next bar: one sharp is shown,
    no cautionary natural the page does not print (music21's accidental pass would add one
    if it ran), and the natural printed later is shown."""
    sc = musicxml.line_to_score("clef:G2 key:0 ^1+ 1+ | 1+ 2 | =1+ 1+")
    assert [p for p, _ in notes(sc)] == ["F#4", "F#4", "F4", "G4", "F4", "F4"]
    xml = musicxml.musicxml_bytes(sc).decode()
    assert re.findall(r"<accidental>(\w+)</accidental>", xml) == ["sharp", "natural"]


def test_pitch_only_lines_are_quarters_and_rests_have_durations() -> None:
    sc = musicxml.line_to_score("1 2 r:8 3 r")
    assert [float(n.quarterLength) for n in sc.flatten().notesAndRests] == [1, 1, 0.5, 1, 1]
    assert [n.isRest for n in sc.flatten().notesAndRests] == [False, False, True, False, True]


def test_mid_line_clef_and_key_changes() -> None:
    sc = musicxml.line_to_score("clef:G2 key:0 1 | clef:F4 key:2 5 1+ |")
    assert [p for p, _ in notes(sc)] == ["E4", "A3", "A2"]
    back = melody.stream_to_staves(sc)
    assert back == [
        [
            Clef("G2"),
            Key(0),
            Note(2, None, Duration(4)),
            Bar(),
            Clef("F4"),
            Key(2),
            Note(10, None, Duration(4)),
            Note(3, None, Duration(4)),
            Bar(),
        ]
    ]


def test_system_breaks_follow_stave_lines() -> None:
    staves = [parse_line("clef:F4 key:-2 time:4/4 1:2 2:2 |"), parse_line("clef:F4 key:-2 3:1 |")]
    sc = musicxml.staves_to_score(staves)
    assert melody.stream_to_staves(sc) == staves


def test_empty_piece_is_a_conversion_error() -> None:
    with pytest.raises(musicxml.ConversionError):
        musicxml.staves_to_score([parse_line("clef:G2 key:0 | |")])


positions = st.integers(-4, 16)
note_tokens = st.builds(
    Note,
    positions,
    st.sampled_from([None, None, None, -1, 0, 1]),
    st.builds(Duration, st.sampled_from([1, 2, 4, 8, 16]), st.integers(0, 1)),
)
bars = st.lists(
    st.one_of(note_tokens, st.builds(Rest, st.builds(Duration, st.just(4)))), min_size=1, max_size=6
)


@given(
    st.sampled_from(["G2", "F4", "C3", "C4"]),
    st.integers(-7, 7),
    st.lists(bars, min_size=1, max_size=4),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_staves_to_score_and_back_keeps_every_pitch_and_duration(clef, fifths, measures) -> None:
    line = [Clef(clef), Key(fifths), Time(4, 4)]
    for m in measures:
        line.extend([*m, Bar()])
    sc = musicxml.staves_to_score([line])
    back = melody.stream_to_staves(sc)
    again = musicxml.staves_to_score(back)

    def sounding(s):
        return [
            (n.pitch.midi if n.isNote else None, float(n.quarterLength))
            for n in s.flatten().notesAndRests
        ]

    assert sounding(again) == sounding(sc)
    # Accidentals are written only where needed, so a second trip changes no text.
    assert write_line(melody.stream_to_staves(again)[0]) == write_line(back[0])


def test_abc_melody_to_stave_text_keeps_pitches_and_drops_chord_symbols() -> None:
    for tune in split_abc(TINY_ABC, "tiny"):
        parsed = melody.parse_abc(tune.text)
        text = melody.abc_to_stave_text(tune.text)
        back = musicxml.text_to_score(text)
        assert notes(back) == notes(parsed)
        assert '"' not in text


def timeline(s) -> dict[float, int]:
    """Sounding MIDI pitch at each onset (the top note of a chord), grace notes left out."""
    out: dict[float, int] = {}
    for n in s.flatten().notes:
        if n.duration.isGrace:
            continue
        start, end = float(n.offset), float(n.offset + n.quarterLength)
        midi = max(p.midi for p in n.pitches)
        for k in range(int(start * 12), int(end * 12)):
            out[k / 12] = midi
    return out


def test_corpus_tunes_convert_with_their_pitches() -> None:
    tunes = load_music21_abc()[::1500][:8]  # a spread over the collections
    converted = 0
    for tune in tunes:
        try:
            text = melody.abc_to_stave_text(tune.text)
        except musicxml.ConversionError:
            continue
        converted += 1
        parsed = melody.parse_abc(tune.text)
        part = parsed.parts[0] if parsed.parts else parsed
        # Compare what sounds when: a breve is written as two tokens (a tied pair).
        want = timeline(part)
        got = timeline(musicxml.text_to_score(text))
        assert got == want, tune.source
    assert converted >= 6


def test_musescore_opens_stave_text_musicxml(tmp_path: Path, mscore3: str) -> None:
    staves = [parse_line(EXAMPLE), parse_line("clef:F4 key:-3 time:6/8 ^1:8 2:8 3:8 r:4. | 5:2. |")]
    written = musicxml.write_score(
        musicxml.staves_to_score(staves, "two staves"), tmp_path / "piece"
    )
    assert [p.suffix for p in written] == [".musicxml", ".mid"]
    open_in_musescore(mscore3, written[0], tmp_path)


def test_write_score_leaves_nothing_behind_when_a_format_fails(tmp_path: Path) -> None:
    sc = musicxml.line_to_score(EXAMPLE)
    with pytest.raises(musicxml.ConversionError, match=r"cannot write piece\.nosuchformat"):
        musicxml.write_score(sc, tmp_path / "piece", ("musicxml", "nosuchformat"))
    assert list(tmp_path.iterdir()) == []


def test_metres_stave_text_cannot_hold_are_left_out() -> None:
    """ABC allows "M:1/3" (music21's corpus has it); what is written must parse again."""
    s = stream.Stream()
    s.append(meter.TimeSignature("1/3"))
    s.append(note.Note("C5", quarterLength=0.5))
    s.append(meter.TimeSignature("3/4"))
    s.append(note.Note("D5", quarterLength=3))
    text = melody.stream_to_stave_text(s)
    assert "time:1/3" not in text and "time:3/4" in text
    parse_line(text.strip())


def _without_ids(xml: bytes) -> bytes:
    """MusicXML with its date and music21's random part and instrument ids taken out."""
    xml = re.sub(rb"<encoding-date>.*?</encoding-date>", b"", xml)
    return re.sub(rb'id="[PI][0-9a-f]+"', b"", xml)


def test_whole_bars_musicxml_is_the_file_music21_writes(tmp_path: Path) -> None:
    """``write_score(whole_bars=True)`` skips music21's filling of bars with rests; on what
    ``staves_to_score`` builds (random staves of every clef, key, metre and duration, short
    bars, several lines, a stave without a metre) the file must be byte for byte music21's."""
    rng = np.random.default_rng(3)
    pieces = [[random_stave(rng)[0]] for _ in range(40)]
    pieces += [[random_stave(rng)[0] for _ in range(3)] for _ in range(5)]
    pieces.append([parse_line(EXAMPLE), parse_line("^1:8 2:8 3:8 r:4. | 5:2. |")])
    pieces.append([parse_line("clef:F4 key:2 -3:16 -2:16 | 0:1 | 1:2")])
    for k, staves in enumerate(pieces):
        fast = musicxml.write_score(
            musicxml.staves_to_score(staves, "t"), tmp_path / f"f{k}", ("musicxml",), True
        )[0]
        slow = musicxml.write_score(
            musicxml.staves_to_score(staves, "t"), tmp_path / f"s{k}", ("musicxml",)
        )[0]
        assert _without_ids(fast.read_bytes()) == _without_ids(slow.read_bytes()), staves
