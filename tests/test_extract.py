"""``omr.extract`` and ``omr.evaluate`` end to end: outputs, bad input, pages with several
staves, PDFs, and the chain into ``generate``."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from fpdf import FPDF
from music21 import converter
from PIL import Image

from omr import evaluate as omr_evaluate
from omr import extract
from omr.data.build import ground_truth_pdf, read_ground_truth_pdf
from omr.metrics import errors
from omr.model.checkpoint import RecognizerCheckpoint, save_checkpoint
from omr.model.network import Recognizer, RecognizerConfig
from omr.model.vocab import SymbolVocab
from omr.read import pipeline, report
from omr.read.assemble import Context, fit_time, piece_lines, with_header, without_courtesy_time
from omr.read.preview import COLOURS as preview_colours
from omr.read.recognize import StaveReader, default_weights
from stave.stavetext import Clef, Key, Note, parse_line, write_line
from tests.conftest import open_in_musescore

SAMPLE = Path(__file__).resolve().parents[1] / "datasets" / "sample"


@pytest.fixture(scope="module")
def untrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small untrained recognizer: the plumbing does not depend on what it reads.  Its
    output leans to the middle line, so every stave reads as a note (a piece MusicXML can
    hold) whatever the random weights."""
    torch.manual_seed(0)
    vocab = SymbolVocab.default()
    config = RecognizerConfig(len(vocab), channels=[8, 8, 8, 8], hidden_size=16, num_layers=1)
    model = Recognizer(config)
    with torch.no_grad():
        model.head.bias[vocab.index["3"]] += 20.0
    path = tmp_path_factory.mktemp("ckpt") / "untrained.pt"
    save_checkpoint(path, RecognizerCheckpoint(config, vocab, model.state_dict()))
    return path


@pytest.fixture(scope="module")
def shipped() -> StaveReader:
    assert default_weights().exists(), f"{default_weights()} is missing: the weights ship"
    return StaveReader.load()


def stacked_page(names: list[str], gap: int = 120) -> np.ndarray:
    """Sample staves stacked on one white page, in the order given, with room between."""
    staves = [cv2.imread(str(SAMPLE / n), cv2.IMREAD_GRAYSCALE) for n in names]
    width = max(s.shape[1] for s in staves) + 200
    height = sum(s.shape[0] for s in staves) + gap * (len(staves) + 1)
    page = np.full((height, width), 255, np.uint8)
    y = gap
    for s in staves:
        page[y : y + s.shape[0], 100 : 100 + s.shape[1]] = s
        y += s.shape[0] + gap
    return page


def truth(name: str) -> list:
    return parse_line((SAMPLE / name).with_suffix(".txt").read_text().strip())


def test_headers_start_every_line_and_carry_over() -> None:
    lines = piece_lines(
        [
            parse_line("clef:F4 key:-2 1:4 | 2:4 |"),
            parse_line("3:4 clef:C3 4:4 |"),  # header missed: the previous clef and key
            parse_line("key:1 clef:G2 5:4"),  # read in the wrong order
            [],
        ]
    )
    assert [write_line(x) for x in lines] == [
        "clef:F4 key:-2 1:4 | 2:4 |",
        "clef:F4 key:-2 3:4 clef:C3 4:4 |",
        "clef:G2 key:1 5:4",
        "clef:G2 key:1",
    ]
    line, ctx = with_header([Note(3)], Context())
    assert line[:2] == [Clef("G2"), Key(0)] and ctx == Context()


def test_extract_writes_text_musicxml_and_corpus(tmp_path: Path, untrained: Path) -> None:
    out = tmp_path / "out"
    rc = extract.main(
        [
            str(SAMPLE / "clean"),
            str(SAMPLE / "ground-truth.pdf"),
            "-o",
            str(out),
            "--checkpoint",
            str(untrained),
            "--jobs",
            "2",
            "--quiet",
        ]
    )
    assert rc == 0
    names = sorted(p.stem for p in (SAMPLE / "clean").glob("*.png"))
    corpus = (out / "corpus.txt").read_text()
    for name in names:
        lines = (out / f"{name}.txt").read_text().splitlines()
        assert len(lines) == 1 and lines[0].startswith("clef:")
        assert parse_line(lines[0])[1].__class__ is Key
        assert (out / f"{name}.musicxml").stat().st_size > 200
        assert lines[0] in corpus
    # The label PDF is read as text, line for line, not recognized.
    pdf_lines = (out / "ground-truth.txt").read_text().splitlines()
    assert pdf_lines == read_ground_truth_pdf(SAMPLE / "ground-truth.pdf")
    pieces = corpus.strip("\n").split("\n\n")
    assert len(pieces) == len(names) + 1 and pieces[-1].splitlines() == pdf_lines


