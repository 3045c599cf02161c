"""Make a clean engraved stave look photographed or scanned.

Modelled on the camera photos of printed staves in the CPMS collection: tight crops with the
edges of neighbouring staves (lyrics, chord symbols, notes) cut into the top and bottom, grey
or warm paper with texture, uneven light and shadows, slight perspective, rotation and page
curl, defocus, sensor noise and JPEG compression, and at times the print of the other side of
the page showing through.  Every step draws its parameters from the generator it is given, so
one seed gives one picture; ``DegradeParams`` records them for the manifest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np


@dataclass
class DegradeParams:
    neighbour_top: float = 0.0  # share of the height added above (from another stave's bottom)
    neighbour_bottom: float = 0.0
    bleed: float = 0.0  # strength of the mirrored print showing through
    perspective: float = 0.0  # corner displacement, as a share of the size
    rotation: float = 0.0  # degrees
    curl: float = 0.0  # vertical bow of the staff, as a share of the height
    wave: float = 0.0  # sinusoidal warp amplitude, as a share of the height
    paper: tuple[int, int, int] = (235, 235, 235)  # BGR
    texture: float = 0.0
    ink: int = 20
    light: float = 0.0  # depth of the lighting gradient
    shadow: float = 0.0  # depth of a hard-edged shadow
    blur: float = 0.0  # Gaussian sigma in px
    defocus: int = 0  # disk radius in px
    noise: float = 0.0  # sensor noise sigma (0..255)
    scale: float = 1.0
    jpeg: int = 95

    def as_dict(self) -> dict[str, object]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    @classmethod
    def sample(cls, rng: np.random.Generator) -> DegradeParams:
        # Ranges tuned so that bench/realism.py's statistics (paper and ink brightness,
        # contrast, warmth, sharpness, noise) match the CPMS photos' medians and spread.
        warm = rng.uniform(4, 14)
        base = rng.uniform(190, 245)
        return cls(
            neighbour_top=float(rng.uniform(0.03, 0.25)) if rng.random() < 0.7 else 0.0,
            neighbour_bottom=float(rng.uniform(0.03, 0.25)) if rng.random() < 0.7 else 0.0,
            bleed=float(rng.uniform(0.04, 0.12)) if rng.random() < 0.3 else 0.0,
            perspective=float(rng.uniform(0, 0.04)),
            rotation=float(rng.normal(0, 0.8)),
            curl=float(rng.uniform(-0.12, 0.12)) if rng.random() < 0.5 else 0.0,
            wave=float(rng.uniform(0, 0.025)) if rng.random() < 0.3 else 0.0,
            paper=(int(base - warm), int(base - warm / 3), int(min(255, base + warm / 4))),
            texture=float(rng.uniform(0.0, 0.06)),
            ink=int(rng.uniform(10, 60)),
            light=float(rng.uniform(0.0, 0.3)),
            shadow=float(rng.uniform(0.15, 0.45)) if rng.random() < 0.25 else 0.0,
            blur=float(rng.uniform(0.0, 0.6)),
            defocus=int(rng.integers(1, 3)) if rng.random() < 0.1 else 0,
            noise=float(rng.uniform(3.0, 11.0)),
            scale=float(rng.uniform(0.75, 1.25)),
            jpeg=int(rng.integers(50, 96)),
        )


def _with_neighbours(
    img: np.ndarray, above: np.ndarray | None, below: np.ndarray | None, p: DegradeParams
) -> np.ndarray:
    """Add the bottom of one stave above and the top of another below, as a tight crop has.

    ``above`` and ``below`` are expected at the stave's scale (the same page).
    """
    h, w = img.shape
    white = np.full((h, w), 255, np.uint8)
    parts = []
    if above is not None and p.neighbour_top > 0:
        n = max(1, int(h * p.neighbour_top))
        parts.append(np.vstack([white, _fit_width(above, w)])[-n:])
    parts.append(img)
    if below is not None and p.neighbour_bottom > 0:
        n = max(1, int(h * p.neighbour_bottom))
        parts.append(np.vstack([_fit_width(below, w), white])[:n])
    return np.vstack(parts)


def _fit_width(img: np.ndarray, w: int) -> np.ndarray:
    """Cut or pad (with paper) to width ``w``; neighbours keep their own scale."""
    if img.shape[1] >= w:
        return img[:, :w]
    return np.hstack([img, np.full((img.shape[0], w - img.shape[1]), 255, np.uint8)])


def _warp(ink: np.ndarray, p: DegradeParams, rng: np.random.Generator) -> np.ndarray:
    h, w = ink.shape
    # Perspective and rotation in one homography.
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    jitter = rng.uniform(-1, 1, (4, 2)) * p.perspective * np.array([w, h]) * np.array([0.3, 1.0])
    dst = src + jitter.astype(np.float32)
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), p.rotation, 1.0)
    dst = (np.hstack([dst, np.ones((4, 1), np.float32)]) @ rot.T).astype(np.float32)
    m = cv2.getPerspectiveTransform(np.asarray(src, np.float32), np.asarray(dst, np.float32))
    ink = cv2.warpPerspective(ink, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)
    if p.curl or p.wave:
        xs = np.arange(w, dtype=np.float32) / max(1, w - 1)
        dy = p.curl * h * (4 * (xs - 0.5) ** 2 - 1 / 3)
        dy += p.wave * h * np.sin(2 * np.pi * (xs * rng.uniform(0.5, 2.0) + rng.uniform(0, 1)))
        map_x = np.tile(np.arange(w, dtype=np.float32), (h, 1))
        map_y = np.arange(h, dtype=np.float32)[:, None] + dy[None, :].astype(np.float32)
        ink = cv2.remap(ink, map_x, map_y, cv2.INTER_LINEAR, borderValue=0.0)
    return ink


def _smooth_field(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    small = rng.standard_normal((cells, max(2, cells * w // max(1, h)))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def degrade(
    img: np.ndarray,
    rng: np.random.Generator,
    params: DegradeParams | None = None,
    above: np.ndarray | None = None,
    below: np.ndarray | None = None,
    through: np.ndarray | None = None,
) -> tuple[np.ndarray, DegradeParams]:
    """A grey engraving (white paper, black ink) -> a BGR photo-like image, and its parameters."""
    p = params or DegradeParams.sample(rng)
    gray = _with_neighbours(img, above, below, p)
    h, w = gray.shape
    ink = 1.0 - gray.astype(np.float32) / 255.0
    if through is not None and p.bleed > 0:
        back = cv2.resize(cv2.flip(through, 1), (w, h))
        back = cv2.GaussianBlur(1.0 - back.astype(np.float32) / 255.0, (0, 0), 1.5)
        ink = np.maximum(ink, back * p.bleed)
    ink = _warp(ink, p, rng)
    paper = np.empty((h, w, 3), np.float32)
    paper[:] = np.array(p.paper, np.float32)
    if p.texture:
        paper *= (1 + p.texture * _smooth_field(rng, h, w, 6))[..., None]
        paper += rng.normal(0, 255 * p.texture / 6, (h, w, 1)).astype(np.float32)
    out = paper * (1 - ink[..., None]) + p.ink * ink[..., None]
    # Light falling off across the page, and a shadow with a soft straight edge.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    g = (np.cos(angle) * xx / w + np.sin(angle) * yy / h).astype(np.float32)
    g = (g - g.min()) / max(1e-6, float(g.max() - g.min()))
    out *= (1 - p.light * g)[..., None]
    if p.shadow:
        a2 = rng.uniform(0, 2 * np.pi)
        d = np.cos(a2) * (xx - rng.uniform(0, w)) + np.sin(a2) * (yy - rng.uniform(0, h))
        edge = 1 / (1 + np.exp(-d / max(2.0, 0.02 * w)))
        out *= (1 - p.shadow * edge)[..., None]
    if p.defocus:
        r = p.defocus
        kernel = np.zeros((2 * r + 1, 2 * r + 1), np.float32)
        cv2.circle(kernel, (r, r), r, 1.0, -1)
        out = cv2.filter2D(out, -1, kernel / kernel.sum())
    if p.blur > 0.2:
        out = cv2.GaussianBlur(out, (0, 0), p.blur)
    out += rng.normal(0, p.noise, out.shape).astype(np.float32)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if abs(p.scale - 1) > 0.02:
        size = (max(8, round(w * p.scale)), max(8, round(h * p.scale)))
        out = cv2.resize(
            out, size, interpolation=cv2.INTER_AREA if p.scale < 1 else cv2.INTER_CUBIC
        )
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, p.jpeg])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if decoded is None:
        raise RuntimeError("JPEG decoding failed")
    return np.asarray(decoded), p
