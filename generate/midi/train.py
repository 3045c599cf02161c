"""Training of the MIDI-event LSTM and the piano-roll chord GAN (``python -m generate.train
--model midi-lstm|chord-gan``).

Data is prepared once into ``OUT/data.npz`` (events or rolls per piece), so a resumed run
reads it back rather than parsing the corpus again; a new run makes it again unless it was
made from the same inputs.  ``latest.pt`` and ``best.pt`` are written atomically
(``generate.checkpoint``), ``loss.png`` beside them; Ctrl-C (SIGINT or SIGTERM) saves and
exits with status 130.

``--resume`` continues the step count, optimizer state, random state and loss curve, with
the run's own settings from ``latest.pt`` (data, network sizes, batch, sequence length, seed,
learning rate, validation interval, budget): ``-o OUT --resume`` alone goes on exactly.  An
option given with ``--resume`` that contradicts the run is refused, naming both values.
These may change: the budget (``--max-steps`` in all, ``--minutes`` of this sitting: give
either and the budget is the ones given, give none and it is the run's; a new run naming
none trains 3000 steps), ``--lr`` (from here on), ``--eval-every`` and ``--threads``.
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
from torch.nn.parallel import DistributedDataParallel

from generate.checkpoint import (
    NO_VOCAB,
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from generate.midi.data import (
    CORPORA,
    data_source,
    event_windows,
    prepare,
    roll_segments,
    split,
    voice_bars,
    voice_segments,
)
from generate.midi.events import PITCH_SCALE, ROLL_STEPS_PER_BEAT
from generate.midi.gan import ARCHS as GAN_ARCHS
from generate.midi.gan import BAR_STEPS, METRES, ChordGAN, ChordGANConfig, metre_name
from generate.midi.loss import interval_penalty
from generate.midi.lstm import ARCHS as LSTM_ARCHS
from generate.midi.lstm import MidiLSTM, MidiLSTMConfig, MidiSoftmaxLSTM, network
from generate.midi.metrics import measure
from stave import distributed, plots
from stave.cli import (
    non_negative_float,
    non_negative_int,
    output_error,
    positive_float,
    positive_int,
)
from stave.devices import DEVICE_HELP, PRECISION_CHOICES, PRECISION_HELP, autocast
from stave.training import (
    Loop,
    LoopConfig,
    LoopState,
    ResumeError,
    Validation,
    check_output_folder,
    given_options,
    loss_progress,
    option_text,
    resumed_options,
    trained_options,
    writing,
)

DEFAULT_STEPS = 3000  # the budget of a run that names none
VALIDATION_SEGMENTS = 64  # GAN: segments generated at each validation
DEFAULT_LR = {"midi-lstm": 2e-3, "chord-gan": 2e-4}
BUDGET = ("max_steps", "minutes")
CHANGEABLE_ON_RESUME = ("lr", "eval_every", "threads", "device", "precision", "out", "resume")
NET_OPTIONS = {
    "midi-lstm": ("arch", "hidden_size", "dense_size", "num_layers", "dropout"),
    "chord-gan": ("arch", "steps", "noise_dim"),
}
ARCH_CHOICES = {"midi-lstm": LSTM_ARCHS, "chord-gan": GAN_ARCHS}
DEFAULT_ARCH = {"midi-lstm": "softmax", "chord-gan": "voices"}
# The softmax LSTM's sizes where the command line names none (the seed's are its config's).
SOFTMAX_LSTM = MidiLSTMConfig(arch="softmax", hidden_size=256, num_layers=2, dropout=0.2)


@dataclass
class MidiTrainConfig:
    batch_size: int = 32
    seq_len: int = 64  # events per training window (MIDI-event LSTM)
    learning_rate: float = 2e-3
    max_steps: int | None = None
    minutes: float | None = None
    eval_every: int = 200
    val_fraction: float = 0.05
    transpose: int = 3  # augmentation: up to this many semitones up or down (set by design)
    key_normalised: bool = False  # voice GAN: pieces transposed to no key signature
    critic_steps: int = 5  # GAN: critic updates per generator update
    seed: int = 0
    precision: str = "fp32"  # of the training steps: fp32 or bf16 (autocast)


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

    def set_learning_rate(self, lr: float) -> None:
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] = lr

    def save(self, loop: Loop[Any], validation: Validation, is_best: bool) -> None:
        ckpt = Checkpoint(
            self.model_type,
            self.config,
            NO_VOCAB,
            "midi",
            {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            loop.state_dict(),
            self.info,
        )
        with writing(self.out / "latest.pt"):
            save_checkpoint(self.out / "latest.pt", ckpt)
        if is_best:
            with writing(self.out / "best.pt"):
                save_checkpoint(self.out / "best.pt", ckpt)
        with writing(self.out / "loss.png"):
            plots.curves(self.out / "loss.png", loop.state.curves, "loss", self.model_type)


class MidiLSTMTask(MidiTask):
    model_type = "midi-lstm"

    def __init__(
        self, out: Path, pieces: list[np.ndarray], net: MidiLSTMConfig, cfg: MidiTrainConfig
    ) -> None:
        self.train_set, val_set = split(pieces, cfg.val_fraction, cfg.seed)
        self.lstm: MidiLSTM | MidiSoftmaxLSTM = network(net)  # type: ignore[assignment]
        opt: torch.optim.Optimizer = torch.optim.Adam(self.lstm.parameters(), lr=cfg.learning_rate)
        info = {
            "pieces": len(pieces),
            "primers": [p[:16].tolist() for p in val_set[:8] or self.train_set[:8]],
        }
        super().__init__(out, self.lstm, net, {"adam": opt}, cfg.seed, info)
        self.cfg = cfg
        # Under torchrun every process draws the same global batch (the same generator) and
        # trains on its rows, the network wrapped in DDP (made when it is on its device).
        self.processes = distributed.current()
        self.rows = distributed.rows(cfg.batch_size, self.processes)
        self._net: torch.nn.Module | None = None
        self.val_batch = event_windows(
            val_set or self.train_set, 256, cfg.seq_len, np.random.default_rng(1)
        )

    def next_batch(self) -> torch.Tensor:
        cfg = self.cfg
        batch = event_windows(self.train_set, cfg.batch_size, cfg.seq_len, self.rng, cfg.transpose)
        return batch[self.rows]

    @property
    def net(self) -> torch.nn.Module:
        if self._net is None:
            self._net = (
                DistributedDataParallel(self.lstm) if self.processes.distributed else self.lstm
            )
        return self._net

    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        self.lstm.train()
        with autocast(batch.device, self.cfg.precision):
            pred, _ = self.net(batch[:, :-1], None, batch[:, 1:])
        loss, parts = self.lstm.loss(pred, batch[:, 1:])
        opt = self.optimizers["adam"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.lstm.parameters(), 1.0)
        opt.step()
        return distributed.mean_figures({"loss": loss.item(), **parts})

    def validate(self) -> Validation:
        self.lstm.eval()
        with torch.no_grad():
            val = self.val_batch.to(next(self.lstm.parameters()).device)
            pred, _ = self.lstm(val[:, :-1], None, val[:, 1:])
            loss, parts = self.lstm.loss(pred, val[:, 1:])
            # The two designs' common measure: the seed's pitch penalty of the prediction
            # (of a key drawn from it, for the softmax design), against repeating the
            # last note.
            repeat = interval_penalty((val[:, 1:, 0] - val[:, :-1, 0]) * PITCH_SCALE).mean()
        return Validation(
            loss.item(),
            {
                "validation": loss.item(),
                "val_interval": parts["interval"],
                "val_interval_likeliest": parts["interval_likeliest"],
                "val_interval_repeat": repeat.item(),
            },
            kept=("val_interval", "val_interval_likeliest", "val_interval_repeat"),
        )


class ChordGANTask(MidiTask):
    """The critic takes ``critic_steps`` updates on real rolls for each generator update.

    A generator of several metres draws one metre per step, chosen at random in proportion
    to the data's bars of it; that step's real segments and generated ones are of it."""

    model_type = "chord-gan"

    def __init__(
        self, out: Path, rolls: list[np.ndarray], net: ChordGANConfig, cfg: MidiTrainConfig
    ) -> None:
        bars = net.steps // BAR_STEPS
        if net.arch == "voices":
            rolls = [voice_bars(v) for v in rolls]  # once, not at every batch
            have = {m: sum(len(v) for v in rolls if v.shape[1] == m) for m in net.metres}
            short = [
                metre_name(m)
                for m in net.metres
                if not any(v.shape[1] == m and len(v) >= bars for v in rolls)
            ]
            if short:
                raise ValueError(f"no piece has {bars} bars of {', '.join(short)}")
        elif not any(len(r) >= net.steps for r in rolls):
            raise ValueError(f"no piece is {net.steps} steps long")
        else:
            have = {BAR_STEPS: 1}
        # how often each metre is drawn: in proportion to the data's bars of it
        self.metre_weights = np.array([have[m] for m in net.metres], float)
        self.metre_weights /= self.metre_weights.sum()
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
        info = {
            "pieces": len(rolls),
            "steps_per_beat": ROLL_STEPS_PER_BEAT,
            "key_normalised": cfg.key_normalised,
        }
        super().__init__(out, self.gan, net, optimizers, cfg.seed, info)
        self.rolls, self.net, self.cfg = rolls, net, cfg
        # The data's segments the validation measures against, of each metre in proportion
        # (without the silence that follows a shorter metre's bars).
        self.validation_metres = [
            (m, round(VALIDATION_SEGMENTS * w))
            for m, w in zip(net.metres, self.metre_weights, strict=True)
        ]
        self.reference = [
            r[: bars * m]
            for m, n in self.validation_metres
            if n
            for r in self.segments(n * 4, 0, np.random.default_rng(1), m).numpy()
        ]
        # Under torchrun every process draws the same global batch of rolls, noise and
        # penalty points (the same generators) and trains on its rows; generator and critic
        # are wrapped in DDP (made when they are on their device).  Batch norm in the
        # generator keeps each process's statistics on CPUs (gloo), synchronised on CUDA.
        self.processes = distributed.current()
        self.rows = distributed.rows(cfg.batch_size, self.processes)
        self._nets: tuple[torch.nn.Module, torch.nn.Module] | None = None

    @property
    def nets(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        """The generator and the critic as a training step calls them."""
        if self._nets is None:
            generator: torch.nn.Module = self.gan.generator
            critic: torch.nn.Module = self.gan.critic
            if self.processes.distributed:
                if next(generator.parameters()).device.type == "cuda":
                    generator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(generator)
                generator, critic = (
                    DistributedDataParallel(generator),
                    DistributedDataParallel(critic),
                )
            self._nets = (generator, critic)
        return self._nets

    def segments(
        self, size: int, transpose: int, rng: np.random.Generator, metre: int
    ) -> torch.Tensor:
        """``size`` of the data's segments: of four voices in ``metre``, or chordified."""
        if self.net.arch == "voices":
            return voice_segments(self.rolls, size, self.net.steps, transpose, rng, metre)
        return roll_segments(self.rolls, size, self.net.steps, transpose, rng)

    def next_batch(self) -> tuple[int, list[torch.Tensor]]:
        """The step's metre (eighths per bar; the same in every process: the same generator)
        and the real rolls of its critic updates (this process's rows of each)."""
        cfg = self.cfg
        metre = self.net.metres[0]
        if len(self.net.metres) > 1:
            metre = self.net.metres[
                int(self.rng.choice(len(self.net.metres), p=self.metre_weights))
            ]
        return metre, [
            self.segments(cfg.batch_size, cfg.transpose, self.rng, metre)[self.rows]
            for _ in range(cfg.critic_steps)
        ]

    def train_step(self, batch: tuple[int, list[torch.Tensor]]) -> dict[str, float]:
        gan, opt_c, opt_g = self.gan, self.optimizers["critic"], self.optimizers["generator"]
        generator, critic = self.nets
        size, noise, rows = self.cfg.batch_size, self.net.noise_dim, self.rows
        precision = self.cfg.precision
        metre, reals = batch
        gan.train()
        for real in reals:
            device = real.device
            with torch.no_grad(), autocast(device, precision):
                z = torch.randn(size, noise, device=device)[rows]
                fake = gan.generator(z, metre).float()
            mix = torch.rand(size, 1, 1, device=device)[rows]
            with autocast(device, precision):
                c_loss, distance = gan.critic_loss(real, fake, mix, critic)
            opt_c.zero_grad(set_to_none=True)
            c_loss.backward()
            opt_c.step()
        with autocast(device, precision):
            # the critic itself, not its DDP wrapper: only the generator's gradients are kept
            z = torch.randn(size, noise, device=device)[rows]
            g_loss = gan.generator_loss(generator(z, metre))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        return distributed.mean_figures(
            {"critic": c_loss.item(), "generator": g_loss.item(), "wasserstein": distance}
        )

    def validate(self) -> Validation:
        """What a listener would notice, measured on segments of a fixed noise against
        segments of the data (``generate.midi.metrics``): the key-normalised pitch-class
        histogram distance plus a quarter of the share of full steps that are no chord
        (lower is better) picks ``best.pt``; both are kept as curves, with the in-scale
        rate."""
        rolls = []
        for i, (metre, n) in enumerate(self.validation_metres):
            if n:
                seeded = torch.Generator().manual_seed(i)
                rolls += list(self.gan.generate(n, seeded, metre).cpu().numpy())
        self.gan.train()
        m = measure(rolls, ROLL_STEPS_PER_BEAT, reference=self.reference)
        chords = 0.0 if np.isnan(m.chords) else m.chords
        figures = {
            "val_key_pch": m.key_pch_distance,
            "val_chords": chords,
            "val_in_scale": m.in_scale,
        }
        metric = m.key_pch_distance + 0.25 * (1 - chords)
        return Validation(metric, {"validation": metric, **figures}, kept=tuple(figures))


