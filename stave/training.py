"""The one training loop.  Every stavegen model trains through it: the char-LSTM, the stave
recognizer, the MIDI-event LSTM and the chord GAN, each known only through ``Task``.

The loop owns what they share: the budget (steps in all, minutes of this run, Ctrl-C or
SIGTERM as a request to stop after the step in progress), the progress bar, the training
curves, when to validate and when the task saves, and the state a resume needs
(``LoopState`` and the torch random state).  A task owns its data, its optimizers, its own
random state and what its checkpoints hold; it does its file writing in ``save``.

This is the one place where a batch is moved to the device (``Loop.to_device``) and where a
validation figure is reduced across processes (``Loop.reduce``).  In one process on the CPU
the first moves nothing and the second has nothing to average.

What the training commands share about their run folders is here too: ``resumed_options``
(``--resume`` takes the run's own settings from its checkpoint and refuses a flag that
contradicts them), ``check_output_folder`` and ``writing`` (an output that cannot be written
is named, not the temporary file beside it).
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar

import torch
from tqdm import tqdm

from stave import atomic, distributed
from stave.interrupt import StopOnSignal


@dataclass
class LoopConfig:
    max_steps: int | None = None  # total steps, counted across resumes
    minutes: float | None = None  # wall-clock minutes of this run
    eval_every: int = 200  # steps between validations (and checkpoints)
    log_every: int = 20  # steps between training-curve points
    # A point is the mean of the losses since the last one ("mean"), or the loss of the step
    # it is drawn at ("last", as the MIDI models' curves have always been drawn).
    curve_point: Literal["mean", "last"] = "mean"
    progress: bool = True  # show a progress bar


@dataclass
class LoopState:
    """Where training stands; saved in every checkpoint so that a resume continues exactly."""

    step: int = 0
    seconds: float = 0.0  # training time over all runs
    best: float = math.inf  # best validation metric so far (lower is better)
    # name -> [(step, value)]: training losses (a point every log_every steps), "validation"
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    pending: dict[str, float] = field(default_factory=dict)  # loss sums since the last point
    pending_steps: int = 0

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> LoopState:
        """The state ``dataclasses.asdict`` made of one (as a checkpoint holds it)."""
        fields = dict(saved)
        fields["curves"] = {k: [tuple(p) for p in v] for k, v in fields["curves"].items()}
        return cls(**fields)

    def record(self, name: str, value: float) -> None:
        self.curves.setdefault(name, []).append((self.step, value))

    def last(self) -> dict[str, float]:
        """The last point of every curve."""
        return {name: points[-1][1] for name, points in self.curves.items() if points}


@dataclass
class Validation:
    """A task's validation: the metric that picks the best checkpoint and figures to report."""

    metric: float | None  # lower is better; None: nothing to measure, every save is the best
    figures: dict[str, float] = field(default_factory=dict)
    kept: tuple[str, ...] = ()  # figures kept as curves beside "validation"


class Task(Protocol):
    """What the loop needs of a model's training."""

    def next_batch(self) -> Any:
        """The next training batch (tensors, or tuples, lists or dicts of them)."""
        ...

    def train_step(self, batch: Any) -> dict[str, float]:
        """One optimizer step on ``batch`` (already on the device); its losses by name."""
        ...

    def validate(self) -> Validation: ...

    def save(self, loop: Loop[Any], validation: Validation, is_best: bool) -> None:
        """Write checkpoints (with ``loop.state_dict()``), plots and logs."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """The task's own state a resume needs: optimizers, data position, random state."""
        ...

    def load_state_dict(self, saved: dict[str, Any]) -> None: ...

    def progress(self, losses: Mapping[str, float], seconds: float) -> dict[str, str]:
        """What the progress bar shows after a step that took ``seconds``."""
        ...


TaskT = TypeVar("TaskT", bound=Task)


def loss_progress(losses: Mapping[str, float]) -> dict[str, str]:
    """The usual progress-bar figures: every loss to three decimals."""
    return {name: f"{value:.3f}" for name, value in losses.items()}


