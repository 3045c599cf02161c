"""The MIDI-event LSTM.  No file I/O here.

Each note is an event (pitch, velocity, time since the previous note); the network reads the
events so far and predicts the next one as three numbers, as in the reference design: an LSTM
of 48 units, a dense layer of 24, a dense layer of 3.

The pitch loss is shaped by musical interval rather than by distance: a smooth curve with a
period of twelve semitones, zero at the unison, low at the octave and at the fourth and fifth
(+-5, +-7), middling at thirds and sixths, high at seconds, the tritone and sevenths, plus a
small term growing with the distance so that the right octave is still preferred.  Velocity
and time delta add their mean squared errors, weighted at 20% of the pitch term.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from generate.midi.events import DELTA_SCALE, PITCH_CENTRE, PITCH_SCALE, VELOCITY_SCALE
from generate.midi.loss import interval_penalty


@dataclass
class MidiLSTMConfig:
    hidden_size: int = 48
    dense_size: int = 24
    num_layers: int = 1
    dropout: float = 0.0
    aux_weight: float = 0.2  # velocity and time-delta MSE, relative to the pitch term


class MidiLSTM(nn.Module):
    def __init__(self, config: MidiLSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(
            3,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.dense = nn.Sequential(
            nn.Linear(config.hidden_size, config.dense_size),
            nn.ReLU(),
            nn.Linear(config.dense_size, 3),
        )

    def forward(
        self, events: Tensor, state: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """events (B, T, 3) normalized -> next-event predictions (B, T, 3), new state.

        The pitch output is added to the pitch just read: the network says the interval to
        the next note, so it starts out near the music (a repeated note) rather than at
        MIDI 0, five octaves of local minima of the interval loss away."""
        x, state = self.lstm(events, state)  # (B, T, H)
        out = self.dense(x)  # (B, T, 3)
        pitch = events[..., :1] + out[..., :1]
        return torch.cat([pitch, out[..., 1:]], dim=-1), state

    def loss(self, predicted: Tensor, target: Tensor) -> tuple[Tensor, dict[str, float]]:
        """Interval-aware pitch penalty + aux_weight * (velocity MSE + time-delta MSE)."""
        semitones = (predicted[..., 0] - target[..., 0]) * PITCH_SCALE
        pitch = interval_penalty(semitones).mean()
        velocity = ((predicted[..., 1] - target[..., 1]) ** 2).mean()
        delta = ((predicted[..., 2] - target[..., 2]) ** 2).mean()
        total = pitch + self.config.aux_weight * (velocity + delta)
        return total, {"pitch": pitch.item(), "velocity": velocity.item(), "delta": delta.item()}

    @torch.no_grad()
    def generate(
        self,
        primer: Tensor,
        length: int,
        pitch_noise: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Continue ``primer`` (T0, 3) by ``length`` events (normalized, (length, 3)).  Each
        prediction is made playable: pitch rounded to a key of the piano (after Gaussian noise
        of ``pitch_noise`` semitones, so that a sample is not the mean of what may follow),
        velocity 1..127, time delta quantized to a sixteenth, never negative."""
        self.eval()
        out, state = self(primer.unsqueeze(0))
        last = out[:, -1:]
        made = []
        for _ in range(length):
            e = last[0, 0].clone()
            semis = e[0] * PITCH_SCALE + PITCH_CENTRE
            semis = semis + pitch_noise * torch.randn((), generator=generator)
            e[0] = (torch.clamp(torch.round(semis), 21, 108) - PITCH_CENTRE) / PITCH_SCALE
            e[1] = torch.clamp(torch.round(e[1] * VELOCITY_SCALE), 1, 127) / VELOCITY_SCALE
            e[2] = torch.clamp(torch.round(e[2] * DELTA_SCALE * 4) / 4, 0, 4) / DELTA_SCALE
            made.append(e)
            last, state = self(e.view(1, 1, 3), state)
        return torch.stack(made)
