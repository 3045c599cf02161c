"""Stage 1 of the OMR: read an input file into page images, or into truth text.

Images: PNG, JPEG, TIFF (every page), BMP, WebP; EXIF orientation applied, alpha composited on
white, palette, grey, 16-bit and CMYK images converted to 8-bit grey.  PDFs: a PDF whose
text layer holds stave text (label sequences, like ``ground-truth.pdf`` of ``omr.dataset``)
is read as text; any other PDF is rasterized at 300 dpi, page after page.

Every problem raises ``LoadError`` naming the file: unreadable, truncated or empty files,
encrypted or empty PDFs, images too large to process.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from stave.stavetext import StaveTextError, parse_line

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
PDF_SUFFIXES = {".pdf"}
SUFFIXES = IMAGE_SUFFIXES | PDF_SUFFIXES
MAX_PIXELS = 150_000_000  # about 12,000 x 12,000; a 300 dpi A4 page is 8.7 million
PDF_DPI = 300


class LoadError(ValueError):
    """An input that cannot be read; the message names the file and the problem."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


@dataclass
class PageImage:
    """One page (or image) to look for staves on: 8-bit grey, white paper."""

    source: Path
    page: int  # 1-based
    image: np.ndarray  # (H, W) uint8


@dataclass
class TextPages:
    """A PDF whose text layer is stave text: one line per stave, in reading order."""

    source: Path
    lines: list[str]


def find_inputs(paths: list[Path]) -> list[Path]:
    """Files to read: the files given, and the images and PDFs under folders (recursively)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith(".")
                )
            )
        else:
            out.append(path)
    return out


def _to_grey(img: Image.Image) -> np.ndarray:
    img = ImageOps.exif_transpose(img) or img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = arr.max() if arr.max() > 255 else 255.0
        return (arr / max(1.0, top) * 255).round().astype(np.uint8)
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = arr.max() if arr.max() > 1.0 else 1.0
        return np.clip(arr / top * 255, 0, 255).astype(np.uint8)
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        img = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img)
    return np.asarray(img.convert("L"), dtype=np.uint8)


def load_image(path: Path) -> list[PageImage]:
    """Every frame of an image file as a grey page."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w * h > MAX_PIXELS:
                    raise LoadError(
                        path,
                        f"image of {w} x {h} pixels is too large (limit {MAX_PIXELS:,} pixels)",
                    )
                pages = []
                for frame in range(getattr(img, "n_frames", 1)):
                    img.seek(frame)
                    img.load()
                    pages.append(PageImage(path, frame + 1, _to_grey(img.copy())))
    except LoadError:
        raise
    except FileNotFoundError:
        raise LoadError(path, "no such file") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise LoadError(path, f"image too large to process ({err})") from None
    except UnidentifiedImageError:
        problem = "empty file" if path.stat().st_size == 0 else "not an image this tool can read"
        raise LoadError(path, problem) from None
    except (OSError, SyntaxError, ValueError) as err:  # Pillow: truncated and damaged files
        raise LoadError(path, f"damaged or truncated image ({err})") from None
    for page in pages:
        if min(page.image.shape) < 8:
            raise LoadError(
                path, f"image of {page.image.shape[1]} x {page.image.shape[0]} pixels is too small"
            )
    return pages


def _stave_lines(text: str) -> list[str] | None:
    """The text's lines when every non-blank line is stave text, else None."""
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    if not lines:
        return None
    for line in lines:
        try:
            if not parse_line(" ".join(line.split())):
                return None
        except StaveTextError:
            return None
    return [" ".join(ln.split()) for ln in lines]


def load_pdf(path: Path, dpi: int = PDF_DPI) -> TextPages | list[PageImage]:
    import pdfplumber
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

    if not path.exists():
        raise LoadError(path, "no such file")
    if path.stat().st_size == 0:
        raise LoadError(path, "empty file")
    try:
        with pdfplumber.open(path) as pdf:
            if not pdf.pages:
                raise LoadError(path, "PDF has no pages")
            text = "\n".join(
                page.extract_text(x_tolerance=1.5, y_tolerance=2) or "" for page in pdf.pages
            )
            lines = _stave_lines(text)
            if lines is not None:
                return TextPages(path, lines)
            pages = []
            for number, page in enumerate(pdf.pages, start=1):
                w, h = page.width * dpi / 72, page.height * dpi / 72
                if w * h > MAX_PIXELS:
                    raise LoadError(path, f"page {number} is too large to rasterize at {dpi} dpi")
                rendered = page.to_image(resolution=dpi).original
                pages.append(PageImage(path, number, _to_grey(rendered)))
            return pages
    except LoadError:
        raise
    except (PDFPasswordIncorrect, PDFEncryptionError):
        raise LoadError(path, "encrypted PDF (a password is needed)") from None
    except Exception as err:  # pdfminer (PDFSyntaxError and more) and pdfium raise many types
        # pdfplumber wraps pdfminer's errors: PdfminerException(PDFPasswordIncorrect()).
        wrapped = [a for a in err.args if isinstance(a, BaseException)]
        if any(isinstance(a, PDFPasswordIncorrect | PDFEncryptionError) for a in wrapped) or (
            "password" in str(err).lower() or "encrypt" in str(err).lower()
        ):
            raise LoadError(path, "encrypted PDF (a password is needed)") from None
        raise LoadError(path, f"damaged PDF ({type(err).__name__}: {err})") from None


def load(path: Path) -> TextPages | list[PageImage]:
    """Read one input file by its suffix."""
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES:
        return load_pdf(path)
    if suffix in IMAGE_SUFFIXES:
        return load_image(path)
    raise LoadError(
        path,
        f"unsupported file type {suffix or '(none)'} "
        f"(images: {', '.join(sorted(IMAGE_SUFFIXES))}; PDF)",
    )