def drawable_metres(pieces: list[np.ndarray], bars: int) -> tuple[int, ...]:
    """The metres (eighths per bar, 4/4 first) of which the voice GAN's data holds a piece of
    at least ``bars`` bars (4/4 alone where none has)."""
    have = {b.shape[1] for v in pieces for b in [voice_bars(v)] if len(b) >= bars}
    return tuple(m for m in METRES.values() if m in have) or (BAR_STEPS,)


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


def _run(
    task: MidiTask,
    cfg: MidiTrainConfig,
    resume: bool,
    new_lr: float | None,
    device: torch.device | str = "cpu",
) -> tuple[Loop[MidiTask], str]:
    task.model.to(device)  # in place: the optimizers keep the same parameters
    loop = Loop(
        task,
        LoopConfig(
            max_steps=cfg.max_steps,
            minutes=cfg.minutes,
            eval_every=cfg.eval_every,
            log_every=max(1, cfg.eval_every // 20),
            curve_point="last",
        ),
        device,
    )
    out = task.out
    if loop.processes.main:
        check_output_folder(out)
    if resume:
        saved = load_checkpoint(out / "latest.pt")
        if saved.model_type != task.model_type:
            raise ValueError(f"{out} holds a {saved.model_type} run, not {task.model_type}")
        if saved.trainer_state is None:
            raise ValueError(f"{out / 'latest.pt'} holds no training state to resume")
        try:
            task.model.load_state_dict(saved.model_state)
        except RuntimeError as err:  # a network of other sizes than this command line's
            raise CheckpointError(f"{out / 'latest.pt'}: does not fit the network ({err})") from err
        loop.load_state_dict(upgraded_state(saved.trainer_state))
        distributed.note_resumed_on(
            out / "latest.pt",
            saved.info.get("processes", 1),
            f"the same global batch of {cfg.batch_size}, split anew",
        )
        if new_lr is not None:
            task.set_learning_rate(new_lr)
    elif (out / "latest.pt").exists():
        raise ValueError(f"{out} already holds a run: pass --resume, or choose another -o")
    return loop, loop.run()


def train_midi(
    out: Path,
    pieces: list[np.ndarray],
    net: MidiLSTMConfig | ChordGANConfig,
    cfg: MidiTrainConfig,
    resume: bool = False,
    source: dict[str, Any] | None = None,
    new_lr: float | None = None,
    device: torch.device | str = "cpu",
) -> tuple[Loop[MidiTask], str]:
    """Train (or resume) in ``out`` the model ``net`` configures: the MIDI-event LSTM on event
    arrays, or the chord GAN on piano rolls.  Returns the loop and why it stopped.

    ``source``: where the data came from (``generate.midi.data.data_source``), kept with the
    settings in the checkpoints for ``--resume``; ``new_lr``: a resume's new learning rate.
    """
    torch.manual_seed(cfg.seed)
    task: MidiTask
    if isinstance(net, MidiLSTMConfig):
        task = MidiLSTMTask(out, pieces, net, cfg)
    else:
        task = ChordGANTask(out, pieces, net, cfg)
    task.info["train_config"] = dataclasses.asdict(cfg)
    task.info["processes"] = distributed.current().world_size
    if source is not None:
        task.info["data"] = source
    return _run(task, cfg, resume, new_lr, device)


def parser() -> argparse.ArgumentParser:
    defaults = MidiTrainConfig()
    lstm, gan = MidiLSTMConfig(), ChordGANConfig()
    p = argparse.ArgumentParser(
        prog="python -m generate.train --model midi-lstm|chord-gan",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model",
        choices=("midi-lstm", "chord-gan"),
        required=True,
        help="the MIDI-event LSTM or the piano-roll chord GAN (required)",
    )
    p.add_argument(
        "--arch",
        choices=sorted({a for archs in ARCH_CHOICES.values() for a in archs}),
        help="network design: midi-lstm seed|softmax (default softmax), chord-gan "
        "seed|voices (default voices); seed is the reference design (see the README)",
    )
    p.add_argument(
        "--keys",
        choices=("normalised", "transposed"),
        default="normalised",
        help="voice GAN: chorales transposed to C major or A minor, or kept in their keys and "
        "transposed at random by up to 5 semitones each way (default: %(default)s)",
    )
    p.add_argument(
        "--corpus",
        choices=CORPORA,
        default="chorales",
        help="voice GAN: music21's Bach chorales, or those and the corpus's other four-part "
        "vocal music (Palestrina's mass movements, note values halved) (default: %(default)s)",
    )
    p.add_argument(
        "--midi-dir",
        type=Path,
        help="folder of MIDI files, read recursively (default: music21's Bach chorales)",
    )
    p.add_argument(
        "--max-pieces",
        type=positive_int,
        help="use at most this many pieces (with --corpus four-part: of each; default: all)",
    )
    p.add_argument("-o", "--out", type=Path, help="run folder (default: runs/MODEL)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out with its own settings (default: a new run)",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=defaults.batch_size,
        help="windows or segments per batch (default: %(default)s)",
    )
    p.add_argument(
        "--seq-len",
        type=positive_int,
        default=defaults.seq_len,
        help="events per window, MIDI-event LSTM (default: %(default)s)",
    )
    p.add_argument(
        "--lr",
        type=positive_float,
        help=f"Adam learning rate (default: {DEFAULT_LR['midi-lstm']:g} for the LSTM, "
        f"{DEFAULT_LR['chord-gan']:g} for the GAN)",
    )
    p.add_argument(
        "--max-steps",
        type=positive_int,
        help=f"stop after this many steps in all (default: {DEFAULT_STEPS} when neither "
        "--max-steps nor --minutes is given)",
    )
    p.add_argument(
        "--minutes",
        type=positive_float,
        help="stop after this many minutes of this sitting (default: no time limit)",
    )
    p.add_argument(
        "--eval-every",
        type=positive_int,
        default=defaults.eval_every,
        help="steps between validations and checkpoints (default: %(default)s)",
    )
    p.add_argument(
        "--hidden-size",
        type=positive_int,
        help=f"LSTM units (default: {lstm.hidden_size} seed, {SOFTMAX_LSTM.hidden_size} softmax)",
    )
    p.add_argument(
        "--num-layers",
        type=positive_int,
        help=f"LSTM layers (default: {lstm.num_layers} seed, {SOFTMAX_LSTM.num_layers} softmax)",
    )
    p.add_argument(
        "--dropout",
        type=non_negative_float,
        help=f"LSTM dropout, below 1 (default: {lstm.dropout:g} seed, "
        f"{SOFTMAX_LSTM.dropout:g} softmax)",
    )
    p.add_argument(
        "--dense-size",
        type=positive_int,
        default=lstm.dense_size,
        help="units of the seed LSTM's dense layer (default: %(default)s)",
    )
    p.add_argument(
        "--steps",
        type=positive_int,
        default=gan.steps,
        help="GAN segment length in eighths, a multiple of 8 (default: %(default)s)",
    )
    p.add_argument(
        "--noise-dim",
        type=positive_int,
        default=gan.noise_dim,
        help="GAN noise size (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=non_negative_int,
        default=defaults.seed,
        help="seed for the split, the batches and the initial weights (default: %(default)s)",
    )
    p.add_argument(
        "--threads", type=positive_int, help="torch CPU threads (default: torch's choice)"
    )
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--precision", choices=PRECISION_CHOICES, default="fp32", help=PRECISION_HELP)
    return p


def run_options(ckpt: Checkpoint) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The run's settings by option ``dest`` as its checkpoint keeps them, and its whole
    training config (None in a checkpoint written before they were kept)."""
    options = {
        dest: getattr(ckpt.config, dest)
        for dest in NET_OPTIONS[ckpt.model_type]
        if hasattr(ckpt.config, dest)
    }
    trained = ckpt.info.get("train_config")
    if trained is not None:
        options.update(
            trained_options(
                trained,
                ("batch_size", "seq_len", "lr", "max_steps", "minutes", "eval_every", "seed"),
            )
        )
    source = ckpt.info.get("data")
    if source is not None:
        options.update(midi_dir=source["midi_dir"], max_pieces=source["max_pieces"])
        if "key_normalised" in source:
            options["keys"] = "normalised" if source["key_normalised"] else "transposed"
            options["corpus"] = source.get("corpus", "chorales")
    return options, trained


def resume_args(
    args: argparse.Namespace, given: set[str], out: Path
) -> tuple[argparse.Namespace, dict[str, Any] | None, Checkpoint]:
    """``args`` with the run's own settings where the command line gives none, the run's
    training config, and its checkpoint; ``ResumeError`` for a contradicting option."""
    latest = out / "latest.pt"
    if not latest.exists():
        raise ValueError(f"{latest}: nothing to resume")
    ckpt = load_checkpoint(latest)
    if ckpt.model_type != args.model:
        raise ResumeError(
            f"{out}: --model {args.model} contradicts the run's {ckpt.model_type} (from {latest})"
        )
    run, trained = run_options(ckpt)
    if trained is None:  # before the settings were kept: the command line, as then
        run = {k: v for k, v in run.items() if k in given or k in NET_OPTIONS[args.model]}
    values = {
        dest: (str(v.resolve()) if isinstance(v, Path) else v)
        for dest in given
        for v in [getattr(args, dest)]
    }
    settled = resumed_options(values, run, CHANGEABLE_ON_RESUME, BUDGET, str(out), latest)
    if "lr" in given and "lr" in run and run["lr"] != settled["lr"]:
        print(
            f"note: --lr {option_text(settled['lr'])} from here on "
            f"(the run had {option_text(run['lr'])})",
            file=sys.stderr,
        )
    resumed = argparse.Namespace(**vars(args))
    for dest, value in settled.items():
        if dest in given:  # as typed (the comparison was of absolute paths)
            value = getattr(args, dest)
        elif dest == "midi_dir" and value is not None:
            value = Path(value)
        setattr(resumed, dest, value)
    return resumed, trained, ckpt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    p = parser()
    args = p.parse_args(argv)
    given = given_options(p, argv, args)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.steps % 8:
        p.error("--steps must be a multiple of 8")
    if args.dropout is not None and args.dropout >= 1:
        p.error(f"--dropout must be below 1, got {args.dropout:g}")
    if args.arch is not None and args.arch not in ARCH_CHOICES[args.model]:
        p.error(
            f"--arch {args.arch} is not a design of {args.model} "
            f"(choose from {', '.join(ARCH_CHOICES[args.model])})"
        )
    out = args.out or Path("runs") / args.model
    return distributed.run(
        args.device,
        lambda processes, device: _train_main(args, given, out, processes, device),
        args.precision,
    )


def _train_main(
    args: argparse.Namespace,
    given: set[str],
    out: Path,
    processes: distributed.Processes,
    device: torch.device,
) -> int:
    lstm, gan = MidiLSTMConfig(), ChordGANConfig()
    try:
        trained: dict[str, Any] | None = None
        saved_net: MidiLSTMConfig | ChordGANConfig | None = None
        if args.resume:
            args, trained, ckpt = resume_args(args, given, out)
            saved_net = ckpt.config
        elif (out / "latest.pt").exists():  # before preparing data over the run's own
            raise ValueError(f"{out} already holds a run: pass --resume, or choose another -o")
        known = {f.name for f in dataclasses.fields(MidiTrainConfig)}
        config = MidiTrainConfig(**{k: v for k, v in (trained or {}).items() if k in known})
        config.batch_size, config.seq_len = args.batch_size, args.seq_len
        config.max_steps, config.minutes = args.max_steps, args.minutes
        config.eval_every, config.seed = args.eval_every, args.seed
        config.learning_rate = args.lr or DEFAULT_LR[args.model]
        config.precision = args.precision
        if config.max_steps is None and config.minutes is None:
            config.max_steps = DEFAULT_STEPS
        arch = args.arch or (saved_net.arch if saved_net else DEFAULT_ARCH[args.model])
        if args.arch is None and saved_net is None and arch == "voices" and args.midi_dir:
            arch = "seed"  # a MIDI file does not say which voice a note is in
            print(
                "note: --midi-dir trains the seed design of the chord GAN (the voices design "
                "reads four-part chorales from music21's corpus)",
                file=sys.stderr,
            )
        net: MidiLSTMConfig | ChordGANConfig
        if args.model == "midi-lstm":
            base = lstm if arch == "seed" else SOFTMAX_LSTM
            net = dataclasses.replace(
                base,
                arch=arch,
                hidden_size=args.hidden_size or base.hidden_size,
                num_layers=args.num_layers or base.num_layers,
                dropout=base.dropout if args.dropout is None else args.dropout,
                dense_size=args.dense_size,
            )
        else:
            net = dataclasses.replace(gan, arch=arch, steps=args.steps, noise_dim=args.noise_dim)
        if saved_net is not None:  # the run's network, whatever else the defaults now say
            net = dataclasses.replace(
                saved_net,
                **{
                    dest: getattr(args, dest)
                    for dest in NET_OPTIONS[args.model]
                    if getattr(args, dest, None) is not None
                },
            )
        voices = args.model == "chord-gan" and net.arch == "voices"
        for dest, applies, what in (
            ("keys", voices, "the voices design of the chord GAN"),
            ("corpus", voices, "the voices design of the chord GAN"),
            ("dense_size", net.arch == "seed", "the seed design of the LSTM"),
        ):
            if dest in given and not applies:
                flag = "--" + dest.replace("_", "-")
                print(f"note: {flag} is for {what} only; ignored", file=sys.stderr)
        config.key_normalised = voices and args.keys == "normalised"
        if voices:
            config.transpose = 0 if config.key_normalised else 5
        elif args.model == "midi-lstm":  # the seed as it was; the softmax design in all keys
            config.transpose = 6 if net.arch == "softmax" else 0
        distributed.rows(config.batch_size, processes)  # refused now if it does not split
        with distributed.main_first():  # it prepares the data; the others read it
            if processes.main:
                check_output_folder(out)
            data = prepare(
                args.model,
                out,
                args.midi_dir,
                args.max_pieces,
                args.resume,
                arch=net.arch,
                key_normalised=config.key_normalised,
                corpus=args.corpus,
            )
        source = data_source(
            args.model, args.midi_dir, args.max_pieces, net.arch, config.key_normalised, args.corpus
        )
        if voices and saved_net is None:  # a new run draws every metre its data has enough of
            assert isinstance(net, ChordGANConfig)
            net = dataclasses.replace(net, metres=drawable_metres(data, net.steps // BAR_STEPS))
        new_lr = config.learning_rate if args.resume and "lr" in given else None
        loop, reason = train_midi(out, data, net, config, args.resume, source, new_lr, device)
    except (ValueError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # inputs are read into ValueErrors: this is an output
        print(f"error: {output_error(err)}", file=sys.stderr)
        if (out / "latest.pt").exists():
            print(
                f"the run's last checkpoint {out / 'latest.pt'} is kept: "
                "--resume once the output can be written",
                file=sys.stderr,
            )
        return 1
    if not processes.main:
        return 130 if reason == "interrupted" else 0
    last = loop.state.last()
    figures = " ".join(f"{k}={v:.4f}" for k, v in last.items())
    print(
        f"stopped ({reason}) at step {loop.state.step}; "
        + (f"{figures}; " if figures else "")
        + f"checkpoints in {out}"
    )
    return 130 if reason == "interrupted" else 0


if __name__ == "__main__":
    sys.exit(main())
