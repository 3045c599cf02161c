from __future__ import annotations

import csv
import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import verovio
from music21.musicxml.m21ToXml import GeneralObjectExporter

from omr.data import build as dataset
from omr.data import synth
from omr.data.engrave import EngravingSettings, _geometry, engrave
from omr.data.fragments import choose_pieces, piece_fragments
from omr.data.mei import Decorations, staves_to_mei
from stave.stavetext import Bar, Clef, Key, Note, Rest, Time, parse_line

GLYPH_FOR_BASE = {1: "E0A2", 2: "E0A3"}  # SMuFL whole and half noteheads; shorter: E0A4


def drawn_steps(svg: str) -> list[int]:
    lines, heads, _ = _geometry(svg)
    ys = sorted({round(y, 1) for _, _, y in lines})
    assert len(ys) == 5
    half = (ys[-1] - ys[0]) / 8
    return [2 + round((ys[-1] - y) / half) for _, y, _ in heads]


@pytest.mark.slow
def test_clean_truth_matches_the_source_as_verovio_engraves_it() -> None:
    """The truth of clean staves, checked against where Verovio draws each notehead of the
    source measures (music21 -> MusicXML -> Verovio): no stavegen code draws these."""
    tk = verovio.toolkit()
    verovio.enableLog(verovio.LOG_OFF)
    tk.setOptions(
        {
            "breaks": "none",
            "adjustPageHeight": True,
            "adjustPageWidth": True,
            "header": "none",
            "footer": "none",
        }
    )
    checked, wrong = 0, []
    for ref in choose_pieces(100, seed=11):
        for frag in piece_fragments(ref, 3, seed=0, keep_source=True):
            assert frag.source is not None
            notes = list(frag.source.recurse().notes)
            # Grace notes are not written, and a breve is written as two whole notes.
            if any(n.duration.isGrace or n.quarterLength >= 8 for n in notes):
                continue
            tk.loadData(GeneralObjectExporter(frag.source).parse().decode())
            truth = [t.step for t in frag.tokens if isinstance(t, Note)]
            if drawn_steps(tk.renderToSVG(1)) != truth:
                wrong.append(frag.piece)
            checked += 1
    assert checked >= 250
    assert not wrong, f"{len(wrong)} of {checked} fragments disagree: {wrong[:5]}"


def check_engraving(tokens, seed: int, deco: Decorations | None = None) -> None:
    rng = np.random.default_rng(seed)
    deco = deco or dataset.decorations(rng, 1.0)
    e = engrave(staves_to_mei(tokens, rng, deco), EngravingSettings.sample(rng))
    notes = [t for t in tokens if isinstance(t, Note)]
    assert e.notehead_steps() == [n.step for n in notes]
    assert [g for _, _, g in e.noteheads] == [
        GLYPH_FOR_BASE.get(n.duration.base if n.duration else 4, "E0A4") for n in notes
    ]
    assert e.rests == sum(isinstance(t, Rest) for t in tokens)


@pytest.mark.slow
def test_synthesized_engravings_show_their_truth() -> None:
    for i in range(150):
        tokens, _ = synth.random_stave(np.random.default_rng([5, i]))
        check_engraving(tokens, i)


def test_synthesized_content_covers_the_range() -> None:
    steps, bases, accs, clefs = Counter(), Counter(), Counter(), Counter()
    for i in range(400):
        tokens, _ = synth.random_stave(np.random.default_rng([6, i]))
        for t in tokens:
            if isinstance(t, Note):
                steps[t.step] += 1
                bases[(t.duration.base, t.duration.dots)] += 1
                accs[t.accidental] += 1
        clefs[tokens[0].name] += 1
    assert min(steps) <= -5 and max(steps) >= 17  # ledger lines far below and above
    assert {1, 2, 4, 8, 16, 32, 64} <= {b for b, _ in bases} and any(d == 2 for _, d in bases)
    assert {None, -2, -1, 0, 1, 2} <= set(accs)
    assert set(clefs) == {"G2", "F4", "C3", "C4"}


def test_mei_writes_mid_line_changes_and_open_endings() -> None:
    check_engraving(
        parse_line("clef:G2 key:2 time:6/8 1:8 2:8 3:8 r:4. | clef:F4 key:-3 5:2. | 7:4"), 1
    )


