"""Hostile input to the generate package's sampling, evaluation and shipping commands: crafted
checkpoints, flag values no run can use, empty primers, output folders that cannot be
written, reruns into the same folder.  Each case must end in a one-line ``error: ...`` that
names the file and the problem (or, for a batch, go on with the rest), never a traceback.

The checkpoints are tiny networks with random weights made here, written with the payload
writer every checkpoint goes through (``stave.checkpoint.write_payload``)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch

from generate import convert as gen_convert
from generate import evaluate as gen_evaluate
from generate import sample as gen_sample
from generate import ship as gen_ship
from generate.charlstm.data import Vocab
from generate.charlstm.model import CharLSTM, CharLSTMConfig
from generate.charlstm.sampling import draw
from generate.checkpoint import (
    FORMAT,
    VERSION,
    Checkpoint,
    CheckpointError,
    load_char_lstm,
    load_checkpoint,
    save_checkpoint,
)
from generate.midi.gan import ChordGAN, ChordGANConfig
from generate.midi.lstm import MidiLSTM, MidiLSTMConfig
from stave import atomic
from stave.checkpoint import write_payload
from tests.conftest import TINY_ABC

WORKTREE = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def keep_threads() -> Iterator[None]:
    """The commands set torch's thread count (``--threads``): put it back after each test."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def char_payload(kind: str = "abc", text: str = TINY_ABC) -> dict[str, Any]:
    """A tiny char-LSTM's checkpoint payload (random weights), as save_checkpoint writes it."""
    torch.manual_seed(0)
    vocab = Vocab.build(text + "\n\n")
    config = CharLSTMConfig(vocab_size=len(vocab), embed_dim=8, hidden_size=16, num_layers=1)
    model = CharLSTM(config)
    return {
        "format": FORMAT,
        "version": VERSION,
        "model_type": "char-lstm",
        "config": {
            "vocab_size": config.vocab_size,
            "embed_dim": 8,
            "hidden_size": 16,
            "num_layers": 1,
            "dropout": 0.0,
        },
        "vocab": list(vocab.chars),
        "kind": kind,
        "model_state": dict(model.state_dict()),
        "trainer_state": None,
        "info": {"warmup": text.split("\n\n")[0]},
    }


def midi_checkpoint(path: Path, model_type: str) -> Path:
    torch.manual_seed(0)
    if model_type == "midi-lstm":
        config: Any = MidiLSTMConfig(hidden_size=8, dense_size=4)
        model: torch.nn.Module = MidiLSTM(config)
    else:
        config = ChordGANConfig(steps=16, noise_dim=4, generator_channels=16, critic_channels=2)
        model = ChordGAN(config)
    save_checkpoint(
        path, Checkpoint(model_type, config, Vocab(()), "midi", dict(model.state_dict()))
    )
    return path


@pytest.fixture
def abc_ckpt(tmp_path: Path) -> Path:
    path = tmp_path / "abc.pt"
    write_payload(path, char_payload())
    return path


