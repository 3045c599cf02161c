from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from generate.charlstm.corpus import abc2midi_accepts
from generate.charlstm.sampling import (
    cut_at_boundary,
    draw,
    redraw,
    redraw_seed,
    sample_problem,
    write_sample,
)
from generate.charlstm.train import TrainConfig, train
from generate.checkpoint import default_checkpoint, load_char_lstm
from stave import musicxml, stavetext
from tests.conftest import TINY_ABC, open_in_musescore


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    corpus = out / "tiny.abc"
    corpus.write_text(TINY_ABC * 4)
    train(
        out / "run",
        [str(corpus)],
        {"embed_dim": 16, "hidden_size": 32, "num_layers": 2, "dropout": 0.0},
        TrainConfig(
            batch_size=4,
            seq_len=32,
            max_steps=60,
            eval_every=30,
            learning_rate=1e-2,
            progress=False,
        ),
        val_fraction=0.25,
    )
    return out / "run" / "latest.pt"


def run_cli(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=300
    )


def test_generation_carries_state_like_rerunning_the_prefix(tiny_checkpoint: Path) -> None:
    model, _ = load_char_lstm(tiny_checkpoint)
    idx = torch.tensor([[3, 5, 7]])
    fast = model.generate(idx, 25, temperature=0.0)[0].tolist()
    seq = idx[0].tolist()
    for _ in range(25):  # the slow way: the whole prefix through the network every step
        logits, _, _ = model(torch.tensor([seq]))
        seq.append(int(logits[0, -1].argmax()))
    assert fast == seq[3:]


def test_parallel_argmax_samples_equal_a_single_one(tiny_checkpoint: Path) -> None:
    model, ckpt = load_char_lstm(tiny_checkpoint)
    one = draw(model, ckpt.vocab, ckpt.kind, 1, 300, temperature=0.0)
    many = draw(model, ckpt.vocab, ckpt.kind, 5, 300, temperature=0.0)
    assert many == one * 5
    a = draw(model, ckpt.vocab, ckpt.kind, 4, 300, temperature=1.0, seed=7)
    assert a == draw(model, ckpt.vocab, ckpt.kind, 4, 300, temperature=1.0, seed=7)
    assert all(s.startswith("X:") and "\n\n" not in s for s in a)


def test_samples_end_at_a_tune_boundary() -> None:
    assert cut_at_boundary("X:1\nK:G\nGAB|\n\nX:2\n", "abc", 3) == "X:1\nK:G\nGAB|"
    assert cut_at_boundary("X:1\nK:G\nGAB|\nX:2\nK:D\n", "abc", 3) == "X:1\nK:G\nGAB|"
    assert cut_at_boundary("clef:G2 1 2 |\n3 |\n\nclef:F4 1", "stave", 5) == "clef:G2 1 2 |\n3 |"


