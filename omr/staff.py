"""Stage 2 of the OMR: find the staves on a page and crop each one, normalized.

1. Binarize against the local background (photos have uneven light).
2. Measure staff-line thickness and staff space from vertical run lengths (the classic
   estimate: the commonest black run is a line, the commonest black+white pair a space).
3. Deskew: the angle that makes the rows of long horizontal runs sharpest.
4. Keep long horizontal runs, find the rows they fill, and group lines five at a time with
   even spacing into staves, ordered top to bottom.
5. Cut each stave out along its lines (straightening a curved one), with room for ledger
   lines, scaled so the staff space is fixed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np

DEFAULT_SPACE = 12.0  # px between staff lines in a normalized crop
LEDGER_ROOM = 4.5  # staff spaces kept above the top line and below the bottom line


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
    # The background is smooth: it is estimated on every ``shrink``-th pixel, where the
    # median window is 5 px (OpenCV's fast path; from 7 px up a median is some 50 times
    # slower: 30 ms on one photographed stave), and scaled back up.  Pixels are sampled,
    # not averaged: averaging blends staff lines into the paper around them.
    shrink = max(1, round(block / 5))
    small = np.ascontiguousarray(gray[shrink // 2 :: shrink, shrink // 2 :: shrink])
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


def _line_rows(horizontal: np.ndarray, min_fill: float) -> list[tuple[float, float]]:
    """Centres of rows filled by horizontal runs: (y, fill) per detected line, ``fill`` the
    share of the columns its fullest row covers.

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
            found.append(([y for y, _ in group], int(a), int(b)))
    return found


@dataclass
class _Group:
    """One stave as the strips saw it (page coordinates, after deskewing)."""

    lines: list[float]  # median y of each of the five lines
    left: int
    right: int
    top: float  # highest top line and lowest bottom line seen in any strip
    bottom: float
    xs: np.ndarray  # centre of each strip that saw it, left to right
    middles: np.ndarray  # y of its middle line there
    spaces: np.ndarray  # its staff space there