def test_metre_changes_inside_a_line_fill_each_bar_to_its_metre() -> None:
    """``omr.dataset build --metre-changes``: a bar starts in a new metre, printed there, and
    is filled to it; the engraving shows every note where the truth says."""
    changed = 0
    for i in range(200):
        tokens, _ = synth.random_stave(np.random.default_rng([8, i]), metre_changes=0.5)
        metre: Time | None = next((t for t in tokens[:3] if isinstance(t, Time)), None)
        bar: list[Note | Rest] = []
        for k, t in enumerate(tokens):
            if isinstance(t, Time) and k > 2:
                assert isinstance(tokens[k - 1], Bar | Clef | Key), tokens  # at a bar's start
                changed += 1
                metre = t
            elif isinstance(t, Note | Rest):
                bar.append(t)
            elif isinstance(t, Bar):
                if metre is not None:
                    length = sum(n.duration.quarter_length for n in bar if n.duration)
                    assert abs(length - 4 * metre.numerator / metre.denominator) < 1e-6, tokens
                bar = []
        if i < 20:
            check_engraving(tokens, i)
    assert changed > 100
    assert synth.random_stave(np.random.default_rng(1)) == synth.random_stave(
        np.random.default_rng(1), metre_changes=0.0
    )


def test_with_metre_changes_each_bar_is_beamed_by_its_own_metre() -> None:
    """``Decorations.follow_metre`` (builds with ``--metre-changes``): eighths in 6/8 after
    2/4 are beamed in threes; without it (older builds) by the first metre's beat."""
    tokens = parse_line(
        "clef:G2 key:0 time:2/4 1:8 2:8 3:8 4:8 | time:6/8 1:8 2:8 3:8 4:8 5:8 6:8 |"
    )

    def beams(follow: bool) -> list[int]:
        mei = staves_to_mei(tokens, np.random.default_rng(0), Decorations(follow_metre=follow))
        return [part.split("</beam>")[0].count("<note ") for part in mei.split("<beam>")[1:]]

    assert beams(True) == [2, 2, 3, 3]
    assert beams(False) == [2, 2, 2, 2, 2]


def test_common_time_is_printed_as_its_sign() -> None:
    """``--common-time``: 4/4 and 2/2 as C and cut C (the truth stays the digits), at a
    line's start and inside it; other metres keep their digits."""
    tokens = parse_line("clef:G2 key:0 time:4/4 1:1 | time:2/2 2:1 | time:3/4 3:2. | time:4/4 1:1")
    signs = staves_to_mei(tokens, np.random.default_rng(0), Decorations(common_time=1.0))
    assert signs.count('meter.sym="common"') == 2 and signs.count('meter.sym="cut"') == 1
    digits = staves_to_mei(tokens, np.random.default_rng(0), Decorations())
    assert "sym=" not in digits
    tk = verovio.toolkit()
    tk.loadData(signs)
    svg = tk.renderToSVG(1)
    assert "E08A" in svg and "E08B" in svg  # SMuFL timeSigCommon, timeSigCutCommon
    check_engraving(tokens, 2, Decorations(common_time=1.0))


def test_finger_numbers_and_endings_are_drawn_and_no_notes() -> None:
    tokens = parse_line("clef:G2 key:1 time:3/4 2:4 3:8 4:8 5:4 | 4:4 3:4 2:4 | 1+:2. |")
    deco = Decorations(fingering=1.0, ending=True, chord_symbols=1.0, lyrics=1.0)
    mei = staves_to_mei(tokens, np.random.default_rng(1), deco)
    assert mei.count("<fing ") == 8 and mei.count("<ending ") == 1
    assert 'right="rptend"' in mei.split("<ending ")[1]  # the last bar, closed by a repeat
    check_engraving(tokens, 1, deco)  # every notehead where the truth says, nothing more
    assert "<ending " not in staves_to_mei(tokens[:8], None, deco)  # one bar: no ending


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "build"
    dataset.build(out, {"clean": 6, "synthesized": 8, "real-world": 6}, seed=3, jobs=2, sheet=True)
    return out


