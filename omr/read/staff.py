"""Stage 2 of the OMR: find the staves on a page and crop each one, normalized.

1. Binarize against the local background (photos have uneven light).  (``omr.read.ink``)
2. Measure staff-line thickness and staff space from vertical run lengths (the classic
   estimate: the commonest black run is a line, the commonest black+white pair a space).
   (``omr.read.ink``)
3. Deskew: the angle that makes the rows of long horizontal runs sharpest.
   (``omr.read.ink``)
4. Keep long horizontal runs, find the rows they fill, and group lines five at a time with
   even spacing into staves, ordered top to bottom.  (``omr.read.lines``; the page-level
   search for them, in wide, narrow and tilted strips, is here)
5. Cut each stave out along its lines (straightening a curved one), with room for ledger
   lines, scaled so the staff space is fixed.  (followed along its lines to its ends in
   ``omr.read.trace``, cut out straight in ``omr.read.dewarp``)

This module holds ``Staff``, ``find_staves`` and the page-level search that ties the steps
together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from omr.geometry import DEFAULT_CROP
from omr.read.dewarp import straighten
from omr.read.ink import (
    INK_MARGIN,
    darkness,
    estimate_skew,
    horizontal_runs,
    rotate,
    run_lengths,
    true_runs,
)
from omr.read.lines import (
    STRIP_LEAST,
    Group,
    drop_ledger_groups,
    merge,
    strip_count,
    strip_staves,
)
from omr.read.trace import trace

DEFAULT_SPACE = 12.0  # px between staff lines in a normalized crop


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

    def outline(self, page_shape: tuple[int, int], room: float) -> np.ndarray:
        """The four corners (4, 2) of the stave on the page as given (before deskewing),
        ``room`` staff spaces above and below its lines: top-left, top-right, bottom-right,
        bottom-left, as (x, y) pixels."""
        margin = room * self.page_space
        top, bottom = self.lines[0] - margin, self.lines[-1] + margin
        corners = np.array(
            [[self.left, top], [self.right, top], [self.right, bottom], [self.left, bottom]],
            dtype=np.float64,
        )
        if abs(self.angle) < 1e-3:
            return corners
        h, w = page_shape
        back = cv2.invertAffineTransform(cv2.getRotationMatrix2D((w / 2, h / 2), self.angle, 1.0))
        return corners @ back[:, :2].T + back[:, 2]


def _covers(group: Group, other: Group, space: float) -> bool:
    """Whether ``other`` is a part of ``group``'s stave (or lies on it)."""
    a, b = max(group.left, other.left), min(group.right, other.right)
    if a >= b:
        return False
    x = (a + b) / 2
    here = np.interp(x, group.xs, group.middles)
    there = np.interp(x, other.xs, other.middles)
    return bool(abs(here - there) < 4 * space)


LINE_EVIDENCE = 0.1  # share of a stave's columns where all five lines must stand out
# A strip detection whose lines stand out in fewer of its columns than this is not traced
# (noise on a blank page gives hundreds; each trace costs some 80 ms on an A4 page).
TRACE_EVIDENCE = 0.05


def _lines_stand_out(dark: np.ndarray, group: Group) -> float:
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
PARTIAL = 0.6  # of a page's width: staves found spanning less leave room for others
NARROW_LEAST = 24  # px: strips as narrow as this where wider ones found no stave (0: none)


