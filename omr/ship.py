"""``python -m omr.ship RUN/best.pt omr/weights/recognizer.pt``: recognizer weights to commit
(or a header reader's, ``omr/weights/header.pt``).

Drops the training state (optimizer, history), keeps the network, its vocabulary and the
figures (validation error rates or accuracies, step, training time) in the checkpoint's
info.  A recognizer run's ``test-pieces.txt`` (the pieces held out from training and
validation) is copied beside the weights as ``cpms-test-pieces.txt``, for ``omr.evaluate
--pieces``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from omr.model.checkpoint import (
    HeaderCheckpoint,
    RecognizerCheckpoint,
    load_checkpoint,
    load_header,
    save_checkpoint,
    save_header,
)
from omr.train import upgraded_state
from stave.checkpoint import CheckpointError
from stave.cli import report_output_error
from stave.training import LoopState


def ship(src: Path, dst: Path) -> RecognizerCheckpoint | HeaderCheckpoint:
    try:
        ckpt = load_checkpoint(src)
    except CheckpointError as err:
        try:
            header = load_header(src)
        except CheckpointError:
            raise err from None
        return ship_header(header, src, dst)
    ckpt.build_model(src)  # weights that do not fit their network are not shipped
    info = dict(ckpt.info)
    if ckpt.trainer_state is not None:
        loop = LoopState.from_dict(upgraded_state(ckpt.trainer_state, seed=0)["loop"])
        info.update(train_seconds=loop.seconds, step=loop.step)
    slim = RecognizerCheckpoint(ckpt.config, ckpt.vocab, ckpt.model_state, None, info)
    save_checkpoint(dst, slim)
    pieces = src.parent / "test-pieces.txt"
    if pieces.exists():
        shutil.copyfile(pieces, dst.parent / "cpms-test-pieces.txt")
    return slim


def ship_header(ckpt: HeaderCheckpoint, src: Path, dst: Path) -> HeaderCheckpoint:
    ckpt.build_model(src)
    info = dict(ckpt.info)
    if ckpt.trainer_state is not None:
        loop = LoopState.from_dict(ckpt.trainer_state["loop"])
        info.update(train_seconds=loop.seconds, step=loop.step)
    slim = HeaderCheckpoint(ckpt.config, ckpt.model_state, None, info)
    save_header(dst, slim)
    return slim


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m omr.ship", description=__doc__)
    p.add_argument("src", type=Path, help="a training checkpoint (best.pt)")
    p.add_argument("dst", type=Path, help="where to write the weights")
    args = p.parse_args(argv)
    try:
        slim = ship(args.src, args.dst)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        return report_output_error(err)
    metrics = slim.info.get("metrics", {})
    print(
        f"{args.dst}: {args.dst.stat().st_size / 1e6:.1f} MB; step {slim.info.get('step')}, "
        f"trained {(slim.info.get('train_seconds') or 0) / 60:.0f} min; "
        + " ".join(f"{k}={v:.4f}" for k, v in metrics.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
