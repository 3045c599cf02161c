"""``omr.extract --preview``: one picture per input of what was read, to check a page in
seconds: each page with every stave found outlined and numbered (groups of five lines left
unread marked in red), and under it each stave read, engraved again by Verovio from the
stave text, with its number and confidence."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from omr.data.engrave import EngravingError, EngravingSettings, rasterize, render_svg
from omr.data.mei import staves_to_mei
from stave.stavetext import Token

COLOURS = ((200, 90, 0), (0, 130, 0), (160, 0, 160), (0, 110, 200))  # BGR, stave by stave
UNREAD = (0, 0, 230)
ENGRAVING = EngravingSettings(staff_space=10.0)
FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE = 255


def engraved(tokens: Sequence[Token], width: int) -> np.ndarray | None:
    """One stave read, engraved (grey), at most ``width`` wide; None if Verovio cannot."""
    try:
        image = rasterize(render_svg(staves_to_mei(tokens), ENGRAVING))
    except (EngravingError, ValueError):
        return None
    if image.shape[1] > width:
        scale = width / image.shape[1]
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return image


def _caption(text: str, width: int, colour: tuple[int, int, int]) -> np.ndarray:
    band = np.full((30, width, 3), WHITE, np.uint8)
    cv2.putText(band, text, (8, 21), FONT, 0.6, colour, 1, cv2.LINE_AA)
    return band


def _padded(image: np.ndarray, width: int) -> np.ndarray:
    """``image`` (grey or BGR) as BGR, padded with white on the right to ``width``."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[1] < width:
        pad = np.full((image.shape[0], width - image.shape[1], 3), WHITE, np.uint8)
        image = np.hstack([image, pad])
    return image


def picture(
    pictures: Sequence[np.ndarray],
    outlines: Sequence[tuple[int, np.ndarray]],
    lines: Sequence[Sequence[Token]],
    confidence: Sequence[float],
    unread: Sequence[tuple[int, float]] = (),
    scales: Sequence[float] = (),
    note: str = "",
) -> np.ndarray:
    """The preview (BGR): page after page, each followed by the staves read on it.

    ``outlines``: (page, 4 corners in its picture) per stave, in reading order, as
    ``lines`` and ``confidence``; ``unread``: (page, y in page pixels) of groups not read,
    drawn at ``scales[page]`` (the picture's size over the page's); ``note``: a line said
    above everything (why nothing was read, say).
    """
    width = max([p.shape[1] for p in pictures] + [600])
    blocks: list[np.ndarray] = []
    if note:
        blocks.append(_caption(note, width, UNREAD))
    placed = [False] * len(lines)
    for index, page in enumerate(pictures):
        image = cv2.cvtColor(page, cv2.COLOR_GRAY2BGR)
        mine = [k for k, (p, _) in enumerate(outlines) if p == index and k < len(lines)]
        for k in mine:
            colour = COLOURS[k % len(COLOURS)]
            corners = np.round(outlines[k][1]).astype(np.int32)
            cv2.polylines(image, [corners], True, colour, 2)  # no smoothing: exact colours
            left, top = int(corners[0][0]), int(corners[0][1])
            place = (max(2, left - 4), max(18, top - 6))
            cv2.putText(image, str(k + 1), place, FONT, 0.7, colour, 2)
        for p, y in unread:
            if p == index:
                row = round(y * (scales[p] if p < len(scales) else 1.0))
                cv2.line(image, (0, row), (image.shape[1] - 1, row), UNREAD, 1)
                cv2.putText(image, "not read?", (4, max(14, row - 4)), FONT, 0.5, UNREAD, 1)
        if len(pictures) > 1:
            blocks.append(_caption(f"page {index + 1}", width, (0, 0, 0)))
        blocks.append(_padded(image, width))
        for k in mine:
            blocks.extend(_stave_blocks(k, lines[k], confidence, width))
            placed[k] = True
    for k, line in enumerate(lines):  # staves of no picture (a PDF's text layer)
        if not placed[k]:
            blocks.extend(_stave_blocks(k, line, confidence, width))
    return np.vstack(blocks) if blocks else _caption("nothing read", width, UNREAD)


def _stave_blocks(
    k: int, tokens: Sequence[Token], confidence: Sequence[float], width: int
) -> list[np.ndarray]:
    colour = COLOURS[k % len(COLOURS)]
    sure = f", confidence {confidence[k]:.2f}" if k < len(confidence) else ""
    image = engraved(tokens, width)
    if image is None:
        return [_caption(f"stave {k + 1}{sure}: Verovio could not engrave it", width, UNREAD)]
    return [_caption(f"stave {k + 1}{sure}", width, colour), _padded(image, width)]


def png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("the preview could not be encoded as PNG")
    return data.tobytes()
