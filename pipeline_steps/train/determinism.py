"""Reproducibility and placement: seeds, per-epoch generators, deterministic kernels, devices, threads.

Every random choice of a training run is seeded: ``seed_everything(seed)`` seeds Python, NumPy and torch
at the start of a run, and a recipe draws each epoch's data order and sampling from
``epoch_generator(seed, epoch)``, so a run resumed at any step sees the same batches. ``deterministic``
turns on ``torch.use_deterministic_algorithms`` for the duration of a run (bit-identical resume on the
CPU; on CUDA with ``warn_only`` and the cuBLAS workspace setting it needs).
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

SMALL_MODEL_HIDDEN = 256


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (e.g. (seed, epoch)); stable across runs and platforms."""
    return int(
        np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(2, np.uint64)[0] >> 1
    )


def epoch_generator(seed: int, epoch: int, stream: int = 0) -> torch.Generator:
    """The torch generator of one epoch's data order / sampling, seeded by (seed, epoch, stream)."""
    gen = torch.Generator()
    gen.manual_seed(derive_seed(seed, epoch, stream))
    return gen


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def deterministic(device: torch.device) -> Iterator[None]:
    """Deterministic torch kernels inside the block (errors on the CPU, warnings elsewhere)."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=device.type != "cpu")
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


def resolve_device(device: str) -> torch.device:
    """``"auto"``: CUDA when visible, else the CPU; any other value is a torch device name."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def cpu_threads(requested: int, hidden_size: int | None) -> int:
    """Intra-op CPU threads for a model: 1 for small models (hidden < 256), whose tiny matrix products
    gain nothing from threads and slow down badly when the cores are shared; else ``requested``."""
    if hidden_size is not None and hidden_size < SMALL_MODEL_HIDDEN:
        return 1
    return max(1, int(requested))


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor of a (nested) batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device) for v in batch)
    return batch
