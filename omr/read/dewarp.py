"""Staff finding, step 5b (see ``omr.read.staff``): cutting a curved stave out straight.

The stave is cut out along its traced middle line, with room for ledger lines, and scaled
so the staff space is fixed; a straight stave comes out as a plain crop.
"""

from __future__ import annotations

import cv2
import numpy as np

from omr.geometry import DEFAULT_CROP
from omr.read.lines import Group


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
    gray: np.ndarray,
    group: Group,
    target_space: float,
    ledger_room: float = DEFAULT_CROP.ledger_room,
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