class Loop(Generic[TaskT]):
    """Trains a task.  ``device`` is where batches go; the task keeps its model there."""

    def __init__(self, task: TaskT, config: LoopConfig, device: torch.device | str = "cpu") -> None:
        self.task = task
        self.config = config
        self.device = torch.device(device)
        self.state = LoopState()
        # Under torchrun every process runs the loop; only the main one saves and shows
        # progress, and all stop at the same step.
        self.processes = distributed.current()
        self._saving: dict[str, Any] | None = None

    # -- the device and the processes ------------------------------------------------------
    def to_device(self, batch: Any) -> Any:
        """``batch`` with every tensor in it on the loop's device."""
        if isinstance(batch, torch.Tensor):
            return batch.to(self.device, non_blocking=True)
        if isinstance(batch, tuple | list):
            return type(batch)(self.to_device(b) for b in batch)
        if isinstance(batch, dict):
            return {k: self.to_device(v) for k, v in batch.items()}
        return batch

    def reduce(self, figures: Mapping[str, float]) -> dict[str, float]:
        """Figures averaged over the processes of a distributed run (as they are in one)."""
        return distributed.mean_figures(figures)

    # -- state that a checkpoint carries ---------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        if self._saving is not None:  # made by every process before the main one saves
            return self._saving
        return {
            "loop": dataclasses.asdict(self.state),
            "torch_rng": torch.get_rng_state(),
            "task": self.task.state_dict(),
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.state = LoopState.from_dict(saved["loop"])
        torch.set_rng_state(saved["torch_rng"])
        self.task.load_state_dict(saved["task"])

    # -- the loop --------------------------------------------------------------------------
    def _record_step(self, losses: Mapping[str, float]) -> None:
        st = self.state
        for name, value in losses.items():
            st.pending[name] = st.pending.get(name, 0.0) + value
        st.pending_steps += 1
        if st.step % self.config.log_every == 0:
            last = self.config.curve_point == "last"
            for name, total in st.pending.items():
                st.record(name, losses[name] if last else total / st.pending_steps)
            st.pending, st.pending_steps = {}, 0

    def validate(self) -> Validation:
        """Validate, keep the curve and the best metric, and have the task save."""
        found = self.task.validate()
        metric = None if found.metric is None else self.reduce({"metric": found.metric})["metric"]
        validation = Validation(metric, self.reduce(found.figures), found.kept)
        is_best = metric is None or metric < self.state.best
        if metric is not None:
            if is_best:
                self.state.best = metric
            self.state.record("validation", metric)
        for name in found.kept:
            self.state.record(name, validation.figures[name])
        # A task's state may be gathered from every process (the char-LSTM's hidden rows),
        # so every process makes it; the main one writes it.
        self._saving = self.state_dict()
        try:
            if self.processes.main:
                self.task.save(self, validation, is_best)
        finally:
            self._saving = None
        distributed.barrier()
        return validation

    _STOPS = (None, "time", "interrupted")

    def _agreed(self, why: str | None) -> str | None:
        """The stop every process takes: one that any process asks for."""
        return self._STOPS[distributed.largest(self._STOPS.index(why))]

    def run(self) -> str:
        """Train until the budget is spent or a stop is requested; returns why it stopped:
        "budget", "time" (``minutes`` spent) or "interrupted" (a signal; a second one stops
        at once).  The last step is always validated and saved, a signal notwithstanding."""
        cfg, st = self.config, self.state
        bar = tqdm(
            total=cfg.max_steps,
            initial=st.step,
            unit="step",
            dynamic_ncols=True,
            mininterval=1,
            disable=not (cfg.progress and self.processes.main),
        )
        reason = "budget"
        last_saved = st.step
        with StopOnSignal(minutes=cfg.minutes) as stop:
            try:
                while True:
                    if why := self._agreed(stop.why()):  # reported, budget or not
                        reason = why
                        break
                    if cfg.max_steps is not None and st.step >= cfg.max_steps:
                        break
                    t0 = time.perf_counter()
                    losses = self.task.train_step(self.to_device(self.task.next_batch()))
                    dt = time.perf_counter() - t0
                    st.seconds += dt
                    st.step += 1
                    bar.update(1)
                    postfix = self.task.progress(losses, dt)
                    bar.set_postfix(postfix)
                    self._record_step(losses)
                    if st.step % cfg.eval_every == 0:
                        bar.set_postfix_str("validating", refresh=True)  # it may take a minute
                        self.validate()
                        bar.set_postfix(postfix)
                        last_saved = st.step
            finally:
                bar.close()
            if st.step != last_saved:
                self.validate()
        return reason


# -- run folders ---------------------------------------------------------------------------
class ResumeError(ValueError):
    """A ``--resume`` whose command line contradicts the run it continues."""


_UNSET = object()


def given_options(
    parser: argparse.ArgumentParser, argv: list[str], parsed: argparse.Namespace
) -> set[str]:
    """The options (by ``dest``) that ``argv`` gives, as opposed to those left at their
    defaults: argparse fills in a default only where the namespace has no value yet."""
    probe = argparse.Namespace(**{dest: _UNSET for dest in vars(parsed)})
    parser.parse_args(argv, namespace=probe)
    return {dest for dest, value in vars(probe).items() if value is not _UNSET}


def option_text(value: Any) -> str:
    """A setting as it is typed on a command line (for messages)."""
    if value is None or value == []:
        return "(not given)"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list | tuple):
        return " ".join(map(str, value))
    return str(value)


