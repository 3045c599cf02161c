from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from generate.stavetext import parse_line, write_line
from omr import synth
from omr.checkpoint import RecognizerCheckpoint, load_checkpoint, save_checkpoint
from omr.crops import batch, main_staff_crop
from omr.decode import beam_search, greedy
from omr.metrics import errors
from omr.recognizer import Recognizer, RecognizerConfig
from omr.vocab import SymbolVocab

SAMPLE = Path(__file__).resolve().parents[1] / "datasets" / "sample"


def test_vocab_round_trips_random_staves() -> None:
    vocab = SymbolVocab.default()
    assert len(vocab) < 200
    for i in range(200):
        tokens, _ = synth.random_stave(np.random.default_rng([9, i]))
        assert vocab.assemble(vocab.encode(tokens)) == tokens


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
    assert beam_search(log_probs) == [3, 3, 5, 2]


def test_beam_search_sums_paths_greedy_cannot() -> None:
    # Two steps: greedy takes blank,blank (0.36) but "1" has 0.64 spread over three paths.
    p = np.array([[0.6, 0.4], [0.6, 0.4]])
    assert greedy(np.log(p)) == []
    assert beam_search(np.log(p)) == [1]


def test_recognizer_overfits_a_few_staves(tmp_path: Path) -> None:
    torch.manual_seed(0)
    vocab = SymbolVocab.default()
    crops, targets = [], []
    for split in ("clean", "synthesized"):
        for png in sorted((SAMPLE / split).glob("*.png"))[:2]:
            crop = main_staff_crop(cv2.imread(str(png), cv2.IMREAD_GRAYSCALE), 64)
            assert crop is not None
            crops.append(crop)
            targets.append(vocab.encode(parse_line(png.with_suffix(".txt").read_text().strip())))
    config = RecognizerConfig(
        len(vocab), height=64, channels=[16, 32, 48, 48], hidden_size=64, num_layers=1, dropout=0.0
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
    from omr.train import items_from_build, items_from_photos, role

    photos = items_from_photos(Path(__file__).resolve().parents[2] / "shared/data/cpms-train")
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
