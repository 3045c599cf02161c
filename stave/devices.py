"""Where the networks run: ``--device auto|cpu|cuda|mps`` (``auto``: CUDA when present, then
Apple's MPS, else the CPU), the one place that turns the option into a ``torch.device``."""

from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
DEVICE_HELP = (
    "where the network runs: auto (CUDA when present, then MPS, else the CPU), cpu, cuda, "
    "cuda:N or mps (%(default)s)"
)


class DeviceError(ValueError):
    """A device asked for that this machine does not have."""


def _mps() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve(name: str = "auto") -> torch.device:
    """The ``torch.device`` for a ``--device`` value; ``DeviceError`` when it is not here."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"--device {name}: not a device (auto, cpu, cuda, cuda:N, mps)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {name}: no CUDA device on this machine (try auto or cpu)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(
                f"--device {name}: this machine has {torch.cuda.device_count()} CUDA devices"
            )
    elif device.type == "mps" and not _mps():
        raise DeviceError(f"--device {name}: no MPS device on this machine (try auto or cpu)")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"--device {name}: not a device (auto, cpu, cuda, cuda:N, mps)")
    return device
