from omr.metrics import bar_places, edit_distance, errors, score, sounding_pitches, symbols
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


def test_sounding_pitches_apply_clef_key_and_accidentals_held_to_the_bar() -> None:
    # G major: F sounds F#; a printed natural holds to the bar line, then the key again;
    # in the bass clef line 4 is F3, a flat there Fb3 (52), held.
    line = parse_line("clef:G2 key:1 1+:4 =1+:4 1+:4 | 1+:4 2:4 | clef:F4 1:4 _4:4 4:4")
    assert sounding_pitches(line) == [66, 65, 65, 66, 67, 43, 52, 52]
    # a new key mid-line clears what the bar held
    assert sounding_pitches(parse_line("key:0 ^1+:4 key:-1 1+:4 3:4")) == [66, 65, 70]


def test_bar_lines_are_placed_by_the_notes_before_them() -> None:
    assert bar_places(parse_line("clef:G2 2:4 3:4 | r:2 | 4:1 |")) == [2, 3, 4]


def test_score_counts_what_a_player_hears_and_the_page() -> None:
    truth = [parse_line("clef:G2 key:1 time:3/4 2:2 ^1+:8 1+:8 | 1+:4 r:4 |")]
    read = [parse_line("clef:G2 key:2 time:3/8 2:2 1+:8 1+:8 1+:4 | r:4 |")]
    c = score(read, truth)
    # the positions and durations are all right, and (key:2 sharpens F too) so is every
    # sounding pitch; the key, the time and a bar line are wrong, the printed sharp missing
    assert (c.symbol_edits, c.symbols, c.sounding_edits, c.sounding) == (0, 5, 0, 4)
    assert (c.token_edits, c.tokens) == (4, 10)  # key, time, the bar moved (2)
    assert (c.bar_edits, c.bars) == (1, 2)
    assert (c.keys_right, c.times_right, c.staves_exact) == (0, 0, 0)
    right = score(truth, truth)
    assert (right.token_edits, right.sounding_edits, right.bar_edits) == (0, 0, 0)
    assert (right.keys_right, right.times_right, right.staves_exact) == (1, 1, 1)
    # in C major the missing sharp is heard: F4 for F#4
    natural = score([parse_line("clef:G2 2:2 1+:8")], [parse_line("clef:G2 key:0 2:2 ^1+:8")])
    assert (natural.sounding_edits, natural.keys_right, natural.staves_exact) == (1, 1, 0)


def test_a_missed_stave_counts_wholly_wrong() -> None:
    truth = [parse_line("clef:G2 key:-1 time:4/4 2:1 |"), parse_line("clef:G2 key:-1 3:1 |")]
    c = score(truth[:1], truth)
    assert (c.staves, c.staves_exact, c.keys, c.keys_right) == (2, 1, 2, 1)
    assert (c.sounding_edits, c.bar_edits, c.bars) == (1, 1, 2)
    # a stave missed in C major has no key right either
    assert score([], [parse_line("clef:G2 key:0 2:1 |")]).keys_right == 0
    extra = score([*truth, parse_line("clef:G2 time:2/4 2:2 |")], truth)
    assert (extra.times, extra.times_right, extra.bar_edits) == (2, 1, 1)


def test_duration_errors_leave_positions_out() -> None:
    truth = [parse_line("clef:G2 2:8 3:8 r:4 4:16 |")]
    # every position wrong, every duration right: no duration error
    c = score([parse_line("clef:G2 5:8 6:8 r:4 1:16 |")], truth)
    assert (c.duration_edits, c.durations, c.pitch_edits) == (0, 4, 3)
    # a beamed eighth read as a sixteenth, and a missing duration counted as a quarter
    c = score([parse_line("clef:G2 2:16 3:8 r 4:16 |")], truth)
    assert (c.duration_edits, c.durations, c.pitch_edits) == (1, 4, 0)
