"""The header reader (``omr.model.header``): a stave's key and time signature read where
they are printed, in place of the recognizer's reading of them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from omr.model.checkpoint import (
    HeaderCheckpoint,
    load_checkpoint,
    load_header,
    save_header,
)
from omr.model.decode import greedy_path
from omr.model.header import (
    DENOMINATORS,
    KEYS,
    NUMERATORS,
    Header,
    HeaderConfig,
    HeaderReader,
    bar_window,
    decode,
    for_inference,
    header_of,
    strip,
    targets,
    with_bar_times,
    with_header,
)
from omr.read.recognize import HEADER_FIELDS, HEADER_WEIGHTS, WEIGHTS, StaveReader
from stave.checkpoint import CheckpointError
from stave.stavetext import Note, Rest, Time, Token, parse_line, write_line

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "datasets" / "sample"


def test_a_truths_header_becomes_classes_and_back() -> None:
    line = parse_line("clef:F4 key:-3 time:6/8 | 1:8 2:8 3:8 time:3/4 4:2.")
    header = header_of(line)
    assert header == Header(-3, Time(6, 8))  # the time change inside the line is not its
    wanted = targets(header)
    assert wanted == (KEYS.index(-3), NUMERATORS.index(6), DENOMINATORS.index(8))
    sizes = (len(KEYS), len(NUMERATORS), len(DENOMINATORS))
    logits = tuple(
        torch.nn.functional.one_hot(torch.tensor([w]), n).float()
        for w, n in zip(wanted, sizes, strict=True)
    )
    assert decode(logits) == [header]  # type: ignore[arg-type]
    assert header_of(parse_line("1:4 time:3/4 2:4")) == Header(0, None)  # after a note: not
    assert targets(Header(0, Time(17, 8))) is None  # outside the classes: left out
    # a numerator read without a denominator is no time signature
    none_den = list(logits)
    none_den[2] = torch.nn.functional.one_hot(torch.tensor([0]), len(DENOMINATORS)).float()
    assert decode(tuple(none_den)) == [Header(-3, None)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("read", "header", "fields", "written"),
    [
        # the time signature the recognizer read is replaced, in its place
        ("clef:G2 key:1 time:6/8 1:8 2:8", Header(1, Time(3, 8)), ("time",),
         "clef:G2 key:1 time:3/8 1:8 2:8"),
        # one the header reader does not see is taken out; one it sees is put in after the key
        ("clef:G2 key:1 time:6/8 1:8", Header(1, None), ("time",), "clef:G2 key:1 1:8"),
        ("clef:G2 key:1 | 1:8", Header(1, Time(2, 4)), ("time",), "clef:G2 key:1 time:2/4 | 1:8"),
        ("1:8 2:8", Header(0, Time(2, 4)), ("time",), "time:2/4 1:8 2:8"),
        # the key: replaced, or put in after the clef
        ("clef:G2 key:2 time:2/4 1:8", Header(1, Time(2, 4)), ("key", "time"),
         "clef:G2 key:1 time:2/4 1:8"),
        ("clef:C3 1:8", Header(-2, None), ("key", "time"), "clef:C3 key:-2 1:8"),
        # what follows the first note is the recognizer's, changes of metre and key too
        ("clef:G2 key:0 1:8 | time:3/4 key:2 1:4", Header(0, None), ("key", "time"),
         "clef:G2 key:0 1:8 | time:3/4 key:2 1:4"),
        # fields not asked for are left as read
        ("clef:G2 key:2 time:2/4 1:8", Header(1, Time(3, 4)), ("key",),
         "clef:G2 key:1 time:2/4 1:8"),
        # a time signature's digits read as a notehead with no duration are taken out ...
        ("clef:G2 key:0 3+ 3:4 4:4", Header(0, Time(4, 4)), ("time",),
         "clef:G2 key:0 time:4/4 3:4 4:4"),
        ("clef:G2 key:0 ^3 3+ r:4 3:4 5", Header(0, None), ("time",), "clef:G2 key:0 r:4 3:4 5"),
        # ... but not a note without duration after the first with one or the first bar
        # line, nor a pitch-only one, nor where the time signature is not the reader's
        ("clef:G2 1 2 3", Header(0, Time(2, 4)), ("time",), "clef:G2 time:2/4 1 2 3"),
        ("clef:G2 key:0 3 4 | 5 4 | 3:4", Header(0, None), ("time",),
         "clef:G2 key:0 | 5 4 | 3:4"),
        ("clef:G2 key:0 3+ 3:4", Header(1, None), ("key",), "clef:G2 key:1 3+ 3:4"),
    ],
)  # fmt: skip
def test_with_header_puts_the_header_readers_reading_in_place(
    read: str, header: Header, fields: tuple[str, ...], written: str
) -> None:
    assert write_line(with_header(parse_line(read), header, fields)) == written


@pytest.mark.parametrize(
    ("read", "times", "written"),
    [
        # the time signature read after the first bar line (from 0) is replaced
        ("clef:G2 key:0 1:4 | time:6/8 2:8 | 3:4", {0: Time(3, 8)},
         "clef:G2 key:0 1:4 | time:3/8 2:8 | 3:4"),
        # one is put in where none was read, after a change of key
        ("clef:G2 key:0 1:4 | key:2 2:8 | 3:4", {0: Time(2, 4)},
         "clef:G2 key:0 1:4 | key:2 time:2/4 2:8 | 3:4"),
        # one is taken out where the window shows none; other bar lines keep theirs
        ("clef:G2 key:0 1:4 | time:3/4 2:4 | time:2/4 3:4", {1: None},
         "clef:G2 key:0 1:4 | time:3/4 2:4 | 3:4"),
        # after the last bar line (a cautionary signature at the line's end), and after
        # two bar lines in a row
        ("clef:G2 key:0 1:4 |", {0: Time(4, 4)}, "clef:G2 key:0 1:4 | time:4/4"),
        ("1:4 | | 2:4", {0: Time(2, 4), 1: Time(3, 4)}, "1:4 | time:2/4 | time:3/4 2:4"),
    ],
)  # fmt: skip
def test_time_signatures_read_after_bar_lines_are_put_in_place(
    read: str, times: dict[int, Time | None], written: str
) -> None:
    assert write_line(with_bar_times(parse_line(read), times)) == written


def test_a_bar_window_is_cut_around_the_bar_line() -> None:
    config = HeaderConfig(bar_before=8, bar_after=88)
    crop = np.tile(np.arange(300, dtype=np.uint8), (96, 1))
    assert config.reads_bars and not HeaderConfig().reads_bars
    window = bar_window(crop, 100, 300, config)
    assert window.shape == (96, 96) and window[0, 0] == 92 and window[0, -1] == 187
    assert bar_window(crop, 3, 300, config).shape == (96, 91)  # cut at the crop's ends
    assert bar_window(crop, 250, 300, config).shape == (96, 58)
    assert bar_window(crop, 100, 140, config).shape == (96, 48)  # and at the next bar line


def test_bar_lines_inside_the_line_are_read_where_a_time_signature_may_be() -> None:
    reader = StaveReader.load(None, header=None)
    symbols = ["<blank>", *reader.vocab.symbols]
    at = {1: "|", 4: "0", 6: ":4", 10: "|", 20: "1", 50: "|", 54: "time:3/", 56: "time:/4"}
    at |= {60: "2", 85: "|", 95: "2"}
    log_probs = np.full((100, len(symbols)), np.log(1e-9), dtype=np.float32)
    log_probs[:, 0] = 0.0
    for step, sym in at.items():
        log_probs[step, 0] = np.log(1e-9)
        log_probs[step, symbols.index(sym)] = 0.0
    log_probs[88, symbols.index("time:2/")] = np.log(1e-5)  # below the gate
    path, steps = greedy_path(log_probs)
    tokens = reader.vocab.assemble(path)
    assert write_line(tokens) == "| 0:4 | 1 | time:3/4 2 | 2"
    factor = reader.model.config.width_factor
    # the bar line before the first note is the line's start; of the three after it, the
    # one the recognizer sees a time signature after
    # (with the next bar line's column, or the crop's end, where its window stops)
    assert reader.bars_to_read(log_probs, path, steps, tokens) == [(2, 50 * factor, 85 * factor)]
    assert reader.bars_to_read(log_probs, path, steps, tokens, gate=0.0) == [
        (1, 10 * factor, 50 * factor), (2, 50 * factor, 85 * factor), (3, 85 * factor, 100 * factor)
    ]  # fmt: skip
    assert reader.bars_to_read(log_probs, path, steps, tokens[:-3]) == []  # not the same bars
    no_bars = [i for i, s in enumerate(path) if symbols[s] != "|"]
    plain = [path[i] for i in no_bars]
    no_steps, no_tokens = [steps[i] for i in no_bars], reader.vocab.assemble(plain)
    assert reader.bars_to_read(log_probs, plain, no_steps, no_tokens) == []  # a line of one bar


def _inside(tokens: list[Token]) -> list[Token]:
    """The time signatures after a stave's first note or rest."""
    first = next((i for i, t in enumerate(tokens) if isinstance(t, Note | Rest)), len(tokens))
    return [t for t in tokens[first:] if isinstance(t, Time)]


