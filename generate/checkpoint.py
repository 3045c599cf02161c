"""The one checkpoint format of the ``generate`` package: save (atomically) and load, through
the payload reader and writer of ``stave.checkpoint``.

A checkpoint carries everything needed to rebuild the model and sample from it (model type,
config, vocabulary, corpus kind) and, for training checkpoints, everything needed to continue
exactly (optimizer, step, epoch position, hidden state, RNG state, loss history).
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from generate import WEIGHTS_DIR
from generate.charlstm.corpus import SEPARATOR, Kind
from generate.charlstm.data import Vocab
from generate.charlstm.model import CharLSTM
from stave.checkpoint import CheckpointError, read_payload, write_payload

FORMAT = "stavegen-checkpoint"
NO_VOCAB = Vocab(())  # the MIDI models read no text
VERSION = 1
DEFAULT_WEIGHTS = {
    "abc": WEIGHTS_DIR / "abc-charlstm.pt",
    "stave": WEIGHTS_DIR / "stave-charlstm.pt",
}
DEFAULT_MODEL_WEIGHTS = {
    "midi-lstm": WEIGHTS_DIR / "midi-lstm.pt",
    "chord-gan": WEIGHTS_DIR / "chord-gan.pt",
}

# model type -> (module, config dataclass, nn.Module class); imported when a checkpoint of
# that type is read, so the char-LSTM's commands never load the MIDI models.
MODELS: dict[str, tuple[str, str, str]] = {
    "char-lstm": ("generate.charlstm.model", "CharLSTMConfig", "CharLSTM"),
    "midi-lstm": ("generate.midi.lstm", "MidiLSTMConfig", "MidiLSTM"),
    "chord-gan": ("generate.midi.gan", "ChordGANConfig", "ChordGAN"),
}


def model_classes(model_type: str) -> tuple[type, type[nn.Module]]:
    """The config dataclass and network class of a model type."""
    module_name, config_name, network_name = MODELS[model_type]
    module = importlib.import_module(module_name)
    return getattr(module, config_name), getattr(module, network_name)


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
        _, module_cls = model_classes(self.model_type)
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
    config_cls, _ = model_classes(model_type)
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
