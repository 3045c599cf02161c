"""Staff finding, step 5a (see ``omr.read.staff``): following a stave along its lines.

From where the wide strips saw a stave, narrow strips sheared along its slope follow its
lines out to its ends (a curled or waved stave leaves the rows of a wide strip), and the
ends are then followed along the lines through what no strip sees as a group (a clef, a
dense key signature).
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from omr.read.ink import horizontal_runs
from omr.read.lines import Group, group_staves, line_rows, strip_count


def _lines_along(
    dark: np.ndarray,
    contrast: float,
    space: float,
    strip: tuple[int, int],
    guess: float,
    slope: float,
) -> tuple[list[list[float]], int]:
    """Five-line groups in the columns ``strip`` of a darkness map, near row ``guess``, the
    region sheared first so that lines of the given slope lie along rows (ys at the strip's
    centre); and how many of the five lines expected around ``guess`` show there at all (a
    clef and key signature leave too little of them for a group)."""
    h, w = dark.shape
    a, b = strip
    margin = int(2 * space)
    xa, xb = max(0, a - margin), min(w, b + margin)
    reach = 8 * space + abs(slope) * (xb - xa)
    ya, yb = max(0, int(guess - reach)), min(h, int(guess + reach))
    if yb - ya < 5 * space:
        return [], 0
    region = dark[ya:yb, xa:xb]
    if abs(slope) * (xb - xa) >= 0.5:  # else level already
        centre = (a + b) / 2 - xa
        shear = np.array([[1, 0, 0], [-slope, 1, slope * centre]], np.float32)
        region = cv2.warpAffine(region, shear, (xb - xa, yb - ya), flags=cv2.INTER_LINEAR)
    horizontal = horizontal_runs(region, contrast, space)[:, a - xa : b - xa]
    lines = line_rows(horizontal, min_fill=0.4)
    fill = horizontal.mean(axis=1)
    near = max(1, int(space / 6))
    rows = [round(guess - ya + (i - 2) * space) for i in range(5)]
    shown = sum(
        1 for r in rows if 0 <= r < len(fill) and fill[max(0, r - near) : r + near + 1].max() >= 0.3
    )
    return [[y + ya for y, _ in group] for group in group_staves(lines, space)], shown


def _line_through(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Straight-line coefficients (slope, offset) through points; level if all share one x."""
    return np.polyfit(xs, ys, 1) if len(set(xs.tolist())) > 1 else np.array([0.0, ys[0]])


LINE_GAP = 1.5  # staff spaces without line ink that a stave's end is followed across
SOLID_RUN = 4.0  # and staff spaces inked all through (clefs are about 3 wide)


def trace(group: Group, dark: np.ndarray, contrast: float, space: float) -> Group:
    """``group``'s lines traced along the page through strips 5 staff spaces wide, from
    where the wide strips saw it out to its ends: a curled or waved stave leaves the rows of
    a wide strip, and its ends leave them most.

    Each strip is sheared along the slope its nearest traced points give (or, failing that,
    one of a few slopes around it), and the five-line group nearest where they point
    (within 0.75 staff space, with a staff space within 20%) is taken; a strip where only
    three of the lines show (under a clef, or a dense passage, or where faint lines leave
    one out) is kept in the stave without steering it.  Beyond the span the wide strips saw,
    the stave ends where two strips in a row show neither a group nor three of its lines.
    """
    w = dark.shape[1]
    edges = np.linspace(0, w, strip_count(w, space, 5) + 1).astype(int)
    strips = list(itertools.pairwise(edges.tolist()))
    wide = list(zip(group.xs.tolist(), group.middles.tolist(), group.spaces.tolist(), strict=True))
    typical = float(np.median(group.middles))
    seed = min(wide, key=lambda p: abs(p[1] - typical))[0]
    wx, wy = group.xs, group.middles
    # Level: seen in every wide strip of its span (no gap), on one straight line.
    level = (
        len(wide) >= 3
        and np.diff(wx).max() < 1.5 * np.diff(wx).min()
        and bool(np.abs(np.polyval(np.polyfit(wx, wy, 1), wx) - wy).max() < 0.25 * space)
    )
    traced: list[tuple[float, float, float]] = []
    left, right = group.left, group.right
    top, bottom = group.top, group.bottom
    for direction in (1, -1):  # rightwards from the seed, then leftwards
        ahead = [s for s in strips if ((s[0] + s[1]) / 2 >= seed) == (direction > 0)]
        misses = 0
        for a, b in sorted(ahead, key=lambda s: s[0] * direction):
            x = (a + b) / 2
            near = sorted(traced + wide, key=lambda p: abs(p[0] - x))[:3]
            nx = np.array([p[0] for p in near])
            ny = np.array([p[1] for p in near])
            line = _line_through(nx, ny)
            guess = float(np.polyval(line, x))
            sp = float(np.median([p[2] for p in near]))
            inside = group.left <= x <= group.right
            # The slope the points give lags where a wave turns: other slopes are tried,
            # except within the span of a stave the wide strips saw level.
            slopes = [0.0] if inside and level else [0.0, -0.06, 0.06, -0.12, 0.12]
            shown = 0
            for i, turn in enumerate(slopes):
                bent = guess + turn * (x - near[0][0])  # turning at the nearest point
                groups, seen = _lines_along(dark, contrast, sp, (a, b), bent, line[0] + turn)
                shown = seen if i == 0 else shown
                fits = [
                    ys
                    for ys in groups
                    if abs(ys[2] - bent) <= 0.75 * sp and abs((ys[4] - ys[0]) / 4 - sp) <= 0.2 * sp
                ]
                if fits:
                    guess = bent
                    break
            if not fits:
                if shown >= 3:  # kept, not steering; no miss
                    left, right = min(left, a), max(right, b)
                    continue
                misses += 1
                if misses == 2 and not inside:
                    break
                continue
            misses = 0
            ys = min(fits, key=lambda v: abs(v[2] - guess))
            traced.append((x, ys[2], (ys[4] - ys[0]) / 4))
            left, right = min(left, a), max(right, b)
            top, bottom = min(top, ys[0]), max(bottom, ys[4])
    points = sorted(traced) if len(traced) >= 2 else wide
    xs, middles, spaces = (np.array(v, np.float64) for v in zip(*points, strict=True))
    left, right = _line_ends(dark, contrast, xs, middles, spaces, (left, right))
    return Group(group.lines, left, right, top, bottom, xs, middles, spaces)


