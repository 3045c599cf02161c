"""The character-level LSTM: embedding, stacked LSTM, linear read-out.  No file I/O here.

The embedding feeds only the first layer's input projection, so the two fold into one
table: character ``v``'s gate inputs are ``W_ih0 @ E[v] + b_ih0``.  Training runs the first
layer on one-hot characters with the folded weight ``W_ih0 @ E.T`` (4H x V), so PyTorch's
fused LSTM multiplies V columns per character, not the embedding's 512 (on the CPU, where the
vocabulary is the smaller: the same function, about 1.2x the speed of the plain
``nn.Embedding`` + ``nn.LSTM``); sampling looks the table up and runs the cells step by step
(``Stepper``), without ``nn.LSTM``'s per-call cost.  The parameters, and the checkpoints,
stay those of the reference network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# (h, c), each (num_layers, B, hidden_size)
LSTMState = tuple[Tensor, Tensor]


@dataclass
class CharLSTMConfig:
    """Defaults follow the reference design: embedding 512, 3 LSTM layers of 256, dropout 0.2."""

    vocab_size: int
    embed_dim: int = 512
    hidden_size: int = 256
    num_layers: int = 3
    dropout: float = 0.2


class CharLSTM(nn.Module):
    def __init__(self, config: CharLSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.embed_dim)
        # nn.LSTM applies dropout between layers; self.drop adds it after the last one,
        # as the reference design's Dropout after every LSTM layer does.
        self.lstm = nn.LSTM(
            config.embed_dim,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(
        self, idx: Tensor, state: LSTMState | None = None, targets: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None, LSTMState]:
        """idx (B, T) token ids -> logits (B, T, V), mean cross-entropy in nats, new state."""
        if self.folds(idx):
            x, new_state = self._folded_lstm(idx, state)
        else:
            x, new_state = self.lstm(self.embed(idx), state)  # (B, T, H)
        logits = self.head(self.drop(x))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss, new_state

    def folds(self, idx: Tensor) -> bool:
        """Whether ``forward`` runs the folded first layer: on the CPU, for a vocabulary
        smaller than the embedding (elsewhere the fused kernels of ``nn.LSTM`` as it is)."""
        return idx.device.type == "cpu" and self.config.vocab_size < self.config.embed_dim

    def _folded_lstm(self, idx: Tensor, state: LSTMState | None) -> tuple[Tensor, LSTMState]:
        """``self.lstm(self.embed(idx), state)``, computed with the folded first layer."""
        cfg, layers = self.config, self.lstm.all_weights  # [[w_ih, w_hh, b_ih, b_hh], ...]
        h, c = self.initial_state(idx.size(0)) if state is None else state
        w_ih, w_hh, b_ih, b_hh = layers[0]
        folded: Tensor = w_ih @ self.embed.weight.t()  # (4H, V): each character's gate inputs
        onehot = F.one_hot(idx, cfg.vocab_size).to(folded.dtype)  # (B, T, V)
        first: list[Tensor] = [folded, w_hh, b_ih, b_hh]
        x, h1, c1 = torch.lstm(
            onehot, (h[:1], c[:1]), first, True, 1, 0.0, self.training,
            False, True,
        )  # fmt: skip
        if cfg.num_layers == 1:
            return x, (h1, c1)
        rest: list[Tensor] = [w for layer in layers[1:] for w in layer]
        p = self.lstm.dropout
        x = F.dropout(x, p, self.training)  # nn.LSTM's dropout after every layer but the last
        x, h2, c2 = torch.lstm(
            x, (h[1:], c[1:]), rest, True, cfg.num_layers - 1, p, self.training, False, True
        )
        return x, (torch.cat([h1, h2]), torch.cat([c1, c2]))

    def initial_state(self, batch_size: int) -> LSTMState:
        shape = (self.config.num_layers, batch_size, self.config.hidden_size)
        weight = self.head.weight
        return (weight.new_zeros(shape), weight.new_zeros(shape))

    @torch.no_grad()
    def generate(
        self,
        idx: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        state: LSTMState | None = None,
        banned: Tensor | None = None,
        stop: Callable[[Tensor], Tensor] | None = None,
        generator: torch.Generator | None = None,
        allows: Callable[[Tensor], Tensor] | None = None,
    ) -> Tensor:
        """Sample B sequences in parallel, carrying the hidden state (the prefix runs once),
        in eval mode (no dropout) whatever the module's mode, which is left as it was.

        idx (B, T): the primer, already encoded.  ``banned`` holds token ids never sampled
        (the unknown symbol).  ``stop`` gets each step's new tokens (B,) and returns a (B,)
        bool of sequences that have finished; sampling ends when all have.  A temperature
        at or near 0 takes the argmax.  ``allows`` gets each step's drawn tokens (B,) and
        returns a (B,) bool of those that may stand (a grammar): a token refused is taken out
        of its row's distribution and the row drawn again, which is drawing from the
        distribution renormalised over the tokens allowed (beyond the top k where all of
        those are refused); a row left with none keeps its first draw.  Returns the new
        tokens (B, n), n <= max_new_tokens.
        """
        training = self.training
        self.eval()
        try:
            logits, _, state = self(idx, state)
        finally:
            self.train(training)
        last = logits[:, -1, :]  # (B, V)
        step = Stepper(self, state)
        done = torch.zeros(idx.size(0), dtype=torch.bool, device=idx.device)
        out: list[Tensor] = []
        for _ in range(max_new_tokens):
            if banned is not None:
                last[:, banned] = float("-inf")
            if temperature < 1e-3:
                scaled = whole = last
            else:
                scaled = whole = last / temperature
                if top_k is not None and top_k < scaled.size(-1):
                    kth = torch.topk(scaled, top_k, dim=-1).values[:, -1:]  # (B, 1)
                    scaled = scaled.masked_fill(scaled < kth, float("-inf"))
            nxt = _pick(scaled, temperature, generator)  # (B,)
            if allows is not None:
                nxt = _allowed(scaled, nxt, temperature, generator, allows, whole)
            out.append(nxt)
            if stop is not None:
                done |= stop(nxt)
                if bool(done.all()):
                    break
            last = step(nxt)
        if not out:
            return idx.new_zeros((idx.size(0), 0))
        return torch.stack(out, dim=1)  # (B, n)


def _pick(scaled: Tensor, temperature: float, generator: torch.Generator | None) -> Tensor:
    """One token per row of ``scaled`` (B, V): the argmax at temperature near 0, else drawn."""
    if temperature < 1e-3:
        return scaled.argmax(dim=-1)
    probs = F.softmax(scaled, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def _allowed(
    scaled: Tensor,
    nxt: Tensor,
    temperature: float,
    generator: torch.Generator | None,
    allows: Callable[[Tensor], Tensor],
    whole: Tensor | None = None,
) -> Tensor:
    """Draw again, without the refused token, each row whose token ``allows`` refuses, until
    every row's is allowed.  ``scaled`` (B, V) is what ``nxt`` was drawn from; ``whole``
    (B, V), where given, the distribution before top-k: a row whose top k are all refused
    draws from the rest of it.  A row with no token allowed keeps its first draw, the
    network's own choice (the caller's grammar then lets that row go)."""
    first = nxt
    scaled = scaled.clone()
    refused_tokens = torch.zeros_like(scaled, dtype=torch.bool)  # (B, V)
    rows = torch.arange(nxt.size(0), device=nxt.device)
    for _ in range(scaled.size(-1)):
        refused = ~allows(nxt).to(nxt.device)  # (B,)
        if not bool(refused.any()):
            return nxt
        refused_tokens[rows[refused], nxt[refused]] = True
        scaled = scaled.masked_fill(refused_tokens, float("-inf"))
        left = torch.isfinite(scaled).any(dim=-1)  # (B,)
        if whole is not None and bool((refused & ~left).any()):  # top k spent: the rest
            spent = (refused & ~left)[:, None]
            scaled = torch.where(spent, whole.masked_fill(refused_tokens, float("-inf")), scaled)
            left = torch.isfinite(scaled).any(dim=-1)
        again = refused & left
        if not bool(again.any()):
            break
        # every row is drawn again (one call) and only the refused ones take the new token
        nxt = torch.where(
            again, _pick(scaled.masked_fill(~left[:, None], 0.0), temperature, generator), nxt
        )
    return torch.where(left, nxt, first)


class Stepper:
    """One character at a time through a ``CharLSTM`` in eval mode: the first layer's gate
    inputs looked up in the folded table, each later layer one matrix product of its input
    and state together; the same function as ``CharLSTM.forward`` on one step (within float
    rounding), several times faster for one sample (bench/generate_speed.py)."""

    def __init__(self, model: CharLSTM, state: LSTMState) -> None:
        layers = model.lstm.all_weights
        w_ih, w_hh, b_ih, b_hh = layers[0]
        with torch.no_grad():
            self.table = torch.addmm(b_ih + b_hh, model.embed.weight, w_ih.t())  # (V, 4H)
            # x @ W_ih.T + h @ W_hh.T == [x, h] @ [W_ih, W_hh].T
            self.weights = [w_hh.t().contiguous()] + [
                torch.cat([w_i, w_h], dim=1).t().contiguous() for w_i, w_h, _, _ in layers[1:]
            ]
            self.biases = [b_i + b_h for _, _, b_i, b_h in layers[1:]]
            self.head_w, self.head_b = model.head.weight.t().contiguous(), model.head.bias
        self.h = list(state[0].unbind(0))  # per layer (B, H)
        self.c = list(state[1].unbind(0))

    @torch.no_grad()
    def __call__(self, tokens: Tensor) -> Tensor:
        """tokens (B,) -> the next logits (B, V); the state moves on."""
        x = self.table[tokens]  # (B, 4H): the first layer's gate inputs
        for k in range(len(self.h)):
            if k == 0:
                gates = torch.addmm(x, self.h[0], self.weights[0])
            else:
                gates = torch.addmm(
                    self.biases[k - 1], torch.cat([x, self.h[k]], 1), self.weights[k]
                )
            i, f, g, o = gates.chunk(4, dim=1)
            self.c[k] = torch.sigmoid(f) * self.c[k] + torch.sigmoid(i) * torch.tanh(g)
            x = self.h[k] = torch.sigmoid(o) * torch.tanh(self.c[k])
        return torch.addmm(self.head_b, x, self.head_w)
