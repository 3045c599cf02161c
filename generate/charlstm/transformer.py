"""A small causal transformer over characters (nanoGPT's design): token and position
embeddings, pre-norm blocks of causal self-attention and an MLP, a read-out tied to the
token embedding.  No file I/O here.  ``bench/char_transformer.py`` compares it with the
char-LSTM on the same data for the same CPU minutes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class CharTransformerConfig:
    vocab_size: int
    block_size: int = 256  # characters of context
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 192
    dropout: float = 0.1


class Block(nn.Module):
    def __init__(self, config: CharTransformerConfig) -> None:
        super().__init__()
        d = config.n_embd
        self.n_head = config.n_head
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.mlp = nn.Sequential(
            nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d), nn.Dropout(config.dropout)
        )
        self.dropout = config.dropout

    def forward(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.n_head, d // self.n_head).transpose(1, 2) for z in (q, k, v))
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class CharTransformer(nn.Module):
    def __init__(self, config: CharTransformerConfig) -> None:
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(f"n_embd {config.n_embd} is not a multiple of n_head {config.n_head}")
        self.config = config
        self.token = nn.Embedding(config.vocab_size, config.n_embd)
        self.position = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.head.weight = self.token.weight  # tied, as in nanoGPT
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """idx (B, T <= block_size) -> logits (B, T, V), mean cross-entropy in nats."""
        t = idx.size(1)
        if t > self.config.block_size:
            raise ValueError(f"{t} characters; the context holds {self.config.block_size}")
        pos = torch.arange(t, device=idx.device)
        x = self.drop(self.token(idx) + self.position(pos))
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100
            )
        return logits, loss

    @torch.no_grad()
    def char_bits(self, tokens: Tensor, stride: int | None = None) -> Tensor:
        """Bits for each of ``tokens[1:]`` (1-D), each given up to ``block_size`` characters
        before it: windows a ``stride`` apart (half the context by default), each scoring
        the characters the one before did not."""
        was = self.training
        self.eval()
        n, size = len(tokens) - 1, self.config.block_size
        stride = stride or size // 2
        bits = torch.empty(n)
        done = 0
        while done < n:
            end = min(n, size if done == 0 else done + stride)
            start = max(0, end - size)
            logits, _ = self(tokens[start:end].unsqueeze(0))
            nats = F.cross_entropy(logits[0], tokens[start + 1 : end + 1], reduction="none")
            bits[done:end] = nats[done - start :] / math.log(2.0)
            done = end
        self.train(was)
        return bits