def test_build_writes_three_splits_with_one_line_truths(built: Path) -> None:
    for split, n in (("clean", 6), ("synthesized", 8), ("real-world", 6)):
        pngs = sorted((built / split).glob("*.png"))
        assert [p.name for p in pngs] == [f"{i:05d}.png" for i in range(n)]
        for png in pngs:
            text = png.with_suffix(".txt").read_text(encoding="utf-8")
            assert text.endswith("\n") and text.count("\n") == 1
            assert parse_line(text.rstrip("\n"))
            assert png.read_bytes().startswith(b"\x89PNG")
    rows = list(csv.DictReader((built / "manifest.csv").open()))
    assert [r["split"] for r in rows] == ["clean"] * 6 + ["synthesized"] * 8 + ["real-world"] * 6
    pieces = (built / "pieces.txt").read_text().split()
    assert {r["source"] for r in rows if r["split"] == "clean"} <= set(pieces)
    assert all("engraving" in r["settings"] for r in rows)
    assert all("degradation" in r["settings"] for r in rows if r["split"] == "real-world")


def test_ground_truth_pdf_reads_back_line_for_line(built: Path) -> None:
    rows = list(csv.DictReader((built / "manifest.csv").open()))
    truths = [(built / r["file"]).with_suffix(".txt").read_text().rstrip("\n") for r in rows]
    assert dataset.read_ground_truth_pdf(built / "ground-truth.pdf") == truths


@pytest.mark.slow
def test_same_seed_same_bytes_whatever_the_jobs(built: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    dataset.build(again, {"clean": 6, "synthesized": 8, "real-world": 6}, seed=3, jobs=1)
    for f in sorted(built.glob("*/*.*")):
        if f.suffix in (".png", ".txt"):
            assert (again / f.relative_to(built)).read_bytes() == f.read_bytes(), f
    assert (again / "manifest.csv").read_bytes() == (built / "manifest.csv").read_bytes()
    other = tmp_path / "other"
    dataset.build(other, {"clean": 0, "synthesized": 2, "real-world": 0}, seed=4, jobs=1)
    assert (other / "synthesized/00000.txt").read_bytes() != (
        built / "synthesized/00000.txt"
    ).read_bytes()


def test_contact_sheet_is_written(built: Path) -> None:
    import cv2

    sheet = cv2.imread(str(built / "contact-sheet.png"))
    assert sheet is not None and sheet.shape[1] == 1100 and sheet.shape[0] > 600


def test_committed_sample_is_a_consistent_build() -> None:
    sample = Path(__file__).resolve().parents[1] / "datasets" / "sample"
    rows = list(csv.DictReader((sample / "manifest.csv").open()))
    assert Counter(r["split"] for r in rows) == {"clean": 6, "synthesized": 6, "real-world": 6}
    truths = []
    for r in rows:
        png = sample / r["file"]
        assert png.read_bytes().startswith(b"\x89PNG")
        truths.append(png.with_suffix(".txt").read_text(encoding="utf-8").rstrip("\n"))
        assert parse_line(truths[-1])
    assert dataset.read_ground_truth_pdf(sample / "ground-truth.pdf") == truths


def test_a_failing_stave_is_reported_and_the_rest_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_render = dataset.render

    def flaky(job: dataset.Job) -> dataset.Rendered:
        if job.split == "synthesized" and job.index == 1:
            raise ValueError("simulated failure")
        return real_render(job)

    monkeypatch.setattr(dataset, "render", flaky)
    written = dataset.build(tmp_path / "b", {"clean": 0, "synthesized": 3, "real-world": 0}, 0, 1)
    assert written["synthesized"] == 2
    assert "synthesized/00001: ValueError (simulated failure)" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "b" / "synthesized").glob("*.png")) == [
        "00000.png",
        "00002.png",
    ]
    assert len(dataset.read_ground_truth_pdf(tmp_path / "b" / "ground-truth.pdf")) == 2


