"""The training loop for recurrent language models: stateful truncated BPTT.

The trainer knows the model only through ``model(x, state, y) -> (logits, loss, state)`` and
``model.initial_state(B)``; it does no file I/O.  Checkpointing, plotting and logging are the
caller's, through ``on_eval`` (called after each validation, and before the trainer returns).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from generate.data import TBPTTBatches
from generate.model import LSTMState

LN2 = math.log(2.0)


class RecurrentLM(Protocol):
    """What the trainer needs of a model (``CharLSTM`` is one)."""

    training: bool

    def __call__(
        self, idx: Tensor, state: LSTMState | None = None, targets: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None, LSTMState]: ...

    def initial_state(self, batch_size: int) -> LSTMState: ...

    def parameters(self) -> Iterator[nn.Parameter]: ...

    def train(self, mode: bool = True) -> Any: ...

    def eval(self) -> Any: ...


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


@dataclass
class TrainState:
    """Where training stands; saved in checkpoints so that a resume continues exactly."""

    step: int = 0
    epoch: int = 0
    batch: int = 0  # next batch within the epoch
    seconds: float = 0.0  # training time over all runs
    best_val_bpc: float = math.inf
    train_curve: list[tuple[int, float]] = field(default_factory=list)  # (step, bits/char)
    pending_bits: float = 0.0  # bits of steps since the last curve point
    pending_steps: int = 0
    val_curve: list[tuple[int, float]] = field(default_factory=list)


@torch.no_grad()
def char_bits(
    model: RecurrentLM, tokens: np.ndarray, rows: int = 16, chunk: int = 256
) -> np.ndarray:
    """Bits for each of ``tokens[1:]`` given everything before it, hidden state carried.

    The stream is cut into ``rows`` contiguous rows scored in parallel, each starting from a
    zero state (a long file scores quickly; inputs under 1,024 characters use one row).
    """
    n = len(tokens) - 1
    if n < 1:
        raise ValueError("need at least 2 characters to score")
    was_training = model.training
    model.eval()
    rows = max(1, min(rows, n // 1024))
    row_len = -(-n // rows)  # ceil
    x = np.zeros(rows * row_len, dtype=np.int64)
    y = np.full(rows * row_len, -100, dtype=np.int64)  # -100: padding, ignored
    x[:n] = tokens[:-1]
    y[:n] = tokens[1:]
    xs = torch.from_numpy(x).view(rows, row_len)
    ys = torch.from_numpy(y).view(rows, row_len)
    bits = torch.empty(rows, row_len)
    state = model.initial_state(rows)
    for start in range(0, row_len, chunk):
        cols = slice(start, start + chunk)
        logits, _, state = model(xs[:, cols], state)  # (R, W, V)
        nats = nn.functional.cross_entropy(
            logits.transpose(1, 2), ys[:, cols], reduction="none"
        )  # (R, W)
        bits[:, cols] = nats / LN2
    model.train(was_training)
    return bits.reshape(-1)[:n].numpy()


def bits_per_char(model: RecurrentLM, tokens: np.ndarray, skip: int = 0) -> float:
    """Mean bits per character of ``tokens[1 + skip:]`` (``skip``: context not scored)."""
    bits = char_bits(model, tokens)[skip:]
    if len(bits) == 0:
        raise ValueError("nothing to score")
    return float(bits.mean(dtype=np.float64))


class Trainer:
    def __init__(
        self,
        model: RecurrentLM,
        batches: TBPTTBatches,
        val_tokens: np.ndarray,
        config: TrainConfig,
        state: TrainState | None = None,
        on_eval: Callable[[Trainer, float, bool], None] | None = None,
    ) -> None:
        self.model = model
        self.batches = batches
        self.val_tokens = val_tokens
        self.config = config
        self.state = state or TrainState()
        self.on_eval = on_eval
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
        self.hidden: LSTMState = model.initial_state(config.batch_size)
        self.stop_requested = False  # set from a signal handler; checked between steps

    # -- state that a checkpoint carries ---------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.__dict__.copy(),
            "state": self.state.__dict__.copy(),
            "optimizer": self.optimizer.state_dict(),
            "hidden": tuple(h.clone() for h in self.hidden),
            "torch_rng": torch.get_rng_state(),
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.state = TrainState(**saved["state"])
        self.optimizer.load_state_dict(saved["optimizer"])
        for group in self.optimizer.param_groups:  # a resume may change the learning rate
            group["lr"] = self.config.learning_rate
        hidden = saved["hidden"]
        if hidden[0].shape[1] != self.config.batch_size:
            raise ValueError(
                f"checkpoint was trained with batch {hidden[0].shape[1]}, "
                f"resume asks for {self.config.batch_size}"
            )
        self.hidden = (hidden[0], hidden[1])
        torch.set_rng_state(saved["torch_rng"])

    # -- the loop --------------------------------------------------------------------------
    def _step_budget(self) -> int | None:
        limits = []
        if self.config.max_steps is not None:
            limits.append(self.config.max_steps)
        if self.config.epochs is not None:
            limits.append(math.ceil(self.config.epochs * len(self.batches)))
        return min(limits) if limits else None

    def validate(self) -> float:
        val_bpc = bits_per_char(self.model, self.val_tokens)
        is_best = val_bpc < self.state.best_val_bpc
        if is_best:
            self.state.best_val_bpc = val_bpc
        self.state.val_curve.append((self.state.step, val_bpc))
        if self.on_eval is not None:
            self.on_eval(self, val_bpc, is_best)
        return val_bpc

    def run(self) -> str:
        """Train until the budget is spent or a stop is requested; returns why it stopped."""
        cfg, st = self.config, self.state
        budget = self._step_budget()
        deadline = None if cfg.minutes is None else time.monotonic() + 60 * cfg.minutes
        chars_per_step = cfg.batch_size * cfg.seq_len
        self.model.train()
        bar = tqdm(
            total=budget,
            initial=st.step,
            unit="step",
            dynamic_ncols=True,
            mininterval=1,
            disable=not cfg.progress,
        )
        reason = "budget"
        last_val_step = st.step
        try:
            while budget is None or st.step < budget:
                for x, y in self.batches.epoch(st.epoch, st.batch):
                    if self.stop_requested:
                        reason = "interrupted"
                        break
                    if deadline is not None and time.monotonic() >= deadline:
                        reason = "time"
                        break
                    if budget is not None and st.step >= budget:
                        break
                    t0 = time.perf_counter()
                    self.hidden = (self.hidden[0].detach(), self.hidden[1].detach())
                    _, loss, self.hidden = self.model(x, self.hidden, y)
                    assert loss is not None
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                    self.optimizer.step()
                    dt = time.perf_counter() - t0
                    st.seconds += dt
                    st.step += 1
                    st.batch += 1
                    bits = loss.item() / LN2
                    st.pending_bits += bits
                    st.pending_steps += 1
                    bar.update(1)
                    bar.set_postfix(bpc=f"{bits:.3f}", chars_s=f"{chars_per_step / dt:,.0f}")
                    if st.step % cfg.log_every == 0:
                        st.train_curve.append((st.step, st.pending_bits / st.pending_steps))
                        st.pending_bits, st.pending_steps = 0.0, 0
                    if st.step % cfg.eval_every == 0:
                        self.validate()
                        last_val_step = st.step
                else:  # the epoch ran out: next epoch starts from a zero state
                    st.epoch += 1
                    st.batch = 0
                    self.hidden = self.model.initial_state(cfg.batch_size)
                    continue
                break
        finally:
            bar.close()
        if st.step != last_val_step:
            self.validate()
        return reason
