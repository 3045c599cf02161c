from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fpdf import FPDF
from PIL import Image

from omr.data.build import ground_truth_pdf
from omr.read.load import LoadError, PageImage, TextPages, find_inputs, load

SAMPLE = Path(__file__).resolve().parents[1] / "datasets" / "sample"


def staff_image(w: int = 200, h: int = 60) -> np.ndarray:
    img = np.full((h, w), 255, np.uint8)
    for k in range(5):
        img[10 + 8 * k, 5:-5] = 0
    return img


def test_png_grey_and_rgba_composited_on_white(tmp_path: Path) -> None:
    Image.fromarray(staff_image()).save(tmp_path / "g.png")
    rgba = np.zeros((60, 200, 4), np.uint8)  # fully transparent black ...
    rgba[10, 5:-5] = (0, 0, 0, 255)  # ... but one opaque black line
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    [g] = load(tmp_path / "g.png")
    [a] = load(tmp_path / "a.png")
    assert isinstance(g, PageImage) and g.image.dtype == np.uint8 and g.image[10, 50] == 0
    assert a.image[30, 100] == 255 and a.image[10, 100] == 0  # transparency became paper


def test_palette_16_bit_bmp_webp_and_multipage_tiff(tmp_path: Path) -> None:
    Image.fromarray(staff_image()).convert("P").save(tmp_path / "p.png")
    deep = Image.fromarray(staff_image().astype(np.uint16) * 257)
    assert deep.mode.startswith("I")  # a 16-bit image
    deep.save(tmp_path / "d.png")
    Image.fromarray(staff_image()).save(tmp_path / "b.bmp")
    Image.fromarray(staff_image()).convert("RGB").save(tmp_path / "w.webp", lossless=True)
    frames = [Image.fromarray(staff_image()), Image.fromarray(255 - staff_image())]
    frames[0].save(tmp_path / "t.tif", save_all=True, append_images=frames[1:])
    for name in ("p.png", "d.png", "b.bmp", "w.webp"):
        [page] = load(tmp_path / name)
        assert page.image[10, 50] < 30 and page.image[30, 50] > 225, name
    tiff = load(tmp_path / "t.tif")
    assert [p.page for p in tiff] == [1, 2] and tiff[1].image[30, 50] == 0


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    img = Image.fromarray(staff_image(200, 60)).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: rotate 90 degrees to show upright
    img.save(tmp_path / "photo.jpg", exif=exif)
    [page] = load(tmp_path / "photo.jpg")
    assert page.image.shape == (200, 60)


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("empty.png", b"", "empty file"),
        ("noise.jpg", b"this is not an image at all" * 10, "not an image"),
        ("notes.txt", b"hello", "unsupported file type .txt"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(
    tmp_path: Path, name: str, data: bytes, problem: str
) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(LoadError, match=problem) as info:
        load(tmp_path / name)
    assert str(tmp_path / name) in str(info.value)


def test_truncated_and_huge_images(tmp_path: Path) -> None:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 300), np.uint8)).save(
        tmp_path / "x.png"
    )
    data = (tmp_path / "x.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(LoadError, match="damaged or truncated"):
        load(tmp_path / "cut.png")
    Image.new("1", (13000, 12000), 1).save(tmp_path / "huge.png")
    with pytest.raises(LoadError, match="too large"):
        load(tmp_path / "huge.png")
    with pytest.raises(LoadError, match="no such file"):
        load(tmp_path / "missing.png")


def test_pdf_of_label_text_is_read_as_text(tmp_path: Path) -> None:
    lines = ["clef:G2 key:1 time:3/4 2:2 2:8 3:8 3+:8 | 4:4 |", "2 2 3 3+ 4 3+ 3 2+ 2 1+"]
    (tmp_path / "truth.pdf").write_bytes(ground_truth_pdf(lines))
    loaded = load(tmp_path / "truth.pdf")
    assert isinstance(loaded, TextPages) and loaded.lines == lines
    sample = load(SAMPLE / "ground-truth.pdf")
    assert isinstance(sample, TextPages) and len(sample.lines) == 18


def test_pdf_of_engraved_music_is_rasterized_page_by_page(tmp_path: Path) -> None:
    pdf = FPDF(unit="pt", format="A4")
    for name in ("clean/00000.png", "synthesized/00000.png"):
        pdf.add_page()
        pdf.image(str(SAMPLE / name), x=40, y=80, w=500)
        pdf.set_font("Helvetica", size=14)
        pdf.text(40, 60, "A title that is not stave text")
    (tmp_path / "music.pdf").write_bytes(bytes(pdf.output()))
    pages = load(tmp_path / "music.pdf")
    assert not isinstance(pages, TextPages)
    pages = list(pages)  # rendered one at a time as they are iterated
    assert [p.page for p in pages] == [1, 2]
    h, w = pages[0].image.shape
    assert abs(w - 2480) <= 2 and abs(h - 3508) <= 2  # A4 at 300 dpi
    assert pages[0].image.min() < 50  # the music is there


def test_empty_and_encrypted_pdfs(tmp_path: Path) -> None:
    import pypdfium2

    doc = pypdfium2.PdfDocument.new()
    doc.save(tmp_path / "nopages.pdf")
    with pytest.raises(LoadError, match="no pages"):
        load(tmp_path / "nopages.pdf")
    pdf = FPDF()
    pdf.add_page()
    pdf.set_encryption(owner_password="owner", user_password="secret")
    (tmp_path / "locked.pdf").write_bytes(bytes(pdf.output()))
    with pytest.raises(LoadError, match="encrypted"):
        load(tmp_path / "locked.pdf")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj garbage")
    with pytest.raises(LoadError, match="damaged PDF"):
        load(tmp_path / "broken.pdf")


def test_find_inputs_walks_folders(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/1.png", "a/b/2.PDF", "a/b/notes.txt", "a/.hidden.png"):
        (tmp_path / name).write_bytes(b"x")
    found = find_inputs([tmp_path / "a"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/1.png", "a/b/2.PDF"]
