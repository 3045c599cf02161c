"""Hostile input to the training commands (issue 14): ``generate.train`` (the char-LSTM and
the MIDI models), ``generate.prepare`` and ``omr.train``.  Every case ends with a one-line
message naming the file and the problem, no traceback, and a non-zero exit status (2 for a
bad input or option, 1 for an output that cannot be written); ``--resume`` goes on exactly
as the run started, whatever the command line leaves out.

The inputs are made here: a tiny ABC corpus, three tiny MIDI files, files that are not text.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from generate import prepare as gen_prepare
from generate import train as gen_train
from generate.charlstm import scoring
from generate.charlstm.data import Vocab
from generate.charlstm.model import CharLSTM, CharLSTMConfig
from generate.charlstm.train import CharLSTMTask
from generate.checkpoint import load_checkpoint
from generate.midi import train as midi_train
from generate.midi.data import prepare as midi_prepare
from generate.midi.events import event_array
from generate.midi.io import MidiError, NoteEvent, read_midi, read_midi_folder, write_midi
from generate.midi.train import MidiLSTMTask
from omr import train as omr_train
from tests.conftest import TINY_ABC

ROOT = Path(__file__).resolve().parents[1]
# A tiny network and batch, non-default where a resume could silently fall back to a default.
TINY = [
    "--embed-dim", "8", "--hidden-size", "16", "--layers", "1",
    "--batch-size", "3", "--seq-len", "24", "--seed", "5", "--lr", "0.01",
    "--eval-every", "4", "--val-fraction", "0.2", "--threads", "1",
]  # fmt: skip
MIDI_TINY = [
    "--model", "midi-lstm", "--eval-every", "4", "--seq-len", "12",
    "--batch-size", "4", "--seed", "3", "--hidden-size", "12",
    "--threads", "1",
]  # fmt: skip


def tune_file(path: Path, tunes: int = 12) -> Path:
    shapes = [t.split("\n", 1)[1] for t in TINY_ABC.split("\n\n")]
    path.write_text("\n\n".join(f"X:{i + 1}\n{shapes[i % 2]}" for i in range(tunes)) + "\n")
    return path


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    return tune_file(tmp_path / "tiny.abc")


def midi_folder(folder: Path, pieces: int = 3, shift: int = 0) -> Path:
    folder.mkdir()
    for i in range(pieces):
        notes, t = [], 0.0
        for _ in range(2):
            for p in (60, 62, 64, 65, 67, 65, 64, 62):
                notes.append(NoteEvent(p + i + shift, 90, t, 0.5))
                t += 0.5
        write_midi(folder / f"p{i}.mid", notes)
    return folder


def run(main: Callable[[list[str]], int], argv: list[str], capsys: Any) -> tuple[int, str]:
    """A command run in this process as a user runs it: its exit status and stderr."""
    capsys.readouterr()
    try:
        status = main(argv)
    except SystemExit as done:  # argparse
        status = int(done.code or 0)
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return status, err


def interrupt_after(monkeypatch: pytest.MonkeyPatch, task: type, steps: int) -> None:
    """Send this process SIGINT (Ctrl-C) once ``task`` has trained ``steps`` steps."""
    original = task.train_step
    done = [0]

    def train_step(self: Any, batch: Any) -> dict[str, float]:
        losses = original(self, batch)
        done[0] += 1
        if done[0] == steps:
            os.kill(os.getpid(), signal.SIGINT)
        return losses

    monkeypatch.setattr(task, "train_step", train_step)


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_checkpoint(a).model_state, load_checkpoint(b).model_state
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def step_of(path: Path) -> int:
    state = load_checkpoint(path).trainer_state
    assert state is not None
    return int(state["loop"]["step"])


# -- 3. --resume: the run's own settings ------------------------------------------------------
@pytest.mark.slow
def test_char_lstm_resume_alone_continues_exactly(
    tmp_path: Path, tiny_corpus: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted at step 5 of 12 and resumed with ``--resume`` alone, the run ends with the
    weights of the one that went straight through (and stops at 12, not after 10 epochs)."""
    common = ["--corpus", str(tiny_corpus), *TINY, "--max-steps", "12"]
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    assert run(gen_train.main, [*common, "-o", str(straight)], capsys)[0] == 0
    interrupt_after(monkeypatch, CharLSTMTask, 5)
    status, err = run(gen_train.main, [*common, "-o", str(broken)], capsys)
    assert status == 130 and step_of(broken / "latest.pt") == 5, err
    monkeypatch.undo()
    status, err = run(gen_train.main, ["-o", str(broken), "--resume"], capsys)
    assert status == 0, err
    assert step_of(broken / "latest.pt") == 12
    assert same_weights(straight / "latest.pt", broken / "latest.pt")