def one_error_line(err: str, *names: str) -> str:
    """The single ``error:`` line of a command's stderr, checked to name ``names``."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


# -- 4: an empty primer, and the default primer of a plain-text model -------------------------


def test_empty_primer_samples(
    abc_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["--checkpoint", str(abc_ckpt), "--prime", "", "--num", "2", "--length", "40"]
    assert gen_sample.main([*args, "--seed", "1", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.abc")) == ["sample-001.abc", "sample-002.abc"]
    assert capsys.readouterr().out.strip().splitlines()[-1].endswith("/2")


def test_plain_text_checkpoint_samples_with_its_default_primer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = tmp_path / "text.pt"
    write_payload(ckpt, char_payload("text", "some plain words\nand more words\n\nagain"))
    out = tmp_path / "out"
    assert (
        gen_sample.main(["--checkpoint", str(ckpt), "--num", "2", "--length", "30", "-o", str(out)])
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["sample-001.txt", "sample-002.txt"]
    assert capsys.readouterr().out.strip().endswith("valid=2/2")


# -- 10: a rerun into the same folder ---------------------------------------------------------


def test_rerun_leaves_no_file_of_the_earlier_run(
    abc_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    # What an earlier run left: sample-001 converted (.mid, .musicxml), a fourth sample.
    earlier = ["sample-001.abc", "sample-001.mid", "sample-001.musicxml", "sample-004.abc"]
    for name in earlier:
        (out / name).write_text("earlier run")
    (out / "notes.txt").write_text("the user's own file")
    # Random weights: the new sample-001 does not convert, so it has no .mid of its own.
    args = ["--checkpoint", str(abc_ckpt), "--num", "2", "--length", "20", "--seed", "0"]
    assert gen_sample.main([*args, "-o", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert "sample-001.mid" not in names and "sample-004.abc" not in names, names
    assert (out / "notes.txt").read_text() == "the user's own file"
    assert all(p.read_text() != "earlier run" for p in out.iterdir())
    assert "removed 4 files of an earlier run" in capsys.readouterr().err


# -- 13: flag values no run can use -----------------------------------------------------------

CHAR_SAMPLE_FLAGS = [
    ("--temperature", "nan"),
    ("--temperature", "inf"),
    ("--temperature", "0"),
    ("--temperature", "-1"),
    ("--top-k", "0"),
    ("--top-k", "-3"),
    ("--num", "0"),
    ("--length", "0"),
    ("--seed", "-1"),
    ("--seed", str(2**70)),
    ("--threads", "0"),
]
MIDI_SAMPLE_FLAGS = [
    ("--temperature", "-1"),
    ("--temperature", "nan"),
    ("--num", "0"),
    ("--length", "-2"),
    ("--segments", "0"),
    ("--seed", "-5"),
    ("--threads", "0"),
]
MIDI_EVALUATE_FLAGS = [("--max-pieces", "1"), ("--num", "0"), ("--seed", "-1"), ("--threads", "0")]


def refused(main: Callable[[list[str]], int], argv: list[str], flag: str, capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and "Traceback" not in err, err


@pytest.mark.parametrize(("flag", "value"), CHAR_SAMPLE_FLAGS)
def test_char_sample_refuses_unusable_values(
    abc_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    argv = ["--checkpoint", str(abc_ckpt), "--num", "1", "--length", "5", "-o", str(tmp_path)]
    refused(gen_sample.main, [*argv, f"{flag}={value}"], flag, capsys)


@pytest.mark.parametrize("model", ["midi-lstm", "chord-gan"])
@pytest.mark.parametrize(("flag", "value"), MIDI_SAMPLE_FLAGS)
def test_midi_sample_refuses_unusable_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str, flag: str, value: str
) -> None:
    ckpt = midi_checkpoint(tmp_path / "m.pt", model)
    argv = ["--model", model, "--checkpoint", str(ckpt), "--num", "1", "--length", "4"]
    refused(gen_sample.main, [*argv, "-o", str(tmp_path / "o"), f"{flag}={value}"], flag, capsys)


@pytest.mark.parametrize(("flag", "value"), MIDI_EVALUATE_FLAGS)
def test_midi_evaluate_refuses_unusable_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    ckpt = midi_checkpoint(tmp_path / "m.pt", "midi-lstm")
    argv = ["--model", "midi-lstm", "--checkpoint", str(ckpt), "--midi-dir", str(tmp_path)]
    refused(gen_evaluate.main, [*argv, f"{flag}={value}"], flag, capsys)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--model", "midi-lstm"],
        ["--model", "chord-gan"],
    ],
)
@pytest.mark.parametrize("command", ["sample", "evaluate"])
def test_every_option_has_help_with_its_default(
    capsys: pytest.CaptureFixture[str], command: str, argv: list[str]
) -> None:
    main = gen_sample.main if command == "sample" else gen_evaluate.main
    extra = ["FILE"] if command == "evaluate" and not argv else []
    with pytest.raises(SystemExit):
        main([*argv, *extra, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--threads N" in text
    if command == "sample":
        assert "(default: samples)" in text  # -o
        if not argv:
            for shown in ("(default: 8)", "(default: 2000)", "(default: 0.8)", "(default: 1)"):
                assert shown in text, shown


def test_threads_flag_sets_torch_threads(
    abc_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--checkpoint", str(abc_ckpt), "--num", "1", "--length", "5", "-o", str(tmp_path)]
    assert gen_sample.main([*args, "--threads", "2"]) == 0
    assert torch.get_num_threads() == 2
    assert "2 threads" in capsys.readouterr().err
    assert gen_sample.main(args) == 0  # the sampler's default: one thread
    assert torch.get_num_threads() == 1
    tune = tmp_path / "tune.abc"
    tune.write_text(TINY_ABC)
    assert gen_evaluate.main(["--checkpoint", str(abc_ckpt), str(tune), "--threads", "2"]) == 0
    assert torch.get_num_threads() == 2


# -- 14: crafted checkpoints ------------------------------------------------------------------


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(payload: dict[str, Any]) -> None:
        *path, last = key.split(".")
        target = payload
        for part in path:
            target = target[part]
        target[last] = value

    return change


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    def change(payload: dict[str, Any]) -> None:
        *path, last = key.split(".")
        target = payload
        for part in path:
            target = target[part]
        del target[last]

    return change


def _state(change: Callable[[dict[str, torch.Tensor]], None]) -> Callable[[dict[str, Any]], None]:
    def apply(payload: dict[str, Any]) -> None:
        change(payload["model_state"])

    return apply


CRAFTED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "wrong-shape": (
        _state(lambda s: s.__setitem__("head.weight", torch.zeros(3, 3))),
        "head.weight has shape (3, 3)",
    ),
    "missing-weight": (_state(lambda s: s.pop("head.bias")), "lacks 1 weight(s)"),
    "extra-weight": (
        _state(lambda s: s.__setitem__("spare", torch.zeros(1))),
        "unknown weight(s): 'spare'",
    ),
    "non-tensor-weight": (
        _state(lambda s: s.__setitem__("head.bias", [0.0, 1.0])),
        "head.bias is a list, not a tensor",
    ),
    "nan-weights": (
        _state(lambda s: s["head.bias"].fill_(float("nan"))),
        "head.bias holds NaN",
    ),
    "model-state-not-a-dict": (_set("model_state", [1, 2]), "model_state is a list"),
    "no-model-state": (_drop("model_state"), "model_state is a NoneType"),
    "no-model-type": (_drop("model_type"), "unknown model type None"),
    "model-type-a-list": (_set("model_type", ["char-lstm"]), "unknown model type"),
    "unknown-config-field": (_set("config.layers", 3), "unknown field(s) layers"),
    "missing-config-field": (_drop("config.vocab_size"), "config:"),
    "config-not-a-dict": (_set("config", "big"), "config is a str"),
    "config-wrong-type": (_set("config.hidden_size", "16"), "config.hidden_size is '16'"),
    "config-negative": (_set("config.num_layers", -1), "config.num_layers is -1"),
    "config-dropout": (_set("config.dropout", 1.5), "config.dropout is 1.5"),
    "config-enormous": (_set("config.hidden_size", 10**6), "has shape"),
    "vocab-mismatch": (
        lambda p: p["vocab"].append("\u266f"),
        "vocabulary has",
    ),
    "vocab-not-characters": (_set("vocab", [1, 2, 3]), "vocabulary holds 1"),
    "vocab-twice": (lambda p: p["vocab"].__setitem__(1, p["vocab"][2]), "a character twice"),
    "wrong-kind": (_set("kind", "midi"), "kind 'midi'"),
    "info-not-a-dict": (_set("info", [1]), "info is a list"),
    "warmup-not-text": (_set("info.warmup", 5), "info.warmup"),
}


def crafted(tmp_path: Path, case: str) -> tuple[Path, str]:
    change, expected = CRAFTED[case]
    payload = char_payload()
    change(payload)
    path = tmp_path / f"{case}.pt"
    write_payload(path, payload)
    return path, expected


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_checkpoint_is_a_checkpoint_error(tmp_path: Path, case: str) -> None:
    """What every command (and train --init-from / --resume) reads a checkpoint through."""
    path, expected = crafted(tmp_path, case)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(info.value).startswith(f"{path}: ") and expected in str(info.value)


@pytest.mark.parametrize("case", sorted(CRAFTED))
@pytest.mark.parametrize("command", ["sample", "evaluate", "ship"])
def test_crafted_checkpoint_gives_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, command: str
) -> None:
    path, expected = crafted(tmp_path, case)
    if command == "sample":
        status = gen_sample.main(["--checkpoint", str(path), "-o", str(tmp_path / "out")])
    elif command == "evaluate":
        tune = tmp_path / "tune.abc"
        tune.write_text(TINY_ABC)
        status = gen_evaluate.main(["--checkpoint", str(path), str(tune)])
    else:
        status = gen_ship.main([str(path), str(tmp_path / "shipped.pt")])
    assert status == 2
    one_error_line(capsys.readouterr().err, str(path), expected)
    assert not (tmp_path / "out").exists() and not (tmp_path / "shipped.pt").exists()


MIDI_CRAFTED: dict[str, tuple[str, Callable[[dict[str, Any]], None], str]] = {
    "gan-steps": ("chord-gan", _set("config.steps", 12), "config.steps is 12"),
    "gan-vocab-kind": ("chord-gan", _set("kind", "abc"), "kind 'abc'"),
    "lstm-wrong-shape": (
        "midi-lstm",
        _state(lambda s: s.__setitem__("dense.2.weight", torch.zeros(4, 4))),
        "dense.2.weight has shape (4, 4)",
    ),
    "lstm-bad-primers": (
        "midi-lstm",
        _set("info", {"primers": [[1.0, 2.0]]}),
        "info.primers[0]",
    ),
}


@pytest.mark.parametrize("case", sorted(MIDI_CRAFTED))
def test_crafted_midi_checkpoint_gives_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    model, change, expected = MIDI_CRAFTED[case]
    good = midi_checkpoint(tmp_path / "good.pt", model)
    payload = torch.load(good, weights_only=True)
    change(payload)
    path = tmp_path / f"{case}.pt"
    write_payload(path, payload)
    argv = ["--model", model, "--checkpoint", str(path), "--num", "1", "--length", "4"]
    assert gen_sample.main([*argv, "-o", str(tmp_path / "out")]) == 2
    one_error_line(capsys.readouterr().err, str(path), expected)


def test_primer_outside_the_vocabulary_names_the_file_and_characters(
    abc_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--checkpoint", str(abc_ckpt), "--prime", "X:\u266f\u00e9", "-o", str(tmp_path / "o")]
    assert gen_sample.main(argv) == 2
    one_error_line(capsys.readouterr().err, str(abc_ckpt), "'\u266f'", "'\u00e9'", "primer")
    assert not (tmp_path / "o").exists()


# -- 12: generate.evaluate of the MIDI models with no usable data ------------------------------


@pytest.mark.parametrize("model", ["midi-lstm", "chord-gan"])
def test_midi_evaluate_without_usable_data_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "junk.mid").write_bytes(b"not a MIDI file")
    (data / "empty.mid").write_bytes(b"")
    ckpt = midi_checkpoint(tmp_path / "m.pt", model)
    argv = ["--model", model, "--checkpoint", str(ckpt), "--num", "2"]
    assert gen_evaluate.main([*argv, "--midi-dir", str(data)]) == 2
    one_error_line(capsys.readouterr().err, str(data), "0 usable piece(s)")
    assert gen_evaluate.main([*argv, "--midi-dir", str(tmp_path / "none")]) == 2
    one_error_line(capsys.readouterr().err, str(tmp_path / "none"), "no such folder")


# -- 8: output locations that cannot be written -----------------------------------------------


@contextmanager
def disk_full_for(monkeypatch: pytest.MonkeyPatch, marker: str) -> Iterator[None]:
    """Writes to targets whose name holds ``marker`` fail as on a full disk (ENOSPC, no file
    name, as a failing write() gives), whoever runs the test (root ignores chmod)."""
    real = atomic.atomic_path

    @contextmanager
    def full(path: Any) -> Iterator[Path]:
        if marker in os.fspath(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        with real(path) as tmp:
            yield tmp

    monkeypatch.setattr(atomic, "atomic_path", full)
    yield


def test_sample_into_a_file_is_one_error_line(
    abc_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    argv = ["--checkpoint", str(abc_ckpt), "--num", "2", "--length", "10", "-o", str(blocker)]
    assert gen_sample.main(argv) == 1
    one_error_line(capsys.readouterr().err, str(blocker), "cannot write")
    assert blocker.read_text() == "in the way"


@pytest.mark.parametrize("model", ["midi-lstm", "chord-gan"])
def test_midi_sample_into_a_file_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    ckpt = midi_checkpoint(tmp_path / "m.pt", model)
    argv = ["--model", model, "--checkpoint", str(ckpt), "--num", "1", "--length", "4"]
    assert gen_sample.main([*argv, "-o", str(blocker)]) == 1
    one_error_line(capsys.readouterr().err, str(blocker), "cannot write")


def test_sample_on_a_full_disk_reports_each_sample_and_goes_on(
    abc_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    out = tmp_path / "out"
    argv = ["--checkpoint", str(abc_ckpt), "--num", "3", "--length", "10", "-o", str(out)]
    with disk_full_for(monkeypatch, "sample-002"):
        assert gen_sample.main(argv) == 1
    captured = capsys.readouterr()
    line = one_error_line(captured.err, "sample-002.abc", "no space left on the device")
    assert line.startswith("error: sample 2: cannot write")
    assert sorted(p.name for p in out.iterdir()) == ["sample-001.abc", "sample-003.abc"]
    assert captured.out.strip().splitlines()[-1] == "valid=0/3"


def test_ship_to_a_full_disk_or_a_folder_is_one_error_line(
    abc_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    folder = tmp_path / "a-folder"
    (folder / "inside").mkdir(parents=True)
    assert gen_ship.main([str(abc_ckpt), str(folder)]) == 1
    one_error_line(capsys.readouterr().err, str(folder), "cannot write")
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    assert gen_ship.main([str(abc_ckpt), str(blocker / "shipped.pt")]) == 1
    one_error_line(capsys.readouterr().err, "cannot write")
    dst = tmp_path / "shipped.pt"
    with disk_full_for(monkeypatch, "shipped"):
        assert gen_ship.main([str(abc_ckpt), str(dst)]) == 1
    one_error_line(capsys.readouterr().err, str(dst), "no space left on the device")
    assert not dst.exists()


def test_convert_into_a_file_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tunes = tmp_path / "tunes.abc"
    tunes.write_text(TINY_ABC)
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    assert gen_convert.main([str(tunes), "-o", str(blocker), "--formats", "txt"]) == 1
    one_error_line(capsys.readouterr().err, str(blocker), "cannot write")


def test_convert_refuses_a_bar_of_thousands_of_beats_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sampled "M:48444/4" kept music21 busy for minutes (its time signature's beats);
    the tune is refused with the metre named, and the next ones are converted."""
    tunes = tmp_path / "tunes.abc"
    tunes.write_text("X:1\nT:huge\nM:48444/4\nL:1/4\nK:D\nDEFG|\n\n" + TINY_ABC)
    start = time.perf_counter()
    assert gen_convert.main([str(tunes), "-o", str(tmp_path / "out"), "--formats", "txt"]) == 1
    assert time.perf_counter() - start < 30
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    (failed,) = [line for line in captured.err.splitlines() if line.startswith("failed:")]
    assert "tunes-001" in failed and "M:48444/4" in failed and "48444 beats" in failed
    assert captured.out.strip().splitlines()[-1] == "converted=2/3"  # TINY_ABC's two tunes


