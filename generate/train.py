"""``python -m generate.train``: train the char-LSTM on ABC, stave text or any text.

Writes into OUT: ``data/`` (the prepared corpus), ``latest.pt`` and ``best.pt`` (atomic),
``loss.png``.  Ctrl-C (or SIGTERM) finishes the step in progress, saves ``latest.pt`` and
exits with status 130.

``--resume`` continues the run in OUT exactly as it was started: its settings (corpus and
its preparation, network sizes, batch, sequence length, seed, learning rate, clip,
validation interval, budget) come from ``latest.pt``, so ``-o OUT --resume`` alone goes on
as the uninterrupted run would have.  An option given with ``--resume`` that contradicts the
run is refused, naming both values.  These may change on a resume:

- the budget: ``--max-steps`` and ``--epochs`` (totals, counted from the run's start) and
  ``--minutes`` (of this sitting); give any of them and the budget is the ones given, give
  none and it is the run's (10 epochs when a new run names none);
- ``--lr`` (the learning rate from here on), ``--eval-every``, ``--threads``.

A checkpoint written before the settings were kept resumes as it did then: the options of
the command line, with its defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import torch

from generate.charlstm import corpus, data
from generate.charlstm.model import CharLSTMConfig
from generate.charlstm.train import RunPaths, TrainConfig, TrainError, train
from generate.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from generate.models import add_model_argument, dispatch
from generate.prepare import add_corpus_arguments
from stave import distributed
from stave.cli import (
    non_negative_int,
    output_error,
    positive_float,
    positive_int,
    probability,
)
from stave.devices import DEVICE_HELP, PRECISION_CHOICES, PRECISION_HELP
from stave.training import ResumeError, given_options, option_text, resumed_options, trained_options

DEFAULT_EPOCHS = 10.0  # the budget of a run that names none
BUDGET = ("max_steps", "epochs", "minutes")
CHANGEABLE_ON_RESUME = (
    "lr",
    "eval_every",
    "threads",
    "device",
    "precision",
    "out",
    "resume",
    "model",
)
NET_OPTIONS = ("embed_dim", "hidden_size", "layers", "dropout")  # from the checkpoint always


def parser() -> argparse.ArgumentParser:
    """The command line of the char-LSTM (``main`` hands the MIDI models' to theirs)."""
    defaults = TrainConfig()
    net = CharLSTMConfig(vocab_size=0)
    p = argparse.ArgumentParser(
        prog="python -m generate.train",
        description="Train the char-LSTM on ABC, stave text or any text "
        "(--model midi-lstm|chord-gan: the MIDI-event LSTM or the chord GAN; see their --help).",
        epilog="--resume takes the run's settings from OUT/latest.pt; with it only the budget "
        "(--max-steps, --epochs, --minutes), --lr, --eval-every, --threads, --device and "
        "--precision may differ from the run's (see the module's docstring).  Under torchrun "
        "(torchrun --nproc_per_node=N -m generate.train ...) the global --batch-size is "
        "split over the processes.",
    )
    add_model_argument(p)
    add_corpus_arguments(p)
    p.add_argument(
        "--data",
        type=Path,
        help="train on a folder written by generate.prepare instead of --corpus (default: none)",
    )
    p.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path("runs/charlstm"),
        help="run folder for data, checkpoints and plots (default: %(default)s)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out with its own settings (default: a new run)",
    )
    p.add_argument(
        "--init-from",
        type=Path,
        help="start from this checkpoint's network and vocabulary (fine-tuning; its sizes "
        "replace the size options; default: none)",
    )
    p.add_argument(
        "--embed-dim",
        type=positive_int,
        default=net.embed_dim,
        help="embedding size (default: %(default)s)",
    )
    p.add_argument(
        "--hidden-size",
        type=positive_int,
        default=net.hidden_size,
        help="LSTM units per layer (default: %(default)s)",
    )
    p.add_argument(
        "--layers",
        type=positive_int,
        default=net.num_layers,
        help="LSTM layers (default: %(default)s)",
    )
    p.add_argument(
        "--dropout",
        type=probability,
        default=net.dropout,
        help="dropout probability, at least 0 and below 1 (default: %(default)s)",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=defaults.batch_size,
        help="parallel streams per batch (default: %(default)s)",
    )
    p.add_argument(
        "--seq-len",
        type=positive_int,
        default=defaults.seq_len,
        help="characters per truncated-BPTT window (default: %(default)s)",
    )
    p.add_argument(
        "--lr",
        type=positive_float,
        default=defaults.learning_rate,
        help="Adam learning rate (default: %(default)s)",
    )
    p.add_argument(
        "--clip",
        type=positive_float,
        default=defaults.grad_clip,
        help="gradient-norm clip (default: %(default)s)",
    )
    p.add_argument(
        "--max-steps",
        type=positive_int,
        help="stop after this many steps in all (default: no step limit; "
        f"{DEFAULT_EPOCHS:g} epochs when none of --max-steps, --epochs, --minutes is given)",
    )
    p.add_argument(
        "--epochs",
        type=positive_float,
        help=f"stop after this many epochs in all (default: {DEFAULT_EPOCHS:g} when none of "
        "--max-steps, --epochs, --minutes is given)",
    )
    p.add_argument(
        "--minutes",
        type=positive_float,
        help="stop after this many minutes of this sitting (default: no time limit)",
    )
    p.add_argument(
        "--eval-every",
        type=positive_int,
        default=defaults.eval_every,
        help="steps between validations and checkpoints (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=non_negative_int,
        default=defaults.seed,
        help="seed for split, order, init (default: %(default)s)",
    )
    p.add_argument(
        "--threads", type=positive_int, help="torch CPU threads (default: torch's choice)"
    )
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--precision", choices=PRECISION_CHOICES, default="fp32", help=PRECISION_HELP)
    return p


