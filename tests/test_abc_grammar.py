"""ABC's grammar for sampling (generate.charlstm.abc_grammar): each rule against abc2midi
itself, the corpus it must not refuse, and the sampler that draws within it."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest
import torch

from generate.charlstm.abc_grammar import AbcChecker, length_value
from generate.charlstm.corpus import abc2midi_accepts, load_music21_abc
from generate.charlstm.model import _allowed
from generate.charlstm.sampling import AbcGuide, draw
from generate.checkpoint import default_checkpoint, load_char_lstm
from tests.test_sample import run_cli

HEADER = "X:1\nT:t\nM:4/4\nL:1/8\nK:G\n"
HORNPIPE = "X:1\nT:t\nR:hornpipe\nM:2/4\nL:1/16\nK:G\n"

# (tune, does abc2midi 4.84 accept it), each tried on abc2midi while the rules were written;
# the abc2midi error each refusal gives is in the comment.
CASES = [
    (HEADER + "CDEF|GABc:|", True),
    (HEADER + "|:CDEF|1GABc:|2cdef|", True),
    (HEADER + "|:C|[1D:|[2E||F|[1G:|[2A|]", True),
    (HEADER + "CD:|EF:|:G|:A:|", True),
    (HEADER + "C3/>D3/ E/>F/ G>z A2|", True),
    (HEADER + ".C>.D E>F C>~D G2|", True),
    (HEADER + "^C-C D2- D C- C2 c'-c' [CE]-[CE]|", True),
    (HEADER + "CDEF|GA{cd} B|GA{cd}|B2 (3Bcd c2|", True),
    (HEADER + "CDEF z2 Z2|", True),
    ("X:1\nT:t\nM:4/4\nL:1/4\nP:AB\nK:C\nP:A\nCDEF|GABc:|\nP:B\nCDEF|[1GABc:|[2cdef|]", True),
    (HORNPIPE + "BA BA BA BA | .B.A .B.A DFAB |", True),
    (HEADER[:-4] + "K:A,\nCDEF|", False),  # Unknown mode ','
    ("X:1\nT:t\nR:hornpipe\nM:3/4\nL:1/8\nK:G\nCDE|", False),  # Hornpipe must be in 2/4...
    (HORNPIPE + "B .A BA BA BA | DFAB AGFD |", False),  # Cannot apply broken rhythm
    ("X:1\nT:t\nM:4/4\nP:A\nL:1/4\nK:C\nCDEF|GABc|", False),  # P: field in header should...
    (HEADER + "CDEF|GA{cd B|", False),  # No note found to follow grace notes
    (HEADER + "C D =E ==F|G A B c|", False),  # Malformed note : expecting a-g or A-G
    (HEADER + "HC D E F|G A B H |", False),  # Malformed note
    (HEADER + "C2-C2 D2-E2|", False),  # Could not find note to be tied
    (HEADER + "C-z D2|", False),  # Could not find note to be tied
    (HEADER + "C2>D E>F|", False),  # Cannot apply broken rhythm
    (HEADER + "C>.D E>F|", False),  # Cannot apply broken rhythm
    (HEADER + "|:CDEF|GABc|", False),  # Missing :| at end of tune
    (HEADER + "CDEF|GABc:|cdef::gabc:|", False),  # found :: before |:
    (HEADER + "|:CDEF|GABc|:cdef|gabc:|", False),  # found another |: after a |:
    (HEADER + "CDEF|GABc:|[2cdef|", False),  # found [1 or like before |:
    (HEADER + "CDEF|[1GABc|]", False),  # Missing :| at end of tune
    (HEADER + "|:C|[1D:|[2E|F|[1G:|[2A|]", False),  # Need || |: :| or :: to mark end...
    (HEADER + "(3ab(3cde f2 g2|", False),  # nested tuples
    (HEADER + "C D / E F|", False),  # stray / not in grace sequence
    (HEADER + "C D E//4 F|", False),  # Unrecognized character: 4
    (HEADER + "C D E F ? G|", False),  # Unrecognized character: ?
    (HEADER + "F,2z, D2|", False),  # Unrecognized character: ,
    (HEADER + "[CE]2 [D [F]] G2|", False),  # Attempt to nest chords
    ("X:1\nT:t\nM:4/4\nL:1/8\n\nK:G\nCDEF|", False),  # No valid K: field found
    ("X:1\nT:t\nM:4/4\nL:6/8\nK:G\nCDEF|", False),  # Default length must be 1/X
    ("X:1\nT:t\nM:A/4\nK:G\nCDEF|", False),  # Expecting fraction in form A/B
    ("X:1\nT:t\nP:Quidd\nK:G\nP:Q\nCDEF|", False),  # illegal character 'u' in part...
    (HEADER + '"Am"CDEF "G7/b"GABc|', True),
    (HEADER + '"B,D"CDEF GABc|', False),  # Unrecognized chord name
    (HEADER + "C,, c'' D E F|", True),
    (HEADER + "C' D E F|", False),  # Bad pitch specifier ' after note C
    (HEADER + "{cd}{ef}G2 A2|", False),  # Intervening note needed between grace notes
    (HEADER + "{cd}~G2 A2|", False),  # Intervening note needed between grace notes
    (HEADER + ".(AB) c2 d4 Hz2|", True),
    (HEADER + "T(AB) c2 d4|", False),  # Malformed note : expecting a-g or A-G
    (HEADER + "T[AB] c2 d4|", False),  # Rolls and trills not supported in chords
    (HEADER + "C3/3 D E F|", False),  # 3 b is not a power of 2
    (HEADER + "(3CDE>F G2|", False),  # Cannot apply broken rhythm (a tuplet's note)
    (HEADER + "(3C>DE F2 G2|", True),
    ("X:1\nT:t\nR:hornpipe\nM:4/4\nL:1/8\nK:G\nA2A A>G A|", False),  # a swung note, then >
    (HEADER + "B<B>G A2 B2|", False),  # Cannot apply broken rhythm (B's length has changed)
    ("X:1\nT:t\nK: d\nCDEF|", False),  # First K: field must specify key signature
    ("X:1\nT:t\nK:Billy\nCDEF|", False),  # Unknown mode 'illy'
    ("X:1\nT:t\nK:E Dorian\nCDEF|", True),
    ("X:1\nT:t\nM:4/4\nL:1/8\nK:C clef=bass transpose=-12\nCDEF|", True),
    ("X:1\nT:t\nM:4/4\nL:1/8\nK:D exp ^f ^c\nCDEF|", True),
    (HEADER + "f<dd>d {~c}B2 A>F|", False),  # nested { not allowed
    (HEADER + '"Gmaj7"CDEF "Am7b5"GABc "C+"c4:|]', True),
    (HEADER + "|:CDEF|1,3GABc:|2cdef|", True),
    (HEADER + "CDEF +trill+G ABc|", True),
    (HEADER + '"Gmaj"CDEF GABc|', False),  # Unrecognized chord name "maj"
    (HEADER + "CDEF|\nH:x\nCDEF|", False),  # Field not allowed in tune body
    (HEADER + "CDEF|[B:x]CDEF|", False),  # Field not allowed in tune body
    (HEADER + "|:abcd|\n \nefga:|", False),  # a line of blanks ends the tune: Missing :|
    ("X:1\nT:t\nM:4/4\nL:1/6\nK:C\nCDEF|", False),  # 6 b is not a power of 2
]


# Where the grammar is stricter than abc2midi on purpose: music in the header, which abc2midi
# ignores ("Ignoring text"), is a sample that has lost its way (it wrote its tune before a K:
# line, and ran to the length limit); so are a run of blanks longer than the corpus's and
# words after a key, which abc2midi ignores with a warning.
STRICTER = [
    "X:1\nT:t\nM:4/4\nL:1/8\nCDEF|\nK:G\nCDEF|",
    HEADER + "CDEF" + " " * 81 + "GABc|",
    "X:1\nT:t\nK:B Jolle\nCDEF|",  # abc2midi: "Ignoring string 'Jolle' in K: field"
    "X:1\nT:t\nM:48444/4\nK:D\nDEFG|",  # music21 takes minutes over such a metre
    "X:1\nT:t\nM:(3+3+2)/8\nK:D\nDEFG|",  # music21 reads it as 332/8
]


def grammar_accepts(tune: str) -> bool:
    """The tune, then a blank line (its end), within the grammar?"""
    return AbcChecker().feed(tune + "\n\n")


@pytest.mark.parametrize(("tune", "accepted"), CASES)
def test_the_grammar_refuses_what_abc2midi_refuses(
    tune: str, accepted: bool, tmp_path: Path, abc2midi: str
) -> None:
    path = tmp_path / "tune.abc"
    path.write_text(tune + "\n")
    assert abc2midi_accepts(path, tmp_path, abc2midi)[0] == accepted
    assert grammar_accepts(tune) == accepted


@pytest.mark.parametrize("tune", STRICTER)
def test_where_the_grammar_is_stricter_than_abc2midi(
    tune: str, tmp_path: Path, abc2midi: str
) -> None:
    path = tmp_path / "tune.abc"
    path.write_text(tune + "\n")
    assert abc2midi_accepts(path, tmp_path, abc2midi)[0]
    assert not grammar_accepts(tune)


def test_the_grammar_says_where_a_tune_breaks() -> None:
    checker = AbcChecker()
    assert checker.feed(HEADER + "C2-")
    assert not checker.allows("D")  # a tie reaches the same note
    assert checker.allows("C") and checker.allows(" ") and checker.allows("|")
    assert not checker.allows("z")
    assert checker.feed("C2 |:")
    end = copy.copy(checker)
    assert end.push("\n")
    assert not end.push("\n")  # the tune may not end with its repeat open
    assert checker.feed(" cd:|\n") and checker.push("\n")
    assert length_value("3/2") == length_value("3/") == 1.5 and length_value("//") == 0.25


def test_trying_a_character_leaves_the_checker_as_it_was() -> None:
    """``allows`` tries a character on a copy: the sampler asks about each character it
    draws, most of them refused, before it pushes the one kept."""
    tune = HEADER + "^c'2-c' d>e | {g}f2 [ce]2 \"Am\"(3abc z2 :|"
    checker = AbcChecker()
    for ch in tune:
        before = copy.deepcopy(vars(checker))
        for other in "abcABC^_=,'/2345|:[]{}()-<>.~H\"z \n%!":
            checker.allows(other)
        assert vars(checker) == before
        assert checker.push(ch)


def test_a_walk_within_the_grammar_rarely_finds_no_way_on() -> None:
    """From points inside real tunes, walk at random among the characters allowed (a far
    harsher writer than the network): nothing raises, and almost every walk goes on until
    the tune ends or 80 characters pass (a walk with no character allowed is a sample the
    sampler would let go of its grammar)."""
    _, ckpt = load_char_lstm(default_checkpoint("abc"))
    chars = [ckpt.vocab.decode([i]) for i in range(1, len(ckpt.vocab))]
    rng = random.Random(1)
    tunes = rng.sample(load_music21_abc(), 60)
    stuck = []
    for tune in tunes:
        checker = AbcChecker()
        if not checker.feed(tune.text[: rng.randrange(len(tune.text))]):
            continue
        for _ in range(80):
            allowed = [ch for ch in chars if checker.allows(ch)]
            if not allowed:
                stuck.append(checker.line)
                break
            assert checker.push(rng.choice(allowed))
            if checker.ended:
                break
    assert len(stuck) <= 1, stuck


@pytest.mark.slow
def test_the_grammar_accepts_the_corpus_abc2midi_accepts(tmp_path: Path, abc2midi: str) -> None:
    """The rules must not keep the model from what it learned: of 400 tunes of music21's
    corpus (a fixed draw) that abc2midi accepts, the grammar refuses none."""
    tunes = random.Random(0).sample(load_music21_abc(), 400)
    refused = []
    for i, tune in enumerate(tunes):
        path = tmp_path / f"t{i}.abc"
        path.write_text(tune.text + "\n")
        if abc2midi_accepts(path, tmp_path, abc2midi)[0] and not grammar_accepts(tune.text):
            refused.append(tune.source)
    assert not refused, refused


def test_a_refused_draw_is_drawn_again_from_the_rest() -> None:
    """Drawing again without the refused token is drawing from the distribution
    renormalised over the tokens allowed."""
    torch.manual_seed(0)
    rows = 4000
    logits = torch.log(torch.tensor([0.5, 0.3, 0.2])).repeat(rows, 1)  # (B, V)
    first = torch.multinomial(logits.softmax(-1), 1).squeeze(1)

    def not_zero(nxt: torch.Tensor) -> torch.Tensor:
        return nxt != 0

    nxt = _allowed(logits, first, 1.0, None, not_zero)
    assert not bool((nxt == 0).any())
    share = float((nxt == 1).float().mean())
    assert abs(share - 0.6) < 0.03, share  # 0.3 / (0.3 + 0.2)

    # a row with no token allowed keeps a draw; argmax takes the best allowed
    def nothing(nxt: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(nxt, dtype=torch.bool)

    none = _allowed(logits[:2], first[:2], 1.0, None, nothing)  # every token tried
    assert torch.equal(none, first[:2])  # the network's own first draw, not the last one left
    best = _allowed(logits[:1], torch.tensor([0]), 0.0, None, not_zero)
    assert best.tolist() == [1]
    # top k = 1 and that one refused: the rest of the distribution, not the grammar dropped
    top = logits[:1].masked_fill(torch.tensor([[False, True, True]]), float("-inf"))
    wider = _allowed(top, torch.tensor([0]), 1.0, None, not_zero, whole=logits[:1])
    assert wider.item() in (1, 2)


def test_a_primer_outside_the_grammar_is_drawn_without_it() -> None:
    model, ckpt = load_char_lstm(default_checkpoint("abc"))
    guide = AbcGuide(ckpt.vocab, "X:1\nT:t\nK:G\n==", 2)
    assert guide.checkers == [None, None]
    texts = draw(model, ckpt.vocab, "abc", 2, 40, 0.8, prime="X:1\nT:t\nK:G\n==", seed=1)
    assert all(t.startswith("X:1\nT:t\nK:G\n==") for t in texts)


@pytest.mark.slow
def test_tunes_drawn_within_the_grammar_end_within_it_and_abc2midi_accepts_them(
    tmp_path: Path, abc2midi: str
) -> None:
    model, ckpt = load_char_lstm(default_checkpoint("abc"))
    texts = draw(model, ckpt.vocab, "abc", 12, 2000, 0.8, seed=3, context=ckpt.context)
    accepted = 0
    for i, text in enumerate(texts):
        assert grammar_accepts(text), text
        path = tmp_path / f"t{i}.abc"
        path.write_text(text + "\n")
        accepted += abc2midi_accepts(path, tmp_path, abc2midi)[0]
    assert accepted == len(texts)


def test_cli_says_when_the_primer_is_outside_the_grammar(tmp_path: Path) -> None:
    proc = run_cli(
        "generate.sample",
        *("--num", "1", "--length", "40", "--seed", "1", "-o", str(tmp_path)),
        *("--prime", "X:1\\nT:t\\nK:Billy\\n"),
    )
    assert proc.returncode == 0, proc.stderr
    assert "note: the primer is outside ABC's grammar" in proc.stderr


def test_cli_no_grammar_draws_from_the_network_alone(tmp_path: Path) -> None:
    args = ["--num", "2", "--length", "300", "--seed", "4"]
    free = run_cli("generate.sample", *args, "--no-grammar", "-o", str(tmp_path / "free"))
    held = run_cli("generate.sample", *args, "-o", str(tmp_path / "held"))
    assert free.returncode == 0 and held.returncode == 0, free.stderr + held.stderr
    for folder in ("free", "held"):
        assert len(list((tmp_path / folder).glob("sample-*.abc"))) == 2
