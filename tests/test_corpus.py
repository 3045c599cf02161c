from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from generate.charlstm import corpus
from generate.charlstm.data import TBPTTBatches, Vocab, VocabularyError, load_prepared, prepare
from tests.conftest import TINY_ABC


def test_split_abc_cuts_tunes_and_drops_text_between_them() -> None:
    text = "% file header\n%%abc-charset utf-8\n\n" + TINY_ABC + "\nsome notes after\n"
    tunes = corpus.split_abc(text, "f.abc")
    assert [t.text.split("\n")[0] for t in tunes] == ["X:1", "X:2"]
    assert "% a comment inside the tune" in tunes[1].text  # tunes keep what they hold
    assert "some notes after" not in tunes[1].text and "file header" not in tunes[0].text
    assert all("\n\n" not in t.text for t in tunes)


def test_detect_kind() -> None:
    assert corpus.detect_kind(TINY_ABC) == "abc"
    assert corpus.detect_kind("clef:G2 key:0 1 2 |\n3 4 |\n") == "stave"
    assert corpus.detect_kind("e|---0---|\nB|---1---|\n") == "text"


def test_split_is_by_whole_piece_and_deterministic() -> None:
    pieces = [corpus.Piece(f"X:{i}\nK:C\nC", f"s#{i}") for i in range(200)]
    train, val = corpus.split_train_val(pieces, 0.05, seed=3)
    assert len(val) == 10 and len(train) == 190
    assert {p.source for p in train}.isdisjoint({p.source for p in val})
    assert corpus.split_train_val(pieces, 0.05, seed=3) == (train, val)
    assert corpus.split_train_val(pieces, 0.05, seed=4)[1] != val


