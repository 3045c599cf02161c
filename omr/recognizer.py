"""The stave recognizer: CNN + BiLSTM + CTC over stave-text symbols.  No file I/O here.

A PrIMuS-style network: convolution blocks turn a normalized stave crop (grey, fixed
height) into a sequence of column features, a bidirectional LSTM reads the sequence, and a
linear layer scores each symbol and the CTC blank at every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class RecognizerConfig:
    num_symbols: int  # including the blank at index 0
    height: int = 64  # input height in pixels (staves are scaled to it)
    # Sized for a 2-core CPU: 1.0 M parameters read 16 staves in a fraction of a second.
    channels: list[int] = field(default_factory=lambda: [16, 32, 64, 96])
    # Pooling per block as (height, width): height shrinks 16x, width 2x, so an output step
    # is 0.3 staff space and dense passages (accidental, position, duration per note) fit.
    pools: list[tuple[int, int]] = field(default_factory=lambda: [(2, 2), (2, 1), (2, 1), (2, 1)])
    hidden_size: int = 128
    num_layers: int = 2
    dropout: float = 0.25

    @property
    def width_factor(self) -> int:
        factor = 1
        for _, pw in self.pools:
            factor *= pw
        return factor


class Recognizer(nn.Module):
    def __init__(self, config: RecognizerConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        c_in = 1
        for c_out, pool in zip(config.channels, config.pools, strict=True):
            layers += [
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.LeakyReLU(0.2, inplace=True),
                nn.MaxPool2d(pool),
            ]
            c_in = c_out
        self.cnn = nn.Sequential(*layers)
        h = config.height
        for ph, _ in config.pools:
            h //= ph
        self.rnn = nn.LSTM(
            c_in * h,
            config.hidden_size,
            num_layers=config.num_layers,
            bidirectional=True,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(2 * config.hidden_size, config.num_symbols)

    def forward(self, images: Tensor) -> Tensor:
        """images (B, 1, H, W) in [0, 1], ink bright -> log-probabilities (B, T, S), T = W/2."""
        x = self.cnn(images)  # (B, C, H', T)
        b, c, h, t = x.shape
        x = x.permute(0, 3, 1, 2).reshape(b, t, c * h)  # (B, T, C*H')
        x, _ = self.rnn(self.drop(x))  # (B, T, 2*hidden)
        return F.log_softmax(self.head(self.drop(x)), dim=-1)  # (B, T, S)

    def output_lengths(self, widths: Tensor) -> Tensor:
        return widths // self.config.width_factor

    def loss(
        self, log_probs: Tensor, widths: Tensor, targets: Tensor, target_lengths: Tensor
    ) -> Tensor:
        """Mean CTC loss per target symbol."""
        lengths = self.output_lengths(widths)
        return F.ctc_loss(
            log_probs.transpose(0, 1),  # (T, B, S)
            targets,
            lengths,
            target_lengths,
            blank=0,
            reduction="mean",
            zero_infinity=True,
        )