def _line_ends(
    dark: np.ndarray,
    contrast: float,
    xs: np.ndarray,
    middles: np.ndarray,
    spaces: np.ndarray,
    span: tuple[int, int],
) -> tuple[int, int]:
    """``span`` (left, right) widened to where the five lines end, followed along the line
    through the traced points nearest each end: strips can see no group where a clef and
    a dense key signature cover most of the lines, but the lines run on through them.

    A column counts as staff where at least four of the five lines are inked (darkness
    averaged along half a staff space, at least half the lines' own along the traced
    span) and the spaces between them are not all inked;
    gaps up to ``LINE_GAP`` staff spaces are crossed, and columns inked all through (a
    clef's body) up to ``SOLID_RUN`` (more is a dark border or a blot, no staff).
    """
    h, w = dark.shape
    sp = float(np.median(spaces))
    reach = max(1, int(sp / 5))  # rows either side of a line where its ink may be
    offsets = np.arange(-4, 5)[:, None] * (sp / 2)  # lines at even offsets, spaces at odd
    # Where the lines and spaces are looked at: along the traced span, and beyond each end
    # along the line through the three traced points nearest it.
    inside = np.arange(span[0], min(span[1], w - 1) + 1, max(1, int(sp / 4)))
    looks = [(inside, np.interp(inside, xs, middles))]
    for side, step in ((0, -1), (1, 1)):
        ex, ey = (xs[:3], middles[:3]) if side == 0 else (xs[-3:], middles[-3:])
        cols = np.arange(span[side] + step, -1 if step < 0 else w, step)
        looks.append((cols, np.polyval(_line_through(ex, ey), cols)))
    rows = [np.rint(mid[None, :] + offsets).astype(int) for _, mid in looks]
    # Darkness averaged along rows, over only the band of rows looked at (a blur along rows
    # needs no rows above or below: the same values as over the whole page).
    top = max(0, min(int(r.min()) for r in rows if r.size) - reach)
    bottom = min(h, max(int(r.max()) for r in rows if r.size) + reach + 1)
    along = cv2.blur(dark[top:bottom], (max(3, int(sp / 2) | 1), 1))

    def darkest(cols: np.ndarray, at: np.ndarray) -> np.ndarray:
        """(9, columns): darkness at each line and space, the darkest row near it."""
        out = np.zeros(at.shape, np.float32)
        for d in range(-reach, reach + 1):
            r = np.clip(at + d, 0, h - 1) - top
            out = np.maximum(out, along[r, cols[None, :]])
        return out

    # How dark these lines are where the stave was traced (a photo's lines can be far
    # fainter than its notes): half of that counts as line ink.
    typical = float(np.median(darkest(inside, rows[0])[0::2]))
    threshold = max(0.5 * typical, 0.05 * contrast)
    ends = list(span)
    for side in (0, 1):
        cols = looks[1 + side][0]
        if cols.size == 0:
            continue
        inked = darkest(cols, rows[1 + side]) > threshold
        lines_on = inked[0::2].sum(axis=0) >= 4
        solid = inked[1::2].sum(axis=0) == 4  # spaces inked too: a clef's body, or a border
        gap, most_solid = int(LINE_GAP * sp), int(SOLID_RUN * sp)
        last, since, solid_run = None, 0, 0
        for i, (on, full) in enumerate(zip(lines_on.tolist(), solid.tolist(), strict=True)):
            if on and full:
                solid_run += 1
                if solid_run > most_solid:
                    break
            elif on:
                last, since, solid_run = i, 0, 0
            else:
                since, solid_run = since + 1, 0
                if since > gap:
                    break
        if last is not None:
            ends[side] = int(cols[last])
    return ends[0], ends[1]
