"""``python -m generate.ship RUN/best.pt generate/weights/NAME.pt``: weights to commit.

Drops the training state (optimizer, hidden state, RNG), which triples a checkpoint's size
and is of no use to sampling, and keeps the figures (validation bits per character, step,
training time) in the checkpoint's info.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from generate.charlstm.data import load_prepared
from generate.charlstm.train import upgraded_state as char_upgraded
from generate.charlstm.train import warmup_text
from generate.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from generate.midi.train import upgraded_state as midi_upgraded
from generate.models import MIDI_MODELS
from stave.cli import report_output_error
from stave.training import LoopState


def ship(src: Path, dst: Path) -> dict[str, Any]:
    """Write ``src``'s weights and figures to ``dst``; returns the figures.  A checkpoint
    that cannot be shipped raises ``CheckpointError`` naming it; ``dst`` that cannot be
    written raises ``OSError`` (nothing is left half-written there)."""
    ckpt = load_checkpoint(src)
    try:
        slim = _slim(ckpt, src)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        raise CheckpointError(
            f"{src}: training state unreadable ({type(err).__name__}: {err})"
        ) from None
    save_checkpoint(dst, slim)
    return slim.info


def _slim(ckpt: Checkpoint, src: Path) -> Checkpoint:
    """The weights and figures of ``ckpt``, without its training state."""
    slim = ckpt.weights_only()
    if ckpt.model_type in MIDI_MODELS:
        if ckpt.trainer_state is not None:
            loop = LoopState.from_dict(midi_upgraded(ckpt.trainer_state)["loop"])
            slim.info = {
                **ckpt.info,
                "step": loop.step,
                "train_seconds": loop.seconds,
                "curves": loop.curves,
            }
        return slim
    if ckpt.trainer_state is not None:
        state = char_upgraded(ckpt.trainer_state)
        loop, task = LoopState.from_dict(state["loop"]), state["task"]
        slim.info = {
            **ckpt.info,
            "epochs": task["epoch"] + task["batch"] / ckpt.info.get("batches_per_epoch", 1e9),
            "val_curve": loop.curves.get("validation", []),
        }
    if "warmup" not in slim.info:  # checkpoints from before warm-up text was recorded
        try:
            prepared = load_prepared(src.parent / "data")
        except (OSError, ValueError, KeyError) as err:
            raise CheckpointError(
                f"{src}: holds no warm-up text, and its run's data cannot be read ({err})"
            ) from None
        slim.info["warmup"] = warmup_text(prepared.val)
    return slim


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m generate.ship", description=__doc__)
    p.add_argument("src", type=Path, help="a training checkpoint (best.pt)")
    p.add_argument("dst", type=Path, help="where to write the weights")
    args = p.parse_args(argv)
    try:
        info = ship(args.src, args.dst)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # dst: a folder in the way, read-only, a full disk
        if err.filename is None or Path(os.fspath(err.filename)).name.startswith("."):
            err.filename = str(args.dst)
        return report_output_error(err, "generate.ship")
    size = args.dst.stat().st_size / 1e6
    minutes = _number(info.get("train_seconds", 0)) / 60
    if "val_bpc" not in info:  # the MIDI models
        print(f"{args.dst}: {size:.2f} MB; step {info.get('step')}, trained {minutes:.1f} min")
        return 0
    print(
        f"{args.dst}: {size:.1f} MB; step {info.get('step')}, "
        f"val_bpc {_number(info.get('val_bpc')):.4f}, trained {minutes:.0f} min"
    )
    return 0


def _number(value: Any) -> float:
    """A figure of the checkpoint's info as a number (NaN where it holds something else)."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if is_number else float("nan")


if __name__ == "__main__":
    sys.exit(main())