@pytest.mark.slow
def test_char_lstm_resume_refuses_flags_that_contradict_the_run(
    tmp_path: Path, tiny_corpus: Path, capsys: Any
) -> None:
    out = tmp_path / "run"
    argv = ["--corpus", str(tiny_corpus), *TINY, "--max-steps", "4", "-o", str(out)]
    assert run(gen_train.main, argv, capsys)[0] == 0
    other = tune_file(tmp_path / "other.abc", 6)
    latest = out / "latest.pt"
    for flags, said in [
        (["--seq-len", "32"], "--seq-len 32 contradicts the run's 24"),
        (["--seed", "0"], "--seed 0 contradicts the run's 5"),
        (["--batch-size", "8"], "--batch-size 8 contradicts the run's 3"),
        (["--hidden-size", "32"], "--hidden-size 32 contradicts the run's 16"),
        (["--corpus", str(other)], f"--corpus {other} contradicts the run's {tiny_corpus}"),
        (["--val-fraction", "0.5"], "--val-fraction 0.5 contradicts the run's 0.2"),
    ]:
        status, err = run(gen_train.main, ["-o", str(out), "--resume", *flags], capsys)
        assert status == 2, (flags, err)
        assert f"error: {out}: {said} (from {latest})" in err, err
    assert step_of(latest) == 4  # refused before any training
    # The same values as the run's, a new budget and a new learning rate are accepted.
    again = [*argv, "--resume", "--max-steps", "6", "--lr", "0.005"]
    status, err = run(gen_train.main, again, capsys)
    assert status == 0 and step_of(latest) == 6, err
    assert "--lr 0.005 from here on (the run had 0.01)" in err
    assert load_checkpoint(latest).info["train_config"]["learning_rate"] == 0.005


def test_char_lstm_run_saved_before_settings_were_kept_resumes_from_the_command_line(
    tmp_path: Path, capsys: Any
) -> None:
    """A run folder of an older stavegen (no record of its data) resumes as it did then."""
    run_dir = tmp_path / "old"
    shutil.copytree(ROOT / "tests" / "fixtures" / "charlstm-run-0.1", run_dir)
    argv = ["-o", str(run_dir), "--resume", "--max-steps", "14", "--corpus", "x.abc"]
    status, err = run(gen_train.main, argv, capsys)
    assert status == 0, err
    assert "does not record where its data came from (--corpus not checked)" in err
    assert step_of(run_dir / "latest.pt") == 14