@pytest.mark.slow
def test_cli_reports_each_sample_and_ends_with_valid_count(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    proc = run_cli(
        "generate.sample",
        "--checkpoint",
        str(tiny_checkpoint),
        "--num",
        "3",
        "--length",
        "300",
        "--seed",
        "1",
        "-o",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith("valid=") and lines[-1].endswith("/3")
    assert len(lines) == 4 and all(ln.startswith("sample ") for ln in lines[:3])
    assert sorted(p.name for p in tmp_path.glob("*.abc")) == [
        f"sample-00{i}.abc" for i in (1, 2, 3)
    ]


@pytest.mark.slow
def test_primer_outside_the_vocabulary_is_a_clear_error(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    proc = run_cli(
        "generate.sample",
        "--checkpoint",
        str(tiny_checkpoint),
        "--prime",
        "X:1\n\u266f",
        "-o",
        str(tmp_path),
    )
    assert proc.returncode == 2
    assert "outside the model's vocabulary" in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())


# -- the shipped models ---------------------------------------------------------------------


@pytest.mark.slow
def test_shipped_abc_model_writes_tunes_abc2midi_and_musescore_accept(
    tmp_path: Path, abc2midi: str, mscore3: str
) -> None:
    model, ckpt = load_char_lstm(default_checkpoint("abc"))
    assert ckpt.kind == "abc"
    texts = draw(model, ckpt.vocab, "abc", 10, 2000, temperature=0.8, seed=0, context=ckpt.context)
    accepted, converted = 0, []
    for i, text in enumerate(texts):
        result = write_sample(text, "abc", tmp_path / f"s{i}")
        ok, _ = abc2midi_accepts(result.text_path, tmp_path, abc2midi)
        accepted += ok
        if result.error is None:
            converted.append(result.written[0])
    assert accepted >= 8, f"abc2midi accepted {accepted}/10"
    assert len(converted) >= 8
    open_in_musescore(mscore3, converted[0], tmp_path)


@pytest.mark.slow
def test_shipped_stave_model_writes_pieces_musescore_opens(tmp_path: Path, mscore3: str) -> None:
    model, ckpt = load_char_lstm(default_checkpoint("stave"))
    assert ckpt.kind == "stave"
    texts = draw(model, ckpt.vocab, "stave", 6, 1500, temperature=0.8, seed=0, context=ckpt.context)
    parsed = 0
    for text in texts:
        try:
            stavetext.split_pieces(text)
            parsed += 1
        except stavetext.StaveTextError:
            pass
    assert parsed >= 5, texts
    result = write_sample(texts[0], "stave", tmp_path / "piece")
    assert result.error is None, result.error
    assert len(musicxml.text_to_score(texts[0]).flatten().notes) > 4
    open_in_musescore(mscore3, result.written[0], tmp_path)


@pytest.mark.slow
def test_evaluate_cli_scores_files(tmp_path: Path) -> None:
    tune = tmp_path / "tune.abc"
    tune.write_text(TINY_ABC)
    missing = tmp_path / "missing.abc"
    proc = run_cli("generate.evaluate", str(tune), str(missing))
    assert proc.returncode == 1  # one file failed; the other was still scored
    assert "missing.abc: cannot read" in proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("bits_per_char=")
    assert 0.3 < float(last.split("=")[1]) < 3.0  # real folk ABC under the shipped model


STAVE = "clef:F4 key:-6 4+:8 1:8 4+:8 4:8 3+:8 =3:8 | 3+:4 2+:4 3:4 |"


def test_redraw_replaces_only_the_samples_that_fail(tmp_path: Path) -> None:
    asked: list[tuple[int, int | None]] = []

    def again(num: int, seed: int | None) -> list[str]:
        asked.append((num, seed))
        return [STAVE] * num

    texts = [STAVE, "not stave text", STAVE + " 9:4 |", "clef:G2 nonsense"]
    done = redraw(texts, "stave", 3, again, seed=5)
    assert texts[0] == STAVE and texts[2] == STAVE + " 9:4 |"  # kept as drawn
    assert texts[1] == texts[3] == STAVE
    assert (done.redrawn, done.failing) == (2, 0)
    assert asked == [(2, redraw_seed(5, 1))]  # one round was enough
    # A model that only writes what fails: every round redraws, and the failures are counted.
    texts = ["no music", STAVE]
    done = redraw(texts, "stave", 2, lambda n, seed: ["still no music"] * n, seed=None)
    assert texts == ["still no music", STAVE] and (done.redrawn, done.failing) == (2, 1)
    assert redraw_seed(5, 1) == redraw_seed(5, 1) != redraw_seed(5, 2) != redraw_seed(6, 1)


def test_abc_that_abc2midi_refuses_is_a_problem(tmp_path: Path, abc2midi: str) -> None:
    tune = "X:1\nT:t\nM:{}\nL:1/8\nR:Hornpipe\nK:G\nGABc d2B2|c2A2 G4|]"
    assert sample_problem(tune.format("4/4"), "abc", tmp_path) is None
    # abc2midi: "Hornpipe must be in 2/4 or 4/4 time"; music21 reads it.
    assert sample_problem(tune.format("3/4"), "abc", tmp_path) == "abc2midi refuses it"
    assert sample_problem(tune.format("3/4"), "abc", tmp_path, abc2midi=False) is None
    assert sample_problem("X:1\nT:no notes", "abc", tmp_path) is not None
    assert sample_problem("anything", "text", tmp_path) is None


@pytest.mark.slow
def test_cli_redraw_is_seeded_and_keeps_what_passes(
    tiny_checkpoint: Path, tmp_path: Path, abc2midi: str
) -> None:
    outs = []
    for name in ("a", "b"):
        proc = run_cli(
            "generate.sample",
            *("--checkpoint", str(tiny_checkpoint), "--num", "3", "--length", "300"),
            *("--seed", "1", "--redraw", "2", "-o", str(tmp_path / name)),
        )
        assert proc.returncode == 0, proc.stderr
        assert "redrawn: " in proc.stderr
        outs.append([f.read_text() for f in sorted((tmp_path / name).glob("*.abc"))])
    assert len(outs[0]) == 3 and outs[0] == outs[1]