def test_the_shipped_readers_read_time_signatures_inside_the_line() -> None:
    """Staves engraved here (Verovio) with the metre changing after bar lines: where the
    recognizer alone takes 9/8, 2/2 or 3/8 for one another, the header reader's windows read
    the signature printed, or see none where none is."""
    from omr.data.engrave import EngravingSettings, engrave
    from omr.data.mei import Decorations, staves_to_mei
    from omr.read.crops import main_staff_crop

    lines = [
        "clef:G2 key:0 time:2/4 1:4 2:4 | time:9/8 3:4. 4:4. 5:4. | time:2/2 4:2 3:2 | 2:2 1:2 |",
        "clef:G2 key:-2 time:3/4 1:2. | time:3/8 2:8 3:8 4:8 | 5:4. | time:5/4 4:1 3:4 |",
        "clef:F4 key:1 time:4/4 1:1 | time:6/8 2:4. 3:4. | time:2/4 4:4 5:4 | 6:2 |",
        "clef:G2 key:0 time:12/8 1:2. 2:2. | 3:2. 4:2. | time:3/4 5:2. | 4:2. |",
    ]
    reader = StaveReader.load(None)
    assert reader.header is not None and reader.header.config.reads_bars
    for line in lines:
        truth = parse_line(line)
        mei = staves_to_mei(truth, np.random.default_rng(0), Decorations())
        image = engrave(mei, EngravingSettings(staff_space=14.0)).image
        crop = main_staff_crop(image, reader.shape)
        assert crop is not None
        assert _inside(reader.read([crop])[0]) == _inside(truth), line


