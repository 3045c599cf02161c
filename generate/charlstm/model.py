"""The character-level LSTM: embedding, stacked LSTM, linear read-out.  No file I/O here."""

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
        x = self.embed(idx)  # (B, T, E)
        x, new_state = self.lstm(x, state)  # (B, T, H)
        logits = self.head(self.drop(x))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss, new_state

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
    ) -> Tensor:
        """Sample B sequences in parallel, carrying the hidden state (the prefix runs once).

        idx (B, T): the primer, already encoded.  ``banned`` holds token ids never sampled
        (the unknown symbol).  ``stop`` gets each step's new tokens (B,) and returns a (B,)
        bool of sequences that have finished; sampling ends when all have.  A temperature
        at or near 0 takes the argmax.  Returns the new tokens (B, n), n <= max_new_tokens.
        """
        logits, _, state = self(idx, state)
        last = logits[:, -1, :]  # (B, V)
        done = torch.zeros(idx.size(0), dtype=torch.bool, device=idx.device)
        out: list[Tensor] = []
        for _ in range(max_new_tokens):
            if banned is not None:
                last[:, banned] = float("-inf")
            if temperature < 1e-3:
                nxt = last.argmax(dim=-1)  # (B,)
            else:
                scaled = last / temperature
                if top_k is not None and top_k < scaled.size(-1):
                    kth = torch.topk(scaled, top_k, dim=-1).values[:, -1:]  # (B, 1)
                    scaled = scaled.masked_fill(scaled < kth, float("-inf"))
                probs = F.softmax(scaled, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (B,)
            out.append(nxt)
            if stop is not None:
                done |= stop(nxt)
                if bool(done.all()):
                    break
            logits, _, state = self(nxt[:, None], state)
            last = logits[:, -1, :]
        if not out:
            return idx.new_zeros((idx.size(0), 0))
        return torch.stack(out, dim=1)  # (B, n)