def main(argv: list[str] | None = None) -> int:
    return dispatch("train", argv, char_lstm_main)


def run_options(ckpt: Checkpoint) -> tuple[dict[str, Any], bool]:
    """The run's settings by option ``dest``, as its checkpoint keeps them, and whether it
    keeps where its data came from (checkpoints written before that do not)."""
    net = ckpt.config
    options: dict[str, Any] = {
        "embed_dim": net.embed_dim,
        "hidden_size": net.hidden_size,
        "layers": net.num_layers,
        "dropout": net.dropout,
    }
    trained = ckpt.info.get("train_config")
    if trained is not None:
        options.update(
            trained_options(
                trained,
                [
                    "batch_size",
                    "seq_len",
                    "lr",
                    "clip",
                    "max_steps",
                    "epochs",
                    "minutes",
                    "eval_every",
                    "seed",
                ],
            )
        )
    run = ckpt.info.get("run")
    if run is not None:
        options.update(run)
    return options, run is not None


def comparable(dest: str, value: Any) -> Any:
    """A command-line value as a checkpoint records it (paths absolute)."""
    if dest == "corpus":
        return corpus.resolved_spec(value)
    if isinstance(value, Path):
        return str(value.resolve())
    return value


def resume_args(
    args: argparse.Namespace, given: set[str]
) -> tuple[argparse.Namespace, dict[str, Any] | None]:
    """``args`` with the run's own settings (from ``OUT/latest.pt``) where the command line
    gives none, and the run's whole training config (None in a checkpoint written before it
    was kept); ``ResumeError`` when the command line contradicts the run."""
    latest = RunPaths(args.out).latest
    if not latest.exists():
        raise TrainError(f"{latest}: nothing to resume")
    ckpt = load_checkpoint(latest)
    if ckpt.model_type != "char-lstm":
        raise TrainError(f"{args.out} holds a {ckpt.model_type} run, not a char-lstm one")
    run, knows_data = run_options(ckpt)
    if "batch_size" not in run:  # before the settings were kept: the command line, as then
        run = {k: v for k, v in run.items() if k in given or k in NET_OPTIONS}
    values = {dest: comparable(dest, getattr(args, dest)) for dest in given}
    settled = resumed_options(values, run, CHANGEABLE_ON_RESUME, BUDGET, str(args.out), latest)
    if not knows_data:
        unchecked = [
            d for d in ("corpus", "kind", "val_fraction", "max_pieces", "data") if d in given
        ]
        if unchecked:
            flags = ", ".join("--" + d.replace("_", "-") for d in unchecked)
            print(
                f"note: {latest} does not record where its data came from ({flags} not "
                f"checked): the run goes on with {RunPaths(args.out).data}",
                file=sys.stderr,
            )
    for dest in ("lr", "eval_every"):
        if dest in given and dest in run and run[dest] != settled[dest]:
            flag = "--" + dest.replace("_", "-")
            print(
                f"note: {flag} {option_text(settled[dest])} from here on "
                f"(the run had {option_text(run[dest])})",
                file=sys.stderr,
            )
    resumed = argparse.Namespace(**vars(args))
    for dest, value in settled.items():
        if dest in given:  # as typed (the comparison was of absolute paths)
            value = getattr(args, dest)
        elif dest in ("data", "init_from") and value is not None:
            value = Path(value)
        setattr(resumed, dest, value)
    return resumed, ckpt.info.get("train_config")