@pytest.mark.parametrize(
    ("abc", "refused"),
    [
        ("X:1\nM:(20+30)/4\nK:D\nDEFG|", True),  # music21: 2030/4
        ("X:1\nM:1 000/4\nK:D\nDEFG|", True),  # music21: 1000/4
        ("X:1\n M:99/4\nK:D\nDEFG|", True),
        ("X:1\nM:3/4\nK:D\nDEF|[M:99/4]DEFG|", True),
        ("X:1\nM:2+3+2/8\nK:D\nDEFG|", False),  # 7 beats
        ("X:1\nM:12/8\nK:D\nDEF|[M:3/4]DEF|", False),
        ('X:1\nT:[M:99/4] reel\nK:D\nw:[M:99/4] la\nDEFG|]% [M:99/4]\n"^[M:99/4]"D|', False),
    ],
)
def test_a_long_bar_is_found_as_music21_would_read_it(abc: str, refused: bool) -> None:
    from stave.melody import long_bar

    assert (long_bar(abc) is not None) == refused


@pytest.mark.slow
def test_convert_on_a_full_disk_reports_the_piece_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    tunes = tmp_path / "tunes.abc"
    tunes.write_text(TINY_ABC)
    out = tmp_path / "out"
    with disk_full_for(monkeypatch, "tunes-001"):
        assert gen_convert.main([str(tunes), "-o", str(out), "--formats", "mid", "txt"]) == 1
    captured = capsys.readouterr()
    one_error_line(captured.err, "tunes-001", "no space left on the device")
    assert sorted(p.name for p in out.iterdir()) == ["tunes-002.mid", "tunes-002.txt"]
    assert captured.out.strip().splitlines()[-1] == "converted=1/2"


