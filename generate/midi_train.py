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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from generate import atomic, plots
from generate.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from generate.chord_gan import ChordGAN, ChordGANConfig
from generate.data import Vocab
from generate.interrupt import StopOnSignal
from generate.midi import KEYS, NoteEvent, music21_pieces, piano_roll, read_midi_folder
from generate.midi_lstm import (
    DELTA_SCALE,
    VELOCITY_SCALE,
    MidiLSTM,
    MidiLSTMConfig,
    midi_pitch,
    normalize_pitch,
)

ROLL_STEPS_PER_BEAT = 2  # the GAN's rolls: eighth notes


@dataclass
class LoopConfig:
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


# --- data -----------------------------------------------------------------------------------


def event_array(notes: Sequence[NoteEvent]) -> np.ndarray:
    """(N, 3) float32: pitch, velocity, time since the previous note, normalized."""
    starts = np.array([n.start for n in notes])
    delta = np.diff(starts, prepend=starts[0] if len(starts) else 0.0)
    return np.stack(
        [
            normalize_pitch(np.array([n.pitch for n in notes])),
            np.array([n.velocity for n in notes]) / VELOCITY_SCALE,
            np.clip(delta, 0, DELTA_SCALE) / DELTA_SCALE,
        ],
        axis=1,
    ).astype(np.float32)


def events_to_notes(events: np.ndarray, start: float = 0.0) -> list[NoteEvent]:
    """Normalized events -> notes; each note lasts until the next onset (a sixteenth at least,
    a beat after the last one)."""
    pitch = midi_pitch(events[:, 0]).astype(int)
    vel = np.clip(np.round(events[:, 1] * VELOCITY_SCALE), 1, 127).astype(int)
    onsets = start + np.cumsum(events[:, 2] * DELTA_SCALE)
    following = np.array([o for o in sorted(set(onsets.tolist()))] + [np.inf])
    notes = []
    for p, v, t in zip(pitch, vel, onsets, strict=True):
        nxt = following[np.searchsorted(following, t, side="right")]
        dur = 1.0 if not np.isfinite(nxt) else max(0.25, float(nxt - t))
        notes.append(NoteEvent(int(p), int(v), float(t), dur))
    return notes


def chordified_rolls(limit: int | None = None) -> list[np.ndarray]:
    """The default GAN data: music21's Bach chorales, chordified, as rolls (T, 88)."""
    from music21 import chord, corpus

    rolls = []
    for path in sorted(str(p) for p in corpus.getComposer("bach"))[:limit]:
        try:
            chords = corpus.parse(path).chordify().flatten().getElementsByClass(chord.Chord)
            notes = [
                NoteEvent(p.midi, 80, float(c.offset), float(c.quarterLength))
                for c in chords
                for p in c.pitches
            ]
        except Exception as err:  # a corpus file music21 cannot read: leave it out
            print(f"skipped: {path}: {type(err).__name__}: {err}", file=sys.stderr)
            continue
        if notes:
            rolls.append(piano_roll(notes, ROLL_STEPS_PER_BEAT))
    return rolls


def prepare(
    model: str, out: Path, midi_dir: Path | None, max_pieces: int | None
) -> list[np.ndarray]:
    """The run's data (cached in ``out/data.npz``): event arrays or rolls, one per piece."""
    cache = out / "data.npz"
    if cache.exists():
        with np.load(cache) as z:
            return [z[k] for k in sorted(z.files)]
    if midi_dir is not None:
        pieces = read_midi_folder(midi_dir)[:max_pieces]
        arrays = [
            event_array(p) if model == "midi-lstm" else piano_roll(p, ROLL_STEPS_PER_BEAT)
            for p in pieces
        ]
    elif model == "midi-lstm":
        arrays = [event_array(p) for p in music21_pieces(max_pieces)]
    else:
        arrays = chordified_rolls(max_pieces)
    arrays = [a for a in arrays if len(a) > 1]
    if not arrays:
        raise ValueError("no usable pieces in the data")
    out.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(cache) as tmp, tmp.open("wb") as f:
        named: dict[str, Any] = {f"p{i:05d}": a for i, a in enumerate(arrays)}
        np.savez_compressed(f, **named)
    return arrays


def split(pieces: list[np.ndarray], fraction: float, seed: int) -> tuple[list, list]:
    order = np.random.default_rng(seed).permutation(len(pieces))
    n_val = round(fraction * len(pieces)) if len(pieces) > 1 else 0
    val = [pieces[i] for i in order[:n_val]]
    return [pieces[i] for i in order[n_val:]], val


def event_windows(
    pieces: list[np.ndarray], size: int, length: int, rng: np.random.Generator
) -> torch.Tensor:
    """(size, length + 1, 3) random windows of consecutive events (short pieces padded by
    repeating their end)."""
    out = np.empty((size, length + 1, 3), np.float32)
    weights = np.array([len(p) for p in pieces], float)
    for i, j in enumerate(rng.choice(len(pieces), size, p=weights / weights.sum())):
        p = pieces[j]
        if len(p) <= length + 1:
            p = np.concatenate([p, np.repeat(p[-1:], length + 2 - len(p), axis=0)])
        a = int(rng.integers(0, len(p) - length))
        out[i] = p[a : a + length + 1]
    return torch.from_numpy(out)


