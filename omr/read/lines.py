"""Staff finding, step 4 (see ``omr.read.staff``): line finding and grouping into staves.

The rows that long horizontal runs fill are the lines; lines five at a time with even
spacing are staves.  The page is looked at in vertical strips (where even a curved line is
nearly straight), the strips' detections of one stave are merged into a ``Group``, and
groups that are only stacks of ledger lines next to a staff are dropped.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from omr.read.ink import true_runs

PEAK_SHARE = 0.85  # rows this close to a run's fullest row belong to its line


def line_rows(horizontal: np.ndarray, min_fill: float) -> list[tuple[float, float]]:
    """Centres of rows filled by horizontal runs: (y, fill) per detected line, ``fill`` the
    share of the columns its fullest row covers.

    Rows between two lines can fill up too where noteheads sit close together (blurred along
    the row they join up); a run of filled rows is therefore split at its fuller rows, which
    are the lines.
    """
    profile = horizontal.sum(axis=1)
    width = horizontal.shape[1]
    lines = []
    for start, end in true_runs(profile >= min_fill * width):
        run = profile[start:end]
        for a, b in true_runs(run >= PEAK_SHARE * run.max()):
            weights = run[a:b].astype(np.float64)
            centre = float((np.arange(start + a, start + b) * weights).sum() / weights.sum())
            lines.append((centre, float(weights.max()) / width))
    return lines


def group_staves(
    lines: list[tuple[float, float]], space: float, tolerance: float = 0.3
) -> list[list[tuple[float, float]]]:
    """Five lines spaced ``space`` apart (within ``tolerance``), top to bottom.  Other
    detections between them (close noteheads, beams, text) are passed over.

    Ledger lines over or under a staff are spaced like its lines: where more than five lines
    follow each other at that spacing, the five that fill their rows most are the staff
    (ledger lines are short), and what remains of the chain may hold another staff.
    """
    ys = [y for y, _ in lines]
    used: set[int] = set()
    staves = []
    for first in range(len(lines)):
        if first in used:
            continue
        chain = [first]
        while True:
            target = ys[chain[-1]] + space
            near = [
                j
                for j in range(chain[-1] + 1, len(lines))
                if j not in used and abs(ys[j] - target) <= tolerance * space
            ]
            if not near:
                break
            chain.append(min(near, key=lambda j: abs(ys[j] - target)))
        if len(chain) < 5:
            continue
        used.update(chain)
        free = [True] * len(chain)
        while True:
            windows = [i for i in range(len(chain) - 4) if all(free[i : i + 5])]
            if not windows:
                break
            best = max(windows, key=lambda i: sum(lines[j][1] for j in chain[i : i + 5]))
            staves.append([lines[j] for j in chain[best : best + 5]])
            free[best : best + 5] = [False] * 5
    return sorted(staves, key=lambda g: g[0][0])


STRIP_LEAST = 60  # px: the narrowest strip a page is looked at in (but see find_staves)


def strip_count(width: int, space: float, strip_spaces: float, least: int = STRIP_LEAST) -> int:
    """How many vertical strips ``strip_spaces`` staff spaces wide, and ``least`` pixels at
    least, a page ``width`` pixels wide is looked at in."""
    return max(1, int(width / max(strip_spaces * space, least)))


def strip_staves(
    horizontal: np.ndarray,
    space: float,
    strip_spaces: float = 10,
    min_fill: float = 0.5,
    least: int = STRIP_LEAST,
) -> list[tuple[list[float], int, int]]:
    """Five-line groups found in vertical strips ``strip_spaces`` staff spaces wide, where
    even a curved line is nearly straight: (line ys, strip left, strip right) for each."""
    w = horizontal.shape[1]
    n = strip_count(w, space, strip_spaces, least)
    edges = np.linspace(0, w, n + 1).astype(int)
    found = []
    for a, b in itertools.pairwise(edges):
        lines = line_rows(horizontal[:, a:b], min_fill=min_fill)
        for group in group_staves(lines, space):
            found.append(([y for y, _ in group], int(a), int(b)))
    return found


@dataclass
class Group:
    """One stave as the strips saw it (page coordinates, after deskewing)."""

    lines: list[float]  # median y of each of the five lines
    left: int
    right: int
    top: float  # highest top line and lowest bottom line seen in any strip
    bottom: float
    xs: np.ndarray  # centre of each strip that saw it, left to right
    middles: np.ndarray  # y of its middle line there
    spaces: np.ndarray  # its staff space there


def merge(found: list[tuple[list[float], int, int]], space: float, strips: int) -> list[Group]:
    """Strip detections of the same stave joined.

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
        cluster.sort(key=lambda d: d[1])  # left to right
        ys = np.array([d[0] for d in cluster])
        out.append(
            Group(
                [float(v) for v in np.median(ys, axis=0)],
                min(d[1] for d in cluster),
                max(d[2] for d in cluster),
                float(ys[:, 0].min()),
                float(ys[:, 4].max()),
                np.array([(d[1] + d[2]) / 2 for d in cluster], np.float64),
                ys[:, 2],
                (ys[:, 4] - ys[:, 0]) / 4,
            )
        )
    return out


def drop_ledger_groups(found: list[Group], space: float) -> list[Group]:
    """Of two five-line groups closer than two staff spaces (or overlapping), keep the wider:
    the other is a stack of ledger lines over or under a staff, spaced like its lines."""
    kept: list[Group] = []
    for group in sorted(found, key=lambda g: g.lines[0]):
        if kept and group.top - kept[-1].bottom < 2 * space:
            if group.right - group.left > kept[-1].right - kept[-1].left:
                kept[-1] = group
            continue
        kept.append(group)
    return kept
