"""``edge-moe train --nproc N`` / ``--device 0,1,...``: the same launch as ``torchrun --standalone --nproc-per-node N
-m edge_moe train ...``, made through torchrun's own entry point (torch.distributed.run), not a script of ours."""
from __future__ import annotations

import os
import signal
import sys

from edge_moe.errors import UserError


def gpu_list(device: str) -> list[int]:
    """``"0,1,3"`` -> [0, 1, 3]; any other --device value -> [] (one process, or --nproc decides)."""
    parts = device.split(",")
    if not all(p.strip().isdigit() for p in parts):
        return []
    return [int(p) for p in parts]


def check_launch(nproc: int, device: str, gpus: list[int]) -> None:
    """One-line errors for a launch the machine cannot run, before any process starts; ``gpus``: the ids --device
    listed (none: --nproc N processes on --device)."""
    if not device.startswith("cuda"):
        return
    import torch

    present = torch.cuda.device_count()
    if gpus and max(gpus) >= present:
        raise UserError(f"--device {','.join(map(str, gpus))}: GPU {max(gpus)} does not exist; this machine has {present} CUDA GPU(s)"
                        + (f" (ids 0..{present - 1})" if present else ""))
    if nproc > present:
        raise UserError(f"--nproc {nproc}: only {present} CUDA GPU(s) on this machine for --device {device} "
                        f"(one process per GPU; use --device cpu for CPU processes)")
    import torch.distributed as dist

    if not dist.is_nccl_available():
        raise UserError(f"--device {device}: distributed CUDA training needs NCCL, which this torch build lacks")


def launch_train(train_argv: list[str], nproc: int) -> None:
    """Runs ``edge_moe train train_argv`` in ``nproc`` processes on this machine under torchrun's elastic agent; a rank
    that fails stops the others (the agent ends them) and becomes one line naming the rank."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    os.environ.setdefault("OMP_NUM_THREADS", "1")  # torchrun's default for N > 1, set here so it does not warn
    args = get_args_parser().parse_args(["--standalone", "--nproc-per-node", str(nproc), "-m", "edge_moe", "train", *train_argv])
    try:
        run(args)
    except ChildFailedError as error:
        rank, failure = error.get_first_failure()
        detail = (f"exit code {failure.exitcode}, its error is above" if failure.exitcode >= 0
                  else f"killed by signal {-failure.exitcode} ({signal.Signals(-failure.exitcode).name})")
        raise UserError(f"rank {rank} of {nproc} failed ({detail}); the other ranks were stopped") from None
    sys.stdout.flush()
