from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from omr.data import synth
from omr.geometry import CropShape
from omr.metrics import errors
from omr.model.checkpoint import RecognizerCheckpoint, load_checkpoint, save_checkpoint
from omr.model.decode import beam_search, greedy, greedy_path
from omr.model.network import Recognizer, RecognizerConfig, for_inference
from omr.model.vocab import SymbolVocab
from omr.read.crops import batch, main_staff_crop
from omr.read.recognize import similar_widths
from stave.stavetext import parse_line, write_line
from tests.conftest import shared_data

SAMPLE = Path(__file__).resolve().parents[1] / "datasets" / "sample"


def test_vocab_round_trips_random_staves() -> None:
    vocab = SymbolVocab.default()
    assert len(vocab) < 200
    for i in range(200):
        tokens, _ = synth.random_stave(np.random.default_rng([9, i]))
        assert vocab.assemble(vocab.encode(tokens)) == tokens


def one_symbol_per_metre() -> SymbolVocab:
    """The vocabulary of recognizers trained before time signatures were split: one symbol
    per metre (``time:6/8``) where the numerators and denominators are now."""
    times = [f"time:{n}/{d}" for d in (2, 4, 8, 16) for n in range(1, 13)] + ["time:1/1"]
    new = SymbolVocab.default().symbols
    first = new.index("time:1/")
    return SymbolVocab((*new[:first], *times, *new[first + 12 + 5 :]))


def test_time_signatures_are_read_as_numerator_over_denominator() -> None:
    vocab = SymbolVocab.default()
    ix = vocab.index
    assert vocab.encode(parse_line("time:12/8")) == [ix["time:12/"], ix["time:/8"]]
    assert write_line(vocab.assemble([ix["time:3/"], ix["time:/8"], ix["2"]])) == "time:3/8 2"
    # a numerator without its denominator, or a denominator alone, is no time signature
    lone = [ix["time:3/"], ix["2"], ix["time:/8"], ix["|"], ix["time:6/"]]
    assert write_line(vocab.assemble(lone)) == "2 |"
    # metres no recognizer was shown are written with the digits it knows
    assert vocab.assemble(vocab.encode(parse_line("time:11/16"))) == parse_line("time:11/16")
    # a recognizer of one symbol per metre still reads and writes its own symbols
    old = one_symbol_per_metre()
    assert len(old) == 153 and "time:6/8" in old.index
    assert old.encode(parse_line("time:6/8 2:4")) == [
        old.index["time:6/8"],
        old.index["2"],
        old.index[":4"],
    ]
    assert old.assemble(old.encode(parse_line("time:6/8 2:4"))) == parse_line("time:6/8 2:4")


def test_time_outputs_start_from_the_metres_that_print_them() -> None:
    from omr.model.network import transfer_state
    from omr.model.vocab import related_symbols

    old, new = one_symbol_per_metre(), SymbolVocab.default()
    rows = related_symbols(new, old)
    assert rows[new.index["time:/8"]] == [old.index[f"time:{n}/8"] for n in range(1, 13)]
    assert rows[new.index["time:1/"]] == [old.index[f"time:1/{d}"] for d in (2, 4, 8, 16, 1)]
    assert rows[new.index["|"]] == [old.index["|"]] and rows[0] == [0]
    small = dict(channels=[4, 4, 4, 4], hidden_size=8)
    source, target = RecognizerConfig(len(old), **small), RecognizerConfig(len(new), **small)
    state = Recognizer(source).state_dict()
    carried = transfer_state(state, source, target, rows)
    Recognizer(target).load_state_dict(carried)  # it fits
    head = state["head.weight"]
    assert torch.equal(carried["head.weight"][new.index["|"]], head[old.index["|"]])
    three = [old.index[f"time:3/{d}"] for d in (2, 4, 8, 16)]
    assert torch.allclose(carried["head.weight"][new.index["time:3/"]], head[three].mean(0))
    with pytest.raises(ValueError, match="output rows"):
        transfer_state(state, source, target, rows[:-1])


def test_assemble_drops_what_does_not_fit() -> None:
    vocab = SymbolVocab.default()
    ix = vocab.index
    ids = [ix[":8"], ix["^"], ix["3+"], ix[":4."], ix[":16"], ix["^"], ix["|"], ix["r:2"]]
    assert write_line(vocab.assemble(ids)) == "^3+:4. | r:2"


def test_greedy_and_beam_agree_on_clear_paths() -> None:
    rng = np.random.default_rng(0)
    path = [0, 3, 3, 0, 3, 5, 5, 0, 0, 2]
    logits = rng.normal(0, 0.1, (len(path), 7))
    logits[np.arange(len(path)), path] += 6
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert greedy(log_probs) == [3, 3, 5, 2]
    assert greedy_path(log_probs) == ([3, 3, 5, 2], [1, 4, 5, 9])  # the step each starts at
    assert beam_search(log_probs) == [3, 3, 5, 2]


