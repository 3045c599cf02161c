"""The piano-roll chord GAN, in two designs (``ChordGANConfig.arch``), with one critic.  No
file I/O here.

A segment is ``steps`` time steps by 88 keys (1 = the key sounds).  The critic's first layer
is a convolution over all 88 pitches at one time step (32 channels): it sees a chord at a
time; then convolutions across time see the progression.  Trained as a Wasserstein GAN with
gradient penalty (WGAN-GP), which stays stable without tricks.

``seed`` (``Generator``): noise to a roll, each key of each step sounding with its own
probability (binarized at 0.5 when sampled).  ``voices`` (``VoiceGenerator``): the music's
structure built in.  Four voices (soprano, alto, tenor, bass) each sound one key or none at
each step, as a distribution over the 88 keys and silence; the roll the critic sees is the
keys any voice sounds (``1 - prod(1 - p)``, exact for a chosen key, smooth for the
generator's gradients, as in WGAN-GP's own text model).  The segment is made bar by bar:
the noise becomes one vector per bar, a GRU carries the progression across bars, and each
bar is drawn by the same bar decoder, which knows where in the bar each step is.  Sampled,
each voice takes its likeliest key.

Metres (``ChordGANConfig.metres``, eighths per bar): a voice generator of more than one
metre is told which to draw (a learned vector per metre, added to every bar's), and draws
``steps // 8`` bars of it.  A segment shorter than ``steps`` (four bars of 3/4: 24 eighths)
reaches the critic followed by silence, in real and generated segments alike, so the
critic knows the metre from where the silence begins.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from generate.midi.io import KEYS

ARCHS = ("seed", "voices")
BAR_STEPS = 8  # eighths in a bar of 4/4
VOICES = 4  # soprano, alto, tenor, bass
METRES = {"4/4": 8, "3/4": 6}  # the metres the voice generator draws: eighths per bar


def metre_name(bar_steps: int) -> str:
    """``8`` -> ``"4/4"``."""
    return next((name for name, n in METRES.items() if n == bar_steps), f"{bar_steps}/8")


@dataclass
class ChordGANConfig:
    arch: str = "seed"  # checkpoints from before there were two designs hold the seed's
    steps: int = 32  # time steps per segment (eighth notes: four bars of 4/4)
    noise_dim: int = 64
    generator_channels: int = 256
    critic_channels: int = 32  # of the first, all-pitches layer
    gradient_penalty: float = 10.0
    # Eighths per bar of each metre the generator draws, the first the default (checkpoints
    # from before there were metres hold 4/4 only; a new voice GAN draws those its data has).
    metres: tuple[int, ...] = (BAR_STEPS,)

    def __post_init__(self) -> None:
        if isinstance(self.metres, list):  # as JSON or a hand-made checkpoint gives it
            self.metres = tuple(self.metres)
        drawable = set(METRES.values())
        if (
            not isinstance(self.metres, tuple)
            or not self.metres
            or any(type(m) is not int or m not in drawable for m in self.metres)
            or len(set(self.metres)) != len(self.metres)
        ):
            known = ", ".join(f"{n} ({name})" for name, n in METRES.items())
            raise ValueError(f"metres {self.metres}: eighths per bar, each once and one of {known}")
        if self.arch == "seed" and self.metres != (BAR_STEPS,):
            raise ValueError("the seed design draws 4/4 only (metres=(8,))")

    def bar_steps(self, metre: int | None) -> int:
        """The eighths per bar of ``metre`` (None: the first), checked to be one drawn."""
        if metre is None:
            return self.metres[0]
        if metre not in self.metres:
            drawn = ", ".join(metre_name(m) for m in self.metres)
            raise ValueError(f"this chord GAN draws {drawn}, not {metre_name(metre)}")
        return metre


class VoiceGenerator(nn.Module):
    def __init__(self, config: ChordGANConfig) -> None:
        super().__init__()
        c = config.generator_channels
        self.bars = config.steps // BAR_STEPS
        self.project = nn.Sequential(nn.Linear(config.noise_dim, c * self.bars), nn.ReLU())
        self.config = config
        # One learned vector per metre, added to every bar's (none with one metre: the
        # checkpoints of before).  Zero at first: training starts from the generator of one
        # metre, which learns well, and the metres part as the critic tells them apart.
        self.metre = nn.Embedding(len(config.metres), c) if len(config.metres) > 1 else None
        if self.metre is not None:
            nn.init.zeros_(self.metre.weight)
        self.progression = nn.GRU(c, c, batch_first=True)
        self.position = nn.Parameter(torch.randn(BAR_STEPS, c) * 0.1)  # step within the bar
        self.bar = nn.Sequential(  # per step of a bar: the bar's vector and the position
            nn.Linear(2 * c, c),
            nn.ReLU(),
            nn.Linear(c, c),
            nn.ReLU(),
        )
        self.smooth = nn.Sequential(nn.Conv1d(c, c, 3, padding=1), nn.ReLU())  # across steps
        self.voices = nn.Linear(c, VOICES * (KEYS + 1))  # each voice: a key or silence
        self.channels = c

    def voice_logits(self, z: Tensor, metre: int | None = None) -> Tensor:
        """z (B, noise_dim) -> logits (B, bars x eighths per bar, 4, 89): each voice's key
        (or silence) at each eighth of ``steps // 8`` bars of ``metre`` (eighths per bar;
        None: the first of ``config.metres``)."""
        n = self.config.bar_steps(metre)
        b, c = z.shape[0], self.channels
        bars = self.project(z).view(b, self.bars, c)
        if self.metre is not None:
            which = torch.full((b, 1), self.config.metres.index(n), device=z.device)
            bars = bars + self.metre(which)
        bars, _ = self.progression(bars)  # (B, bars, C)
        x = torch.cat(
            [
                bars[:, :, None, :].expand(b, self.bars, n, c),
                self.position[:n].expand(b, self.bars, n, c),
            ],
            dim=-1,
        )
        x = self.bar(x).reshape(b, self.bars * n, c)
        x = self.smooth(x.transpose(1, 2)).transpose(1, 2)
        return self.voices(x).view(b, self.bars * n, VOICES, KEYS + 1)

    def forward(self, z: Tensor, metre: int | None = None) -> Tensor:
        """z (B, noise_dim) -> (B, steps, 88): how surely each key sounds in some voice,
        silence after the bars of a shorter metre."""
        p = torch.softmax(self.voice_logits(z, metre), dim=-1)[..., :KEYS]
        return padded(1 - torch.prod(1 - p, dim=2), self.config.steps)

    @torch.no_grad()
    def sample(self, z: Tensor, metre: int | None = None) -> Tensor:
        """Binary rolls (B, bars x eighths per bar, 88): each voice's likeliest key
        (silence: none)."""
        choice = self.voice_logits(z, metre).argmax(-1)  # (B, T, 4)
        roll = torch.zeros(*choice.shape[:2], KEYS + 1, device=z.device)
        roll.scatter_(2, choice, 1.0)
        return roll[..., :KEYS]


def padded(rolls: Tensor, steps: int) -> Tensor:
    """Rolls (B, T, 88) followed by silence to ``steps`` time steps."""
    return nn.functional.pad(rolls, (0, 0, 0, steps - rolls.shape[1]))


class Generator(nn.Module):
    def __init__(self, config: ChordGANConfig) -> None:
        super().__init__()
        c = config.generator_channels
        self.start = config.steps // 8
        self.project = nn.Sequential(nn.Linear(config.noise_dim, c * self.start), nn.ReLU())
        layers: list[nn.Module] = []
        for _ in range(3):  # time x 8
            layers += [
                nn.ConvTranspose1d(c, c // 2, 4, stride=2, padding=1),
                nn.BatchNorm1d(c // 2),
                nn.ReLU(),
            ]
            c //= 2
        self.upsample = nn.Sequential(*layers)
        self.keys = nn.Conv1d(c, KEYS, 1)  # per step: which keys sound
        self.channels = config.generator_channels

    def forward(self, z: Tensor, metre: int | None = None) -> Tensor:
        """z (B, noise_dim) -> probabilities (B, steps, 88) (4/4 only)."""
        x = self.project(z).view(z.shape[0], self.channels, self.start)  # (B, C, steps/8)
        x = self.upsample(x)  # (B, C/8, steps)
        return torch.sigmoid(self.keys(x)).transpose(1, 2)  # (B, steps, 88)


class Critic(nn.Module):
    def __init__(self, config: ChordGANConfig) -> None:
        super().__init__()
        c = config.critic_channels
        # A chord at a time: one kernel spans all 88 keys of one time step.
        self.chord = nn.Conv2d(1, c, kernel_size=(1, KEYS))
        self.time = nn.Sequential(
            nn.LeakyReLU(0.2),
            nn.Conv1d(c, 2 * c, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv1d(2 * c, 4 * c, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv1d(4 * c, 4 * c, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
        )
        self.score = nn.Linear(4 * c * (config.steps // 8), 1)

    def forward(self, rolls: Tensor) -> Tensor:
        """rolls (B, steps, 88) -> scores (B,)."""
        x = self.chord(rolls.unsqueeze(1)).squeeze(-1)  # (B, C, steps)
        x = self.time(x)  # (B, 4C, steps/8)
        return self.score(x.flatten(1)).squeeze(-1)


class ChordGAN(nn.Module):
    """Generator and critic together, so that one state dict holds the pair."""

    def __init__(self, config: ChordGANConfig) -> None:
        super().__init__()
        if config.arch not in ARCHS:
            raise ValueError(f"unknown arch {config.arch!r} (known: {', '.join(ARCHS)})")
        self.config = config
        self.generator: Generator | VoiceGenerator = (
            VoiceGenerator(config) if config.arch == "voices" else Generator(config)
        )
        self.critic = Critic(config)

    def critic_loss(
        self,
        real: Tensor,
        fake: Tensor,
        mix: Tensor | None = None,
        critic: nn.Module | None = None,
    ) -> tuple[Tensor, float]:
        """WGAN-GP critic loss, and the Wasserstein estimate (real - fake scores).

        ``mix`` (B, 1, 1): where between each real and fake roll the penalty is taken (drawn
        here when not given).  ``critic`` scores the rolls (a DDP wrapper of ``self.critic``
        under torchrun); the penalty always goes through ``self.critic`` itself, as DDP does
        not take the double backward it needs.  The penalty's gradients join the scores' in
        the same backward, so DDP averages their sum.
        """
        scores = (critic or self.critic)(torch.cat([real, fake]))  # the critic has no batch norm
        real_score, fake_score = scores[: len(real)].mean(), scores[len(real) :].mean()
        if mix is None:
            mix = torch.rand(real.shape[0], 1, 1, device=real.device)
        between = (mix * real + (1 - mix) * fake).requires_grad_(True)
        grads = torch.autograd.grad(self.critic(between).sum(), between, create_graph=True)[0]
        penalty = ((grads.flatten(1).norm(dim=1) - 1) ** 2).mean()
        loss = fake_score - real_score + self.config.gradient_penalty * penalty
        return loss, (real_score - fake_score).item()

    def generator_loss(self, fake: Tensor) -> Tensor:
        return -self.critic(fake).mean()

    @torch.no_grad()
    def generate(
        self, n: int, generator: torch.Generator | None = None, metre: int | None = None
    ) -> Tensor:
        """``n`` binarized segments (n, steps // 8 bars of ``metre``, 88); ``metre`` in
        eighths per bar, one of ``config.metres`` (None: the first)."""
        self.config.bar_steps(metre)  # ValueError for a metre not drawn
        self.eval()
        # Drawn on the CPU (the same noise for a seed on any device), then moved.
        z = torch.randn(n, self.config.noise_dim, generator=generator)
        z = z.to(next(self.parameters()).device)
        if isinstance(self.generator, VoiceGenerator):
            return self.generator.sample(z, metre)
        return (self.generator(z) > 0.5).float()