def test_load_files_reads_folders_and_latin1(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.abc").write_text(TINY_ABC)
    (tmp_path / "two.abc").write_bytes("X:3\nT:Gr\xfc\xdfe\nK:C\nCDE|\n".encode("latin-1"))
    pieces, kind = corpus.load_files([tmp_path])
    assert kind == "abc" and len(pieces) == 3
    assert "Grüße" in pieces[2].text
    with pytest.raises(corpus.CorpusError, match="no such file"):
        corpus.load_files([tmp_path / "missing"])


def test_music21_corpus_is_read_from_the_installed_package() -> None:
    tunes = corpus.load_music21_abc()
    assert len(tunes) > 12000
    sources = {t.source.split("/")[0] for t in tunes}
    assert {"essenFolksong", "oneills1850", "ryansMammoth", "airdsAirs"} <= sources
    assert any('"' in t.text for t in tunes)  # chord symbols occur


def test_prepare_writes_files_that_training_reads(tmp_path: Path) -> None:
    pieces = corpus.split_abc(TINY_ABC * 3, "t")
    prepared = prepare(pieces[:-1], pieces[-1:], "abc", tmp_path, "tiny")
    again = load_prepared(tmp_path)
    assert again.vocab == prepared.vocab and again.train == [p.text for p in pieces[:-1]]
    assert again.kind == "abc"


def test_vocab_unknown_symbol_and_strict_encoding() -> None:
    vocab = Vocab.build("abc\n")
    assert vocab.encode("abz").tolist() == [vocab.index["a"], vocab.index["b"], 0]
    with pytest.raises(VocabularyError, match="'z'"):
        vocab.encode_strict("abz", "the primer")


def test_tbptt_rows_continue_across_batches() -> None:
    pieces = [f"piece {i} " * 5 for i in range(40)]
    vocab = Vocab.build("".join(pieces) + "\n")
    batches = TBPTTBatches(pieces, vocab, batch_size=4, seq_len=8, seed=0)
    epoch = list(batches.epoch(0))
    assert len(epoch) == len(batches)
    for (x0, y0), (x1, _) in itertools.pairwise(epoch):
        assert x0.shape == (4, 8)
        assert (x0[:, 1:] == y0[:, :-1]).all()  # targets are the next characters
        assert (y0[:, -1] == x1[:, 0]).all()  # each row goes on in the next batch
    # Resuming mid-epoch yields the same batches; another epoch shuffles the pieces.
    assert all((a[0] == b[0]).all() for a, b in zip(epoch[3:], batches.epoch(0, 3), strict=True))
    assert not (next(iter(batches.epoch(1)))[0] == epoch[0][0]).all()


def test_abc2midi_verdicts_survive_its_broken_utf8(tmp_path: Path, abc2midi: str) -> None:
    """abc2midi names an unknown character by its first byte alone ("é" gives 0xc3 and a
    newline), which is not UTF-8: the verdict is still given, not a UnicodeDecodeError
    (a sampled tune once stopped bench/abc_validity.py so)."""
    path = tmp_path / "tune.abc"
    path.write_text("X:1\nT:t\nK:C\nCDEF é |]\n", encoding="utf-8")
    ok, output = corpus.abc2midi_accepts(path, tmp_path, abc2midi)
    assert not ok and "Unrecognized character" in output


def test_abc2midi_only_drops_training_tunes_abc2midi_rejects(tmp_path: Path, abc2midi: str) -> None:
    from generate.prepare import prepare_corpus

    good = [f"X:{i}\nT:good {i}\nM:4/4\nL:1/8\nK:G\nGABc d2e2|g4 f4|]" for i in range(1, 21)]
    # A hornpipe in 3/4 and a tie to nothing: music21's corpus holds both kinds.
    bad = [
        "X:31\nT:bad hornpipe\nR:Hornpipe\nM:3/4\nL:1/8\nK:D\nDEF GAB|]",
        "X:32\nT:bad tie\nM:4/4\nL:1/8\nK:C\nC4 D4-|]",
    ]
    assert [corpus.abc2midi_accepts_text(t, tmp_path) for t in (good[0], *bad)] == [
        True,
        False,
        False,
    ]
    folder = tmp_path / "tunes"
    folder.mkdir()
    (folder / "tunes.abc").write_text("\n\n".join(good + bad) + "\n")
    prepared = prepare_corpus(
        [str(folder)], tmp_path / "data", val_fraction=0.1, abc2midi_only=True
    )
    train = (tmp_path / "data" / "train.txt").read_text()
    val = (tmp_path / "data" / "val.txt").read_text()
    assert "bad" not in train and train.count("T:good") + val.count("T:good") >= 18
    assert prepared.kind == "abc"


def test_a_builtin_corpus_and_files_are_held_out_part_by_part(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from generate.charlstm.prepare import prepare_corpus

    folk = tmp_path / "folk"
    folk.mkdir()
    tunes = [
        f"X:{i}\nT:Folk tune {i}\nM:4/4\nL:1/8\nK:G\n|:GABc dedB|{'ABcd' * (i + 1)}efge:|\n"
        for i in range(40)
    ]
    # music21 bundles this tune of the Nottingham Music Database: one copy is kept, ours.
    tunes.append("X:99\nT:Cuckoo's Nest\nM:4/4\nL:1/4\nK:D\nA|d2 dc|d2 e2|f4|]\n")
    (folk / "tunes.abc").write_text("\n".join(tunes))
    out = tmp_path / "prepared"
    prepared = prepare_corpus(["music21-abc", str(folk)], out, val_fraction=0.1, seed=1)
    err = capsys.readouterr().err
    assert "tune(s) of music21-abc left out: the files hold a tune of the same title" in err
    ours = (out / "val-folk.txt").read_text().split(corpus.SEPARATOR)
    theirs = (out / "val-music21-abc.txt").read_text().split(corpus.SEPARATOR)
    assert len(ours) == 4 and all("T:Folk tune" in t or "Cuckoo" in t for t in ours)
    assert len(theirs) > 1000 and not any("T:Folk tune" in t for t in theirs)
    assert sorted(prepared.val) == sorted(ours + theirs)  # val.txt: both parts
    # music21's part holds out the tunes it holds out alone (less the shared ones)
    alone = corpus.split_train_val(corpus.load_music21_abc(), 0.1, 1)[1]
    assert set(theirs) <= {p.text for p in alone} and len(alone) - len(theirs) <= 2
    train = "\n".join(prepared.train)
    assert train.count("T:Cuckoo's Nest") <= 1  # music21's copy is gone
    assert not set(ours) & set(prepared.train)
    staves = tmp_path / "staves.txt"
    staves.write_text((Path(__file__).parents[1] / "datasets/sample/clean/00000.txt").read_text())
    with pytest.raises(corpus.CorpusError, match="one kind"):
        corpus.load_parts(["music21-abc", str(staves)], None)


CHORDED = """X:3
T:Chorded
R:reel
M:4/4
K:G
"G"GABc "D7"d2B2|"C"c2A2 "G"G4|
"G"GABc "Em"d2g2|"D7"f2d2 "G"g4|]"""


def test_abc_variants_keep_the_music() -> None:
    from music21 import converter

    from generate.charlstm import variants

    def notes(text: str) -> list[tuple[str, float]]:
        score = converter.parse(text, format="abc")
        return [
            (n.nameWithOctave, float(n.quarterLength))
            for n in score.flatten().getElementsByClass("Note")
        ]

    played = notes(CHORDED)
    assert len(played) == 18
    for name, rewrite in variants.VARIANTS.items():
        respelled = rewrite(CHORDED)
        assert respelled != CHORDED, name  # each applies to this tune
        assert notes(respelled) == played, name
    assert '"' not in variants.no_chords(CHORDED)
    assert "L:1/8" in variants.spelled_length(CHORDED)


def test_prepare_augments_training_tunes_only(tmp_path: Path) -> None:
    from generate.charlstm.prepare import prepare_corpus

    folder = tmp_path / "abc"
    folder.mkdir()
    tunes = [CHORDED.replace("X:3", f"X:{i}").replace("Chorded", f"Tune {i}") for i in range(20)]
    (folder / "t.abc").write_text("\n\n".join(tunes))
    plain = prepare_corpus([str(folder)], tmp_path / "plain", val_fraction=0.2)
    more = prepare_corpus([str(folder)], tmp_path / "more", val_fraction=0.2, augment=2)
    assert more.val == plain.val  # the same tunes held out, as written
    assert len(more.train) == 3 * len(plain.train)
    copies = more.train[len(plain.train) :]
    assert sum('"' not in c for c in copies) >= len(copies) // 4  # some melody lines alone
    assert sum(c not in plain.train for c in copies) >= len(copies) // 2
    again = prepare_corpus([str(folder)], tmp_path / "again", val_fraction=0.2, augment=2)
    assert again.train == more.train  # seeded


def test_a_folders_readme_is_not_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "tunes.abc").write_text(TINY_ABC)
    (tmp_path / "README.md").write_text("# Tunes\n\nWhere they come from, and the licence.\n")
    (tmp_path / "LICENSE").write_text("GNU GPL 3.0\n")
    pieces, kind = corpus.load_files([tmp_path])
    assert kind == "abc" and len(pieces) == 2
    assert "skipped 2 files (a folder's notes)" in capsys.readouterr().err
    with pytest.raises(corpus.CorpusError, match="one kind"):  # named, it is read
        corpus.load_files([tmp_path / "tunes.abc", tmp_path / "README.md"])


def test_prepare_keeps_a_checkpoints_vocabulary(tmp_path: Path) -> None:
    from generate import prepare as prepare_cmd
    from generate.checkpoint import default_checkpoint, load_checkpoint

    folder = tmp_path / "abc"
    folder.mkdir()
    (folder / "t.abc").write_text(TINY_ABC + "\n\nX:3\nT:Odd\nM:4/4\nK:C\nC\u00e6DE F4|]\n")
    out = tmp_path / "data"
    shipped = default_checkpoint("abc")
    assert (
        prepare_cmd.main([*("--corpus", str(folder), "-o", str(out)), "--vocab-from", str(shipped)])
        == 0
    )
    assert load_prepared(out).vocab == load_checkpoint(shipped).vocab


CONTINUED = """X:1
T:Continued
M:4/4
L:1/8
K:D
P:A
ddef gfed | \\
cdef g2f2 :|
P:B
a2af gfed | cdef d4 |]"""


def test_one_line_keeps_fields_apart_and_drops_continuations(tmp_path: Path) -> None:
    """Joining a tune's music onto one line must leave ABC that abc2midi accepts: a part's
    ``P:`` stays a line of its own and a ``\\`` continuation does not land mid-line."""
    from generate.charlstm import variants
    from generate.charlstm.corpus import abc2midi_accepts_text

    assert abc2midi_accepts_text(CONTINUED, tmp_path, "given")
    joined = variants.one_line(CONTINUED)
    assert joined.splitlines()[-4:] == [
        "P:A",
        "ddef gfed | cdef g2f2 :|",
        "P:B",
        "a2af gfed | cdef d4 |]",
    ]
    assert abc2midi_accepts_text(joined, tmp_path, "joined")
