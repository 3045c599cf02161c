"""The MIDI-event LSTM, in two designs (``MidiLSTMConfig.arch``).  No file I/O here.

``seed``, the reference (``MidiLSTM``): each note is an event (pitch, velocity, time since
the previous note); the network reads the events so far and predicts the next one as three
numbers, as in the reference design: an LSTM of 48 units, a dense layer of 24, a dense layer
of 3.

The pitch loss is shaped by musical interval rather than by distance: a smooth curve with a
period of twelve semitones, zero at the unison, low at the octave and at the fourth and fifth
(+-5, +-7), middling at thirds and sixths, high at seconds, the tritone and sevenths, plus a
small term growing with the distance so that the right octave is still preferred.  Velocity
and time delta add their mean squared errors, weighted at 20% of the pitch term.

``softmax`` (``MidiSoftmaxLSTM``): the same idea in a network that can learn it.  Each event
is read as classes (the key, the time since the previous note in sixteenths, a velocity
band) and the next one predicted as three distributions: first its time delta, then its key
and its velocity given that delta (a note sounding with the last one is harmony under it,
one after it a new melody note).  The key's target is the true key softened toward
consonant intervals by the seed's interval kernel (``generate.midi.loss.consonance``, faded
over about an octave): a wrong key a fifth or an octave away costs less than one a second
away.  Notes that start
together come top voice first (``event_array(top_first=True)``), so the events are a
melody with its harmony under each note.  Sampling draws from each distribution at a
temperature.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from generate.midi.events import DELTA_SCALE, PITCH_CENTRE, PITCH_SCALE, VELOCITY_SCALE
from generate.midi.io import KEYS, LOWEST
from generate.midi.loss import consonance, interval_penalty

ARCHS = ("seed", "softmax")


@dataclass
class MidiLSTMConfig:
    arch: str = "seed"  # checkpoints from before there were two designs hold the seed's
    hidden_size: int = 48
    dense_size: int = 24  # seed only
    num_layers: int = 1
    dropout: float = 0.0
    aux_weight: float = 0.2  # velocity and time-delta losses, relative to the pitch term
    embed_size: int = 32  # softmax only: per input class (key, delta, velocity)
    soften: float = 0.1  # softmax only: share of the key target spread by the kernel


def network(config: MidiLSTMConfig) -> nn.Module:
    """The network of the config's design."""
    if config.arch == "softmax":
        return MidiSoftmaxLSTM(config)
    if config.arch != "seed":
        raise ValueError(f"unknown arch {config.arch!r} (known: {', '.join(ARCHS)})")
    return MidiLSTM(config)


DELTAS = 17  # time since the previous note: 0, 1, ..., 16 sixteenths (a whole bar and more)
VELOCITIES = 8  # velocity bands of 16
SIXTEENTHS = DELTA_SCALE * 4  # a normalized delta of 1.0 in sixteenths
KERNEL_REACH = 7.0  # semitones: the softened key target fades over about an octave


