"""The CPMS photos' printed accidentals, taken from their semantic encoding."""

from __future__ import annotations

from pathlib import Path

import pytest

from omr.data.semantic import SemanticError, semantic_notes, with_printed_accidentals
from omr.data.training_set import items_from_photos
from omr.data.truth import TruthError, read_truth
from omr.metrics import sounding_pitches
from stave.stavetext import Note, parse_line, write_line
from tests.conftest import shared_data

TRUTH = "clef:G2 key:-1 3:4 4+:8 3:8 | 3:4 1+:4"  # B4 E5 B4 | B4 F4, as placed
SEMANTIC = (
    "clef-G2 keySignature-FM timeSignature-2/4 note-B4_quarter note-Eb5_eighth "
    "note-B4_eighth barline note-B4_quarter note-F#4_quarter barline"
)


def test_semantic_names_notes_with_the_sharps_and_flats_printed() -> None:
    assert semantic_notes(SEMANTIC) == [
        ("B4", None),
        ("E5", -1),
        ("B4", None),
        ("B4", None),
        ("F4", 1),
    ]
    assert semantic_notes("gracenote-C##5_eighth rest-quarter note-Dbb3_half.") == [
        ("C5", 2),
        ("D3", -2),
    ]


def test_printed_accidentals_join_the_truth_and_change_what_sounds() -> None:
    staves = [parse_line(TRUTH)]
    assert sounding_pitches(staves[0]) == [70, 76, 70, 70, 65]  # the key's B-flat only
    fixed = with_printed_accidentals(staves, SEMANTIC)
    assert write_line(fixed[0]) == "clef:G2 key:-1 3:4 _4+:8 3:8 | 3:4 ^1+:4"
    # E-flat printed; the B-flats come from the key; F-sharp printed
    assert sounding_pitches(fixed[0]) == [70, 75, 70, 70, 66]


def test_a_semantic_that_does_not_fit_its_truth_is_refused() -> None:
    staves = [parse_line(TRUTH)]
    with pytest.raises(SemanticError, match="names 4 notes, the truth holds 5"):
        with_printed_accidentals(staves, SEMANTIC.replace("note-B4_eighth ", ""), "x.semantic")
    with pytest.raises(SemanticError, match="note 2 is E5 in the truth, F5 in the semantic"):
        with_printed_accidentals(staves, SEMANTIC.replace("Eb5", "F5"))
    bass = [parse_line("clef:F4 key:0 3:4")]  # the middle line: D3
    (note,) = with_printed_accidentals(bass, "note-Db3_quarter")[0][2:]
    assert (
        isinstance(note, Note)
        and note.accidental == -1
        and sounding_pitches([*bass[0][:2], note]) == [49]
    )


def test_evaluate_reads_a_semantic_beside_its_truth(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(TRUTH + "\n")
    assert read_truth(tmp_path / "a.txt") == [parse_line(TRUTH)]
    (tmp_path / "a.semantic").write_text(SEMANTIC)
    assert write_line(read_truth(tmp_path / "a.txt")[0]).endswith("_4+:8 3:8 | 3:4 ^1+:4")
    (tmp_path / "a.semantic").write_text("note-C4_quarter")
    with pytest.raises(TruthError, match=r"a\.semantic: the semantic encoding names 1 notes"):
        read_truth(tmp_path / "a.txt")


def test_a_photo_whose_truth_is_in_doubt_is_left_out_of_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Training reads a photo's truth as the evaluation does (``omr.data.truth``): a photo
    whose ``.semantic`` does not fit, whose truth is no stave text, not UTF-8 or empty is
    left out and named, and the others are read."""
    for name in ("a-1", "a-2", "a-3", "a-4", "a-5"):
        (tmp_path / f"{name}.jpg").write_bytes(b"")
        (tmp_path / f"{name}.txt").write_text(TRUTH + " \n\n")
    (tmp_path / "a-1.semantic").write_text(SEMANTIC)
    (tmp_path / "a-2.semantic").write_text("note-C4_quarter")
    (tmp_path / "a-3.txt").write_text(TRUTH + " 3:7\n")
    (tmp_path / "a-4.txt").write_bytes(b"clef:G2 \xff")
    (tmp_path / "a-5.txt").write_text("\n \n")
    (item,) = items_from_photos(tmp_path)
    assert item.truth == "clef:G2 key:-1 3:4 _4+:8 3:8 | 3:4 ^1+:4"
    err = capsys.readouterr().err
    assert "a-2.semantic: the semantic encoding names 1 notes" in err
    assert "a-3.txt" in err and "truth is not stave text" in err
    assert "a-4.txt: truth is not UTF-8 text (byte 0xff at offset 8)" in err
    assert "a-5.txt: empty truth" in err
    assert err.count("left out") == 4


def test_every_cpms_photo_takes_its_printed_sharps_and_flats() -> None:
    folder = shared_data("cpms-train")
    items = items_from_photos(folder)
    notes = [t for i in items for t in parse_line(i.truth) if isinstance(t, Note)]
    printed = [n.accidental for n in notes if n.accidental is not None]
    # the .txt truths print none; the semantic names 566 sharps and 138 flats
    assert (len(items), len(notes), printed.count(1), printed.count(-1)) == (662, 14667, 566, 138)
    # C5 C5 C5 Eb5 Ab4 A4 Bb4 in C major; the A after the A-flat is printed with no natural,
    # so it sounds A-flat (the accidental holds to the bar line)
    eb = read_truth(folder / "91103020-1.txt")[0]
    assert sounding_pitches(eb)[:7] == [72, 72, 72, 75, 68, 68, 70]
