"""The `stavegen` command and the Python API (``omr.read_music``, ``generate.sample_music``):
the command hands each subcommand's arguments to its module unchanged, and the API returns
what the commands write."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import generate
import omr
import stavegen
from omr.extract import main as extract_main
from omr.read.load import LoadError
from stave.checkpoint import CheckpointError
from stave.stavetext import Clef, Key, Note, write_line
from stavegen import commands
from tests.conftest import TINY_ABC

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "datasets" / "sample"
PHOTO = SAMPLE / "real-world" / "00000.png"  # RGB
CLEAN = SAMPLE / "clean" / "00001.png"  # grey
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def pyproject_section(name: str) -> str:
    """The lines of one ``[section]`` of pyproject.toml (tomllib is Python 3.11+)."""
    text = (ROOT / "pyproject.toml").read_text()
    found = re.search(rf"^\[{re.escape(name)}\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
    assert found, f"pyproject.toml has no [{name}]"
    return found.group(1)


def stavegen_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stavegen", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=ENV,
        timeout=120,
    )


# -- the stavegen command -------------------------------------------------------------------


def test_stavegen_lists_its_commands_and_needs_one() -> None:
    listed = stavegen_cli("--help")
    assert listed.returncode == 0, listed.stderr
    for command in commands.COMMANDS.values():
        assert re.search(rf"^  {command.name} +{command.module} ", listed.stdout, re.M)
    bare = stavegen_cli()
    assert bare.returncode == 2
    assert "usage: stavegen COMMAND" in bare.stderr and "a command is required" in bare.stderr
    assert bare.stdout == ""


def test_stavegen_version_is_the_package_version() -> None:
    shown = stavegen_cli("--version")
    assert shown.returncode == 0 and shown.stdout == f"stavegen {stavegen.__version__}\n"
    assert re.search(r'^dynamic = \["version"\]', pyproject_section("project"), re.M)
    dynamic = pyproject_section("tool.setuptools.dynamic")
    assert re.search(r'^version = \{ attr = "stavegen.__version__" \}', dynamic, re.M)


def test_the_console_script_is_the_command_and_the_old_ones_stay() -> None:
    scripts = pyproject_section("project.scripts")
    assert re.search(r'^stavegen = "stavegen.commands:main"', scripts, re.M)
    for old in ("stavegen-train", "stavegen-sample", "stavegen-convert", "stavegen-extract"):
        assert re.search(rf"^{old} = ", scripts, re.M)
    assert re.search(r'^packages = \["stavegen", ', pyproject_section("tool.setuptools"), re.M)


def test_every_command_module_has_a_subcommand() -> None:
    """Each ``python -m omr.X`` / ``generate.X`` command is one of stavegen's, and back."""
    runnable = {
        f"{half}.{path.stem}"
        for half in ("omr", "generate")
        for path in (ROOT / half).glob("*.py")
        if 'if __name__ == "__main__":' in path.read_text()
    }
    assert runnable == {c.module for c in commands.COMMANDS.values()}