def _tilted(
    dark: np.ndarray, contrast: float, space: float, slope: float, rows: tuple[int, int]
) -> list[Group]:
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
    found = strip_staves(horizontal_runs(level, contrast, space), space, 5, 0.4)
    out = []
    for g in merge(found, space, strip_count(w, space, 5)):
        centre = slope * (g.left + g.right) / 2 - lift
        ends = (slope * g.left - lift, slope * g.right - lift)
        out.append(
            Group(
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
    horizontal: np.ndarray, groups: list[Group], space: float
) -> list[tuple[int, int]]:
    """Bands of rows (with a margin) holding line fragments that no stave found so far
    accounts for: where a stave at a slope may be."""
    rest = horizontal.copy()
    for g in groups:
        rest[max(0, int(g.top - 4 * space)) : int(g.bottom + 4 * space) + 1] = 0
    counts = rest.sum(axis=1)
    bands: list[tuple[int, int]] = []
    for a, b in true_runs(counts > 0):
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


def _traced(group: Group, dark: np.ndarray, contrast: float, space: float) -> Group:
    """``trace``d to its ends, where its lines stand out in ``TRACE_EVIDENCE`` of its
    columns at least; as the strips saw it otherwise (it will not pass ``LINE_EVIDENCE``)."""
    if _lines_stand_out(dark, group) < TRACE_EVIDENCE:
        return group
    return trace(group, dark, contrast, space)


def _groups(
    dark: np.ndarray, contrast: float, space: float, partial: float = PARTIAL
) -> list[Group]:
    """The staves in a darkness map, as strip detections joined.

    Strips 10 staff spaces wide first; staves found there are traced to their ends (see
    ``trace``).  Staves only strips half as wide see (short ones on a strongly curled
    page) are added, and short ones at a slope against the rest, where line fragments are
    left unexplained (``_tilted``), on a page with room for several staves or where those
    found span under ``partial`` of its width.
    """
    horizontal = horizontal_runs(dark, contrast, space)
    width = horizontal.shape[1]
    wide = merge(strip_staves(horizontal, space, 10, 0.5), space, strip_count(width, space, 10))
    groups = [_traced(group, dark, contrast, space) for group in wide]

    def add_new(extras: list[Group]) -> None:
        for extra in extras:
            if not any(_covers(group, extra, space) for group in groups):
                groups.append(_traced(extra, dark, contrast, space))

    add_new(merge(strip_staves(horizontal, space, 5, 0.4), space, strip_count(width, space, 5)))
    # Staves at a slope against the rest: on a page with room for several, or where those
    # found leave most of the page's width (a stack of ledger lines over a stave that the
    # deskewing, levelling them, left at a slope; a short curled stave).
    spanned = max((g.right - g.left for g in groups), default=0)
    if dark.shape[0] > 30 * space or spanned < partial * width:
        for rows in _unexplained(horizontal, groups, space):
            for slope in TILTS:
                add_new(_tilted(dark, contrast, space, slope, rows))
    return groups


def _narrow_groups(dark: np.ndarray, contrast: float, space: float) -> list[Group]:
    """``_groups``' last resort: staves seen in strips of five staff spaces as narrow as
    ``NARROW_LEAST`` pixels (none where such strips are no narrower than the usual ones)."""
    if 5 * space >= STRIP_LEAST:
        return []
    horizontal = horizontal_runs(dark, contrast, space)
    found = strip_staves(horizontal, space, 5, 0.4, NARROW_LEAST)
    strips = strip_count(horizontal.shape[1], space, 5, NARROW_LEAST)
    return [_traced(group, dark, contrast, space) for group in merge(found, space, strips)]


def find_staves(
    gray: np.ndarray,
    target_space: float = DEFAULT_SPACE,
    ledger_room: float = DEFAULT_CROP.ledger_room,
) -> list[Staff]:
    """Every stave on a grey page, top to bottom, cropped and normalized: ``ledger_room``
    staff spaces kept above and below its lines, the staff space ``target_space`` pixels.

    Curved staves (photographed pages) are straightened along their lines; where the room
    for ledger lines runs off the page, it is filled with the paper's grey.  Where no
    stave is found at all, the search runs once more in strips as narrow as
    ``NARROW_LEAST`` pixels: a staff of two notes at 100 dpi (some 80 px long) fits in one
    strip of the usual 60 px, and a stave must be seen in two.
    """
    dark, contrast = darkness(gray)
    merged, space, angle, level = _search(gray, dark, contrast, _groups)
    if not merged and NARROW_LEAST:
        merged, space, angle, level = _search(gray, dark, contrast, _narrow_groups)
    staves = []
    for group in drop_ledger_groups(merged, space):
        image = straighten(level, group, target_space, ledger_room)
        staves.append(Staff(group.lines, group.left, group.right, angle, image, target_space))
    return staves


def _search(
    page: np.ndarray,
    dark: np.ndarray,
    contrast: float,
    groups_of: Callable[[np.ndarray, float, float], list[Group]],
) -> tuple[list[Group], float, float, np.ndarray]:
    """The staves ``groups_of`` finds on a page (with its darkness map and contrast), at
    full contrast and then half, at the measured staff space and then half: the groups, the
    staff space and skew angle they were found at, and the levelled page."""
    gray = page
    merged: list[Group] = []
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
                for group in groups_of(level_dark, faint * level_contrast, guess)
                if _lines_stand_out(level_dark, group) >= LINE_EVIDENCE
            ]
            if merged:
                space = guess
                break
        if merged:
            break
    return merged, space, angle, gray


OTHER_SIZES = (0.5, 0.7, 1.4, 2.0)  # staff spaces tried, as factors of the page's


def unread_groups(gray: np.ndarray, staves: list[Staff]) -> list[float]:
    """Five-line groups on a page that ``find_staves`` did not read: it reads the staves of
    one staff size a page, so groups are looked for at other sizes (``OTHER_SIZES``) too.
    Returns the y (pixels, deskewed page) of each such group's middle line, top to bottom;
    nothing when the page had no stave to measure its size by."""
    if not staves:
        return []
    space = float(np.median([s.page_space for s in staves]))
    angle = staves[0].angle
    level = rotate(gray, angle) if abs(angle) > 1e-3 else gray
    dark, contrast = darkness(level)
    # Groups within two staff spaces of a stave read are its ledger lines (as
    # ``drop_ledger_groups`` has them), not a stave of another size.
    taken = [(s.lines[0] - 2 * s.page_space, s.lines[-1] + 2 * s.page_space) for s in staves]
    found: list[float] = []
    for factor in OTHER_SIZES:
        guess = space * factor
        if guess < 3:
            continue
        for group in _groups(dark, contrast, guess, partial=0.0):  # as pages of one size
            if _lines_stand_out(dark, group) < LINE_EVIDENCE:
                continue
            a, b = group.lines[0], group.lines[-1]
            if any(a < hi and b > lo for lo, hi in taken):
                continue
            taken.append((a - guess, b + guess))
            found.append(float(group.lines[2]))
    return sorted(found)
