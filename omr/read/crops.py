"""Stave crops as the recognizer sees them: found by the staff finder, scaled to a height."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor

from omr.geometry import DEFAULT_CROP, CropShape
from omr.read.staff import Staff, find_staves

# Bumped whenever the staff finder or the crop changes what a stave looks like: crops cached
# by an older version (omr.train's cache) are then made again.  2: curved staves straightened;
# 3: half the measured staff space tried when nothing is found, short curled staves added;
# 4: staves traced strip by strip along their slope, to their ends; 5: the same, trying
# other slopes where a wave turns, and the paper's brightness estimated on sampled pixels;
# 6: ledger lines no longer taken for staff lines, ends followed along the lines past a clef.
# (The crop's height and ledger room are the recognizer's: omr.geometry, its config.)
CROP_VERSION = 6


def stave_crops(gray: np.ndarray, shape: CropShape) -> list[np.ndarray]:
    """Every stave on a page, top to bottom, cut out and scaled as ``shape`` says."""
    return page_staves(gray, shape)[1]


def page_staves(gray: np.ndarray, shape: CropShape) -> tuple[list[Staff], list[np.ndarray]]:
    """Every stave on a page, top to bottom, and its crop as ``stave_crops`` makes it."""
    staves = find_staves(gray, ledger_room=shape.ledger_room)
    return staves, [fit_height(s.image, shape.height) for s in staves]


def main_staff_crop(gray: np.ndarray, shape: CropShape) -> np.ndarray | None:
    """The stave nearest the middle of a single-stave image (photos have neighbours' edges
    cut in), cut out and scaled as ``shape`` says; None when no staff is found."""
    staves = find_staves(gray, ledger_room=shape.ledger_room)
    if not staves:
        return None
    middle = gray.shape[0] / 2
    staff = min(staves, key=lambda s: abs(s.lines[2] - middle))
    return fit_height(staff.image, shape.height)


def fit_height(image: np.ndarray, height: int = DEFAULT_CROP.height) -> np.ndarray:
    k = height / image.shape[0]
    width = max(16, round(image.shape[1] * k))
    return cv2.resize(
        image, (width, height), interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC
    )


def batch(crops: list[np.ndarray]) -> tuple[Tensor, Tensor]:
    """Crops -> (B, 1, H, W) ink-bright floats padded with paper, and their widths (B,)."""
    width = max(c.shape[1] for c in crops)
    out = torch.zeros(len(crops), 1, crops[0].shape[0], width)
    for i, c in enumerate(crops):
        out[i, 0, :, : c.shape[1]] = torch.from_numpy(1.0 - c.astype(np.float32) / 255.0)
    return out, torch.tensor([c.shape[1] for c in crops])