def resumed_options(
    given: Mapping[str, Any],
    run: Mapping[str, Any],
    changeable: Collection[str],
    budget: Collection[str],
    where: str,
    source: Path,
) -> dict[str, Any]:
    """The settings a resumed run goes on with, by option ``dest``.

    ``run``: the run's own settings, read from its checkpoint ``source``; ``given``: the
    options the command line gives.  A given option that is in ``run`` must agree with it
    (``ResumeError`` naming both values otherwise), unless it is ``changeable``.  The options
    in ``budget`` go together: when none is given the run's budget is kept, when one is the
    budget is the ones given.  Options the run did not record are taken as given.
    """
    settled = dict(run)
    for dest, value in given.items():
        if dest in run and dest not in changeable and dest not in budget and value != run[dest]:
            flag = "--" + dest.replace("_", "-")
            raise ResumeError(
                f"{where}: {flag} {option_text(value)} contradicts the run's "
                f"{option_text(run[dest])} (from {source})"
            )
        settled[dest] = value
    if any(dest in given for dest in budget):
        for dest in budget:
            settled[dest] = given.get(dest)
    return settled


# Options whose dest is not the name of their field in a trainer's saved config.
_CONFIG_FIELDS = {"lr": "learning_rate", "clip": "grad_clip"}


def trained_options(trained: Mapping[str, Any], dests: Collection[str]) -> dict[str, Any]:
    """Option values by ``dest`` from a run's saved training config (``--lr`` is its
    ``learning_rate``, ``--clip`` its ``grad_clip``, the others their own names)."""
    return {dest: trained[_CONFIG_FIELDS.get(dest, dest)] for dest in dests}


def check_output_folder(folder: Path) -> None:
    """Make ``folder`` and check a file can be created in it, so that a run fails at once,
    not after preparing its data: ``OSError`` naming the folder otherwise."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".write-check."):
            pass
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(folder)) from err


# torch.save reports a failed write (a full disk) as a RuntimeError from its zip writer.
_TORCH_WRITE_FAILED = ("PytorchStreamWriter", "inline_container", "file write failed")


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """An ``OSError`` raised while writing ``path`` names ``path`` (not the temporary file an
    atomic write puts beside it); a failed ``torch.save`` becomes one."""
    try:
        yield
    except OSError as err:
        if err.filename is not None and os.fspath(err.filename) == os.fspath(path):
            raise
        if err.errno is None:  # an OSError with a message only
            raise OSError(errno.EIO, str(err), str(path)) from err
        raise OSError(err.errno, err.strerror, str(path)) from err
    except RuntimeError as err:
        if not any(mark in str(err) for mark in _TORCH_WRITE_FAILED):
            raise
        raise OSError(errno.EIO, "the write failed (is the disk full?)", str(path)) from err


def save_run(
    out: Path,
    history: list[dict[str, float]],
    figures: Mapping[str, float],
    save: Callable[[Path], None],
    is_best: bool,
) -> None:
    """What a task's ``save`` writes after a validation whose ``figures`` ``history`` ends
    with: the figures said on stderr, ``OUT/latest.pt`` (and ``OUT/best.pt`` when it is the
    best) written by ``save``, and the history as ``OUT/history.json``, each atomically
    (an output that cannot be written is named)."""
    step = history[-1]["step"] if history else 0
    print(
        f"\nstep {step:.0f}: " + ", ".join(f"{k}={v:.4f}" for k, v in figures.items()),
        file=sys.stderr,
    )
    for name in ("latest.pt", "best.pt") if is_best else ("latest.pt",):
        with writing(out / name):
            save(out / name)
    with writing(out / "history.json"):
        atomic.write_text(out / "history.json", json.dumps(history, indent=1))


class OneOptimizerState:
    """``Task`` state (and progress: its losses) for a task with one optimizer
    (``self.optimizer``), a numpy generator (``self.rng``) and a validation history
    (``self.history``, the last entry's figures kept in ``self.figures`` so that a resume
    with nothing left to train reports them)."""

    optimizer: torch.optim.Optimizer
    rng: Any  # numpy.random.Generator
    history: list[dict[str, float]]
    figures: dict[str, float]

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "rng": self.rng.bit_generator.state,
            "history": self.history,
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(saved["optimizer"])
        self.rng.bit_generator.state = saved["rng"]
        self.history = list(saved["history"])
        if self.history:
            last = self.history[-1]
            self.figures = {k: v for k, v in last.items() if k not in ("step", "loss")}

    def set_learning_rate(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def progress(self, losses: Mapping[str, float], seconds: float) -> dict[str, str]:
        return loss_progress(losses)
