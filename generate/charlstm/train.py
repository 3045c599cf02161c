"""Training the char-LSTM: stateful truncated BPTT through the one loop (``stave.training``).

A run folder holds all it needs to resume: ``data/`` (the prepared corpus), ``latest.pt`` and
``best.pt`` (written atomically at each validation) and ``loss.png``.  A checkpoint records
the run's settings (``info["train_config"]``, the network's config, and in ``info["run"]``
where its data came from), so that ``generate.train --resume`` goes on as the run started.
"""

from __future__ import annotations

import math
import shutil
import sys
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from generate.charlstm import corpus, data
from generate.charlstm.model import CharLSTM, CharLSTMConfig, LSTMState
from generate.charlstm.prepare import prepare_corpus
from generate.charlstm.scoring import LN2, bits_per_char
from generate.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from stave import distributed, plots
from stave.devices import autocast
from stave.training import Loop, LoopConfig, LoopState, Validation, check_output_folder, writing


@dataclass
class TrainConfig:
    batch_size: int = 64
    seq_len: int = 128
    learning_rate: float = 2e-3
    grad_clip: float = 5.0
    max_steps: int | None = None  # total steps, counted across resumes
    epochs: float | None = None  # total epochs, counted across resumes
    minutes: float | None = None  # wall-clock minutes for this run
    eval_every: int = 200  # steps between validations (and checkpoints)
    log_every: int = 20  # steps between points of the training-loss curve
    seed: int = 0
    progress: bool = True  # show a progress bar
    precision: str = "fp32"  # of the training steps: fp32 or bf16 (autocast); validation fp32

    def loop(self, batches_per_epoch: int) -> LoopConfig:
        """The loop's budget: the tighter of ``max_steps`` and ``epochs``."""
        limits = [] if self.max_steps is None else [self.max_steps]
        if self.epochs is not None:
            limits.append(math.ceil(self.epochs * batches_per_epoch))
        return LoopConfig(
            max_steps=min(limits) if limits else None,
            minutes=self.minutes,
            eval_every=self.eval_every,
            log_every=self.log_every,
            progress=self.progress,
        )


@dataclass
class RunPaths:
    out: Path

    @property
    def data(self) -> Path:
        return self.out / "data"

    @property
    def latest(self) -> Path:
        return self.out / "latest.pt"

    @property
    def best(self) -> Path:
        return self.out / "best.pt"

    @property
    def plot(self) -> Path:
        return self.out / "loss.png"


def warmup_text(pieces: list[str], limit: int = 1500) -> str:
    """A real piece (its end), run before sampling so that a sample starts from the state a
    piece starts from in training, not from a zero state training hardly ever sees."""
    piece = min(pieces, key=lambda p: abs(len(p) - 600))  # a typical, not a freak, piece
    return piece[-limit:]


class TrainError(RuntimeError):
    """A training run that cannot start: existing run, mismatched resume."""


