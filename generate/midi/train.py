"""Training of the MIDI-event LSTM and the piano-roll chord GAN (``python -m generate.train
--model midi-lstm|chord-gan``).

Data is prepared once into ``OUT/data.npz`` (events or rolls per piece), so a resumed run
reads it back rather than parsing the corpus again.  ``latest.pt`` and ``best.pt`` are
written atomically (``generate.checkpoint``), ``loss.png`` beside them; ``--resume``
continues the step count, optimizer state, random state and loss curve; Ctrl-C (SIGINT or
SIGTERM) saves and exits with status 130.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from generate.checkpoint import NO_VOCAB, Checkpoint, load_checkpoint, save_checkpoint
from generate.midi.data import event_windows, prepare, roll_segments, split
from generate.midi.events import ROLL_STEPS_PER_BEAT
from generate.midi.gan import ChordGAN, ChordGANConfig
from generate.midi.lstm import MidiLSTM, MidiLSTMConfig
from stave import plots
from stave.training import Loop, LoopConfig, LoopState, Validation, loss_progress


@dataclass
class MidiTrainConfig:
    batch_size: int = 32
    seq_len: int = 64  # events per training window (MIDI-event LSTM)
    learning_rate: float = 2e-3
    max_steps: int | None = None
    minutes: float | None = None
    eval_every: int = 200
    val_fraction: float = 0.05
    transpose: int = 3  # GAN augmentation: up to this many semitones up or down
    critic_steps: int = 5  # GAN: critic updates per generator update
    seed: int = 0


class MidiTask(ABC):
    """What the two MIDI models' tasks share for ``stave.training.Loop``: a numpy generator
    for the data, optimizers by name, and checkpoints of the ``generate`` format."""

    model_type = ""

    def __init__(
        self,
        out: Path,
        model: torch.nn.Module,
        config: Any,
        optimizers: dict[str, torch.optim.Optimizer],
        seed: int,
        info: dict[str, Any],
    ) -> None:
        self.out, self.model, self.config = out, model, config
        self.optimizers, self.info = optimizers, info
        self.rng = np.random.default_rng(seed)

    @abstractmethod
    def next_batch(self) -> Any: ...

    @abstractmethod
    def train_step(self, batch: Any) -> dict[str, float]: ...

    @abstractmethod
    def validate(self) -> Validation: ...

    def progress(self, losses: Mapping[str, float], seconds: float) -> dict[str, str]:
        return loss_progress(losses)

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        for k, o in self.optimizers.items():
            o.load_state_dict(saved["optimizers"][k])
        self.rng.bit_generator.state = saved["rng"]

    def save(self, loop: Loop[Any], validation: Validation, is_best: bool) -> None:
        ckpt = Checkpoint(
            self.model_type,
            self.config,
            NO_VOCAB,
            "midi",
            {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            loop.state_dict(),
            self.info,
        )
        save_checkpoint(self.out / "latest.pt", ckpt)
        if is_best:
            save_checkpoint(self.out / "best.pt", ckpt)
        plots.curves(self.out / "loss.png", loop.state.curves, "loss", self.model_type)


class MidiLSTMTask(MidiTask):
    model_type = "midi-lstm"

    def __init__(
        self, out: Path, pieces: list[np.ndarray], net: MidiLSTMConfig, cfg: MidiTrainConfig
    ) -> None:
        self.train_set, val_set = split(pieces, cfg.val_fraction, cfg.seed)
        self.lstm = MidiLSTM(net)
        opt: torch.optim.Optimizer = torch.optim.Adam(self.lstm.parameters(), lr=cfg.learning_rate)
        info = {
            "pieces": len(pieces),
            "primers": [p[:16].tolist() for p in val_set[:8] or self.train_set[:8]],
        }
        super().__init__(out, self.lstm, net, {"adam": opt}, cfg.seed, info)
        self.cfg = cfg
        self.val_batch = event_windows(
            val_set or self.train_set, 64, cfg.seq_len, np.random.default_rng(1)
        )

    def next_batch(self) -> torch.Tensor:
        return event_windows(self.train_set, self.cfg.batch_size, self.cfg.seq_len, self.rng)

    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        self.lstm.train()
        pred, _ = self.lstm(batch[:, :-1])
        loss, parts = self.lstm.loss(pred, batch[:, 1:])
        opt = self.optimizers["adam"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.lstm.parameters(), 1.0)
        opt.step()
        return {"loss": loss.item(), **parts}

    def validate(self) -> Validation:
        self.lstm.eval()
        with torch.no_grad():
            pred, _ = self.lstm(self.val_batch[:, :-1])
            loss = self.lstm.loss(pred, self.val_batch[:, 1:])[0].item()
        return Validation(loss, {"validation": loss})


class ChordGANTask(MidiTask):
    """The critic takes ``critic_steps`` updates on real rolls for each generator update."""

    model_type = "chord-gan"

    def __init__(
        self, out: Path, rolls: list[np.ndarray], net: ChordGANConfig, cfg: MidiTrainConfig
    ) -> None:
        if not any(len(r) >= net.steps for r in rolls):
            raise ValueError(f"no piece is {net.steps} steps long")
        self.gan = ChordGAN(net)
        betas = (0.5, 0.9)
        optimizers: dict[str, torch.optim.Optimizer] = {
            "generator": torch.optim.Adam(
                self.gan.generator.parameters(), lr=cfg.learning_rate, betas=betas
            ),
            "critic": torch.optim.Adam(
                self.gan.critic.parameters(), lr=cfg.learning_rate, betas=betas
            ),
        }
        info = {"pieces": len(rolls), "steps_per_beat": ROLL_STEPS_PER_BEAT}
        super().__init__(out, self.gan, net, optimizers, cfg.seed, info)
        self.rolls, self.net, self.cfg = rolls, net, cfg

    def next_batch(self) -> list[torch.Tensor]:
        """The real rolls of one step's critic updates."""
        rolls, cfg = self.rolls, self.cfg
        return [
            roll_segments(rolls, cfg.batch_size, self.net.steps, cfg.transpose, self.rng)
            for _ in range(cfg.critic_steps)
        ]

    def train_step(self, batch: list[torch.Tensor]) -> dict[str, float]:
        gan, opt_c, opt_g = self.gan, self.optimizers["critic"], self.optimizers["generator"]
        size, noise = self.cfg.batch_size, self.net.noise_dim
        gan.train()
        for real in batch:
            fake = gan.generator(torch.randn(size, noise, device=real.device)).detach()
            c_loss, distance = gan.critic_loss(real, fake)
            opt_c.zero_grad(set_to_none=True)
            c_loss.backward()
            opt_c.step()
        g_loss = gan.generator_loss(gan.generator(torch.randn(size, noise, device=real.device)))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        return {"critic": c_loss.item(), "generator": g_loss.item(), "wasserstein": distance}

    def validate(self) -> Validation:
        return Validation(None)  # a GAN has no held-out loss worth the name: every save is kept


