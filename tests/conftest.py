"""Shared fixtures: external tools (which must be installed: tests fail, never skip, without
them), data from outside the repository (skipped with the reason when missing, required
where ``STAVEGEN_REQUIRE_SHARED=1``, as ``.ci/run`` sets) and a tiny ABC corpus."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

TINY_ABC = """X:1
T:Tiny one
M:4/4
L:1/8
K:G
GABc d2B2|c2A2 G4|GABc d2g2|f2d2 g4|]

X:2
T:Tiny two
M:3/4
L:1/4
K:D
% a comment inside the tune
"D"d2 A|"G"B2 G|"A"A F E|"D"D3|]
"""


# ../shared/data beside the checkout (or STAVEGEN_SHARED_DATA): data that may not be
# redistributed, so a user's clone does not have it.
SHARED_DATA = Path(
    os.environ.get("STAVEGEN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
REQUIRE_SHARED = "STAVEGEN_REQUIRE_SHARED"


def shared_data(name: str) -> Path:
    """The folder ``name`` of the shared data.  When it is missing the test is skipped with
    the reason, or fails where ``STAVEGEN_REQUIRE_SHARED=1`` (CI must run every test)."""
    path = SHARED_DATA / name
    if not path.is_dir():
        msg = f"needs {path}, data from outside the repository (not redistributable)"
        if os.environ.get(REQUIRE_SHARED) == "1":
            pytest.fail(f"{msg}; {REQUIRE_SHARED}=1 makes it required")
        pytest.skip(msg)
    return path


def require_tool(name: str) -> str:
    path = shutil.which(name)
    assert path, (
        f"{name} is not installed: .ci/run installs it (Debian package); this test needs it"
    )
    return path


@pytest.fixture(scope="session")
def mscore3() -> str:
    return require_tool("mscore3")


@pytest.fixture(scope="session")
def abc2midi() -> str:
    return require_tool("abc2midi")


@pytest.fixture(scope="session")
def fluidsynth() -> str:
    path = require_tool("fluidsynth")
    font = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
    assert font.exists(), f"{font} is missing: .ci/run installs fluid-soundfont-gm"
    return path


def open_in_musescore(mscore: str, musicxml: Path, out_dir: Path) -> Path:
    """Have MuseScore 3 engrave a MusicXML file to PDF; returns the (non-empty) PDF."""
    pdf = out_dir / (musicxml.stem + ".pdf")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(out_dir))
    proc = subprocess.run(
        [mscore, "-o", str(pdf), str(musicxml)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, f"mscore3 failed on {musicxml}:\n{proc.stdout}\n{proc.stderr}"
    assert pdf.exists() and pdf.stat().st_size > 1000, proc.stderr
    assert pdf.read_bytes().startswith(b"%PDF")
    return pdf
