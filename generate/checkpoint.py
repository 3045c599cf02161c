"""The one checkpoint format of the ``generate`` package: save (atomically) and load.

A checkpoint carries everything needed to rebuild the model and sample from it (model type,
config, vocabulary, corpus kind) and, for training checkpoints, everything needed to continue
exactly (optimizer, step, epoch position, hidden state, RNG state, loss history).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from generate import WEIGHTS_DIR, atomic
from generate.chord_gan import ChordGAN, ChordGANConfig
from generate.corpus import SEPARATOR, Kind
from generate.data import Vocab
from generate.midi_lstm import MidiLSTM, MidiLSTMConfig
from generate.model import CharLSTM, CharLSTMConfig

FORMAT = "stavegen-checkpoint"
VERSION = 1
DEFAULT_WEIGHTS = {
    "abc": WEIGHTS_DIR / "abc-charlstm.pt",
    "stave": WEIGHTS_DIR / "stave-charlstm.pt",
}
DEFAULT_MODEL_WEIGHTS = {
    "midi-lstm": WEIGHTS_DIR / "midi-lstm.pt",
    "chord-gan": WEIGHTS_DIR / "chord-gan.pt",
}

# model type -> (config dataclass, nn.Module class)
MODELS: dict[str, tuple[type, type[nn.Module]]] = {
    "char-lstm": (CharLSTMConfig, CharLSTM),
    "midi-lstm": (MidiLSTMConfig, MidiLSTM),
    "chord-gan": (ChordGANConfig, ChordGAN),
}


class CheckpointError(ValueError):
    """A file that is not a usable stavegen checkpoint."""


@dataclass
class Checkpoint:
    model_type: str
    config: Any  # the model's config dataclass
    vocab: Vocab
    kind: Kind  # "midi" for the MIDI-event LSTM and the GAN (no vocabulary)
    model_state: dict[str, torch.Tensor]
    trainer_state: dict[str, Any] | None = None  # absent in shipped weights
    info: dict[str, Any] = field(default_factory=dict)  # data source, figures, timings

    def build_model(self) -> nn.Module:
        _, module_cls = MODELS[self.model_type]
        model = module_cls(self.config)
        model.load_state_dict(self.model_state)
        model.eval()
        return model

    @property
    def context(self) -> str:
        """What a piece is generated or scored after: a real piece, then the separator."""
        return self.info.get("warmup", "") + SEPARATOR

    def weights_only(self) -> Checkpoint:
        """The checkpoint without training state, as shipped weights are committed."""
        return dataclasses.replace(self, trainer_state=None)


def write_payload(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` atomically: a reader never sees half a checkpoint."""
    with atomic.atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_payload(path: Path, fmt: str, version: int) -> dict[str, Any]:
    """A checkpoint file's payload, after checking it is one of ours, of this format and
    version; ``CheckpointError`` naming the file otherwise.  (Every stavegen package reads
    its checkpoints through this.)"""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many types for a damaged file
        raise CheckpointError(f"{path}: not a readable checkpoint ({err})") from err
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise CheckpointError(f"{path}: not a stavegen checkpoint (expected format {fmt!r})")
    if payload.get("version") != version:
        raise CheckpointError(
            f"{path}: checkpoint version {payload.get('version')}, this stavegen reads {version}"
        )
    return payload


def save_checkpoint(path: Path, ckpt: Checkpoint) -> None:
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model_type": ckpt.model_type,
        "config": dataclasses.asdict(ckpt.config),
        "vocab": list(ckpt.vocab.chars),
        "kind": ckpt.kind,
        "model_state": ckpt.model_state,
        "trainer_state": ckpt.trainer_state,
        "info": ckpt.info,
    }
    write_payload(path, payload)


def load_checkpoint(path: Path) -> Checkpoint:
    payload = read_payload(path, FORMAT, VERSION)
    model_type = payload["model_type"]
    if model_type not in MODELS:
        raise CheckpointError(f"{path}: unknown model type {model_type!r}")
    config_cls, _ = MODELS[model_type]
    vocab = Vocab(tuple(payload["vocab"]))
    config = config_cls(**payload["config"])
    if getattr(config, "vocab_size", len(vocab)) != len(vocab):
        raise CheckpointError(
            f"{path}: model expects {config.vocab_size} symbols, vocabulary has {len(vocab)}"
        )
    return Checkpoint(
        model_type=model_type,
        config=config,
        vocab=vocab,
        kind=payload["kind"],
        model_state=payload["model_state"],
        trainer_state=payload.get("trainer_state"),
        info=payload.get("info") or {},
    )


def load_model(path: Path, model_type: str) -> tuple[nn.Module, Checkpoint]:
    """A checkpoint's network (in eval mode) and the checkpoint, after checking its type."""
    ckpt = load_checkpoint(path)
    if ckpt.model_type != model_type:
        raise CheckpointError(f"{path} is a {ckpt.model_type} checkpoint, not a {model_type}")
    return ckpt.build_model(), ckpt


def load_char_lstm(path: Path) -> tuple[CharLSTM, Checkpoint]:
    """A char-LSTM checkpoint's network (in eval mode) and the checkpoint itself."""
    model, ckpt = load_model(path, "char-lstm")
    assert isinstance(model, CharLSTM)
    return model, ckpt


def default_checkpoint(kind: Kind = "abc") -> Path:
    return DEFAULT_WEIGHTS[kind]
