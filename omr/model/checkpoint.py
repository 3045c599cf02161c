"""The checkpoints of the ``omr`` package, the recognizer and the header reader, each saved
atomically (through the payload reader and writer of ``stave.checkpoint``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

from omr.model.header import HeaderConfig, HeaderReader
from omr.model.network import Recognizer, RecognizerConfig
from omr.model.vocab import SymbolVocab
from stave.checkpoint import CheckpointError, read_payload, write_payload

Net = TypeVar("Net", bound=torch.nn.Module)


def _built(make: Callable[[], Net], state: dict[str, torch.Tensor], source: Path | str) -> Net:
    """The network ``make`` builds with ``state`` loaded, in eval mode; ``CheckpointError``
    naming ``source`` when the weights do not fit it (a crafted or damaged file)."""
    try:
        model = make()
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, ValueError, AttributeError) as err:
        problem = " ".join(str(err).split())[:300]
        raise CheckpointError(f"{source}: weights do not fit the network ({problem})") from None
    model.eval()
    return model


FORMAT = "stavegen-recognizer"
VERSION = 1


@dataclass
class RecognizerCheckpoint:
    config: RecognizerConfig
    vocab: SymbolVocab
    model_state: dict[str, torch.Tensor]
    trainer_state: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def build_model(self, source: Path | str = "checkpoint") -> Recognizer:
        """The network in eval mode; ``CheckpointError`` naming ``source`` when the weights
        do not fit the config (a crafted or damaged file)."""
        return _built(lambda: Recognizer(self.config), self.model_state, source)


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
    write_payload(path, payload)


def load_checkpoint(path: Path) -> RecognizerCheckpoint:
    payload = read_payload(path, FORMAT, VERSION)
    try:
        config_dict = dict(payload["config"])
        config_dict["pools"] = [tuple(p) for p in config_dict["pools"]]
        config_dict.setdefault("ledger_room", 3.0)  # recognizers saved before it was recorded
        config = RecognizerConfig(**config_dict)
        symbols = payload["symbols"]
        if not isinstance(symbols, list | tuple) or not all(
            isinstance(x, str) and x for x in symbols
        ):
            raise TypeError("symbols are not a list of non-empty strings")
        vocab = SymbolVocab(tuple(symbols))
        state = payload["model_state"]
        if not isinstance(state, dict) or not all(
            isinstance(v, torch.Tensor) for v in state.values()
        ):
            raise TypeError("model_state is not a dict of tensors")
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: damaged recognizer checkpoint ({err!r})") from None
    if config.num_symbols != len(vocab):
        raise CheckpointError(
            f"{path}: network has {config.num_symbols} outputs, vocabulary {len(vocab)} symbols"
        )
    return RecognizerCheckpoint(
        config,
        vocab,
        state,
        payload.get("trainer_state"),
        payload.get("info") or {},
    )


HEADER_FORMAT = "stavegen-header-reader"
HEADER_VERSION = 1


@dataclass
class HeaderCheckpoint:
    """The header reader (``omr.model.header``): a stave's key and time signature."""

    config: HeaderConfig
    model_state: dict[str, torch.Tensor]
    trainer_state: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def build_model(self, source: Path | str = "checkpoint") -> HeaderReader:
        """The network in eval mode; ``CheckpointError`` naming ``source`` when the weights
        do not fit the config."""
        return _built(lambda: HeaderReader(self.config), self.model_state, source)


def save_header(path: Path, ckpt: HeaderCheckpoint) -> None:
    payload = {
        "format": HEADER_FORMAT,
        "version": HEADER_VERSION,
        "config": dataclasses.asdict(ckpt.config),
        "model_state": ckpt.model_state,
        "trainer_state": ckpt.trainer_state,
        "info": ckpt.info,
    }
    write_payload(path, payload)


def load_header(path: Path) -> HeaderCheckpoint:
    payload = read_payload(path, HEADER_FORMAT, HEADER_VERSION)
    try:
        config = HeaderConfig(**dict(payload["config"]))
        state = payload["model_state"]
        if not isinstance(state, dict) or not all(
            isinstance(v, torch.Tensor) for v in state.values()
        ):
            raise TypeError("model_state is not a dict of tensors")
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: damaged header reader checkpoint ({err!r})") from None
    return HeaderCheckpoint(config, state, payload.get("trainer_state"), payload.get("info") or {})
