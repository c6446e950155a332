"""Data-parallel training on N processes of one node (a ``finetune`` job with ``gpu: N > 1``).

``launch(fn, N, ...)`` starts N processes (``torch.multiprocessing``; NCCL on GPUs, one per process,
gloo on the CPU) that each run ``fn``. Inside, the training loop (``loop.train``) asks ``current()``
for its rank and world size. Every process builds the same global batch (a recipe's order and sampling
are seeded per epoch), keeps its rows ``rank::world`` (``shard``), and after the backward pass the
gradients are averaged weighted by each shard's rows (``average_gradients``), so one step equals the
one-process step on the global batch for a loss that is a mean over rows (the supervised recipes of
every task), up to floating-point summation order and dropout masks. Process 0 evaluates on the dev
set and tells the others the score, writes the checkpoints (with every process's RNG state, for an
exact resume) and the model. A recipe whose loss couples the rows of a batch (contrastive losses,
consistency between views, MTL-WS's own gradient) is refused: sharding would change its objective.

The same as a ``torchrun`` launch with ``DistributedDataParallel``, written out because the loop's
recipes may run several forward passes per step and its checkpoints must stay the one-process format.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from pipeline_steps.errors import ConfigError


@dataclass(frozen=True)
class Group:
    """This process's place among the training processes."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Process 0: the one that evaluates and writes."""
        return self.rank == 0


def current() -> Group:
    """The running process group, or a group of one."""
    if dist.is_available() and dist.is_initialized():
        return Group(dist.get_rank(), dist.get_world_size())
    return Group()


def check_recipe(recipe: Any, group: Group) -> None:
    """Only recipes marked ``data_parallel = True`` (a per-row mean loss) train on several processes."""
    if group.world > 1 and not getattr(recipe, "data_parallel", False):
        raise ConfigError(
            f"{type(recipe).__name__} cannot train data-parallel (its loss couples the rows of a batch, or "
            "it sets the gradients itself): run it with gpu: 1"
        )


def _rows(batch: Any) -> int | None:
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() else None
    if isinstance(batch, dict):
        batch = list(batch.values())
    if isinstance(batch, list | tuple):
        sizes = {n for n in map(_rows, batch) if n is not None}
        if len(sizes) > 1:
            raise ValueError(f"a batch to shard must have one row count, got {sorted(sizes)}")
        return sizes.pop() if sizes else None
    return None


def _take(batch: Any, idx: torch.Tensor) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch[idx] if batch.dim() else batch
    if isinstance(batch, dict):
        return {k: _take(v, idx) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(_take(v, idx) for v in batch)
    return batch


def shard(batch: Any, group: Group) -> tuple[Any, int, int]:
    """This process's rows ``rank::world`` of a (nested) batch of row-aligned tensors: (the shard, its
    rows, the batch's rows)."""
    n = _rows(batch)
    if n is None:
        raise ValueError("a batch to shard must hold tensors with a row dimension")
    if group.world == 1:
        return batch, n, n
    idx = torch.arange(group.rank, n, group.world)
    return _take(batch, idx), len(idx), n


def average_gradients(model: torch.nn.Module, rows: int, total: int) -> None:
    """Make every process's ``.grad`` the row-weighted mean of all processes' gradients:
    ``sum_r rows_r * grad_r / total``. The parameters with a gradient are the same in every process (one
    recipe, one code path); those without one stay without, as in one process."""
    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return
    flat = torch.cat([p.grad.detach().reshape(-1) * rows for p in params])
    dist.all_reduce(flat)
    flat /= total
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def weighted_mean(value: float, rows: int, total: int, device: torch.device) -> float:
    """The row-weighted mean of a per-process value (the batch loss of every process)."""
    t = torch.tensor([value * rows / total], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item())


def broadcast(value: Any) -> Any:
    """Process 0's ``value`` in every process."""
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(value: Any, group: Group) -> list[Any] | None:
    """Every process's ``value``, in rank order, on process 0 (None elsewhere)."""
    out = [None] * group.world if group.main else None
    dist.gather_object(value, out, dst=0)
    return out


def barrier() -> None:
    if current().world > 1:
        dist.barrier()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, fn: Callable[..., Any], args: tuple) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(rank)
    dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world)
    try:
        fn(*args)
    finally:
        dist.destroy_process_group()


def launch(fn: Callable[..., Any], world: int, *args: Any) -> None:
    """Run ``fn(*args)`` in ``world`` processes of one process group (``fn`` and ``args`` must pickle);
    returns when all have finished, and raises if one failed."""
    if world < 1:
        raise ConfigError(f"the number of training processes must be positive, got {world}")
    if world > 1 and torch.cuda.is_available() and torch.cuda.device_count() < world:
        raise ConfigError(f"{world} processes asked for, but {torch.cuda.device_count()} GPUs are visible")
    torch.multiprocessing.spawn(_worker, args=(world, free_port(), fn, args), nprocs=world, join=True)