def test_the_inference_copy_computes_the_same_function() -> None:
    torch.manual_seed(0)
    model = HeaderReader(HeaderConfig())
    model.train()
    for _ in range(3):  # batch norm statistics away from their starting values
        model(torch.rand(4, 1, 96, 192))
    model.eval()
    x = torch.rand(3, 1, 96, 192)
    with torch.no_grad():
        for a, b in zip(model(x), for_inference(model)(x), strict=True):
            assert torch.allclose(a, b, atol=1e-5)


def test_crops_are_cut_or_padded_to_the_width_read() -> None:
    config = HeaderConfig()
    narrow = np.full((96, 50), 0, np.uint8)  # all ink
    wide = np.full((96, 500), 255, np.uint8)  # all paper
    images = strip([narrow, wide], config)
    assert images.shape == (2, 1, 96, 192)
    assert images[0, 0, :, :50].min() == 1.0 and images[0, 0, :, 50:].max() == 0.0
    assert images[1].max() == 0.0


def test_checkpoints_round_trip_and_other_files_are_refused(tmp_path: Path) -> None:
    model = HeaderReader(HeaderConfig())
    save_header(tmp_path / "h.pt", HeaderCheckpoint(HeaderConfig(), model.state_dict()))
    back = load_header(tmp_path / "h.pt").build_model(tmp_path / "h.pt")
    assert all(torch.equal(v, back.state_dict()[k]) for k, v in model.state_dict().items())
    with pytest.raises(CheckpointError, match="expected format 'stavegen-header-reader'"):
        load_header(WEIGHTS)  # a recognizer
    with pytest.raises(CheckpointError, match="expected format 'stavegen-recognizer'"):
        load_checkpoint(HEADER_WEIGHTS)
    small = HeaderConfig(channels=[8, 16, 16, 16])
    save_header(tmp_path / "s.pt", HeaderCheckpoint(small, model.state_dict()))
    with pytest.raises(CheckpointError, match=r"s\.pt: weights do not fit the network"):
        load_header(tmp_path / "s.pt").build_model(tmp_path / "s.pt")


def test_a_header_reader_of_another_crop_shape_is_refused(tmp_path: Path) -> None:
    other = HeaderConfig(height=64, ledger_room=3.0)
    save_header(tmp_path / "h.pt", HeaderCheckpoint(other, HeaderReader(other).state_dict()))
    with pytest.raises(ValueError, match="the header reader reads crops of"):
        StaveReader.load(None, header=tmp_path / "h.pt")


def test_the_shipped_header_reader_reads_the_samples_headers() -> None:
    """The committed sample's 18 staves (clean, synthesized and photo-like): their keys and
    time signatures as their truths print them, and the reading is the recognizer's
    but for the header."""
    from omr.read.crops import main_staff_crop

    images = sorted(SAMPLE.glob("*/*.png"))
    with_reader = StaveReader.load(None)
    without = StaveReader.load(None, header=None)
    crops = []
    for png in images:
        crop = main_staff_crop(
            np.asarray(cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)), with_reader.shape
        )
        assert crop is not None
        crops.append(crop)
    truths = [header_of(parse_line(p.with_suffix(".txt").read_text().strip())) for p in images]
    read = with_reader.read_headers(crops)
    right = sum(r == t for r, t in zip(read, truths, strict=True))
    assert right >= len(images) - 1, list(zip(read, truths, strict=True))
    times = [t for t in truths if t.time is not None]
    assert len(times) == 4  # the sample prints four: 9/8, 4/4, 3/8, 12/8
    for a, b, header in zip(with_reader.read(crops), without.read(crops), read, strict=True):
        # but for the time signatures inside the line, read from windows after bar lines
        assert _inside(a) == _inside(b) == []  # the sample prints none
        assert a == with_header(b, header, HEADER_FIELDS)


