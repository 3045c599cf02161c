"""Stage 2 of the OMR: find the staves on a page and crop each one, normalized.

1. Binarize against the local background (photos have uneven light).
2. Measure staff-line thickness and staff space from vertical run lengths (the classic
   estimate: the commonest black run is a line, the commonest black+white pair a space).
3. Deskew: the angle that makes the rows of long horizontal runs sharpest.
4. Keep long horizontal runs, find the rows they fill, and group lines five at a time with
   even spacing into staves, ordered top to bottom.
5. Crop each stave with room for ledger lines and scale it so the staff space is fixed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np

DEFAULT_SPACE = 12.0  # px between staff lines in a normalized crop
LEDGER_ROOM = 3.0  # staff spaces kept above the top line and below the bottom line


@dataclass
class Staff:
    """One stave found on a page (coordinates in the deskewed page)."""

    lines: list[float]  # y of the five lines, top to bottom
    left: int
    right: int
    angle: float  # degrees the page was rotated by to level it
    image: np.ndarray  # grey crop, scaled so the staff space is ``space``
    space: float  # staff space in ``image``

    @property
    def page_space(self) -> float:
        return (self.lines[-1] - self.lines[0]) / 4


def darkness(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """How much darker each pixel is than its neighbourhood (float), and the page contrast."""
    h, w = gray.shape
    block = min(255, max(15, (min(h, w) // 16) | 1))  # odd, as medianBlur wants
    background = cv2.medianBlur(gray, block)
    background = cv2.GaussianBlur(background.astype(np.float32), (0, 0), block / 4)
    contrast = max(16.0, float(np.percentile(background, 90) - np.percentile(gray, 2)))
    return np.clip(background - gray.astype(np.float32), 0, None), contrast


INK_MARGIN = 0.3  # share of the page contrast a pixel must be darker than its surroundings


def binarize(gray: np.ndarray) -> np.ndarray:
    """Ink mask (bool) from a grey page: darker than its neighbourhood by a margin."""
    dark, contrast = darkness(gray)
    return dark > INK_MARGIN * contrast


def run_lengths(ink: np.ndarray, columns: int = 200) -> tuple[float, float]:
    """(line thickness, staff space) from vertical runs in evenly spread columns."""
    h, w = ink.shape
    black: list[int] = []
    pairs: list[int] = []
    for x in np.linspace(0, w - 1, min(columns, w)).astype(int):
        col = ink[:, x].astype(np.int8)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], col, [0]])))
        starts, ends = edges[::2], edges[1::2]
        runs = ends - starts
        black.extend(runs.tolist())
        pairs.extend((starts[1:] - starts[:-1]).tolist())  # black + following white
    if not black or not pairs:
        return 1.0, 0.0
    thickness = float(np.bincount(np.clip(black, 0, h)).argmax())
    hist = np.bincount(np.clip(pairs, 0, h))
    hist[: int(thickness) + 3] = 0  # a space is more than a line's thickness
    return max(1.0, thickness), float(hist.argmax())


def _horizontal(dark: np.ndarray, contrast: float, space: float) -> np.ndarray:
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
            profile = rotated.sum(axis=1, dtype=np.float64)
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


def _line_rows(horizontal: np.ndarray, min_fill: float) -> list[tuple[float, int, int]]:
    """Centres of rows filled by horizontal runs: (y, left, right) per detected line."""
    profile = horizontal.sum(axis=1)
    width = horizontal.shape[1]
    on = profile >= min_fill * width
    lines = []
    y = 0
    while y < len(on):
        if on[y]:
            start = y
            while y < len(on) and on[y]:
                y += 1
            rows = horizontal[start:y]
            weights = profile[start:y].astype(np.float64)
            centre = float((np.arange(start, y) * weights).sum() / weights.sum())
            cols = np.flatnonzero(rows.any(axis=0))
            lines.append((centre, int(cols[0]), int(cols[-1])))
        y += 1
    return lines


def group_staves(
    lines: list[tuple[float, int, int]], space: float, tolerance: float = 0.3
) -> list[list[tuple[float, int, int]]]:
    """Runs of five lines spaced ``space`` apart (within ``tolerance``), top to bottom."""
    staves = []
    i = 0
    while i + 5 <= len(lines):
        group = lines[i : i + 5]
        gaps = np.diff([y for y, _, _ in group])
        if np.all(np.abs(gaps - space) <= tolerance * space):
            staves.append(group)
            i += 5
        else:
            i += 1
    return staves


def _strip_staves(horizontal: np.ndarray, space: float) -> list[tuple[list[float], int, int]]:
    """Five-line groups found in vertical strips, where even a curved line is nearly straight:
    (line ys, strip left, strip right) for each."""
    w = horizontal.shape[1]
    n = max(1, int(w / max(10 * space, 60)))
    edges = np.linspace(0, w, n + 1).astype(int)
    found = []
    for a, b in itertools.pairwise(edges):
        lines = _line_rows(horizontal[:, a:b], min_fill=0.5)
        for group in group_staves(lines, space):
            found.append(([y for y, _, _ in group], int(a), int(b)))
    return found


def _merge(
    found: list[tuple[list[float], int, int]], space: float, strips: int
) -> list[tuple[list[float], int, int, float, float]]:
    """Strip detections of the same stave joined: (median line ys, left, right, top, bottom).

    A stave must be seen in two strips at least (one strip can be five beams or text lines),
    unless the page is only one or two strips wide.
    """
    clusters: list[list[tuple[list[float], int, int]]] = []
    for det in sorted(found, key=lambda d: d[0][2]):
        if clusters and abs(det[0][2] - np.mean([d[0][2] for d in clusters[-1]])) < 2 * space:
            clusters[-1].append(det)
        else:
            clusters.append([det])
    out = []
    for cluster in clusters:
        if len(cluster) < min(2, strips):
            continue
        ys = np.array([d[0] for d in cluster])
        out.append(
            (
                [float(v) for v in np.median(ys, axis=0)],
                min(d[1] for d in cluster),
                max(d[2] for d in cluster),
                float(ys[:, 0].min()),
                float(ys[:, 4].max()),
            )
        )
    return out


def find_staves(gray: np.ndarray, target_space: float = DEFAULT_SPACE) -> list[Staff]:
    """Every stave on a grey page, top to bottom, cropped and normalized.

    Slightly curved staves are cropped to hold their whole bend (from the highest top line
    to the lowest bottom line seen across the page), plus room for ledger lines.
    """
    dark, contrast = darkness(gray)
    ink = dark > INK_MARGIN * contrast  # as binarize, reusing the darkness map
    _, space = run_lengths(ink)
    if space < 3:
        return []
    angle = estimate_skew(ink)
    if abs(angle) > 1e-3:
        gray = rotate(gray, angle)
        dark, contrast = darkness(gray)
    horizontal = _horizontal(dark, contrast, space)
    strips = max(1, int(gray.shape[1] / max(10 * space, 60)))
    staves = []
    for ys, left, right, top_line, bottom_line in _merge(
        _strip_staves(horizontal, space), space, strips
    ):
        page_space = (ys[-1] - ys[0]) / 4
        top = max(0, int(top_line - LEDGER_ROOM * page_space))
        bottom = min(gray.shape[0], int(np.ceil(bottom_line + LEDGER_ROOM * page_space)))
        x0 = max(0, int(left - page_space))
        x1 = min(gray.shape[1], int(right + page_space))
        crop = gray[top:bottom, x0:x1]
        k = target_space / page_space
        interp = cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC
        image = cv2.resize(crop, None, fx=k, fy=k, interpolation=interp)
        staves.append(Staff(ys, left, right, angle, image, target_space))
    return staves
