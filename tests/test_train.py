from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from generate.charlstm.train import TrainConfig, TrainError, train
from generate.checkpoint import CheckpointError, load_checkpoint
from tests.conftest import TINY_ABC

SMALL = {"embed_dim": 16, "hidden_size": 48, "num_layers": 2, "dropout": 0.1}


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.abc"
    tunes = []
    for i in range(12):  # twelve tunes of the same two shapes: learnable in seconds
        body = TINY_ABC.split("\n\n")[i % 2].split("\n", 1)[1]
        tunes.append(f"X:{i + 1}\n{body}")
    path.write_text("\n\n".join(tunes) + "\n")
    return path


def config(**kw) -> TrainConfig:
    base = {"batch_size": 4, "seq_len": 32, "learning_rate": 1e-2, "eval_every": 10, "log_every": 5}
    base.update(kw)
    return TrainConfig(**base)


def test_the_model_learns_a_tiny_corpus(tmp_path: Path, tiny_corpus: Path) -> None:
    trainer, reason = train(
        tmp_path / "run",
        [str(tiny_corpus)],
        SMALL,
        config(max_steps=250, eval_every=50),
        val_fraction=0.2,
    )
    assert reason == "budget" and trainer.state.step == 250
    first, last = trainer.state.curves["bpc"][0][1], trainer.state.curves["bpc"][-1][1]
    assert first > 3.0  # starts near log2(vocabulary)
    assert last < 1.0, trainer.state.curves["bpc"]  # and learns the tunes
    assert trainer.state.best < 1.5
    assert (tmp_path / "run" / "loss.png").read_bytes().startswith(b"\x89PNG")
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    assert best.kind == "abc" and best.info["best_val_bpc"] == trainer.state.best


def test_resume_continues_exactly(tmp_path: Path, tiny_corpus: Path) -> None:
    straight, _ = train(
        tmp_path / "a", [str(tiny_corpus)], SMALL, config(max_steps=30), val_fraction=0.2
    )
    train(tmp_path / "b", [str(tiny_corpus)], SMALL, config(max_steps=13), val_fraction=0.2)
    resumed, _ = train(tmp_path / "b", [str(tiny_corpus)], SMALL, config(max_steps=30), resume=True)
    assert resumed.state.step == 30
    a, b = (
        load_checkpoint(tmp_path / "a" / "latest.pt"),
        load_checkpoint(tmp_path / "b" / "latest.pt"),
    )
    for name, tensor in a.model_state.items():
        assert torch.equal(tensor, b.model_state[name]), name
    opt_a, opt_b = (
        a.trainer_state["task"]["optimizer"]["state"],
        b.trainer_state["task"]["optimizer"]["state"],
    )
    assert opt_a.keys() == opt_b.keys()
    for k in opt_a:
        assert torch.equal(opt_a[k]["exp_avg_sq"], opt_b[k]["exp_avg_sq"])
    # The loss curve goes on from where it stopped, point for point.
    assert resumed.state.curves["bpc"] == straight.state.curves["bpc"]
    assert [s for s, _ in resumed.state.curves["validation"]] == [10, 13, 20, 30]


def test_a_second_run_into_the_same_folder_is_refused(tmp_path: Path, tiny_corpus: Path) -> None:
    train(tmp_path / "r", [str(tiny_corpus)], SMALL, config(max_steps=2), val_fraction=0.2)
    with pytest.raises(TrainError, match="--resume"):
        train(tmp_path / "r", [str(tiny_corpus)], SMALL, config(max_steps=4), val_fraction=0.2)


def test_resume_with_another_vocabulary_is_refused(tmp_path: Path, tiny_corpus: Path) -> None:
    train(tmp_path / "r", [str(tiny_corpus)], SMALL, config(max_steps=2), val_fraction=0.2)
    meta_path = tmp_path / "r" / "data" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["vocab"].append("\u00e9")
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(TrainError, match="another vocabulary"):
        train(tmp_path / "r", [str(tiny_corpus)], SMALL, config(max_steps=4), resume=True)


def test_damaged_checkpoints_give_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(bad)
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a stavegen checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    # a checkpoint cut short: one line saying so, not the zip reader's paragraph
    shipped = Path(__file__).resolve().parents[1] / "generate" / "weights" / "midi-lstm.pt"
    cut = tmp_path / "cut.pt"
    cut.write_bytes(shipped.read_bytes()[:5000])
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(cut)
    message = str(caught.value)
    assert "cut short or damaged (5,000 bytes: the end of its zip archive is missing" in message
    assert "miniz" not in message and "\n" not in message and len(message) < 250


