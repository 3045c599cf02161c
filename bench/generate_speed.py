"""Speed of the char-LSTM: training against a plain PyTorch loop, and parallel sampling.

    python bench/generate_speed.py [--steps 40] [--rounds 3]

Training: the char-LSTM through ``stave.training.Loop`` (stateful TBPTT batches, clipping,
curve bookkeeping, its final validation; checkpoints not written), whose first layer runs
folded with the embedding (``generate.charlstm.model``), against a plain loop written here
with the same nn.Embedding/nn.LSTM/nn.Linear sizes, batch and data, alternated ``--rounds``
times in one run; the median of each is compared.
Sampling: ``CharLSTM.generate`` (the folded ``Stepper``) with 1 and with 64 samples in
parallel, against the plain network stepped one character at a time through nn.LSTM, with
the same weights, softmax and draw.
Parts: one forward and backward of each part of the network alone (the first layer plain
and folded, the upper layers, the head), what folding can save and what it cannot.
Processes: ``generate.train`` on the same corpus and global batch, one process with
``--processes`` threads against ``torchrun --nproc_per_node=PROCESSES`` with one thread
each (DDP over gloo), timed by the checkpoint's training seconds (start-up and the final
validation left out).
Targets: training ratio >= 1.0 (issue 2; issue 15 aims at 1.4); >= 5,000 sampled chars/s
with 64 samples (issue 2); one sample >= 2x the plain step (issue 15).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from generate.charlstm.corpus import load_music21_abc
from generate.charlstm.data import Prepared, TBPTTBatches, Vocab
from generate.charlstm.model import CharLSTM, CharLSTMConfig
from generate.charlstm.train import CharLSTMTask, RunPaths, TrainConfig
from generate.checkpoint import load_checkpoint
from stave.training import Loop, Validation

ROOT = Path(__file__).resolve().parents[1]


class PlainLSTM(nn.Module):
    """The reference network written out plainly, with no stavegen code."""

    def __init__(self, vocab: int, embed: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, layers, dropout=dropout, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state):
        out, state = self.lstm(self.embed(x), state)
        return self.head(self.drop(out)), state


def plain_loop(
    batches: list[tuple[torch.Tensor, torch.Tensor]], cfg: CharLSTMConfig, lr: float, clip: float
) -> float:
    model = PlainLSTM(cfg.vocab_size, cfg.embed_dim, cfg.hidden_size, cfg.num_layers, cfg.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    state = None
    chars = 0
    start = time.perf_counter()
    for x, y in batches:
        if state is not None:
            state = tuple(s.detach() for s in state)
        logits, state = model(x, state)
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        chars += x.numel()
    return chars / (time.perf_counter() - start)


class _Unsaved(CharLSTMTask):
    """The char-LSTM's task without checkpoints and plots: the bench times training."""

    def save(self, loop: Loop[CharLSTMTask], validation: Validation, is_best: bool) -> None:
        pass


def ours(pieces: list[str], vocab: Vocab, cfg: CharLSTMConfig, tcfg: TrainConfig) -> float:
    model = CharLSTM(cfg)
    batches = TBPTTBatches(pieces, vocab, tcfg.batch_size, tcfg.seq_len, tcfg.seed)
    val = ["X:1\nK:G\nGAB|"]
    prepared = Prepared("abc", vocab, pieces, val, "bench")
    task = _Unsaved(model, batches, vocab.encode(val[0]), tcfg, RunPaths(Path(".")), prepared)
    loop = Loop(task, tcfg.loop(len(batches)))
    start = time.perf_counter()
    loop.run()
    return loop.state.step * tcfg.batch_size * tcfg.seq_len / (time.perf_counter() - start)


def sampling(cfg: CharLSTMConfig, num: int, length: int) -> tuple[float, float]:
    """Sampled chars/s of ``CharLSTM.generate`` and of the plain network, same weights."""
    model = CharLSTM(cfg).eval()
    plain = PlainLSTM(cfg.vocab_size, cfg.embed_dim, cfg.hidden_size, cfg.num_layers, 0.0).eval()
    plain.load_state_dict(model.state_dict())
    idx = torch.zeros((num, 4), dtype=torch.long)
    model.generate(idx, 20)  # warm up
    start = time.perf_counter()
    out = model.generate(idx, length, temperature=0.8, banned=torch.tensor([0]))
    ours = out.numel() / (time.perf_counter() - start)
    with torch.no_grad():
        start = time.perf_counter()
        logits, state = plain(idx, None)
        for _ in range(length):
            last = logits[:, -1] / 0.8
            last[:, 0] = float("-inf")
            nxt = torch.multinomial(torch.softmax(last, dim=-1), 1)  # (B, 1)
            logits, state = plain(nxt, state)
        base = num * length / (time.perf_counter() - start)
    return ours, base