class CharLSTMTask:
    """The char-LSTM for ``stave.training.Loop``: batch *i+1* continues batch *i* row by
    row, the hidden state carried across; a new epoch (pieces reshuffled) starts from zero."""

    def __init__(
        self,
        model: CharLSTM,
        batches: data.TBPTTBatches,
        val_tokens: Any,
        config: TrainConfig,
        paths: RunPaths,
        prepared: data.Prepared,
        run: dict[str, Any] | None = None,
    ) -> None:
        self.model, self.batches, self.val_tokens = model, batches, val_tokens
        self.config, self.paths, self.prepared = config, paths, prepared
        self.run = run  # where the run's data came from (``run_record``); None: not known
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
        # Under torchrun the network is wrapped in DDP (gradients averaged over processes in
        # backward) and each process carries the hidden state of its own rows.
        self.processes = distributed.current()
        self.rows = distributed.rows(config.batch_size, self.processes)
        self.local_batch = self.rows.stop - self.rows.start
        self.net: nn.Module = model
        if self.processes.distributed:
            self.net = DistributedDataParallel(model)
        self.hidden: LSTMState = model.initial_state(self.local_batch)
        self.epoch = 0
        self.batch = 0  # next batch within the epoch
        self._batches: Iterator[tuple[Tensor, Tensor]] | None = None  # the epoch in progress

    def next_batch(self) -> tuple[Tensor, Tensor]:
        if self._batches is None:
            self._batches = self.batches.epoch(self.epoch, self.batch)
        return next(self._batches)

    def train_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, float]:
        x, y = batch
        self.model.train()
        self.hidden = (self.hidden[0].detach(), self.hidden[1].detach())
        with autocast(self.model.head.weight.device, self.config.precision):
            _, loss, hidden = self.net(x, self.hidden, y)
        assert loss is not None
        self.hidden = (hidden[0].float(), hidden[1].float())  # carried (and saved) in fp32
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.batch += 1
        if self.batch == len(self.batches):  # the epoch ran out: the next starts from zero
            self.epoch += 1
            self.batch = 0
            self.hidden = self.model.initial_state(self.local_batch)
            self._batches = None
        return {"bpc": distributed.mean(loss.detach()).item() / LN2}

    def progress(self, losses: Mapping[str, float], seconds: float) -> dict[str, str]:
        chars = self.config.batch_size * self.config.seq_len
        return {"bpc": f"{losses['bpc']:.3f}", "chars_s": f"{chars / seconds:,.0f}"}

    def validate(self) -> Validation:
        val_bpc = bits_per_char(
            self.model, self.val_tokens, progress=self.config.progress and self.processes.main
        )
        return Validation(val_bpc, {"val_bpc": val_bpc})

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            # every process's rows, in order: a resume on any number of processes goes on
            "hidden": tuple(distributed.gather(h.detach(), dim=1).cpu() for h in self.hidden),
            "epoch": self.epoch,
            "batch": self.batch,
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(saved["optimizer"])
        for group in self.optimizer.param_groups:  # a resume may change the learning rate
            group["lr"] = self.config.learning_rate
        hidden = saved["hidden"]
        if hidden[0].shape[1] != self.config.batch_size:
            raise ValueError(
                f"checkpoint was trained with batch {hidden[0].shape[1]}, "
                f"resume asks for {self.config.batch_size}"
            )
        device = self.model.head.weight.device
        self.hidden = (hidden[0][:, self.rows].to(device), hidden[1][:, self.rows].to(device))
        self.epoch, self.batch = saved["epoch"], saved["batch"]
        self._batches = None
        if self.batch >= len(self.batches):  # saved at an epoch's end by an older stavegen
            self.epoch, self.batch = self.epoch + 1, 0
            self.hidden = self.model.initial_state(self.local_batch)

    def save(self, loop: Loop[CharLSTMTask], validation: Validation, is_best: bool) -> None:
        st, prepared = loop.state, self.prepared
        val_bpc = validation.figures["val_bpc"]
        ckpt = Checkpoint(
            model_type="char-lstm",
            config=self.model.config,
            vocab=prepared.vocab,
            kind=prepared.kind,
            model_state={k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            trainer_state=loop.state_dict(),
            info={
                "source": prepared.source,
                "step": st.step,
                "val_bpc": val_bpc,
                "best_val_bpc": st.best,
                "train_seconds": st.seconds,
                "batches_per_epoch": len(self.batches),
                "warmup": warmup_text(prepared.val),
                "train_config": asdict(self.config),
                "processes": self.processes.world_size,
                **({} if self.run is None else {"run": self.run}),
            },
        )
        with writing(self.paths.latest):
            save_checkpoint(self.paths.latest, ckpt)
        if is_best:
            with writing(self.paths.best):
                save_checkpoint(self.paths.best, ckpt)
        with writing(self.paths.plot):
            plots.loss_curve(
                self.paths.plot,
                st.curves.get("bpc", []),
                st.curves.get("validation", []),
                f"{prepared.source}",
            )
        print(
            f"\nstep {st.step} epoch {self.epoch} val_bpc={val_bpc:.4f} best={st.best:.4f} "
            f"time={st.seconds / 60:.1f}min",
            file=sys.stderr,
            flush=True,
        )


def upgraded_state(saved: dict[str, Any]) -> dict[str, Any]:
    """A training state as the one loop saves it, from one that ``generate.trainer`` saved
    before there was one loop (so runs started then still ``--resume``, exactly)."""
    if "loop" in saved:
        return saved
    st = saved["state"]
    loop = LoopState(
        step=st["step"],
        seconds=st["seconds"],
        best=st["best_val_bpc"],
        curves={"bpc": list(st["train_curve"]), "validation": list(st["val_curve"])},
        pending={"bpc": st["pending_bits"]} if st["pending_steps"] else {},
        pending_steps=st["pending_steps"],
    )
    task = {
        "optimizer": saved["optimizer"],
        "hidden": saved["hidden"],
        "epoch": st["epoch"],
        "batch": st["batch"],
    }
    return {"loop": asdict(loop), "torch_rng": saved["torch_rng"], "task": task}


@dataclass
class Start:
    """What a run starts from: its prepared data, network config and weights (if any)."""

    prepared: data.Prepared
    net_config: CharLSTMConfig
    weights: dict[str, Tensor] | None
    trainer_state: dict[str, Any] | None
    run: dict[str, Any] | None  # ``run_record``; None for a run saved before it was kept


def run_record(
    spec: list[str],
    kind: corpus.Kind,
    val_fraction: float,
    max_pieces: int | None,
    data_dir: Path | None,
    init_from: Path | None,
    abc2midi_only: bool,
) -> dict[str, Any]:
    """Where a run's data came from, as its checkpoints keep it (paths made absolute, the
    kind as detected), for ``--resume`` to compare a command line with."""
    return {
        "corpus": corpus.resolved_spec(spec),
        "kind": kind,
        "val_fraction": val_fraction,
        "max_pieces": max_pieces,
        "data": None if data_dir is None else str(Path(data_dir).resolve()),
        "init_from": None if init_from is None else str(Path(init_from).resolve()),
        "abc2midi_only": abc2midi_only,
    }


def _resume_start(paths: RunPaths) -> Start:
    if not paths.latest.exists():
        raise TrainError(f"{paths.latest}: nothing to resume")
    saved = load_checkpoint(paths.latest)
    prepared = data.load_prepared(paths.data)
    if saved.vocab != prepared.vocab:
        raise TrainError(f"{paths.latest} was trained with another vocabulary than {paths.data}")
    if saved.trainer_state is None:
        raise TrainError(f"{paths.latest} holds no training state to resume")
    run = saved.info.get("run")
    batch = upgraded_state(saved.trainer_state)["task"]["hidden"][0].shape[1]
    distributed.note_resumed_on(
        paths.latest,
        saved.info.get("processes", 1),
        f"the same global batch of {batch} rows, each row's hidden state carried on, split "
        f"anew (figures as a run on one process, within floating-point rounding)",
    )
    return Start(prepared, saved.config, saved.model_state, saved.trainer_state, run)


def _follower_start(
    paths: RunPaths, resume: bool, model_config: dict[str, float | int], init_from: Path | None
) -> Start:
    """What a process other than the main one starts from, once the main one has prepared
    the run: the same data and network (DDP gives every process the main one's weights)."""
    prepared = data.load_prepared(paths.data)
    if resume:
        return _resume_start(paths)
    if init_from is not None:
        return Start(prepared, load_checkpoint(init_from).config, None, None, None)
    net = CharLSTMConfig(vocab_size=len(prepared.vocab), **model_config)  # type: ignore[arg-type]
    return Start(prepared, net, None, None, None)


def _new_start(
    paths: RunPaths,
    spec: list[str],
    model_config: dict[str, float | int],
    seed: int,
    kind: corpus.Kind | None,
    val_fraction: float,
    max_pieces: int | None,
    data_dir: Path | None,
    init_from: Path | None,
    abc2midi_only: bool,
) -> Start:
    if paths.latest.exists():
        raise TrainError(f"{paths.out} already holds a run: pass --resume, or choose another -o")
    start_weights: Checkpoint | None = None
    if init_from is not None:
        start_weights = load_checkpoint(init_from)
        if start_weights.model_type != "char-lstm":
            raise TrainError(f"{init_from} is not a char-LSTM checkpoint")
    if data_dir is not None:
        data.load_prepared(data_dir)  # prepared data, or an error naming it, before copying
        for name in data.PREPARED_FILES:
            with writing(paths.data / name):
                paths.data.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(data_dir / name, paths.data / name)
        prepared = data.load_prepared(paths.data)
    else:
        prepared = prepare_corpus(
            spec,
            paths.data,
            kind,
            val_fraction,
            seed,
            max_pieces,
            start_weights.vocab if start_weights else None,
            abc2midi_only,
        )
    run = run_record(
        spec, prepared.kind, val_fraction, max_pieces, data_dir, init_from, abc2midi_only
    )
    if start_weights is None:
        net = CharLSTMConfig(vocab_size=len(prepared.vocab), **model_config)  # type: ignore[arg-type]
        return Start(prepared, net, None, None, run)
    if prepared.vocab != start_weights.vocab:
        raise TrainError(f"{data_dir} was prepared with another vocabulary than {init_from}")
    return Start(prepared, start_weights.config, start_weights.model_state, None, run)


def train(
    out: Path,
    spec: list[str],
    model_config: dict[str, float | int],
    config: TrainConfig,
    resume: bool = False,
    kind: corpus.Kind | None = None,
    val_fraction: float = 0.05,
    max_pieces: int | None = None,
    data_dir: Path | None = None,
    init_from: Path | None = None,
    abc2midi_only: bool = False,
    device: torch.device | str = "cpu",
) -> tuple[Loop[CharLSTMTask], str]:
    """Run (or resume) training in ``out``; returns the loop (its ``task`` is the
    ``CharLSTMTask``) and why it stopped.

    The corpus is prepared into ``out/data`` (or copied there from ``data_dir``, prepared
    earlier by ``generate.prepare``), so a run folder holds all it needs to resume.
    ``init_from`` starts a new run from a checkpoint's network and vocabulary (fine-tuning);
    its sizes replace ``model_config``.

    Under torchrun (``stave.distributed.start`` called first) every process trains its
    share of the global ``batch_size`` rows; the main process prepares the data and writes
    the checkpoints, the others read what it prepared.
    """
    paths = RunPaths(out)
    processes = distributed.current()
    rows = distributed.rows(config.batch_size, processes)  # refused now if it does not split
    with distributed.main_first():  # it prepares the run; the others read what it made
        if not processes.main:
            start = _follower_start(paths, resume, model_config, init_from)
        else:
            check_output_folder(paths.out)  # fail now, not after preparing the data
            start = (
                _resume_start(paths)
                if resume
                else _new_start(
                    paths,
                    spec,
                    model_config,
                    config.seed,
                    kind,
                    val_fraction,
                    max_pieces,
                    data_dir,
                    init_from,
                    abc2midi_only,
                )
            )
    prepared = start.prepared
    torch.manual_seed(config.seed)
    model = CharLSTM(start.net_config)
    if start.weights is not None:
        model.load_state_dict(start.weights)
    model.to(device)
    batches = data.TBPTTBatches(
        prepared.train,
        prepared.vocab,
        config.batch_size,
        config.seq_len,
        config.seed,
        rows,
    )
    val_tokens = data.stream(prepared.val, prepared.vocab)
    n_params = sum(p.numel() for p in model.parameters())
    if processes.main:
        over = f" over {processes.world_size} processes" if processes.distributed else ""
        print(
            f"model: {n_params:,} parameters on {device}{over}; {batches.total_chars:,} "
            f"training characters, {len(batches)} batches per epoch; {len(val_tokens):,} "
            f"validation characters",
            file=sys.stderr,
        )
    task = CharLSTMTask(model, batches, val_tokens, config, paths, prepared, start.run)
    loop = Loop(task, config.loop(len(batches)), device)
    if start.trainer_state is not None:
        loop.load_state_dict(upgraded_state(start.trainer_state))
    return loop, loop.run()