@pytest.mark.slow
def test_omr_train_trains_and_resumes_a_header_reader(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from omr.data.build import Variety, build
    from omr.train import main

    # staves whose metre changes inside the line, beside the sample (which has none)
    changes = tmp_path / "changes"
    build(
        changes,
        {"clean": 0, "synthesized": 16, "real-world": 0},
        5,
        1,
        False,
        (),
        variety=Variety(0.6),
    )
    data = ["--data", str(SAMPLE), str(changes)]
    base = ["--model", "header", *data, "--val-fraction", "0.3"]
    base += ["--eval-every", "2", "--threads", "1", "--batch-size", "8"]
    assert main([*base, "-o", str(tmp_path / "a"), "--max-steps", "2"]) == 0
    err = capsys.readouterr().err
    saved = load_header(tmp_path / "a" / "latest.pt")
    assert saved.info["step"] == 2 and saved.trainer_state is not None
    assert "synthesized_time" in saved.info["metrics"]
    # windows after bar lines, found once by the shipped recognizer and kept for the run
    found = re.search(r"(\d+) training windows after bar lines \((\d+) with a time signature", err)
    assert found and int(found[2]) > 0, err
    assert "bar_windows" in saved.info["metrics"] and saved.config.reads_bars
    cached = json.loads((tmp_path / "a" / "bars.json").read_text())
    crops = {p.name for p in (tmp_path / "a" / "crops").glob("*.png")}
    assert cached["recognizer"] == "shipped" and set(cached["bars"]) == crops
    assert main([*base, "-o", str(tmp_path / "a"), "--max-steps", "4"]) == 2  # not over a run
    assert "--resume" in capsys.readouterr().err
    assert main([*base, "-o", str(tmp_path / "a"), "--max-steps", "4", "--resume"]) == 0
    moved = load_header(tmp_path / "a" / "latest.pt")
    assert moved.info["step"] == 4
    assert any(not torch.equal(saved.model_state[k], v) for k, v in moved.model_state.items())
    # a new run from its weights; a recognizer's weights are refused, naming the file
    init = ["--init-from", str(tmp_path / "a" / "latest.pt")]
    assert main([*base, "-o", str(tmp_path / "b"), "--max-steps", "1", *init]) == 0
    capsys.readouterr()
    code = main([*base, "-o", str(tmp_path / "c"), "--max-steps", "1", "--init-from", str(WEIGHTS)])
    assert code == 2 and "recognizer.pt: not a stavegen checkpoint" in capsys.readouterr().err
    # a cache of bar lines another recognizer found is refused
    other = ["--bars-from", str(tmp_path / "a" / "latest.pt")]
    assert main([*base, "-o", str(tmp_path / "a"), "--resume", "--max-steps", "5", *other]) == 2
    assert "bar lines found by the recognizer shipped" in capsys.readouterr().err
    # the sample alone prints no signature inside the line: a reader of the start only
    sample = ["--model", "header", "--data", str(SAMPLE), "--val-fraction", "0.3"]
    sample += ["--eval-every", "1", "--threads", "1", "--batch-size", "8", "--max-steps", "1"]
    assert main([*sample, "-o", str(tmp_path / "d")]) == 0
    assert "with a time signature in the training staves: a reader of each stave's start only" in (
        capsys.readouterr().err
    )
    assert not load_header(tmp_path / "d" / "latest.pt").config.reads_bars


def test_extract_reads_with_or_without_the_header_reader(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from omr.extract import main

    image = sorted(SAMPLE.glob("synthesized/*.png"))[0]
    assert main([str(image), "-o", str(tmp_path / "with"), "--quiet"]) == 0
    assert main([str(image), "-o", str(tmp_path / "without"), "--header", "none", "--quiet"]) == 0
    for folder in ("with", "without"):
        assert (tmp_path / folder / f"{image.stem}.txt").read_text().startswith("clef:")
    code = main([str(image), "-o", str(tmp_path / "x"), "--header", str(tmp_path / "no.pt")])
    assert code != 0 and "no.pt: no such checkpoint file" in capsys.readouterr().err