@pytest.mark.slow
def test_midi_resume_alone_continues_exactly_and_refuses_other_data(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = midi_folder(tmp_path / "midi")
    other = midi_folder(tmp_path / "other", shift=2)
    common = [*MIDI_TINY, "--midi-dir", str(src), "--max-steps", "10"]
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    assert run(midi_train.main, [*common, "-o", str(straight)], capsys)[0] == 0
    interrupt_after(monkeypatch, MidiLSTMTask, 5)
    assert run(midi_train.main, [*common, "-o", str(broken)], capsys)[0] == 130
    monkeypatch.undo()
    latest = broken / "latest.pt"
    refused = ["--model", "midi-lstm", "-o", str(broken), "--resume", "--midi-dir", str(other)]
    status, err = run(midi_train.main, refused, capsys)
    assert status == 2
    assert f"error: {broken}: --midi-dir {other} contradicts the run's {src} (from {latest})" in err
    status, err = run(midi_train.main, [*refused[:5], "--seq-len", "16"], capsys)
    assert status == 2 and "--seq-len 16 contradicts the run's 12" in err
    status, err = run(midi_train.main, ["--model", "chord-gan", *refused[2:5]], capsys)
    assert status == 2 and "--model chord-gan contradicts the run's midi-lstm" in err
    assert step_of(latest) == 5
    status, err = run(
        gen_train.main, ["--model", "midi-lstm", "-o", str(broken), "--resume"], capsys
    )
    assert status == 0, err
    assert step_of(latest) == 10
    assert same_weights(straight / "latest.pt", latest)


# -- 5. a stale OUT/data.npz ----------------------------------------------------------------
def test_midi_new_run_does_not_train_on_a_failed_runs_data(tmp_path: Path, capsys: Any) -> None:
    old = midi_folder(tmp_path / "old", pieces=2)
    new = midi_folder(tmp_path / "new", pieces=3, shift=5)
    out = tmp_path / "run"
    midi_prepare("midi-lstm", out, old, None)  # what an earlier run left before it failed
    argv = [*MIDI_TINY, "--midi-dir", str(new), "--max-steps", "1", "-o", str(out)]
    status, err = run(midi_train.main, argv, capsys)
    assert status == 0, err
    assert "making" in err and "data.npz again" in err
    assert load_checkpoint(out / "latest.pt").info["pieces"] == 3
    with np.load(out / "data.npz") as z:
        pieces = [z[k] for k in sorted(z.files) if k.startswith("p")]
    expected = [event_array(p) for p in read_midi_folder(new, progress=False)]
    assert all(np.array_equal(a, b) for a, b in zip(pieces, expected, strict=True))


# -- 9. corpora with files that are not text, or of two kinds --------------------------------
def test_corpus_folder_skips_files_that_are_not_text(
    tmp_path: Path, tiny_corpus: Path, capsys: Any
) -> None:
    folder = tmp_path / "tunes"
    folder.mkdir()
    shutil.copy(tiny_corpus, folder / "tunes.abc")
    (folder / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256)) * 40)
    torch.save({"w": torch.zeros(300)}, folder / "model.pt")
    (folder / "blob").write_bytes(b"abc\x00\x01\x02" * 200)  # no suffix: told by its bytes
    (folder / "noise.txt").write_bytes(bytes([1, 2, 3, 4, 5, 6, 0x80, 0xFF]) * 100)
    out = tmp_path / "data"
    status, err = run(gen_prepare.main, ["--corpus", str(folder), "-o", str(out)], capsys)
    assert status == 0, err
    assert "skipped 4 files (not text): " in err
    for name in ("cover.jpg", "model.pt", "blob", "noise.txt"):
        assert str(folder / name) in err
    meta = (out / "meta.json").read_text(encoding="utf-8")
    assert "cover.jpg" not in meta and "model.pt" not in meta
    vocab = Vocab(tuple(__import__("json").loads(meta)["vocab"]))
    assert len(vocab) < 60  # the tunes' characters, not 256 bytes of a JPEG


def test_corpus_of_two_kinds_is_refused_naming_the_file(
    tmp_path: Path, tiny_corpus: Path, capsys: Any
) -> None:
    tabs = tmp_path / "tabs.txt"
    tabs.write_text("e|---0---3---|\nB|---1---0---|\n\ne|---5---|\nB|---5---|\n")
    argv = ["--corpus", str(tiny_corpus), str(tabs), "-o", str(tmp_path / "d")]
    status, err = run(gen_prepare.main, argv, capsys)
    assert status == 2
    assert f"error: {tabs}: plain text, but {tiny_corpus} is ABC" in err
    assert "--kind text" in err
    status, err = run(gen_train.main, [*argv, "--max-steps", "1"], capsys)
    assert status == 2 and f"{tabs}: plain text" in err
    # Read as ABC, the tabs are left out with a note; read as plain text, both are kept.
    status, err = run(gen_prepare.main, [*argv, "--kind", "abc"], capsys)
    assert status == 0 and f"skipped 1 file (read as ABC): {tabs} (no ABC piece)" in err, err
    status, err = run(gen_prepare.main, [*argv, "--kind", "text"], capsys)
    assert status == 0, err
    assert (
        "e|---0---3---|"
        in (tmp_path / "d" / "train.txt").read_text() + (tmp_path / "d" / "val.txt").read_text()
    )


def test_corpus_pipe_is_refused_or_passed_over_never_waited_for(
    tmp_path: Path, tiny_corpus: Path, capsys: Any
) -> None:
    folder = tmp_path / "tunes"
    folder.mkdir()
    shutil.copy(tiny_corpus, folder / "tunes.abc")
    os.mkfifo(folder / "pipe.abc")
    status, err = run(
        gen_prepare.main, ["--corpus", str(folder), "-o", str(tmp_path / "d")], capsys
    )
    assert status == 0, err
    named = ["--corpus", str(folder / "pipe.abc"), "-o", str(tmp_path / "e")]
    status, err = run(gen_prepare.main, named, capsys)
    assert status == 2 and f"error: {folder / 'pipe.abc'}: not a regular file or folder" in err