# -- the commands as a user runs them ---------------------------------------------------------


@pytest.mark.slow
def test_commands_give_one_line_and_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(WORKTREE)}
    path, _ = crafted(tmp_path, "wrong-shape")
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    runs = [
        (["generate.sample", "--checkpoint", str(path)], 2, str(path)),
        (
            ["generate.sample", "--prime", "", "--num", "1", "--length", "5", "-o", str(blocker)],
            1,
            str(blocker),
        ),
    ]
    for argv, status, named in runs:
        proc = subprocess.run(
            [sys.executable, "-m", *argv], capture_output=True, text=True, env=env, timeout=300
        )
        assert proc.returncode == status, proc.stderr
        one_error_line(proc.stderr, named)


@pytest.mark.parametrize(
    ("option", "value"),
    [("temperature", -1.0), ("temperature", float("nan")), ("top_k", 0), ("num", 0)],
)
def test_draw_refuses_unusable_values(abc_ckpt: Path, option: str, value: float) -> None:
    """The library call as the command line: a negative temperature is not argmax."""
    model, ckpt = load_char_lstm(abc_ckpt)
    kwargs: dict[str, Any] = {"num": 1, "length": 5, "temperature": 1.0, option: value}
    with pytest.raises(ValueError, match=option):
        draw(model, ckpt.vocab, ckpt.kind, **kwargs)


