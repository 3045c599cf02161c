"""``python -m generate.train``: train the char-LSTM on ABC, stave text or any text.

Writes into OUT: ``data/`` (the prepared corpus), ``latest.pt`` and ``best.pt`` (atomic),
``loss.png``.  ``--resume`` continues from ``latest.pt`` exactly; Ctrl-C (or SIGTERM) finishes
the step in progress, saves ``latest.pt`` and exits with status 130.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from generate import corpus, data, plots
from generate.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from generate.interrupt import StopOnSignal
from generate.model import CharLSTM, CharLSTMConfig
from generate.prepare import add_corpus_arguments, prepare_corpus
from generate.trainer import TrainConfig, Trainer, TrainState


@dataclass
class RunPaths:
    out: Path

    @property
    def data(self) -> Path:
        return self.out / "data"

    @property
    def latest(self) -> Path:
        return self.out / "latest.pt"

    @property
    def best(self) -> Path:
        return self.out / "best.pt"

    @property
    def plot(self) -> Path:
        return self.out / "loss.png"


def warmup_text(pieces: list[str], limit: int = 1500) -> str:
    """A real piece (its end), run before sampling so that a sample starts from the state a
    piece starts from in training, not from a zero state training hardly ever sees."""
    piece = min(pieces, key=lambda p: abs(len(p) - 600))  # a typical, not a freak, piece
    return piece[-limit:]


class TrainError(RuntimeError):
    """A training run that cannot start: existing run, mismatched resume."""


def train(
    out: Path,
    spec: list[str],
    model_config: dict[str, float | int],
    config: TrainConfig,
    resume: bool = False,
    kind: corpus.Kind | None = None,
    val_fraction: float = 0.05,
    max_pieces: int | None = None,
    data_dir: Path | None = None,
    init_from: Path | None = None,
    abc2midi_only: bool = False,
) -> tuple[Trainer, str]:
    """Run (or resume) training in ``out``; returns the trainer and why it stopped.

    The corpus is prepared into ``out/data`` (or copied there from ``data_dir``, prepared
    earlier by ``generate.prepare``), so a run folder holds all it needs to resume.
    ``init_from`` starts a new run from a checkpoint's network and vocabulary (fine-tuning);
    its sizes replace ``model_config``.
    """
    paths = RunPaths(out)
    saved: Checkpoint | None = None
    start_weights: Checkpoint | None = None
    if resume:
        if not paths.latest.exists():
            raise TrainError(f"{paths.latest}: nothing to resume")
        saved = load_checkpoint(paths.latest)
        prepared = data.load_prepared(paths.data)
        if saved.vocab != prepared.vocab:
            raise TrainError(
                f"{paths.latest} was trained with another vocabulary than {paths.data}"
            )
        if saved.trainer_state is None:
            raise TrainError(f"{paths.latest} holds no training state to resume")
        net_config: CharLSTMConfig = saved.config
    else:
        if paths.latest.exists():
            raise TrainError(f"{out} already holds a run: pass --resume, or choose another -o")
        if init_from is not None:
            start_weights = load_checkpoint(init_from)
            if start_weights.model_type != "char-lstm":
                raise TrainError(f"{init_from} is not a char-LSTM checkpoint")
        if data_dir is not None:
            paths.data.mkdir(parents=True, exist_ok=True)
            for name in ("train.txt", "val.txt", "meta.json"):
                shutil.copyfile(data_dir / name, paths.data / name)
            prepared = data.load_prepared(paths.data)
        else:
            prepared = prepare_corpus(
                spec,
                paths.data,
                kind,
                val_fraction,
                config.seed,
                max_pieces,
                start_weights.vocab if start_weights else None,
                abc2midi_only,
            )
        if start_weights is not None:
            if prepared.vocab != start_weights.vocab:
                raise TrainError(
                    f"{data_dir} was prepared with another vocabulary than {init_from}"
                )
            net_config = start_weights.config
        else:
            net_config = CharLSTMConfig(vocab_size=len(prepared.vocab), **model_config)  # type: ignore[arg-type]

    torch.manual_seed(config.seed)
    model = CharLSTM(net_config)
    if saved is not None or start_weights is not None:
        model.load_state_dict((saved or start_weights).model_state)  # type: ignore[union-attr]
    batches = data.TBPTTBatches(
        prepared.train, prepared.vocab, config.batch_size, config.seq_len, config.seed
    )
    val_tokens = data.stream(prepared.val, prepared.vocab)
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"model: {n_params:,} parameters; {batches.total_chars:,} training characters, "
        f"{len(batches)} batches per epoch; {len(val_tokens):,} validation characters",
        file=sys.stderr,
    )

    def on_eval(trainer: Trainer, val_bpc: float, is_best: bool) -> None:
        ckpt = Checkpoint(
            model_type="char-lstm",
            config=net_config,
            vocab=prepared.vocab,
            kind=prepared.kind,
            model_state={k: v.detach().clone() for k, v in model.state_dict().items()},
            trainer_state=trainer.state_dict(),
            info={
                "source": prepared.source,
                "step": trainer.state.step,
                "val_bpc": val_bpc,
                "best_val_bpc": trainer.state.best_val_bpc,
                "train_seconds": trainer.state.seconds,
                "batches_per_epoch": len(batches),
                "warmup": warmup_text(prepared.val),
                "train_config": asdict(trainer.config),
            },
        )
        save_checkpoint(paths.latest, ckpt)
        if is_best:
            save_checkpoint(paths.best, ckpt)
        plots.loss_curve(
            paths.plot, trainer.state.train_curve, trainer.state.val_curve, f"{prepared.source}"
        )
        print(
            f"\nstep {trainer.state.step} epoch {trainer.state.epoch} "
            f"val_bpc={val_bpc:.4f} best={trainer.state.best_val_bpc:.4f} "
            f"time={trainer.state.seconds / 60:.1f}min",
            file=sys.stderr,
            flush=True,
        )

    trainer = Trainer(model, batches, val_tokens, config, TrainState(), on_eval)
    if saved is not None and saved.trainer_state is not None:
        trainer.load_state_dict(saved.trainer_state)

    def request_stop() -> None:
        trainer.stop_requested = True

    with StopOnSignal(request_stop):
        reason = trainer.run()
    return trainer, reason


MODEL_CHOICES = ("char-lstm", "midi-lstm", "chord-gan")


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else list(argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--model", choices=MODEL_CHOICES, default="char-lstm")
    chosen, _ = pre.parse_known_args(args_in)
    if chosen.model != "char-lstm":
        from generate import midi_train

        return midi_train.main(args_in)
    defaults = TrainConfig()
    net = CharLSTMConfig(vocab_size=0)
    p = argparse.ArgumentParser(
        prog="python -m generate.train",
        description="Train the char-LSTM on ABC, stave text or any text "
        "(--model midi-lstm|chord-gan: the MIDI-event LSTM or the chord GAN; see their --help).",
    )
    p.add_argument(
        "--model", choices=MODEL_CHOICES, default="char-lstm", help="what to train (%(default)s)"
    )
    add_corpus_arguments(p)
    p.add_argument(
        "--data",
        type=Path,
        help="train on a folder written by generate.prepare instead of --corpus",
    )
    p.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path("runs/charlstm"),
        help="run folder for data, checkpoints and plots (default: %(default)s)",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument(
        "--init-from",
        type=Path,
        help="start from this checkpoint's network and vocabulary (fine-tuning)",
    )
    p.add_argument("--embed-dim", type=int, default=net.embed_dim, help="embedding size")
    p.add_argument("--hidden-size", type=int, default=net.hidden_size, help="LSTM units per layer")
    p.add_argument("--layers", type=int, default=net.num_layers, help="LSTM layers")
    p.add_argument("--dropout", type=float, default=net.dropout, help="dropout probability")
    p.add_argument(
        "--batch-size", type=int, default=defaults.batch_size, help="parallel streams per batch"
    )
    p.add_argument(
        "--seq-len", type=int, default=defaults.seq_len, help="characters per truncated-BPTT window"
    )
    p.add_argument("--lr", type=float, default=defaults.learning_rate, help="Adam learning rate")
    p.add_argument("--clip", type=float, default=defaults.grad_clip, help="gradient-norm clip")
    p.add_argument("--max-steps", type=int, help="stop after this many steps in all")
    p.add_argument("--epochs", type=float, help="stop after this many epochs in all")
    p.add_argument("--minutes", type=float, help="stop after this many minutes in this run")
    p.add_argument(
        "--eval-every",
        type=int,
        default=defaults.eval_every,
        help="steps between validations and checkpoints",
    )
    p.add_argument("--seed", type=int, default=defaults.seed, help="seed for split, order, init")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    args = p.parse_args(args_in)

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.max_steps is None and args.epochs is None and args.minutes is None:
        args.epochs = 10.0
    config = TrainConfig(
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        learning_rate=args.lr,
        grad_clip=args.clip,
        max_steps=args.max_steps,
        epochs=args.epochs,
        minutes=args.minutes,
        eval_every=args.eval_every,
        seed=args.seed,
    )
    model_config = {
        "embed_dim": args.embed_dim,
        "hidden_size": args.hidden_size,
        "num_layers": args.layers,
        "dropout": args.dropout,
    }
    start = time.monotonic()
    try:
        trainer, reason = train(
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
        )
    except (TrainError, corpus.CorpusError, data.VocabularyError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    st = trainer.state
    print(
        f"stopped ({reason}) at step {st.step}, epoch {st.epoch}; "
        f"best val_bpc={st.best_val_bpc:.4f}; this run {time.monotonic() - start:.0f}s; "
        f"checkpoints in {args.out}",
        file=sys.stderr,
    )
    if reason == "interrupted":
        print(f"resume with: python -m generate.train -o {args.out} --resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