def check_init_sizes(args: argparse.Namespace, given: set[str]) -> None:
    """With ``--init-from`` the network is the checkpoint's: a size option that says
    otherwise is refused, not ignored."""
    ckpt = load_checkpoint(args.init_from)
    if ckpt.model_type != "char-lstm":
        raise TrainError(f"{args.init_from} is not a char-LSTM checkpoint")
    sizes, _ = run_options(ckpt)
    for dest in NET_OPTIONS:
        if dest in given and getattr(args, dest) != sizes[dest]:
            flag = "--" + dest.replace("_", "-")
            raise TrainError(
                f"{args.init_from}: {flag} {getattr(args, dest)} contradicts its network's "
                f"{sizes[dest]} (with --init-from the network is the checkpoint's)"
            )


def char_lstm_main(args_in: list[str]) -> int:
    p = parser()
    args = p.parse_args(args_in)
    given = given_options(p, args_in, args)
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.monotonic()
    return distributed.run(
        args.device,
        lambda processes, device: _train_main(args, given, processes, device, start),
        args.precision,
    )


def _train_main(
    args: argparse.Namespace,
    given: set[str],
    processes: distributed.Processes,
    device: torch.device,
    start: float,
) -> int:
    try:
        trained: dict[str, Any] | None = None
        if "data" in given and "corpus" in given and not args.resume:
            raise TrainError(
                "--data and --corpus are alternatives: train on a prepared folder, or on a corpus"
            )
        if args.resume:
            args, trained = resume_args(args, given)
        elif args.init_from is not None:
            check_init_sizes(args, given)
        if args.max_steps is None and args.epochs is None and args.minutes is None:
            args.epochs = DEFAULT_EPOCHS
        # A resume keeps what the command line has no option for (the curve's log_every).
        known = {f.name for f in dataclasses.fields(TrainConfig)} - {"progress"}
        config = TrainConfig(**{k: v for k, v in (trained or {}).items() if k in known})
        config.batch_size, config.seq_len = args.batch_size, args.seq_len
        config.learning_rate, config.grad_clip = args.lr, args.clip
        config.max_steps, config.epochs, config.minutes = args.max_steps, args.epochs, args.minutes
        config.eval_every, config.seed = args.eval_every, args.seed
        config.precision = args.precision
        model_config = {
            "embed_dim": args.embed_dim,
            "hidden_size": args.hidden_size,
            "num_layers": args.layers,
            "dropout": args.dropout,
        }
        loop, reason = train(
            args.out,
            args.corpus,
            model_config,
            config,
            args.resume,
            args.kind,
            args.val_fraction,
            args.max_pieces,
            args.data,
            args.init_from,
            args.abc2midi_only,
            device,
        )
    except (
        TrainError,
        ResumeError,
        CheckpointError,
        corpus.CorpusError,
        data.VocabularyError,
        data.PreparedDataError,
        ValueError,
    ) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # inputs are read into the errors above: this is an output
        print(f"error: {output_error(err)}", file=sys.stderr)
        if RunPaths(args.out).latest.exists():
            print(
                f"the run's last checkpoint {RunPaths(args.out).latest} is kept: "
                f"--resume once the output can be written",
                file=sys.stderr,
            )
        return 1
    st = loop.state
    if not processes.main:
        return 130 if reason == "interrupted" else 0
    print(
        f"stopped ({reason}) at step {st.step}, epoch {loop.task.epoch}; "
        f"best val_bpc={st.best:.4f}; this run {time.monotonic() - start:.0f}s; "
        f"checkpoints in {args.out}",
        file=sys.stderr,
    )
    if reason == "interrupted":
        print(f"resume with: python -m generate.train -o {args.out} --resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