@pytest.mark.parametrize("state", [{}, {"loop": 5}, {"loop": {}, "task": {"epoch": "x"}}])
def test_ship_of_a_crafted_training_state_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], state: dict[str, Any]
) -> None:
    payload = char_payload()
    payload["trainer_state"] = state
    path = tmp_path / "best.pt"
    write_payload(path, payload)
    assert gen_ship.main([str(path), str(tmp_path / "shipped.pt")]) == 2
    one_error_line(capsys.readouterr().err, str(path), "training state unreadable")
    assert not (tmp_path / "shipped.pt").exists()


def test_ship_of_odd_figures_and_no_warmup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = char_payload()
    payload["info"] = {"warmup": "X:1", "val_bpc": "low", "train_seconds": None}
    path = tmp_path / "odd.pt"
    write_payload(path, payload)
    assert gen_ship.main([str(path), str(tmp_path / "shipped.pt")]) == 0
    assert "val_bpc nan" in capsys.readouterr().out
    payload["info"] = {}  # no warm-up text, and no run data beside it to take one from
    write_payload(path, payload)
    assert gen_ship.main([str(path), str(tmp_path / "again.pt")]) == 2
    one_error_line(capsys.readouterr().err, str(path), "holds no warm-up text")


# Found by a review of 167 more cases ----------------------------------------------------------


