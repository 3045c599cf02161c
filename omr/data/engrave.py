"""Engrave one stave with Verovio and rasterize it with resvg; read its geometry from the SVG.

Verovio's SVG gives every staff line and notehead in page coordinates, which the dataset
builder uses to crop and the tests use to check the truth against the drawing.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

FONTS = ("Leipzig", "Bravura", "Gootville", "Leland", "Petaluma")
SVG_NS = "{http://www.w3.org/2000/svg}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_TRANSLATE = re.compile(r"translate\(\s*(-?[\d.]+)[ ,]+(-?[\d.]+)\s*\)")
_HLINE = re.compile(r"M\s*(-?[\d.]+)\s+(-?[\d.]+)\s+L\s*(-?[\d.]+)\s+(-?[\d.]+)")
SPACE_AT_SCALE_100 = 18.0  # px between staff lines at Verovio's scale 100 (unit 9)


class EngravingError(RuntimeError):
    """Verovio could not engrave the input, or drew no staff."""


@dataclass(frozen=True)
class EngravingSettings:
    font: str = "Leipzig"
    staff_space: float = 18.0  # px between staff lines
    spacing_linear: float = 0.25
    spacing_non_linear: float = 0.6
    staff_line_width: float = 0.15  # in staff-space units, as Verovio's options
    stem_width: float = 0.2
    bar_line_width: float = 0.3
    ledger_line_thickness: float = 0.25
    margin_above: float = 2.5  # staff spaces kept above the top line (at least)
    margin_below: float = 2.5
    margin_side: float = 1.0

    @classmethod
    def sample(
        cls,
        rng: np.random.Generator,
        staff_space: tuple[float, float] = (12, 24),
        margins: tuple[float, float] = (1.5, 3.5),
    ) -> EngravingSettings:
        return cls(
            font=str(rng.choice(FONTS)),
            staff_space=round(float(rng.uniform(*staff_space)), 2),
            spacing_linear=round(float(rng.uniform(0.15, 0.45)), 3),
            spacing_non_linear=round(float(rng.uniform(0.45, 0.75)), 3),
            staff_line_width=round(float(rng.uniform(0.1, 0.25)), 3),
            stem_width=round(float(rng.uniform(0.12, 0.35)), 3),
            bar_line_width=round(float(rng.uniform(0.2, 0.6)), 3),
            ledger_line_thickness=round(float(rng.uniform(0.15, 0.4)), 3),
            margin_above=round(float(rng.uniform(*margins)), 2),
            margin_below=round(float(rng.uniform(*margins)), 2),
            margin_side=round(float(rng.uniform(0.3, 2.0)), 2),
        )

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class Engraving:
    image: np.ndarray  # (H, W) uint8, white paper, black ink, cropped around the staff
    staff_lines: list[float]  # y of the five lines in the crop, top to bottom
    noteheads: list[tuple[float, float, str]]  # (x, y, SMuFL glyph) in the crop, in order
    rests: int

    @property
    def staff_space(self) -> float:
        return (self.staff_lines[-1] - self.staff_lines[0]) / 4

    def notehead_steps(self) -> list[int]:
        """Staff step of each notehead from where it is drawn (2 = bottom line)."""
        bottom, half = self.staff_lines[-1], self.staff_space / 2
        return [2 + round((bottom - y) / half) for _, y, _ in self.noteheads]


@functools.cache
def _toolkit() -> object:
    import verovio

    verovio.enableLog(verovio.LOG_OFF)
    return verovio.toolkit()


@functools.cache
def _text_fonts() -> tuple[str, ...]:
    """Text fonts shipped inside matplotlib, so lyrics render the same on every machine."""
    import matplotlib

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return tuple(
        str(ttf / f) for f in ("DejaVuSerif.ttf", "DejaVuSans.ttf", "DejaVuSerif-Italic.ttf")
    )


def render_svg(mei: str, settings: EngravingSettings) -> str:
    tk = _toolkit()
    tk.setOptions(  # type: ignore[attr-defined]
        {
            "breaks": "none",
            "adjustPageHeight": True,
            "adjustPageWidth": True,
            "header": "none",
            "footer": "none",
            "scale": max(1, round(100 * settings.staff_space / SPACE_AT_SCALE_100)),
            "font": settings.font,
            "spacingLinear": settings.spacing_linear,
            "spacingNonLinear": settings.spacing_non_linear,
            "staffLineWidth": settings.staff_line_width,
            "stemWidth": settings.stem_width,
            "barLineWidth": settings.bar_line_width,
            "ledgerLineThickness": settings.ledger_line_thickness,
            "xmlIdSeed": 1,
            "pageMarginTop": 100,
            "pageMarginBottom": 100,
            "pageMarginLeft": 50,
            "pageMarginRight": 50,
        }
    )
    if not tk.loadData(mei):  # type: ignore[attr-defined]
        raise EngravingError("Verovio could not read the MEI")
    svg = str(tk.renderToSVG(1))  # type: ignore[attr-defined]
    if 'class="staff"' not in svg:
        raise EngravingError("Verovio drew no staff")
    return svg


def rasterize(svg: str, window: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """The SVG as a grey image; ``window`` (x0, y0, x1, y1 in px) renders only that part."""
    import resvg_py

    if window is not None:
        # Show only the window: the outer viewport becomes the window, and the inner
        # (scaled) drawing keeps the page size it had, so coordinates stay those of the page.
        x0, y0, x1, y1 = window
        w, h = x1 - x0, y1 - y0
        m = re.search(r'<svg width="([\d.]+)px" height="([\d.]+)px"', svg)
        if m is None:
            raise EngravingError("unexpected SVG header")
        page_w, page_h = m.group(1), m.group(2)
        svg = (
            svg[: m.start()]
            + f'<svg width="{w}px" height="{h}px" viewBox="{x0} {y0} {w} {h}"'
            + svg[m.end() :]
        )
        svg = svg.replace(
            '<svg class="definition-scale"',
            f'<svg class="definition-scale" width="{page_w}" height="{page_h}"',
            1,
        )
    png = resvg_py.svg_to_bytes(
        svg_string=svg,
        background="white",
        skip_system_fonts=True,
        font_files=list(_text_fonts()),
        serif_family="DejaVu Serif",
        sans_serif_family="DejaVu Sans",
        font_family="DejaVu Serif",
    )
    image = cv2.imdecode(np.frombuffer(bytes(png), np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise EngravingError("resvg produced no image")
    return image


def _geometry(
    svg: str,
) -> tuple[list[tuple[float, float, float]], list[tuple[float, float, str]], int]:
    """Staff-line segments (x0, x1, y), noteheads (x, y, glyph) and the rest count, in px."""
    root = ET.fromstring(svg)
    width_px = float(root.attrib["width"].removesuffix("px"))
    inner = root.find(f"{SVG_NS}svg")
    if inner is None:
        raise EngravingError("unexpected SVG structure")
    view_width = float(inner.attrib["viewBox"].split()[2])
    k = width_px / view_width
    ox = oy = 0.0
    for g in inner.iter(f"{SVG_NS}g"):
        if g.attrib.get("class") == "page-margin":
            m = _TRANSLATE.search(g.attrib.get("transform", ""))
            if m:
                ox, oy = float(m.group(1)), float(m.group(2))
            break
    lines: list[tuple[float, float, float]] = []
    heads: list[tuple[float, float, str]] = []
    rests = 0
    for g in inner.iter(f"{SVG_NS}g"):
        cls = g.attrib.get("class", "")
        if cls == "staff":
            for path in g.findall(f"{SVG_NS}path"):
                m = _HLINE.match(path.attrib.get("d", ""))
                if m and m.group(2) == m.group(4):
                    x0, y, x1 = float(m.group(1)), float(m.group(2)), float(m.group(3))
                    lines.append(((x0 + ox) * k, (x1 + ox) * k, (y + oy) * k))
        elif cls == "notehead":
            use = g.find(f"{SVG_NS}use")
            if use is not None:
                m = _TRANSLATE.search(use.attrib.get("transform", ""))
                glyph = use.attrib.get(XLINK_HREF, "#")[1:].split("-")[0]
                if m:
                    heads.append(
                        ((float(m.group(1)) + ox) * k, (float(m.group(2)) + oy) * k, glyph)
                    )
        elif cls == "rest":
            rests += 1
    return lines, heads, rests


def engrave(mei: str, settings: EngravingSettings) -> Engraving:
    """Engrave one stave and crop it: the staff, margins above and below, every notehead."""
    svg = render_svg(mei, settings)
    segments, heads, rests = _geometry(svg)
    ys = sorted({round(y, 1) for _, _, y in segments})
    if len(ys) != 5:
        raise EngravingError(f"expected one five-line staff, found {len(ys)} line heights")
    space = (ys[-1] - ys[0]) / 4
    top = ys[0] - settings.margin_above * space
    bottom = ys[-1] + settings.margin_below * space
    if heads:
        top = min(top, min(y for _, y, _ in heads) - 1.5 * space)
        bottom = max(bottom, max(y for _, y, _ in heads) + 1.5 * space)
    left = min(x0 for x0, _, _ in segments) - settings.margin_side * space
    right = max(x1 for _, x1, _ in segments) + settings.margin_side * space
    y0, y1 = int(np.floor(top)), int(np.ceil(bottom))
    x0, x1 = int(np.floor(left)), int(np.ceil(right))
    crop = rasterize(svg, (x0, y0, x1, y1))
    return Engraving(
        image=crop,
        staff_lines=[y - y0 for y in ys],
        noteheads=[(x - x0, y - y0, g) for x, y, g in heads],
        rests=rests,
    )