@pytest.mark.slow
def test_ctrl_c_saves_and_resume_goes_on(tmp_path: Path, tiny_corpus: Path) -> None:
    out = tmp_path / "run"
    args = [
        sys.executable,
        "-m",
        "generate.train",
        "--corpus",
        str(tiny_corpus),
        "-o",
        str(out),
        "--embed-dim",
        "16",
        "--hidden-size",
        "32",
        "--layers",
        "1",
        "--batch-size",
        "4",
        "--seq-len",
        "16",
        "--eval-every",
        "5",
        "--val-fraction",
        "0.2",
        "--threads",
        "1",
    ]
    proc = subprocess.Popen([*args, "--max-steps", "100000"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "latest.pt").exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "resume with" in err
    step = load_checkpoint(out / "latest.pt").trainer_state["loop"]["step"]
    assert step >= 5
    done = subprocess.run(
        [*args, "--resume", "--max-steps", str(step + 7)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert load_checkpoint(out / "latest.pt").trainer_state["loop"]["step"] == step + 7


def test_init_from_starts_a_new_run_from_trained_weights(tmp_path: Path, tiny_corpus: Path) -> None:
    first, _ = train(
        tmp_path / "a", [str(tiny_corpus)], SMALL, config(max_steps=120), val_fraction=0.2
    )
    tuned, _ = train(
        tmp_path / "b",
        [str(tiny_corpus)],
        {"embed_dim": 999},
        config(max_steps=5),
        val_fraction=0.2,
        init_from=tmp_path / "a" / "latest.pt",
    )
    assert tuned.state.step == 5  # a new run: its own step count, data and curve
    ckpt = load_checkpoint(tmp_path / "b" / "latest.pt")
    assert ckpt.config.embed_dim == SMALL["embed_dim"]  # the network comes from the checkpoint
    assert ckpt.vocab == load_checkpoint(tmp_path / "a" / "latest.pt").vocab
    # It starts where the first run ended, not from scratch.
    assert tuned.state.curves["bpc"][0][1] < first.state.curves["bpc"][0][1] - 1.0


def test_init_from_names_the_characters_outside_its_vocabulary(
    tmp_path: Path, tiny_corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train(tmp_path / "a", [str(tiny_corpus)], SMALL, config(max_steps=2), val_fraction=0.2)
    other = tmp_path / "other.abc"
    other.write_text(tiny_corpus.read_text().replace("T:", "T:Ça ñ ").replace("K:", "%é\nK:"))
    capsys.readouterr()
    train(
        tmp_path / "b", [str(other)], {}, config(max_steps=1), val_fraction=0.2,
        init_from=tmp_path / "a" / "latest.pt",
    )  # fmt: skip
    err = capsys.readouterr().err
    assert "training characters are outside the vocabulary" in err
    assert "read as the unknown symbol" in err
    for c in "Çñé":
        assert repr(c) in err, err


def test_a_run_saved_before_the_one_loop_resumes_exactly(tmp_path: Path) -> None:
    """A run folder that stavegen wrote before the one training loop (its training state in
    the old layout, saved at an epoch's end) resumes, and ends with the weights of a run
    that went straight through."""
    import shutil

    fixture = Path(__file__).resolve().parent / "fixtures" / "charlstm-run-0.1"
    run = tmp_path / "old"
    shutil.copytree(fixture, run)
    tiny = {"embed_dim": 8, "hidden_size": 16, "num_layers": 1, "dropout": 0.1}
    settings = {"eval_every": 6, "learning_rate": 1e-2}
    resumed, _ = train(run, [], tiny, config(max_steps=30, **settings), resume=True)
    assert resumed.state.step == 30 and resumed.task.epoch == 5
    straight_dir = tmp_path / "straight"
    (straight_dir / "data").mkdir(parents=True)
    for name in ("train.txt", "val.txt", "meta.json"):
        shutil.copyfile(fixture / "data" / name, straight_dir / "data" / name)
    straight, _ = train(
        tmp_path / "s", [], tiny, config(max_steps=30, **settings), data_dir=straight_dir / "data"
    )
    a = load_checkpoint(run / "latest.pt").model_state
    b = load_checkpoint(tmp_path / "s" / "latest.pt").model_state
    # The fixture's first 12 steps were computed on another machine, whose CPU may round
    # the last float bit otherwise (seen: 3e-6 apart after 30 steps): close, not equal.
    # Bit-exact resume on one machine is tests/test_hostile_train.py's.
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-4
    steps = [s for s, _ in resumed.state.curves["bpc"]]
    assert steps == [s for s, _ in straight.state.curves["bpc"]]
    for (_, x), (_, y) in zip(
        resumed.state.curves["bpc"], straight.state.curves["bpc"], strict=True
    ):
        assert x == pytest.approx(y, abs=1e-5)


def test_ship_keeps_the_weights_and_the_figures(tmp_path: Path, tiny_corpus: Path) -> None:
    from generate.ship import ship

    train(tmp_path / "r", [str(tiny_corpus)], SMALL, config(max_steps=12), val_fraction=0.2)
    info = ship(tmp_path / "r" / "best.pt", tmp_path / "w.pt")
    shipped = load_checkpoint(tmp_path / "w.pt")
    assert shipped.trainer_state is None and shipped.info["warmup"]
    assert [s for s, _ in info["val_curve"]] == [10, 12] and info["epochs"] > 0
    # a run saved before the one training loop ships too
    fixture = Path(__file__).resolve().parent / "fixtures" / "charlstm-run-0.1" / "latest.pt"
    old = ship(fixture, tmp_path / "old.pt")
    assert [s for s, _ in old["val_curve"]] == [6, 12] and old["epochs"] == 2.0