def cli(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(WORKTREE)},
    )


@pytest.mark.slow
def test_review_fifos_binaries_and_bad_tokens_are_named_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.abc"
    os.mkfifo(fifo)
    (tmp_path / "x.bin").write_bytes(bytes(range(256)) * 2)
    (tmp_path / "bad.txt").write_text("clef:G2 key:0 1:4 Q7:zz 2:4 |\n")
    (tmp_path / "tunes.abc").write_text(TINY_ABC)
    proc = cli(
        "generate.convert", str(fifo), str(tmp_path / "bad.txt"), str(tmp_path / "nothere.abc"),
        "-o", str(tmp_path / "out"), "--formats", "musicxml", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "fifo.abc: cannot read (not a regular file" in proc.stderr
    assert "unknown token 'Q7:zz'" in proc.stderr
    assert "nothere.abc: cannot read (No such file or directory)" in proc.stderr
    assert "bad.txt: " in proc.stderr and f"{tmp_path / 'bad.txt'}: {tmp_path}" not in proc.stderr
    proc = cli("generate.evaluate", str(fifo), str(tmp_path / "x.bin"), cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "fifo.abc: cannot read (not a regular file" in proc.stderr
    assert "x.bin: skipped, not text" in proc.stderr


def test_review_corpus_and_data_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from generate import prepare as gen_prepare
    from generate import train as gen_train

    tunes = tmp_path / "tunes.abc"
    tunes.write_text(TINY_ABC)
    status = gen_prepare.main(
        ["--corpus", str(tunes), "--kind", "stave", "-o", str(tmp_path / "p")]
    )
    assert status == 2
    assert "tunes.abc: not stave text (ABC), but --kind stave was given" in capsys.readouterr().err
    status = gen_train.main(
        ["--data", str(tmp_path / "p"), "--corpus", str(tunes), "-o", str(tmp_path / "r")]
    )
    assert status == 2
    assert "--data and --corpus are alternatives" in capsys.readouterr().err


def test_review_sample_checks_its_output_before_sampling(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], keep_threads: None
) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    assert gen_sample.main(["--num", "1", "-o", str(blocker)]) == 1
    err = capsys.readouterr().err
    assert "a file is in the way" in err and "characters in" not in err  # nothing sampled
    assert blocker.read_text() == "x"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"prime": 5},
        {"seed": -1},
        {"seed": 2**80},
        {"seed": "abc"},
        {"temperature": True},
        {"checkpoint": 123},
        {"grammar": "yes"},
    ],
)
def test_review_sample_music_refuses_unusable_arguments(kwargs: dict[str, Any]) -> None:
    from generate import sample_music

    with pytest.raises(ValueError):
        sample_music("abc", **kwargs)


def test_review_read_music_of_a_folder(tmp_path: Path) -> None:
    from omr import read_music

    with pytest.raises(ValueError, match="is a folder"):
        read_music(tmp_path)
