"""The checkpoint payload, read and written in one place for every stavegen package.

A payload is a dict of plain data (numbers, strings, lists, dicts, tensors) tagged with its
format and version.  It is written atomically and read with ``torch.load(weights_only=True)``,
so loading a ``.pt`` file never runs code from it: a pickled object that is not plain data is
refused as an unreadable checkpoint.  Each package keeps its own ``save_checkpoint`` /
``load_checkpoint`` pair on top (``generate.checkpoint``, ``omr.model.checkpoint``).
"""

from __future__ import annotations

import io
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from stave import atomic

__all__ = ["CheckpointError", "read_payload", "write_payload"]


class CheckpointError(ValueError):
    """A file that is not a usable stavegen checkpoint."""


def write_payload(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` atomically: a reader never sees half a checkpoint.  The payload is
    serialized in memory first, so a full disk is an ``OSError`` (ENOSPC) naming the file,
    not torch's zip writer's ``RuntimeError``."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic.write_bytes(path, buffer.getvalue())


def _cut_short(path: Path) -> bool:
    """Whether ``path`` starts as a zip archive (as PyTorch writes checkpoints) but has no
    end: a file cut short."""
    try:
        with path.open("rb") as f:
            start = f.read(4)
        return start == b"PK\x03\x04" and not zipfile.is_zipfile(path)
    except OSError:
        return False


def read_payload(path: Path, fmt: str, version: int) -> dict[str, Any]:
    """A checkpoint file's payload, after checking it is one of ours, of this format and
    version; ``CheckpointError`` naming the file otherwise."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with warnings.catch_warnings():  # torch warns about what it refuses; we say it once
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged or unsafe file
        text = str(err)
        if "Weights only load failed" in text:
            why = "it holds Python objects, not plain data: refused, as loading it could run code"
        elif _cut_short(path):  # torch's zip reader says this in a paragraph, or not at all
            why = (
                f"cut short or damaged ({path.stat().st_size:,} bytes: the end of its zip "
                "archive is missing, as after an interrupted copy or a full disk)"
            )
        elif not zipfile.is_zipfile(path):
            why = (
                f"not a PyTorch checkpoint ({path.stat().st_size:,} bytes, not the zip "
                "archive torch.save writes)"
            )
        else:
            first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
            detail = f"{type(err).__name__}: {first[:200]}" if first else type(err).__name__
            why = f"not a PyTorch checkpoint, or damaged ({detail})"
        raise CheckpointError(f"{path}: not a readable checkpoint: {why}") from None
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise CheckpointError(f"{path}: not a stavegen checkpoint (expected format {fmt!r})")
    if payload.get("version") != version:
        raise CheckpointError(
            f"{path}: checkpoint version {payload.get('version')}, this stavegen reads {version}"
        )
    return payload
