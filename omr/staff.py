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
    # The background is smooth: on a large page it is estimated at a fraction of the
    # resolution (a 300 dpi A4 page by a ninth: 1.8 s -> 0.1 s) and scaled back up.
    shrink = max(1, block // 15)
    small = (
        gray
        if shrink == 1
        else cv2.resize(gray, (w // shrink, h // shrink), interpolation=cv2.INTER_AREA)
    )
    small_block = max(3, (block // shrink) | 1)
    background = cv2.medianBlur(small, small_block)
    background = cv2.GaussianBlur(background.astype(np.float32), (0, 0), small_block / 4)
    if shrink > 1:
        background = cv2.resize(background, (w, h), interpolation=cv2.INTER_LINEAR)
    dark = np.clip(background - gray.astype(np.float32), 0, None)
    # Ink level: the darker tenth of what stands out from its surroundings, so a single
    # stave on a large white page (0.5% ink) counts as much as a page full of music.
    candidates = gray[dark > 16]
    ink = np.percentile(candidates, 10) if candidates.size >= 100 else np.percentile(gray, 2)
    contrast = max(16.0, float(np.percentile(background, 90) - ink))
    return dark, contrast


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


def _runs(on: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], on.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


PEAK_SHARE = 0.85  # rows this close to a run's fullest row belong to its line


def _line_rows(horizontal: np.ndarray, min_fill: float) -> list[tuple[float, int, int]]:
    """Centres of rows filled by horizontal runs: (y, left, right) per detected line.

    Rows between two lines can fill up too where noteheads sit close together (blurred along
    the row they join up); a run of filled rows is therefore split at its fuller rows, which
    are the lines.
    """
    profile = horizontal.sum(axis=1)
    width = horizontal.shape[1]
    lines = []
    for start, end in _runs(profile >= min_fill * width):
        run = profile[start:end]
        for a, b in _runs(run >= PEAK_SHARE * run.max()):
            weights = run[a:b].astype(np.float64)
            centre = float((np.arange(start + a, start + b) * weights).sum() / weights.sum())
            cols = np.flatnonzero(horizontal[start + a : start + b].any(axis=0))
            lines.append((centre, int(cols[0]), int(cols[-1])))
    return lines


def group_staves(
    lines: list[tuple[float, int, int]], space: float, tolerance: float = 0.3
) -> list[list[tuple[float, int, int]]]:
    """Five lines spaced ``space`` apart (within ``tolerance``), top to bottom.  Other
    detections between them (close noteheads, beams, text) are passed over."""
    ys = [y for y, _, _ in lines]
    used: set[int] = set()
    staves = []
    for first in range(len(lines)):
        if first in used:
            continue
        group = [first]
        while len(group) < 5:
            target = ys[group[-1]] + space
            near = [
                j
                for j in range(group[-1] + 1, len(lines))
                if j not in used and abs(ys[j] - target) <= tolerance * space
            ]
            if not near:
                break
            group.append(min(near, key=lambda j: abs(ys[j] - target)))
        if len(group) == 5:
            staves.append([lines[j] for j in group])
            used.update(group)
    return staves


def _strip_count(width: int, space: float, strip_spaces: float) -> int:
    return max(1, int(width / max(strip_spaces * space, 60)))


def _strip_staves(
    horizontal: np.ndarray, space: float, strip_spaces: float = 10, min_fill: float = 0.5
) -> list[tuple[list[float], int, int]]:
    """Five-line groups found in vertical strips ``strip_spaces`` staff spaces wide, where
    even a curved line is nearly straight: (line ys, strip left, strip right) for each."""
    w = horizontal.shape[1]
    n = _strip_count(w, space, strip_spaces)
    edges = np.linspace(0, w, n + 1).astype(int)
    found = []
    for a, b in itertools.pairwise(edges):
        lines = _line_rows(horizontal[:, a:b], min_fill=min_fill)
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


def _drop_ledger_groups(
    found: list[tuple[list[float], int, int, float, float]], space: float
) -> list[tuple[list[float], int, int, float, float]]:
    """Of two five-line groups closer than two staff spaces (or overlapping), keep the wider:
    the other is a stack of ledger lines over or under a staff, spaced like its lines."""
    kept: list[tuple[list[float], int, int, float, float]] = []
    for group in sorted(found, key=lambda g: g[0][0]):
        if kept and group[3] - kept[-1][4] < 2 * space:
            if group[2] - group[1] > kept[-1][2] - kept[-1][1]:
                kept[-1] = group
            continue
        kept.append(group)
    return kept


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
    # Strips 10 staff spaces wide first; a strongly curled photo, whose lines leave their
    # rows within that width, gets a second look through strips half as wide.
    for strip_spaces, min_fill in ((10, 0.5), (5, 0.4)):
        strips = _strip_count(gray.shape[1], space, strip_spaces)
        merged = _merge(_strip_staves(horizontal, space, strip_spaces, min_fill), space, strips)
        if merged:
            break
    staves = []
    for ys, left, right, top_line, bottom_line in _drop_ledger_groups(merged, space):
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
