"""Staff finding, steps 1-3 (see ``omr.read.staff``): ink, binarization and page measures.

How much darker each pixel is than its neighbourhood (the ink map every later step reads),
the staff-line thickness and staff space from vertical run lengths, the map of long
horizontal runs that staff lines leave, and the skew that levels the page, with the
rotation that applies it.
"""

from __future__ import annotations

import cv2
import numpy as np


def darkness(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """How much darker each pixel is than its neighbourhood (float), and the page contrast."""
    h, w = gray.shape
    block = min(255, max(15, (min(h, w) // 16) | 1))  # odd, as medianBlur wants
    # The background is smooth: it is estimated on every ``shrink``-th pixel, where the
    # median window is 5 px (OpenCV's fast path; from 7 px up a median is some 50 times
    # slower: 30 ms on one photographed stave), and scaled back up.  Pixels are sampled,
    # not averaged: averaging blends staff lines into the paper around them.
    shrink = max(1, round(block / 5))
    small = np.ascontiguousarray(gray[shrink // 2 :: shrink, shrink // 2 :: shrink])
    small_block = max(3, (block // shrink) | 1)
    background = cv2.medianBlur(small, small_block)
    background = cv2.GaussianBlur(background.astype(np.float32), (0, 0), small_block / 4)
    paper = float(np.percentile(background, 90))  # on the sampled grid: a ninth or less
    if shrink > 1:
        background = cv2.resize(background, (w, h), interpolation=cv2.INTER_LINEAR)
    dark = background - gray.astype(np.float32)
    np.maximum(dark, 0, out=dark)
    # Ink level: the darker tenth of what stands out from its surroundings, so a single
    # stave on a large white page (0.5% ink) counts as much as a page full of music.
    candidates = gray[dark > 16]
    ink = percentile_u8(candidates, 10) if candidates.size >= 100 else percentile_u8(gray, 2)
    contrast = max(16.0, paper - ink)
    return dark, contrast


def percentile_u8(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` of 8-bit values (linear interpolation, as NumPy's
    default), from their histogram: the same figure in a fraction of the time."""
    cum = np.cumsum(np.bincount(values.ravel(), minlength=256))
    n = int(cum[-1])
    position = q / 100 * (n - 1)
    below = int(np.floor(position))
    t = position - below
    # The values of order statistics ``below`` and ``below + 1`` (from 0).
    a, b = (float(np.searchsorted(cum, k + 1)) for k in (below, min(below + 1, n - 1)))
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


INK_MARGIN = 0.3  # share of the page contrast a pixel must be darker than its surroundings


def binarize(gray: np.ndarray) -> np.ndarray:
    """Ink mask (bool) from a grey page: darker than its neighbourhood by a margin."""
    dark, contrast = darkness(gray)
    return dark > INK_MARGIN * contrast


def run_lengths(ink: np.ndarray, columns: int = 200) -> tuple[float, float]:
    """(line thickness, staff space) from vertical runs in evenly spread columns."""
    h, w = ink.shape
    xs = np.linspace(0, w - 1, min(columns, w)).astype(int)
    cols = np.zeros((len(xs), h + 2), np.int8)  # each column, a blank pixel at both ends
    cols[:, 1:-1] = ink[:, xs].T
    col, edges = np.nonzero(np.diff(cols, axis=1))  # column by column, top to bottom
    starts, ends = edges[::2], edges[1::2]
    black = ends - starts
    same = col[::2][1:] == col[::2][:-1]
    pairs = (starts[1:] - starts[:-1])[same]  # black + following white, in one column
    if not black.size or not pairs.size:
        return 1.0, 0.0
    thickness = float(np.bincount(np.clip(black, 0, h)).argmax())
    hist = np.bincount(np.clip(pairs, 0, h))
    hist[: int(thickness) + 3] = 0  # a space is more than a line's thickness
    return max(1.0, thickness), float(hist.argmax())


def horizontal_runs(dark: np.ndarray, contrast: float, space: float) -> np.ndarray:
    """Long horizontal runs only (staff lines), as uint8 0/1, from a ``darkness`` map.

    Darkness is averaged along rows before thresholding: a faint, blurred staff line in a
    photo stays continuous while noise and small marks fade.
    """
    along = cv2.blur(dark, (max(3, int(2 * space) | 1), 1))
    joined = (along > 0.15 * contrast).astype(np.uint8)
    length = max(15, int(3 * space))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1))
    return cv2.morphologyEx(joined, cv2.MORPH_OPEN, kernel)


def estimate_skew(ink: np.ndarray, max_angle: float = 6.0) -> float:
    """The rotation (degrees) that levels the staff lines."""
    scale = min(1.0, 1000.0 / max(ink.shape))
    small = cv2.resize(
        ink.astype(np.uint8) * 255, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA
    )
    h, w = small.shape
    best, best_score = 0.0, -1.0
    for coarse in (True, False):
        centre = best
        span, step = (max_angle, 0.5) if coarse else (0.5, 0.05)
        for angle in np.arange(centre - span, centre + span + 1e-9, step):
            m = cv2.getRotationMatrix2D((w / 2, h / 2), float(angle), 1.0)
            rotated = cv2.warpAffine(small, m, (w, h), flags=cv2.INTER_NEAREST)
            profile = cv2.reduce(rotated, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).astype(np.float64)
            score = float((profile**2).sum())
            if score > best_score:
                best, best_score = float(angle), score
    return best


def rotate(gray: np.ndarray, angle: float) -> np.ndarray:
    if abs(angle) < 1e-3:
        return gray
    h, w = gray.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return cv2.warpAffine(gray, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)


def true_runs(on: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], on.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))
