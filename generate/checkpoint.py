"""The one checkpoint format of the ``generate`` package: save (atomically) and load, through
the payload reader and writer of ``stave.checkpoint``.

A checkpoint carries everything needed to rebuild the model and sample from it (model type,
config, vocabulary, corpus kind) and, for training checkpoints, everything needed to continue
exactly (optimizer, step, epoch position, hidden state, RNG state, loss history).
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from generate import WEIGHTS_DIR
from generate.charlstm.corpus import KINDS, SEPARATOR, Kind
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

# model type -> (module, config dataclass, what builds the network from a config: an
# nn.Module class, or a function choosing by the config's ``arch``); imported when a
# checkpoint of that type is read, so the char-LSTM's commands never load the MIDI models.
MODELS: dict[str, tuple[str, str, str]] = {
    "char-lstm": ("generate.charlstm.model", "CharLSTMConfig", "CharLSTM"),
    "midi-lstm": ("generate.midi.lstm", "MidiLSTMConfig", "network"),
    "chord-gan": ("generate.midi.gan", "ChordGANConfig", "ChordGAN"),
}


def model_classes(model_type: str) -> tuple[type, Callable[[Any], nn.Module]]:
    """The config dataclass of a model type, and what builds its network from a config."""
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
        """The network with the checkpoint's weights, in eval mode (``load_checkpoint`` has
        checked that they fit: names, shapes, finite values)."""
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
    """A checkpoint, after checking every field a command relies on: the model type, a config
    the network can be built from, a vocabulary of single characters that fits it, and
    weights of exactly the network's names and shapes, with finite values.  Anything else
    raises ``CheckpointError`` naming the file and the problem, so a crafted or damaged file
    gives the usual one-line error in every command that reads one (sample, evaluate, ship,
    train --init-from and --resume)."""
    payload = read_payload(path, FORMAT, VERSION)
    try:
        return _checked(payload)
    except _Unfit as err:
        raise CheckpointError(f"{path}: {err}") from None


class _Unfit(ValueError):
    """What is wrong with a payload (``load_checkpoint`` adds the file name)."""


def _checked(payload: dict[str, Any]) -> Checkpoint:
    model_type = payload.get("model_type")
    if not isinstance(model_type, str) or model_type not in MODELS:
        raise _Unfit(f"unknown model type {model_type!r} (known: {', '.join(MODELS)})")
    config = _config(model_type, payload.get("config"))
    vocab = _vocab(payload.get("vocab"))
    if getattr(config, "vocab_size", len(vocab)) != len(vocab):
        raise _Unfit(f"model expects {config.vocab_size} symbols, vocabulary has {len(vocab)}")
    kind = payload.get("kind")
    kinds = KINDS if model_type == "char-lstm" else ("midi",)
    if kind not in kinds:
        raise _Unfit(f"kind {kind!r}, a {model_type} checkpoint has {' or '.join(kinds)}")
    info = payload.get("info") or {}
    if not isinstance(info, dict):
        raise _Unfit(f"info is a {type(info).__name__}, not a dict")
    if not isinstance(info.get("warmup", ""), str):
        raise _Unfit("info.warmup is not text")
    trainer_state = payload.get("trainer_state")
    if trainer_state is not None and not isinstance(trainer_state, dict):
        raise _Unfit(f"trainer_state is a {type(trainer_state).__name__}, not a dict")
    return Checkpoint(
        model_type=model_type,
        config=config,
        vocab=vocab,
        kind=kind,
        model_state=_model_state(model_type, config, payload.get("model_state")),
        trainer_state=trainer_state,
        info=info,
    )


# Config fields with more to them than "a whole number of at least 1" (int fields) or "a
# finite number of 0 or more" (float fields): (test, what the value must be).
_FIELD_RULES: dict[tuple[str, str], tuple[Callable[[Any], bool], str]] = {
    ("char-lstm", "dropout"): (lambda v: v < 1, "below 1"),
    ("midi-lstm", "dropout"): (lambda v: v < 1, "below 1"),
    ("midi-lstm", "soften"): (lambda v: v <= 1, "at most 1"),
    ("chord-gan", "steps"): (lambda v: v % 8 == 0, "a multiple of 8"),
    ("chord-gan", "generator_channels"): (lambda v: v % 8 == 0, "a multiple of 8"),
    ("midi-lstm", "arch"): (lambda v: v in ("seed", "softmax"), "seed or softmax"),
    ("chord-gan", "arch"): (lambda v: v in ("seed", "voices"), "seed or voices"),
}


def _config(model_type: str, fields: Any) -> Any:
    config_cls, _ = model_classes(model_type)
    if not isinstance(fields, dict) or not all(isinstance(k, str) for k in fields):
        raise _Unfit(f"config is a {type(fields).__name__}, not a dict of named fields")
    known = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise _Unfit(f"config has unknown field(s) {', '.join(unknown)} for a {model_type}")
    try:
        config = config_cls(**fields)
    except (TypeError, ValueError) as err:  # a required field missing, or one out of range
        raise _Unfit(f"config: {err}") from None
    for name, f in known.items():
        value = getattr(config, name)
        kind = str(f.type)
        if kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
            what = "a whole number of at least 1"
        elif kind == "str":
            ok, what = isinstance(value, str), "text"
        elif kind == "tuple[int, ...]":  # checked by the config itself (ValueError above)
            ok, what = True, ""
        else:
            ok = (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value)
                and value >= 0
            )
            what = "a finite number of 0 or more"
        rule = _FIELD_RULES.get((model_type, name))
        if ok and rule is not None and not rule[0](value):
            ok, what = False, rule[1]
        if not ok:
            raise _Unfit(f"config.{name} is {value!r}, it must be {what}")
    return config


def _vocab(chars: Any) -> Vocab:
    if not isinstance(chars, (list, tuple)):
        raise _Unfit(f"vocabulary is a {type(chars).__name__}, not a list of characters")
    bad = [c for c in chars if not (isinstance(c, str) and len(c) == 1)]
    if bad:
        raise _Unfit(f"vocabulary holds {bad[0]!r}, not a single character")
    if len(set(chars)) != len(chars):
        raise _Unfit("vocabulary holds a character twice")
    return Vocab(tuple(chars))


def _model_state(model_type: str, config: Any, state: Any) -> dict[str, torch.Tensor]:
    """The weights, checked against the network the config builds: built on the meta
    device, so a crafted config of enormous sizes allocates nothing."""
    if not isinstance(state, dict):
        raise _Unfit(f"model_state is a {type(state).__name__}, not a dict of tensors")
    _, module_cls = model_classes(model_type)
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Initializing zero-element tensors is a no-op"
            expected = module_cls(config).state_dict()
    except (ValueError, TypeError, RuntimeError) as err:
        raise _Unfit(f"config does not build a {model_type}: {err}") from None
    empty = [name for name, t in expected.items() if t.numel() == 0]
    if empty:
        raise _Unfit(f"config gives an empty layer ({empty[0]})")
    missing = [k for k in expected if k not in state]
    if missing:
        raise _Unfit(f"model_state lacks {len(missing)} weight(s) of a {model_type}: {missing[0]}")
    extra = [k for k in state if k not in expected]
    if extra:
        raise _Unfit(f"model_state holds {len(extra)} unknown weight(s): {extra[0]!r}")
    for name, want in expected.items():
        got = state[name]
        if not isinstance(got, torch.Tensor):
            raise _Unfit(f"model_state.{name} is a {type(got).__name__}, not a tensor")
        if got.shape != want.shape:
            raise _Unfit(
                f"model_state.{name} has shape {tuple(got.shape)}, "
                f"the config's network needs {tuple(want.shape)}"
            )
        if got.layout != torch.strided or got.is_complex():
            raise _Unfit(f"model_state.{name} is not a dense real tensor")
        if got.is_floating_point() and not bool(torch.isfinite(got).all()):
            raise _Unfit(f"model_state.{name} holds NaN or infinite values")
        if want.is_floating_point() != got.is_floating_point():
            raise _Unfit(f"model_state.{name} is of type {got.dtype}, not {want.dtype}")
    return state


def load_model(path: Path, model_type: str) -> tuple[nn.Module, Checkpoint]:
    """A checkpoint's network (in eval mode) and the checkpoint, after checking its type."""
    ckpt = load_checkpoint(path)
    if ckpt.model_type != model_type:
        raise CheckpointError(f"{path}: a {ckpt.model_type} checkpoint, not a {model_type}")
    try:
        model = ckpt.build_model()
    except (RuntimeError, ValueError, TypeError) as err:  # what load_checkpoint did not foresee
        raise CheckpointError(f"{path}: weights do not fit the network ({err})") from None
    return model, ckpt


def load_char_lstm(path: Path) -> tuple[CharLSTM, Checkpoint]:
    """A char-LSTM checkpoint's network (in eval mode) and the checkpoint itself."""
    model, ckpt = load_model(path, "char-lstm")
    assert isinstance(model, CharLSTM)
    return model, ckpt


def default_checkpoint(kind: Kind = "abc") -> Path:
    return DEFAULT_WEIGHTS[kind]
