"""Stage 1 of the OMR: read an input file into page images, or into truth text.

Images: PNG, JPEG, TIFF (every page), BMP, WebP; EXIF orientation applied, alpha composited on
white, palette, grey, 16-bit and CMYK images converted to 8-bit grey.  PDFs: a PDF whose
text layer holds stave text (label sequences, like ``ground-truth.pdf`` of ``omr.dataset``)
is read as text; any other PDF is rasterized at 300 dpi, page after page.

Every problem raises ``LoadError`` naming the file: unreadable, truncated or empty files,
encrypted or empty PDFs, images too large to process, paths that are no regular file (a
FIFO named ``x.png`` is refused, not waited on forever).  A rasterized PDF is a ``PdfPages``:
its pages are rendered one at a time as they are iterated, so a long PDF is never held in
memory whole.
"""

from __future__ import annotations

import stat
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from stave.stavetext import StaveTextError, parse_line

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
PDF_SUFFIXES = {".pdf"}
SUFFIXES = IMAGE_SUFFIXES | PDF_SUFFIXES
MAX_PIXELS = 150_000_000  # about 12,000 x 12,000; a 300 dpi A4 page is 8.7 million
MAX_SIDE = 32_767  # OpenCV's geometric functions take no side longer (SHRT_MAX)
Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's bomb check at this module's limit
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


def _check_regular(path: Path) -> None:
    """``LoadError`` unless ``path`` is a regular file (opening a FIFO would wait forever)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise LoadError(path, "no such file") from None
    except OSError as err:
        raise LoadError(path, f"cannot read ({err.strerror or err})") from None
    if stat.S_ISDIR(mode):
        raise LoadError(path, "is a folder, not a file")
    if not stat.S_ISREG(mode):
        raise LoadError(path, "not a regular file (a FIFO, socket or device)")


def _check_size(path: Path, w: int, h: int, what: str = "image") -> None:
    if w * h > MAX_PIXELS:
        raise LoadError(
            path, f"{what} of {w} x {h} pixels is too large (limit {MAX_PIXELS:,} pixels)"
        )
    if max(w, h) > MAX_SIDE:
        raise LoadError(
            path, f"{what} of {w} x {h} pixels is too long (limit {MAX_SIDE:,} pixels a side)"
        )


def find_inputs(paths: list[Path]) -> list[Path]:
    """Files to read: the files given, and the images and PDFs under folders (recursively),
    each once (a file given twice, or also found in a folder given, is read once)."""
    out: list[Path] = []
    seen: set[Path] = set()
    for path in paths:
        found = (
            sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith(".")
            )
            if path.is_dir()
            else [path]
        )
        for p in found:
            try:
                key = p.resolve()
            except (OSError, RuntimeError):  # a symlink loop: load() reports it
                key = p.absolute()
            if key not in seen:
                seen.add(key)
                out.append(p)
    return out


def to_grey(img: Image.Image) -> np.ndarray:
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
    """Every frame of an image file (a regular file: ``load`` checks) as a grey page."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                _check_size(path, *img.size)
                pages = []
                for frame in range(getattr(img, "n_frames", 1)):
                    img.seek(frame)
                    img.load()
                    pages.append(PageImage(path, frame + 1, to_grey(img.copy())))
    except LoadError:
        raise
    except FileNotFoundError:
        raise LoadError(path, "no such file") from None
    except PermissionError:
        raise LoadError(path, "cannot read (permission denied)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise LoadError(
            path, f"image too large to process (over the limit of {MAX_PIXELS:,} pixels)"
        ) from None
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


def _pdf_error(path: Path, err: Exception) -> LoadError:
    """The ``LoadError`` for what pdfminer or pdfium raised on ``path``."""
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

    if isinstance(err, LoadError):
        return err
    # pdfplumber wraps pdfminer's errors: PdfminerException(PDFPasswordIncorrect()).
    wrapped = [err, *(a for a in err.args if isinstance(a, BaseException))]
    if any(isinstance(a, PDFPasswordIncorrect | PDFEncryptionError) for a in wrapped) or (
        "password" in str(err).lower() or "encrypt" in str(err).lower()
    ):
        return LoadError(path, "encrypted PDF (a password is needed)")
    return LoadError(path, f"damaged PDF ({type(err).__name__}: {err})")


class PdfPages:
    """The pages of a PDF of engraved music, rendered at ``dpi`` one at a time as they are
    iterated (a 120-page PDF is never in memory whole); ``len`` is the page count."""

    def __init__(self, path: Path, count: int, dpi: int = PDF_DPI) -> None:
        self.path, self.count, self.dpi = path, count, dpi

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[PageImage]:
        import pdfplumber

        path, dpi = self.path, self.dpi
        try:
            with pdfplumber.open(path) as pdf:
                for number, page in enumerate(pdf.pages, start=1):
                    w, h = round(page.width * dpi / 72), round(page.height * dpi / 72)
                    _check_size(path, w, h, f"page {number} at {dpi} dpi")
                    rendered = page.to_image(resolution=dpi).original
                    grey = to_grey(rendered)
                    del rendered
                    page.close()  # pdfplumber keeps every page's layout objects otherwise
                    yield PageImage(path, number, grey)
        except Exception as err:
            raise _pdf_error(path, err) from None


def load_pdf(path: Path, dpi: int = PDF_DPI) -> TextPages | PdfPages:
    """A PDF (a regular file: ``load`` checks) as its text layer's stave text, or its pages."""
    import pdfplumber

    if path.stat().st_size == 0:
        raise LoadError(path, "empty file")
    try:
        with pdfplumber.open(path) as pdf:
            if not pdf.pages:
                raise LoadError(path, "PDF has no pages")
            texts = []
            for page in pdf.pages:
                texts.append(page.extract_text(x_tolerance=1.5, y_tolerance=2) or "")
                page.close()
            lines = _stave_lines("\n".join(texts))
            if lines is not None:
                return TextPages(path, lines)
            return PdfPages(path, len(pdf.pages), dpi)
    except Exception as err:  # pdfminer (PDFSyntaxError and more) and pdfium raise many types
        raise _pdf_error(path, err) from None


def load(path: Path) -> TextPages | list[PageImage] | PdfPages:
    """Read one input file by its suffix."""
    _check_regular(path)
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