def test_beam_search_sums_paths_greedy_cannot() -> None:
    # Two steps: greedy takes blank,blank (0.36) but "1" has 0.64 spread over three paths.
    p = np.array([[0.6, 0.4], [0.6, 0.4]])
    assert greedy(np.log(p)) == []
    assert beam_search(np.log(p)) == [1]


@pytest.mark.slow
def test_recognizer_overfits_a_few_staves(tmp_path: Path) -> None:
    torch.manual_seed(0)
    vocab = SymbolVocab.default()
    crops, targets = [], []
    for split in ("clean", "synthesized"):
        for png in sorted((SAMPLE / split).glob("*.png"))[:2]:
            crop = main_staff_crop(cv2.imread(str(png), cv2.IMREAD_GRAYSCALE), CropShape(64, 3.0))
            assert crop is not None
            crops.append(crop)
            targets.append(vocab.encode(parse_line(png.with_suffix(".txt").read_text().strip())))
    config = RecognizerConfig(
        len(vocab),
        height=64,
        ledger_room=3.0,
        channels=[16, 32, 48, 48],
        hidden_size=64,
        num_layers=1,
        dropout=0.0,
    )
    model = Recognizer(config)
    images, widths = batch(crops)
    flat = torch.tensor([s for t in targets for s in t])
    lengths = torch.tensor([len(t) for t in targets])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(600):
        loss = model.loss(model(images), widths, flat, lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.1 * first
    model.eval()
    with torch.no_grad():
        out = model(images).numpy()
    lengths_out = model.output_lengths(widths).tolist()
    edits = truth_len = 0
    for i, target in enumerate(targets):
        read = vocab.assemble(greedy(out[i, : lengths_out[i]]))
        e, n, _, _ = errors(read, vocab.assemble(target))
        edits, truth_len = edits + e, truth_len + n
    assert edits / truth_len < 0.25, f"SER {edits / truth_len:.2f} on the training staves"
    save_checkpoint(tmp_path / "r.pt", RecognizerCheckpoint(config, vocab, model.state_dict()))
    again = load_checkpoint(tmp_path / "r.pt").build_model()
    with torch.no_grad():
        assert torch.allclose(again(images), model(images), atol=1e-5)


def test_training_items_hold_out_whole_pieces() -> None:
    from omr.data.training_set import items_from_build, items_from_photos
    from omr.pieces import role

    photos = items_from_photos(shared_data("cpms-train"))
    assert len(photos) == 662 and all(i.split == "photo" for i in photos)
    by_piece: dict[str, set[str]] = {}
    for item in photos:
        by_piece.setdefault(item.piece, set()).add(role(item.piece, 0.15, 0))
    assert all(len(v) == 1 for v in by_piece.values())  # no piece is on two sides
    roles = [role(p, 0.15, 0) for p in by_piece]
    for which in ("test", "val"):
        assert 0.03 < roles.count(which) / len(roles) < 0.35
    build = items_from_build(SAMPLE)
    assert len(build) == 18 and {i.split for i in build} == {"clean", "synthesized", "real-world"}


def test_weights_carry_over_to_another_crop_shape() -> None:
    """Each new feature row starts from the old rows at the same place on the staff."""
    from omr.model.network import feature_rows, transfer_state

    old = RecognizerConfig(10, height=64, ledger_room=3.0)  # rows centred -3.75 .. 3.75 spaces
    new = RecognizerConfig(10, height=80, ledger_room=4.5)  # rows centred -5.2 .. 5.2 spaces
    assert (feature_rows(old), feature_rows(new)) == (4, 5)
    state = Recognizer(old).state_dict()
    w = state["rnn.weight_ih_l0"].view(state["rnn.weight_ih_l0"].shape[0], -1, 4)
    w.copy_(torch.arange(1.0, 5.0).expand_as(w))  # old row r weighs r + 1 everywhere
    moved = transfer_state(state, old, new)
    model = Recognizer(new)
    model.load_state_dict(moved)  # fits the new network
    rows = moved["rnn.weight_ih_l0"].view(w.shape[0], -1, 5)[0, 0] / (4 / 5)
    # the middle row lies between old rows 1 and 2; the outer ones beyond the old crop
    assert torch.allclose(rows, torch.tensor([1.0, 1.46, 2.5, 3.54, 4.0]), atol=1e-4)
    assert torch.equal(moved["head.weight"], state["head.weight"])
    same = transfer_state(state, old, old)
    assert all(torch.equal(same[k], v) for k, v in state.items())
    try:
        transfer_state(state, old, RecognizerConfig(10, channels=[8, 16, 32, 64]))
    except ValueError as err:
        assert "channels" in str(err)
    else:
        raise AssertionError("a network of other layers took the weights")


@pytest.mark.slow
def test_omr_train_runs_resumes_and_starts_from_other_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from omr.train import main

    base = ["--data", str(SAMPLE), "--val-fraction", "0.3", "--eval-every", "1", "--threads", "1"]
    assert main([*base, "-o", str(tmp_path / "a"), "--max-steps", "2"]) == 0
    saved = load_checkpoint(tmp_path / "a" / "latest.pt")
    assert saved.info["step"] == 2 and saved.config.ledger_room == CropShape().ledger_room
    assert main([*base, "-o", str(tmp_path / "a"), "--max-steps", "3"]) == 2  # not over a run
    assert "--resume" in capsys.readouterr().err
    assert main([*base, "-o", str(tmp_path / "a"), "--max-steps", "3", "--resume"]) == 0
    assert load_checkpoint(tmp_path / "a" / "latest.pt").info["step"] == 3
    from omr.ship import ship

    slim = ship(tmp_path / "a" / "latest.pt", tmp_path / "w" / "recognizer.pt")
    assert slim.info["step"] == 3 and slim.trainer_state is None
    assert (tmp_path / "w" / "cpms-test-pieces.txt").exists()
    # a new run from the old weights: the model's first step starts where they left off
    assert (
        main(
            [
                *base,
                "-o",
                str(tmp_path / "b"),
                "--max-steps",
                "1",
                "--init-from",
                str(tmp_path / "a" / "latest.pt"),
            ]
        )
        == 0
    )
    # weights of a recognizer of one symbol per metre carry over, with a note saying how
    whole = one_symbol_per_metre()
    config = RecognizerConfig(len(whole))
    save_checkpoint(
        tmp_path / "w.pt", RecognizerCheckpoint(config, whole, Recognizer(config).state_dict())
    )
    capsys.readouterr()
    code = main(
        [
            *base,
            "-o",
            str(tmp_path / "d"),
            "--max-steps",
            "1",
            "--init-from",
            str(tmp_path / "w.pt"),
        ]
    )
    assert code == 0 and "w.pt reads 153 symbols, this recognizer 121" in capsys.readouterr().err
    # a run begun before the split is not resumed with the wrong outputs
    (tmp_path / "e").mkdir()
    save_checkpoint(
        tmp_path / "e" / "latest.pt",
        RecognizerCheckpoint(config, whole, Recognizer(config).state_dict(), {}),
    )
    code = main([*base, "-o", str(tmp_path / "e"), "--max-steps", "2", "--resume"])
    assert code == 2 and "a run of another vocabulary" in capsys.readouterr().err
    # weights of a recognizer with other symbols are refused, naming the file
    other = SymbolVocab(tuple(f"x{i}" for i in range(len(saved.vocab.symbols))))
    config = RecognizerConfig(len(other))
    save_checkpoint(
        tmp_path / "o.pt", RecognizerCheckpoint(config, other, Recognizer(config).state_dict())
    )
    capsys.readouterr()
    code = main([*base, "-o", str(tmp_path / "c"), "--init-from", str(tmp_path / "o.pt")])
    assert code == 2 and "o.pt: a recognizer of another vocabulary" in capsys.readouterr().err
    assert not (tmp_path / "c" / "latest.pt").exists()


def test_checkpoint_saved_before_ledger_room_reads_as_three_spaces(tmp_path: Path) -> None:
    from dataclasses import asdict

    from omr.model.checkpoint import FORMAT, VERSION
    from stave.checkpoint import write_payload

    vocab = SymbolVocab.default()
    config = RecognizerConfig(len(vocab), height=64)
    fields = {k: v for k, v in asdict(config).items() if k != "ledger_room"}
    state = Recognizer(config).state_dict()
    write_payload(
        tmp_path / "old.pt",
        {
            "format": FORMAT,
            "version": VERSION,
            "config": fields,
            "symbols": list(vocab.symbols),
            "model_state": state,
            "trainer_state": None,
            "info": {},
        },
    )
    assert load_checkpoint(tmp_path / "old.pt").config.ledger_room == 3.0


def test_inference_copy_computes_the_same_function() -> None:
    torch.manual_seed(1)
    model = Recognizer(RecognizerConfig(num_symbols=20, height=32, channels=[4, 8, 8, 8]))
    for m in model.modules():  # batch norms with statistics of their own, not 0 and 1
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)
    model.eval()
    fast = for_inference(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # left alone
    images = torch.rand(3, 1, 32, 80)
    with torch.inference_mode():
        assert torch.allclose(fast(images), model(images), atol=1e-5)


def test_batches_of_similar_width() -> None:
    widths = [100, 105, 110, 120, 300, 310, 900]
    batches = similar_widths(widths, list(range(7)), most=3)
    assert batches == [[0, 1, 2], [3], [4, 5], [6]]
    assert similar_widths(widths, list(range(7)), most=32) == [[0, 1, 2, 3], [4, 5], [6]]
