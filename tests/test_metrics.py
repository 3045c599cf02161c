from omr.metrics import edit_distance, errors, symbols
from stave.stavetext import parse_line


def test_edit_distance() -> None:
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance([], [1, 2]) == 2


def test_ser_counts_notes_and_rests_only() -> None:
    truth = parse_line("clef:G2 key:1 2:4 ^3:8 r:8 | 4 |")
    assert symbols(truth) == ["2:4", "3:8", "r:8", "4:4"]
    # Headers, bars and accidentals do not count; a missing duration is a quarter.
    same = parse_line("clef:F4 key:0 2 3:8 r:8 4:4")
    assert errors(same, truth) == (0, 4, 0, 3)
    wrong = parse_line("2:4 3:16 4:4")  # one duration wrong, the rest missing
    assert errors(wrong, truth) == (2, 4, 0, 3)
