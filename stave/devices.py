"""Where the networks run: ``--device auto|cpu|cuda|mps`` (``auto``: CUDA when present, then
Apple's MPS, else the CPU), the one place that turns the option into a ``torch.device``."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

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


PRECISION_CHOICES = ("fp32", "bf16")
PRECISION_HELP = (
    "arithmetic of the training steps: fp32, or bf16 on CUDA (autocast to bfloat16 where "
    "PyTorch deems it safe; weights, optimizer, losses and validation stay fp32) (%(default)s)"
)


def check_precision(device: torch.device, precision: str) -> None:
    """``DeviceError`` for a ``--precision`` this device does not run.  bf16 is CUDA's: on
    CPUs PyTorch's LSTMs do not take bfloat16 autocast (oneDNN refuses it without bf16
    instructions, the plain kernels stay fp32), so it would change nothing or fail."""
    if precision not in PRECISION_CHOICES:
        raise DeviceError(f"--precision {precision}: one of {', '.join(PRECISION_CHOICES)}")
    if precision == "bf16":
        if device.type != "cuda":
            raise DeviceError(f"--precision bf16 runs on CUDA, not on {device.type}: use fp32")
        if not torch.cuda.is_bf16_supported():
            raise DeviceError(f"--precision bf16: {torch.cuda.get_device_name(device)} has no bf16")


def autocast(device: torch.device | str, precision: str) -> AbstractContextManager[object]:
    """The context a training step's forward pass runs in for ``--precision``
    (``DeviceError`` for one the device does not run, as ``check_precision``)."""
    check_precision(torch.device(device), precision)
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
