"""The MIDI-event LSTM and its interval-aware pitch loss.  No file I/O here.

Each note is an event (pitch, velocity, time since the previous note); the network reads the
events so far and predicts the next one as three numbers, as in the reference design: an LSTM
of 48 units, a dense layer of 24, a dense layer of 3.

The pitch loss is shaped by musical interval rather than by distance: a smooth curve with a
period of twelve semitones, low at the unison and octave and at the fourth and fifth (+-5,
+-7), high at seconds, the tritone and sevenths, plus a small term growing with the distance
so that the right octave is still preferred.  Velocity and time delta add their mean squared
errors, weighted at 20% of the pitch term.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

# Penalty at 0..6 semitones (mirrored for 7..11); consonance low, dissonance high.
INTERVAL_POINTS = (0.0, 1.0, 0.85, 0.55, 0.5, 0.2, 1.0)
OCTAVE_WEIGHT = 0.04  # per squared octave of distance
PITCH_CENTRE, PITCH_SCALE = 60.0, 12.0  # the network reads and writes (pitch - C4) in octaves
VELOCITY_SCALE = 127.0
DELTA_SCALE = 4.0  # beats: a whole bar of 4/4 is 1.0


def _cosine_coefficients() -> np.ndarray:
    """Coefficients a_k of sum_k a_k cos(2 pi k d / 12), k = 0..6, through the seven points:
    an even, 12-periodic, smooth curve (a fitted curve, like the reference's polynomial)."""
    d = np.arange(7)
    basis = np.cos(2 * np.pi * np.outer(d, np.arange(7)) / 12)
    return np.linalg.solve(basis, np.array(INTERVAL_POINTS))


COEFFICIENTS = torch.tensor(_cosine_coefficients(), dtype=torch.float32)


def normalize_pitch(midi: np.ndarray | float) -> np.ndarray | float:
    return (np.asarray(midi, np.float32) - PITCH_CENTRE) / PITCH_SCALE


def midi_pitch(normalized: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(normalized) * PITCH_SCALE + PITCH_CENTRE), 0, 127)


def interval_penalty(semitones: Tensor, blur: float = 0.0) -> Tensor:
    """The pitch penalty for a prediction ``semitones`` away from the truth (any shape).

    ``blur`` > 0 gives the curve averaged over a Gaussian of that many semitones: its
    local minima (fourth, fifth) melt into one valley at the truth.  Training starts
    blurred and sharpens to the exact curve, so that a prediction is not caught by the
    nearest consonance before it has found the note (graduated non-convexity)."""
    if not semitones.is_floating_point():
        semitones = semitones.float()
    k = torch.arange(7, dtype=semitones.dtype, device=semitones.device)
    coef = COEFFICIENTS.to(semitones.device, semitones.dtype)
    if blur > 0:
        coef = coef * torch.exp(-0.5 * (2 * torch.pi * k * blur / 12) ** 2)
    periodic = (coef * torch.cos(2 * torch.pi * semitones.unsqueeze(-1) * k / 12)).sum(-1)
    return periodic + OCTAVE_WEIGHT * (semitones / 12) ** 2


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

    def loss(
        self, predicted: Tensor, target: Tensor, blur: float = 0.0
    ) -> tuple[Tensor, dict[str, float]]:
        """Interval-aware pitch penalty (blurred by ``blur`` semitones, see
        ``interval_penalty``) + aux_weight * (velocity MSE + time-delta MSE)."""
        semitones = (predicted[..., 0] - target[..., 0]) * PITCH_SCALE
        pitch = interval_penalty(semitones, blur).mean()
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