def _merge(found: list[tuple[list[float], int, int]], space: float, strips: int) -> list[_Group]:
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
            _Group(
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


def _drop_ledger_groups(found: list[_Group], space: float) -> list[_Group]:
    """Of two five-line groups closer than two staff spaces (or overlapping), keep the wider:
    the other is a stack of ledger lines over or under a staff, spaced like its lines."""
    kept: list[_Group] = []
    for group in sorted(found, key=lambda g: g.lines[0]):
        if kept and group.top - kept[-1].bottom < 2 * space:
            if group.right - group.left > kept[-1].right - kept[-1].left:
                kept[-1] = group
            continue
        kept.append(group)
    return kept


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
    horizontal = _horizontal(region, contrast, space)[:, a - xa : b - xa]
    lines = _line_rows(horizontal, min_fill=0.4)
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


def _trace(group: _Group, dark: np.ndarray, contrast: float, space: float) -> _Group:
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
    edges = np.linspace(0, w, _strip_count(w, space, 5) + 1).astype(int)
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
    return _Group(group.lines, left, right, top, bottom, xs, middles, spaces)


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


def _smooth_fit(xs: np.ndarray, ys: np.ndarray, degree: int, tolerance: float) -> np.ndarray:
    """Polynomial coefficients of ys over xs, refitted once without the points more than
    ``tolerance`` off (a strip that took a beam or a ledger line for a staff line)."""
    degree = min(degree, len(xs) - 1)
    coef = np.polyfit(xs, ys, degree)
    keep = np.abs(np.polyval(coef, xs) - ys) <= tolerance
    if degree > 0 and keep.sum() > degree and not keep.all():
        coef = np.polyfit(xs[keep], ys[keep], degree)
    return coef


def straighten(
    gray: np.ndarray, group: _Group, target_space: float, ledger_room: float = LEDGER_ROOM
) -> np.ndarray:
    """The stave cut out along its own (possibly curved) middle line, with ``ledger_room``
    staff spaces above and below, scaled so the staff space is ``target_space`` everywhere.

    The middle line runs through the points traced along the stave (each strip's middle
    line, a median of three against outliers), the staff space is a straight fit over them
    (the perspective of a photo); a straight stave comes out as a plain crop.
    """
    page_space = (group.lines[-1] - group.lines[0]) / 4
    xs, middles, spaces = group.xs, group.middles, group.spaces
    if len(xs) >= 3:  # a strip that took a beam or a ledger line for a line is smoothed away
        middles = np.median(
            np.stack([np.r_[middles[:1], middles[:-1]], middles, np.r_[middles[1:], middles[-1:]]]),
            axis=0,
        )
    space_fit = _smooth_fit(xs, spaces, 1, 0.15 * page_space)

    def middle_at(x: np.ndarray) -> np.ndarray:
        return np.interp(x, xs, middles)

    h, w = gray.shape
    x0 = max(0, int(group.left - page_space))
    x1 = min(w, int(group.right + page_space))
    half = 2 + ledger_room  # staff spaces from the middle line to the crop's edge
    # Scale the region first (area averaging keeps thin lines when shrinking), then follow
    # the line through it by remapping rows.
    reach = half * page_space * 1.3
    columns = np.arange(x0, x1, dtype=np.float64)
    middle = middle_at(columns)
    y0 = max(0, int(middle.min() - reach))
    y1 = min(h, int(np.ceil(middle.max() + reach)))
    k = target_space / page_space
    region = gray[y0:y1, x0:x1]
    scaled = cv2.resize(
        region, None, fx=k, fy=k, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC
    )
    out_w = scaled.shape[1]
    out_h = round(2 * half * target_space)
    page_x = x0 + (np.arange(out_w) + 0.5) / k - 0.5
    mid = middle_at(page_x)
    sp = np.clip(np.polyval(space_fit, page_x), 0.7 * page_space, 1.3 * page_space)
    offsets = (np.arange(out_h) + 0.5 - out_h / 2) / target_space  # in staff spaces
    page_y = mid[None, :] + offsets[:, None] * sp[None, :]
    map_y = ((page_y - y0 + 0.5) * k - 0.5).astype(np.float32)
    map_x = np.broadcast_to(np.arange(out_w, dtype=np.float32), (out_h, out_w))
    return cv2.remap(
        scaled,
        np.ascontiguousarray(map_x),
        map_y,
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=float(np.median(scaled)),
    )


def _covers(group: _Group, other: _Group, space: float) -> bool:
    """Whether ``other`` is a part of ``group``'s stave (or lies on it)."""
    a, b = max(group.left, other.left), min(group.right, other.right)
    if a >= b:
        return False
    x = (a + b) / 2
    here = np.interp(x, group.xs, group.middles)
    there = np.interp(x, other.xs, other.middles)
    return bool(abs(here - there) < 4 * space)


LINE_EVIDENCE = 0.1  # share of a stave's columns where all five lines must stand out


def _lines_stand_out(dark: np.ndarray, group: _Group) -> float:
    """The share of the stave's columns where each of its five lines is darker than every
    space between them: most columns of a real stave (notes cover some), almost none of a
    texture that happens to have five even dark rows."""
    x = np.arange(group.left, group.right)
    middle = np.interp(x, group.xs, group.middles)
    space = np.interp(x, group.xs, group.spaces)

    def at(step: float) -> np.ndarray:
        y = np.clip(np.round(middle + step * space).astype(int), 0, dark.shape[0] - 1)
        return dark[y, x]

    lines = [np.maximum(np.maximum(at(k - 0.1), at(k)), at(k + 0.1)) for k in (-2, -1, 0, 1, 2)]
    spaces = [at(k) for k in (-1.5, -0.5, 0.5, 1.5)]
    return float((np.min(lines, axis=0) > np.max(spaces, axis=0)).mean()) if len(x) else 0.0


TILTS = (-0.1, -0.05, 0.05, 0.1)  # slopes short staves on a page are also looked for at


def _tilted(
    dark: np.ndarray, contrast: float, space: float, slope: float, rows: tuple[int, int]
) -> list[_Group]:
    """Staves tilted by about ``slope`` against the page (a short stave on a curled or
    photographed page) within ``rows`` of it, found in narrow strips sheared level along
    that slope, in page coordinates."""
    band = dark[rows[0] : rows[1]]
    h, w = band.shape
    drop = max(0.0, slope * w)  # keeps the sheared band's rows from going negative
    lift = drop - rows[0]  # sheared row r is page row r + slope * x - lift
    shear = np.array([[1, 0, 0], [slope, 1, -drop]], np.float32)
    level = cv2.warpAffine(
        band, shear, (w, h + int(np.ceil(abs(slope) * w))), flags=cv2.WARP_INVERSE_MAP
    )
    found = _strip_staves(_horizontal(level, contrast, space), space, 5, 0.4)
    out = []
    for g in _merge(found, space, _strip_count(w, space, 5)):
        centre = slope * (g.left + g.right) / 2 - lift
        ends = (slope * g.left - lift, slope * g.right - lift)
        out.append(
            _Group(
                [y + centre for y in g.lines],
                g.left,
                g.right,
                g.top + min(ends),
                g.bottom + max(ends),
                g.xs,
                g.middles + slope * g.xs - lift,
                g.spaces,
            )
        )
    return out


def _unexplained(
    horizontal: np.ndarray, groups: list[_Group], space: float
) -> list[tuple[int, int]]:
    """Bands of rows (with a margin) holding line fragments that no stave found so far
    accounts for: where a stave at a slope may be."""
    rest = horizontal.copy()
    for g in groups:
        rest[max(0, int(g.top - 4 * space)) : int(g.bottom + 4 * space) + 1] = 0
    counts = rest.sum(axis=1)
    bands: list[tuple[int, int]] = []
    for a, b in _runs(counts > 0):
        if bands and a - bands[-1][1] < 4 * space:
            bands[-1] = (bands[-1][0], b)
        else:
            bands.append((a, b))
    margin = int(6 * space)
    return [
        (max(0, a - margin), min(len(counts), b + margin))
        for a, b in bands
        if counts[a:b].sum() >= 10 * space  # a few short fragments are text or noise
    ]


def _groups(dark: np.ndarray, contrast: float, space: float) -> list[_Group]:
    """The staves in a darkness map, as strip detections joined.

    Strips 10 staff spaces wide first; staves found there are traced to their ends (see
    ``_trace``).  Staves only strips half as wide see (short ones on a strongly curled
    page) are added, and on a page with room for several staves, short ones at a slope
    against the rest, where line fragments are left unexplained (``_tilted``).
    """
    horizontal = _horizontal(dark, contrast, space)
    width = horizontal.shape[1]
    wide = _merge(_strip_staves(horizontal, space, 10, 0.5), space, _strip_count(width, space, 10))
    groups = [_trace(group, dark, contrast, space) for group in wide]

    def add_new(extras: list[_Group]) -> None:
        for extra in extras:
            if not any(_covers(group, extra, space) for group in groups):
                groups.append(_trace(extra, dark, contrast, space))

    add_new(_merge(_strip_staves(horizontal, space, 5, 0.4), space, _strip_count(width, space, 5)))
    if dark.shape[0] > 30 * space:
        for rows in _unexplained(horizontal, groups, space):
            for slope in TILTS:
                add_new(_tilted(dark, contrast, space, slope, rows))
    return groups


def find_staves(
    gray: np.ndarray, target_space: float = DEFAULT_SPACE, ledger_room: float = LEDGER_ROOM
) -> list[Staff]:
    """Every stave on a grey page, top to bottom, cropped and normalized: ``ledger_room``
    staff spaces kept above and below its lines, the staff space ``target_space`` pixels.

    Curved staves (photographed pages) are straightened along their lines; where the room
    for ledger lines runs off the page, it is filled with the paper's grey.
    """
    page = gray
    dark, contrast = darkness(page)
    merged: list[_Group] = []
    space, angle = 0.0, 0.0
    # The page contrast is set by the darkest ink: thin grey staff lines beside black notes
    # (a photo's lines fade first) can fall under both thresholds.  When nothing is found,
    # they are looked for again at half the contrast.
    for faint in (1.0, 0.5):
        ink = dark > INK_MARGIN * faint * contrast  # as binarize, reusing the darkness map
        _, space = run_lengths(ink)
        if space < 3:
            continue
        angle = estimate_skew(ink)
        gray = rotate(page, angle) if abs(angle) > 1e-3 else page
        level_dark, level_contrast = darkness(gray) if gray is not page else (dark, contrast)
        # Faint or blurred lines can make every other line look like the commonest
        # spacing: when nothing is found at the measured space, half of it is tried.
        for guess in (space, space / 2):
            if guess < 3:
                break
            merged = [
                group
                for group in _groups(level_dark, faint * level_contrast, guess)
                if _lines_stand_out(level_dark, group) >= LINE_EVIDENCE
            ]
            if merged:
                space = guess
                break
        if merged:
            break
    staves = []
    for group in _drop_ledger_groups(merged, space):
        image = straighten(gray, group, target_space, ledger_room)
        staves.append(Staff(group.lines, group.left, group.right, angle, image, target_space))
    return staves
