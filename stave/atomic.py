"""Atomic file writes: a reader never sees a half-written file, an interrupt loses nothing.

The temporary file lies beside the target, named ``.STEM.PID.XXXXXXXX.tmpSUFFIX`` with the
stem cut short (a long but valid target name must not make the temporary name too long).
A writer killed outright (SIGKILL, power loss) leaves its temporary file behind; the next
write beside it removes such leftovers whose process is gone.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_STEM_CHARS = 40  # of the target's stem in the temporary name (file names hold 255 bytes)
_SUFFIX_CHARS = 16
_TRIES = 100
_TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_LEFTOVER = re.compile(r"^\..*\.(\d+)\.[A-Za-z0-9_]{8}\.tmp")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _token() -> str:
    return "".join(secrets.choice(_TOKEN_CHARS) for _ in range(8))


_SWEPT: set[Path] = set()  # folders already cleaned by this process


def remove_leftovers(folder: Path) -> list[Path]:
    """Delete temporary files in ``folder`` left by writers that were killed; returns them."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _LEFTOVER.match(entry.name)
        if m and entry.is_file(follow_symlinks=False) and not _alive(int(m.group(1))):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step.

    The temporary name keeps ``path``'s suffix, so writers that pick a format from the
    extension (music21, matplotlib) behave as they would on the real name.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.parent not in _SWEPT:
        _SWEPT.add(target.parent)
        remove_leftovers(target.parent)
    prefix = f".{target.stem[:_STEM_CHARS]}.{os.getpid()}."
    suffix = f".tmp{target.suffix[:_SUFFIX_CHARS]}"
    # The name is chosen before the file is made and the file made inside ``try``, so an
    # interrupt (Ctrl-C) at any moment, even between creating the file and returning its
    # name, leaves nothing behind. The name holds this process's id: no other live
    # process makes it, so removing it never removes another writer's file.
    tmp: Path | None = None
    try:
        for _ in range(_TRIES):
            tmp = target.parent / f"{prefix}{_token()}{suffix}"
            try:
                # 0o666 less the umask: the usual permissions of a new file
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666))
            except FileExistsError:
                tmp = None
                continue
            break
        else:
            raise FileExistsError(f"cannot make a temporary file beside {target}")
        try:
            yield tmp
            os.replace(tmp, target)
        except OSError as err:  # named by the file the user asked for, not the temporary one
            if err.filename is not None and os.fspath(err.filename) == os.fspath(tmp):
                raise OSError(err.errno, err.strerror, str(target)) from err
            raise
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
