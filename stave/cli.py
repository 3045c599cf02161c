"""What every stavegen command shares on its command line: argument types that refuse
values no run can use (``argparse`` then names the option and the value, and exits 2), and
the one-line report of an output that cannot be written."""

from __future__ import annotations

import argparse
import errno
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "finite_float",
    "folder_problem",
    "non_negative_float",
    "non_negative_int",
    "output_error",
    "positive_float",
    "positive_int",
    "probability",
    "report_output_error",
]


def _number(kind: Callable[[str], float], text: str, what: str) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return value


def positive_int(text: str) -> int:
    """An integer of at least 1 (a batch size, a length, a count)."""
    value = int(_number(int, text, "a whole number"))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(_number(int, text, "a whole number"))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def finite_float(text: str) -> float:
    return float(_number(float, text, "a finite number"))


def positive_float(text: str) -> float:
    """A finite number above 0 (a temperature, a learning rate, minutes)."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def probability(text: str) -> float:
    """A number in [0, 1) (dropout)."""
    value = finite_float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {text}")
    return value


def output_error(err: OSError) -> str:
    """One line for an output that could not be written: where, and why."""
    where = err.filename if err.filename is not None else "the output"
    reason = {
        errno.ENOSPC: "no space left on the device",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOTDIR: "a file is in the way where a folder is needed",
        errno.EEXIST: "a file is in the way where a folder is needed",
        errno.EISDIR: "a folder is in the way where a file is needed",
        errno.ENAMETOOLONG: "file name too long",
        errno.EDQUOT: "disk quota exceeded",
    }.get(err.errno or 0, err.strerror or str(err))
    return f"cannot write {os.fspath(where)}: {reason}"


def folder_problem(folder: str | os.PathLike[str]) -> OSError | None:
    """Why ``folder`` could not be made or written in, found without making anything (a
    file in the way, a read-only place), or None: checked before long work starts."""
    path = Path(folder)
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return OSError(errno.ENOTDIR, "a file is in the way", str(probe))
    if not os.access(probe, os.W_OK | os.X_OK):
        return OSError(errno.EACCES, "permission denied", str(probe))
    return None


def report_output_error(err: OSError, command: str = "") -> int:
    """Print ``output_error`` on stderr as ``error: ...``; returns the exit status (1)."""
    prefix = f"{command}: " if command else ""
    print(f"error: {prefix}{output_error(err)}", file=sys.stderr)
    return 1
