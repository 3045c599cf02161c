"""Prepared data: a vocabulary, ``train.txt``/``val.txt`` files, and TBPTT batches.

``prepare`` is run once and writes files; training only reads them (as nanoGPT's prepare.py).
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from generate.charlstm.corpus import SEPARATOR, Kind, Piece
from stave import atomic, stavetext
from stave.training import writing

UNK = "\ufffd"  # the unknown symbol: index 0, never sampled


class VocabularyError(ValueError):
    """Text or a checkpoint that does not fit a vocabulary."""


class PreparedDataError(ValueError):
    """A folder that does not hold prepared data (``meta.json``, ``train.txt``, ``val.txt``)."""


@dataclass(frozen=True)
class Vocab:
    chars: tuple[str, ...]  # chars[0] is UNK

    @classmethod
    def build(cls, text: str, min_count: int = 1) -> Vocab:
        counts = Counter(text)
        kept = sorted(c for c, n in counts.items() if n >= min_count and c != UNK)
        return cls((UNK, *kept))

    def __len__(self) -> int:
        return len(self.chars)

    @functools.cached_property
    def index(self) -> dict[str, int]:  # built once: encoding looks it up per character
        return {c: i for i, c in enumerate(self.chars)}

    def encode(self, text: str) -> np.ndarray:
        index = self.index
        return np.fromiter((index.get(c, 0) for c in text), dtype=np.int64, count=len(text))

    def encode_strict(self, text: str, what: str = "text") -> np.ndarray:
        """Encode, raising ``VocabularyError`` on a character the model never saw."""
        index = self.index
        unknown = sorted({c for c in text if c not in index})
        if unknown:
            shown = ", ".join(repr(c) for c in unknown[:10])
            raise VocabularyError(
                f"{what} holds {len(unknown)} character(s) outside the model's vocabulary: {shown}"
            )
        return self.encode(text)

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        return "".join(self.chars[int(i)] for i in ids)


@dataclass
class Prepared:
    """What ``prepare`` wrote: the pieces of each split and the vocabulary."""

    kind: Kind
    vocab: Vocab
    train: list[str]
    val: list[str]
    source: str


def prepare(
    train: Sequence[Piece],
    val: Sequence[Piece],
    kind: Kind,
    out_dir: Path,
    source: str,
    vocab: Vocab | None = None,
) -> Prepared:
    """Write ``train.txt``, ``val.txt`` (pieces joined by blank lines) and ``meta.json``.

    The vocabulary is built from the training text (for stave text, with every character
    of the format) unless one is given (fine-tuning keeps the model's: characters outside
    it are read as the unknown symbol).
    """
    train_text = SEPARATOR.join(p.text for p in train)
    val_text = SEPARATOR.join(p.text for p in val)
    if vocab is None:
        # Stave text: every character of the format, used in this corpus or not, so that a
        # model fine-tuned on other staves (a C clef the OMR read) knows them all.
        extra = stavetext.ALPHABET if kind == "stave" else ""
        vocab = Vocab.build(train_text + SEPARATOR + extra)
    for name, text in (("train.txt", train_text), ("val.txt", val_text)):
        with writing(out_dir / name):
            atomic.write_text(out_dir / name, text)
    meta = {
        "kind": kind,
        "source": source,
        "vocab": list(vocab.chars),
        "train_pieces": len(train),
        "val_pieces": len(val),
        "train_chars": len(train_text),
        "val_chars": len(val_text),
        "val_sources": [p.source for p in val],
    }
    with writing(out_dir / "meta.json"):
        atomic.write_text(out_dir / "meta.json", json.dumps(meta, ensure_ascii=False, indent=1))
    return Prepared(kind, vocab, [p.text for p in train], [p.text for p in val], source)


PREPARED_FILES = ("train.txt", "val.txt", "meta.json")


def load_prepared(data_dir: Path) -> Prepared:
    """What ``prepare`` wrote into ``data_dir``; ``PreparedDataError`` naming the folder and
    the file when it holds no prepared data or a damaged one."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise PreparedDataError(f"{data_dir}: no such folder of prepared data")
    missing = [name for name in PREPARED_FILES if not (data_dir / name).is_file()]
    if missing:
        raise PreparedDataError(f"{data_dir}: no prepared data ({', '.join(missing)} missing)")
    try:
        meta = json.loads((data_dir / "meta.json").read_text(encoding="utf-8"))
        train = (data_dir / "train.txt").read_text(encoding="utf-8").split(SEPARATOR)
        val = (data_dir / "val.txt").read_text(encoding="utf-8").split(SEPARATOR)
        return Prepared(meta["kind"], Vocab(tuple(meta["vocab"])), train, val, meta["source"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise PreparedDataError(f"{data_dir}: damaged prepared data ({err})") from err


def stream(
    pieces: Sequence[str], vocab: Vocab, order: Sequence[int] | np.ndarray | None = None
) -> np.ndarray:
    """Pieces in ``order``, each followed by the separator, as one token array."""
    order = range(len(pieces)) if order is None else order
    return vocab.encode("".join(pieces[i] + SEPARATOR for i in order))


class TBPTTBatches:
    """Batches for stateful truncated backpropagation through time.

    Each epoch the pieces are shuffled (seeded by epoch), joined into one stream, and the
    stream cut into ``batch_size`` contiguous rows.  Batch ``i`` is columns
    ``[i*seq_len, (i+1)*seq_len)`` of every row, so row ``b`` of batch ``i+1`` continues row
    ``b`` of batch ``i`` and the hidden state can be carried across.  Under torchrun each
    process takes its ``rows`` of every batch (the global batch split evenly).
    """

    def __init__(
        self,
        pieces: Sequence[str],
        vocab: Vocab,
        batch_size: int,
        seq_len: int,
        seed: int = 0,
        rows: slice | None = None,
    ) -> None:
        self.pieces = list(pieces)
        self.vocab = vocab
        self.batch_size = batch_size
        self.seq_len = seq_len
        self.seed = seed
        self.rows = slice(None) if rows is None else rows  # this process's rows (torchrun)
        self.total_chars = sum(len(p) + len(SEPARATOR) for p in self.pieces)
        self.row_len = (self.total_chars - 1) // batch_size
        if self.row_len < seq_len:
            raise ValueError(
                f"corpus of {self.total_chars} characters is too small for "
                f"batch {batch_size} x sequence {seq_len}"
            )

    def __len__(self) -> int:
        """Batches per epoch."""
        return self.row_len // self.seq_len

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield (x, y), each (B, T), from batch ``start`` of epoch ``epoch``."""
        rng = np.random.default_rng([self.seed, epoch])
        tokens = stream(self.pieces, self.vocab, rng.permutation(len(self.pieces)))
        n = self.batch_size * self.row_len
        x = torch.from_numpy(tokens[:n].reshape(self.batch_size, self.row_len))
        y = torch.from_numpy(tokens[1 : n + 1].reshape(self.batch_size, self.row_len))
        for i in range(start, len(self)):
            cols = slice(i * self.seq_len, (i + 1) * self.seq_len)
            yield x[self.rows, cols], y[self.rows, cols]