def test_corpus_of_nothing_but_binary_files_is_refused(tmp_path: Path, capsys: Any) -> None:
    folder = tmp_path / "pics"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    status, err = run(
        gen_prepare.main, ["--corpus", str(folder), "-o", str(tmp_path / "d")], capsys
    )
    assert status == 2 and f"error: no text files under {folder}" in err


# -- 13. option values that no run can use ----------------------------------------------------
BAD_CHAR_LSTM = [
    ["--eval-every", "0"],
    ["--batch-size", "0"],
    ["--seq-len", "0"],
    ["--lr", "-0.1"],
    ["--lr", "nan"],
    ["--lr", "inf"],
    ["--clip", "0"],
    ["--dropout", "1"],
    ["--dropout", "-0.5"],
    ["--max-steps", "-1"],
    ["--minutes", "nan"],
    ["--epochs", "0"],
    ["--val-fraction", "0"],
    ["--val-fraction", "1.5"],
    ["--layers", "0"],
    ["--hidden-size", "0"],
    ["--embed-dim", "-4"],
    ["--max-pieces", "0"],
    ["--seed", "-1"],
    ["--threads", "0"],
]
BAD_MIDI = [
    ["--eval-every", "0"],
    ["--batch-size", "0"],
    ["--seq-len", "0"],
    ["--lr", "nan"],
    ["--lr", "-1"],
    ["--max-steps", "-1"],
    ["--minutes", "inf"],
    ["--hidden-size", "0"],
    ["--dense-size", "0"],
    ["--steps", "0"],
    ["--noise-dim", "0"],
    ["--max-pieces", "0"],
    ["--seed", "-2"],
]
BAD_OMR = [
    ["--batch-size", "0"],
    ["--lr", "nan"],
    ["--max-steps", "0"],
    ["--minutes", "-1"],
    ["--eval-every", "0"],
    ["--val-fraction", "0.5"],
    ["--val-fraction", "nan"],
    ["--photo-repeat", "0"],
    ["--seed", "-1"],
]


@pytest.mark.parametrize("bad", BAD_CHAR_LSTM, ids=" ".join)
def test_char_lstm_refuses_unusable_option_values(
    bad: list[str], tmp_path: Path, tiny_corpus: Path, capsys: Any
) -> None:
    argv = ["--corpus", str(tiny_corpus), *TINY, "--max-steps", "1", "-o", str(tmp_path / "r")]
    status, err = run(gen_train.main, [*argv, *bad], capsys)
    assert status == 2 and f"argument {bad[0]}:" in err, err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("bad", BAD_MIDI, ids=" ".join)
def test_midi_trainer_refuses_unusable_option_values(
    bad: list[str], tmp_path: Path, capsys: Any
) -> None:
    src = midi_folder(tmp_path / "midi")
    argv = [*MIDI_TINY, "--midi-dir", str(src), "--max-steps", "1", "-o", str(tmp_path / "r")]
    status, err = run(gen_train.main, [*argv, *bad], capsys)
    assert status == 2 and f"argument {bad[0]}:" in err, err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("bad", BAD_OMR, ids=" ".join)
def test_omr_train_refuses_unusable_option_values(
    bad: list[str], tmp_path: Path, capsys: Any
) -> None:
    status, err = run(omr_train.main, ["--photos", str(tmp_path), *bad], capsys)
    assert status == 2 and f"argument {bad[0]}:" in err, err