def event_classes(events: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Normalized events (..., 3) -> (key 0-87, delta 0-16 sixteenths, velocity band 0-7)."""
    key = torch.round(events[..., 0] * PITCH_SCALE + PITCH_CENTRE) - LOWEST
    delta = torch.round(events[..., 2] * SIXTEENTHS)
    velocity = torch.floor(torch.round(events[..., 1] * VELOCITY_SCALE) / 16)
    return (
        key.clamp(0, KEYS - 1).long(),
        delta.clamp(0, DELTAS - 1).long(),
        velocity.clamp(0, VELOCITIES - 1).long(),
    )


def class_events(key: Tensor, delta: Tensor, velocity: Tensor) -> Tensor:
    """The inverse of ``event_classes`` (a band's middle velocity), normalized (..., 3)."""
    return torch.stack(
        [
            (key.float() + LOWEST - PITCH_CENTRE) / PITCH_SCALE,
            (velocity.float() * 16 + 8).clamp(1, 127) / VELOCITY_SCALE,
            delta.float() / SIXTEENTHS,
        ],
        dim=-1,
    )


class MidiSoftmaxLSTM(nn.Module):
    def __init__(self, config: MidiLSTMConfig) -> None:
        super().__init__()
        self.config = config
        e, h = config.embed_size, config.hidden_size
        self.key_in = nn.Embedding(KEYS, e)
        self.delta_in = nn.Embedding(DELTAS, e)
        self.velocity_in = nn.Embedding(VELOCITIES, e)
        self.lstm = nn.LSTM(
            3 * e,
            h,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(config.dropout)
        self.delta_out = nn.Linear(h, DELTAS)
        self.next_delta = nn.Embedding(DELTAS, e)  # the delta the key is predicted given
        self.key_out = nn.Sequential(nn.Linear(h + e, h), nn.ReLU(), nn.Linear(h, KEYS))
        self.velocity_out = nn.Linear(h + e, VELOCITIES)
        # The key targets: row t is the true key t softened toward consonant intervals.
        keys = torch.arange(KEYS, dtype=torch.float32)
        apart = keys[None, :] - keys[:, None]
        kernel = consonance(apart) * torch.exp(-0.5 * (apart / KERNEL_REACH) ** 2)
        kernel = kernel / kernel.sum(dim=1, keepdim=True)
        soft = (1 - config.soften) * torch.eye(KEYS) + config.soften * kernel
        self.key_targets: Tensor
        self.penalties: Tensor
        self.register_buffer("key_targets", soft, persistent=False)
        self.register_buffer("penalties", interval_penalty(keys[None, :] - keys[:, None]), False)

    def forward(
        self,
        events: Tensor,
        state: tuple[Tensor, Tensor] | None = None,
        following: Tensor | None = None,
    ) -> tuple[tuple[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]:
        """events (B, T, 3) normalized, and the events that follow each (B, T, 3), whose
        deltas the key and velocity are predicted given -> logits of (delta (B, T, 17),
        key (B, T, 88), velocity (B, T, 8)), new state."""
        if following is None:
            raise ValueError("the softmax design predicts each key given its delta: pass following")
        x, state = self.hidden(events, state)
        return self.heads(x, event_classes(following)[1]), state

    def hidden(
        self, events: Tensor, state: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        key, delta, velocity = event_classes(events)
        x = torch.cat([self.key_in(key), self.delta_in(delta), self.velocity_in(velocity)], -1)
        x, state = self.lstm(x, state)
        return self.drop(x), state

    def heads(self, x: Tensor, delta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        given = torch.cat([x, self.next_delta(delta)], dim=-1)
        return self.delta_out(x), self.key_out(given), self.velocity_out(given)

    def loss(
        self, predicted: tuple[Tensor, Tensor, Tensor], target: Tensor
    ) -> tuple[Tensor, dict[str, float]]:
        """Cross-entropy of the key against its softened target, + aux_weight * (delta and
        velocity cross-entropies); the figures add the two designs' common measure, the
        seed's pitch penalty: ``interval`` expected of a key drawn from the prediction,
        ``interval_likeliest`` of its likeliest key (the prediction, as the seed's is)."""
        delta_logits, key_logits, velocity_logits = predicted
        key, delta, velocity = event_classes(target)
        log_p = torch.log_softmax(key_logits.float(), dim=-1)
        pitch = -(self.key_targets[key] * log_p).sum(-1).mean()
        delta_loss = nn.functional.cross_entropy(
            delta_logits.flatten(0, -2).float(), delta.flatten()
        )
        velocity_loss = nn.functional.cross_entropy(
            velocity_logits.flatten(0, -2).float(), velocity.flatten()
        )
        total = pitch + self.config.aux_weight * (delta_loss + velocity_loss)
        with torch.no_grad():
            interval = (log_p.exp() * self.penalties[key]).sum(-1).mean()
            likeliest = self.penalties[key].gather(-1, log_p.argmax(-1, keepdim=True)).mean()
        return total, {
            "pitch": pitch.item(),
            "delta": delta_loss.item(),
            "velocity": velocity_loss.item(),
            "interval": interval.item(),
            "interval_likeliest": likeliest.item(),
        }

    @torch.no_grad()
    def generate(
        self,
        primer: Tensor,
        length: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Continue ``primer`` (T0, 3) by ``length`` events (normalized, (length, 3)): each
        event's delta drawn first, then its key and its velocity given the delta, each from
        its distribution at ``temperature`` (0: the likeliest)."""
        self.eval()
        x, state = self.hidden(primer.unsqueeze(0))
        h = x[:, -1]
        made = []

        def draw(logits: Tensor) -> Tensor:
            if temperature == 0:
                return logits.argmax(-1)
            p = torch.softmax(logits.float() / temperature, dim=-1)
            return torch.multinomial(p, 1, generator=generator).squeeze(-1)

        for _ in range(length):
            delta = draw(self.delta_out(h))
            given = torch.cat([h, self.next_delta(delta)], dim=-1)
            key = draw(self.key_out(given))
            velocity = draw(self.velocity_out(given))
            e = class_events(key, delta, velocity)  # (1, 3)
            made.append(e[0])
            x, state = self.hidden(e.view(1, 1, 3), state)
            h = x[:, -1]
        return torch.stack(made)


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
        self,
        events: Tensor,
        state: tuple[Tensor, Tensor] | None = None,
        following: Tensor | None = None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """events (B, T, 3) normalized -> next-event predictions (B, T, 3), new state
        (``following``, the softmax design's, is not used).

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
        figures = {"pitch": pitch.item(), "velocity": velocity.item(), "delta": delta.item()}
        return total, {
            **figures,
            "interval": figures["pitch"],
            "interval_likeliest": figures["pitch"],
        }

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
