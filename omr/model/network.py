"""The stave recognizer: CNN + BiLSTM + CTC over stave-text symbols.  No file I/O here.

A PrIMuS-style network: convolution blocks turn a normalized stave crop (grey, fixed
height) into a sequence of column features, a bidirectional LSTM reads the sequence, and a
linear layer scores each symbol and the CTC blank at every step.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from omr.geometry import DEFAULT_CROP, CropShape


@dataclass
class RecognizerConfig:
    num_symbols: int  # including the blank at index 0
    height: int = DEFAULT_CROP.height  # input height in pixels (staves are scaled to it)
    # Staff spaces of the crop above the top line and below the bottom line.
    ledger_room: float = DEFAULT_CROP.ledger_room
    # Sized for a 2-core CPU: 1.2 M parameters read 16 staves in a fraction of a second.
    channels: list[int] = field(default_factory=lambda: [16, 32, 64, 96])
    # Pooling per block as (height, width): height shrinks 16x, width 2x, so an output step
    # is 0.3 staff space and dense passages (accidental, position, duration per note) fit.
    pools: list[tuple[int, int]] = field(default_factory=lambda: [(2, 2), (2, 1), (2, 1), (2, 1)])
    hidden_size: int = 128
    num_layers: int = 2
    dropout: float = 0.25

    @property
    def crop(self) -> CropShape:
        """How staves are cut out for this network."""
        return CropShape(self.height, self.ledger_room)

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
        self.rnn = nn.LSTM(
            c_in * feature_rows(config),
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


def for_inference(model: Recognizer) -> Recognizer:
    """A copy of ``model`` for reading only (eval mode), the same function with less work:
    each batch norm folded into the convolution before it, and each max-pool moved before
    the activation (LeakyReLU rises monotonically, so max and activation commute) where it
    then acts on a quarter or half of the values."""
    fast = copy.deepcopy(model).eval()
    layers: list[nn.Module] = []
    blocks = list(fast.cnn)
    for i in range(0, len(blocks), 4):
        conv, norm, act, pool = blocks[i : i + 4]
        assert isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d)
        layers += [fuse_conv_bn_eval(conv, norm), pool, act]
    fast.cnn = nn.Sequential(*layers)
    return fast


def feature_rows(config: RecognizerConfig) -> int:
    """Rows of the CNN's output (each a band of the crop's height) that the LSTM reads."""
    h = config.height
    for ph, _ in config.pools:
        h //= ph
    return h


def _row_centres(config: RecognizerConfig) -> Tensor:
    """Each feature row's middle in staff spaces from the stave's middle line (down > 0)."""
    band = config.height // feature_rows(config)
    half = 2 + config.ledger_room
    pixels = torch.arange(feature_rows(config), dtype=torch.float64) * band + band / 2
    return pixels / config.height * 2 * half - half


def transfer_state(
    state: dict[str, Tensor],
    source: RecognizerConfig,
    target: RecognizerConfig,
    head_rows: list[list[int]] | None = None,
) -> dict[str, Tensor]:
    """A trained recognizer's weights (``source``) made to fit a network cut for another crop
    shape (``target``: other height or ledger room, same layers) or with other outputs, to
    start training from.

    The convolutions are kept (the staff space is about as many pixels).  The first LSTM
    layer's input weights, one block per feature row, are resampled at each new row's place
    on the staff from the old rows there (linear between neighbours, the nearest beyond
    the ends), scaled so the rows together weigh as before.  ``head_rows`` (one list per
    output of ``target``: the outputs of ``source`` it stands for, see
    ``omr.model.vocab.related_symbols``) carries the read-out over to another vocabulary:
    each output starts from the mean of its relatives, one without any at zero weights and
    the lowest bias of the old outputs (rarely emitted until trained).
    """
    same: tuple[str, ...] = ("channels", "pools", "hidden_size", "num_layers")
    if head_rows is None:
        same = ("num_symbols", *same)
    elif len(head_rows) != target.num_symbols:
        raise ValueError(f"{len(head_rows)} output rows given for {target.num_symbols} outputs")
    differ = [k for k in same if getattr(source, k) != getattr(target, k)]
    if differ:
        raise ValueError(f"recognizers differ in {', '.join(differ)}: weights cannot carry over")
    old_rows, new_rows = feature_rows(source), feature_rows(target)
    # each new row's place as a fractional old row (np.interp holds the ends)
    where = torch.from_numpy(
        np.interp(_row_centres(target), _row_centres(source), np.arange(old_rows))
    )
    low = where.floor().long()
    high = (low + 1).clamp(max=old_rows - 1)
    frac = (where - low).float()
    out = dict(state)
    for name in ("rnn.weight_ih_l0", "rnn.weight_ih_l0_reverse"):
        w = state[name].view(state[name].shape[0], -1, old_rows)  # (4 hidden, C, rows)
        resampled = w[:, :, low] * (1 - frac) + w[:, :, high] * frac
        out[name] = (resampled * (old_rows / new_rows)).reshape(w.shape[0], -1).contiguous()
    if head_rows is not None:
        weight, bias = state["head.weight"], state["head.bias"]
        new_weight = torch.zeros(target.num_symbols, weight.shape[1], dtype=weight.dtype)
        new_bias = torch.full((target.num_symbols,), float(bias.min()), dtype=bias.dtype)
        for i, rows in enumerate(head_rows):
            if rows:
                new_weight[i] = weight[rows].mean(dim=0)
                new_bias[i] = bias[rows].mean()
        out["head.weight"], out["head.bias"] = new_weight, new_bias
    return out