# -- 14. an unreadable MIDI file names its reason ---------------------------------------------
@pytest.mark.parametrize(
    "data", [b"", b"MThd", b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x01\x00"]
)
def test_unreadable_midi_names_a_reason(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bad.mid"
    path.write_bytes(data)
    with pytest.raises(MidiError) as caught:
        read_midi(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not a readable MIDI file (")
    assert "()" not in message and "ends too soon" in message


# -- 8. an output that cannot be written ----------------------------------------------------
def test_output_in_the_way_is_one_line_naming_it(
    tmp_path: Path, tiny_corpus: Path, capsys: Any
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    src = midi_folder(tmp_path / "midi")
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "x-1.jpg").write_bytes(b"\xff\xd8")
    (photos / "x-1.txt").write_text("clef:G2\n")
    commands: list[tuple[Callable[[list[str]], int], list[str]]] = [
        (gen_train.main, ["--corpus", str(tiny_corpus), *TINY, "--max-steps", "1"]),
        (gen_train.main, [*MIDI_TINY, "--midi-dir", str(src), "--max-steps", "1"]),
        (gen_prepare.main, ["--corpus", str(tiny_corpus)]),
        (omr_train.main, ["--photos", str(photos), "--max-steps", "1"]),
    ]
    for main, argv in commands:
        for out, reason in [
            (blocker, "a file is in the way where a folder is needed"),
            (blocker / "run", "a file is in the way where a folder is needed"),
        ]:
            status, err = run(main, [*argv, "-o", str(out)], capsys)
            assert status == 1, (argv, err)
            assert f"error: cannot write {out}: {reason}" in err, err
            assert len(err.strip().splitlines()) == 1, err
    assert blocker.read_text() == "not a folder"


def test_read_only_output_is_reported_before_any_work(
    tmp_path: Path, tiny_corpus: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only file system (EROFS, simulated: tests may run as root, where a folder's
    mode does not stop writes) is found before the corpus is prepared."""
    import stave.training

    def read_only(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.EROFS, "Read-only file system", str(kwargs.get("dir")))

    monkeypatch.setattr(stave.training.tempfile, "TemporaryFile", read_only)
    out = tmp_path / "run"
    argv = ["--corpus", str(tiny_corpus), *TINY, "--max-steps", "1", "-o", str(out)]
    status, err = run(gen_train.main, argv, capsys)
    assert status == 1 and f"error: cannot write {out}: read-only file system" in err, err
    assert not (out / "data").exists()
    src = midi_folder(tmp_path / "midi")
    midi = [*MIDI_TINY, "--midi-dir", str(src), "--max-steps", "1", "-o", str(out)]
    status, err = run(gen_train.main, midi, capsys)
    assert status == 1 and f"error: cannot write {out}: read-only file system" in err, err
    assert not (out / "data.npz").exists()


@pytest.mark.parametrize(
    "failure",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"),
    ],
    ids=["ENOSPC", "torch-zip-writer"],
)
def test_disk_full_during_training_keeps_the_last_checkpoint(
    tmp_path: Path,
    tiny_corpus: Path,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
) -> None:
    import stave.checkpoint

    saves = [0]
    real_save = torch.save

    def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        saves[0] += 1
        if saves[0] > 2:  # latest.pt and best.pt of the first validation are written
            if isinstance(failure, OSError):
                raise OSError(failure.errno, failure.strerror, str(f))  # the temporary file
            raise failure
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(stave.checkpoint.torch, "save", save)
    out = tmp_path / "run"
    argv = ["--corpus", str(tiny_corpus), *TINY, "--max-steps", "8", "-o", str(out)]
    status, err = run(gen_train.main, argv, capsys)
    reason = {OSError: "no space left on the device", RuntimeError: "the write failed"}
    assert status == 1, err
    assert f"error: cannot write {out / 'latest.pt'}: {reason[type(failure)]}" in err, err
    assert f"the run's last checkpoint {out / 'latest.pt'} is kept" in err
    assert step_of(out / "latest.pt") == 4  # the last good save, whole
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no partial file


# -- what a user expects: defaults in --help, progress ----------------------------------------
@pytest.mark.parametrize(
    "module", [gen_train, midi_train, gen_prepare, omr_train], ids=lambda m: m.__name__
)
def test_every_option_has_help_with_its_default(module: Any) -> None:
    for action in module.parser()._actions:
        if action.dest == "help":
            continue
        assert action.help, action.option_strings
        text = action.help.lower()
        assert "default" in text or "required" in text, action.option_strings


@pytest.mark.slow
def test_help_of_the_commands_runs() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for argv in (["generate.train"], ["generate.train", "--model", "midi-lstm"]):
        done = subprocess.run(
            [sys.executable, "-m", *argv, "--help"], capture_output=True, text=True, env=env
        )
        assert done.returncode == 0 and "(default:" in done.stdout, done.stderr
    assert "10 epochs when none of" in done.stdout or "3000" in done.stdout


def test_validation_shows_progress(capsys: Any) -> None:
    model = CharLSTM(CharLSTMConfig(vocab_size=5, embed_dim=4, hidden_size=8, num_layers=1))
    tokens = np.random.default_rng(0).integers(0, 5, 3000)
    capsys.readouterr()
    scoring.bits_per_char(model, tokens, progress=True)
    assert "validation" in capsys.readouterr().err


def test_midi_preparation_shows_progress(tmp_path: Path, capsys: Any) -> None:
    src = midi_folder(tmp_path / "midi")
    capsys.readouterr()
    assert len(read_midi_folder(src)) == 3
    assert "reading MIDI" in capsys.readouterr().err
