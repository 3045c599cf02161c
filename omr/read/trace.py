"""Staff finding, step 5a (see ``omr.read.staff``): following a stave along its lines.

From where the wide strips saw a stave, narrow strips sheared along its slope follow its
lines out to its ends (a curled or waved stave leaves the rows of a wide strip), and the
ends are then followed along the lines, half a staff space at a time, through what no strip
sees as a group (a clef, a dense key signature), bending with them where a photographed
page curls at its edge.
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
    """Straight-line coefficients (slope, offset) through points, least squares; level if
    all share one x."""
    dx = xs - xs.mean()
    var = float((dx * dx).sum())
    if var < 1e-9:
        return np.array([0.0, float(ys[0])])
    slope = float((dx * (ys - ys.mean())).sum()) / var
    return np.array([slope, float(ys.mean()) - slope * float(xs.mean())])


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
    left, right, followed = _line_ends(dark, contrast, xs, middles, spaces, (left, right))
    if followed:  # the stave is cut out along the lines as followed past the traced points
        fx, fy = (np.array(v, np.float64) for v in zip(*followed, strict=True))
        sp = float(np.median(spaces))
        top, bottom = min(top, float(fy.min()) - 2 * sp), max(bottom, float(fy.max()) + 2 * sp)
        order = np.argsort(np.r_[xs, fx], kind="stable")
        xs, middles = np.r_[xs, fx][order], np.r_[middles, fy][order]
        spaces = np.r_[spaces, np.full(len(fx), sp)][order]
    return Group(group.lines, left, right, top, bottom, xs, middles, spaces)


def _line_ends(
    dark: np.ndarray,
    contrast: float,
    xs: np.ndarray,
    middles: np.ndarray,
    spaces: np.ndarray,
    span: tuple[int, int],
) -> tuple[int, int, list[tuple[float, float]]]:
    """``span`` (left, right) widened to where the five lines end, followed along the lines
    beyond each end (``_follow``): strips can see no group where a clef and a dense key
    signature cover most of the lines, but the lines run on through them, and on a curled
    page they bend on.  Returns the ends and the points followed past the traced ones where
    the lines bend away (more than ``BENT`` staff spaces off the traced end's middle line),
    (x, y of the middle line) from left to right, for the stave to be cut out along them.

    The lines' ink is measured against their own darkness along the traced span (a photo's
    lines can be far fainter than its notes): half of that counts as line ink.
    """
    h = dark.shape[0]
    sp = float(np.median(spaces))
    reach = _reach(sp)
    inside = np.arange(span[0], min(span[1], dark.shape[1] - 1) + 1, max(1, int(sp / 4)))
    rows = np.rint(np.interp(inside, xs, middles)[None, :] + _OFFSETS * (sp / 2)).astype(int)
    top = max(0, int(rows.min()) - reach)
    bottom = min(h, int(rows.max()) + reach + 1)
    ink = _Ink(dark, top, bottom, int(inside[0]), int(inside[-1]) + 1, sp)
    typical = float(np.median(ink.at(inside, rows, darkest=True)[0::2]))
    floor = 0.05 * contrast
    left, before = _follow(dark, (typical, floor), xs[2::-1], middles[2::-1], sp, -1)
    right, after = _follow(dark, (typical, floor), xs[-3:], middles[-3:], sp, 1)
    # Only where the lines bend away from where the traced points leave them (the stave is
    # cut out level beyond them): a glyph can move a followed point by a pixel or two.
    before = [p for p in before if abs(p[1] - middles[0]) > BENT * sp]
    after = [p for p in after if abs(p[1] - middles[-1]) > BENT * sp]
    return (
        span[0] if left is None else min(span[0], left),
        span[1] if right is None else max(span[1], right),
        before[::-1] + after,
    )


_OFFSETS = np.arange(-4, 5)[:, None]  # half staff spaces from the middle line: lines even


def _reach(sp: float) -> int:
    """Rows either side of a line where its ink may be."""
    return max(1, int(sp / 5))


class _Ink:
    """Darkness in a box of a page (rows ``top``-``bottom``, columns ``left``-``right``),
    averaged along rows over half a staff space (a line's ink, not a speck's), and the
    darkest of it within ``reach`` rows (where a line's ink may be)."""

    def __init__(
        self, dark: np.ndarray, top: int, bottom: int, left: int, right: int, sp: float
    ) -> None:
        h, w = dark.shape
        kernel = max(3, int(sp / 2) | 1)
        reach = _reach(sp)
        self.top, self.bottom = max(0, top), min(h, bottom)
        self.left, self.right = max(0, left), min(w, right)
        # A blur along rows needs no rows above or below: the same values as over the page.
        a, b = max(0, self.left - kernel // 2), min(w, self.right + kernel // 2)
        along = cv2.blur(dark[self.top : self.bottom, a:b], (kernel, 1))
        self.along = along[:, self.left - a : self.right - a]
        self.near = cv2.dilate(self.along, np.ones((2 * reach + 1, 1), np.uint8))

    def holds(self, cols: np.ndarray, rows: np.ndarray) -> bool:
        return bool(
            self.left <= cols.min()
            and cols.max() < self.right
            and self.top <= rows.min()
            and rows.max() < self.bottom
        )

    def at(self, cols: np.ndarray, rows: np.ndarray, darkest: bool = False) -> np.ndarray:
        """The darkness at ``rows`` (any shape ending in the columns' count) of ``cols``, or
        the darkest within ``reach`` rows of them; rows off the box read as its edge."""
        r = np.clip(rows, self.top, self.bottom - 1) - self.top
        return (self.near if darkest else self.along)[r, cols - self.left]


BENT = 0.2  # staff spaces a followed point must leave the traced end's line by, to count
PLATEAU = 0.1  # of the lines' darkness: shifts doing this nearly as well as the best
CHUNK = 8  # pieces of columns whose darkness is measured at once
FOLLOW_REACH = 3.0  # staff spaces back that the points the line ahead is drawn through lie


def _follow(
    dark: np.ndarray,
    typical: tuple[float, float],  # the lines' darkness, and a floor for line ink
    ex: np.ndarray,
    ey: np.ndarray,
    sp: float,
    step: int,
) -> tuple[int | None, list[tuple[float, float]]]:
    """The stave's lines followed from the traced point nearest an end (the last of ``ex``,
    ``ey``, the traced points nearest that end) in direction ``step`` (-1 or 1), a staff
    space of columns at a time, half of one where they bend.  Each piece is looked at along
    a line (through the traced points at first, then through the points followed in the
    last ``FOLLOW_REACH`` staff spaces), moved up or down by at most a quarter staff space
    to where its lines stand out most against its spaces.  A piece that is mostly staff adds
    a point, so the line ahead bends with the lines.

    A column counts as staff where at least four of the five lines are inked (darker than
    half the lines' darkness, ``typical``: along the traced span, or in the last pieces
    where the lines fade; never under a quarter of it nor the floor) and the spaces between
    them are not all inked; gaps up to ``LINE_GAP`` staff spaces are crossed, and columns
    inked all through (a clef's body) up to ``SOLID_RUN`` (more is a dark border or a blot,
    no staff).  The walk stops where its middle line leaves the page.  Returns the last
    staff column (None where there is none) and the points followed, in walking order.
    """
    h, w = dark.shape
    pieces = (max(2, round(sp)), max(2, round(sp / 2)))  # on a straight stave, on a bend
    most = max(1, round(sp / 4))
    shifts = np.arange(-most, most + 1)
    # Lines minus spaces: the mean darkness of the five lines less that of the four spaces.
    weights = np.where(np.arange(9) % 2 == 0, 1 / 5, -1 / 4)
    gap, most_solid = int(LINE_GAP * sp), int(SOLID_RUN * sp)
    last: int | None = None
    since = solid_run = 0
    points: list[tuple[float, float]] = []
    fading: list[float] = []  # the lines' darkness in each piece followed
    col = int(np.clip(np.rint(ex[-1]), 0, w - 1))
    ink: _Ink | None = None
    slope, offset = _line_through(ex, ey)
    bending = False
    while 0 <= col < w:
        piece = pieces[bending]
        cols = np.arange(col, min(w, col + piece) if step > 0 else max(-1, col - piece), step)
        mid = slope * cols + offset
        if not 0 <= mid.min() <= mid.max() < h:  # the middle line has left the page
            break
        base = mid[None, :] + _OFFSETS * (sp / 2)
        tried = np.rint(base[None] + shifts[:, None, None]).astype(int)  # (shift, 9, column)
        if ink is None or not ink.holds(cols, tried):
            # The next stretch of the page the lines may run through, as far as they can
            # bend in it (the darkness is measured once for several pieces).
            ahead = int(cols[0]) + step * CHUNK * piece
            room = 3 * sp + abs(slope) * CHUNK * piece
            ink = _Ink(
                dark,
                int(mid.min() - room),
                int(mid.max() + room) + 1,
                min(int(cols[0]), ahead),
                max(int(cols[0]), ahead) + 1,
                sp,
            )
        # Ink counts up to the lines' own darkness: black symbols on grey lines (a clef, a
        # key signature) would otherwise pull the lines onto their strokes.
        values = np.minimum(ink.at(cols, tried), typical[0])
        contrasts = values.sum(axis=2) @ weights / len(cols)
        # The middle of the shifts that do (nearly) best: a line two pixels thick reads
        # as dark one pixel off, and the ink of a glyph must not pull the line that way.
        k = int(np.argmax(contrasts))
        good = contrasts >= contrasts[k] - PLATEAU * typical[0]
        lo, hi = k, k
        while lo > 0 and good[lo - 1]:
            lo -= 1
        while hi < len(shifts) - 1 and good[hi + 1]:
            hi += 1
        best = float(shifts[lo] + shifts[hi]) / 2
        bending = bool(abs(best) >= 1)
        # Half the lines' darkness counts as line ink: their darkness along the traced span,
        # or nearer, where they fade towards the edge of a photo (not under a quarter of it).
        near = sorted(fading[-4:])[len(fading[-4:]) // 2] if fading else typical[0]
        threshold = max(0.5 * min(typical[0], near), 0.25 * typical[0], typical[1])
        darkest = ink.at(cols, np.rint(base + best).astype(int), darkest=True)
        inked = darkest > threshold
        lines_on = inked[0::2].sum(axis=0) >= 4
        solid = inked[1::2].sum(axis=0) == 4  # spaces inked too: a clef's body, or a border
        ended, staff = False, 0
        for c, on, full in zip(cols.tolist(), lines_on.tolist(), solid.tolist(), strict=True):
            if on and full:
                solid_run += 1
                if solid_run > most_solid:
                    ended = True
                    break
            elif on:
                last, since, solid_run = c, 0, 0
                staff += 1
            else:
                since, solid_run = since + 1, 0
                if since > gap:
                    ended = True
                    break
        if 2 * staff >= len(cols):
            x = float(cols.mean())
            points.append((x, slope * x + offset + best))
            fading.append(float(np.median(darkest[0::2][:, lines_on & ~solid])))
            # The line ahead: through the points followed in the last few staff spaces
            # once they span one (the traced points lag where a curled page bends ever more).
            recent = [p for p in points[-12:] if abs(p[0] - x) <= FOLLOW_REACH * sp]
            if len(recent) >= 2 and abs(recent[-1][0] - recent[0][0]) >= sp:
                rx, ry = (np.array(v) for v in zip(*recent, strict=True))
                slope, offset = _line_through(rx, ry)
        if ended:
            break
        col = int(cols[-1]) + step
    return last, points