def test_pitch_format_is_positions_alone(tmp_path: Path, untrained: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "labels.pdf").write_bytes(
        ground_truth_pdf(["clef:G2 key:1 time:3/4 2:2 ^2:8 r:8 3+:8 | 4:4 |"])
    )
    rc = extract.main(
        [
            str(tmp_path / "in"),
            "-o",
            str(tmp_path / "out"),
            "--format",
            "pitch",
            "--checkpoint",
            str(untrained),
            "--quiet",
        ]
    )
    assert rc == 0
    assert (tmp_path / "out" / "labels.txt").read_text() == "2 2 3+ 4\n"


def test_pitch_format_musicxml_keeps_clef_key_and_durations(
    tmp_path: Path, untrained: Path
) -> None:
    """The text is positions alone; the MusicXML is still what was read (it used to be
    written from the positions: treble clef, C major, quarters, wrong pitches in bass)."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "labels.pdf").write_bytes(
        ground_truth_pdf(["clef:F4 key:-2 time:3/4 2:2 1+:4 | 3:2. |"])
    )
    out = tmp_path / "out"
    args = [str(tmp_path / "in"), "-o", str(out), "--format", "pitch"]
    assert extract.main([*args, "--checkpoint", str(untrained), "--quiet"]) == 0
    assert (out / "labels.txt").read_text() == "2 1+ 3\n"
    score = converter.parse(out / "labels.musicxml")
    got = [(n.nameWithOctave, n.quarterLength) for n in score.flatten().notes]
    assert got == [("B-2", 2.0), ("A2", 1.0), ("D3", 3.0)]
    xml = (out / "labels.musicxml").read_text()
    assert "<sign>F</sign>" in xml and "<fifths>-2</fifths>" in xml


def test_bad_inputs_are_reported_and_the_rest_written(
    tmp_path: Path, untrained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    good = (SAMPLE / "clean" / "00001.png").read_bytes()
    (src / "good.png").write_bytes(good)
    (src / "empty.png").write_bytes(b"")
    (src / "cut.png").write_bytes(good[: len(good) // 3])
    (src / "noise.jpg").write_bytes(b"not an image" * 20)
    cv2.imwrite(str(src / "nostaff.png"), np.full((400, 600), 230, np.uint8))
    Image.new("1", (13000, 12000), 1).save(src / "huge.png")
    pdf = FPDF()
    pdf.add_page()
    pdf.set_encryption(owner_password="o", user_password="secret")
    (src / "locked.pdf").write_bytes(bytes(pdf.output()))
    (src / "zero.pdf").write_bytes(b"")
    out = tmp_path / "out"
    rc = extract.main([str(src), "-o", str(out), "--checkpoint", str(untrained), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1
    for name, problem in [
        ("empty.png", "empty file"),
        ("cut.png", "truncated"),
        ("noise.jpg", "not an image"),
        ("nostaff.png", "no staff found"),
        ("huge.png", "too large"),
        ("locked.pdf", "encrypted"),
        ("zero.pdf", "empty file"),
    ]:
        assert any(name in line and problem in line for line in err.splitlines()), (name, err)
        assert not (out / Path(name).with_suffix(".txt").name).exists()
    assert (out / "good.txt").read_text().startswith("clef:")
    assert (out / "corpus.txt").read_text() == (out / "good.txt").read_text()
    assert not list(out.glob("*.tmp*")) and not list(out.glob(".*"))


def test_same_name_from_two_formats_keeps_both(tmp_path: Path) -> None:
    a, b = tmp_path / "x.png", tmp_path / "x.pdf"
    assert pipeline.output_names([a, b], [tmp_path]) == ["x_png", "x_pdf"]
    sub = tmp_path / "s" / "y.png"
    assert pipeline.output_names([sub], [tmp_path]) == ["s/y"]


# The shipped recognizer: what it reads, not only that something is written.


def test_shipped_weights_read_the_committed_sample(shipped: StaveReader) -> None:
    cases = omr_evaluate.cases(SAMPLE)
    tallies = omr_evaluate.evaluate(cases, shipped, jobs=2)
    assert tallies["all"].files == 18
    assert tallies["all"].staves_share == 1.0
    # Loose bounds that an untrained or broken recognizer cannot meet (it scores near 1.0);
    # the measured figures are in the README.
    assert tallies["clean"].ser < 0.15, tallies["clean"]
    assert tallies["all"].pitch_ser < 0.25, tallies["all"]


def test_reading_in_worker_processes_is_reading_in_one(
    tmp_path: Path, shipped: StaveReader
) -> None:
    """With ``jobs`` > 1 on the CPU, worker processes find and read a few files each; what
    comes back is what one process reads (tokens, confidences), file for file in the order
    given, a broken image and a label PDF among them, and a file reads the same alone."""
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    images = sorted(SAMPLE.glob("*/*.png"))
    paths = [*images[:7], broken, SAMPLE / "ground-truth.pdf", *images[7:]]
    one = list(pipeline.read_files(paths, shipped, jobs=1, progress=False))
    two = list(pipeline.read_files(paths, shipped, jobs=2, progress=False))
    assert [r.source for r in two] == paths
    assert [(r.lines, r.error, r.from_text) for r in two] == [
        (r.lines, r.error, r.from_text) for r in one
    ]
    assert two[7].error is not None and two[8].from_text and two[0].lines
    # Each file is read in passes of its own: the same confidences, to the last bit.
    assert [r.confidence for r in two] == [r.confidence for r in one]
    # and a file reads the same whatever is read beside it
    alone = list(pipeline.read_files(paths[3:4], shipped, jobs=1, progress=False))
    assert (alone[0].lines, alone[0].confidence) == (one[3].lines, one[3].confidence)


def test_extract_writes_the_same_files_whatever_jobs(tmp_path: Path, shipped: StaveReader) -> None:
    """With ``--jobs 2`` on the CPU the reading workers make the MusicXML too: every file
    written (text, MusicXML, the corpus) is what one process writes, and a broken input is
    reported by both."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for image in sorted(SAMPLE.glob("*/*.png"))[:9]:
        (inputs / f"{image.parent.name}-{image.name}").write_bytes(image.read_bytes())
    (inputs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    summaries = [
        pipeline.extract([inputs], tmp_path / f"out{jobs}", shipped, jobs=jobs, progress=False)
        for jobs in (1, 2)
    ]
    assert summaries[0].failed == summaries[1].failed == 1
    assert summaries[0].staves == summaries[1].staves == 9

    def written(folder: Path) -> dict[str, bytes]:
        date = re.compile(rb"<encoding-date>.*?</encoding-date>")
        ids = re.compile(rb'id="[PI][0-9a-f]+"')
        return {
            f.name: ids.sub(b"", date.sub(b"", f.read_bytes())) for f in sorted(folder.iterdir())
        }

    one, two = written(tmp_path / "out1"), written(tmp_path / "out2")
    assert sorted(one) == sorted(two)
    assert len([n for n in one if n.endswith(".musicxml")]) == 9
    assert one == two


def _best_match(read: list, truths: list[list]) -> int:
    scores = [errors(read, t)[0] / max(1, errors(read, t)[1]) for t in truths]
    return int(np.argmin(scores))


def test_page_with_several_staves_reads_them_in_order(tmp_path: Path, shipped: StaveReader) -> None:
    names = ["clean/00002.png", "synthesized/00000.png", "clean/00000.png", "clean/00001.png"]
    cv2.imwrite(str(tmp_path / "page.png"), stacked_page(names))
    summary = pipeline.extract([tmp_path / "page.png"], tmp_path / "out", shipped, progress=False)
    assert summary.failed == 0 and summary.staves == len(names)
    read = [parse_line(x) for x in (tmp_path / "out" / "page.txt").read_text().splitlines()]
    truths = [truth(n) for n in names]
    assert [_best_match(r, truths) for r in read] == list(range(len(names)))


def test_pdf_of_engraved_music_with_several_staves(tmp_path: Path, shipped: StaveReader) -> None:
    pages = [["clean/00002.png", "clean/00003.png"], ["synthesized/00000.png", "clean/00000.png"]]
    pdf = FPDF(unit="pt", format="A4")
    for i, names in enumerate(pages):
        png = tmp_path / f"p{i}.png"
        cv2.imwrite(str(png), stacked_page(names, gap=200))
        pdf.add_page()
        pdf.set_font("Helvetica", size=16)
        pdf.text(60, 50, f"Exercise {i + 1}")
        pdf.image(str(png), x=40, y=80, w=515)
    (tmp_path / "book.pdf").write_bytes(bytes(pdf.output()))
    summary = pipeline.extract([tmp_path / "book.pdf"], tmp_path / "out", shipped, progress=False)
    assert summary.failed == 0 and summary.pages == 2 and summary.staves == 4
    read = [parse_line(x) for x in (tmp_path / "out" / "book.txt").read_text().splitlines()]
    flat = [n for names in pages for n in names]
    truths = [truth(n) for n in flat]
    assert [_best_match(r, truths) for r in read] == [0, 1, 2, 3]
    assert (tmp_path / "out" / "book.musicxml").stat().st_size > 500


@pytest.mark.slow
def test_extract_train_sample_chain(tmp_path: Path, shipped: StaveReader, mscore3: str) -> None:
    from generate import sample, train
    from generate.checkpoint import default_checkpoint

    pipeline.extract([SAMPLE], tmp_path / "ex", shipped, progress=False)
    corpus = tmp_path / "ex" / "corpus.txt"
    assert len(corpus.read_text().splitlines()) >= 18
    run = tmp_path / "run"
    rc = train.main(
        [
            "--corpus",
            str(corpus),
            "--kind",
            "stave",
            "-o",
            str(run),
            "--max-steps",
            "20",
            # Fine-tuning the shipped stave-text model, as a user with a few pages would.
            "--init-from",
            str(default_checkpoint("stave")),
            "--batch-size",
            "8",
            "--seq-len",
            "64",
            "--eval-every",
            "20",
            "--val-fraction",
            "0.2",
        ]
    )
    assert rc == 0
    out = tmp_path / "samples"
    sample.main(
        [
            "--checkpoint",
            str(run / "best.pt"),
            "--num",
            "6",
            "--length",
            "400",
            "--seed",
            "1",
            "--temperature",
            "0.5",
            "-o",
            str(out),
        ]
    )
    written = sorted(out.glob("*.musicxml"))
    assert written, "no sample converted to MusicXML"
    open_in_musescore(mscore3, written[0], tmp_path)


def test_musicxml_that_cannot_be_written_is_reported_not_raised(tmp_path: Path) -> None:
    assert pipeline.write_musicxml("clef:G2 key:0 2:4 |\n", "ok", tmp_path / "ok") is None
    assert (tmp_path / "ok.musicxml").stat().st_size > 200
    error = pipeline.write_musicxml("clef:G2 key:0 2:4 oops\n", "bad", tmp_path / "bad")
    assert error is not None and "oops" in error
    assert not (tmp_path / "bad.musicxml").exists()
    (tmp_path / "dir.musicxml").mkdir()  # a folder in the way: said once, with the path
    error = pipeline.write_musicxml("clef:G2 key:0 2:4 |\n", "dir", tmp_path / "dir")
    assert error is not None and error.count("cannot write") == 1 and "dir.musicxml" in error


def test_preview_outlines_each_stave_and_engraves_what_was_read(
    tmp_path: Path, shipped: StaveReader
) -> None:
    names = ["clean/00002.png", "synthesized/00000.png", "clean/00000.png"]
    page = stacked_page(names, gap=150)
    cv2.imwrite(str(tmp_path / "page.png"), page)
    summary = pipeline.extract(
        [tmp_path / "page.png"], tmp_path / "out", shipped, progress=False, preview=True
    )
    assert summary.failed == 0 and summary.staves == 3
    image = cv2.imread(str(tmp_path / "out" / "page.preview.png"))
    scale = pipeline.PICTURE_WIDTH / page.shape[1]  # the page is kept at most 1200 px wide
    assert image.shape[1] == pipeline.PICTURE_WIDTH
    shown = round(page.shape[0] * scale)
    assert image.shape[0] > shown + 3 * 60  # three engravings under the page
    middles, top = [], 150  # of each pasted stave, on the page
    for name in names:
        height = cv2.imread(str(SAMPLE / name), cv2.IMREAD_GRAYSCALE).shape[0]
        middles.append(top + height / 2)
        top += height + 150
    for k in range(len(names)):
        colour = np.array(preview_colours[k], np.uint8)
        rows = np.flatnonzero((image[:shown] == colour).all(axis=2).any(axis=1)) / scale
        assert len(rows), f"stave {k + 1} has no outline"
        # the outline (the crop the recognizer reads: the lines and room for ledger lines)
        # is around the pasted stave, and no other
        inside = [rows.min() < m < rows.max() for m in middles]
        assert inside == [j == k for j in range(len(names))], (k, rows.min(), rows.max(), middles)
    # the engravings: ink below the page
    assert (image[shown:] < 128).any(axis=2).sum() > 1000


def test_report_warns_of_bars_that_do_not_fill_their_time() -> None:
    lines = [
        parse_line("clef:G2 time:3/4 2:4 | 2:2. | 2:2 | 3:4"),  # a pickup, a full bar, a short one
        parse_line("clef:G2 3:2 | 4:2. |"),  # the bar across the line break is full
        parse_line("clef:G2 time:2/4 r:2 | 2:4 2:4 2:4 |"),  # a new time: the second bar is long
    ]
    problems, checked = report.bar_problems(lines)
    assert [(p.stave, p.bar, p.quarters) for p in problems] == [(0, 3, 2.0), (2, 2, 3.0)]
    assert checked == [3, 2, 2]
    assert str(problems[0]) == "bar 3 holds 2 quarters, time:3/4 wants 3"
    rows, warnings = report.rows("page.png", [1, 1, 2], [0.9, 0.8, 0.7], lines, [(1, 300.0)])
    assert warnings == [
        "page.png stave 1: bar 3 holds 2 quarters, time:3/4 wants 3",
        "page.png stave 3: bar 2 holds 3 quarters, time:2/4 wants 2",
        "page.png page 2: five lines near y=300 were not read (a stave of another size?)",
    ]
    assert rows[1] == ["page.png", 1, 2, "0.8000", 2, ""]


def test_report_finds_a_stave_of_another_size_left_unread(
    tmp_path: Path, shipped: StaveReader, capsys: pytest.CaptureFixture[str]
) -> None:
    page = stacked_page(["clean/00002.png", "clean/00000.png"], gap=200)
    small = cv2.imread(str(SAMPLE / "clean/00001.png"), cv2.IMREAD_GRAYSCALE)
    small = cv2.resize(small, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    page = np.vstack([page, np.full((small.shape[0] + 100, page.shape[1]), 255, np.uint8)])
    y = page.shape[0] - 60 - small.shape[0]
    page[y : y + small.shape[0], 100 : 100 + small.shape[1]] = small
    cv2.imwrite(str(tmp_path / "mixed.png"), page)
    summary = pipeline.extract(
        [tmp_path / "mixed.png"], tmp_path / "out", shipped, progress=False, report=True
    )
    assert summary.staves == 2  # the staff finder reads one size a page
    err = capsys.readouterr().err
    assert "mixed.png page 1: five lines near y=" in err, err
    found_y = float(err.split("near y=")[1].split()[0])
    assert y < found_y < y + small.shape[0]
    csv_rows = (tmp_path / "out" / "report.csv").read_text().splitlines()
    assert csv_rows[0] == "file,page,stave,confidence,bars_checked,problem"
    assert len(csv_rows) == 1 + 2 + 1  # two staves read, one group unread
    assert [row.split(",")[1:3] for row in csv_rows[1:3]] == [["1", "1"], ["1", "2"]]


def test_a_time_signature_is_fitted_to_the_bars_that_follow() -> None:
    def fitted(text: str) -> str:
        return write_line(fit_time(parse_line(text)))

    # 6/8 read where every bar holds three eighths: 3/8 (the pickup does not count)
    assert fitted("time:6/8 2:8 | 2:8 3:8 4:8 | 2:4. | 3:8 3:8 3:8 |") == (
        "time:3/8 2:8 | 2:8 3:8 4:8 | 2:4. | 3:8 3:8 3:8 |"
    )
    assert fitted("time:2/4 2:4 2:4 2:4 | 2:2. |") == "time:3/4 2:4 2:4 2:4 | 2:2. |"
    # bars that fit, disagree, or are twice the metre once (a bar line missed) are left alone
    for kept in (
        "time:3/4 2:2. | 2:4 2:2 |",
        "time:3/4 2:2 | 2:1 | 2:2. |",
        "time:2/4 2:2 | 2:1 | 2:2 |",
        "time:2/4 2:2 | 2:2 | time:2/4 2:1 |",
        "time:2/4 2:4 2:4 2:4 2:4 | 2:4 2:4 2:4 2:4 | 2:2 |",  # twice, but not all bars
        "time:4/4 2:1 | time:3/4 2:2. | 2:1 |",  # inside the line, no pickup left out
        "time:4/4 2:8 | 2:8 |",  # eighths: no metre of that length
        "time:4/4 2:4 2:4 2:4 |",  # one bar at the line's start (a pickup?): too little
    ):
        assert fitted(kept) == kept
    # two bars twice the metre: a metre, not two bar lines missed
    assert fitted("time:2/4 2:1 | 2:1 |") == "time:4/4 2:1 | 2:1 |"
    # a signature inside the line starts a whole bar: one bar is enough
    assert fitted("time:3/4 2:2. | time:3/8 2:4. 2:4. 2:4. |") == (
        "time:3/4 2:2. | time:9/8 2:4. 2:4. 2:4. |"
    )
    # each time signature by its own bars
    assert fitted("time:2/4 2:2. | 2:2. | time:3/4 2:2 | 2:2 |") == (
        "time:3/4 2:2. | 2:2. | time:2/4 2:2 | 2:2 |"
    )


def test_a_courtesy_time_signature_at_the_end_of_a_line_is_left_out() -> None:
    def kept(text: str) -> str:
        return write_line(without_courtesy_time(parse_line(text)))

    # After the last bar line, announcing the next line's metre (a CPMS photo prints C
    # there, read as time:4/4 and a whole note): no change on this line.
    assert kept("time:3/4 2:2. | 3:2. | time:4/4") == "time:3/4 2:2. | 3:2. |"
    assert kept("time:3/4 2:2. | 3:2. | time:4/4 3+:1") == "time:3/4 2:2. | 3:2. |"
    assert piece_lines([parse_line("clef:G2 key:-1 time:2/4 2:2 | time:4/4 3+:1")]) == [
        parse_line("clef:G2 key:-1 time:2/4 2:2 |")
    ]
    # A change of metre with music after it stays: any note but a single whole one (a
    # final bar line missed, an upbeat carried over), two notes, a bar line, or no bar line
    # before it at all (a line of one bar).
    for text in (
        "time:4/4 2:1 | 3:1 | time:3/4 4:2.",
        "time:2/4 2:4 2:4 | time:6/8 2:8",
        "time:4/4 2:1 | time:3/4 r:2.",
        "time:3/4 2:2. | time:4/4 r:1",
        "time:3/4 2:2. | time:2/4 2:4 3:4",
        "time:3/4 2:2. | time:2/4 2:2 |",
        "time:3/4 2:2. | time:2/4 2:2 | 3:2",
        "time:4/4 3+:1",
        "time:3/4 2:2. | 2:2 time:2/4",
    ):
        assert kept(text) == text


def test_time_signatures_the_header_reader_reads_are_not_fitted_to_the_bars(
    tmp_path: Path,
) -> None:
    """A 3/4 printed over bars of two quarters: the shipped header reader reads every time
    signature where it is printed, so its 3/4 stands (the bars may be misread, or the print
    wrong); read without it (``--header none``), the recognizer's is fitted to the bars."""
    from omr.data.engrave import EngravingSettings, engrave
    from omr.data.mei import Decorations, staves_to_mei
    from omr.extract import main

    truth = parse_line("clef:G2 key:0 time:3/4 1:4 2:4 | 3:4 4:4 | 5:4 6:4 | 5:4 4:4 |")
    image = engrave(staves_to_mei(truth, None, Decorations()), EngravingSettings()).image
    png = tmp_path / "three.png"
    cv2.imwrite(str(png), image)
    assert main([str(png), "-o", str(tmp_path / "with"), "--quiet"]) == 0
    assert main([str(png), "-o", str(tmp_path / "none"), "--header", "none", "--quiet"]) == 0
    read = (tmp_path / "with" / "three.txt").read_text()
    fitted = (tmp_path / "none" / "three.txt").read_text()
    assert read.startswith("clef:G2 key:0 time:3/4 "), read
    assert fitted.startswith("clef:G2 key:0 time:2/4 "), fitted
    # omr.read_music, from the file and from the image in memory, as omr.extract
    from omr.api import read_music

    assert read_music(png).text == read
    assert read_music(image, name="three").text == read