@pytest.mark.slow
def test_shards_merged_are_the_one_build(built: Path, tmp_path: Path) -> None:
    """Three machines each build a third (--shard K/3); merged, they are the one build of
    the same seed and counts, byte for byte (the truth PDF line for line)."""
    counts = {"clean": 6, "synthesized": 8, "real-world": 6}
    parts = [tmp_path / f"part{k}" for k in (1, 2, 3)]
    sizes = []
    for k, part in enumerate(parts, 1):
        written = dataset.build(part, counts, seed=3, jobs=1, shard=dataset.Shard(k, 3))
        sizes.append(sum(written.values()))
    assert sizes == [7, 7, 6]  # disjoint parts of the 20, each holding some of every split
    names = [{p.relative_to(part) for p in part.glob("*/*.png")} for part in parts]
    assert not (names[0] & names[1]) and not (names[1] & names[2])
    merged = tmp_path / "merged"
    dataset.merge(merged, list(reversed(parts)))
    files = sorted(p.relative_to(built) for p in built.glob("*/*.*") if p.suffix != ".json")
    assert files == sorted(p.relative_to(merged) for p in merged.glob("*/*.*"))
    for f in files:
        assert (merged / f).read_bytes() == (built / f).read_bytes(), f
    for name in ("manifest.csv", "pieces.txt"):
        assert (merged / name).read_bytes() == (built / name).read_bytes(), name
    assert dataset.read_ground_truth_pdf(merged / "ground-truth.pdf") == (
        dataset.read_ground_truth_pdf(built / "ground-truth.pdf")
    )
    with pytest.raises(dataset.MergeError, match=r"needs each of 1\.\.N once"):
        dataset.merge(tmp_path / "m2", parts[:2])
    other = tmp_path / "other"
    dataset.build(other, {**counts, "clean": 0}, seed=3, jobs=1, shard=dataset.Shard(3, 3))
    with pytest.raises(dataset.MergeError, match="counts"):
        dataset.merge(tmp_path / "m3", [*parts[:2], other])
    with pytest.raises(ValueError, match="K/N"):
        dataset.Shard.parse("3")
    with pytest.raises(ValueError, match="1 <= K <= N"):
        dataset.Shard.parse("4/3")


SAMPLE = Path(__file__).resolve().parents[1] / "datasets" / "sample"


