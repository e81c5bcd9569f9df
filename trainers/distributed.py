"""Data-parallel training on torch.distributed: the process group, the global-batch sampler and the reductions.

A run is started by torchrun (or ``edge-moe train --nproc N``, which calls torchrun's own launcher), which sets
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; without them the run is one process and nothing here talks to a
process group. ``--batch`` is the global batch: every step, one global batch drawn exactly as a one-process run
draws it is split across the ranks, and augmentation is seeded per (seed, epoch, image), so the images a step
trains on do not depend on the number of processes.
"""
from __future__ import annotations

import gc
import os
import warnings
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterator, Optional

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from edge_moe.errors import UserError

COLLECTIVE_TIMEOUT = timedelta(minutes=60)  # the other ranks wait while rank 0 validates and writes checkpoints


@dataclass(frozen=True)
class World:
    """This process's place in the run: ``rank`` of ``size`` processes, ``local_rank`` on its machine."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def join_world(device: str) -> tuple[World, str]:
    """Joins the process group torchrun describes in the environment (NCCL on CUDA, gloo on CPU); returns the
    world and this rank's device (``cuda:LOCAL_RANK`` on CUDA)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World(), device
    world = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
    if device.startswith("cuda"):
        if not dist.is_nccl_available():
            raise UserError(f"--device {device}: distributed CUDA training needs NCCL, which this torch build lacks")
        device = f"cuda:{world.local_rank}"
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
    return world, device


def leave_world(world: World) -> None:
    """Destroys the process group while the interpreter is whole: DDP's reducer, kept alive by reference cycles, holds
    the gloo group, and a group freed at interpreter exit can abort the process (SIGABRT from its worker threads)."""
    if world.distributed and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


def broadcast_from_main(value: Any, world: World) -> Any:
    """Rank 0's ``value`` on every rank (one decision, e.g. the run folder, taken once)."""
    if not world.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sum_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """The sum of ``tensor`` over all ranks (a copy, outside autograd); the tensor itself in a one-process run."""
    if not (dist.is_available() and dist.is_initialized()):
        return tensor
    total = tensor.detach().clone()
    dist.all_reduce(total)
    return total


def gather_to_main(value: Any, world: World) -> Optional[list[Any]]:
    """Every rank's ``value`` (picklable), in rank order, on rank 0; None on the others."""
    gathered: Optional[list[Any]] = [None] * world.size if world.is_main else None
    dist.gather_object(value, gathered, dst=0)
    return gathered


def ranks() -> int:
    """Processes in the run (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def summed_over_ranks(values: dict[str, float], world: World) -> dict[str, float]:
    """Per-rank shares of the loss parts summed into the global batch's, for the log and results.csv."""
    if not world.distributed:
        return values
    total = sum_over_ranks(torch.tensor(list(values.values()), dtype=torch.float64))
    return dict(zip(values, total.tolist()))


class GlobalBatchSampler(Sampler[list[int]]):
    """This rank's share of every global batch: the one-process batches of ``batch`` images (a seeded permutation per
    epoch), each split into ``world.size`` contiguous parts. Ranks see disjoint images. A last global batch with fewer
    images than ranks is dropped in a distributed run (a rank would get none)."""

    def __init__(self, images: int, batch: int, seed: int, world: World = World()):
        if world.distributed and batch < world.size:
            raise UserError(f"--batch {batch}: the global batch must hold at least one image per process ({world.size} processes)")
        self.images, self.batch, self.seed, self.world = images, batch, seed, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def global_batches(self) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        order = torch.randperm(self.images, generator=generator).tolist()
        batches = [order[i:i + self.batch] for i in range(0, self.images, self.batch)]
        return [b for b in batches if len(b) >= self.world.size]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.global_batches():
            yield self.share(batch)

    def share(self, batch: list[int]) -> list[int]:
        """This rank's contiguous part of one global batch (sizes differ by at most one)."""
        size, rank = self.world.size, self.world.rank
        base, extra = divmod(len(batch), size)
        start = rank * base + min(rank, extra)
        return batch[start:start + base + (rank < extra)]

    def __len__(self) -> int:
        return len(self.global_batches())


def wrap_model(model: torch.nn.Module, world: World, device: str, sync_bn: bool) -> torch.nn.Module:
    """DistributedDataParallel around ``model`` (with SyncBatchNorm if asked); the model itself in a one-process run."""
    if sync_bn and not device.startswith("cuda"):
        raise UserError(f"--sync-bn: SyncBatchNorm runs on CUDA only (got --device {device})")
    if not world.distributed:
        return model
    if sync_bn:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    device_ids: Optional[list[int]] = [torch.device(device).index] if device.startswith("cuda") else None
    # depthwise weights (C, 1, k, k) are both contiguous and channels-last; their gradients come back in the other
    # layout, which DDP reports once per process (a copy into its buckets, no error)
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
