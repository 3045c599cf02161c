"""The layout's promises: dependencies point one way, and a checkpoint never runs code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from generate.checkpoint import FORMAT, VERSION, load_checkpoint
from omr.model.checkpoint import FORMAT as OMR_FORMAT
from omr.model.checkpoint import VERSION as OMR_VERSION
from omr.model.checkpoint import load_checkpoint as load_recognizer
from stave.checkpoint import CheckpointError
from stave.training import Loop, LoopConfig

ROOT = Path(__file__).resolve().parents[1]


def modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return set(proc.stdout.split())


def test_reading_a_page_imports_no_generator() -> None:
    loaded = modules_after("import omr.extract, omr.evaluate")
    assert not {m for m in loaded if m == "generate" or m.startswith("generate.")}
    assert "mido" not in loaded


def test_the_core_imports_neither_half() -> None:
    loaded = modules_after(
        "import stave.stavetext, stave.musicxml, stave.melody, stave.abc, stave.training, "
        "stave.checkpoint, stave.plots"
    )
    assert not {m for m in loaded if m.split(".")[0] in ("generate", "omr")}


def test_the_char_lstm_commands_do_not_load_the_midi_models() -> None:
    loaded = modules_after("import generate.train, generate.sample, generate.evaluate")
    assert not {m for m in loaded if m.startswith("generate.midi")}
    assert not {m for m in loaded if m.split(".")[0] == "omr"}


class _RunsCode:
    """Unpickling this calls ``Path.touch`` on its marker: code run by loading a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("fmt", "version", "load"),
    [(FORMAT, VERSION, load_checkpoint), (OMR_FORMAT, OMR_VERSION, load_recognizer)],
    ids=["generate", "omr"],
)
def test_a_checkpoint_that_would_run_code_is_refused(
    tmp_path: Path, fmt: str, version: int, load: object
) -> None:
    marker = tmp_path / "ran"
    crafted = tmp_path / "crafted.pt"
    torch.save({"format": fmt, "version": version, "info": _RunsCode(marker)}, crafted)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load(crafted)  # type: ignore[operator]
    assert not marker.exists()
    # The same payload through a plain unpickler would have run it: the test is live.
    torch.load(crafted, weights_only=False)
    assert marker.exists()


class _Counting:
    """A task that learns nothing: it counts, so the loop's own bookkeeping can be checked."""

    def __init__(self) -> None:
        self.steps, self.saves = 0, []

    def next_batch(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return torch.ones(2), {"y": torch.zeros(1)}

    def train_step(self, batch: tuple[torch.Tensor, dict[str, torch.Tensor]]) -> dict[str, float]:
        x, extra = batch
        assert x.device == torch.device("cpu") and "y" in extra
        self.steps += 1
        return {"loss": float(self.steps)}

    def validate(self):  # type: ignore[no-untyped-def]
        from stave.training import Validation

        return Validation(1.0 / self.steps, {"inverse": 1.0 / self.steps})

    def save(self, loop, validation, is_best) -> None:  # type: ignore[no-untyped-def]
        self.saves.append((loop.state.step, is_best))

    def state_dict(self) -> dict[str, int]:
        return {"steps": self.steps}

    def load_state_dict(self, saved: dict[str, int]) -> None:
        self.steps = saved["steps"]

    def progress(self, losses, seconds):  # type: ignore[no-untyped-def]
        return {}


def test_the_loop_validates_saves_and_resumes() -> None:
    task = _Counting()
    loop = Loop(task, LoopConfig(max_steps=7, eval_every=3, log_every=2, progress=False))
    assert loop.run() == "budget"
    # validated at steps 3 and 6, and once more at the end; each a new best (1/step falls)
    assert task.saves == [(3, True), (6, True), (7, True)]
    assert loop.state.curves["loss"] == [(2, 1.5), (4, 3.5), (6, 5.5)]  # means of 2 steps
    assert [s for s, _ in loop.state.curves["validation"]] == [3, 6, 7]
    again = Loop(_Counting(), LoopConfig(max_steps=9, eval_every=3, log_every=2, progress=False))
    again.load_state_dict(loop.state_dict())
    assert again.task.steps == 7 and again.run() == "budget"
    assert again.state.step == 9 and again.task.saves == [(9, True)]
    assert again.state.curves["loss"][-1] == (8, 7.5)  # the pending step 7 carried over
    assert loop.reduce({"a": 2.0}) == {"a": 2.0}  # one process: nothing to average