@pytest.mark.slow
def test_reengrave_with_musescore_keeps_names_pieces_and_truths(
    tmp_path: Path, mscore3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from omr.data import engravers
    from omr.data.training_set import items_from_build
    from omr.read.staff import find_staves

    monkeypatch.setattr(engravers, "CHUNK", 3)  # two engraver runs, at two resolutions
    out = tmp_path / "ms"
    written, left_out, failed = engravers.reengrave(SAMPLE, out, "musescore", 6, seed=2, jobs=2)
    assert written + left_out == 6 and written >= 5 and failed == 0
    source = {Path(i.image).relative_to(SAMPLE): i for i in items_from_build(SAMPLE)}
    items = items_from_build(out)
    assert len(items) == written
    rows = list(csv.DictReader((out / "manifest.csv").open(encoding="utf-8")))
    dpis = set()
    for item, row in zip(items, rows, strict=True):
        same = source[Path(row["file"])]
        assert (item.split, item.piece) == (same.split, same.piece)
        # the same music; MuseScore closes the last bar whether the truth does or not
        assert item.truth == same.truth or item.truth == same.truth + " |"
        assert item.truth.endswith("|")
        settings = json.loads(row["settings"])
        assert settings["engraver"] == "musescore" and settings["dpi"] in engravers.DPIS
        dpis.add(settings["dpi"])
        assert ("degradation" in settings) == (item.split == "real-world")
        image = cv2.imread(item.image, cv2.IMREAD_GRAYSCALE)
        assert image is not None and len(find_staves(image)) == 1
        # not Verovio's drawing of the same stave
        assert (out / row["file"]).read_bytes() != (SAMPLE / row["file"]).read_bytes()
    assert len(dpis) == 2
    assert dataset.read_ground_truth_pdf(out / "ground-truth.pdf") == [i.truth for i in items]
    # the same bytes from one process
    again = tmp_path / "again"
    assert engravers.reengrave(SAMPLE, again, "musescore", 6, seed=2, jobs=1)[0] == written
    for row in rows:
        assert (again / row["file"]).read_bytes() == (out / row["file"]).read_bytes()
    with pytest.raises(ValueError, match="holds a build already"):
        engravers.reengrave(SAMPLE, out, "musescore", 1)
    with pytest.raises(ValueError, match="is the source build"):
        engravers.reengrave(out, out, "musescore", 1)


def test_engraved_pages_are_ink_on_white(tmp_path: Path) -> None:
    from omr.data.engravers import on_white, trim

    page = np.zeros((40, 60, 4), np.uint8)  # MuseScore's page: transparent, ink opaque
    page[10:20, 15:30] = (0, 0, 0, 255)
    page[25, 15:30] = (0, 0, 0, 128)  # antialiased: half ink
    cv2.imwrite(str(tmp_path / "p.png"), page)
    gray = on_white(tmp_path / "p.png")
    assert gray is not None and gray.shape == (40, 60)
    assert gray[0, 0] == 255 and gray[12, 20] == 0 and abs(int(gray[25, 20]) - 127) <= 1
    cut = trim(gray, 2)
    assert cut is not None and cut.shape == (16 + 2 * 2, 15 + 2 * 2)  # half ink is ink
    assert trim(np.full((5, 5), 255, np.uint8), 2) is None


def test_reengrave_names_the_missing_engraver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from omr import dataset as command

    monkeypatch.setenv("PATH", str(tmp_path))  # no mscore3, no lilypond
    args = ["reengrave", str(SAMPLE), str(tmp_path / "o"), "--engraver"]
    assert command.main([*args, "musescore"]) == 2
    assert "apt-get install musescore3" in capsys.readouterr().err
    assert command.main([*args, "lilypond"]) == 2
    assert "apt-get install lilypond" in capsys.readouterr().err
    assert (
        command.main(["reengrave", str(tmp_path), str(tmp_path / "o"), "--engraver", "lilypond"])
        == 2
    )
    assert "not a built dataset" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_truth_without_a_time_signature_is_engraved_with_its_own_bars(
    tmp_path: Path, mscore3: str
) -> None:
    """``engraver_score``: a truth that prints no time signature gets a hidden one as long
    as most of its bars, so MuseScore (and LilyPond) engrave the notes the truth holds, in
    its bars.  Without it, MuseScore takes the bars for 4/4 and moves notes about (as its own
    MusicXML export of the engraving shows); LilyPond bars in 4/4, printing C."""
    from music21 import converter

    from omr.data.engravers import engraver_score, hidden_metre
    from stave.musicxml import write_score

    line = "clef:G2 key:0 2:2 | 1+:1. 2:2 | 2:1 r:1 |"
    metre = hidden_metre(line)
    assert metre is not None and metre.ratioString == "8/4"
    assert hidden_metre("clef:G2 key:0 time:3/4 1:2. |") is None  # it prints its own
    later = hidden_metre("clef:G2 key:0 1:2. | 1:4 2:2 | time:2/4 1:2 |")  # printed later
    assert later is not None and later.ratioString == "3/4"
    pickup = hidden_metre("clef:G2 key:0 1:4 | 1:2. 2:4 | 1:1 |")  # a pickup is left out
    assert pickup is not None and pickup.ratioString == "4/4"
    assert hidden_metre("clef:G2 key:0 1:4 2:4") is None  # no whole bar to measure
    dotted = hidden_metre("clef:G2 key:0 1:8 | 1:4. 2:4. | 1:4.")  # 3 quarters: 3/4
    assert dotted is not None and dotted.ratioString == "3/4"
    eighths = hidden_metre("clef:G2 key:0 1:4. 2:4 | 1:8")  # 5 eighths
    assert eighths is not None and eighths.ratioString == "5/8"
    truth = [("G4", 2.0), ("F4", 6.0), ("G4", 2.0), ("G4", 4.0), ("r", 4.0)]
    engraved = {}
    for as_is in (False, True):
        (xml,) = write_score(
            engraver_score(line, as_is), tmp_path / f"s{as_is}", ("musicxml",), whole_bars=True
        )
        back = tmp_path / f"back{as_is}.musicxml"
        subprocess.run(
            [mscore3, "-o", str(back), str(xml)],
            check=True,
            capture_output=True,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
            timeout=120,
        )
        engraved[as_is] = [
            (n.nameWithOctave if n.isNote else "r", float(n.quarterLength))
            for n in converter.parse(back).flatten().notesAndRests
        ]
    assert '<time print-object="no">' in (tmp_path / "sFalse.musicxml").read_text()
    assert engraved[False] == truth
    assert engraved[True] != truth  # what the engravers were given before
