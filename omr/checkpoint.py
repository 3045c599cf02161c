"""The one checkpoint format of the ``omr`` package: the recognizer, saved atomically."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from generate import atomic
from omr.recognizer import Recognizer, RecognizerConfig
from omr.vocab import SymbolVocab

FORMAT = "stavegen-recognizer"
VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a usable recognizer checkpoint."""


@dataclass
class RecognizerCheckpoint:
    config: RecognizerConfig
    vocab: SymbolVocab
    model_state: dict[str, torch.Tensor]
    trainer_state: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def build_model(self) -> Recognizer:
        model = Recognizer(self.config)
        model.load_state_dict(self.model_state)
        model.eval()
        return model


def save_checkpoint(path: Path, ckpt: RecognizerCheckpoint) -> None:
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": dataclasses.asdict(ckpt.config),
        "symbols": list(ckpt.vocab.symbols),
        "model_state": ckpt.model_state,
        "trainer_state": ckpt.trainer_state,
        "info": ckpt.info,
    }
    with atomic.atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: Path) -> RecognizerCheckpoint:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many types for a damaged file
        raise CheckpointError(f"{path}: not a readable checkpoint ({err})") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a stavegen recognizer checkpoint")
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: checkpoint version {payload.get('version')}, expected {VERSION}"
        )
    config_dict = dict(payload["config"])
    config_dict["pools"] = [tuple(p) for p in config_dict["pools"]]
    config = RecognizerConfig(**config_dict)
    vocab = SymbolVocab(tuple(payload["symbols"]))
    if config.num_symbols != len(vocab):
        raise CheckpointError(
            f"{path}: network has {config.num_symbols} outputs, vocabulary {len(vocab)} symbols"
        )
    return RecognizerCheckpoint(
        config,
        vocab,
        payload["model_state"],
        payload.get("trainer_state"),
        payload.get("info") or {},
    )
