"""CTC decoding: greedy (best path) and prefix beam search."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np


def greedy(log_probs: np.ndarray) -> list[int]:
    """(T, S) log-probabilities -> symbol ids: best symbol per step, repeats merged, blanks out."""
    return greedy_path(log_probs)[0]


def greedy_path(log_probs: np.ndarray) -> tuple[list[int], list[int]]:
    """``greedy``'s symbol ids, and the step at which each starts."""
    best = log_probs.argmax(axis=1)
    ids: list[int] = []
    steps: list[int] = []
    prev = -1
    for t, s in enumerate(best.tolist()):
        if s != prev and s != 0:
            ids.append(s)
            steps.append(t)
        prev = s
    return ids, steps


def _logsumexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log(math.exp(a - m) + math.exp(b - m))


def beam_search(log_probs: np.ndarray, beam: int = 8, prune: float = -12.0) -> list[int]:
    """CTC prefix beam search over (T, S) log-probabilities; symbols below ``prune`` at a step
    are not extended."""
    # prefix -> (log p ending in blank, log p ending in non-blank)
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}
    for t in range(log_probs.shape[0]):
        row = log_probs[t]
        candidates = np.flatnonzero(row > prune)
        nxt: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [-math.inf, -math.inf])
        for prefix, (pb, pnb) in beams.items():
            total = _logsumexp(pb, pnb)
            for s in candidates.tolist():
                p = float(row[s])
                if s == 0:
                    entry = nxt[prefix]
                    entry[0] = _logsumexp(entry[0], total + p)
                    continue
                last = prefix[-1] if prefix else None
                extended = (*prefix, s)
                entry = nxt[extended]
                if s == last:
                    # A repeat needs a blank between; without one it stays the same prefix.
                    entry[1] = _logsumexp(entry[1], pb + p)
                    same = nxt[prefix]
                    same[1] = _logsumexp(same[1], pnb + p)
                else:
                    entry[1] = _logsumexp(entry[1], total + p)
        ranked = sorted(nxt.items(), key=lambda kv: -_logsumexp(*kv[1]))[:beam]
        beams = {k: (v[0], v[1]) for k, v in ranked}
    best = max(beams.items(), key=lambda kv: _logsumexp(*kv[1]))
    return list(best[0])