def layer_times(cfg: CharLSTMConfig, batch: int, seq: int, rounds: int) -> dict[str, float]:
    """Milliseconds of one forward and backward, part by part, on one batch: what folding
    the embedding can save (the first layer) and what it cannot (the rest)."""
    torch.manual_seed(0)
    v, e, h = cfg.vocab_size, cfg.embed_dim, cfg.hidden_size
    idx = torch.randint(0, v, (batch, seq))
    embedded = torch.randn(batch, seq, e, requires_grad=True)
    onehot = nn.functional.one_hot(idx, v).float()
    hidden = torch.randn(batch, seq, h, requires_grad=True)
    first, folded = nn.LSTM(e, h, batch_first=True), nn.LSTM(v, h, batch_first=True)
    upper = nn.LSTM(h, h, max(1, cfg.num_layers - 1), batch_first=True)
    head, target = nn.Linear(h, v), torch.randint(0, v, (batch * seq,))
    parts = {
        "first layer, plain": lambda: first(embedded)[0].sum().backward(),
        "first layer, folded": lambda: folded(onehot)[0].sum().backward(),
        "upper layers": lambda: upper(hidden)[0].sum().backward() if cfg.num_layers > 1 else None,
        "head and loss": lambda: nn.functional.cross_entropy(
            head(hidden).reshape(-1, v), target
        ).backward(),
    }
    out = {}
    for name, run in parts.items():
        run()  # warm up
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            run()
            times.append(1000 * (time.perf_counter() - start))
        out[name] = statistics.median(times)
    return out


def processes_rate(corpus: Path, out: Path, processes: int, threads: int, args) -> float:
    """Training chars/s of ``generate.train`` on ``processes`` (torchrun when more than 1)."""
    train_args = [
        "-m", "generate.train", "--corpus", str(corpus), "-o", str(out), "--device", "cpu",
        "--max-steps", str(args.steps), "--batch-size", str(args.batch_size),
        "--seq-len", str(args.seq_len), "--val-fraction", "0.02", "--threads", str(threads),
    ]  # fmt: skip
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads)}
    subprocess.run([*launcher, *train_args], check=True, capture_output=True, env=env)
    info = load_checkpoint(out / "latest.pt").info
    return args.steps * args.batch_size * args.seq_len / info["train_seconds"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", type=int, default=40, help="training steps per measurement")
    p.add_argument("--rounds", type=int, default=3, help="alternating measurements of each")
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--seq-len", type=int, default=TrainConfig.seq_len)
    p.add_argument("--sample-length", type=int, default=400)
    p.add_argument(
        "--processes", type=int, default=2, help="torchrun processes to compare (0: skip)"
    )
    args = p.parse_args()

    torch.manual_seed(0)
    tunes = [t.text for t in load_music21_abc()[:3000]]
    vocab = Vocab.build("\n\n".join(tunes) + "\n\n")
    cfg = CharLSTMConfig(vocab_size=len(vocab))
    tcfg = TrainConfig(
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        max_steps=args.steps,
        eval_every=10**9,
        progress=False,
    )
    data = TBPTTBatches(tunes, vocab, tcfg.batch_size, tcfg.seq_len, tcfg.seed)
    plain_batches = [(x.clone(), y.clone()) for x, y in list(data.epoch(0))[: args.steps]]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"model embed {cfg.embed_dim}, {cfg.num_layers}x{cfg.hidden_size} LSTM, "
        f"vocab {len(vocab)}; batch {tcfg.batch_size} x {tcfg.seq_len}, {args.steps} steps"
    )
    ours_cps, plain_cps = [], []
    for r in range(args.rounds):
        ours_cps.append(ours(tunes, vocab, cfg, tcfg))
        plain_cps.append(plain_loop(plain_batches, cfg, tcfg.learning_rate, tcfg.grad_clip))
        print(
            f"round {r + 1}: stavegen (folded) {ours_cps[-1]:,.0f} chars/s, "
            f"plain {plain_cps[-1]:,.0f}"
        )
    o, b = statistics.median(ours_cps), statistics.median(plain_cps)
    print(f"train_chars_per_s stavegen={o:,.0f} plain={b:,.0f} ratio={o / b:.3f}")
    parts = layer_times(cfg, tcfg.batch_size, tcfg.seq_len, args.rounds)
    print(
        "forward+backward_ms "
        + " ".join(f"{k.replace(' ', '_').replace(',', '')}={v:.0f}" for k, v in parts.items())
    )
    for num in (1, 64):
        rates = [sampling(cfg, num, args.sample_length) for _ in range(args.rounds)]
        o, b = statistics.median(r[0] for r in rates), statistics.median(r[1] for r in rates)
        print(
            f"sample_chars_per_s parallel={num} stavegen={o:,.0f} plain={b:,.0f} ratio={o / b:.2f}"
        )
    if args.processes > 1:
        n = args.processes
        with tempfile.TemporaryDirectory() as tmp:
            corpus = Path(tmp) / "tunes.abc"
            corpus.write_text("\n\n".join(tunes) + "\n")
            one, many = [], []
            for r in range(args.rounds):
                one.append(processes_rate(corpus, Path(tmp) / f"one{r}", 1, n, args))
                many.append(processes_rate(corpus, Path(tmp) / f"many{r}", n, 1, args))
                print(f"round {r + 1}: 1 process x {n} threads {one[-1]:,.0f} chars/s, "
                      f"{n} processes x 1 thread {many[-1]:,.0f}")  # fmt: skip
        a, b = statistics.median(one), statistics.median(many)
        print(f"torchrun_chars_per_s processes=1 {a:,.0f} processes={n} {b:,.0f} ratio={b / a:.3f}")


if __name__ == "__main__":
    main()
