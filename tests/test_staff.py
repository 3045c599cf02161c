"""Staff finding on staves drawn in the test, then on the committed sample images."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from omr.geometry import DEFAULT_CROP
from omr.read.ink import binarize, darkness, run_lengths
from omr.read.lines import group_staves
from omr.read.staff import Staff, find_staves, unread_groups
from omr.read.trace import _line_ends
from tests.conftest import shared_data

SAMPLE = Path(__file__).resolve().parents[1] / "datasets" / "sample"


def draw_staff(
    img: np.ndarray, top: int, left: int, right: int, space: int = 10, thick: int = 2
) -> list[int]:
    ys = [top + k * space for k in range(5)]
    for y in ys:
        img[y : y + thick, left:right] = 0
    # A few noteheads and stems, so the staff is not bare lines.
    for x in range(left + 30, right - 20, 45):
        cy = ys[2] + (x % 3 - 1) * space // 2
        cv2.ellipse(img, (x, cy), (space // 2 + 1, space // 2 - 1), -20, 0, 360, 0, -1)
        cv2.line(img, (x + space // 2, cy), (x + space // 2, cy - 3 * space), 0, 1)
    return ys


def page(
    staves: int = 1, h: int = 120, w: int = 500, space: int = 10
) -> tuple[np.ndarray, list[list[int]]]:
    img = np.full((h * staves, w), 255, np.uint8)
    truth = [draw_staff(img, 40 + i * h, 20, w - 20, space) for i in range(staves)]
    return img, truth


def test_run_lengths_measure_line_and_space() -> None:
    img, _ = page(space=12)
    thickness, space = run_lengths(binarize(img))
    assert thickness == 2 and space == 12


def test_one_drawn_staff_is_found_with_its_lines() -> None:
    img, [ys] = page()
    [staff] = find_staves(img)
    assert isinstance(staff, Staff)
    assert np.allclose(staff.lines, [y + 0.5 for y in ys], atol=1.0)
    assert staff.left <= 25 and staff.right >= 475
    # The crop keeps room for ledger lines and is scaled to the normalized staff space.
    assert staff.image.shape[0] == pytest.approx(
        (4 + 2 * DEFAULT_CROP.ledger_room) * staff.space, abs=3
    )
    [narrow] = find_staves(img, ledger_room=2.0)
    assert narrow.image.shape[0] == pytest.approx(8 * narrow.space, abs=3)


def test_staves_on_a_page_come_top_to_bottom() -> None:
    img, truth = page(staves=3)
    staves = find_staves(img)
    assert [round(s.lines[0]) for s in staves] == [round(t[0] + 0.5) for t in truth]


def test_rotated_page_with_uneven_light() -> None:
    img, _ = page(staves=3, w=700)
    h, w = img.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 2.5, 1.0)
    rotated = cv2.warpAffine(img, m, (w, h), borderValue=255)
    light = np.linspace(0.45, 1.0, w)[None, :] * np.linspace(1.0, 0.7, h)[:, None]
    photo = (rotated.astype(np.float32) * light).astype(np.uint8)
    staves = find_staves(photo)
    assert len(staves) == 3
    assert staves[0].angle == pytest.approx(-2.5, abs=0.3)
    assert all(s.page_space == pytest.approx(10, abs=0.8) for s in staves)


def bent_staff(bow: float, wave: float, w: int = 900, space: int = 10) -> np.ndarray:
    """A staff whose lines follow a bow (the curl of a photographed page) and a wave, both in
    staff spaces, with noteheads on it."""
    img = np.full((220, w), 255, np.uint8)
    xs = np.arange(20, w - 20)
    u = (xs - 20) / (w - 40)
    middle = 110 + space * (bow * (4 * (u - 0.5) ** 2 - 1 / 3) + wave * np.sin(2 * np.pi * u * 1.3))
    for k in range(-2, 3):
        for x, m in zip(xs, middle, strict=True):
            y = round(m + k * space)
            img[y : y + 2, x] = 0
    for x in range(60, w - 40, 50):
        cy = round(middle[x - 20] + ((x // 50) % 3 - 1) * space / 2)
        cv2.ellipse(img, (x, cy), (6, 4), -20, 0, 360, 0, -1)
    return img


@pytest.mark.parametrize(("bow", "wave"), [(3.0, 0.0), (0.0, 1.5), (2.0, 1.0)])
def test_bent_staff_is_followed_to_its_ends_and_straightened(bow: float, wave: float) -> None:
    [staff] = find_staves(bent_staff(bow, wave))
    assert staff.left <= 40 and staff.right >= 860
    # Straightened: each line lies along one row of the crop, so the row it should be on is
    # dark across most of the crop's width (a plain crop of the bent staff gets about 0.25).
    darkness = 1 - staff.image.astype(np.float64).mean(axis=1) / 255
    middle = staff.image.shape[0] / 2
    for k in range(-2, 3):
        row = round(middle + k * staff.space)
        assert darkness[row - 2 : row + 3].max() > 0.5, (k, darkness[row - 2 : row + 3])


def test_a_stave_bending_away_under_its_clef_and_key_is_followed_to_its_start() -> None:
    """A photographed page curled at its edge: level for most of its length, the stave
    rises ever more steeply towards its start, where a clef and a dense key signature in
    black hide its thin grey lines from the strips.  The straight line through the traced
    points runs off the lines there; they are followed as they bend, clef and key kept."""
    space, w = 10, 600
    img = np.full((260, w), 235, np.uint8)
    xs = np.arange(20, w - 20)
    middle = 170 - 0.001 * np.clip(250 - xs, 0, None) ** 2  # a slope of 0.46 at the start
    for k in range(-2, 3):
        for x, m in zip(xs, middle, strict=True):
            img[round(m + k * space), x] = 120
    at = dict(zip(xs.tolist(), middle.tolist(), strict=True))
    cv2.ellipse(img, (34, round(at[34]) + 5), (9, 12), 0, 0, 360, 0, 3)  # a clef's loops
    cv2.line(img, (38, round(at[38]) - 30), (38, round(at[38]) + 30), 0, 3)
    for i, x in enumerate(range(55, 240, 16)):  # sharps, up and down the stave
        y = round(at[x] + (1 - 2 * (i % 2)) * space)
        for dx in (3, 9):
            cv2.line(img, (x + dx, y - 14), (x + dx, y + 14), 0, 2)
        for dy in (-5, 5):
            cv2.line(img, (x, y + dy + 2), (x + 12, y + dy - 2), 0, 4)
    for x in range(300, w - 40, 40):  # notes on the level part
        cv2.ellipse(img, (x, round(at[x]) + (x // 40 % 3 - 1) * 5), (6, 4), -20, 0, 360, 0, -1)
    [staff] = find_staves(img)
    assert staff.left <= 30 and staff.right >= w - 30
    # Cut out along its lines: each lies along one row of the crop at its bent start too.
    start = staff.image[:, : staff.image.shape[1] // 4].astype(np.float64)
    darkness = 1 - start.mean(axis=1) / 235
    middle_row = staff.image.shape[0] / 2
    for k in range(-2, 3):
        row = round(middle_row + k * staff.space)
        assert darkness[row - 2 : row + 3].max() > 0.3, (k, darkness[row - 2 : row + 3])


PHOTOS = Path(__file__).resolve().parent / "fixtures" / "photos"


def test_a_stave_left_at_a_slope_by_the_deskewing_is_found() -> None:
    """Two photo-like staves of the project's own build (``tests/fixtures/README.md``). A
    stack of five ledger lines over an F-clef stave: deskewing levels the ledger lines and
    leaves the stave at a slope, where the strips see it too little; the ledger lines alone
    were taken for the stave (its clef and key lost).  A short stave curled at both ends:
    nothing was found.  Where the staves found span under ``PARTIAL`` of the page's width,
    staves at a slope are looked for too, as on pages with room for several."""
    from omr.read.load import load_image

    [ledger] = find_staves(load_image(PHOTOS / "ledger-stack-over-sloped-stave.jpg")[0].image)
    assert ledger.left <= 10 and ledger.right >= 370
    assert ledger.lines[0] > 100  # the stave, under the ledger lines (54 to 97)
    [short] = find_staves(load_image(PHOTOS / "short-curled-stave.jpg")[0].image)
    assert short.left <= 10 and short.right >= 310
    assert short.page_space == pytest.approx(23, abs=1.5)
    # The ledger lines over the stave read are not reported as a stave of another size.
    page = load_image(PHOTOS / "ledger-stack-over-sloped-stave.jpg")[0].image
    assert unread_groups(page, [ledger]) == []


def test_a_stave_curling_off_the_page_is_followed_to_the_edge_only() -> None:
    """Level, then curling down off the bottom of the page onto a dashed dark border: the
    lines are followed while the middle one is on the page (they were followed on into
    boxes wholly off the page, and the darkness of an empty box raised)."""
    h, w, space = 160, 900, 10
    img = np.full((h, w), 235, np.uint8)
    for x in range(20, w):
        middle = 80 + 0.001 * max(0, x - 450) ** 2
        for k in range(-2, 3):
            for d in (0, 1):
                if (r := round(middle + k * space) + d) < h:
                    img[r, x] = 60
    border = np.where(np.arange(w) % 40 < 5, 235, 0).astype(np.uint8)
    img[h - 3 :] = np.minimum(img[h - 3 :], border)
    [staff] = find_staves(img)
    assert staff.left <= 30
    # The middle line leaves the page at x = 450 + sqrt(80 / 0.001), about 733.
    assert 700 <= staff.right <= 800


def test_percentile_of_8_bit_values_is_numpys() -> None:
    from omr.read.ink import percentile_u8

    rng = np.random.default_rng(1)
    for _ in range(300):
        values = rng.integers(0, 256, int(rng.integers(1, 500))).astype(np.uint8)
        values = values // int(rng.integers(1, 60)) if rng.random() < 0.5 else values
        for q in (0, 2, 10, 50, 90, 100, float(rng.uniform(0, 100))):
            assert percentile_u8(values, q) == float(np.percentile(values, q))


def test_faint_staff_lines_between_dark_ones_make_a_staff() -> None:
    """Every other line grey (a photo of a faded print): the commonest spacing of ink is two
    staff spaces, and the finder, seeing no staff at that, tries half of it."""
    img = np.full((140, 600), 210, np.uint8)
    for k in range(5):
        img[40 + 11 * k : 42 + 11 * k, 20:580] = 80 if k % 2 == 0 else 170
    for x in range(50, 560, 40):
        y = 62 + ((x // 40) % 5 - 2) * 5
        cv2.ellipse(img, (x, y), (6, 5), -20, 0, 360, 20, -1)
        cv2.line(img, (x + 6, y), (x + 6, y - 33), 20, 2)
    assert run_lengths(binarize(img))[1] == 22
    [staff] = find_staves(img)
    assert staff.page_space == pytest.approx(11, abs=0.6)


def test_thin_grey_lines_beside_black_notes_make_a_staff() -> None:
    """Lines far paler than the notes (a photo where the print's lines faded): the page's
    contrast, set by the notes, puts them under both thresholds; the finder looks again
    at half the contrast."""
    img = np.full((150, 700), 205, np.uint8)
    ys = [50 + 12 * k for k in range(5)]
    for y in ys:
        img[y, 15:685] = 172
    for x in range(60, 660, 50):
        y = ys[2] + ((x // 50) % 5 - 2) * 6
        cv2.ellipse(img, (x, y), (7, 5), -20, 0, 360, 10, -1)
        cv2.line(img, (x + 6, y), (x + 6, y - 40), 10, 2)
    [staff] = find_staves(img)
    assert np.allclose(staff.lines, ys, atol=1.0)


@pytest.mark.slow
def test_no_staff_in_a_photo_of_something_else() -> None:
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 255, (300, 400)).astype(np.uint8), (0, 0), 3)
    assert find_staves(texture) == []
    # Blurred noise of other grains has rows evenly dark by chance: no five of them are lines
    for seed in range(1, 8):
        rng = np.random.default_rng(seed)
        noise = rng.integers(0, 255, (300 + 50 * seed, 400 + 80 * seed)).astype(np.uint8)
        assert find_staves(cv2.GaussianBlur(noise, (0, 0), 1 + seed % 5)) == [], seed
    assert find_staves(np.full((200, 300), 255, np.uint8)) == []


def test_sample_engravings_hold_one_staff_of_the_engraved_size() -> None:
    rows = [
        r for r in csv.DictReader((SAMPLE / "manifest.csv").open()) if r["split"] != "real-world"
    ]
    for r in rows:
        gray = cv2.imread(str(SAMPLE / r["file"]), cv2.IMREAD_GRAYSCALE)
        staves = find_staves(gray)
        assert len(staves) == 1, r["file"]
        engraved = json.loads(r["settings"])["engraving"]["staff_space"]
        assert staves[0].page_space == pytest.approx(engraved, rel=0.08), r["file"]


def test_sample_photos_yield_their_staff() -> None:
    rows = [
        r for r in csv.DictReader((SAMPLE / "manifest.csv").open()) if r["split"] == "real-world"
    ]
    found = sum(
        len(find_staves(cv2.imread(str(SAMPLE / r["file"]), cv2.IMREAD_GRAYSCALE))) >= 1
        for r in rows
    )
    assert found >= len(rows) - 1


@pytest.mark.slow
def test_camera_photos_yield_one_staff_each() -> None:
    """CPMS photos of printed staves (../shared, read in place): each is one staff with the
    edges of its neighbours cut in.  All 662 measured: every one gives exactly one."""
    photos = sorted(shared_data("cpms-train").glob("*.jpg"))
    assert len(photos) == 662, "the CPMS photos are expected in the shared data"
    chosen = photos[::4]
    one = sum(len(find_staves(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE))) == 1 for p in chosen)
    assert one >= 0.97 * len(chosen), f"{one}/{len(chosen)}"


def test_a_short_stave_at_a_slope_on_a_page_is_found_in_its_place() -> None:
    """A page curled or photographed at an angle can leave a short stave tilted against the
    others, too steeply for level strips to see its lines as rows."""
    img = np.full((560, 900), 255, np.uint8)
    tops = [draw_staff(img, top, 20, 880, space=12)[0] for top in (40, 400)]
    x0, x1, top, slope = 30, 250, 260, -0.1
    for k in range(5):  # thin grey lines, as a photo shows them
        y = top + 12 * k
        cv2.line(img, (x0, y), (x1, round(y + slope * (x1 - x0))), 140, 1, cv2.LINE_AA)
    for x in range(70, 240, 40):
        y = round(top + 24 + slope * (x - x0))
        cv2.ellipse(img, (x, y), (7, 5), -20, 0, 360, 0, -1)
    staves = find_staves(img)
    assert len(staves) == 3
    assert [round(s.lines[0]) for s in staves][::2] == pytest.approx(tops, abs=2)
    middle = staves[1].lines[2]
    assert middle == pytest.approx(top + 24 + slope * (x1 - x0) / 2, abs=6)


def test_ledger_lines_over_a_staff_are_not_taken_for_its_top_lines() -> None:
    # Three ledger lines (short: little of the strip filled) over five staff lines, all
    # spaced alike: the five full lines are the staff; from the top down the first five
    # evenly spaced ones would be three ledger lines and two staff lines.
    ledger = [(10.0 + 10 * k, 0.45) for k in range(3)]
    staff = [(40.0 + 10 * k, 0.95) for k in range(5)]
    assert group_staves(ledger + staff, 10) == [staff]
    # Two staves in one chain (ledger lines between them) are both found.
    lower = [(110.0 + 10 * k, 0.9) for k in range(5)]
    between = [(90.0, 0.5), (100.0, 0.5)]
    assert group_staves(staff + between + lower, 10) == [staff, lower]


def test_stave_ends_are_followed_along_its_lines_past_the_traced_span() -> None:
    # Lines from x=40 to x=560; strips traced only 300-460 of it (a clef and a dense key
    # signature hid the rest).  Left of x=20 a dark border covers every row: no staff.
    img = np.full((400, 600), 235, np.uint8)
    ys = draw_staff(img, 180, 40, 560, space=10)
    img[170:230, 60:72] = 0  # a clef's body: every line and space inked
    img[:, :20] = 30
    dark, contrast = darkness(img)
    xs = np.array([320.0, 380.0, 440.0])
    left, right, _ = _line_ends(
        dark, contrast, xs, np.full(3, ys[2] + 1.0), np.full(3, 10.0), (300, 460)
    )
    assert 35 <= left <= 45 and 555 <= right <= 562


def test_a_short_small_staff_under_a_wide_title_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fragment of two notes as LilyPond prints it at 100 dpi: a staff some 80 px long
    (staff space 5 px) under a title as wide as the page.  Strips 60 px wide see it in one
    strip only; where no stave was found at all, strips of ``NARROW_LEAST`` px are tried."""
    from omr.read import staff

    img = np.full((110, 749), 255, np.uint8)
    cv2.putText(img, "untitled  untitled  untitled", (60, 24), cv2.FONT_HERSHEY_DUPLEX, 1.2, 0, 2)
    ys = draw_staff(img, 70, 55, 135, space=5, thick=1)
    [found] = find_staves(img)
    assert np.allclose(found.lines, [y + 0.5 for y in ys], atol=1.5)
    assert found.left <= 62 and found.right >= 128
    monkeypatch.setattr(staff, "NARROW_LEAST", 0)  # without the narrow strips: not found
    assert find_staves(img) == []


@pytest.mark.slow
def test_noise_on_a_blank_page_is_not_traced(monkeypatch: pytest.MonkeyPatch) -> None:
    """A blank 150 dpi A4 page with mild noise (a scanned empty side): its line fragments
    give some two hundred strip detections, none a staff.  Only those whose lines stand out
    (``TRACE_EVIDENCE``) are traced to their ends: a trace costs some 80 ms a page."""
    from omr.read import staff

    calls: list[int] = []
    traced = staff.trace

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return traced(*args, **kwargs)

    monkeypatch.setattr(staff, "trace", counted)
    rng = np.random.default_rng(0)
    blank = np.clip(255 + rng.normal(0, 6, (1754, 1240)), 0, 255).astype(np.uint8)
    assert find_staves(blank) == []
    assert len(calls) <= 5, len(calls)
    # the same page traced in full: the same (empty) result, at the cost of every trace
    monkeypatch.setattr(staff, "TRACE_EVIDENCE", 0.0)
    calls.clear()
    assert find_staves(blank) == []
    assert len(calls) > 100