def roll_segments(
    rolls: list[np.ndarray], size: int, steps: int, transpose: int, rng: np.random.Generator
) -> torch.Tensor:
    """(size, steps, 88) segments at random times (a time shift), transposed by up to
    ``transpose`` semitones where the notes stay on the keyboard."""
    out = np.zeros((size, steps, KEYS), np.float32)
    usable = [r for r in rolls if len(r) >= steps]
    for i in range(size):
        r = usable[int(rng.integers(len(usable)))]
        a = int(rng.integers(0, len(r) - steps + 1))
        seg = r[a : a + steps]
        shift = int(rng.integers(-transpose, transpose + 1))
        keys = np.flatnonzero(seg.any(axis=0))
        if keys.size and keys.min() + shift >= 0 and keys.max() + shift < KEYS:
            seg = np.roll(seg, shift, axis=1)
        out[i] = seg
    return torch.from_numpy(out)


# --- training -------------------------------------------------------------------------------


class Run:
    """Checkpointing, curves and stopping shared by the two loops."""

    def __init__(self, out: Path, model_type: str, model: torch.nn.Module, config: Any) -> None:
        self.out, self.model_type, self.model, self.config = out, model_type, model, config
        self.state: dict[str, Any] = {"step": 0, "best": float("inf"), "curves": {}, "seconds": 0.0}

    def record(self, name: str, value: float) -> None:
        self.state["curves"].setdefault(name, []).append((self.state["step"], value))

    def save(
        self, optimizers: dict[str, Any], rng: np.random.Generator, info: dict, metric: float | None
    ) -> None:
        trainer_state = {
            "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
            "state": self.state,
            "rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        }
        ckpt = Checkpoint(
            self.model_type,
            self.config,
            Vocab(()),
            "midi",
            {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            trainer_state,
            info,
        )
        save_checkpoint(self.out / "latest.pt", ckpt)
        if metric is None or metric <= self.state["best"]:
            self.state["best"] = metric if metric is not None else self.state["best"]
            save_checkpoint(self.out / "best.pt", ckpt)
        plots.curves(self.out / "loss.png", self.state["curves"], "loss", self.model_type)

    def resume(self, optimizers: dict[str, Any]) -> np.random.Generator:
        saved = load_checkpoint(self.out / "latest.pt")
        if saved.model_type != self.model_type:
            raise ValueError(f"{self.out} holds a {saved.model_type} run, not {self.model_type}")
        self.model.load_state_dict(saved.model_state)
        assert saved.trainer_state is not None
        for k, o in optimizers.items():
            o.load_state_dict(saved.trainer_state["optimizers"][k])
        self.state = saved.trainer_state["state"]
        torch.set_rng_state(saved.trainer_state["torch_rng"])
        rng = np.random.default_rng()
        rng.bit_generator.state = saved.trainer_state["rng"]
        return rng


def _loop(
    run: Run,
    loop: LoopConfig,
    step_fn: Callable[[], dict[str, float]],
    eval_fn: Callable[[], float | None],
    optimizers: dict[str, Any],
    rng: np.random.Generator,
    info: dict,
) -> str:
    reason = "budget"
    bar = tqdm(total=loop.max_steps, initial=run.state["step"], unit="step")
    with StopOnSignal(minutes=loop.minutes) as stop:
        while loop.max_steps is None or run.state["step"] < loop.max_steps:
            if why := stop.why():
                reason = why
                break
            t0 = time.perf_counter()
            losses = step_fn()
            run.state["step"] += 1
            run.state["seconds"] += time.perf_counter() - t0
            bar.update()
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()})
            if run.state["step"] % max(1, loop.eval_every // 20) == 0:
                for k, v in losses.items():
                    run.record(k, v)
            if run.state["step"] % loop.eval_every == 0:
                metric = eval_fn()
                if metric is not None:
                    run.record("validation", metric)
                run.save(optimizers, rng, info, metric)
    bar.close()
    metric = eval_fn()
    run.save(optimizers, rng, info, metric)
    return reason


def train_midi_lstm(
    out: Path, pieces: list[np.ndarray], net: MidiLSTMConfig, loop: LoopConfig, resume: bool = False
) -> tuple[Run, str]:
    torch.manual_seed(loop.seed)
    rng = np.random.default_rng(loop.seed)
    train_set, val_set = split(pieces, loop.val_fraction, loop.seed)
    model = MidiLSTM(net)
    opt = torch.optim.Adam(model.parameters(), lr=loop.learning_rate)
    run = Run(out, "midi-lstm", model, net)
    if resume:
        rng = run.resume({"adam": opt})
    elif (out / "latest.pt").exists():
        raise ValueError(f"{out} already holds a run: pass --resume, or choose another -o")
    val_batch = event_windows(val_set or train_set, 64, loop.seq_len, np.random.default_rng(1))

    def step() -> dict[str, float]:
        model.train()
        w = event_windows(train_set, loop.batch_size, loop.seq_len, rng)
        pred, _ = model(w[:, :-1])
        loss, parts = model.loss(pred, w[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return {"loss": loss.item(), **parts}

    def evaluate() -> float:
        model.eval()
        with torch.no_grad():
            pred, _ = model(val_batch[:, :-1])
            return model.loss(pred, val_batch[:, 1:])[0].item()

    info = {
        "pieces": len(pieces),
        "primers": [p[:16].tolist() for p in val_set[:8] or train_set[:8]],
    }
    return run, _loop(run, loop, step, evaluate, {"adam": opt}, rng, info)


def train_chord_gan(
    out: Path, rolls: list[np.ndarray], net: ChordGANConfig, loop: LoopConfig, resume: bool = False
) -> tuple[Run, str]:
    torch.manual_seed(loop.seed)
    rng = np.random.default_rng(loop.seed)
    if not any(len(r) >= net.steps for r in rolls):
        raise ValueError(f"no piece is {net.steps} steps long")
    gan = ChordGAN(net)
    opt_g = torch.optim.Adam(gan.generator.parameters(), lr=loop.learning_rate, betas=(0.5, 0.9))
    opt_c = torch.optim.Adam(gan.critic.parameters(), lr=loop.learning_rate, betas=(0.5, 0.9))
    optimizers = {"generator": opt_g, "critic": opt_c}
    run = Run(out, "chord-gan", gan, net)
    if resume:
        rng = run.resume(optimizers)
    elif (out / "latest.pt").exists():
        raise ValueError(f"{out} already holds a run: pass --resume, or choose another -o")

    def step() -> dict[str, float]:
        gan.train()
        for _ in range(loop.critic_steps):
            real = roll_segments(rolls, loop.batch_size, net.steps, loop.transpose, rng)
            fake = gan.generator(torch.randn(loop.batch_size, net.noise_dim)).detach()
            c_loss, distance = gan.critic_loss(real, fake)
            opt_c.zero_grad(set_to_none=True)
            c_loss.backward()
            opt_c.step()
        g_loss = gan.generator_loss(gan.generator(torch.randn(loop.batch_size, net.noise_dim)))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        return {"critic": c_loss.item(), "generator": g_loss.item(), "wasserstein": distance}

    info = {"pieces": len(rolls), "steps_per_beat": ROLL_STEPS_PER_BEAT}
    return run, _loop(run, loop, step, lambda: None, optimizers, rng, info)


def main(argv: list[str] | None = None) -> int:
    loop_defaults = LoopConfig()
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
    p.add_argument("--batch-size", type=int, default=loop_defaults.batch_size)
    p.add_argument("--seq-len", type=int, default=loop_defaults.seq_len, help="events per window")
    p.add_argument("--lr", type=float, help="Adam learning rate (2e-3 LSTM, 2e-4 GAN)")
    p.add_argument("--max-steps", type=int, help="stop after this many steps in all")
    p.add_argument("--minutes", type=float, help="stop after this many minutes in this run")
    p.add_argument("--eval-every", type=int, default=loop_defaults.eval_every)
    p.add_argument("--hidden-size", type=int, default=lstm.hidden_size, help="LSTM units")
    p.add_argument("--dense-size", type=int, default=lstm.dense_size, help="LSTM's dense layer")
    p.add_argument("--steps", type=int, default=gan.steps, help="GAN segment length (eighths)")
    p.add_argument("--noise-dim", type=int, default=gan.noise_dim, help="GAN noise size")
    p.add_argument("--seed", type=int, default=loop_defaults.seed)
    p.add_argument("--threads", type=int, help="torch CPU threads")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or Path("runs") / args.model
    lr = args.lr or (2e-3 if args.model == "midi-lstm" else 2e-4)
    loop = LoopConfig(
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        learning_rate=lr,
        max_steps=args.max_steps,
        minutes=args.minutes,
        eval_every=args.eval_every,
        seed=args.seed,
    )
    if loop.max_steps is None and loop.minutes is None:
        loop.max_steps = 3000
    if args.steps % 8:
        p.error("--steps must be a multiple of 8")
    try:
        data = prepare(args.model, out, args.midi_dir, args.max_pieces)
        if args.model == "midi-lstm":
            net = dataclasses.replace(
                lstm, hidden_size=args.hidden_size, dense_size=args.dense_size
            )
            run, reason = train_midi_lstm(out, data, net, loop, args.resume)
        else:
            gnet = dataclasses.replace(gan, steps=args.steps, noise_dim=args.noise_dim)
            run, reason = train_chord_gan(out, data, gnet, loop, args.resume)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    last = {k: v[-1][1] for k, v in run.state["curves"].items() if v}
    print(
        f"stopped ({reason}) at step {run.state['step']}; "
        + " ".join(f"{k}={v:.4f}" for k, v in last.items())
        + f"; checkpoints in {out}"
    )
    return 130 if reason == "interrupted" else 0


if __name__ == "__main__":
    sys.exit(main())
