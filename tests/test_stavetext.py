from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stave.stavetext import (
    CLEFS,
    DURATION_BASES,
    Bar,
    Clef,
    Duration,
    Key,
    Note,
    Rest,
    StaveTextError,
    Time,
    parse_line,
    pitch_only,
    position_text,
    split_pieces,
    write_line,
)

EXAMPLE = (
    "clef:G2 key:1 time:3/4 2:2 2:8 3:8 3+:8 | 4:4 3+:8 3:8 2+:8 2:8 | "
    "1+:4 1+:8 2:8 2+:8 3:8 3+:8 4+:8 | 4:2. |"
)


def test_spec_example_parses_to_typed_tokens() -> None:
    tokens = parse_line(EXAMPLE)
    assert tokens[:4] == [Clef("G2"), Key(1), Time(3, 4), Note(4, None, Duration(2))]
    assert tokens[-2:] == [Note(8, None, Duration(2, 1)), Bar()]
    assert write_line(pitch_only(tokens)) == "2 2 3 3+ 4 3+ 3 2+ 2 1+ 1+ 2 2+ 3 3+ 4+ 4"


@pytest.mark.parametrize(
    ("step", "label"),
    [
        (2, "1"),
        (3, "1+"),
        (10, "5"),
        (11, "5+"),
        (12, "6"),
        (1, "0+"),
        (0, "0"),
        (-1, "-1+"),
        (-2, "-1"),
    ],
)
def test_positions_follow_the_table(step: int, label: str) -> None:
    assert position_text(step) == label
    assert parse_line(label) == [Note(step)]


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("^1+:4.", Note(3, 1, Duration(4, 1))),
        ("_3:2", Note(6, -1, Duration(2))),
        ("=0:16..", Note(0, 0, Duration(16, 2))),
        ("^^-1+:64", Note(-1, 2, Duration(64))),
        ("__7", Note(14, -2, None)),
        ("r", Rest(None)),
        ("r:8", Rest(Duration(8))),
        ("clef:F4", Clef("F4")),
        ("key:-3", Key(-3)),
        ("time:6/8", Time(6, 8)),
    ],
)
def test_tokens(text: str, token: object) -> None:
    assert parse_line(text) == [token]
    assert write_line([token]) == text  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("1 2  3", 5),  # double space
        ("1 2 x", 5),
        ("1 -0", 3),
        ("01", 1),
        ("1:3", 1),
        ("1:4...", 1),
        ("key:8", 1),
        ("key:-0", 1),
        ("clef:G1", 1),
        ("time:3/5", 1),
        ("r:4 |  ", 7),
        (" 1", 1),
    ],
)
def test_malformed_input_names_line_and_column(text: str, column: int) -> None:
    with pytest.raises(StaveTextError) as info:
        parse_line(text, line_number=7, source="piece.txt")
    assert info.value.line == 7
    assert info.value.column == column
    assert str(info.value).startswith(f"piece.txt: line 7, column {column}: ")


def test_document_pieces_comments_and_blank_lines() -> None:
    doc = "% a comment\nclef:G2 key:0 1 2 |\n3 4 |\n\n\nclef:F4 key:-1 r:2 5 |\n"
    pieces = split_pieces(doc)
    assert [len(p) for p in pieces] == [2, 1]
    assert pieces[1][0][0] == Clef("F4")
    with pytest.raises(StaveTextError) as info:
        split_pieces("1 2\n3 4\nbad\n")
    assert info.value.line == 3


durations = st.one_of(
    st.none(), st.builds(Duration, st.sampled_from(DURATION_BASES), st.integers(0, 2))
)
tokens = st.one_of(
    st.builds(Note, st.integers(-12, 30), st.sampled_from([None, -2, -1, 0, 1, 2]), durations),
    st.builds(Rest, durations),
    st.just(Bar()),
    st.builds(Clef, st.sampled_from(CLEFS)),
    st.builds(Key, st.integers(-7, 7)),
    st.builds(Time, st.integers(1, 99), st.sampled_from(DURATION_BASES)),
)


@given(st.lists(tokens, max_size=40))
@settings(max_examples=300)
def test_written_tokens_parse_back(toks: list) -> None:
    assert parse_line(write_line(toks)) == toks


@given(st.lists(tokens, min_size=1, max_size=40))
@settings(max_examples=200)
def test_writing_a_parsed_line_gives_it_back(toks: list) -> None:
    line = write_line(toks)
    assert write_line(parse_line(line)) == line


token_like = st.text(alphabet="0123456789+-^_=:.|/rclefkytimGFC ", max_size=30)


@given(st.one_of(st.text(max_size=40), token_like))
@settings(max_examples=500)
def test_arbitrary_text_parses_or_raises_stave_text_error(text: str) -> None:
    try:
        parsed = parse_line(text)
    except StaveTextError as err:
        assert err.line == 1 and 1 <= err.column <= len(text) + 1
        return
    assert write_line(parsed) == text
