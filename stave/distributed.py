"""Training across processes with torchrun (PyTorch DDP): which process this is, and the few
collective steps the trainers share.

``torchrun --standalone --nproc_per_node=N -m generate.train ...`` (or ``--nnodes ...
--rdzv-endpoint ...`` across machines) starts N processes and tells each its place through
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; ``start`` joins them into one process group
(``nccl`` on CUDA, ``gloo`` on CPUs).  Without torchrun ``start`` does nothing and every
helper here is the identity of one process.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

from stave.devices import DeviceError, check_precision, resolve


@dataclass(frozen=True)
class Processes:
    """This process's place among those of a run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """The process that writes checkpoints, plots and progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def launched() -> bool:
    """Whether torchrun started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def start(device: torch.device) -> tuple[Processes, torch.device]:
    """Join the run's process group when torchrun started several processes; returns this
    process's place and its device (``cuda:LOCAL_RANK`` for a CUDA run)."""
    if not launched():
        return Processes(), device
    if dist.is_initialized():
        return current(), device
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        dist.init_process_group("gloo")
    return Processes(rank, world, local), device


def run(
    device: str, train: Callable[[Processes, torch.device], int], precision: str = "fp32"
) -> int:
    """A trainer's ``main``: resolve ``--device`` (and check ``--precision`` on it), join
    torchrun's processes (if any), call ``train(processes, device)`` and leave the group; a
    device not here, or a precision it does not run, is exit status 2."""
    try:
        resolved = resolve(device)
        check_precision(resolved, precision)
        processes, resolved = start(resolved)
    except DeviceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        status = train(processes, resolved)
        # Every process is done with its collectives before any leaves the group: gloo
        # aborted a process ("terminate called without an active exception") that left
        # while the other was still at its last save, once in a loaded CI run.
        barrier()
        return status
    finally:
        finish()


@contextmanager
def main_first() -> Iterator[None]:
    """The main process runs the block first (preparing data, making folders); the others
    wait for it and then run theirs (reading what it made).  An error in the main process
    ends the run (torchrun stops the others)."""
    processes = current()
    if not processes.main:
        barrier()
    yield
    if processes.main and processes.distributed:
        barrier()


def note_resumed_on(path: object, before: int, what: str) -> None:
    """On the main process, say that a run trained on ``before`` processes goes on on this
    run's number (nothing when they are the same); ``what`` says what that changes."""
    processes = current()
    if processes.main and before != processes.world_size:
        print(
            f"note: {path} was trained on {before} process(es), it goes on on "
            f"{processes.world_size}: {what}",
            file=sys.stderr,
        )


def current() -> Processes:
    """The place of this process in the group it has joined (one process: rank 0 of 1)."""
    if not (dist.is_available() and dist.is_initialized()):
        return Processes()
    return Processes(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def finish() -> None:
    """Leave the process group (at the end of a run)."""
    if dist.is_available() and dist.is_initialized():
        # Whatever still holds the group (a DDP wrapper in a reference cycle) is freed now,
        # while the group is alive, not at interpreter exit: the suspected cause of a rare
        # abort at exit under load ("terminate called without an active exception").
        gc.collect()
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def mean(value: Tensor) -> Tensor:
    """``value`` averaged over the processes (the value itself in one)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    total = value.detach().clone()
    dist.all_reduce(total)
    return total / dist.get_world_size()


def collective_device() -> torch.device:
    """Where a tensor must be for the group's backend (nccl: this process's GPU)."""
    if dist.is_available() and dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def mean_figures(figures: Mapping[str, float]) -> dict[str, float]:
    """Figures averaged over the processes (as they are in one)."""
    if not (dist.is_available() and dist.is_initialized()) or not figures:
        return dict(figures)
    names = list(figures)  # the same order in every process (as the task made them)
    values = torch.tensor(
        [figures[n] for n in names], dtype=torch.float64, device=collective_device()
    )
    dist.all_reduce(values)
    return {n: float(v) / dist.get_world_size() for n, v in zip(names, values, strict=True)}


def largest(value: int) -> int:
    """The largest of the processes' ``value`` (a stop one process saw is every one's)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    t = torch.tensor([value], dtype=torch.int64, device=collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def gather(part: Tensor, dim: int) -> Tensor:
    """Every process's ``part`` joined along ``dim`` in rank order (on the CPU)."""
    if not (dist.is_available() and dist.is_initialized()):
        return part
    parts = [torch.empty_like(part) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, part.contiguous())
    return torch.cat([p.cpu() for p in parts], dim=dim)


def rows(total: int, processes: Processes, what: str = "--batch-size") -> slice:
    """This process's share of ``total`` rows: the global batch split evenly."""
    if total % processes.world_size:
        raise ValueError(
            f"{what} {total} does not split evenly over {processes.world_size} processes"
        )
    share = total // processes.world_size
    return slice(processes.rank * share, (processes.rank + 1) * share)