def upgraded_state(saved: dict[str, Any]) -> dict[str, Any]:
    """A training state as the one loop saves it, from one saved before there was one loop
    (so runs started then still ``--resume``)."""
    if "loop" in saved:
        return saved
    st = saved["state"]
    loop = LoopState(step=st["step"], seconds=st["seconds"], best=st["best"], curves=st["curves"])
    return {
        "loop": dataclasses.asdict(loop),
        "torch_rng": saved["torch_rng"],
        "task": {"optimizers": saved["optimizers"], "rng": saved["rng"]},
    }


def _run(task: MidiTask, cfg: MidiTrainConfig, resume: bool) -> tuple[Loop[MidiTask], str]:
    loop = Loop(
        task,
        LoopConfig(
            max_steps=cfg.max_steps,
            minutes=cfg.minutes,
            eval_every=cfg.eval_every,
            log_every=max(1, cfg.eval_every // 20),
            curve_point="last",
        ),
    )
    out = task.out
    if resume:
        saved = load_checkpoint(out / "latest.pt")
        if saved.model_type != task.model_type:
            raise ValueError(f"{out} holds a {saved.model_type} run, not {task.model_type}")
        task.model.load_state_dict(saved.model_state)
        assert saved.trainer_state is not None
        loop.load_state_dict(upgraded_state(saved.trainer_state))
    elif (out / "latest.pt").exists():
        raise ValueError(f"{out} already holds a run: pass --resume, or choose another -o")
    return loop, loop.run()


def train_midi(
    out: Path,
    pieces: list[np.ndarray],
    net: MidiLSTMConfig | ChordGANConfig,
    cfg: MidiTrainConfig,
    resume: bool = False,
) -> tuple[Loop[MidiTask], str]:
    """Train (or resume) in ``out`` the model ``net`` configures: the MIDI-event LSTM on event
    arrays, or the chord GAN on piano rolls.  Returns the loop and why it stopped."""
    torch.manual_seed(cfg.seed)
    if isinstance(net, MidiLSTMConfig):
        return _run(MidiLSTMTask(out, pieces, net, cfg), cfg, resume)
    return _run(ChordGANTask(out, pieces, net, cfg), cfg, resume)


def main(argv: list[str] | None = None) -> int:
    defaults = MidiTrainConfig()
    lstm, gan = MidiLSTMConfig(), ChordGANConfig()
    p = argparse.ArgumentParser(
        prog="python -m generate.train --model midi-lstm|chord-gan",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", choices=("midi-lstm", "chord-gan"), required=True)
    p.add_argument("--midi-dir", type=Path, help="folder of MIDI files (default: Bach chorales)")
    p.add_argument("--max-pieces", type=int, help="use at most this many pieces")
    p.add_argument("-o", "--out", type=Path, help="run folder (default: runs/MODEL)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--seq-len", type=int, default=defaults.seq_len, help="events per window")
    p.add_argument("--lr", type=float, help="Adam learning rate (2e-3 LSTM, 2e-4 GAN)")
    p.add_argument("--max-steps", type=int, help="stop after this many steps in all")
    p.add_argument("--minutes", type=float, help="stop after this many minutes in this run")
    p.add_argument("--eval-every", type=int, default=defaults.eval_every)
    p.add_argument("--hidden-size", type=int, default=lstm.hidden_size, help="LSTM units")
    p.add_argument("--dense-size", type=int, default=lstm.dense_size, help="LSTM's dense layer")
    p.add_argument("--steps", type=int, default=gan.steps, help="GAN segment length (eighths)")
    p.add_argument("--noise-dim", type=int, default=gan.noise_dim, help="GAN noise size")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--threads", type=int, help="torch CPU threads")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or Path("runs") / args.model
    lr = args.lr or (2e-3 if args.model == "midi-lstm" else 2e-4)
    config = MidiTrainConfig(
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        learning_rate=lr,
        max_steps=args.max_steps,
        minutes=args.minutes,
        eval_every=args.eval_every,
        seed=args.seed,
    )
    if config.max_steps is None and config.minutes is None:
        config.max_steps = 3000
    if args.steps % 8:
        p.error("--steps must be a multiple of 8")
    try:
        data = prepare(args.model, out, args.midi_dir, args.max_pieces)
        net: MidiLSTMConfig | ChordGANConfig = (
            dataclasses.replace(lstm, hidden_size=args.hidden_size, dense_size=args.dense_size)
            if args.model == "midi-lstm"
            else dataclasses.replace(gan, steps=args.steps, noise_dim=args.noise_dim)
        )
        loop, reason = train_midi(out, data, net, config, args.resume)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    last = loop.state.last()
    print(
        f"stopped ({reason}) at step {loop.state.step}; "
        + " ".join(f"{k}={v:.4f}" for k, v in last.items())
        + f"; checkpoints in {out}"
    )
    return 130 if reason == "interrupted" else 0


if __name__ == "__main__":
    sys.exit(main())