@pytest.mark.parametrize("name", sorted(commands.COMMANDS))
def test_each_subcommand_shows_its_own_help_under_its_stavegen_name(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        commands.main([name, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: stavegen {name} ")
    assert "python -m" not in out.splitlines()[0]
    # argparse is left as it was found
    assert argparse.ArgumentParser("x").prog == "x"
    assert argparse.ArgumentParser.__init__.__qualname__ == "ArgumentParser.__init__"


def test_a_subcommand_gets_its_arguments_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    """Errors come from the module's own parser, under the stavegen name; the MIDI models'
    parsers (chosen by --model) are renamed too."""
    with pytest.raises(SystemExit) as done:
        commands.main(["sample", "--num", "lots"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "stavegen sample: error: argument --num" in err and "'lots'" in err
    with pytest.raises(SystemExit):
        commands.main(["train", "--model", "midi-lstm", "--help"])
    assert capsys.readouterr().out.startswith("usage: stavegen train --model midi-lstm|chord-gan")
    with pytest.raises(SystemExit):
        commands.main(["help", "read"])
    assert capsys.readouterr().out.startswith("usage: stavegen read ")


@pytest.mark.parametrize(
    ("typed", "hint"),
    [("extract", "did you mean 'read'"), ("omr.train", "did you mean 'omr-train'"),
     ("smaple", "did you mean 'sample'"), ("--frobnicate", "unknown option")],
)  # fmt: skip
def test_an_unknown_command_is_refused_with_a_hint(
    typed: str, hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert commands.main([typed, "x"]) == 2
    err = capsys.readouterr().err
    assert hint in err and "stavegen --help" in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_stavegen_convert_end_to_end(tmp_path: Path) -> None:
    tunes = tmp_path / "tunes.abc"
    tunes.write_text(TINY_ABC)
    out = tmp_path / "out"
    run = stavegen_cli("convert", str(tunes), "-o", str(out), "--formats", "musicxml", "txt")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "converted=2/2"
    assert sorted(p.name for p in out.iterdir()) == [
        "tunes-001.musicxml",
        "tunes-001.txt",
        "tunes-002.musicxml",
        "tunes-002.txt",
    ]
    assert (out / "tunes-001.txt").read_text().startswith("clef:G2 key:1 time:4/4 ")


def test_the_command_and_the_packages_import_cheaply() -> None:
    """`stavegen --help` loads no torch; ``import omr, generate`` neither (the API is
    imported on first use), and the old imports still work."""
    code = (
        "import sys, stavegen.commands, omr, generate; from omr import WEIGHTS_DIR; "
        "from generate import WEIGHTS_DIR as W; assert WEIGHTS_DIR.is_dir() and W.is_dir(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'music21', 'cv2', 'omr', 'generate')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=ENV, check=True
    )
    assert proc.stdout.strip() == "['generate', 'omr']"


def top_modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join({{m.split('.')[0] for m in sys.modules}}))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=ENV, check=True
    )
    return set(proc.stdout.split())


@pytest.mark.slow
def test_the_apis_keep_the_layout() -> None:
    """Reading a page through the API imports no generator, and sampling no OMR."""
    reading = top_modules_after("from omr import read_music")
    assert {"omr", "torch", "stave"} <= reading and not {"generate", "mido"} & reading
    sampling = top_modules_after("from generate import sample_music")
    assert {"generate", "torch", "stave"} <= sampling and "omr" not in sampling


# -- omr.read_music -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``omr.extract`` writes for the photo, the grey image and the truth PDF."""
    out = tmp_path_factory.mktemp("extracted")
    pdf = SAMPLE / "ground-truth.pdf"
    args = [str(PHOTO), str(CLEAN), str(pdf), "-o", str(out), "--jobs", "1", "--quiet"]
    assert extract_main(args) == 0
    return out


def test_read_music_from_a_path_is_what_extract_writes(extracted: Path) -> None:
    for image, name in [(PHOTO, "00000"), (str(CLEAN), "00001")]:
        reading = omr.read_music(image)
        assert reading.text == (extracted / f"{name}.txt").read_text()
        assert reading.text.count("\n") == len(reading.lines) >= 1
        assert reading.pages == 1 and not reading.from_text
    truth = omr.read_music(SAMPLE / "ground-truth.pdf")
    assert truth.from_text and truth.text == (extracted / "ground-truth.txt").read_text()


@pytest.mark.parametrize("form", ["rgb", "bgr", "grey", "pil", "pil-grey"])
def test_read_music_from_memory_is_what_extract_writes(extracted: Path, form: str) -> None:
    pil = Image.open(PHOTO)
    assert pil.mode == "RGB"
    rgb = np.asarray(pil)
    image: np.ndarray | Image.Image = {
        "rgb": rgb,
        "bgr": np.ascontiguousarray(rgb[:, :, ::-1]),
        "grey": np.asarray(pil.convert("L")),
        "pil": pil,
        "pil-grey": pil.convert("L"),
    }[form]
    reading = omr.read_music(image, channels="bgr" if form == "bgr" else "rgb", name="photo")
    assert reading.text == (extracted / "00000.txt").read_text()
    assert reading.name == "photo" and reading.pages == 1


def test_a_reading_has_lines_a_pitch_labelling_and_a_score() -> None:
    reading = omr.read_music(CLEAN, beam=4)
    assert all(isinstance(line[0], Clef) and isinstance(line[1], Key) for line in reading.lines)
    assert reading.text == "".join(write_line(line) + "\n" for line in reading.lines)
    assert reading.format("pitch").count("\n") == len(reading.lines)
    score = reading.score()
    assert score.metadata.title == "00001"
    assert len(score.recurse().notes) == sum(
        1 for line in reading.lines for t in line if isinstance(t, Note)
    )
    assert omr.Reading is type(reading)


def test_read_music_names_what_it_cannot_read(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(LoadError, match=re.escape(str(broken))) as err:
        omr.read_music(broken)
    assert isinstance(err.value, ValueError) and err.value.path == broken
    with pytest.raises(LoadError, match=r"missing\.pdf: no such file"):
        omr.read_music(str(tmp_path / "missing.pdf"))
    blank = np.full((200, 600), 255, np.uint8)
    with pytest.raises(LoadError, match=r"^page 3: no staff found"):
        omr.read_music(blank, name="page 3")
    with pytest.raises(LoadError, match=r"^<image>: array of float64; expected uint8"):
        omr.read_music(blank.astype(np.float64))
    with pytest.raises(LoadError, match=r"array of shape \(2, 200, 600\)"):
        omr.read_music(np.zeros((2, 200, 600), np.uint8))
    with pytest.raises(LoadError, match="4 x 3 pixels is too small"):
        omr.read_music(np.zeros((3, 4), np.uint8))
    with pytest.raises(TypeError, match="cannot read a bytes"):
        omr.read_music(b"not a path")  # type: ignore[arg-type]


def test_read_music_refuses_a_missing_or_foreign_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nope\.pt: no such checkpoint file"):
        omr.read_music(CLEAN, checkpoint=tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match=r"abc-charlstm\.pt: not a stavegen checkpoint"):
        omr.read_music(CLEAN, checkpoint=generate.WEIGHTS_DIR / "abc-charlstm.pt")
    with pytest.raises(ValueError, match="beam must be"):
        omr.read_music(CLEAN, beam=-1)


# -- generate.sample_music ------------------------------------------------------------------


@pytest.mark.slow
def test_sample_music_is_reproducible_and_of_its_kind() -> None:
    tunes = generate.sample_music("abc", num=2, length=80, seed=7)
    assert len(tunes) == 2 and all(t.startswith("X:") for t in tunes)
    assert generate.sample_music("abc", num=2, length=80, seed=7) == tunes
    assert generate.sample_music("abc", num=2, length=80, seed=8) != tunes
    staves = generate.sample_music("stave", num=3, length=60, seed=1, temperature=0.5, top_k=5)
    assert len(staves) == 3 and all(t.startswith("clef:") for t in staves)
    primed = generate.sample_music(num=1, length=20, seed=1, prime="X:1\nT:Mine")
    assert primed[0].startswith("X:1\nT:Mine")


def test_sample_music_is_what_generate_sample_writes(tmp_path: Path) -> None:
    from generate.sample import main as sample_main

    assert sample_main(["--num", "2", "--length", "80", "--seed", "3", "-o", str(tmp_path)]) == 0
    written = [(tmp_path / f"sample-00{i}.abc").read_text() for i in (1, 2)]
    assert [t + "\n" for t in generate.sample_music(num=2, length=80, seed=3)] == written
    # With redraws too (80 characters cut most tunes short: some are drawn again).
    args = ["--num", "2", "--length", "80", "--seed", "3", "--redraw", "2"]
    assert sample_main([*args, "-o", str(tmp_path / "r")]) == 0
    written = [(tmp_path / "r" / f"sample-00{i}.abc").read_text() for i in (1, 2)]
    redrawn = generate.sample_music(num=2, length=80, seed=3, redraw=2)
    assert [t + "\n" for t in redrawn] == written


def test_sample_music_refuses_what_it_cannot_use(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nope\.pt: no such checkpoint file"):
        generate.sample_music(checkpoint=tmp_path / "nope.pt")
    midi = generate.WEIGHTS_DIR / "midi-lstm.pt"
    with pytest.raises(CheckpointError, match="midi-lstm checkpoint, not a char-lstm"):
        generate.sample_music(checkpoint=midi)
    with pytest.raises(CheckpointError, match="a model of 'abc', not of 'stave'"):
        generate.sample_music("stave", checkpoint=generate.WEIGHTS_DIR / "abc-charlstm.pt")
    with pytest.raises(ValueError, match="no shipped model for kind 'text'"):
        generate.sample_music("text")
    bad_values = ({"num": 0}, {"length": -1}, {"top_k": 0}, {"temperature": float("nan")})
    for bad in (*bad_values, {"redraw": -1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            generate.sample_music(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        generate.sample_music(prime="X:\u00e6\u00f8")


# -- what ships -----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_sdist_carries_what_the_readme_relies_on(tmp_path: Path) -> None:
    """README: `make demo` / `make test` from an unpacked sdist, as from a clone.  Built from
    a copy without build leftovers: setuptools adds the files an old ``*.egg-info`` lists."""
    source = tmp_path / "source"
    leftovers = ("*.egg-info", ".git", ".venv", "__pycache__", "*_cache", "build", "dist", "out")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*leftovers, "runs", "samples"))
    build = "from setuptools import build_meta as b; import sys; print(b.build_sdist(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", build, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=source,
        check=True,
        timeout=300,
    )
    with tarfile.open(tmp_path / done.stdout.split()[-1]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    needed = [
        "LICENSE",
        "README.md",
        "Makefile",
        ".ci/run",
        "stave/STAVE-FORMAT.md",
        "tests/conftest.py",
        "tests/fixtures/charlstm-run-0.1/latest.pt",
        "datasets/sample/manifest.csv",
        "datasets/sample/ground-truth.pdf",
        "datasets/sample/real-world/00000.png",
        "bench/omr_speed.py",
        "omr/weights/recognizer.pt",
        "generate/weights/abc-charlstm.pt",
        "stavegen/commands.py",
    ]
    assert [n for n in needed if n not in names] == []
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert "MIT License" in (ROOT / "LICENSE").read_text()
